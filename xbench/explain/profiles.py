"""Where the time goes: per-operator and per-layer times, mapped back to the spec's layers.

* ONNX Runtime: its own profiler (``SessionOptions.enable_profiling``), per graph
  node, mapped back to the original ONNX nodes by name (ORT renames fused nodes).
* PyTorch train step: ``torch.profiler``; each spec layer's modules run inside a
  ``record_function`` range (forward), and autograd's backward functions are
  matched to their forward op by sequence number (backward). Keras on PyTorch
  the same way, with each Keras layer's ``call`` in the range.
* Keras: per-layer timing. Each layer is called on its own recorded input
  inside a ``tf.function``, forward alone and forward + gradients, so the
  backward time per layer is the difference; the cost of an empty
  ``tf.function`` call is subtracted from each forward time (the real step
  pays one call for all layers). The rest of ``train_on_batch`` (loss, Adam,
  Keras's step machinery) is what the layers do not explain.

Every timing here goes through the one loop, ``xbench.bench.timing``.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import tempfile
from pathlib import Path

from xbench.bench.timing import time_calls  # noqa: F401 (the one timing loop; kept importable here)


def median(samples: list[float]) -> float:
    return statistics.median(samples) if samples else float("nan")


# ---- ONNX Runtime ------------------------------------------------------------------------------------------------

def ort_session(path, provider: str = "CPUExecutionProvider", profile_prefix: str | None = None):
    """``runtimes.onnxruntime.open_session``: the suite's session settings and provider check, optionally with
    ORT's profiler switched on."""
    from xbench.runtimes.onnxruntime import open_session

    return open_session(path, provider, profile_prefix=profile_prefix)


def _ort_name_map(model) -> tuple[dict[str, str], list[str]]:
    """ORT-visible names -> original node names (node names and output tensor names both lead to a node)."""
    by_name = {}
    for n in model.graph.node:
        key = n.name or (n.output[0] if n.output else "")
        by_name[key] = key
        for o in n.output:
            by_name.setdefault(o, key)
    return by_name, sorted(by_name, key=len, reverse=True)


def map_ort_name(name: str, by_name: dict[str, str], ordered: list[str]) -> str | None:
    base = re.sub(r"_kernel_time$", "", name)
    candidates = [base, re.sub(r"(_nchwc|_token_\d+|_fused.*|_output_\d+)$", "", base)]
    for c in candidates:
        if c in by_name:
            return by_name[c]
    for key in ordered:  # longest original name that the ORT name starts with
        if key and base.startswith(key):
            return by_name[key]
    return None


