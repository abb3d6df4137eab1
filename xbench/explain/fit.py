"""Fixed and per-sample cost: ``t = a + b * batch`` fitted to times measured at several batch sizes.

``a`` (``fixed_s``) is what a call costs whatever its batch: dispatching and launching each operation,
reading the weights, the optimizer's bookkeeping, the host sync. ``b`` (``per_sample_s``) is the work that
grows with the batch. ``fixed_fraction`` = a / t at the batch being explained: the share of that call a
bigger batch would spread over more samples.

Pure Python (no numpy): ``xbench explain --results`` runs it where no ML framework is installed.
An unavailable fit is a reason, never a number: fewer than ``MIN_BATCHES`` distinct batch sizes (a
fixed-batch ONNX file, a suite run at two batch sizes), a missing or non-positive time.
"""

from __future__ import annotations

import statistics

MIN_BATCHES = 3


def fit(points: dict[int, float] | list[tuple[int, float]], batch: int | None = None) -> dict:
    """Least-squares ``t = a + b * batch`` over ``points`` (batch -> seconds, one time per batch size).

    Returns ``{"available": True, "fixed_s", "per_sample_s", "r2", "points", ...}`` and, when ``batch``
    is one of the points, ``fixed_fraction`` = max(a, 0) / t(batch) (clipped to [0, 1]; the raw
    intercept stays in ``fixed_s``). Otherwise ``{"available": False, "reason": ...}``.
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
    xs = [float(b) for b, _ in pts]
    ys = [float(t) for _, t in pts]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    a = my - b * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (a + b * x)) ** 2 for x, y in zip(xs, ys))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    out = {"available": True, "model": "t = fixed_s + per_sample_s * batch (least squares)",
           "fixed_s": a, "per_sample_s": b, "r2": round(r2, 4), "points": shown}
    notes = []
    if a < 0:
        notes.append("the intercept is negative: no fixed cost is resolved at these batch sizes "
                     "(fixed_fraction taken as 0)")
    if b <= 0:
        notes.append("the time does not grow with the batch: the per-sample cost is not resolved")
    if batch is not None and int(batch) in shown:
        t = shown[int(batch)]
        out["batch_size"] = int(batch)
        out["time_s"] = t
        out["fixed_fraction"] = round(min(1.0, max(0.0, a) / t), 4)
    if notes:
        out["notes"] = notes
    return out


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
    if "fixed_fraction" in f:
        text += f"; fixed share at batch {f['batch_size']}: {100 * f['fixed_fraction']:.1f}%"
    for note in f.get("notes") or []:
        text += f"; {note}"
    return text


def _t(s: float) -> str:
    a = abs(s)
    return f"{s * 1e3:.3g} ms" if a >= 1e-3 else f"{s * 1e6:.3g} µs"
