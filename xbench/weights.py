"""Trained weights for the inference benchmarks: ``xbench train``'s cached weights when present, else
training on the data the run has (one epoch of full MNIST, five of the embedded subset), made once per
framework and model, outside any timing.

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

BATCH = 32  # xbench train's default
# One epoch of full MNIST (60,000 images) reaches 97.4-97.7 % top-1 with this CNN; the embedded 5,000-image
# subset needs more passes for far less (measured: 90-92 % after 1 epoch, 95.8-96.0 % after 5 and 6).
FULL_EPOCHS, SUBSET_EPOCHS, FULL_SIZE = 1, 5, 50_000


def epochs_for(data: mnist.Mnist) -> int:
    return FULL_EPOCHS if len(data.x_train) >= FULL_SIZE else SUBSET_EPOCHS


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
        info = {"source": f"xbench train cache ({path.name})", "epochs": meta.get("epochs"),
                "data": meta.get("data", "not recorded (weights saved without xbench train's sidecar)")}
        return fw.get_weights(fw.load(spec, path), spec), info
    if spec.num_classes is None:
        return fw.get_weights(fw.build(spec, 0), spec), {
            "source": "initialised (seed 0)", "epochs": 0, "data": None,
            "reason": f"{spec.name} has no classifier head: there is nothing to train"}
    from xbench.train import train

    t0 = time.perf_counter()
    epochs = epochs_for(data)
    result, model = train(fw.name, spec, data, epochs, BATCH, spec.learning_rate, seed=0, progress=False)
    return fw.get_weights(model, spec), {
        "source": "trained at session start", "epochs": epochs, "batch_size": BATCH,
        "data": f"{data.label} ({data.file_name})", "test_accuracy": result.test_accuracy,
        "seconds": round(time.perf_counter() - t0, 1)}
