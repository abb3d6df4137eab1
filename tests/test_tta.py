"""Time to accuracy and the training sweep, fast: the embedded subset, low targets, one epoch."""

import json

import pytest

from xbench import cli, tta
from xbench.schema import read_results
from xbench.train import TrainResult, train


def xbench(*argv) -> int:
    return cli.main([str(a) for a in argv])


@pytest.fixture(scope="module")
def subset_path():
    from xbench.data import EMBEDDED

    return EMBEDDED


@pytest.mark.parametrize("framework", ["keras", "torch"])
def test_low_target_is_reached_in_one_epoch(framework, subset_path, tmp_path, capsys):
    out = tmp_path / "t.json"
    assert xbench("tta", "--framework", framework, "--target", 0.8, "--max-epochs", 3, "--repeats", 2,
                  "--data", subset_path, "--json", out, "--quiet") == 0
    doc = read_results(out)  # schema-valid
    (rec,) = doc["records"]
    assert rec["task"] == "time_to_accuracy" and rec["framework"] == framework and rec["status"] == "ok"
    assert rec["reached"] is True and rec["target"] == 0.8 and rec["repeats"] == rec["reached_repeats"] == 2
    assert rec["epochs_to_target"] <= 1 and rec["steps_to_target"] <= rec["steps_per_epoch"]
    assert rec["seeds"] == [0, 1] and rec["data_kind"] == "subset"
    assert len(rec["samples_s"]) == 2 and rec["stats"]["median"] == pytest.approx(rec["train_s_to_target"], abs=1e-3)
    for run in rec["runs"]:
        last = run["curve"][-1]
        assert last["test_accuracy"] >= 0.8 and run["train_s_to_target"] == last["train_s"] > 0
        assert 0 < run["eval_s_to_target"] and run["wall_s_to_target"] >= last["train_s"] + last["eval_s"] - 1e-3
        # stopped at the target: no evaluation after the one that reached it
        assert all(p["test_accuracy"] < 0.8 for p in run["curve"][:-1])
    assert "reached 0.8 in 2/2 repeats" in capsys.readouterr().out


def test_unreached_target_is_a_result_with_best_accuracy_and_curve(subset_path, tmp_path, capsys):
    out = tmp_path / "t.json"
    assert xbench("tta", "--framework", "torch", "--target", 1.0, "--max-epochs", 2, "--repeats", 1,
                  "--batch-size", 100, "--eval-every", 20, "--data", subset_path, "--json", out) == 0
    (rec,) = read_results(out)["records"]
    assert rec["reached"] is False and rec["status"] == "skipped" and rec["stats"] is None
    assert rec["reason"].startswith("target 1 not reached in 1 of 1 repeats within 2 epochs")
    assert 0.5 < rec["best_accuracy"] < 1.0 and rec["samples_s"] == []
    assert rec["train_s_to_target"] is None and rec["epochs_to_target"] is None
    (run,) = rec["runs"]
    # 50 steps per epoch, evaluated every 20 steps within an epoch and at each epoch end
    assert [p["step"] for p in run["curve"]] == [20, 40, 50, 70, 90, 100]
    assert run["steps"] == 100 and run["epochs"] == 2 and run["best_accuracy"] == rec["best_accuracy"]
    times = [p["train_s"] for p in run["curve"]]
    assert times == sorted(times) and run["train_s"] == times[-1] and run["eval_s"] > 0
    assert run["wall_s"] >= run["train_s"] + run["eval_s"] - 1e-3
    captured = capsys.readouterr()
    assert "reached: false" in captured.out and "best accuracy" in captured.out
    assert "embedded 6,000-image subset" in captured.err  # the subset is labelled


def test_training_clock_excludes_evaluation(mnist, seed_spec):
    result, _ = train("torch", seed_spec, mnist, 1, 100, 1e-3, progress=False, eval_every=10)
    assert len(result.curve) == 5 and result.steps == 50  # 10, 20, 30, 40 and the epoch end
    last = result.curve[-1]
    assert last["train_s"] == pytest.approx(result.epoch_seconds[0], abs=1e-3)
    assert last["eval_s"] == pytest.approx(result.eval_seconds[0], abs=1e-3)
    assert last["eval_s"] > 0 and last["wall_s"] >= last["train_s"] + last["eval_s"] - 1e-3


