"""The verdict: why a call takes as long as it does, by rules anyone can check from the printed numbers.

In this order:

1. ``fixed-cost-bound`` when ``fixed_fraction >= FIXED_FRACTION`` (0.5) over its whole 95 % bootstrap interval
   over blocks: at least half of the call is the intercept of ``t = a + b * batch`` (dispatch, launches, weight
   reads, optimizer bookkeeping, the host sync): a bigger batch spreads it over more samples. An interval that
   straddles 0.5 gives ``unresolved`` (the split cannot tell which side of half the fixed cost lies); a fit
   without blocks (one median per batch size) is judged on the point estimate, and the rule says so.
2. Otherwise the per-sample time ``b`` is set against what one sample needs at the machine's measured
   rates: its FLOPs at the matmul rate (compute) and its layer-by-layer memory traffic at the copy
   bandwidth (every node reads its inputs and writes its outputs; training adds the saved activations and
   the gradients). Within ``FACTOR`` (4x) of the larger of the two: ``compute-bound`` or ``memory-bound``,
   whichever is larger.
3. Otherwise ``below-roofline``: the kernels run far below what the hardware allows; the layers
   responsible are named from the profile (the layers whose measured time exceeds their own floor most).

Without a fit (fewer than three batch sizes) the fixed cost cannot be separated: the whole time per sample
is judged; within 4x of the floor the verdict stands (compute- or memory-bound), beyond it the verdict is
``unresolved`` with that reason, never a guess. Pure Python.
"""

from __future__ import annotations

from functools import partial

from xbench.report import fmt

_t = partial(fmt.duration, down_to="ns")  # ms, µs under 1 ms, ns under 1 µs

FIXED_FRACTION = 0.5
FACTOR = 4.0
CATEGORIES = ("fixed-cost-bound", "compute-bound", "memory-bound", "below-roofline", "unresolved")


