"""xbench scale's pure parts: the plan and its bad options, scaling efficiency, the all-reduce share, the scaling
table, and the launcher's timeout ending a whole process family. No ML framework, no worker launch (those are in
test_scale_torch.py / test_scale_tf.py)."""

from __future__ import annotations

import socket
import sys

import pytest

from xbench.errors import UserError
from xbench.scale import efficiency, launch, plan


def test_same_total_threads_by_default_1x2_against_2x1():
    launches = plan.plan(["torch"], [1, 2], 128, cores=2)
    assert [(x.world_size, x.threads_per_worker) for x in launches] == [(1, 2), (2, 1)]
    assert launches[1].batches == (("strong", 128), ("weak", 128))
    assert launches[0].batches == (("strong", 128), ("weak", 64))


def test_fixed_threads_per_worker_adds_the_world_size_1_baseline_at_the_same_total():
    launches = plan.plan(["torch", "keras"], [2], 64, cores=4, threads_per_worker=2)
    assert [(x.framework, x.world_size, x.threads_per_worker) for x in launches] == [
        ("torch", 1, 4), ("torch", 2, 2), ("keras", 1, 4), ("keras", 2, 2)]


@pytest.mark.parametrize("sizes, batch, tpw, words", [
    ([1, 3], 96, None, "3 workers on 2 cores"),
    ([1, 2], 127, None, "not divisible by world size 2"),
    ([2], 128, 2, "4 threads on 2 cores"),
])
def test_bad_plans_are_one_user_error(sizes, batch, tpw, words):
    with pytest.raises(UserError, match=words):
        plan.plan(["torch"], sizes, batch, cores=2, threads_per_worker=tpw)


def test_cuda_needs_a_gpu_per_worker_and_torch():
    assert plan.plan(["torch"], [1, 2], 64, cores=8, device="cuda", gpus=2)[1].device == "cuda"
    with pytest.raises(UserError, match="2 workers need 2 GPUs; this machine has 1"):
        plan.plan(["torch"], [1, 2], 64, cores=8, device="cuda", gpus=1)
    with pytest.raises(UserError, match="torch only"):
        plan.plan(["torch", "keras"], [1, 2], 64, cores=8, device="cuda", gpus=2)


def _rec(w, t, median, scaling="strong", batch=128, status="ok"):
    return {"id": f"{scaling}-w{w}x{t}", "task": "train_step_dp", "framework": "torch", "model": "m",
            "scaling": scaling, "world_size": w, "threads_per_worker": t, "status": status,
            "throughput": batch / median if status == "ok" else None}


def test_efficiency_is_throughput_against_one_worker_with_the_same_total_threads():
    recs = efficiency.annotate([_rec(1, 2, 0.010), _rec(2, 1, 0.020), _rec(1, 1, 0.004), _rec(2, 2, 0.005),
                                _rec(2, 1, 0.010, "weak", batch=128), _rec(1, 2, 0.010, "weak", batch=64)])
    eff = {(r["scaling"], r["world_size"], r["threads_per_worker"]): r["scaling_efficiency"] for r in recs}
    assert eff[("strong", 1, 2)] == pytest.approx(1.0)
    assert eff[("strong", 2, 1)] == pytest.approx(0.5)  # against 1 x 2 threads, not 1 x 1
    assert eff[("strong", 2, 2)] is None  # no 1 x 4 record
    assert "4 threads" in recs[3]["efficiency_note"]
    assert eff[("weak", 2, 1)] == pytest.approx(2.0)  # twice the samples in the same time


def test_efficiency_and_share_have_bootstrap_intervals_over_blocks():
    def blocks(meds):
        return [{"median_s": m, "rounds": 3} for m in meds]

    base = {**_rec(1, 2, 0.010), "batch_size": 128, "blocks": blocks([0.010, 0.011, 0.009, 0.010])}
    rec = {**_rec(2, 1, 0.020), "batch_size": 128, "blocks": blocks([0.020, 0.022, 0.018, 0.021])}
    weak = {**_rec(2, 1, 0.020, "weak"), "batch_size": 128, "blocks": blocks([0.020, 0.021, 0.019])}
    weak_base = {**_rec(1, 2, 0.010, "weak", batch=64), "batch_size": 64, "blocks": blocks([0.010, 0.011, 0.009])}
    efficiency.annotate([base, rec, weak, weak_base])
    lo, hi = rec["scaling_efficiency_ci95"]
    assert 0.4 < lo <= rec["scaling_efficiency"] <= hi < 0.6  # half the throughput, block spread around it
    lo, hi = weak["scaling_efficiency_ci95"]
    assert 0.8 < lo <= 1.0 <= hi < 1.2  # twice the samples in twice the time
    assert efficiency.annotate([_rec(1, 2, 0.01), _rec(2, 1, 0.02)])[1]["scaling_efficiency_ci95"] is None  # no blocks
    lo, hi = efficiency.share_interval([0.010, 0.012, 0.011], [0.008, 0.008, 0.009])
    assert lo <= efficiency.allreduce_share(0.011, 0.008) <= hi and hi < 0.5


