"""`xbench explain --results FILE` and the report's epoch table: fit and verdicts from a results file's own
batch sizes, epochs against the sum of their steps; no ML framework imported."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xbench.cli import main

FIXTURE = Path(__file__).parent / "golden" / "results.json"
ML = ("tensorflow", "keras", "torch", "onnxruntime")
CEILING = {"what": "test", "cpu": {"device": "cpu", "matmul_gflops": 100.0, "bandwidth_gbs": 10.0}, "cuda": []}


def _scaled(rec: dict, batch: int, median: float) -> dict:
    r = copy.deepcopy(rec)
    k = median / rec["stats"]["median"]
    r["batch_size"] = batch
    r["id"] = r["id"].replace(f"/b{rec['batch_size']}/", f"/b{batch}/")
    r["samples_s"] = [s * k for s in r["samples_s"]]
    for f in ("min", "max", "mean", "median", "stddev", "iqr", "p90", "p99"):
        if r["stats"].get(f) is not None:
            r["stats"][f] *= k
    r["stats"]["median_ci95"] = [v * k for v in r["stats"]["median_ci95"]]
    for b in r.get("blocks") or []:
        b["median_s"] *= k
    r["throughput"] = batch / median
    return r


def make_doc() -> dict:
    """The golden run, with ORT (torch export) inference also at batch 128 and counted costs, and two epochs."""
    doc = json.loads(FIXTURE.read_text())
    doc["env"]["ceiling"] = CEILING
    recs = doc["records"]
    ort32 = next(r for r in recs if r["runtime"] == "onnxruntime" and r["framework"] == "torch" and r["batch_size"] == 32)
    recs.append(_scaled(ort32, 128, 4 * ort32["stats"]["median"]))  # t = 2.7 µs + 2.4 µs x batch: per-sample
    for r in recs:
        if r["status"] == "ok":
            per = 2 * 248_768 + (2 * (194_688 + 2 * 54_080) if r["task"] == "train_step" else 0)
            r["cost"] = {"flops_per_batch": per * r["batch_size"], "bytes_min_per_batch": 600 * r["batch_size"],
                         "bytes_layers_per_batch": 260_000 * r["batch_size"], "complete": True}
    keras32 = next(r for r in recs if r["task"] == "train_step" and r["framework"] == "keras"
                   and r["variant"] == "default" and r["batch_size"] == 32)
    for batch, variant, fw, median in ((32, "fit", "keras", 0.40), (32, "dataloader", "torch", 0.45)):
        e = _scaled(keras32, batch, median)
        e.pop("cost")
        e.update(task="train_epoch", variant=variant, framework=fw, runtime=fw, steps_per_epoch=157,
                 samples_per_epoch=5000, images_per_s=5000 / median, throughput=5000 / median)
        e["id"] = f"train_epoch/seed_cnn/{fw}/{fw}/cpu/{variant}/b{batch}/float32"
        recs.append(e)
    return doc


@pytest.fixture
def results(tmp_path) -> Path:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(make_doc()))
    return path


def test_fit_and_verdicts_from_a_results_file(results):
    from xbench.explain.results import explain_results
    from xbench.schema import read_results

    rep = explain_results(read_results(results), source=str(results))
    series = {(s["task"], s["runtime"], s.get("framework"), s["provider"], s["variant"]): s for s in rep["series"]}
    ort = series[("inference", "onnxruntime", "torch", "CPUExecutionProvider", "default")]
    assert ort["batch_sizes"] == [1, 32, 128] and ort["fit"]["available"]
    row = {r["batch_size"]: r for r in ort["rows"]}
    assert row[128]["fixed_fraction"] < 0.5 and row[1]["fixed_fraction"] > 0.5
    # the share at batch 1 is 0.53, but its interval over the golden run's blocks (0.49..0.57) straddles one half
    assert row[1]["verdict"] == "unresolved" and "straddles 0.5" in row[1]["verdict_rule"]
    assert row[128]["verdict"] in ("compute-bound", "memory-bound", "below-roofline")
    assert all(r["fraction_of_peak"] <= 1 for s in rep["series"] for r in s["rows"] if "fraction_of_peak" in r)
    train = series[("train_step", "torch", "torch", "cpu", "eager")]
    assert not train["fit"]["available"] and "2 batch size(s) (32, 128)" in train["fit"]["reason"]
    assert all(r["fixed_s"] is None and r["fixed_fraction"] is None for r in train["rows"])
    assert {r["verdict"] for r in train["rows"]} <= {"compute-bound", "memory-bound", "unresolved"}
    epochs = {e["framework"]: e for e in rep["epochs"]}
    assert epochs["keras"]["sum_of_steps_s"] == pytest.approx(157 * 0.00169563)
    assert epochs["keras"]["loop_s"] == pytest.approx(0.40 - 157 * 0.00169563)
    assert epochs["torch"]["sum_of_steps_s"] == pytest.approx(157 * 0.00197989)


def test_explain_results_cli_imports_no_ml_framework(results, tmp_path):
    out = tmp_path / "e.json"
    argv = ["explain", "--results", str(results), "--json", str(out)]
    code = (f"import sys; from xbench.cli import main; rc = main({argv!r}); "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {ML!r})); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert eval(proc.stdout.strip().splitlines()[-1]) == []
    assert "fit unavailable: measured at 2 batch size(s) (32, 128)" in proc.stdout
    assert "fixed %" in proc.stdout and "R² " in proc.stdout and "One epoch against the sum of its steps" in proc.stdout
    assert json.loads(out.read_text())["series"]


def test_explain_results_bad_input_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["explain", "--results", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "malformed JSON" in err and len([l for l in err.splitlines() if "error:" in l]) == 1
    assert main(["explain", "--results", str(bad), "--model", "seed_cnn"]) == 2
    assert "without --model" in capsys.readouterr().err


def test_report_shows_epochs_beside_the_sum_of_their_steps(results):
    from xbench.report import load_runs, render

    md = render(load_runs([results]), "md")
    assert "## One epoch" in md and "Sum of steps" in md
    line = next(l for l in md.splitlines() if "`fit`" in l and l.startswith("|"))
    assert "400 ms" in line and "266 ms" in line and "157" in line and "33 % (28–38 %)" in line  # with its interval


EPOCH_SLICE = 700  # the suite's epochs over the first 700 of the embedded subset's 5,000 training images


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory, ceiling_env) -> dict:
    """One run of the benchmark suite in a fresh process, as a user runs it, whose results file two tests read:
    seed_cnn at batch 128, one epoch of Keras fit and of a PyTorch DataLoader loop, the train steps beside them, and
    PyTorch's inference, eager and its export under ONNX Runtime (plain and with I/O binding). Its epochs run over the first ``EPOCH_SLICE`` training images (the same
    digits, a seventh of the loop): the tests read the records' arithmetic, not a timing that needs 5,000."""
    out = tmp_path_factory.mktemp("suite-run") / "r.json"
    repo = Path(__file__).resolve().parents[1]
    select = ("b128 and ((train_epoch and (dataloader or keras-cpu-fit-)) or "
              "(train_step and (eager or keras-cpu-default)) or "
              "(inference and (torch-cpu-eager or onnxruntime-torch-cpu-default or onnxruntime-torch-cpu-iobinding) "
              "and not int8 and not float16 and not bfloat16))")
    code = ("import sys, pytest; from xbench.bench import cases; cases.EPOCH_SAMPLES = %d; "
            "sys.exit(pytest.main(sys.argv[1:]))" % EPOCH_SLICE)
    proc = subprocess.run([sys.executable, "-c", code, "xbench/bench/suite", "--benchmark-only", "--xbench-json",
                           str(out), "--xbench-models", "seed_cnn", "--xbench-providers", "cpu", "--xbench-blocks",
                           "1", "-k", select, "--benchmark-max-time=0.01", "--benchmark-min-rounds=1",
                           "-p", "no:cacheprovider", "-q"], cwd=repo, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **ceiling_env})  # the ceiling measured once per session
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    from xbench.schema import read_results

    return read_results(out)  # validates against the results schema


