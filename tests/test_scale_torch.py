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


def test_killing_one_worker_mid_run_ends_the_launch_and_no_process_outlives_it(tmp_path, monkeypatch):
    """torchrun starts its workers in sessions of their own: when rank 1 is killed mid-run, the launch fails (no
    hang in rank 0's collective) and neither torchrun nor any worker is left running."""
    import threading
    import time

    import psutil

    from xbench.scale import launch, torch_ddp

    pids = tmp_path / "pids"
    pids.mkdir()
    monkeypatch.setenv(torch_ddp.PID_DIR_ENV, str(pids))
    result = {}
    args = ["time", "--scaling", "strong:64", "--blocks", "50", "--rounds", "50"]  # minutes, if nothing ended it
    run = threading.Thread(target=lambda: result.update(
        done=launch.workers("torch", 2, 1, args, tmp_path / "out.json", timeout_s=120)))
    run.start()
    deadline = time.monotonic() + 90
    while len(list(pids.glob("rank*.pid"))) < 2 and time.monotonic() < deadline and run.is_alive():
        time.sleep(0.1)
    assert len(list(pids.glob("rank*.pid"))) == 2, result
    time.sleep(1.0)  # into the timed steps
    family = psutil.Process().children(recursive=True)
    assert len(family) >= 3  # torchrun and two workers
    psutil.Process(int((pids / "rank1.pid").read_text())).kill()
    run.join(60)
    assert not run.is_alive(), "the launch did not end after a worker died"
    assert result["done"].returncode != 0 and not result["done"].timed_out
    assert not (tmp_path / "out.json").exists()
    alive = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == []
