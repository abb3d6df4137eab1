"""What a benchmark record carries beside its times: the counted work and where the time sits under the
machine's ceiling (roofline fields), or an epoch's throughput.

Nothing here trains: FLOPs and bytes are counted on the ONNX graph of the spec's model (the run's export when
it has one, else an untrained model's export, ``Context.counted_file``), since weights do not change the count.
Placing a time under the ceiling is :func:`xbench.explain.roofline.annotate`'s arithmetic, imported when a
record is annotated.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=64)
def _cost_of(path: str, batch: int):
    from xbench.explain.cost import count_file

    return count_file(path, batch_size=batch)


def place(cost: dict, seconds: float, ceil: dict | None, device: str, batch: int) -> dict:
    """Roofline fields of a time against a record's ``cost`` (its counted FLOPs and bytes per batch) under the
    ceiling of ``device``: what a record is annotated with when it is written, and again when runs are pooled
    (``xbench.records.runs``), so both say the same of the same median."""
    from xbench.explain.roofline import annotate, device_ceiling

    return annotate(cost["flops_per_batch"], cost.get("bytes_min_per_batch") or 0, seconds,
                    device_ceiling(ceil or {}, device), bytes_layers=cost.get("bytes_layers_per_batch"), batch=batch)


def record_fields(case, context, seconds: float) -> dict:
    """Roofline fields for one benchmark record (train steps: training FLOPs; inference: forward FLOPs), counted
    once per model and batch. Never raises: a failure becomes ``roofline_error`` in the record."""
    if case.task == "train_epoch":
        return epoch_fields(case, context, seconds)
    try:
        from xbench.explain.roofline import ceiling

        spec = context.spec(case.model)
        path = context.counted_file(case.framework, spec)
        cost = _cost_of(str(path), int(case.batch_size))
        flops, bytes_min, bytes_layers = cost.task_cost(case.task)
        counted = {"counted_from": path.name, "flops_per_batch": flops,
                   "flops": "training (forward + backward, 2 x MACs)" if case.task == "train_step"
                   else "forward (2 x MACs)",
                   "macs_per_sample_forward": cost.macs_per_sample, "bytes_min_per_batch": bytes_min,
                   "bytes_layers_per_batch": bytes_layers, "complete": cost.complete}
        device = case.provider if case.runtime == "onnxruntime" else case.device
        return {**place(counted, seconds, ceiling(), device, int(case.batch_size)), "cost": counted}
    except Exception as exc:  # the measurement stands even when its annotation fails
        return {"roofline_error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]}


def epoch_fields(case, context, seconds: float) -> dict:
    """An epoch's throughput in images per second (``xbench.records.rates``, which pooling uses too), over the
    images the epoch ran (``cases.epoch_size``; the record's ``samples_per_epoch`` and ``steps_per_epoch`` are the
    prepared epoch's own). Its place against the steps is ``xbench explain --results``'s."""
    from xbench.bench.cases import epoch_size
    from xbench.records import rates

    return rates(case.task, case.batch_size, seconds, epoch_size(context.data))
