"""``xbench serve``: real LoadGen runs of tiny SUTs (a no-op, a toy classifier) with CI-small settings, one row of
the suite (ONNX Runtime fp32 on the seed CNN) in this process, and the command's bad options."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xbench.serve import loadgen, records, rows, sut

# Server needs about 460 queries for LoadGen's early-stopping estimate of the p99 (a run without late queries)
TINY = loadgen.Settings(min_duration_ms=100, min_query_count={"single-stream": 64, "offline": 1, "server": 500})


def _opts(**kw) -> rows.Options:
    return rows.Options(settings=TINY, **kw)


def test_noop_records_carry_loadgen_percentiles_verdict_and_logs_by_name(tmp_path):
    """SingleStream, Offline and a Server search of the no-op SUT: every field a serve record promises, the logs
    kept in the folder under the names the record gives, and a results document that validates."""
    from xbench.records import Record, results_document
    from xbench.schema import validate

    opts = _opts(scenarios=("single-stream", "offline", "server"), start_qps=2000, max_qps=4000, batcher=True,
                 max_batch=4, max_wait_s=0.0005)
    got = rows.serve_noop(opts, tmp_path, "toy")
    assert [r.variant for r in got] == ["noop:single-stream", "noop:offline", "noop:server", "noop:server+batcher"]
    for r in got:
        s = r.extra["serve"]
        lg = s["loadgen"]
        assert r.task == "serve" and r.status == "ok" and r.samples_s and r.throughput > 0
        assert set(lg["latency_s"]) >= {"p50", "p90", "p99", "p99.9"}
        assert 0 < lg["latency_s"]["p50"] <= lg["latency_s"]["p90"] <= lg["latency_s"]["p99"] <= lg["latency_s"]["p99.9"]
        if s["scenario"] in ("single-stream", "offline"):
            assert lg["valid"] is True and lg["invalid_reason"] is None, lg
        else:  # a busy machine can make even the no-op miss the bound: LoadGen's verdict then comes with its reason
            assert lg["valid"] is (lg["invalid_reason"] is None) and lg["valid"] is not None
        for name in lg["logs"].values():
            assert "/" not in name and (tmp_path / name).is_file()
        assert s["settings"]["min_duration_ms"] == 100
    ss = got[0].extra["serve"]["loadgen"]
    assert ss["early_stopping"]["p90_s"] > 0 and ss["query_count"] >= 64
    search = got[2].extra["serve"]["search"]
    assert [p["qps"] for p in search["probes"]][:1] == [2000] and search["qps"] in (None, 2000, 4000)
    if search["qps"]:  # the answer's own probe was VALID and within the bound
        best = next(p for p in search["probes"] if p["qps"] == search["qps"])
        assert best["valid"] and best["p99_s"] <= search["latency_bound_s"]
    assert got[3].extra["serve"]["sut"]["kind"] == "dynamic batcher"
    validate(json.loads(json.dumps(results_document({"python": "3", "os": "x", "cpu": {}, "threads": {},
                                                     "versions": {}}, [Record.from_dict(r.to_dict()) for r in got]))))


@pytest.mark.parametrize("scenario", ["single-stream", "offline", "server"])
def test_loadgen_calls_the_sut_from_the_thread_that_started_it(tmp_path, scenario):
    """docs/serve.md says an inline SUT runs the model in the thread that ran the closed loop (the row process's
    main thread): LoadGen must call the SUT from the thread that called StartTest, in every scenario."""
    import threading

    callers = set()

    def run(indices):
        callers.add(threading.get_ident())

    s = sut.Inline(run, 1 if scenario != "offline" else 64)
    loadgen.run(s.issue, s.flush, samples=64, scenario=scenario, settings=TINY, logdir=tmp_path, prefix=scenario,
                target_qps=2000 if scenario == "server" else None, bound_s=0.05 if scenario == "server" else None,
                expected_latency_s=1e-4, expected_qps=1e4)
    assert callers == {threading.get_ident()}


def test_a_missed_bound_is_invalid_with_loadgens_reason_and_the_search_says_so(tmp_path):
    """A SUT slower than the bound at the lowest QPS: LoadGen calls the probe INVALID, the search reports that the
    bound is not met at the lowest QPS, and the record still describes that probe."""
    import time

    def slow(indices):
        time.sleep(0.003)

    s = rows.Served({"task": "serve", "framework": None, "runtime": "noop", "provider": "cpu", "model": "toy",
                     "variant": "sleep3ms", "dtype": "float32"},
                   rows.Options(settings=loadgen.Settings(100, {"server": 20}), bound_s=0.001, start_qps=100,
                                max_qps=200), tmp_path, "toy", {})
    rec = s.server(lambda: sut.Inline(slow, 1), "server", 1)
    search = rec.extra["serve"]["search"]
    assert search["status"] == "bound not met at the lowest QPS" and search["qps"] is None
    lg = rec.extra["serve"]["loadgen"]
    assert lg["valid"] is False and lg["invalid_reason"] and lg["latency_s"]["p99"] > 0.001
    # INVALID by the latency rule, yet a whole run: LoadGen's minimum duration and query count were met
    assert lg["constraints"]["perf_constraints_met"] is False, lg["constraints"]
    assert lg["constraints"]["min_duration_met"] is True and lg["constraints"]["min_queries_met"] is True
    assert search["probes"][0]["complete"] is True and search["complete_probes"] == "1 of 1"


def test_accuracy_mode_counts_the_responses_loadgen_logged(tmp_path):
    """AccuracyOnly over a toy set: the top-1 comes from LoadGen's accuracy log, one response per sample."""
    images = np.arange(50, dtype=np.float32).reshape(50, 1, 1, 1)
    labels = np.arange(50) % 3
    labels[:5] = 7  # five answers wrong: 90 %

    def predict(x):
        scores = np.zeros((len(x), 10), np.float32)
        scores[np.arange(len(x)), x.reshape(-1).astype(int) % 3] = 1
        return scores

    s = rows.Served({"task": "serve", "framework": None, "runtime": "toy", "provider": "cpu", "model": "toy",
                     "variant": "toy", "dtype": "float32"}, _opts(), tmp_path, "toy", {})
    rec = s.accuracy(sut.predicting(predict, images), labels, 0.9)
    acc = rec.extra["serve"]["accuracy"]
    assert acc["responses"] == 50 and acc["loadgen_top1"] == pytest.approx(0.9) and acc["equals_suite"]