def test_allreduce_share_is_the_synchronisation_s_part_of_the_step_unclamped():
    assert efficiency.allreduce_share(0.010, 0.007) == pytest.approx(0.3)
    assert efficiency.allreduce_share(0.010, 0.011) == pytest.approx(-0.1)


def test_scaling_table_rows():
    from xbench.report.scaling import scaling_table

    ok = {**_rec(2, 1, 0.02), "batch_size": 128, "stats": {"median": 0.02}, "allreduce_share": 0.25,
          "scaling_efficiency": 0.8}
    err = {**_rec(1, 2, 1, status="error"), "batch_size": 128, "stats": None}
    table = scaling_table([ok, err, {"task": "train_step"}])
    assert table.rows == [["torch", "m", "strong", "1 × 2", "128", "error", "—", "—", "—"],
                          ["torch", "m", "strong", "2 × 1", "128", "20 ms", "6,400/s", "25.0%", "0.80"]]


def test_timeout_ends_the_group_and_what_left_it(tmp_path):
    """A child that starts a grandchild in a session of its own (as torchrun starts its workers), both sleeping:
    the timeout ends both."""
    import psutil

    pid_file = tmp_path / "grandchild.pid"
    code = ("import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; "
            "time.sleep(60)'], start_new_session=True); open(sys.argv[1], 'w').write(str(p.pid)); time.sleep(60)")
    done = launch.run_group([[sys.executable, "-c", code, str(pid_file)]], [None], timeout_s=1.5)
    assert done.timed_out and done.returncode == 124
    grandchild = int(pid_file.read_text())
    assert not psutil.pid_exists(grandchild) or psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE


def _cli(capsys, *argv):
    from xbench.cli import main

    code = main(["scale", *argv])
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("argv, words", [
    (["--world-sizes", "1,64"], "64 workers on"),
    (["--world-sizes", "1,2", "--batch-size", "127"], "not divisible"),
    (["--frameworks", "torch,mxnet"], "unknown mxnet; valid: torch, keras"),
    (["--world-sizes", "0,x"], "--world-sizes: expected"),
])
def test_bad_options_exit_2_with_one_line_and_write_nothing(capsys, tmp_path, argv, words, thread_env):
    out = tmp_path / "s.json"
    code, err = _cli(capsys, *argv, "--json", str(out))
    assert code == 2 and len(err) == 1 and words in err[0], err
    assert not out.exists()


def test_a_port_in_use_exits_2(capsys, tmp_path, thread_env):
    with socket.socket() as s:
        s.bind((launch.HOST, 0))
        s.listen()
        port = s.getsockname()[1]
        code, err = _cli(capsys, "--world-sizes", "1", "--port", str(port), "--json", str(tmp_path / "s.json"))
    assert code == 2 and len(err) == 1 and f"--port {port}: cannot listen" in err[0], err


def test_ring_allreduce_and_the_prediction_on_paper(monkeypatch):
    # 2 devices: 2 hops of latency, each sends and receives the whole buffer once (2 x 1/2)
    assert efficiency.ring_allreduce_s(1000, 2, bandwidth=1000.0, latency=0.5) == pytest.approx(2 * 0.5 + 1.0)
    assert efficiency.ring_allreduce_s(1000, 1, 1.0, 1.0) == 0.0
    assert efficiency.fit_step([(128, 0.030), (64, 0.020)]) == pytest.approx((0.010, 0.010 / 64))
    monkeypatch.setitem(efficiency.LINKS, "ideal", (1e30, 0.0))
    link = "ideal"
    rows = efficiency.predict(0.0, 1e-3, 10**6, 64, [1, 2, 4], link)  # no fixed cost, free all-reduce: perfect
    assert [r["efficiency"] for r in rows] == pytest.approx([1.0, 1.0, 1.0])
    rows = efficiency.predict(0.010, 0.0, 0, 64, [1, 2], link)  # all fixed cost: W devices, one's speed
    assert rows[1]["efficiency"] == pytest.approx(0.5)
    nvlink = efficiency.predict(0.0, 1e-3, 10**6, 64, [2], next(iter(efficiency.LINKS)))[0]
    assert nvlink["allreduce_s"] == pytest.approx(2 * 5e-6 + 1e6 / 400e9)
    assert nvlink["efficiency"] == pytest.approx(0.064 / (2 * (0.032 + nvlink["allreduce_s"])))


