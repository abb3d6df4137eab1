"""Scaling efficiency and the all-reduce's share of the step, from records (pure: no framework).

* **all-reduce share** of a data-parallel step: ``1 - t_unsynced / t_synced``, where ``t_unsynced`` is the same
  step with the gradient all-reduce switched off (DDP's ``no_sync()``; medians of block medians). It is the time
  the synchronisation adds beyond what overlaps with the backward pass; noise can make it slightly negative
  (reported as measured, never clamped).
* **scaling efficiency** of a record at world size W with T threads per worker: its throughput (global batch per
  second) over the throughput of world size 1 with W x T threads in the same scaling mode, i.e. the same total
  threads. 1 means the extra workers cost nothing over running the whole batch in one process with all the
  threads; below 1, communication and per-process overheads eat the gain.

Each has a 95 % interval from a bootstrap over blocks (``*_ci95``): the block medians of each side are resampled
with replacement within their side and the ratio of the medians recomputed (``xbench.records.stats``).
"""

from __future__ import annotations

import statistics

from xbench.records import stats


def allreduce_share(synced_median_s: float, unsynced_median_s: float) -> float:
    return 1.0 - unsynced_median_s / synced_median_s


def ratio_interval(top: list[float], bottom: list[float], scale: float = 1.0) -> list[float] | None:
    """95 % interval of ``scale x median(top) / median(bottom)`` over a bootstrap of the two sides' block medians
    (None with fewer than two blocks on a side)."""
    ci = stats.bootstrap_groups({"top": list(top), "bottom": list(bottom)},
                                lambda g: (scale * statistics.median(g["top"]) / statistics.median(g["bottom"]),))
    return [round(x, 4) for x in ci[0]] if ci else None


def share_interval(synced_blocks_s: list[float], unsynced_blocks_s: list[float]) -> list[float] | None:
    """95 % interval of the all-reduce share ``1 - median(unsynced) / median(synced)`` over blocks."""
    ci = ratio_interval(unsynced_blocks_s, synced_blocks_s)
    return None if ci is None else [round(1 - ci[1], 4), round(1 - ci[0], 4)]


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
        # throughput = global batch / step: efficiency = (B / step) / (B_1 / step_1)
        sides = [b["median_s"] for b in base.get("blocks") or []], [b["median_s"] for b in rec.get("blocks") or []]
        rec["scaling_efficiency_ci95"] = ratio_interval(
            *sides, scale=rec["batch_size"] / base["batch_size"]) if all(sides) else None
    return records


# ---- on paper: what the step's costs predict for more devices -------------------------------------------------------

# Named assumptions for the all-reduce (NCCL's ring): bus bandwidth per device and latency per ring hop.
LINKS = {
    "NVLink 4 (8x H100 SXM in one machine)": (400e9, 5e-6),
    "PCIe 4.0 x16 (GPUs without NVLink)": (20e9, 10e-6),
    "100 Gb/s Ethernet (one GPU per machine)": (12.5e9, 25e-6),
}


def ring_allreduce_s(nbytes: int, world: int, bandwidth: float, latency: float) -> float:
    """Ring all-reduce time: 2 (W - 1) hops of latency, and each device sends and receives 2 (W - 1) / W of the
    buffer (reduce-scatter, then all-gather)."""
    if world <= 1:
        return 0.0
    return 2 * (world - 1) * latency + 2 * (world - 1) / world * nbytes / bandwidth


def fit_step(points: list[tuple[int, float]]) -> tuple[float, float]:
    """(fixed seconds per step, seconds per sample) through two (batch, step seconds) points."""
    (b1, t1), (b2, t2) = sorted(points)[:1] + sorted(points)[-1:]
    per_sample = (t2 - t1) / (b2 - b1)
    return t1 - per_sample * b1, per_sample


def predict(fixed_s: float, per_sample_s: float, grad_bytes: int, global_batch: int, world_sizes,
            link: str) -> list[dict]:
    """Strong scaling on paper, one device per worker: the step of global batch B over W devices takes
    ``fixed + per_sample * B / W`` plus the ring all-reduce (no overlap with the backward pass: an upper bound;
    DDP overlaps its buckets). Efficiency is the classic ``T(1) / (W x T(W))``: each device added adds compute."""
    bandwidth, latency = LINKS[link]
    one = fixed_s + per_sample_s * global_batch
    out = []
    for w in world_sizes:
        compute = fixed_s + per_sample_s * global_batch / w
        comm = ring_allreduce_s(grad_bytes, w, bandwidth, latency)
        out.append({"world_size": w, "compute_s": compute, "allreduce_s": comm, "step_s": compute + comm,
                    "allreduce_share": comm / (compute + comm), "efficiency": one / (w * (compute + comm))})
    return out
