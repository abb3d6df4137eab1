"""Time to accuracy and the training sweep, fast: the embedded subset, low targets, one epoch."""

import json
import re

import pytest

from xbench import cli
from xbench.report import tta as tta_text
from xbench.training import tta
from xbench.schema import read_results
from xbench.training.train import TrainResult, train


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
            "--target", "0.5", "--max-epochs", "1", "--repeats", "2", "--data", subset_path, "--out", tmp_path,
            "--quiet"]
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
    assert re.search(r"\[2/2\] .* \(cell \d+ s for 2 seed\(s\); \d+ s so far\)", captured.err)  # per-cell time
    doc = read_results(tmp_path / "sweep.json")
    assert [r["batch_size"] for r in doc["records"]] == [100, 250] and doc["sweep"]["max_epochs"] == 1
    assert all(r["repeats"] == 2 and set(r["targets"]) == {"0.5", "0.97", "0.975"} for r in doc["records"])
    table = (tmp_path / "sweep_torch.md").read_text()
    assert "| 250 |" in table and "capped at 1 epochs per cell" in table
    for png in ("accuracy_vs_time_torch.png", "tta_vs_batch.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _result(seed: int, accs: list[float], per_epoch: int = 10, diverged: bool = False, init: str = "own"):
    """A TrainResult evaluated at every epoch end (pure data: no training), 1 s of training per epoch."""
    curve = [{"step": (e + 1) * per_epoch, "epoch": float(e + 1), "train_s": e + 1.0, "eval_s": 0.1 * (e + 1),
              "wall_s": 1.2 * (e + 1), "test_accuracy": a, "loss": 0.1} for e, a in enumerate(accs)]
    return TrainResult("keras", "seed_cnn", len(accs), 32, 1e-3, seed, "d", "s", 1, steps=len(accs) * per_epoch,
                       curve=curve, diverged=diverged, init=init)


def _record(mnist, seeds_accs: list[list[float]], targets=(0.97,), diverged=(), target=0.98, batch=32, lr=1e-3):
    from xbench.spec import load_spec

    runs = [tta.summarize(_result(i, accs, diverged=i in diverged), target, 10, targets)
            for i, accs in enumerate(seeds_accs)]
    return tta.make_record("keras", load_spec("seed_cnn"), mnist, runs, batch, lr, len(seeds_accs[0]), None,
                           all_epochs=True).to_dict()


def test_unreached_and_diverged_seeds_are_counted_as_infinite_times(mnist):
    rec = _record(mnist, [[0.975, 0.981, 0.982], [0.972, 0.978, 0.979], [0.96, 0.975, 0.983], [0.5, 0.4]],
                  diverged=(3,))  # the last seed diverged in its third epoch
    assert rec["repeats"] == 4 and len(rec["runs"]) == 4 and rec["stability"] == "diverged"  # kept, flagged
    t98, t97 = rec["targets"]["0.98"], rec["targets"]["0.97"]
    # times to 98 %: 2 s, never, 3 s, never (diverged) -> sorted 2, 3, inf, inf
    assert t98["reached"] == 2 and t98["reached_fraction"] == 0.5 and t98["train_s"] == [2.0, None, 3.0, None]
    assert t98["median_s"] is None and t98["median_ci95"] == [2.0, None]  # infinite median, open interval
    assert t97["reached"] == 3 and t97["median_s"] == 1.5 and t97["median_ci95"] == [1.0, None]
    assert t97["ci_level"] == 0.875  # [min, max] of 4 values covers the median with 1 - 2/16
    assert rec["status"] == "skipped" and rec["stats"] is None
    b = rec["best_accuracy_over_seeds"]
    assert b["seeds"] == 4 and b["min"] == 0.5 and b["mean"] == pytest.approx((0.982 + 0.979 + 0.983 + 0.5) / 4)
    assert [p["epoch"] for p in rec["plateau"]] == [1, 2, 3]
    assert rec["plateau"][1]["seeds"] == 4 and rec["plateau"][2]["seeds"] == 3  # the epochs each seed finished
    assert rec["plateau"][2]["mean"] == pytest.approx((0.982 + 0.979 + 0.983) / 3, abs=1e-5)


def test_interval_is_the_records_median_ci95_when_every_seed_reached(mnist):
    rec = _record(mnist, [[0.975, 0.981], [0.981, 0.99], [0.96, 0.975], [0.98, 0.98], [0.99, 0.99]],
                  target=0.97, targets=())
    t = rec["targets"]["0.97"]
    assert rec["status"] == "ok" and rec["stats"]["ci_unit"] == "blocks" and rec["stats"]["blocks"] == 5
    assert t["median_ci95"] == rec["stats"]["median_ci95"] == [1.0, 2.0] and t["median_s"] == rec["stats"]["median"]
    assert t["ci_level"] == rec["stats"]["ci_level"] == 0.9375 and "states" not in rec


def test_markdown_table_shows_intervals_and_marks_unreached_and_unstable_cells(mnist):
    ok = _record(mnist, [[0.975, 0.981], [0.972, 0.983], [0.979, 0.985]])
    unreached = _record(mnist, [[0.96, 0.95], [0.97, 0.95], [0.972, 0.981]], lr=1e-2)
    table = tta_text.markdown_table([ok, unreached], "keras")
    lines = table.splitlines()
    assert "| 32 | 2.0 s [2.0, 2.0] · 3/3 | not reached · 1/3 (best 97.03 ± 1.05%) ⚠ unstable |" in lines  # 98 %
    assert "| 32 | 1.0 s [1.0, 1.0] · 3/3 | 1.0 s [1.0, ∞] · 2/3 ⚠ unstable |" in lines  # 97 %
    assert "coverage 75.0%" in table and "capped at 2 epochs per cell" in table
    assert "| 32 | 97.53 ± 0.35 / 98.30 ± 0.20 | 96.73 ± 0.64 / 96.03 ± 1.79 |" in lines  # plateau, epochs 1 / 2
    assert tta_text.markdown_table([], "keras") == ""


def test_no_nan_in_results(subset_path, tmp_path):
    out = tmp_path / "t.json"
    assert xbench("tta", "--framework", "torch", "--target", 0.5, "--repeats", 1, "--data", subset_path,
                  "--json", out, "--quiet") == 0
    json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in the results file"))  # strict JSON


@pytest.mark.parametrize("framework, every", [("keras", {"eval_every": 20}), ("torch", {"eval_every": 20}),
                                              ("keras", {"check_every": 10, "confirm": lambda acc: acc > 0.5})])
def test_evaluation_time_never_reaches_the_training_clock(framework, every, seed_spec, mnist, monkeypatch):
    """Each evaluation moves the module's clock 100 s forward: the training clock must not see any of it."""
    import time as real_time
    import types

    from xbench.training import train as tr

    offset = [0.0]
    monkeypatch.setattr(tr, "time", types.SimpleNamespace(perf_counter=lambda: real_time.perf_counter() + offset[0],
                                                           time=real_time.time, sleep=real_time.sleep))
    evaluate = tr.evaluate

    def slow_evaluate(*args, **kwargs):
        offset[0] += 100.0
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(tr, "evaluate", slow_evaluate)
    result, _ = tr.train(framework, seed_spec, mnist, 1, 100, 1e-3, progress=False, **every)
    evals = len(result.curve) + len(result.checks)
    assert evals >= 3
    last = result.curve[-1]
    assert last["eval_s"] >= 100 * evals and last["wall_s"] >= 100 * evals
    assert last["train_s"] < 100 and sum(result.epoch_seconds) < 100


def test_slice_checks_every_k_steps_confirm_on_the_full_test_set(seed_spec, mnist):
    seen = []

    def confirm(acc):
        seen.append(acc)
        return len(seen) in (2, 4)  # confirm the 2nd and 4th checks only

    result, _ = train("torch", seed_spec, mnist, 1, 100, 1e-3, progress=False, check_every=10, confirm=confirm)
    # 50 steps per epoch: checks at 10, 20, 30, 40 (the epoch end is a full evaluation, not a check)
    assert [c["step"] for c in result.checks] == [10, 20, 30, 40] and result.check_images == 500
    assert [c["confirmed"] for c in result.checks] == [False, True, False, True]
    assert [c["slice_accuracy"] for c in result.checks] == seen
    assert [p["step"] for p in result.curve] == [20, 40, 50]  # full test set: the confirmations and the end
    assert result.checks[1]["train_s"] == result.curve[0]["train_s"]


def test_check_slice_is_fixed_and_within_the_test_set():
    from xbench.training.train import check_slice

    a = check_slice(10_000)
    assert len(a) == 2000 and len(set(a)) == 2000 and a.max() < 10_000 and (check_slice(10_000) == a).all()
    assert len(check_slice(1000)) == 500


def test_targets_stop_training_only_after_the_last_one(seed_spec, mnist):
    runs = tta.measure("torch", seed_spec, mnist, 0.6, 100, 1e-3, 2, repeats=1, targets=(0.3,), check_every=10,
                       progress=False)
    (run,) = runs
    assert run.reached and run.crossings["0.3"]["step"] <= run.crossings["0.6"]["step"] == run.steps
    assert run.check_every == 10 and run.checks and run.curve[-1]["test_accuracy"] >= 0.6
    every = tta.measure("torch", seed_spec, mnist, 0.6, 100, 1e-3, 2, repeats=1, check_every=10, progress=False,
                        all_epochs=True)[0]
    assert every.steps == 100 and every.epoch_accuracy == [p["test_accuracy"] for p in every.curve
                                                           if p["step"] in (50, 100)]
