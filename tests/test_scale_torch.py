"""PyTorch data-parallel training (xbench.scale): DDP over 2 CPU processes under torchrun equals the single-process
step; no worker outlives a launch whose worker dies. Each test is one torchrun launch (a few seconds)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")


def test_ddp_step_equals_the_single_process_step_and_planted_faults_are_seen():
    """One launch, W=2, global batch 64: SGD and Adam after one step within 1e-5 of one process on the whole batch;
    the same step with rank 1's gradient dropped, or every rank on the same slice, is not."""
    from xbench.scale.equivalence import TOLERANCE, check

    diffs = check("torch", world_size=2, global_batch=64)
    for opt in ("sgd", "adam"):
        assert diffs[opt]["ddp"] <= TOLERANCE, (opt, diffs)
        assert diffs[opt]["drop"] > 2 * TOLERANCE, (opt, diffs)
        assert diffs[opt]["split"] > 2 * TOLERANCE, (opt, diffs)
