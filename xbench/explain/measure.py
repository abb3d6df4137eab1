"""The harness of explain: a measured thing from the one factory, timed at several batch sizes in blocks with the suite's
warm-up policy, and its ``t = fixed + per_sample x batch`` measurement record. No words here (``story``).
"""

from __future__ import annotations

import statistics

from xbench.bench import timing
from xbench.bench.timing import WARMUP_CALLS
from xbench.explain import fit as fitmod
from xbench.errors import UserError, first_line
from xbench.report import fmt


def busy_warning(sample_s: float = 0.5) -> str | None:
    """A warning when other processes are using the CPU right now: shared cores make every timing slow and
    noisy (PyTorch's OpenMP threads suffer most: they spin-wait for cores that are busy elsewhere)."""
    import os

    import psutil

    from xbench.bench import threads

    busy = psutil.cpu_percent(interval=sample_s)  # system-wide, before this run starts any work
    if busy > 40:
        cores = psutil.cpu_count() or os.cpu_count() or 1
        return (f"the CPU was {busy:.0f}% busy with other work when this run started ({cores} cores, "
                f"{threads.count()} threads used here): timings are slower and noisier than on an idle machine")
    return None


def say(log, msg: str) -> None:
    if log:
        log(msg)


def train_factory(fw, spec, variant: str, device: str, data: dict, native=()):
    """For ``measure_scaling``: a fresh model's train step (the suite's factory, initialised weights: timing does
    not depend on them), fed batch ``b`` of ``data``."""
    from xbench.bench.cases import train_step

    def make():
        model, step = train_step(fw, spec, variant=variant, device=device)
        make.optimizer = step.optimizer_info  # what ran, for the measurement's record

        def runner(b):
            xn, yn = fw.to_native(model, *data[b], device, *native)
            return lambda: step(xn, yn)
        return runner
    return make


def infer_factory(fw, spec, variant: str, device: str, data: dict, native=()):
    """For ``measure_scaling``: a fresh model's prediction per call (the suite's factory), on batch ``b``."""
    from xbench.bench.cases import predict_fn

    def make():
        model, predict = predict_fn(fw, spec, variant=variant, device=device)

        def runner(b):
            xn, _ = fw.to_native(model, data[b], None, device, *native)
            return lambda: predict(xn)
        return runner
    return make


def measurement(runtime, framework, provider, task, variant, batch, scaling, flops, bytes_min, bytes_layers,
                 **extra):
    """One measured call: its blocks at every batch size, the fit over them, the counted work at ``batch``.
    The verdict and the roofline fields are added in ``_finish`` (after the ceiling may have been raised)."""
    blocks = scaling["blocks"][batch]
    med = statistics.median(statistics.median(b) for b in blocks)
    per_block = {b: [statistics.median(x) for x in v] for b, v in scaling["blocks"].items()}
    f = fitmod.fit(scaling["points"], batch, blocks=per_block) if scaling.get("fit") is None else scaling["fit"]
    return {"runtime": runtime, "framework": framework, "provider": provider, "task": task, "variant": variant,
            "batch_size": batch, "median_s": med, "rounds": sum(len(b) for b in blocks), "blocks": len(blocks),
            "flops_per_batch": flops, "bytes_min_per_batch": bytes_min, "bytes_layers_per_batch": bytes_layers,
            "fit": f, "fixed_s": f.get("fixed_s") if f.get("available") else None,
            "per_sample_s": f.get("per_sample_s") if f.get("available") else None,
            "fixed_fraction": f.get("fixed_fraction") if f.get("available") else None,
            "fixed_fraction_ci95": f.get("fixed_fraction_ci95") if f.get("available") else None,
            "batch_medians_s": {str(b): t for b, t in scaling["points"].items()},
            "block_medians_s": {str(b): v for b, v in per_block.items()}, "warmup_calls": WARMUP_CALLS,
            **({"optimizer": scaling["optimizer"]} if "optimizer" in scaling else {}), **extra}


