"""The records of results files as CSV: one row per record, the free-form extras flattened to dotted columns."""

from __future__ import annotations

import csv
import io

from xbench.report.data import Run


STAT_COLUMNS = ("median", "p90", "p99", "mean", "min", "max", "stddev", "iqr")
CSV_HEAD = ["file", "machine", "created_at", "id", "task", "framework", "runtime", "provider", "model", "batch_size",
            "dtype", "variant", "status", "reason", *(f"{s}_s" for s in STAT_COLUMNS), "median_ci95_low_s",
            "median_ci95_high_s", "ci_level", "blocks", "rounds", "iterations",
            "throughput_per_s", "first_call_s"]
_CORE = {"id", "task", "framework", "runtime", "provider", "model", "batch_size", "dtype", "variant", "status",
         "reason", "stats", "samples_s", "throughput", "first_call_s", "blocks"}


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v if not isinstance(v, (list, dict)) else repr(v)
    return out


def to_csv(runs: list[Run]) -> str:
    """One row per record; the free-form extras flattened to dotted columns after the fixed ones.

    The raw samples are left out (they stay in the JSON).
    """
    rows = []
    for run in runs:
        for r in run.records:
            stats = r.get("stats") or {}
            row = {"file": run.path.name, "machine": run.label, "created_at": run.doc["created_at"],
                   **{k: r.get(k) for k in ("id", "task", "framework", "runtime", "provider", "model",
                                            "batch_size", "dtype", "variant", "status", "reason")},
                   **{f"{s}_s": stats.get(s) for s in STAT_COLUMNS},
                   "median_ci95_low_s": (stats.get("median_ci95") or [None, None])[0],
                   "median_ci95_high_s": (stats.get("median_ci95") or [None, None])[1],
                   "ci_level": stats.get("ci_level"), "blocks": stats.get("blocks"),
                   "rounds": stats.get("rounds"), "iterations": stats.get("iterations"),
                   "throughput_per_s": r.get("throughput"), "first_call_s": r.get("first_call_s"),
                   **_flatten({k: v for k, v in r.items() if k not in _CORE})}
            rows.append(row)
    extra = sorted({k for row in rows for k in row} - set(CSV_HEAD))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_HEAD + extra, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