@pytest.mark.e2e
@pytest.mark.slow
def test_suite_records_train_epoch_beside_its_steps(suite_run):
    """The benchmark suite times one epoch of Keras fit and of a PyTorch DataLoader loop, and the results file
    sets each against the sum of its steps."""
    from xbench.explain.results import explain_results

    doc = suite_run
    epochs = {r["framework"]: r for r in doc["records"] if r["task"] == "train_epoch"}
    assert set(epochs) == {"keras", "torch"} and all(r["status"] == "ok" for r in epochs.values())
    for r in epochs.values():
        assert r["steps_per_epoch"] == 6 and r["samples_per_epoch"] == EPOCH_SLICE  # ceil(700 / 128)
        assert r["images_per_s"] == pytest.approx(EPOCH_SLICE / r["stats"]["median"])
        assert r["throughput"] == pytest.approx(r["images_per_s"])
    assert "model.fit" in epochs["keras"]["variant_info"] and "DataLoader" in epochs["torch"]["variant_info"]
    rows = {e["framework"]: e for e in explain_results(doc)["epochs"]}
    for fw in ("keras", "torch"):
        step = next(r for r in doc["records"] if r["task"] == "train_step" and r["framework"] == fw
                    and r["dtype"] == "float32")  # the bf16 step rows are there too (issue 12)
        assert rows[fw]["sum_of_steps_s"] == pytest.approx(6 * step["stats"]["median"])
        assert rows[fw]["loop_s"] == pytest.approx(rows[fw]["epoch_s"] - rows[fw]["sum_of_steps_s"])


@pytest.mark.e2e
@pytest.mark.slow
def test_benchmark_records_carry_roofline_fields(suite_run):
    doc = suite_run
    assert doc["env"]["ceiling"]["cpu"]["matmul_gflops"] > 0
    ok = [r for r in doc["records"] if r["status"] == "ok" and r["task"] != "train_epoch"]
    assert {(r["task"], r["runtime"], r["variant"]) for r in ok if r["framework"] == "torch"} == {
        ("train_step", "torch", "eager"), ("inference", "torch", "eager"), ("inference", "onnxruntime", "default"),
        ("inference", "onnxruntime", "iobinding")}
    for r in ok:
        assert "roofline_error" not in r, r["roofline_error"]
        assert r["achieved_gflops"] > 0 and 0 < r["fraction_of_peak"] and r["verdict"]
        per_sample = 248_768 + (194_688 + 2 * 54_080 if r["task"] == "train_step" else 0)
        assert r["cost"]["flops_per_batch"] == 2 * 128 * per_sample
