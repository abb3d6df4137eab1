"""Fixed and per-sample cost: ``t = a + b * batch`` fitted to times measured at several batch sizes.

``a`` (``fixed_s``) is what a call costs whatever its batch: dispatching and launching each operation,
reading the weights, the optimizer's bookkeeping, the host sync. ``b`` (``per_sample_s``) is the work that
grows with the batch. ``fixed_fraction`` = a / t at the batch being explained: the share of that call a
bigger batch would spread over more samples. It is the raw estimate, negative where the intercept is: what a
reader is told about it is decided by :func:`share_text` from its bootstrap interval over blocks
(:func:`fit_interval`): a share whose interval includes 0, or is wider than the share itself, is "not
resolved", never a digit. The loop's own share of an epoch (:func:`loop_interval`) is judged the same way.

Pure Python (no numpy): ``xbench explain --results`` runs it where no ML framework is installed.
An unavailable fit is a reason, never a number: fewer than ``MIN_BATCHES`` distinct batch sizes (a
fixed-batch ONNX file, a suite run at two batch sizes), a missing or non-positive time.
"""

from __future__ import annotations

import statistics
from functools import partial

from xbench.records import stats
from xbench.report import fmt

_t = partial(fmt.duration, down_to="µs")  # explain's times: ms, µs under 1 ms

MIN_BATCHES = 3
NOT_RESOLVED_FIT = "not resolved at these batch sizes"
NOT_RESOLVED_LOOP = "not resolved by these blocks"


def line(points: dict[int, float]) -> tuple[float, float, float]:
    """(a, b, R²) of the least-squares ``t = a + b * batch`` through ``points`` (two or more batch sizes)."""
    xs = [float(b) for b in points]
    ys = [float(t) for t in points.values()]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    a = my - b * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (a + b * x)) ** 2 for x, y in zip(xs, ys))
    return a, b, 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0


def fit(points: dict[int, float] | list[tuple[int, float]], batch: int | None = None,
        blocks: dict[int, list[float]] | None = None) -> dict:
    """Least-squares ``t = a + b * batch`` over ``points`` (batch -> seconds, one time per batch size).

    Returns ``{"available": True, "fixed_s", "per_sample_s", "r2", "points", ...}`` and, when ``batch``
    is one of the points, ``fixed_fraction`` = a / t(batch), unclipped (negative where the intercept is).
    With ``blocks`` (batch -> block medians, two or more per batch size) it adds the bootstrap intervals of
    :func:`fit_interval` as ``*_ci95`` and ``fixed_share_resolved``. Otherwise ``{"available": False, "reason": ...}``.
    """
    pts = sorted(dict(points).items()) if not isinstance(points, dict) else sorted(points.items())
    shown = {int(b): t for b, t in pts}
    bad = [b for b, t in pts if t is None or not t > 0]
    if bad:
        return {"available": False, "points": shown,
                "reason": f"no positive time at batch size(s) {', '.join(map(str, bad))}"}
    if len(pts) < MIN_BATCHES:
        sizes = ", ".join(str(b) for b, _ in pts) or "none"
        return {"available": False, "points": shown,
                "reason": f"measured at {len(pts)} batch size(s) ({sizes}); a fit of fixed and per-sample cost "
                          f"needs at least {MIN_BATCHES}"}
    a, b, r2 = line(shown)
    out = {"available": True, "model": "t = fixed_s + per_sample_s * batch (least squares)",
           "fixed_s": a, "per_sample_s": b, "r2": round(r2, 4), "points": shown}
    notes = []
    if a < 0:
        notes.append("the intercept is negative: no fixed cost is resolved at these batch sizes")
    if b <= 0:
        notes.append("the time does not grow with the batch: the per-sample cost is not resolved")
    if batch is not None and int(batch) in shown:
        t = shown[int(batch)]
        out["batch_size"] = int(batch)
        out["time_s"] = t
        out["fixed_fraction"] = round(a / t, 4)
        ci = fit_interval(blocks, int(batch)) if blocks else None
        if ci:
            out.update({f"{k}_ci95": ci[k] for k in ("fixed_s", "per_sample_s", "fixed_fraction")})
            out["bootstrap"] = ci["bootstrap"]
        out["fixed_share_resolved"] = resolved(a / t, out.get("fixed_fraction_ci95"))
    if notes:
        out["notes"] = notes
    return out


