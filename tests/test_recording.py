"""The two recording bugs of issue 21: what a record says about its throughput and its optimizer is what ran."""

import copy
import json
import statistics
from pathlib import Path

import pytest

from xbench.verdicts.noise import blocks
from xbench.records.runs import pool, unpool
from xbench.schema import read_results, validate

RUN = "results/runs/main-run-20261129T1941Z.json"  # one committed run of the suite: its train_epoch records


def _epoch_runs(root, factor: float) -> tuple[dict, dict]:
    """Two one-run documents with the run's train_epoch records, the second one's rounds ``factor`` times longer."""
    doc = read_results(root / RUN)
    doc["records"] = [r for r in doc["records"] if r["task"] == "train_epoch" and r["status"] == "ok"]
    slow = copy.deepcopy(doc)
    for r in slow["records"]:
        r["samples_s"] = [s * factor for s in r["samples_s"]]
    return doc, slow


def test_a_pooled_epoch_runs_images_per_second(request):
    """A train_epoch round is a whole epoch: its throughput is images per second of the epoch (as the suite
    writes it), not batch / median; ``images_per_s`` comes from the pooled median, not from the first run."""
    root = request.config.rootpath
    a, b = _epoch_runs(root, 1.5)
    assert a["records"] and all(r["throughput"] == pytest.approx(r["samples_per_epoch"] / r["stats"]["median"])
                                for r in a["records"])  # the writer's unit, as committed
    pooled = pool([a, b])
    validate(pooled, source="pooled")
    for r in pooled["records"]:
        median = statistics.median(statistics.median(x) for x in blocks(r))
        assert r["stats"]["median"] == pytest.approx(median)
        assert r["throughput"] == pytest.approx(r["samples_per_epoch"] / median)
        assert r["images_per_s"] == pytest.approx(r["samples_per_epoch"] / median)
    for run, original in zip(unpool(pooled), (a, b)):  # split again, each run reads as it was written
        got = {r["id"]: r for r in run["records"]}
        for r in original["records"]:
            assert got[r["id"]]["throughput"] == pytest.approx(r["samples_per_epoch"] / got[r["id"]]["stats"]["median"])


def test_pooling_a_run_with_itself_keeps_the_rates_the_suite_wrote(request):
    """The writer and the pooling share one unit per task (``xbench.records.rates``): a committed run pooled with
    a copy of itself has the same median, so every record keeps the throughput (and images/s) it was written with."""
    doc = read_results(request.config.rootpath / RUN)
    pooled = {r["id"]: r for r in pool([doc, copy.deepcopy(doc)])["records"]}
    tasks = set()
    for r in doc["records"]:
        if r["status"] == "ok":
            tasks.add(r["task"])
            for field in ("throughput", "images_per_s"):
                written, got = r.get(field), pooled[r["id"]].get(field)
                assert got == written if written is None else got == pytest.approx(written, rel=1e-9), (r["id"], field)
    assert tasks == {"train_step", "inference", "train_epoch"}


def _spec_file(tmp_path, optimizer) -> str:
    """seed_cnn with another optimizer, as a spec file of the user's (the suite takes a path for a model)."""
    from xbench.spec import MODELS_DIR

    data = json.loads((MODELS_DIR / "seed_cnn.json").read_text())
    path = tmp_path / "seed_cnn_opt.json"
    path.write_text(json.dumps({**data, "name": "seed_cnn_opt", "optimizer": optimizer}))
    return str(path)


OPTIMIZER_CLASSES = {("keras", "sgd"): "keras.optimizers.SGD", ("torch", "sgd"): "torch.optim.SGD",
                     ("keras", "adam"): "keras.optimizers.Adam", ("torch", "adam"): "torch.optim.Adam"}


@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.05), ("adam", 0.001)])
@pytest.mark.parametrize("framework, variant, task", [
    ("keras", "default", "train_step"), ("torch", "eager", "train_step"),
    ("keras", "fit", "train_epoch"), ("torch", "dataloader", "train_epoch")])
def test_the_suite_trains_with_the_specs_optimizer_and_records_it(framework, variant, task, optimizer, lr, tmp_path,
                                                                  mnist, monkeypatch):
    """A spec's optimizer (SGD in a user's spec file, Adam in seed_cnn's) is the one timed in both frameworks (the
    step and the epoch), and the record says so from the optimizer object that ran, not from the spec."""
    import keras
    import torch

    from xbench import frameworks
    from xbench.bench.cases import Case, Context, prepare

    fw = frameworks.get(framework)
    made = []
    for name in ("make_train_step", "make_epoch"):  # a spy: keeps what the suite times, changes nothing
        real = getattr(fw, name)
        monkeypatch.setattr(fw, name, lambda *a, _real=real, **k: made.append(_real(*a, **k)) or made[-1])
    model = _spec_file(tmp_path, {"name": "sgd", "learning_rate": lr}) if optimizer == "sgd" else "seed_cnn"
    case = Case(task, framework, framework, "cpu", model, 32, variant)
    prepared = prepare(case, Context(mnist, tmp_path))
    prepared.check(prepared.fn())
    (timed,) = made
    cls = {("keras", "sgd"): keras.optimizers.SGD, ("torch", "sgd"): torch.optim.SGD,
           ("keras", "adam"): keras.optimizers.Adam, ("torch", "adam"): torch.optim.Adam}[framework, optimizer]
    assert type(timed.optimizer) is cls
    if framework == "keras":
        assert int(timed.optimizer.iterations) >= 1  # the object the timed call stepped
    elif optimizer == "adam":  # torch's Adam counts its steps per parameter
        assert timed.optimizer.state and all(int(st["step"]) >= 1 for st in timed.optimizer.state.values())
    recorded = prepared.extra["optimizer"]
    assert recorded == timed.optimizer_info
    assert recorded["name"] == optimizer and recorded["class"] == OPTIMIZER_CLASSES[framework, optimizer]
    assert recorded["learning_rate"] == pytest.approx(lr)
    if optimizer == "adam":  # the epsilon the object applies, read from the object
        assert recorded["epsilon"] == (timed.optimizer.epsilon if framework == "keras"
                                       else timed.optimizer.param_groups[0]["eps"])
    else:
        assert "epsilon" not in recorded


@pytest.mark.parametrize("optimizer, message", [
    ({"name": "rmsprop"}, "'rmsprop' is not one both frameworks run; valid: .*adam, sgd"),
    ({"name": "sgd", "momentum": 0.9}, r"unknown keys \['momentum'\]"),
    ({"name": "adam", "learning_rate": 0}, "learning_rate must be a positive number"),
    ("adam", "must be an object"),
])
def test_an_optimizer_both_frameworks_cannot_run_is_a_spec_error(optimizer, message, tmp_path):
    from xbench.errors import UserError
    from xbench.spec import load_spec

    with pytest.raises(UserError, match=message):
        load_spec(_spec_file(tmp_path, optimizer))


def test_the_cli_says_so_in_one_line(tmp_path):
    """Through a command that loads a spec: one line on stderr, exit 2, nothing written."""
    import subprocess
    import sys

    out = tmp_path / "m.onnx"
    proc = subprocess.run([sys.executable, "-m", "xbench.cli", "export", "--framework", "torch", "--model",
                           _spec_file(tmp_path, {"name": "adagrad"}), "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "'adagrad'" in proc.stderr and "adam, sgd" in proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()
