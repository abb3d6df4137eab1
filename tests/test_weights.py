"""Weights trained at a suite run's start: kept for the rest of a test session (tests/conftest.py sets
``xbench.weights.REUSE_ENV``), keyed by framework, model and data, never kept in a user's run."""

import dataclasses

import numpy as np
import pytest

from xbench import frameworks, weights


class Trained(Exception):
    pass


def _no_training(*args, **kwargs):
    raise Trained


def test_weights_trained_once_are_reused_for_the_same_data_only(seed_spec, mnist, monkeypatch):
    import xbench.train

    fw = frameworks.get("torch")
    first, info = weights.trained(fw, seed_spec, mnist)  # trains, or reads what this session trained
    assert info["source"] == "trained at session start" and info["epochs"] == 5
    monkeypatch.setattr(xbench.train, "train", _no_training)
    again, info_again = weights.trained(fw, seed_spec, mnist)
    assert info_again == info  # the record reads as if trained now
    assert len(again) == len(first) and all(np.array_equal(a, b) for a, b in zip(again, first))
    fewer = dataclasses.replace(mnist, x_train=mnist.x_train[:500], y_train=mnist.y_train[:500])
    with pytest.raises(Trained):  # other data, other weights
        weights.trained(fw, seed_spec, fewer)
    other_spec = dataclasses.replace(seed_spec, optimizer={"name": "sgd", "learning_rate": 0.1})
    keys = {weights._reuse_file(f, s, mnist, 5) for f in (fw, frameworks.get("keras")) for s in (seed_spec, other_spec)}
    assert len(keys) == 4  # each framework and each spec (same name, other settings) its own
    monkeypatch.delenv(weights.REUSE_ENV)
    with pytest.raises(Trained):  # a user's run keeps nothing between runs
        weights.trained(fw, seed_spec, mnist)
