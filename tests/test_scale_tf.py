"""Keras on TensorFlow data-parallel training (xbench.scale.tf_mirrored): MirroredStrategy over 2 logical CPU
devices, one process, equals the single-process step. One worker launch."""

from __future__ import annotations

import importlib.util

import pytest

if importlib.util.find_spec("tensorflow") is None:  # the worker imports it, not this process
    pytest.skip("tensorflow is not installed", allow_module_level=True)


def test_mirrored_step_equals_the_single_process_step_and_planted_faults_are_seen():
    from xbench.scale.equivalence import TOLERANCE, check

    diffs = check("keras", world_size=2, global_batch=64)
    assert diffs["sgd"]["ddp"] <= TOLERANCE and diffs["adam"]["ddp"] <= TOLERANCE, diffs
    assert diffs["sgd"]["drop"] > 2 * TOLERANCE and diffs["sgd"]["split"] > 2 * TOLERANCE, diffs
