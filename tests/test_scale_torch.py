"""PyTorch data-parallel training (xbench.scale): DDP over 2 CPU processes under torchrun equals the single-process
step, and no process outlives a launch whose worker dies. One torchrun launch checks both (a few seconds)."""

from __future__ import annotations

import importlib.util

import pytest

if importlib.util.find_spec("torch") is None:  # the worker imports it, not this process
    pytest.skip("torch is not installed", allow_module_level=True)


def test_ddp_equals_one_process_and_killing_a_worker_mid_run_leaves_no_process(tmp_path, monkeypatch):
    """W=2, global batch 64. (1) SGD and Adam after one step within 1e-5 of one process on the whole batch; the
    SGD step with rank 1's gradient dropped, or every rank on the same slice, is not. (2) Then, in the timed steps,
    rank 1 is killed: torchrun starts its workers in sessions of their own, and the launch must fail (no hang in
    rank 0's collective) leaving neither torchrun nor any worker running."""
    import threading
    import time

    import numpy as np
    import psutil

    from xbench.scale import launch, torch_ddp
    from xbench.scale.equivalence import FAULTS, TOLERANCE, max_diffs

    pids = tmp_path / "pids"
    pids.mkdir()
    monkeypatch.setenv(torch_ddp.PID_DIR_ENV, str(pids))
    out = tmp_path / "out"
    weights = tmp_path / "out.npz"
    args = ["both", "--global-batch", "64", "--faults", ",".join(FAULTS),
            "--scaling", "strong:64", "--blocks", "50", "--rounds", "50"]  # minutes of steps, if nothing ended it
    result = {}
    run = threading.Thread(target=lambda: result.update(done=launch.workers("torch", 2, 1, args, out, timeout_s=120)))
    run.start()
    try:
        deadline = time.monotonic() + 90
        while not weights.exists() and time.monotonic() < deadline and run.is_alive():
            time.sleep(0.1)
        assert weights.exists(), result
        with np.load(weights) as w:
            diffs = max_diffs(dict(w))
        assert diffs["sgd"]["ddp"] <= TOLERANCE and diffs["adam"]["ddp"] <= TOLERANCE, diffs
        assert diffs["sgd"]["drop"] > 2 * TOLERANCE and diffs["sgd"]["split"] > 2 * TOLERANCE, diffs

        time.sleep(0.5)  # into the timed steps
        family = psutil.Process().children(recursive=True)
        assert len(family) >= 3 and run.is_alive()  # torchrun and two workers
        psutil.Process(int((pids / "rank1.pid").read_text())).kill()
        run.join(60)
        assert not run.is_alive(), "the launch did not end after a worker died"
        assert result["done"].returncode != 0 and not result["done"].timed_out
        assert not out.exists()  # rank 0 never finished timing
        assert [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    finally:  # a failed assertion above must not leave minutes of steps running under the rest of the session
        for p in psutil.Process().children(recursive=True):
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        run.join(30)
