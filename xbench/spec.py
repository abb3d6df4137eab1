"""Framework-neutral model specs: the single definition of each architecture.

A spec is a JSON file in the top-level ``models/`` folder (data, not code), installed with the package as
``xbench.models``.
Shapes are channels-last (H, W, C) here; each framework builder maps them to
its own layout. Adding a model is adding one JSON file.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from xbench.errors import UserError


def _models_dir() -> Path:
    """$XBENCH_MODELS; in a checkout (an editable install, or the tree on sys.path) its own top-level models/;
    installed from a wheel, the package ``xbench.models`` (that same folder, installed as package data)."""
    if os.environ.get("XBENCH_MODELS"):
        return Path(os.environ["XBENCH_MODELS"])
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "models").is_dir():
        return checkout / "models"
    try:
        return Path(str(resources.files("xbench.models")))
    except ModuleNotFoundError:  # neither: the error names the folder that was looked for
        return checkout / "models"


MODELS_DIR = _models_dir()

ACTIVATIONS = ("relu", "softmax", "linear", "tanh", "sigmoid")
# The optimizers both frameworks build (each framework's ``OPTIMIZERS`` maps these names to its own class), with
# the keys a spec may give them: a spec names what both frameworks run, never something one of them would ignore.
OPTIMIZERS = ("adam", "sgd")
OPTIMIZER_KEYS = ("name", "learning_rate")
DEFAULT_OPTIMIZER = {"name": "adam", "learning_rate": 1e-3}
# type -> (required keys, optional keys with defaults)
LAYER_TYPES: dict[str, tuple[tuple[str, ...], dict]] = {
    "conv2d": (("filters", "kernel_size"), {"strides": 1, "padding": "valid", "activation": "linear"}),
    "maxpool2d": (("pool_size",), {"strides": None}),
    "globalavgpool2d": ((), {}),
    "flatten": ((), {}),
    "dense": (("units",), {"activation": "linear"}),
    "dropout": (("rate",), {}),
    "batchnorm": ((), {"epsilon": 1e-3, "momentum": 0.99}),
}


@dataclass(frozen=True)
class Layer:
    type: str
    params: dict
    in_shape: tuple[int, ...]  # channels-last, no batch
    out_shape: tuple[int, ...]

    def __getitem__(self, key):
        return self.params[key]

    @property
    def num_params(self) -> int:
        if self.type == "conv2d":
            k, cin = self["kernel_size"], self.in_shape[-1]
            return k * k * cin * self["filters"] + self["filters"]
        if self.type == "dense":
            return self.in_shape[-1] * self["units"] + self["units"]
        if self.type == "batchnorm":
            return 4 * self.in_shape[-1]  # gamma, beta, moving mean, moving variance
        return 0


@dataclass(frozen=True)
class ModelSpec:
    name: str
    input_shape: tuple[int, int, int]  # (H, W, C)
    layers: tuple[Layer, ...]
    description: str = ""
    dataset: str = "mnist"
    optimizer: dict = field(default_factory=lambda: dict(DEFAULT_OPTIMIZER))
    loss: str = "sparse_categorical_crossentropy"

    @property
    def num_params(self) -> int:
        return sum(layer.num_params for layer in self.layers)

    @property
    def num_classes(self) -> int | None:
        """Classes of a classifier head (last layer a softmax Dense), else None."""
        last = self.layers[-1]
        if last.type == "dense" and last["activation"] == "softmax":
            return last["units"]
        return None

    @property
    def learning_rate(self) -> float:
        return float(self.optimizer.get("learning_rate", DEFAULT_OPTIMIZER["learning_rate"]))

    @property
    def optimizer_name(self) -> str:
        """What the train step and the epoch run (one of ``OPTIMIZERS``)."""
        return str(self.optimizer.get("name", DEFAULT_OPTIMIZER["name"]))

    @classmethod
    def from_dict(cls, data: dict, source: str = "<spec>") -> "ModelSpec":
        try:
            name = str(data["name"])
            shape = tuple(int(v) for v in data["input_shape"])
            raw_layers = list(data["layers"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{source}: a spec needs 'name', 'input_shape' [H, W, C] and 'layers' ({exc})") from None
        if len(shape) != 3 or min(shape) <= 0:
            raise UserError(f"{source}: input_shape must be [H, W, C] of positive integers, got {list(shape)}")
        layers, cur = [], shape
        for i, raw in enumerate(raw_layers):
            layer = _make_layer(raw, cur, f"{source}: layer {i}")
            layers.append(layer)
            cur = layer.out_shape
        if not layers:
            raise UserError(f"{source}: 'layers' is empty")
        for layer in layers[:-1]:
            if layer.params.get("activation") == "softmax":
                raise UserError(f"{source}: softmax is only valid on the last layer")
        return cls(
            name=name,
            input_shape=shape,  # type: ignore[arg-type]
            layers=tuple(layers),
            description=str(data.get("description", "")),
            dataset=str(data.get("dataset", "mnist")),
            optimizer=_optimizer(data.get("optimizer", DEFAULT_OPTIMIZER), source),
            loss=str(data.get("loss", "sparse_categorical_crossentropy")),
        )


def _optimizer(raw, source: str) -> dict:
    """The spec's optimizer, checked: one both frameworks build (``OPTIMIZERS``), a positive learning rate."""
    valid = f"valid: {{\"name\": one of {', '.join(OPTIMIZERS)}, \"learning_rate\": a positive number}}"
    if not isinstance(raw, dict):
        raise UserError(f"{source}: optimizer must be an object, got {raw!r}; {valid}")
    unknown = sorted(set(raw) - set(OPTIMIZER_KEYS))
    if unknown:
        raise UserError(f"{source}: optimizer has unknown keys {unknown} that no framework would apply; {valid}")
    out = {**DEFAULT_OPTIMIZER, **raw}
    if out["name"] not in OPTIMIZERS:
        raise UserError(f"{source}: optimizer {out['name']!r} is not one both frameworks run; {valid}")
    lr = out["learning_rate"]
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise UserError(f"{source}: optimizer learning_rate must be a positive number, got {lr!r}; {valid}")
    return out


