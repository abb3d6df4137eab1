"""Trained weights for the inference benchmarks: ``xbench train``'s cached weights when present, else one
epoch of training on the data the run has, made once per framework and model, outside any timing.

A row's accuracy means something only with trained weights (freshly initialised ones score about 10 %).
``info`` says where the weights came from; the results file keeps it as ``env.weights``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from xbench import data as mnist
from xbench.paths import atomic_write_text, weights_path
from xbench.spec import ModelSpec

EPOCHS = 1
BATCH = 32  # xbench train's default


def sidecar(path: Path) -> Path:
    """What ``xbench train`` writes beside the weights: epochs, data, accuracy."""
    return path.with_name(path.name + ".json")


def save_sidecar(path: Path, result) -> None:
    info = {"epochs": len(result.epoch_seconds), "data": f"{result.data} ({result.data_source})",
            "batch_size": result.batch_size, "test_accuracy": result.test_accuracy, "seed": result.seed}
    atomic_write_text(sidecar(path), json.dumps(info, indent=2) + "\n")


def trained(fw, spec: ModelSpec, data: mnist.Mnist) -> tuple[list[np.ndarray], dict]:
    """(weights in the canonical layout, where they came from)."""
    path = weights_path(spec.name, fw.name, fw.weights_suffix)
    if path.is_file():
        meta = json.loads(sidecar(path).read_text()) if sidecar(path).is_file() else {}
        info = {"source": f"xbench train cache ({path.name}; no absolute path in results)", "epochs": meta.get("epochs"),
                "data": meta.get("data", "not recorded (weights saved without xbench train's sidecar)")}
        return fw.get_weights(fw.load(spec, path), spec), info
    if spec.num_classes is None:
        return fw.get_weights(fw.build(spec, 0), spec), {
            "source": "initialised (seed 0)", "epochs": 0, "data": None,
            "reason": f"{spec.name} has no classifier head: there is nothing to train"}
    from xbench.train import train

    t0 = time.perf_counter()
    result, model = train(fw.name, spec, data, EPOCHS, BATCH, spec.learning_rate, seed=0, progress=False)
    return fw.get_weights(model, spec), {
        "source": "trained at session start", "epochs": EPOCHS, "batch_size": BATCH,
        "data": f"{data.label} ({data.file_name})", "test_accuracy": result.test_accuracy,
        "seconds": round(time.perf_counter() - t0, 1)}