def measure_scaling(make, batches: list[int], blocks: int, budget_s: float, log=None, what: str = "",
                    fixed_reason: str | None = None, chosen: int | None = None) -> dict:
    """Time a call at every batch size in ``blocks`` blocks, each block with a fresh model or session.

    ``make()`` builds the fresh model/session and returns ``runner(batch) -> zero-argument callable``.
    The batch order alternates from block to block so that a drifting machine does not tilt the fit.
    Returns ``{"blocks": {batch: [[s, ...] per block]}, "points": {batch: median of block medians}}``;
    ``fixed_reason`` (e.g. a fixed-batch ONNX file) makes the fit unavailable with that reason.
    """
    per: dict[int, list[list[float]]] = {b: [] for b in batches}
    failed: dict[int, str] = {}
    share = budget_s / blocks
    for k in range(blocks):
        runner = make()
        for b in (batches if k % 2 == 0 else list(reversed(batches))):
            if b in failed:
                continue
            try:
                fn = runner(b)
                timing.first_call(fn)  # a batch size the model cannot take fails here, not in the middle of the timing
            except Exception as exc:
                if chosen is not None and b == chosen:
                    raise UserError(f"{what} cannot run at batch {b}: {first_line(exc)}") from None
                failed[b] = first_line(exc)[:200]
                continue
            per[b].append(timing.rounds(fn, share, min_rounds=3))
    points = {b: statistics.median(statistics.median(x) for x in per[b]) for b in batches if per[b]}
    per = {b: v for b, v in per.items() if v}
    out = {"blocks": per, "points": points, "fit": None}
    if failed:
        out["failed_batches"] = failed
    if fixed_reason:
        out["fit"] = {"available": False, "reason": fixed_reason, "points": points}
    elif failed and len(points) < fitmod.MIN_BATCHES:
        out["fit"] = {"available": False, "points": points,
                      "reason": f"it ran at {len(points)} batch size(s) only; failed at "
                                + "; ".join(f"batch {b}: {why}" for b, why in failed.items())}
    say(log, f"{what}: " + ", ".join(f"b{b} {fmt.duration(t, down_to='µs')}" for b, t in points.items()))
    return out


def epoch_measurement(fw, spec, device: str, data, batch: int, step: dict, blocks: int, log=None) -> dict:
    """One epoch as the seed article's reader runs it (the suite's ``train_epoch``: Keras ``fit``, a PyTorch
    ``DataLoader`` loop) over the same training images as the suite, at ``batch``: ``blocks`` fresh models, each
    one epoch to warm up (tracing, first allocations) and one timed; set against its steps x the median of
    ``step`` (the train-step measurement at ``batch``), with the loop share's interval over both's blocks."""
    import math
    import time

    from xbench.explain.results import epoch_row
    from xbench.bench.cases import epoch_data, epoch_fn

    x, y = epoch_data(data, spec)
    n = len(x)
    variant = next(iter(fw.epoch_variants))  # the framework's defaults: model.fit / a plain DataLoader loop
    say(log, f"timing one {fw.display} epoch ({variant}, {n} images, batch {batch}; {blocks} blocks, fresh each)")
    times = []
    for _ in range(blocks):
        epoch = epoch_fn(fw, spec, x, y, batch, variant=variant, device=device)
        epoch()
        t0 = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - t0)
    epoch_s = statistics.median(times)
    row = epoch_row(fw.name, variant, spec.name, device, batch, epoch_s, math.ceil(n / batch), step["median_s"],
                    n / epoch_s, epoch_blocks=times, step_blocks=step["block_medians_s"][str(batch)])
    row["blocks_s"] = times
    say(log, f"{fw.display} epoch: {fmt.duration(epoch_s, down_to='µs')} against "
             f"{fmt.duration(row['sum_of_steps_s'], down_to='µs')} of steps")
    return row