def test_a_suite_row_under_loadgen_matches_its_suite_accuracy(suite_ctx, tmp_path):
    """ONNX Runtime fp32 on the trained seed CNN (embedded subset): the factory's prepared callable under
    SingleStream, and the AccuracyOnly top-1 equal to the row's accuracy in the suite."""
    from xbench.bench import cases

    case = cases.Case("inference", "torch", "onnxruntime", "CPUExecutionProvider", "seed_cnn", 1, "default")
    got = rows.serve_row(case, suite_ctx, _opts(scenarios=("single-stream", "accuracy"), pairs=3), tmp_path)
    assert [r.status for r in got] == ["ok", "ok"], [r.reason for r in got]
    ss, acc = got
    assert ss.extra["serve"]["loadgen"]["valid"] and ss.extra["serve"]["closed_loop"]["p90_s"] > 0
    # SingleStream in pairs: a closed loop as long as a LoadGen run (TINY: 0.1 s), then the run; the record reports
    # the pair with the median LoadGen p90
    pairs = ss.extra["serve"]["pairs"]
    assert [p["pair"] for p in pairs] == [1, 2, 3] and all(p["closed_loop_p90_s"] > 0 for p in pairs)
    assert all(p["closed_loop_rounds"] * p["closed_loop_p90_s"] > 0.05 for p in pairs)  # about 0.1 s of calls each
    assert ss.extra["serve"]["loadgen"]["latency_s"]["p90"] == sorted(p["loadgen_p90_s"] for p in pairs)[1]
    assert len({p["logs"]["detail"] for p in pairs}) == 3
    assert all(p["noop_early_stopping_p90_s"] > 0 and p["noop_logs"]["detail"].endswith(".noop.detail.txt")
               for p in pairs)  # each pair's no-op SUT run, in the row's process
    assert ss.extra["accuracy"] == acc.extra["accuracy"] > 0.5  # the suite's row accuracy on every record
    a = acc.extra["serve"]["accuracy"]
    assert a["images"] == len(suite_ctx.data.x_test) == a["responses"]
    assert a["loadgen_top1"] == a["suite_top1"] == acc.extra["accuracy"]
    assert ss.id == "serve/seed_cnn/torch/onnxruntime/CPUExecutionProvider/default:single-stream/b1/float32"


def test_a_row_that_cannot_load_is_one_error_record(suite_ctx, tmp_path):
    from xbench.bench import cases

    case = cases.Case("inference", "torch", "onnxruntime", "NoSuchExecutionProvider", "seed_cnn", 1, "default")
    (rec,) = rows.serve_row(case, suite_ctx, _opts(scenarios=("single-stream",)), tmp_path)
    assert rec.status in ("skipped", "error") and "NoSuchExecutionProvider" in rec.reason
    assert rec.task == "serve" and rec.variant == "default:all"


