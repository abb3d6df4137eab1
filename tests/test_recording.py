"""The two recording bugs of issue 21: what a record says about its throughput and its optimizer is what ran."""

import copy
import json
import statistics

import pytest

from xbench.compare import blocks
from xbench.runs import pool, unpool
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
