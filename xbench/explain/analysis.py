"""Why is it slow? Counted work, the machine's ceiling and measured per-layer time, for one model.

``explain_spec`` (a model from models/) counts the PyTorch export (and checks
that the Keras export counts the same), then times, on real MNIST batches:
ONNX Runtime inference of both exports (with ORT's per-node profile), the
PyTorch eager train step (with ``torch.profiler`` per layer, forward and
backward) and the Keras ``train_on_batch`` step (with per-layer timing), plus
the native inference calls. ``explain_onnx`` does the ONNX Runtime part for any
ONNX file. ``render`` turns the report (a JSON-ready dict) into text.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from xbench.explain import cost as costmod
from xbench.explain import profiles, roofline
from xbench.explain.cost import human, human_bytes, render_table

RUNTIMES = ("onnxruntime", "torch", "keras")
ARTICLE_CLAIM = "billions of operations per layer"


def busy_warning(sample_s: float = 0.5) -> str | None:
    """A warning when other processes are using the CPU right now: shared cores make every timing slow and
    noisy (PyTorch's OpenMP threads suffer most: they spin-wait for cores that are busy elsewhere)."""
    import os

    import psutil

    from xbench import threads

    busy = psutil.cpu_percent(interval=sample_s)  # system-wide, before this run starts any work
    if busy > 40:
        cores = psutil.cpu_count() or os.cpu_count() or 1
        return (f"the CPU was {busy:.0f}% busy with other work when this run started ({cores} cores, "
                f"{threads.count()} threads used here): timings are slower and noisier than on an idle machine")
    return None


def _log(log, msg: str) -> None:
    if log:
        log(msg)


def _measurement(runtime, framework, provider, task, variant, batch, samples, flops, bytes_min, peak, **extra):
    med = profiles.median(samples)
    fields = roofline.annotate(flops, bytes_min, med, peak)
    return {"runtime": runtime, "framework": framework, "provider": provider, "task": task, "variant": variant,
            "batch_size": batch, "median_s": med, "rounds": len(samples), "flops_per_batch": flops,
            "bytes_min_per_batch": bytes_min, **fields, **extra}


def _label(m: dict) -> str:
    src = f" ({m['framework']} export)" if m["runtime"] == "onnxruntime" and m.get("framework") else ""
    return f"{m['runtime']}{src} {m['task']}"


# ---- a spec model ---------------------------------------------------------------------------------------------------

def explain_spec(spec, batch: int = 32, runtimes=RUNTIMES, device: str = "cpu", data=None, budget_s: float = 1.0,
                 log=None) -> dict:
    from xbench import data as mnist
    from xbench import frameworks
    from xbench.export import export, onnx_input

    runtimes = [r for r in RUNTIMES if r in runtimes]
    data = data or mnist.load_mnist(allow_download=False)
    busy = busy_warning()
    _log(log, "measuring this machine's ceiling (<= 5 s)")
    ceil = roofline.ceiling()
    peak = roofline.device_ceiling(ceil, device)
    x_train, y_train = mnist.batch(data, spec.input_shape, batch, split="train")
    x_test, _ = mnist.batch(data, spec.input_shape, batch, split="test")
    report: dict = {"model": spec.name, "source": "spec", "description": spec.description, "batch_size": batch,
                    "device": device, "ceiling": ceil, "warnings": [busy] if busy else [], "measurements": [],
                    "skipped": []}
    trainable = spec.num_classes is not None
    if "keras" in runtimes:
        try:
            frameworks.get("keras").device_reason(device)
        except ImportError as exc:  # a machine with PyTorch and ONNX Runtime only: explain what is there
            report["skipped"].append({"runtime": "keras", "reason": f"Keras is not installed here ({exc})"})
            runtimes = [r for r in runtimes if r != "keras"]
    tmp = tempfile.TemporaryDirectory(prefix="xbench-explain-")
    workdir = Path(tmp.name)
    try:
        # counting: the PyTorch export is the reference; the Keras export must count the same
        fw_names = ["torch"] + (["keras"] if "keras" in runtimes else [])
        models, costs, files = {}, {}, {}
        for name in fw_names:
            fw = frameworks.get(name)
            _log(log, f"building and exporting {spec.name} from {fw.display} to ONNX")
            models[name] = fw.build(spec, 0, device=device)
            files[name] = workdir / f"{spec.name}.{name}.onnx"
            export(name, spec, files[name], model=models[name], data=data)
            costs[name] = costmod.count_file(files[name], batch_size=batch)
        ref = costs["torch"]
        rows = costmod.map_to_spec(ref, spec)
        report.update(_cost_summary(ref))
        report["counted_from"] = files["torch"].name
        report["layers"] = rows
        report["nodes"] = ref.to_dict()["nodes"]
        if "keras" in costs:
            k = costs["keras"]
            same = (k.macs, k.train_macs) == (ref.macs, ref.train_macs)
            report["export_check"] = {"torch_macs_per_sample": ref.macs / batch, "keras_macs_per_sample": k.macs / batch,
                                      "torch_train_macs_per_sample": ref.train_macs / batch,
                                      "keras_train_macs_per_sample": k.train_macs / batch, "same": same}
            if not same:
                report["warnings"].append(f"the Keras export counts {k.macs / batch:,.0f} MACs per sample, the PyTorch "
                                          f"export {ref.macs / batch:,.0f}")
            costmod.map_to_spec(k, spec)
        for c in costs.values():
            report["warnings"] += [f"{c.source}: {w}" for w in c.warnings]

        fwd_flops, fwd_bytes, _ = ref.task_cost("inference")
        train_flops, train_bytes, _ = ref.task_cost("train_step")

        # ONNX Runtime, both exports, with the per-node profile mapped to spec layers
        if "onnxruntime" in runtimes:
            provider = "CUDAExecutionProvider" if device == "cuda" else "CPUExecutionProvider"
            for name in fw_names:
                _log(log, f"timing ONNX Runtime ({provider}) on the {name} export, batch {batch}")
                fw = frameworks.get(name)
                try:
                    session = profiles.ort_session(files[name], provider)
                except Exception as exc:
                    report["skipped"].append({"runtime": "onnxruntime", "framework": name, "reason": str(exc)})
                    continue
                feed = {session.get_inputs()[0].name: onnx_input(fw, x_test)}
                samples = profiles.time_calls(lambda: session.run(None, feed), budget_s)
                prof = profiles.ort_profile(files[name], feed, provider, runs=10)
                per_layer = _ort_per_layer(prof["per_node_s"], costs[name], len(spec.layers))
                report["measurements"].append(_measurement(
                    "onnxruntime", name, provider, "inference", "default", batch, samples, fwd_flops, fwd_bytes, peak,
                    per_layer_s=per_layer["layers"], other_s=per_layer["other"],
                    profile={"clock": "ORT profiler, median per run", "run_s": prof["run_s"],
                             "unmapped": prof["unmapped"]}))

        # PyTorch: eager train step with torch.profiler, then eager inference
        if "torch" in runtimes:
            fw = frameworks.get("torch")
            reason = fw.device_reason(device)
            if reason:
                report["skipped"].append({"runtime": "torch", "reason": reason})
            else:
                model = fw.build(spec, 0)
                if trainable:
                    _log(log, f"timing the PyTorch eager train step, batch {batch}")
                    step = fw.make_train_step(model, spec, spec.learning_rate, "adam", "eager", device)
                    xn, yn = fw.to_native(model, x_train, y_train, device, "eager")
                    samples = profiles.time_calls(lambda: step(xn, yn), budget_s * 1.5)
                    _log(log, "profiling the PyTorch train step (torch.profiler)")
                    prof = profiles.torch_train_profile(model, spec, step, xn, yn, steps=3, device=device)
                    # profiled times, scaled to the unprofiled step so they add up to it (shares unchanged)
                    scale = profiles.median(samples) / prof["step_s"] if prof["step_s"] else 1.0
                    report["measurements"].append(_measurement(
                        "torch", "torch", device, "train_step", "eager", batch, samples, train_flops, train_bytes, peak,
                        per_layer_s=[scale * (l["forward_s"] + l["backward_s"]) for l in prof["layers"]],
                        per_layer_split=prof["layers"], other_s={k: scale * v for k, v in prof["buckets_s"].items()},
                        profile={"clock": "torch.profiler " + prof["clock"] + " time, scaled to the measured step",
                                 "step_s": prof["step_s"], "note": prof["note"]}))
                else:
                    report["skipped"].append({"runtime": "torch", "task": "train_step",
                                              "reason": f"{spec.name} has no classifier head: there is no loss to train"})
                _log(log, f"timing PyTorch eager inference, batch {batch}")
                predict = fw.make_predict(model, spec, "eager", device)
                xn, _ = fw.to_native(model, x_test, None, device, "eager")
                samples = profiles.time_calls(lambda: predict(xn), budget_s)
                report["measurements"].append(_measurement(
                    "torch", "torch", device, "inference", "eager", batch, samples, fwd_flops, fwd_bytes, peak))

        # Keras: train_on_batch, per-layer timing, predict_on_batch
        if "keras" in runtimes:
            fw = frameworks.get("keras")
            reason = fw.device_reason(device)
            if reason:
                report["skipped"].append({"runtime": "keras", "reason": reason})
            else:
                model = models["keras"]
                if trainable:
                    _log(log, f"timing the Keras train_on_batch step, batch {batch}")
                    step = fw.make_train_step(model, spec, spec.learning_rate, "adam", "default", device)
                    xn, yn = fw.to_native(model, x_train, y_train, device)
                    samples = profiles.time_calls(lambda: step(xn, yn), budget_s * 1.5)
                    _log(log, "timing each Keras layer alone (forward, forward + gradients)")
                    lt = profiles.keras_layer_times(model, spec, x_train, device=device)
                    per = [l["forward_s"] + l["backward_s"] for l in lt["layers"]]
                    med = profiles.median(samples)
                    report["measurements"].append(_measurement(
                        "keras", "keras", device, "train_step", "default", batch, samples, train_flops, train_bytes,
                        peak, per_layer_s=per if len(per) == len(spec.layers) else None, per_layer_split=lt["layers"],
                        other_s={"rest of train_on_batch (loss, Adam, Keras step machinery)": max(0.0, med - sum(per))},
                        profile={"clock": "per-layer timing, each layer alone", "note": lt["note"]}))
                else:
                    report["skipped"].append({"runtime": "keras", "task": "train_step",
                                              "reason": f"{spec.name} has no classifier head: there is no loss to train"})
                _log(log, f"timing Keras predict_on_batch, batch {batch}")
                predict = fw.make_predict(model, spec, "default", device)
                xn, _ = fw.to_native(model, x_test, None, device)
                samples = profiles.time_calls(lambda: predict(xn), budget_s)
                report["measurements"].append(_measurement(
                    "keras", "keras", device, "inference", "default", batch, samples, fwd_flops, fwd_bytes, peak))
    finally:
        tmp.cleanup()
    _finish(report, ref, spec)
    return report


def _ort_per_layer(per_node_s: dict, cost, n_layers: int) -> dict:
    layer_of = {n.name: n.layer for n in cost.nodes}
    layers = [0.0] * n_layers
    other: dict[str, float] = {}
    for name, t in per_node_s.items():
        li = layer_of.get(name)
        if li is not None:
            layers[li] += t
        else:
            key = name if name.startswith("(ORT ") else "(input layout and unmapped nodes)"
            other[key] = other.get(key, 0.0) + t
    return {"layers": layers, "other": other}


def _cost_summary(c) -> dict:
    s = c.summary()
    return {"total_macs": s["total_macs"], "total_flops": s["total_flops"],
            "flops_definition": s["flops_definition"], "per_sample": s["per_sample"], "per_batch": s["per_batch"],
            "params": s["params"], "unknown_ops": s["unknown_ops"], "complete": s["complete"],
            "folded_constant_nodes": s["folded_constant_nodes"]}


# ---- any ONNX file --------------------------------------------------------------------------------------------------

def explain_onnx(path, batch: int | None = None, shapes: dict | None = None, providers=("cpu",),
                 budget_s: float = 1.0, log=None) -> dict:
    from xbench.onnxfile import load_model, make_feeds, resolve_inputs
    from xbench.runtimes.onnxruntime import long_name

    path = Path(path)
    model = load_model(path)
    inputs, b = resolve_inputs(model, batch, shapes, source=path.name)
    c = costmod.count(model, batch, shapes, source=path.name)
    busy = busy_warning()
    _log(log, "measuring this machine's ceiling (<= 5 s)")
    ceil = roofline.ceiling()
    report: dict = {"model": path.name, "source": "onnx", "path": str(path), "batch_size": b,
                    "inputs": [i.to_dict() for i in inputs], "ceiling": ceil,
                    "warnings": list(c.warnings) + ([busy] if busy else []),
                    "measurements": [], "skipped": []}
    report.update(_cost_summary(c))
    feeds = make_feeds(inputs)
    flops, bytes_min, _ = c.task_cost("inference")
    for p in providers:
        provider = long_name(p)
        _log(log, f"timing ONNX Runtime ({provider}) on {path.name}, batch {b}")
        try:
            session = profiles.ort_session(path, provider)
        except Exception as exc:
            report["skipped"].append({"runtime": "onnxruntime", "provider": provider, "reason": str(exc)})
            continue
        samples = profiles.time_calls(lambda: session.run(None, feeds), budget_s, min_rounds=3)
        prof = profiles.ort_profile(path, feeds, provider, runs=max(3, min(10, int(budget_s / max(profiles.median(samples), 1e-6)))),
                                    model=model)
        peak = roofline.device_ceiling(ceil, provider)
        report["measurements"].append(_measurement(
            "onnxruntime", None, provider, "inference", "default", b, samples, flops, bytes_min, peak,
            per_node_s=prof["per_node_s"], profile={"clock": "ORT profiler, median per run", "run_s": prof["run_s"],
                                                    "unmapped": prof["unmapped"]}))
    report["nodes"] = c.to_dict()["nodes"]
    report["_cost"] = c
    _finish(report, c, None)
    return report


# ---- conclusions ----------------------------------------------------------------------------------------------------

def _finish(report: dict, c, spec) -> None:
    ms = report["measurements"]
    for row in report.get("layers", []):  # each layer's measured seconds per batch, by runtime
        i = row["index"]
        row["time_s"] = {_label(m): m["per_layer_s"][i] for m in ms
                         if m.get("per_layer_s") and i is not None and i < len(m["per_layer_s"])}
    train = [m for m in ms if m["task"] == "train_step"]
    focus = train or ms
    dominant = []
    if spec is not None:
        for m in focus:
            per = m.get("per_layer_s")
            if not per:
                continue
            other = m.get("other_s") or {}
            total = m["median_s"] if m["task"] == "train_step" else sum(per) + sum(other.values())
            by_index = {r["index"]: r for r in report["layers"]}
            cands = [(per[i], by_index[i]["name"], by_index[i]["macs"]) for i in range(len(per)) if i in by_index]
            cands += [(t, name, 0) for name, t in other.items()]  # runtime-inserted work: layout reorders, loss, Adam
            for t, name, macs in sorted(cands, key=lambda c: -c[0])[:2]:
                dominant.append({"runtime": _label(m), "layer": name, "time_s": t,
                                 "share_of_time": t / total if total else None,
                                 "share_of_macs": macs / c.macs if c.macs else 0.0})
    else:
        groups = costmod.fused_groups(c)
        for m in focus:
            per = m.get("per_node_s") or {}
            total = sum(per.values()) or 1.0
            timed = [(sum(per.get(n, 0.0) for n in g["nodes"]), g) for g in groups]
            for t, g in sorted(timed, key=lambda tg: -tg[0])[:2]:
                dominant.append({"runtime": _label(m), "layer": f"{g['name']} ({g['ops']})", "time_s": t,
                                 "share_of_time": t / total, "share_of_macs": g["macs"] / c.macs if c.macs else 0.0})
    report["dominant_layers"] = dominant
    report["summary"] = _story(report, c, spec)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%" if x < 0.995 else f"{100 * x:.0f}%"


def _ms(s: float) -> str:
    return f"{s * 1e3:.3g} ms" if s >= 1e-3 else f"{s * 1e6:.3g} µs"


def _story(report: dict, c, spec) -> str:
    b = report["batch_size"]
    ms = report["measurements"]
    peak = roofline.device_ceiling(report["ceiling"], report.get("device", "cpu"))
    train = [m for m in ms if m["task"] == "train_step"]
    parts = []
    name = report["model"]
    rate = f"{peak['matmul_gflops']:.0f} GFLOP/s" if peak else "an unmeasured rate"
    bw = f"{peak['bandwidth_gbs']:.0f} GB/s" if peak else "an unmeasured bandwidth"
    if train:
        tf = c.train_flops
        ideal = tf / (peak["matmul_gflops"] * 1e9) if peak else None
        first = next((n for n in c.nodes if n.kind in ("conv", "matmul")), None)
        parts.append(
            f"Why {name} takes this long to train here: one training step at batch {b} needs {human(tf)}FLOP "
            f"({human(c.flops)}FLOP forward + {human(2 * c.bwd_macs)}FLOP backward; FLOPs = 2 x multiply-accumulates"
            + ("; the first layer computes no input gradient" if first is not None and not first.input_grad else "")
            + f"). This machine multiplies fp32 matrices at {rate} and copies memory at {bw}, so that arithmetic "
            f"alone would take {_ms(ideal) if ideal else '?'} per step.")
        times = ", ".join(f"{m['runtime']} {_ms(m['median_s'])} ({_pct(m['fraction_of_peak'])} of peak)" for m in train)
        parts.append(f"The measured steps take {times}.")
        verdicts = {m["verdict"] for m in train}
        if verdicts == {"overhead-bound"}:
            over = [m["median_s"] / ideal for m in train] if ideal else []
            parts.append(
                (f"That is {min(over):.0f}-{max(over):.0f}x " if len(over) > 1 else f"That is {over[0]:.0f}x " if over else "That is ")
                + "what the arithmetic and the memory traffic need: training this CNN here is overhead-bound. "
                "The time goes to work that is not multiply-adds: launching and dispatching each operation, "
                "allocating and copying tensors, layout changes, the loss and the optimizer update, "
                "and the synchronisation that returns the loss to Python.")
        elif verdicts <= {"compute-bound"}:
            parts.append("The steps run close enough to the machine's rate to be compute-bound: more multiply-adds "
                         "would mean proportionally more time.")
        else:
            parts.append("Verdicts: " + ", ".join(f"{m['runtime']} {m['verdict']}" for m in train) + ".")
    elif ms:
        m0 = min(ms, key=lambda m: m["median_s"])
        parts.append(f"{name} at batch {b}: one forward pass needs {human(c.flops)}FLOP "
                     f"(FLOPs = 2 x multiply-accumulates). This machine multiplies fp32 matrices at {rate} and copies "
                     f"memory at {bw}.")
        parts.append("Measured: " + ", ".join(
            f"{_label(m)} {_ms(m['median_s'])} ({_pct(m['fraction_of_peak'])} of peak, {m['verdict']})" for m in ms)
            + (f". The fastest, {_label(m0)}, is {m0['verdict']}." if len(ms) > 1 else "."))
        if report.get("source") == "spec" and spec is not None and spec.num_classes is None:
            parts.append(f"{name} has no classifier head, so there is no loss to train; a training step would need "
                         f"{human(c.train_flops)}FLOP at this batch.")
        elif report.get("source") == "onnx":
            parts.append(f"Training it would need about {human(c.train_flops)}FLOP per batch (forward + backward, "
                         "counted from the graph).")
    dom = report.get("dominant_layers") or []
    if dom:
        by_rt: dict[str, list] = {}
        for d in dom:
            by_rt.setdefault(d["runtime"], []).append(d)
        bits = []
        for rt, ds in by_rt.items():
            bits.append(f"in {rt}, " + " and ".join(
                f"{d['layer']} takes {_pct(d['share_of_time'])} of the time with {_pct(d['share_of_macs'])} of the MACs"
                for d in ds))
        parts.append("Where the time goes: " + "; ".join(bits) + ".")
        free = [d for d in dom if d["share_of_macs"] == 0 and (d["share_of_time"] or 0) > 0.15]
        if free:
            d = max(free, key=lambda d: d["share_of_time"])
            parts.append(f"'{d['layer']}' does no multiply-adds at all, yet takes {_pct(d['share_of_time'])} of "
                         f"{d['runtime']}: memory traffic and per-operation overhead, not arithmetic.")
    ort = [m for m in ms if m["runtime"] == "onnxruntime"]
    if train and ort:
        best = min(ort, key=lambda m: m["median_s"])
        parts.append(f"For scale: ONNX Runtime runs the forward pass of the same batch in {_ms(best['median_s'])} "
                     f"({_pct(best['fraction_of_peak'])} of peak), so the arithmetic itself is cheap on this machine.")
    if c.macs:
        big = max(c.nodes, key=lambda n: n.macs)
        per_img = big.macs / b
        verdict_claim = ("billions only per batch, not per image" if 2 * big.macs >= 1e9 > 2 * per_img else
                         "far from billions" if 2 * big.macs < 1e9 else "billions indeed")
        parts.append(f"The seed article blames '{ARTICLE_CLAIM}': the biggest layer here ({big.op} {big.name}) needs "
                     f"{per_img:,.0f} multiply-adds ({human(2 * per_img)}FLOP) per image and {human(2 * big.macs)}FLOP "
                     f"per batch of {b} ({verdict_claim}); the whole forward pass needs {human(c.flops / b)}FLOP "
                     f"per image.")
    if train and {m["verdict"] for m in train} == {"overhead-bound"}:
        parts.append("Bigger batches spread the fixed per-step cost over more images (see xbench sweep); "
                     "fused, compiled runtimes (ONNX Runtime, XLA, torch.compile) remove per-operation overhead.")
    return " ".join(parts)


# ---- text -----------------------------------------------------------------------------------------------------------

def render(report: dict, limit: int = 40) -> str:
    out = []
    b = report["batch_size"]
    out.append(f"xbench explain: {report['model']} at batch {b}"
               + (f" on {report.get('device', 'cpu')}" if report["source"] == "spec" else ""))
    ps = report["per_sample"]
    out.append(f"  forward: {report['total_macs']:,} MACs per sample = {human(ps['flops'])}FLOP per sample "
               f"(FLOPs = 2 x MACs); {human(report['per_batch']['flops'])}FLOP per batch of {b}")
    out.append(f"  training step: {human(ps['train_macs'])}MAC per sample (backward {human(ps['backward_macs'])}MAC); "
               f"{human(report['per_batch']['train_flops'])}FLOP per batch")
    out.append(f"  parameters: {report['params']:,}; compulsory traffic per batch: "
               f"{human_bytes(report['per_batch']['bytes_min'])} (inference), "
               f"{human_bytes(report['per_batch']['train_bytes_min'])} (training)")
    ec = report.get("export_check")
    if ec:
        out.append(f"  Keras export vs PyTorch export: {ec['keras_macs_per_sample']:,.0f} vs "
                   f"{ec['torch_macs_per_sample']:,.0f} MACs per sample ({'same' if ec['same'] else 'DIFFERENT'})")
    cpu = report["ceiling"].get("cpu", {})
    if "matmul_gflops" in cpu:
        out.append(f"  machine ceiling (CPU, {cpu.get('threads')} threads): fp32 matmul {cpu['matmul_gflops']:.1f} GFLOP/s, "
                   f"memory copy {cpu['bandwidth_gbs']:.1f} GB/s (measured in {cpu.get('measure_s')} s)")
    for g in report["ceiling"].get("cuda") or []:
        if "matmul_gflops" in g:
            out.append(f"  machine ceiling ({g['device']} {g.get('name', '')}): fp32 matmul {g['matmul_gflops']:.0f} "
                       f"GFLOP/s, memory copy {g['bandwidth_gbs']:.0f} GB/s")
    out.append("")
    ms = report["measurements"]
    if report["source"] == "spec":
        out.append("Per layer (MACs per sample; times per batch, per runtime):")
        out.append(_layer_table(report))
    else:
        out.append("Per node (per batch):")
        c = report["_cost"]
        times = ms[0].get("per_node_s") if ms else None
        out.append(costmod.format_node_table(c, limit, times=times))
    out.append("")
    out.append("Per runtime:")
    head = ["runtime", "task", "time/batch", "GFLOP/s", "of peak", "FLOP/byte", "verdict", "ideal"]
    rows = []
    for m in ms:
        ideal = (m.get("roofline") or {}).get("ideal_s")
        rows.append([_label(m), m["task"], _ms(m["median_s"]),
                     f"{m['achieved_gflops']:.2f}" if m.get("achieved_gflops") is not None else "-",
                     _pct(m.get("fraction_of_peak")),
                     f"{m['arithmetic_intensity']:.1f}" if m.get("arithmetic_intensity") else "-",
                     m.get("verdict") or "-", _ms(ideal) if ideal else "-"])
    out.append(render_table(head, rows) if rows else "(nothing measured)")
    for s in report.get("skipped", []):
        out.append(f"  skipped {s.get('runtime')} {s.get('task', '')}: {s['reason']}".replace("  :", ":"))
    if report.get("dominant_layers"):
        out.append("")
        out.append("Dominating layers:")
        for d in report["dominant_layers"]:
            out.append(f"  {d['runtime']}: {d['layer']} - {_pct(d['share_of_time'])} of the time, "
                       f"{_pct(d['share_of_macs'])} of the MACs")
    for w in report.get("warnings", []):
        out.append(f"WARNING: {w}")
    if any((m.get("fraction_of_peak") or 0) > 1 for m in ms):
        out.append("NOTE: a fraction of peak above 100% means the ceiling was measured while the machine was busy "
                   "(or the runtime beats numpy/torch matmul); treat the ceiling as a lower bound")
    out.append("")
    out.append(_wrap(report["summary"]))
    return "\n".join(out)


def _layer_table(report: dict) -> str:
    ms = [m for m in report["measurements"] if m.get("per_layer_s")]
    head = ["layer", "ops", "output", "MACs/sample", "% MACs", "bwd MACs/sample", "elem ops"]
    head += [_short(m) for m in ms]
    total = sum(r["macs"] for r in report["layers"]) or 1
    b = report["batch_size"]
    rows = []
    for r in report["layers"]:
        row = [r["name"], r["ops"], "x".join(map(str, r["out_shape"])) or "-", f"{r['macs_per_sample']:,.0f}",
               f"{100 * r['macs'] / total:.1f}", f"{r['bwd_macs'] / b:,.0f}", human(r["elem_ops"])]
        for m in ms:
            i = r["index"]
            row.append(_ms(m["per_layer_s"][i]) if i is not None and i < len(m["per_layer_s"]) else "-")
        rows.append(row)
    others = {}
    for j, m in enumerate(ms):
        for k, v in (m.get("other_s") or {}).items():
            others.setdefault(k, {})[j] = v
    for k, vals in others.items():
        rows.append([k[:46], "", "", "", "", "", ""] + [_ms(vals[j]) if j in vals else "-" for j in range(len(ms))])
    rows.append(["total measured", "", "", f"{report['total_macs']:,}", "100", f"{report['per_sample']['backward_macs']:,.0f}",
                 human(report["per_batch"]["elem_ops"])] + [_ms(m["median_s"]) for m in ms])
    return render_table(head, rows)


def _short(m: dict) -> str:
    if m["runtime"] == "onnxruntime":
        return f"ORT({m['framework']}) inf"
    return f"{m['runtime']} {'train f+b' if m['task'] == 'train_step' else 'inf'}"


def _wrap(text: str, width: int = 100) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def to_json(report: dict) -> dict:
    return {k: v for k, v in report.items() if not k.startswith("_")}
