"""The where table's load answer from ``xbench serve`` records: the highest Server QPS within the bound among the
rows within 1 point of fp32 accuracy, and the SingleStream p90 beside the closed loop's (pure: records as dicts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from xbench.report.data import Run
from xbench.report.where import where_tables


def _rec(runtime, dtype, variant, scenario, *, delta=0.0, qps=None, p90=None, loop=None):
    serve = {"scenario": scenario, "loadgen": {"valid": True, "latency_s": {"p90": p90}, "logs": {}}}
    if scenario.startswith("server"):
        serve["search"] = {"status": "found" if qps else "bound not met at the lowest QPS", "qps": qps,
                           "latency_bound_s": 0.01, "probes": []}
    if loop:
        serve["closed_loop"] = {"p90_s": loop}
    return {"task": "serve", "status": "ok", "framework": "torch", "runtime": runtime, "provider": "CPUExecutionProvider"
            if runtime == "onnxruntime" else "CPU", "model": "seed_cnn", "dtype": dtype,
            "variant": f"{variant}:{scenario}", "batch_size": 1, "accuracy": 0.95 + delta, "accuracy_delta": delta,
            "serve": serve}


def _table(records):
    (title, table, answer), = where_tables([Run(Path("serve.json"), {"env": {}, "records": records}, "m")])
    return table, answer


def test_the_load_answer_skips_a_row_that_lost_accuracy():
    table, answer = _table([
        _rec("onnxruntime", "float32", "default", "server", qps=4000),
        _rec("onnxruntime", "float32", "default", "server+batcher", qps=6000),
        _rec("onnxruntime", "float32", "default", "single-stream", p90=50e-6, loop=40e-6),
        _rec("onnxruntime", "int8", "dynamic", "server", qps=9000, delta=-0.02),  # faster, but 2 points down
        _rec("openvino", "float32", "default", "server", qps=5000),
    ])
    assert table.headers[-2:] == ["Server QPS (LoadGen)", "SingleStream p90 (LoadGen)"]
    assert "ORT CPU (PyTorch export) float32 `default`" in answer and "6,000" in answer.replace("\u202f", ",")
    row = next(r for r in table.rows if r[1] == "float32" and "ORT" in r[0])
    assert "(batcher)" in str(row[-2]) and "closed loop" in row[-1]


def test_a_row_that_misses_the_bound_at_the_lowest_qps_says_so():
    table, answer = _table([_rec("onnxruntime", "float32", "default", "server", qps=None)])
    assert table.rows[0][-2] == "bound missed at the lowest QPS" and "none within the p99 bound" in answer


def test_single_stream_is_set_against_the_closed_loop_and_the_noop():
    from xbench.serve.launch import against_noop

    row = _rec("onnxruntime", "float32", "default", "single-stream", p90=50e-6, loop=40e-6)
    far = _rec("onnxruntime", "int8", "dynamic", "single-stream", p90=90e-6, loop=40e-6)
    noop = {**_rec("noop", "float32", "noop", "single-stream", p90=12e-6), "runtime": "noop"}
    against_noop([row, far, noop])
    got = row["serve"]["vs_closed_loop"]
    assert got["difference_s"] == pytest.approx(10e-6) and got["noop_p90_s"] == 12e-6 and got["explained_by_noop"] is True
    assert far["serve"]["vs_closed_loop"]["explained_by_noop"] is False
    assert "vs_closed_loop" not in noop["serve"]


def test_beside_the_suites_rows_the_load_columns_are_added_and_the_noop_is_a_note_not_a_row():
    suite = {"task": "inference", "status": "ok", "framework": "torch", "runtime": "onnxruntime",
             "provider": "CPUExecutionProvider", "model": "seed_cnn", "dtype": "float32", "variant": "default",
             "batch_size": 1, "stats": {"median": 30e-6, "p90": 38e-6}, "throughput": 33_000, "accuracy": 0.95,
             "accuracy_delta": 0.0}
    noop = {**_rec("noop", "float32", "noop", "server", qps=32_000), "runtime": "noop", "framework": None,
            "accuracy": None, "accuracy_delta": None}
    table, answer = _table([suite, _rec("onnxruntime", "float32", "default", "server", qps=4000),
                            _rec("onnxruntime", "float32", "default", "single-stream", p90=45e-6, loop=40e-6), noop])
    assert table.headers[3:5] == ["Batch 1 median", "Batch 1 p90"] and table.headers[-2] == "Server QPS (LoadGen)"
    assert len(table.rows) == 1  # the suite's row and its serve records are one row; the no-op is not a row
    row = table.rows[0]
    assert "0.038" in str(row[4]) and "0.045" in row[-1] and "4,000" in str(row[-2]).replace("\u202f", ",")
    assert "under load: ORT CPU (PyTorch export) float32 `default`" in answer and "The no-op SUT" in answer


def test_the_closed_loop_comparison_allows_for_both_intervals_and_no_more():
    """Issue 25: LoadGen's p90 is within the no-op overhead when it is at most the closed loop's p90 upper bound
    plus the no-op's early-stopping p90 estimate; a point comparison (difference <= the no-op's measured p90) is
    not the rule."""
    from xbench.serve.launch import against_noop

    def single(p90, loop, upper):
        rec = _rec("onnxruntime", "float32", "default", "single-stream", p90=p90, loop=loop)
        rec["serve"]["closed_loop"]["p90_ci95"] = [loop * 0.95, upper]
        return rec

    noop = {**_rec("noop", "float32", "noop", "single-stream", p90=5e-6), "runtime": "noop"}
    noop["serve"]["loadgen"]["early_stopping"] = {"p90_s": 6e-6}
    inside = single(46e-6, 40e-6, 40.5e-6)  # 6 us above the loop's p90: more than the no-op's 5, within 40.5 + 6
    outside = single(47e-6, 40e-6, 40.5e-6)  # beyond 40.5 + 6
    against_noop([inside, outside, noop])
    got = inside["serve"]["vs_closed_loop"]
    assert got["allowance_s"] == pytest.approx(46.5e-6) and got["explained_by_noop"] is True
    assert outside["serve"]["vs_closed_loop"]["explained_by_noop"] is False


def test_quantile_interval_brackets_the_quantile():
    from xbench.records import stats

    xs = [float(i) for i in range(1000)]
    lo, hi = stats.quantile_interval(xs, 0.9)
    assert lo < 900 < hi and hi - lo < 60
    assert stats.quantile_interval(xs[:20], 0.9) is None  # n q (1 - q) = 1.8: too few rounds for the interval


def test_a_search_that_never_failed_a_probe_gives_a_lower_bound_not_a_maximum():
    """A search that stopped at its ceiling found only "at least": the table and the answer say ≥."""
    top = _rec("onnxruntime", "float32", "default", "server", qps=32000)
    top["serve"]["search"]["status"] = "bound met at the highest QPS searched"
    table, answer = _table([top, _rec("openvino", "float32", "default", "server", qps=9000)])
    cells = {r[0]: str(r[-2]) for r in table.rows}
    assert cells["ORT CPU (PyTorch export)"].startswith("≥ 32") and not cells["OpenVINO CPU (PyTorch export)"].startswith("≥")
    assert "(≥ 32" in answer


def test_a_file_without_a_server_scenario_says_so_instead_of_a_missed_bound():
    """SingleStream only (e.g. `--xbench-serve="--scenarios single-stream"`): no Server search ran, so the answer
    must not claim that none met the bound."""
    table, answer = _table([_rec("onnxruntime", "float32", "default", "single-stream", p90=50e-6, loop=40e-6)])
    assert "no Server scenario in this file" in answer and "none within the p99 bound" not in answer