def test_records_from_a_worker_and_from_a_failed_launch_validate():
    """What rank 0 writes becomes records with blocks, the all-reduce share and (after annotate) the efficiency; a
    launch whose worker died becomes error records with the reason's line. The file validates."""
    from xbench.commands.scale import _reason
    from xbench.records import results_document
    from xbench.scale import records
    from xbench.schema import validate

    one, two = plan.plan(["torch"], [1, 2], 64, cores=2, modes=("strong",))
    block = {"first_call_s": 0.5, "synced_s": [0.010, 0.012, 0.011], "unsynced_s": [0.008, 0.008, 0.009]}
    worker = {"backend": "gloo", "modes": {"strong": {"global_batch": 64, "blocks": [block, block]}}}
    recs = records.measured(one, "seed_cnn", worker)
    done = launch.Finished(1, "Traceback ...\nRuntimeError: Connection closed by peer\n[rank0]: exit\n")
    recs += records.failed(two, "seed_cnn", _reason(done))
    docs = efficiency.annotate([r.to_dict() for r in recs])
    doc = results_document({"python": "3", "os": "x", "cpu": {}, "threads": {}, "versions": {}}, [])
    doc["records"] = docs
    validate(doc)
    ok, err = docs
    assert ok["variant"] == "strong-w1x2" and ok["stats"]["blocks"] == 2
    assert ok["throughput"] == pytest.approx(64 / 0.011)
    assert ok["allreduce_share"] == pytest.approx(1 - 0.008 / 0.011) and ok["scaling_efficiency"] == pytest.approx(1.0)
    assert ok["allreduce_share_ci95"] == pytest.approx([1 - 0.008 / 0.011] * 2, abs=1e-4)  # two equal blocks
    assert ok["scaling_efficiency_ci95"] == pytest.approx([1.0, 1.0])
    assert err["status"] == "error" and "exit 1" in err["reason"] and "Connection closed" in err["reason"]
    assert _reason(launch.Finished(124, "", timed_out=True)).startswith("the launch ran past --timeout")


def test_passes_alternate_the_order_and_share_the_blocks():
    a, b = plan.plan(["torch"], [1, 2], 64, cores=2)
    assert plan.schedule([a, b], blocks=5, passes=2) == [(a, 3), (b, 3), (b, 2), (a, 2)]
    assert plan.schedule([a, b], blocks=1, passes=2) == [(a, 1), (b, 1)]
    from xbench.scale.records import merge

    doc = lambda *bl: {"backend": "gloo", "modes": {"strong": {"global_batch": 64, "blocks": list(bl)}}}  # noqa: E731
    assert merge([doc(1, 2), doc(3)])["modes"]["strong"]["blocks"] == [1, 2, 3]


def test_a_crash_reason_names_the_signal_and_the_python_error_not_tensorflow_s_log_noise():
    from xbench.commands.scale import _reason

    out = ("E0000 cuda_platform.cc:52] failed call to cuInit: CUDA error: UNKNOWN ERROR (303)\n"
           "Fatal Python error: Segmentation fault\n\nThread 0x7 (most recent call first):\n  File \"x.py\", line 1\n")
    assert _reason(launch.Finished(-11, out)) == ("a worker failed (killed by signal 11): "
                                                  "Fatal Python error: Segmentation fault")


def test_a_tensorflow_worker_killed_by_a_signal_is_started_again_and_the_restarts_kept(monkeypatch):
    ends = iter([launch.Finished(-11, "Fatal Python error: Segmentation fault"), launch.Finished(0, "")])
    monkeypatch.setattr(launch, "_start", lambda *a: next(ends))
    done = launch.workers("keras", 2, 1, [], "out", 10)
    assert done.returncode == 0 and done.retried == ["killed by signal 11"]
    ends = iter([launch.Finished(-11, ""), launch.Finished(-11, ""), launch.Finished(-11, "")])
    done = launch.workers("keras", 2, 1, [], "out", 10)  # at most twice more
    assert done.returncode == -11 and done.retried == ["killed by signal 11"] * 2
    ends = iter([launch.Finished(-9, "")])
    assert launch.workers("torch", 2, 1, [], "out", 10).retried == []  # torchrun's workers: never