def judge(*, median_s: float, batch: int, flops: float, bytes_layers: float, peak: dict | None,
          fit: dict | None = None, layers: list[dict] | None = None, complete: bool = True,
          unknown_ops: list[str] = ()) -> dict:
    """The verdict with its rule and numbers.

    ``flops`` and ``bytes_layers`` are per batch of ``batch``; ``peak`` is ``{"matmul_gflops",
    "bandwidth_gbs"}``; ``fit`` is :func:`xbench.explain.fit.fit`'s result; ``layers`` (optional) are
    ``{"name", "time_s", "flops", "bytes"}`` per layer of the profiled call, per batch.
    """
    out: dict = {"verdict": None, "rule": None, "numbers": {}}
    if not complete:
        out["incomplete"] = (f"operators unknown to the counter ({', '.join(unknown_ops) or '?'}): FLOPs and "
                             "bytes are lower bounds, so the floors are too")
    if not peak:
        out["rule"] = "no ceiling measured for this device: no verdict"
        return out
    rate, bw = peak["matmul_gflops"] * 1e9, peak["bandwidth_gbs"] * 1e9
    fitted = bool(fit and fit.get("available"))
    n = out["numbers"]
    share = ""
    if fitted and fit.get("fixed_fraction") is not None:
        n["fixed_s"], n["per_sample_s"], n["fixed_fraction"] = fit["fixed_s"], fit["per_sample_s"], fit["fixed_fraction"]
        ci = fit.get("fixed_fraction_ci95")
        low, high = ci if ci else (fit["fixed_fraction"],) * 2
        share = (f"fixed_fraction {fit['fixed_fraction']:.2f} "
                 + (f"(95 % interval {low:.2f}..{high:.2f})" if ci else "(point estimate: no interval over blocks)"))
        if ci:
            n["fixed_fraction_ci95"] = list(ci)
        if low >= FIXED_FRACTION:
            out["verdict"] = "fixed-cost-bound"
            out["rule"] = (f"{share} >= {FIXED_FRACTION}{' over its whole interval' if ci else ''}: the fixed cost "
                           f"{_t(fit['fixed_s'])} is at least half of the {_t(median_s)} call")
            return out
        if high >= FIXED_FRACTION:
            out["verdict"] = "unresolved"
            out["rule"] = (f"{share} straddles {FIXED_FRACTION}: these blocks cannot tell whether the fixed cost "
                           f"({_t(fit['fixed_s'])} of the {_t(median_s)} call) is at least half of it")
            return out
    compute_ps = flops / batch / rate
    memory_ps = bytes_layers / batch / bw
    floor_ps = max(compute_ps, memory_ps)
    if fitted and fit.get("fixed_fraction") is not None and fit["per_sample_s"] > 0:
        ps, what = fit["per_sample_s"], "per-sample time (fit slope)"
    else:
        ps = median_s / batch
        what = "whole time per sample (" + ("no fit: " + fit["reason"] if fit and not fitted else
                                            "no fit" if not fitted else "fit slope not positive") + ")"
    n.update({"time_per_sample_s": ps, "time_per_sample_is": what, "compute_per_sample_s": compute_ps,
              "memory_layers_per_sample_s": memory_ps, "floor_per_sample_s": floor_ps,
              "over_floor": round(ps / floor_ps, 2) if floor_ps > 0 else None, "factor": FACTOR,
              "peak_gflops": peak["matmul_gflops"], "bandwidth_gbs": peak["bandwidth_gbs"]})
    side = "compute" if compute_ps >= memory_ps else "memory"
    numbers = (f"{what} {_t(ps)} vs compute {_t(compute_ps)} and layer traffic {_t(memory_ps)} per sample "
               f"at {peak['matmul_gflops']:.0f} GFLOP/s and {peak['bandwidth_gbs']:.0f} GB/s")
    prefix = f"{share} < {FIXED_FRACTION}; " if share else ""
    if floor_ps > 0 and ps <= FACTOR * floor_ps:
        out["verdict"] = f"{side}-bound"
        out["rule"] = f"{prefix}{numbers}: within {FACTOR:g}x of the larger ({side})"
        if side == "memory" and ps < memory_ps:
            out["rule"] += (" - faster than the layer-by-layer traffic allows: this runtime fuses layers or keeps "
                            "them in cache, so its real traffic lies below that floor")
        return out
    over = f"{ps / floor_ps:.1f}x" if floor_ps > 0 else "infinitely"
    if not (fitted and fit.get("fixed_fraction") is not None):
        out["verdict"] = "unresolved"
        out["rule"] = (f"{numbers}: {over} the floor, beyond {FACTOR:g}x; without a fit over batch sizes a fixed "
                       "per-call cost cannot be told from slow kernels")
        return out
    out["verdict"] = "below-roofline"
    out["rule"] = f"{prefix}{numbers}: {over} the larger, beyond {FACTOR:g}x"
    blamed = responsible(layers or [], rate, bw)
    if blamed:
        out["responsible"] = blamed
        out["rule"] += "; slowest against their own floor: " + ", ".join(
            f"{b['name']} ({_t(b['time_s'])}, {b['over_floor']:.0f}x its floor)" if b["over_floor"] else
            f"{b['name']} ({_t(b['time_s'])}, no counted work)" for b in blamed)
    return out


def responsible(layers: list[dict], rate: float, bw: float, top: int = 2) -> list[dict]:
    """The layers whose measured time exceeds their own floor (FLOPs at the matmul rate, bytes at the copy
    bandwidth) the most, in seconds; only layers that took at least a tenth of the profiled time."""
    total = sum(max(0.0, l.get("time_s") or 0.0) for l in layers)
    rows = []
    for l in layers:
        t = l.get("time_s") or 0.0
        if t <= 0 or t < 0.1 * total:
            continue
        floor = max((l.get("flops") or 0) / rate, (l.get("bytes") or 0) / bw)
        rows.append({"name": l["name"], "time_s": t, "floor_s": floor, "excess_s": t - floor,
                     "share_of_time": round(t / total, 4) if total else None,
                     "over_floor": round(t / floor, 1) if floor > 0 else None})
    rows.sort(key=lambda r: -r["excess_s"])
    return rows[:top]
