"""Pooling several runs of the suite into one results file (xbench.records.runs.pool)."""

import json
import statistics
from pathlib import Path

from xbench.verdicts.noise import blocks
from xbench.records.runs import pool
from xbench.schema import validate

FIXTURE = Path(__file__).parent / "golden" / "results.json"


def _doc(factor: float = 1.0) -> dict:
    doc = json.loads(FIXTURE.read_text())
    for r in doc["records"]:
        if r["status"] == "ok":
            r["samples_s"] = [s * factor for s in r["samples_s"]]
    return doc


def test_pooled_runs_keep_every_round_block_by_block():
    a, b = _doc(), _doc(2.0)
    pooled = pool([a, b])
    validate(pooled, source="pooled")
    ok_a = {r["id"]: r for r in a["records"] if r["status"] == "ok"}
    assert ok_a
    for r in pooled["records"]:
        if r["status"] != "ok":
            continue
        base = ok_a[r["id"]]["samples_s"]
        assert r["samples_s"] == base + [s * 2.0 for s in base]
        assert [x["run"] for x in r["blocks"]][0] == 0 and r["blocks"][-1]["run"] == 1
        rec_a = ok_a[r["id"]]
        assert blocks(r) == blocks(rec_a) + [[s * 2.0 for s in b] for b in blocks(rec_a)]
        # the headline is the median of all ten block medians: each block weighs the same
        assert r["stats"]["median"] == statistics.median(statistics.median(b) for b in blocks(r))
        assert r["stats"]["blocks"] == 10
        assert r["stats"]["rounds"] == 2 * len(base)
        assert abs(r["throughput"] - r["batch_size"] / r["stats"]["median"]) < 1e-6
    assert len(pooled["env"]["runs"]) == 2
    assert len(pooled["records"]) == len(a["records"])  # one record per benchmark


def test_a_benchmark_measured_in_any_run_is_ok():
    a, b = _doc(), _doc()
    target = next(r for r in a["records"] if r["status"] == "ok")
    target.update(status="error", reason="boom", stats=None, samples_s=[])
    rec = next(r for r in pool([a, b])["records"] if r["id"] == target["id"])
    assert rec["status"] == "ok" and len(rec["blocks"]) == 5 and {b["run"] for b in rec["blocks"]} == {1}
    # the failed run is kept, not dropped
    assert rec["run_status"] == [{"run": 0, "status": "error", "reason": "boom"}, {"run": 1, "status": "ok"}]


def test_unpool_gives_back_each_run():
    """The gate's false-alarm evidence is re-derived from a committed baseline by splitting it into its runs."""
    from xbench.records.runs import unpool

    a, b, c = _doc(), _doc(2.0), _doc(3.0)
    failed = next(r for r in b["records"] if r["status"] == "ok")
    failed.update(status="error", reason="boom", stats=None, samples_s=[])
    runs = unpool(pool([a, b, c]))
    assert len(runs) == 3
    for original, back in zip((a, b, c), runs):
        validate(back, source="unpooled")
        got = {r["id"]: r for r in back["records"]}
        for r in original["records"]:
            if r["status"] == "ok":
                assert got[r["id"]]["samples_s"] == r["samples_s"]
                assert blocks(got[r["id"]]) == blocks(r)
                assert got[r["id"]]["stats"]["median"] == statistics.median(statistics.median(x) for x in blocks(r))
    back_failed = next(r for r in runs[1]["records"] if r["id"] == failed["id"])
    assert back_failed["status"] == "error" and "run" not in back_failed  # a run's record names no run
    assert unpool(a) == [a]
    # pooled again, the runs are runs again (the gate's run-to-run noise counts them)
    assert {b["run"] for r in pool(runs[:2])["records"] if r["status"] == "ok" for b in r["blocks"]} == {0, 1}
