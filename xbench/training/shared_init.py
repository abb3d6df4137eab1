"""Initial weights shared by every framework, so a framework comparison is not an initialiser comparison.

``--init own`` (the default) lets each framework initialise its model its own way (Keras: Glorot-uniform
kernels and zero biases; PyTorch: Kaiming-uniform weights and uniform biases), each from its own seeded
generator: two frameworks with the same seed start from different weights. ``--init shared`` draws one
set of weights per seed here, with NumPy, and copies it into whichever framework trains, through the same
``Framework.set_weights`` path (canonical layout, see ``xbench.frameworks.base``) that the parity tests use.
The draw follows Keras's defaults (Glorot-uniform kernels, zero biases; batch norm gamma 1, beta 0, moving
mean 0, moving variance 1), so the shared start is a Keras-style start in both frameworks.

Pure NumPy: no framework is imported here.
"""

from __future__ import annotations

import numpy as np

from xbench.errors import UserError
from xbench.spec import ModelSpec

INITS = ("own", "shared")
HELP = ("initial weights: 'own' = each framework's default initialiser from the seed (the frameworks start from "
        "different weights); 'shared' = one Glorot-uniform draw per seed (NumPy, Keras's defaults) copied into "
        "every framework through the weight-transfer path, so both start from identical weights (default: own)")


def check_init(value: str) -> str:
    if value not in INITS:
        raise UserError(f"--init must be one of {', '.join(INITS)}, got {value!r}")
    return value


def _glorot(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int) -> np.ndarray:
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


def shared_weights(spec: ModelSpec, seed: int) -> list[np.ndarray]:
    """The model's weights in the canonical layout (conv (kh, kw, in, out), dense (in, out)), drawn from ``seed``."""
    rng = np.random.default_rng([seed, 7919])  # its own stream: independent of the data order's
    out: list[np.ndarray] = []
    for layer in spec.layers:
        cin = layer.in_shape[-1]
        if layer.type == "conv2d":
            k, f = layer["kernel_size"], layer["filters"]
            out += [_glorot(rng, (k, k, cin, f), k * k * cin, k * k * f), np.zeros(f, np.float32)]
        elif layer.type == "dense":
            u = layer["units"]
            out += [_glorot(rng, (cin, u), cin, u), np.zeros(u, np.float32)]
        elif layer.type == "batchnorm":
            one, zero = np.ones(cin, np.float32), np.zeros(cin, np.float32)
            out += [one, zero, zero.copy(), one.copy()]
    return out
