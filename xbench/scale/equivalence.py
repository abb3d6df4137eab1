"""Is the data-parallel step the single-process step? One launch of the workers, weights compared.

``check(framework, world_size, global_batch)`` launches the framework's worker (``equivalence`` task) with the
planted faults, reads the weights rank 0 wrote and returns the largest absolute difference from the
single-process step on the whole batch, per optimizer and per variant (``ddp``: the real data-parallel step;
each planted fault: the same step made wrong, which the comparison must see). Imports no ML framework.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from xbench.scale import launch

TOLERANCE = 1e-5  # max abs weight difference after one step
FAULTS = ("drop", "split")


def max_diffs(weights: dict) -> dict[str, dict[str, float]]:
    """``{optimizer: {variant: max abs difference from 'single'}}`` from keys ``optimizer/variant/i``."""
    import numpy as np

    out: dict[str, dict[str, float]] = {}
    for key in weights:
        opt, variant, i = key.split("/")
        if variant == "single":
            continue
        diff = float(np.abs(np.asarray(weights[key]) - np.asarray(weights[f"{opt}/single/{i}"])).max())
        out.setdefault(opt, {})[variant] = max(diff, out.get(opt, {}).get(variant, 0.0))
    return out


def check(framework: str, world_size: int = 2, global_batch: int = 64, *, model: str = "seed_cnn",
          faults=FAULTS, timeout_s: float = 300.0) -> dict[str, dict[str, float]]:
    """Launch ``world_size`` workers once; RuntimeError (with the output's tail) when the launch fails."""
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="xbench-scale-") as tmp:
        out = Path(tmp) / "weights.npz"
        args = ["equivalence", "--model", model, "--global-batch", str(global_batch), "--faults", ",".join(faults)]
        done = launch.workers(framework, world_size, 1, args, out, timeout_s)
        if done.returncode or not out.is_file():
            raise RuntimeError(f"equivalence launch failed (exit {done.returncode}): {done.output[-2000:]}")
        with np.load(out) as weights:
            return max_diffs(dict(weights))
