""""Where should it run": per model, every runtime x precision with its speed, cold start and accuracy, and the
fastest rows among those that keep the fp32 model's accuracy (within ``ACCURACY_POINTS``, MLPerf's 99 % rule).

Only results files that carry ``accuracy`` (schema 1.3 and later) get the table.
"""

from __future__ import annotations

from collections import defaultdict

from xbench.precision import ACCURACY_POINTS
from xbench.report import fmt
from xbench.report.data import Run, column, median_s
from xbench.report.doc import Strong, Table

SMALL = 1  # the latency column's batch


def _groups(run: Run) -> dict[str, dict[tuple, dict[int, dict]]]:
    """model -> (runs on, dtype, variant) -> batch -> ok inference record."""
    out: dict = defaultdict(lambda: defaultdict(dict))
    for r in run.records:
        if r["task"] == "inference" and r["status"] == "ok":
            out[r["model"]][(column(r), r.get("dtype", "float32"), r["variant"])][r["batch_size"]] = r
    return out


def _within(rec: dict) -> bool:
    delta = rec.get("accuracy_delta")
    return delta is not None and delta * 100 >= -ACCURACY_POINTS


def _accuracy_cells(rec: dict) -> list[str]:
    acc, delta = rec.get("accuracy"), rec.get("accuracy_delta")
    if acc is None:
        return ["—", "—"]
    mark = "" if _within(rec) else f" ✗ more than {ACCURACY_POINTS:g} pt below fp32"
    return [f"{acc:.2%}", f"{delta * 100:+.2f} pt{mark}"]


def where_tables(runs: list[Run]) -> list[tuple[str, Table, str]]:
    """(heading, table, one-line answer) per machine and model."""
    out = []
    for run in runs:
        if not any("accuracy" in r for r in run.records):
            continue
        for model, rows in sorted(_groups(run).items()):
            big = max(b for batches in rows.values() for b in batches)
            body, fast, thru = [], [], []
            recs = [r for batches in rows.values() for r in batches.values()]
            # A model without accuracy (no classifier head) is ranked on speed among its fp32 rows only: nothing
            # vouches for a lower precision's answers, and "none" would read as if every row had failed the check.
            graded = any(r.get("accuracy") is not None for r in recs)
            why = next((r["accuracy_note"] for r in recs if r.get("accuracy_note")), "no accuracy was measured")
            for (col, dtype, variant), batches in rows.items():
                small, large = batches.get(SMALL), batches.get(big)
                any_rec = small or large or next(iter(batches.values()))
                med = median_s(small) if small else None
                p90 = (small.get("stats") or {}).get("p90") if small else None
                rate = large.get("throughput") if large else None
                load = any_rec.get("load_s")
                cells = [col.label, dtype, f"`{variant}`", fmt.duration(med, **fmt.TABLE) if med else "—",
                         fmt.duration(p90, **fmt.TABLE) if p90 else "—", fmt.rate(rate) if rate else "—",
                         fmt.duration(load, **fmt.TABLE) if load else "—", *_accuracy_cells(any_rec)]
                body.append((med if med is not None else float("inf"), cells))
                label = f"{col.label} {dtype} `{variant}`"
                if _within(any_rec) if graded else dtype == "float32":
                    if med is not None:
                        fast.append((med, label, cells))
                    if rate:
                        thru.append((-rate, label, cells))
            for best, idx in ((min(fast, default=None), 3), (min(thru, default=None), 5)):
                if best:
                    best[2][idx] = Strong(best[2][idx])
            body.sort(key=lambda t: t[0])
            headers = ["Runs on", "Precision", "Variant", f"Batch {SMALL} median", f"Batch {SMALL} p90",
                       f"Batch {big} throughput", "Load (file → first result)", "Accuracy", "Δ vs fp32"]
            condition = (f"within {ACCURACY_POINTS:g} point of fp32 accuracy" if graded else
                         f"in fp32 ({why}, so lower precisions are not ranked)")
            answer = (f"**{run.label}, {model}**: fastest {condition} — "
                      f"batch {SMALL}: "
                      + (f"{fast and min(fast)[1]} ({fmt.duration(min(fast)[0], **fmt.TABLE)})" if fast else "none")
                      + f"; batch {big}: " + (f"{min(thru)[1]} ({fmt.rate(-min(thru)[0])})" if thru else "none") + ".")
            out.append((f"{model} · {run.label}" if len(runs) > 1 else model,
                        Table(headers, [c for _, c in body], "lll" + "r" * 6), answer))
    return out
