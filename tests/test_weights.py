"""Weights trained at a suite run's start: kept for the rest of a test session (tests/conftest.py sets
``xbench.training.weights.REUSE_ENV``), keyed by framework, model and data, never kept in a user's run."""

import dataclasses
from types import SimpleNamespace

import numpy as np

from xbench import frameworks
from xbench.training import weights


def test_weights_trained_once_are_reused_for_the_same_framework_model_and_data_only(seed_spec, mnist, monkeypatch,
                                                                                     tmp_path):
    import xbench.training.train

    monkeypatch.setenv(weights.REUSE_ENV, str(tmp_path))
    calls = []

    def train(name, spec, data, epochs, *args, **kwargs):  # xbench's own training, stood in for: a fresh model
        calls.append((name, spec.optimizer_name, len(data.x_train), epochs))
        return SimpleNamespace(test_accuracy=0.5), frameworks.get(name).build(spec, seed=len(calls))

    monkeypatch.setattr(xbench.training.train, "train", train)
    fw = frameworks.get("torch")
    first, info = weights.trained(fw, seed_spec, mnist)
    assert calls == [("torch", "adam", 5000, 5)] and info["source"] == "trained at session start"
    again, info_again = weights.trained(fw, seed_spec, mnist)
    assert len(calls) == 1 and info_again == info  # kept, and the record reads as if trained now
    assert len(again) == len(first) == 4 and all(np.array_equal(a, b) for a, b in zip(again, first))
    shuffled = dataclasses.replace(mnist, x_train=mnist.x_train[::-1], y_train=mnist.y_train[::-1])
    weights.trained(fw, seed_spec, shuffled)  # other data (same size and name): other weights
    weights.trained(fw, dataclasses.replace(seed_spec, optimizer={"name": "sgd", "learning_rate": 0.1}), mnist)
    weights.trained(frameworks.get("keras"), seed_spec, mnist)
    assert calls[1:] == [("torch", "adam", 5000, 5), ("torch", "sgd", 5000, 5), ("keras", "adam", 5000, 5)]
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert len(kept) == 4 and all(p.endswith(".npz") for p in kept)  # no temporary file left behind
    monkeypatch.delenv(weights.REUSE_ENV)
    weights.trained(fw, seed_spec, mnist)
    assert len(calls) == 5 and sorted(p.name for p in tmp_path.iterdir()) == kept  # a user's run keeps nothing