def ort_profile(path, feeds: dict, provider: str = "CPUExecutionProvider", runs: int = 10, model=None) -> dict:
    """Median seconds per original ONNX node (and per ORT-inserted node) over ``runs`` runs."""
    import onnx

    model = model if model is not None else onnx.load(str(path))
    by_name, ordered = _ort_name_map(model)
    with tempfile.TemporaryDirectory(prefix="xbench-ortprof-") as tmp:
        session = ort_session(path, provider, profile_prefix=os.path.join(tmp, "ort"))
        for _ in range(3):
            session.run(None, feeds)
        for _ in range(runs):
            session.run(None, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    run_events = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"][-runs:]
    node_events = [e for e in events if e.get("cat") == "Node" and str(e.get("name", "")).endswith("_kernel_time")]
    per_run: list[dict[str, float]] = []
    for r in run_events:
        lo, hi = r["ts"], r["ts"] + r["dur"]
        acc: dict[str, float] = {}
        for e in node_events:
            if lo <= e["ts"] <= hi:
                orig = map_ort_name(e["name"], by_name, ordered)
                key = orig if orig is not None else f"(ORT {e.get('args', {}).get('op_name', e['name'])})"
                acc[key] = acc.get(key, 0.0) + e["dur"] * 1e-6
        per_run.append(acc)
    keys = sorted({k for run in per_run for k in run})
    per_node = {k: statistics.median([run.get(k, 0.0) for run in per_run]) for k in keys}
    runs_s = [r["dur"] * 1e-6 for r in run_events]
    return {"per_node_s": per_node, "run_s": median(runs_s), "unmapped": [k for k in keys if k.startswith("(ORT ")]}


# ---- PyTorch ------------------------------------------------------------------------------------------------------

def torch_module_ranges(model) -> list:
    """A ``record_function`` range ``xbench.layer.N`` around each spec layer's modules of xbench's PyTorch model
    (forward hooks); returns the hook handles (``.remove()`` undoes them)."""
    from torch.profiler import record_function

    groups = getattr(model, "xbench_layer_groups", None) or [[i] for i in range(len(model))]  # as built
    open_ranges: dict[int, object] = {}
    handles = []
    for li, mods in enumerate(groups):
        if not mods:
            continue

        def pre(_m, _inp, li=li):
            r = record_function(f"xbench.layer.{li}")
            r.__enter__()
            open_ranges[li] = r

        def post(_m, _inp, _out, li=li):
            r = open_ranges.pop(li, None)
            if r is not None:
                r.__exit__(None, None, None)

        handles.append(model[mods[0]].register_forward_pre_hook(pre))
        handles.append(model[mods[-1]].register_forward_hook(post))
    return handles


class _Undo:
    def __init__(self, fn):
        self.remove = fn


def keras_layer_ranges(model) -> list:
    """The same ranges around each layer of a Keras model on the PyTorch backend: its ``call`` wrapped on the
    instance (Keras's ``__call__`` does not run PyTorch's module hooks), unwrapped by ``.remove()``."""
    from torch.profiler import record_function

    handles = []
    for li, layer in enumerate(model.layers):
        def call(*args, _call=layer.call, _li=li, **kwargs):
            with record_function(f"xbench.layer.{_li}"):
                return _call(*args, **kwargs)

        layer.call = call
        handles.append(_Undo(lambda layer=layer, call=call: layer.__dict__.pop("call", None)))
    return handles


def torch_train_profile(model, spec, step, x, y, steps: int = 3, device: str = "cpu",
                        ranges=torch_module_ranges) -> dict:
    """Per spec layer forward and backward seconds of a torch train step (``step(x, y)``), plus loss,
    optimizer and the rest, averaged over ``steps`` profiled steps. ``ranges(model)`` puts each layer's forward in
    a ``xbench.layer.N`` range (xbench's PyTorch modules, or ``keras_layer_ranges`` for Keras on PyTorch)."""
    from torch.profiler import ProfilerActivity, profile, record_function

    handles = ranges(model)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    try:
        step(x, y)  # warm, with the hooks in place
        with profile(activities=activities) as prof:
            for _ in range(steps):
                with record_function("xbench.step"):
                    step(x, y)
    finally:
        for h in handles:
            h.remove()
    events = list(prof.events())
    use_device = device == "cuda"

    def t(e) -> float:
        us = getattr(e, "device_time_total", 0.0) if use_device else e.cpu_time_total
        return us * 1e-6

    def layer_of(e):
        p = e
        while p is not None:
            m = re.match(r"xbench\.layer\.(\d+)$", p.name)
            if m:
                return int(m.group(1))
            p = p.cpu_parent
        return None

    seq_layer: dict[int, int] = {}
    for e in events:
        if e.sequence_nr is not None and e.sequence_nr >= 0 and not e.name.startswith("autograd::"):
            li = layer_of(e)
            if li is not None:
                seq_layer.setdefault(e.sequence_nr, li)
    n_layers = len(spec.layers)
    fwd = [0.0] * n_layers
    bwd = [0.0] * n_layers
    buckets = {"loss": 0.0, "optimizer": 0.0, "backward (other)": 0.0}
    step_total = 0.0
    for e in events:
        parent = e.cpu_parent.name if e.cpu_parent is not None else None
        if e.name == "xbench.step":
            step_total += e.cpu_time_total * 1e-6
            continue
        if parent != "xbench.step":
            continue
        m = re.match(r"xbench\.layer\.(\d+)$", e.name)
        if m:
            fwd[int(m.group(1))] += t(e)
        elif e.name.startswith("autograd::engine::evaluate_function:"):
            li = seq_layer.get(e.sequence_nr)
            if li is not None:
                bwd[li] += t(e)
            elif "Loss" in e.name or "Softmax" in e.name:
                buckets["loss"] += t(e)
            else:
                buckets["backward (other)"] += t(e)
        elif e.name.startswith("Optimizer."):
            buckets["optimizer"] += t(e)
        elif "loss" in e.name or "softmax" in e.name:
            buckets["loss"] += t(e)
    explained = sum(fwd) + sum(bwd) + sum(buckets.values())
    buckets["other (Python, framework, loss.item sync)"] = max(0.0, step_total - explained)
    return {"layers": [{"index": i, "forward_s": fwd[i] / steps, "backward_s": bwd[i] / steps}
                       for i in range(n_layers)],
            "buckets_s": {k: v / steps for k, v in buckets.items()}, "step_s": step_total / steps,
            "steps": steps, "clock": "device" if use_device else "cpu",
            "note": "times under torch.profiler (adds overhead); shares are what matters"}


# ---- Keras --------------------------------------------------------------------------------------------------------

def keras_layer_times(model, spec, x, budget_s: float = 0.4, device: str = "cpu") -> dict:
    """Forward and backward seconds per Keras layer, each layer timed alone on its recorded input."""
    import tensorflow as tf

    dev = "/GPU:0" if device == "cuda" else "/CPU:0"
    rows = []
    with tf.device(dev):
        acts = [tf.convert_to_tensor(x, dtype=tf.float32)]
        for layer in model.layers:
            acts.append(layer(acts[-1], training=True))
        any_weights_before = False
        sync = (lambda: tf.test.experimental.sync_devices()) if device == "cuda" else None
        # What calling a tf.function costs with no work in it: every row below pays it once, the real
        # train_on_batch step pays it once for all layers together, so it is subtracted from each row.
        empty = tf.function(lambda x: x)
        empty_s = median(time_calls(lambda: empty(acts[0]), budget_s / 2, min_rounds=5, sync=sync))
        for i, layer in enumerate(model.layers):
            xi, yi = acts[i], acts[i + 1]
            dy = tf.ones_like(yi)
            need_dx = any_weights_before
            weights = list(layer.trainable_weights)
            any_weights_before = any_weights_before or bool(weights)

            fwd = tf.function(lambda x, layer=layer: layer(x, training=True))

            def fb(x, dy, layer=layer, need_dx=need_dx, weights=weights):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    y = layer(x, training=True)
                targets = weights + ([x] if need_dx else [])
                return tape.gradient(y, targets, output_gradients=dy) if targets else [y]

            fb = tf.function(fb)
            t_f = median(time_calls(lambda: fwd(xi), budget_s / 2, min_rounds=5, sync=sync))
            if weights or need_dx:
                t_fb = median(time_calls(lambda: fb(xi, dy), budget_s / 2, min_rounds=5, sync=sync))
            else:
                t_fb = t_f
            rows.append({"index": i, "name": layer.name, "forward_s": max(0.0, t_f - empty_s),
                         "backward_s": max(0.0, t_fb - t_f), "input_grad": need_dx, "weight_grads": len(weights),
                         "forward_call_s": t_f, "forward_backward_call_s": t_fb})
    return {"layers": rows, "empty_call_s": empty_s,
            "note": "each layer timed alone in a tf.function (forward; forward + gradients), less the cost of "
                    "an empty tf.function call (each row would otherwise carry one call's overhead)"}
