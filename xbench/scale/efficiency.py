"""Scaling efficiency and the all-reduce's share of the step, from records (pure: no framework).

* **all-reduce share** of a data-parallel step: ``1 - t_unsynced / t_synced``, where ``t_unsynced`` is the same
  step with the gradient all-reduce switched off (DDP's ``no_sync()``; medians of block medians). It is the time
  the synchronisation adds beyond what overlaps with the backward pass; noise can make it slightly negative
  (reported as measured, never clamped).
* **scaling efficiency** of a record at world size W with T threads per worker: its throughput (global batch per
  second) over the throughput of world size 1 with W x T threads in the same scaling mode, i.e. the same total
  threads. 1 means the extra workers cost nothing over running the whole batch in one process with all the
  threads; below 1, communication and per-process overheads eat the gain.
"""

from __future__ import annotations

import statistics


def allreduce_share(synced_median_s: float, unsynced_median_s: float) -> float:
    return 1.0 - unsynced_median_s / synced_median_s


def block_median(blocks: list[list[float]]) -> float:
    """The headline median: the median of the block medians (``xbench.records.stats``)."""
    return statistics.median(statistics.median(b) for b in blocks)


def _key(rec: dict) -> tuple:
    return rec["framework"], rec["model"], rec.get("scaling")


def annotate(records: list[dict]) -> list[dict]:
    """Set ``scaling_efficiency`` (and ``efficiency_baseline``, the id it compares with) on every ok
    ``train_step_dp`` record; None with ``efficiency_note`` when its baseline was not measured."""
    ok = [r for r in records if r.get("task") == "train_step_dp" and r.get("status") == "ok"]
    for rec in ok:
        total = rec["world_size"] * rec["threads_per_worker"]
        base = next((b for b in ok if _key(b) == _key(rec) and b["world_size"] == 1
                     and b["threads_per_worker"] == total), None)
        if base is None or not base.get("throughput") or not rec.get("throughput"):
            rec["scaling_efficiency"] = None
            rec["efficiency_note"] = f"no ok world-size-1 record with {total} threads to compare with"
            continue
        rec["scaling_efficiency"] = rec["throughput"] / base["throughput"]
        rec["efficiency_baseline"] = base["id"]
    return records