def _make_layer(raw: dict, in_shape: tuple[int, ...], where: str) -> Layer:
    if not isinstance(raw, dict) or raw.get("type") not in LAYER_TYPES:
        raise UserError(f"{where}: unknown layer type {raw.get('type') if isinstance(raw, dict) else raw!r}; "
                        f"valid: {', '.join(LAYER_TYPES)}")
    kind = raw["type"]
    required, optional = LAYER_TYPES[kind]
    missing = [k for k in required if k not in raw]
    if missing:
        raise UserError(f"{where} ({kind}): missing {', '.join(missing)}")
    params = {**optional, **{k: v for k, v in raw.items() if k != "type"}}
    unknown = set(params) - set(required) - set(optional)
    if unknown:
        raise UserError(f"{where} ({kind}): unknown keys {sorted(unknown)}; valid: {list(required) + list(optional)}")
    if params.get("activation", "linear") not in ACTIVATIONS:
        raise UserError(f"{where} ({kind}): activation {params['activation']!r}; valid: {', '.join(ACTIVATIONS)}")
    return Layer(kind, params, in_shape, _out_shape(kind, params, in_shape, where))


def _out_shape(kind: str, p: dict, s: tuple[int, ...], where: str) -> tuple[int, ...]:
    spatial = kind in ("conv2d", "maxpool2d", "globalavgpool2d", "batchnorm")
    if spatial and kind != "batchnorm" and len(s) != 3:
        raise UserError(f"{where} ({kind}): needs an (H, W, C) input, got {s}")
    if kind == "conv2d":
        if p["padding"] not in ("valid", "same"):
            raise UserError(f"{where}: padding must be 'valid' or 'same', got {p['padding']!r}")
        k, st = int(p["kernel_size"]), int(p["strides"])
        h, w = (_conv_len(n, k, st, p["padding"]) for n in s[:2])
        out = (h, w, int(p["filters"]))
    elif kind == "maxpool2d":
        k = int(p["pool_size"])
        st = int(p["strides"] or k)
        out = (_conv_len(s[0], k, st, "valid"), _conv_len(s[1], k, st, "valid"), s[2])
    elif kind == "globalavgpool2d":
        out = (s[2],)
    elif kind == "flatten":
        out = (math.prod(s),)
    elif kind == "dense":
        if len(s) != 1:
            raise UserError(f"{where} (dense): needs a flat input (add a flatten layer), got {s}")
        out = (int(p["units"]),)
    else:  # dropout, batchnorm
        out = s
    if min(out) <= 0:
        raise UserError(f"{where} ({kind}): output shape {out} is empty; the input {s} is too small")
    return out


def _conv_len(n: int, k: int, stride: int, padding: str) -> int:
    return -(-n // stride) if padding == "same" else (n - k) // stride + 1


def available_models() -> list[str]:
    return sorted(p.stem for p in MODELS_DIR.glob("*.json"))


def load_spec(name_or_path: str | os.PathLike) -> ModelSpec:
    """A spec by model name (a file in models/) or by path to a JSON file."""
    path = Path(name_or_path)
    if path.suffix != ".json":
        path = MODELS_DIR / f"{name_or_path}.json"
    if not path.is_file():
        raise UserError(f"unknown model {str(name_or_path)!r}; valid: {', '.join(available_models()) or '(none found in ' + str(MODELS_DIR) + ')'}")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a readable JSON model spec ({exc})") from None
    return ModelSpec.from_dict(data, source=str(path))