def fit_interval(blocks: dict[int, list[float]], batch: int, *, resamples: int = stats.BOOTSTRAP_RESAMPLES,
                 seed: int = 0) -> dict | None:
    """95 % percentile intervals of the fixed cost, the per-sample cost and the fixed share at ``batch``, from a
    bootstrap over blocks: each batch size's block medians are resampled with replacement, the medians refitted.

    ``blocks``: batch -> block medians (seconds), two or more batch sizes including ``batch``. None when a batch
    size has fewer than two blocks (nothing to resample).
    """
    blocks = {int(b): list(v) for b, v in blocks.items()}
    if len(blocks) < 2 or int(batch) not in blocks:
        return None

    def refit(sample: dict[int, list[float]]):
        meds = {b: statistics.median(v) for b, v in sample.items()}
        a, b, _ = line(meds)
        return a, b, a / meds[int(batch)]

    ci = stats.bootstrap_groups(blocks, refit, resamples=resamples, seed=seed)
    if ci is None:
        return None
    return {**{k: [lo, hi] for k, (lo, hi) in zip(("fixed_s", "per_sample_s", "fixed_fraction"), ci)},
            "bootstrap": {"resamples": resamples, "seed": seed, "level": stats.CI_LEVEL,
                          "over": "block medians, resampled within each batch size"}}


def loop_interval(epoch_blocks: list[float], step_blocks: list[float], steps: int, *,
                  resamples: int = stats.BOOTSTRAP_RESAMPLES, seed: int = 0) -> list[float] | None:
    """95 % percentile interval of the loop's own share of an epoch, 1 - steps x step / epoch, from a bootstrap
    that resamples the epoch's blocks and the step's block medians (each with replacement, seeded)."""
    def share(sample: dict[str, list[float]]):
        epoch = statistics.median(sample["epoch"])
        return (1 - steps * statistics.median(sample["step"]) / epoch,) if epoch > 0 else None

    ci = stats.bootstrap_groups({"epoch": list(epoch_blocks), "step": list(step_blocks)}, share,
                                resamples=resamples, seed=seed)
    return list(ci[0]) if ci else None


def resolved(estimate: float | None, ci: list[float] | None) -> bool:
    """A share is resolved when it has an interval, the interval excludes 0 and is no wider than the share itself
    (so a negative share, which no fixed or loop cost can have, is never resolved)."""
    if estimate is None or not ci:
        return False
    lo, hi = ci
    return not (lo <= 0 <= hi) and hi - lo <= estimate


def share_text(estimate: float | None, ci: list[float] | None, unresolved: str = NOT_RESOLVED_FIT,
               no_interval: str = "fewer than two blocks recorded") -> str:
    """``14 % (3–23 %)`` where :func:`resolved`; else the words ``unresolved`` and, in place of the estimate,
    the interval that leaves it unresolved (or why there is none: ``no_interval``)."""
    if not ci:
        return f"{unresolved} (no interval: {no_interval})"
    if not resolved(estimate, ci):
        return f"{unresolved} (95 % interval {100 * ci[0]:.0f} to {100 * ci[1]:.0f} %)"
    return f"{100 * estimate:.0f} % ({100 * ci[0]:.0f}–{100 * ci[1]:.0f} %)"


def fit_batches(batch: int, extra: int = 0) -> list[int]:
    """The batch sizes a fit around ``batch`` measures: batch/8, batch/4, batch/2 and batch (distinct, >= 1),
    topped up with 2x, 4x ... when a small batch leaves fewer than three."""
    sizes = sorted({max(1, batch >> k) for k in (3, 2, 1, 0)})
    nxt = batch * 2
    while len(sizes) < MIN_BATCHES + extra:
        sizes.append(nxt)
        nxt *= 2
    return sizes


def describe(f: dict) -> str:
    """One line: the fit with its numbers, or why there is none."""
    if not f.get("available"):
        return f"fit unavailable: {f.get('reason')}"
    text = (f"t = {_t(f['fixed_s'])} + {_t(f['per_sample_s'])} x batch (R² {f['r2']:.3f}, batches "
            f"{', '.join(str(b) for b in f['points'])})")
    if "fixed_s_ci95" in f:
        lo, hi = f["fixed_s_ci95"]
        text += f"; fixed {fmt.interval(lo, hi, of=_t, sep='..')}"
        lo, hi = f["per_sample_s_ci95"]
        text += f", per sample {fmt.interval(lo, hi, of=_t, sep='..')} (95 % bootstrap over blocks)"
    if "fixed_fraction" in f:
        text += (f"; fixed share at batch {f['batch_size']}: "
                 f"{share_text(f['fixed_fraction'], f.get('fixed_fraction_ci95'))}")
    for note in f.get("notes") or []:
        text += f"; {note}"
    return text