def test_a_nan_loss_stops_training_and_is_flagged(mnist, seed_spec, monkeypatch):
    from xbench import frameworks

    fw = frameworks.get("torch")
    real = fw.make_train_step

    def poisoned(*a, **k):
        step, calls = real(*a, **k), []

        def bad(x, y):
            calls.append(1)
            return float("nan") if len(calls) >= 3 else step(x, y)
        return bad

    monkeypatch.setattr(fw, "make_train_step", poisoned)
    result, _ = train("torch", seed_spec, mnist, 3, 100, 1e-3, progress=False)
    assert result.diverged and result.steps == 3 and len(result.epoch_seconds) == 1
    assert result.curve[-1]["loss"] is None  # NaN is not valid JSON
    run = tta.summarize(result, 0.99, 50)
    assert run.stability == "diverged" and not run.reached and "step 3" in run.instability


@pytest.mark.parametrize("accs, label", [
    ([0.976, 0.981, 0.976, 0.983], "stable"),  # a half-point dip, as the seed recipe shows at epoch 4
    ([0.90, 0.97, 0.958, 0.975], "unstable"),  # a 1.2-point fall, recovered later: still flagged
    ([0.11, 0.10, 0.11], "unstable"),  # never learned
])
def test_stability_flags(accs, label):
    curve = [{"step": i, "test_accuracy": a} for i, a in enumerate(accs)]
    assert tta.stability(curve, diverged=False)[0] == label


def test_time_to_target_is_the_first_crossing():
    curve = [{"step": s, "epoch": s / 10, "train_s": s * 1.0, "eval_s": s * 0.1, "wall_s": s * 1.2,
              "test_accuracy": a, "loss": 0.1} for s, a in [(5, 0.7), (10, 0.81), (15, 0.85)]]
    result = TrainResult("torch", "m", 2, 32, 1e-3, 0, "d", "s", 1, steps=15, curve=curve)
    run = tta.summarize(result, 0.8, 10)
    assert run.reached and run.steps_to_target == 10 and run.epochs_to_target == 1.0
    assert (run.train_s_to_target, run.eval_s_to_target, run.wall_s_to_target) == (10.0, 1.0, 12.0)
    assert run.best_accuracy == 0.85 and run.time_per_epoch_s == 10.0
    assert not tta.summarize(result, 0.9, 10).reached