@pytest.mark.parametrize("argv, words", [
    (["--scenarios", "single-stream,burst"], "--scenarios: unknown 'burst'"),
    (["--runtimes", "tensorflow-lite"], "--runtimes: unknown 'tensorflow-lite'"),
    (["--dtypes", "float64"], "--dtypes: unknown 'float64'"),
    (["--latency-bound", "0"], "must be a positive number"),
    (["--latency-bound", "-3"], "must be a positive number"),
    (["--start-qps", "5000", "--max-qps", "100"], "--start-qps 5000 is above --max-qps 100"),
    (["--pairs", "0"], "--pairs: must be a positive integer"),
])
def test_bad_options_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, argv, words):
    from xbench.cli import main

    out = tmp_path / "serve.json"
    try:
        code = main(["serve", *argv, "--json", str(out)])
    except SystemExit as exc:  # argparse's own check of a typed option
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_record_names_are_file_names():
    ident = {"model": "m", "framework": "torch", "runtime": "onnxruntime", "provider": "CPUExecutionProvider",
             "variant": "a/b c", "dtype": "int8"}
    assert records.row_name(ident) == "m.torch.onnxruntime.CPUExecutionProvider.a_b_c.int8"


def test_a_rows_process_reads_the_files_the_prepare_process_wrote(tmp_path, mnist):
    """``FilesContext`` (one process per row) takes an ONNX file and its derivation info from the folder instead of
    exporting again; the job's options survive the trip through JSON."""
    from types import SimpleNamespace

    from xbench.serve import worker

    (tmp_path / "m.torch.int8_dynamic.onnx").write_bytes(b"onnx")
    (tmp_path / "m.torch.int8_dynamic.onnx.info.json").write_text('{"quantized": "dynamic"}')
    ctx = worker.FilesContext(mnist, tmp_path)
    path, info = ctx.onnx_entry("torch", SimpleNamespace(name="m"), "int8_dynamic")
    assert path == tmp_path / "m.torch.int8_dynamic.onnx" and info == {"quantized": "dynamic"}
    opts = rows.Options(scenarios=("server",), settings=TINY, bound_s=0.004)
    assert worker.options_from_dict(json.loads(json.dumps(worker.options_to_dict(opts)))) == opts


def test_mlperf_defaults_are_loadgens_own_and_the_ci_sizes_are_stated():
    """--mlperf-defaults hands LoadGen's built-in mlperf.conf the decision (600 s per run); the CI-sized settings set
    the stated minimum duration and per-scenario query counts, and Server's bound and QPS reach LoadGen."""
    mlperf = loadgen.lg_settings("server", loadgen.Settings.mlperf(), target_qps=800, bound_s=0.01)
    assert mlperf.min_duration_ms == 600_000 and mlperf.server_target_qps == 800
    assert mlperf.server_target_latency_ns == 10_000_000 and mlperf.server_target_latency_percentile == 0.99
    ci = loadgen.Settings()
    for scenario, queries in (("single-stream", 256), ("server", 2048), ("offline", 1)):
        s = loadgen.lg_settings(scenario, ci)
        assert (s.min_duration_ms, s.min_query_count) == (1000, queries)
        assert ci.recorded(scenario) == {"source": "xbench CI-sized defaults", "min_duration_ms": 1000,
                                         "min_query_count": queries}
    assert "mlperf.conf" in loadgen.Settings.mlperf().recorded("server")["source"]


def test_the_run_writes_its_results_and_keeps_the_logs_beside_them(tmp_path):
    """``launch.serve`` end to end on the no-op SUT (one child process): the results file validates, every log a
    record names is in ``<stem>.loadgen/`` beside it, and a second run replaces that folder whole."""
    from xbench.schema import read_results
    from xbench.serve import launch

    opts = _opts(scenarios=("single-stream", "server"), start_qps=2000, max_qps=2000, batcher=False)
    out = tmp_path / "s.json"
    (tmp_path / "s.loadgen").mkdir()
    (tmp_path / "s.loadgen" / "stale.txt").write_text("from an earlier run")
    launch.serve([], opts, model="seed_cnn", data=None, noop=True, json_path=str(out))
    doc = read_results(str(out))
    assert doc["env"]["serve"]["logs"] == "s.loadgen" and doc["env"]["serve"]["loadgen"]
    assert set(doc["env"]["serve"]["loadavg"]) == {"before", "after"}
    assert [r["variant"] for r in doc["records"]] == ["noop:single-stream", "noop:server"]
    named = {n for r in doc["records"] for n in r["serve"]["loadgen"]["logs"].values()}
    named |= {n for r in doc["records"] for p in (r["serve"].get("search") or {}).get("probes", [])
              for n in p["logs"].values()}
    named |= {n for r in doc["records"] for p in r["serve"].get("pairs", []) for key in ("logs", "noop_logs")
              for n in p.get(key, {}).values()}
    assert len([r for r in doc["records"] if r["serve"].get("pairs")]) == 1  # SingleStream's, one per run
    assert named == {p.name for p in (tmp_path / "s.loadgen").iterdir()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json", "s.loadgen"]  # no temporary left behind
