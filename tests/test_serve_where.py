"""The where table's load answer from ``xbench serve`` records: the highest Server QPS within the bound among the
rows within 1 point of fp32 accuracy, and the SingleStream p90 beside the closed loop's (pure: records as dicts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from xbench.report.data import Run
from xbench.report.where import where_tables


def _rec(runtime, dtype, variant, scenario, *, delta=0.0, qps=None, p90=None, loop=None, status=None):
    serve = {"scenario": scenario, "loadgen": {"valid": True, "latency_s": {"p90": p90}, "logs": {}}}
    if scenario.startswith("server"):
        serve["search"] = {"status": status or ("found" if qps else "bound not met at the lowest QPS"), "qps": qps,
                           "latency_bound_s": 0.01, "rel_tol": 0.1, "probes": []}
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


def _paired(runtime, dtype, variant, diffs_us, *, loop_us=40.0, call_us=None, noop_us=None):
    """A SingleStream record of pairs: closed loop p90 ``loop_us``, LoadGen p90 = loop + each difference, and the
    no-op SUT's p90 in the same pair (``noop_us``: LoadGen's early-stopping estimate) when given."""
    rec = _rec(runtime, dtype, variant, "single-stream", p90=(loop_us + diffs_us[0]) * 1e-6, loop=loop_us * 1e-6)
    rec["serve"]["pairs"] = [{"pair": i + 1, "loadgen_p90_s": (loop_us + d) * 1e-6, "closed_loop_p90_s": loop_us * 1e-6,
                              "sut_call_p90_s": None if call_us is None else call_us * 1e-6, "logs": {},
                              **({} if noop_us is None else {"noop_p90_s": noop_us * 0.99e-6,
                                                             "noop_early_stopping_p90_s": noop_us * 1e-6})}
                             for i, d in enumerate(diffs_us)]
    return rec


def _noop(*es_p90_us):
    noop = {**_rec("noop", "float32", "noop", "single-stream", p90=es_p90_us[0] * 1e-6), "runtime": "noop"}
    noop["serve"]["pairs"] = [{"pair": i + 1, "loadgen_p90_s": u * 1e-6 * 0.99, "loadgen_early_stopping_p90_s": u * 1e-6,
                               "closed_loop_p90_s": None, "logs": {}} for i, u in enumerate(es_p90_us)]
    return noop


def test_single_stream_is_judged_on_its_pairs_against_the_noop_in_each_pair():
    """Issue 25: per pair, (LoadGen's p90 - the closed loop's) - the no-op SUT's p90 in the same pair; within the
    no-op overhead only when the whole interval of the median excess (6 pairs: [min, max], 96.9 %) is <= 0, exceeds
    only when all of it is above 0, not resolved otherwise."""
    from xbench.serve.launch import against_noop

    within = _paired("onnxruntime", "float32", "default", [1, 2, 2.5, 2.95, 2, 2.9], call_us=41, noop_us=3.0)
    own_noop = _paired("onnxruntime", "float32", "iobinding", [4] * 6, noop_us=4.5)  # above the no-op row's 3
    exceeds = _paired("onnxruntime", "int8", "dynamic", [3.5, 4, 6, 3.2, 5, 4], call_us=43, noop_us=3.0)
    straddles = _paired("openvino", "float32", "default", [1, 2, 2.5, 4, 5, 6], noop_us=3.0)
    five = _paired("onnxruntime", "int8", "qdq_static", [1, 1, 1, 1, 1], noop_us=3.0)  # 93.8 %: below 95 %
    row_noop = _paired("openvino", "float32", "bf16", [1] * 6)  # no no-op run in its pairs: the no-op row's
    one = _rec("openvino", "float32", "dynamic", "single-stream", p90=41e-6, loop=40e-6)  # a record from before pairs
    noop = _noop(3.0, 2.9, 3.1)
    recs = [within, own_noop, exceeds, straddles, five, row_noop, one]
    against_noop(recs + [noop])
    v = {id(r): r["serve"]["vs_closed_loop"] for r in recs}
    w = v[id(within)]
    assert w["verdict"] == "within" and w["explained_by_noop"] is True and w["noop"] == "paired"
    assert w["difference_s"]["interval"] == pytest.approx([1e-6, 2.95e-6]) and w["noop_p90_s"] == pytest.approx(3e-6)
    assert w["excess_s"]["interval"] == pytest.approx([-2e-6, -0.05e-6]) and w["excess_s"]["coverage"] == 0.9688
    assert w["sut_call_minus_closed_loop_s"]["median"] == pytest.approx(1e-6) and w["pairs"] == 6
    assert v[id(own_noop)]["verdict"] == "within"  # its own pairs' no-op (4.5 us), not the no-op row's 3 us
    assert v[id(exceeds)]["verdict"] == "exceeds" and v[id(exceeds)]["explained_by_noop"] is False
    assert v[id(straddles)]["verdict"] == "not resolved" and v[id(straddles)]["explained_by_noop"] is None
    assert v[id(five)]["verdict"] == "not resolved"
    assert v[id(row_noop)]["verdict"] == "within" and v[id(row_noop)]["noop"] == "the no-op row"
    assert v[id(one)]["verdict"] == "not resolved" and v[id(one)]["pairs"] == 1
    assert "vs_closed_loop" not in noop["serve"]
    lone = _paired("onnxruntime", "int8", "dynamic", [3.5, 4, 6, 3.2, 5, 4])
    against_noop([lone])  # no no-op anywhere: no verdict
    assert lone["serve"]["vs_closed_loop"]["verdict"] is None and lone["serve"]["vs_closed_loop"]["noop"] is None


def test_the_single_stream_cell_shows_the_medians_over_the_pairs():
    rec = _paired("onnxruntime", "float32", "default", [100, 2, 3, 4, 5, 200])  # the reported run is the first pair
    table, _ = _table([rec])
    assert table.rows[0][-1].startswith("0.0445 ms (closed loop 0.0400 ms)"), table.rows[0][-1]


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


def test_rows_the_searches_cannot_separate_are_named_together_not_one_picked():
    """A QPS the search stopped at without a failing probe is a lower bound: rows that all reach the ceiling are not
    separated. Found edges are known to within the search's 10 % tolerance: 28,000 is not separated from 30,000,
    20,000 is. One clear best is named alone."""
    ceiling = "bound met at the highest QPS searched"
    _, answer = _table([_rec("onnxruntime", "float32", "default", "server", qps=32_000, status=ceiling),
                        _rec("openvino", "float32", "default", "server", qps=32_000, status=ceiling),
                        _rec("onnxruntime", "int8", "dynamic", "server", qps=9_000)])
    assert "— not separated, 2 rows:" in answer and "ceiling" in answer and "dynamic" not in answer
    table, answer = _table([_rec("onnxruntime", "float32", "default", "server", qps=30_000),
                            _rec("openvino", "float32", "default", "server", qps=28_000),
                            _rec("onnxruntime", "float32", "iobinding", "server", qps=20_000)])
    assert "not separated, 2 rows:" in answer and "10% tolerance" in answer and "iobinding" not in answer
    bold = [r for r in table.rows if type(r[-2]).__name__ == "Strong"]
    assert len(bold) == 2
    _, answer = _table([_rec("onnxruntime", "float32", "default", "server", qps=30_000),
                        _rec("openvino", "float32", "default", "server", qps=20_000)])
    assert "— ORT CPU (PyTorch export) float32 `default` (30,000" in answer.replace("\u202f", ",")