@pytest.mark.parametrize("args, message", [
    (["--target", "0"], "--target must be an accuracy in (0, 1]"),
    (["--target", "1.5"], "--target must be an accuracy in (0, 1]"),
    (["--target", "0.9", "--batch-size", "0"], "--batch-size must be a positive integer"),
    (["--target", "0.9", "--lr=-1e-3"], "--lr must be a positive number"),
    (["--target", "0.9", "--lr", "0"], "--lr must be a positive number"),
    (["--target", "0.9", "--max-epochs", "0"], "--max-epochs must be a positive integer"),
    (["--target", "0.9", "--repeats", "0"], "--repeats must be a positive integer"),
    (["--target", "0.9", "--data", "{tmp}/missing.npz"], "no such file"),
    (["--target", "0.9", "--json", "{tmp}/nodir/t.json"], "does not exist"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path, capsys):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--json" not in args:
        args += ["--json", str(tmp_path / "t.json")]
    assert xbench("tta", "--framework", "torch", *args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("xbench tta: error:") and message in err[0]
    assert list(tmp_path.rglob("*")) == []  # nothing written


def test_sweep_writes_results_tables_and_plots_and_survives_interruption(subset_path, tmp_path, monkeypatch,
                                                                          capsys):
    argv = ["sweep-train", "--frameworks", "torch", "--batch-sizes", "100,250", "--lrs", "1e-3",
            "--target", "0.5", "--max-epochs", "1", "--data", subset_path, "--out", tmp_path, "--quiet"]
    real, calls = tta.measure, []

    def interrupted(*a, **k):  # the second cell is interrupted (Ctrl-C)
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(tta, "measure", interrupted)
    assert xbench(*argv) == 130
    (rec,) = read_results(tmp_path / "sweep.json")["records"]  # the finished cell survived
    assert rec["batch_size"] == 100 and rec["reached"]
    assert "| 100 |" in (tmp_path / "sweep_torch.md").read_text()

    monkeypatch.setattr(tta, "measure", real)
    assert xbench(*argv, "--resume") == 0
    captured = capsys.readouterr()
    assert "torch batch 100 lr 0.001: kept from the earlier sweep.json" in captured.err
    assert "CAPPED AT 1 EPOCHS PER CELL" in captured.err
    doc = read_results(tmp_path / "sweep.json")
    assert [r["batch_size"] for r in doc["records"]] == [100, 250] and doc["sweep"]["max_epochs"] == 1
    table = (tmp_path / "sweep_torch.md").read_text()
    assert "| 250 |" in table and "capped at 1 epochs per cell" in table
    for png in ("accuracy_vs_time_torch.png", "tta_vs_batch.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_markdown_table_marks_unreached_and_unstable_cells():
    def rec(b, lr, reached, stability="stable"):
        return {"task": "time_to_accuracy", "framework": "keras", "batch_size": b, "learning_rate": lr,
                "reached": reached, "stability": stability, "train_s_to_target": 12.34 if reached else None,
                "epochs_to_target": 2.5 if reached else None, "best_accuracy": 0.9712, "target": 0.98,
                "repeats": 1, "max_epochs": 4, "data": "MNIST full", "time_per_epoch_s": 4.0, "steps_per_s": 400,
                "runs": [{"max_drop": 0.0123}]}

    table = tta.markdown_table([rec(32, 1e-3, True), rec(32, 1e-2, False, "unstable"), rec(512, 1e-3, False),
                                rec(512, 1e-2, True, "diverged")], "keras")
    lines = table.splitlines()
    assert "| 32 | 12.3 s (2.50 ep) | not reached (best 97.12%) ⚠ unstable |" in lines
    assert "| 512 | not reached (best 97.12%) | 12.3 s (2.50 ep) ✗ diverged |" in lines
    assert "| 32 | 4.0 s · 400/s · 1.23 | 4.0 s · 400/s · 1.23 |" in lines
    assert "capped at 4 epochs per cell" in table and tta.markdown_table([], "keras") == ""


def test_no_nan_in_results(subset_path, tmp_path):
    out = tmp_path / "t.json"
    assert xbench("tta", "--framework", "torch", "--target", 0.5, "--repeats", 1, "--data", subset_path,
                  "--json", out, "--quiet") == 0
    json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in the results file"))  # strict JSON


@pytest.mark.parametrize("framework", ["keras", "torch"])
def test_evaluation_time_never_reaches_the_training_clock(framework, seed_spec, mnist, monkeypatch):
    """Each evaluation moves the module's clock 100 s forward: the training clock must not see any of it."""
    import time as real_time
    import types

    from xbench import train as tr

    offset = [0.0]
    monkeypatch.setattr(tr, "time", types.SimpleNamespace(perf_counter=lambda: real_time.perf_counter() + offset[0],
                                                           time=real_time.time, sleep=real_time.sleep))
    evaluate = tr.evaluate

    def slow_evaluate(*args, **kwargs):
        offset[0] += 100.0
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(tr, "evaluate", slow_evaluate)
    result, _ = tr.train(framework, seed_spec, mnist, 1, 100, 1e-3, progress=False, eval_every=20)
    evals = len(result.curve)
    assert evals >= 3
    last = result.curve[-1]
    assert last["eval_s"] >= 100 * evals and last["wall_s"] >= 100 * evals
    assert last["train_s"] < 100 and sum(result.epoch_seconds) < 100
