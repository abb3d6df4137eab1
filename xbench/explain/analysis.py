"""Why is it slow? Counted work, the machine's ceiling, fixed vs per-sample cost and per-layer time, for one model.

``explain_spec`` (a model from models/) counts the PyTorch export (and checks
that the Keras export counts the same), then times, on real MNIST batches and
at several batch sizes (blocks, each with a fresh model or session): ONNX
Runtime inference of both exports (with ORT's per-node profile), the PyTorch
eager train step (with ``torch.profiler`` per layer, forward and backward) and
the Keras ``train_on_batch`` step (with per-layer timing), plus the native
inference calls. Each gets ``t = fixed + per_sample x batch`` fitted and a
verdict by the rules of :mod:`xbench.explain.verdict`. ``explain_onnx`` does the
ONNX Runtime part for any ONNX file. ``render`` turns the report (a JSON-ready
dict) into text.
"""

from __future__ import annotations

import statistics
import tempfile
from functools import partial
from pathlib import Path

from xbench.bench import timing
from xbench.bench.timing import WARMUP_CALLS
from xbench.explain import cost as costmod
from xbench.explain import fit as fitmod
from xbench.explain import profiles, roofline
from xbench.errors import UserError, first_line
from xbench.report import fmt
from xbench.report.fmt import human, human_bytes
from xbench.report.text import node_table, render_table

RUNTIMES = ("onnxruntime", "torch", "keras")
ARTICLE_CLAIM = "billions of operations per layer"


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


def _log(log, msg: str) -> None:
    if log:
        log(msg)


def _train_factory(fw, spec, variant: str, device: str, data: dict, native=()):
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


def _infer_factory(fw, spec, variant: str, device: str, data: dict, native=()):
    """For ``measure_scaling``: a fresh model's prediction per call (the suite's factory), on batch ``b``."""
    from xbench.bench.cases import predict_fn

    def make():
        model, predict = predict_fn(fw, spec, variant=variant, device=device)

        def runner(b):
            xn, _ = fw.to_native(model, data[b], None, device, *native)
            return lambda: predict(xn)
        return runner
    return make


def _measurement(runtime, framework, provider, task, variant, batch, scaling, flops, bytes_min, bytes_layers,
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
    _log(log, f"{what}: " + ", ".join(f"b{b} {_ms(t)}" for b, t in points.items()))
    return out


def _epoch(fw, spec, device: str, data, batch: int, step: dict, blocks: int, log=None) -> dict:
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
    _log(log, f"timing one {fw.display} epoch ({variant}, {n} images, batch {batch}; {blocks} blocks, fresh each)")
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
    _log(log, f"{fw.display} epoch: {_ms(epoch_s)} against {_ms(row['sum_of_steps_s'])} of steps")
    return row


def _label(m: dict) -> str:
    src = f" ({m['framework']} export)" if m["runtime"] == "onnxruntime" and m.get("framework") else ""
    return f"{m['runtime']}{src} {m['task']}"


# ---- a spec model ---------------------------------------------------------------------------------------------------

def explain_spec(spec, batch: int = 32, runtimes=RUNTIMES, device: str = "cpu", data=None, budget_s: float = 1.0,
                 log=None, blocks: int = 3, batches: list[int] | None = None) -> dict:
    from xbench import data as mnist
    from xbench import frameworks
    from xbench.export import export, onnx_input
    from xbench.runtimes.onnxruntime import open_session, session_config, session_record
    from xbench.bench.cases import fresh_model, train_step

    runtimes = [r for r in RUNTIMES if r in runtimes]
    data = data or mnist.load_mnist(allow_download=False)
    batches = sorted(set(batches or fitmod.fit_batches(batch)) | {batch})
    busy = busy_warning()
    ceil = _ceiling(log)
    x_train, y_train = mnist.batch(data, spec.input_shape, batch, split="train")
    x_test, _ = mnist.batch(data, spec.input_shape, batch, split="test")
    train_data = {b: mnist.batch(data, spec.input_shape, b, split="train") for b in batches}
    test_data = {b: mnist.batch(data, spec.input_shape, b, split="test")[0] for b in batches}
    report: dict = {"model": spec.name, "source": "spec", "created_at": _now(), "description": spec.description,
                    "batch_size": batch,
                    "device": device, "ceiling": ceil, "warnings": [busy] if busy else [], "measurements": [],
                    "skipped": [], "fit_batches": batches, "blocks": blocks, "epochs": []}
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
        costs, files = {}, {}
        for name in fw_names:
            fw = frameworks.get(name)
            _log(log, f"building and exporting {spec.name} from {fw.display} to ONNX")
            files[name] = workdir / f"{spec.name}.{name}.onnx"
            export(name, spec, files[name], model=fresh_model(fw, spec, device=device), data=data)
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

        fwd = ref.task_cost("inference")
        trn = ref.task_cost("train_step")

        def scaling(make, what, train=False):
            _log(log, f"timing {what} at batch sizes {', '.join(map(str, batches))} ({blocks} blocks, fresh each)")
            return measure_scaling(make, batches, blocks, budget_s * (1.5 if train else 1.0), log, what, chosen=batch)

        # ONNX Runtime, both exports, with the per-node profile mapped to spec layers
        if "onnxruntime" in runtimes:
            provider = "CUDAExecutionProvider" if device == "cuda" else "CPUExecutionProvider"
            for name in fw_names:
                fw = frameworks.get(name)
                try:
                    open_session(files[name], provider)
                except Exception as exc:
                    report["skipped"].append({"runtime": "onnxruntime", "framework": name, "reason": str(exc)})
                    continue

                def make_ort(path=files[name], fw=fw):
                    session = open_session(path, provider)
                    iname = session.get_inputs()[0].name
                    return lambda b: (lambda feed={iname: onnx_input(fw, test_data[b])}: session.run(None, feed))

                sc = scaling(make_ort, f"ONNX Runtime ({provider}) on the {name} export")
                session = open_session(files[name], provider)
                feed = {session.get_inputs()[0].name: onnx_input(fw, x_test)}
                prof = profiles.ort_profile(files[name], feed, provider, runs=10)
                per_layer = _ort_per_layer(prof["per_node_s"], costs[name], len(spec.layers))
                report["measurements"].append(_measurement(
                    "onnxruntime", name, provider, "inference", "default", batch, sc, *fwd,
                    per_layer_s=per_layer["layers"], other_s=per_layer["other"],
                    session=session_record(session, session_config(provider)),
                    profile={"clock": "ORT profiler, median per run", "run_s": prof["run_s"],
                             "unmapped": prof["unmapped"]}))

        # PyTorch: eager train step with torch.profiler, then eager inference
        if "torch" in runtimes:
            fw = frameworks.get("torch")
            reason = fw.device_reason(device)
            if reason:
                report["skipped"].append({"runtime": "torch", "reason": reason})
            else:
                if trainable:
                    make_torch_train = _train_factory(fw, spec, "eager", device, train_data, native=("eager",))
                    sc = scaling(make_torch_train, "the PyTorch eager train step", train=True)
                    sc["optimizer"] = make_torch_train.optimizer
                    _log(log, "profiling the PyTorch train step (torch.profiler)")
                    model, step = train_step(fw, spec, variant="eager", device=device)
                    xn, yn = fw.to_native(model, x_train, y_train, device, "eager")
                    prof = profiles.torch_train_profile(model, spec, step, xn, yn, steps=3, device=device)
                    m = _measurement("torch", "torch", device, "train_step", "eager", batch, sc, *trn)
                    # profiled times, scaled to the unprofiled step so they add up to it (shares unchanged)
                    scale = m["median_s"] / prof["step_s"] if prof["step_s"] else 1.0
                    m.update(per_layer_s=[scale * (l["forward_s"] + l["backward_s"]) for l in prof["layers"]],
                             per_layer_split=prof["layers"], other_s={k: scale * v for k, v in prof["buckets_s"].items()},
                             profile={"clock": "torch.profiler " + prof["clock"] + " time, scaled to the measured step",
                                      "step_s": prof["step_s"], "scale": scale, "note": prof["note"]})
                    report["measurements"].append(m)
                    report["epochs"].append(_epoch(fw, spec, device, data, batch, m, blocks, log))
                else:
                    report["skipped"].append({"runtime": "torch", "task": "train_step",
                                              "reason": f"{spec.name} has no classifier head: there is no loss to train"})

                make_torch_infer = _infer_factory(fw, spec, "eager", device, test_data, native=("eager",))
                sc = scaling(make_torch_infer, "PyTorch eager inference")
                report["measurements"].append(_measurement("torch", "torch", device, "inference", "eager", batch, sc,
                                                           *fwd))

        # Keras: train_on_batch, per-layer timing, predict_on_batch
        if "keras" in runtimes:
            fw = frameworks.get("keras")
            reason = fw.device_reason(device)
            if reason:
                report["skipped"].append({"runtime": "keras", "reason": reason})
            else:
                if trainable:
                    make_keras_train = _train_factory(fw, spec, "default", device, train_data)
                    sc = scaling(make_keras_train, "the Keras train_on_batch step", train=True)
                    sc["optimizer"] = make_keras_train.optimizer
                    _log(log, "timing each Keras layer alone (forward, forward + gradients), less an empty call")
                    model = fresh_model(fw, spec, device=device)
                    lt = profiles.keras_layer_times(model, spec, x_train, device=device)
                    per = [l["forward_s"] + l["backward_s"] for l in lt["layers"]]
                    m = _measurement("keras", "keras", device, "train_step", "default", batch, sc, *trn)
                    rest = m["median_s"] - sum(per)
                    m.update(per_layer_s=per if len(per) == len(spec.layers) else None, per_layer_split=lt["layers"],
                             other_s={"rest of train_on_batch (loss, Adam, Keras step machinery)": max(0.0, rest)},
                             profile={"clock": "per-layer timing, each layer alone, less an empty call's cost",
                                      "empty_call_s": lt.get("empty_call_s"), "note": lt["note"],
                                      "layers_sum_s": sum(per), "layers_exceed_step_by_s": max(0.0, -rest)})
                    report["measurements"].append(m)
                    report["epochs"].append(_epoch(fw, spec, device, data, batch, m, blocks, log))
                else:
                    report["skipped"].append({"runtime": "keras", "task": "train_step",
                                              "reason": f"{spec.name} has no classifier head: there is no loss to train"})

                make_keras_infer = _infer_factory(fw, spec, "default", device, test_data)
                sc = scaling(make_keras_infer, "Keras predict_on_batch")
                report["measurements"].append(_measurement("keras", "keras", device, "inference", "default", batch, sc,
                                                           *fwd))
    finally:
        tmp.cleanup()
    _finish(report, ref, spec)
    return report


def _ceiling(log) -> dict:
    """The machine's ceiling: measured once per process, in a fresh subprocess (so this process's frameworks
    and warm threads do not bias it)."""
    if roofline._CEILING is None:
        _log(log, "measuring this machine's ceiling in a subprocess (<= 5 s of measuring)")
        roofline.use(roofline.measure_in_subprocess())
    return roofline.ceiling()


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
                 budget_s: float = 1.0, log=None, blocks: int = 3, batches: list[int] | None = None) -> dict:
    from xbench.export.onnxfile import fixed_batch, load_model, make_feeds, resolve_inputs
    from xbench.runtimes.onnxruntime import long_name, open_session, session_config, session_record

    path = Path(path)
    model = load_model(path)
    inputs, b = resolve_inputs(model, batch, shapes, source=path.name)
    c = costmod.count(model, batch, shapes, source=path.name)
    fixed = fixed_batch(model)
    first = inputs[0].name
    if fixed is not None:
        why = f"{path.name} has a fixed batch of {fixed}: it runs at one batch size only"
        batches = [b]
    elif shapes and first in shapes:
        why = f"--shape {first}=... fixes the batch at {b}: one batch size only"
        batches = [b]
    else:
        why = None
        batches = sorted(set(batches or fitmod.fit_batches(b)) | {b})
    feeds_at = {}
    for k in batches:  # a batch size the model cannot take is a clear error here, before any timing
        ins_k, _ = resolve_inputs(model, k, shapes, source=path.name)
        feeds_at[k] = make_feeds(ins_k)
    busy = busy_warning()
    ceil = _ceiling(log)
    report: dict = {"model": path.name, "source": "onnx", "created_at": _now(), "path": str(path), "batch_size": b,
                    "inputs": [i.to_dict() for i in inputs], "ceiling": ceil,
                    "warnings": list(c.warnings) + ([busy] if busy else []),
                    "measurements": [], "skipped": [], "fit_batches": batches, "blocks": blocks}
    report.update(_cost_summary(c))
    feeds = feeds_at[b]
    fwd = c.task_cost("inference")
    for p in providers:
        provider = long_name(p)
        try:
            session = open_session(path, provider)  # the provider's check; its settings go in the record
        except Exception as exc:
            report["skipped"].append({"runtime": "onnxruntime", "provider": provider, "reason": str(exc)})
            continue

        def make():
            session = open_session(path, provider)
            return lambda k: (lambda: session.run(None, feeds_at[k]))

        _log(log, f"timing ONNX Runtime ({provider}) on {path.name} at batch sizes "
                  f"{', '.join(map(str, batches))} ({blocks} blocks, a fresh session each)")
        sc = measure_scaling(make, batches, blocks, budget_s, log, f"ONNX Runtime ({provider})", fixed_reason=why,
                             chosen=b)
        t_b = sc["points"][b]
        prof = profiles.ort_profile(path, feeds, provider, runs=max(3, min(10, int(budget_s / max(t_b, 1e-6)))),
                                    model=model)
        report["measurements"].append(_measurement(
            "onnxruntime", None, provider, "inference", "default", b, sc, *fwd,
            per_node_s=prof["per_node_s"], session=session_record(session, session_config(provider)),
            profile={"clock": "ORT profiler, median per run", "run_s": prof["run_s"], "unmapped": prof["unmapped"]}))
    report["nodes"] = c.to_dict()["nodes"]
    report["_cost"] = c
    _finish(report, c, None)
    return report


# ---- conclusions ----------------------------------------------------------------------------------------------------

def _profiled_layers(report: dict, m: dict, c, spec) -> list[dict]:
    """The measurement's profiled rows as ``{"name", "time_s", "flops", "bytes"}`` (per batch), for naming the
    layers responsible for a below-roofline verdict; runtime-inserted work has no counted FLOPs or bytes."""
    rows = []
    train = m["task"] == "train_step"
    if spec is not None and m.get("per_layer_s"):
        for r in report["layers"]:
            i = r["index"]
            if i is None or i >= len(m["per_layer_s"]):
                continue
            macs = r["macs"] + (r["bwd_macs"] if train else 0)
            rows.append({"name": r["name"] + f" ({r['ops']})", "time_s": m["per_layer_s"][i], "flops": 2 * macs,
                         "bytes": r["bytes"] + (r["bwd_bytes"] if train else 0)})
    elif m.get("per_node_s"):
        per = m["per_node_s"]
        for g in costmod.fused_groups(c):
            rows.append({"name": f"{g['name']} ({g['ops']})", "time_s": sum(per.get(n, 0.0) for n in g["nodes"]),
                         "flops": 2 * g["macs"], "bytes": g["bytes"]})
        rows += [{"name": k, "time_s": v, "flops": 0, "bytes": 0} for k, v in per.items() if k.startswith("(ORT ")]
    adam = costmod.ADAM_BYTES_PER_PARAM_BYTE * c.trainable_bytes  # the optimizer's own traffic (its floor)
    rows += [{"name": k, "time_s": v, "flops": 0, "bytes": adam if k == "optimizer" else 0}
             for k, v in (m.get("other_s") or {}).items()]
    return rows


def _judge_all(report: dict, c, spec) -> None:
    """Roofline fields and the verdict for every measurement, under one ceiling per device: raised to the best
    achieved rate when a measurement beat the measured ceiling (so fraction_of_peak <= 1), and said so."""
    ms = report["measurements"]
    raised_notes = []
    for dev in dict.fromkeys(m["provider"] for m in ms):
        peak = roofline.device_ceiling(report["ceiling"], dev)
        mine = [m for m in ms if m["provider"] == dev]
        if peak:
            peak, note = roofline.raise_peak(peak, [m["flops_per_batch"] / m["median_s"] / 1e9 for m in mine])
            if note:
                best = max(mine, key=lambda m: m["flops_per_batch"] / m["median_s"])
                note["by"] = _label(best)
                note["device"] = dev
                raised_notes.append(note)
        for m in mine:
            m.update(roofline.annotate(m["flops_per_batch"], m["bytes_min_per_batch"], m["median_s"], peak,
                                       bytes_layers=m["bytes_layers_per_batch"], batch=m["batch_size"], fit=m["fit"],
                                       layers=_profiled_layers(report, m, c, spec)))
            if not report.get("complete", True):
                m["verdict_note"] = (f"operators unknown to the counter ({', '.join(report.get('unknown_ops') or [])}):"
                                     " FLOPs and bytes are lower bounds, and so are the floors")
    if raised_notes:
        report["ceiling_raised"] = raised_notes
        for n in raised_notes:
            report["warnings"].append(f"{n['by']} achieved {n['to_gflops']:.1f} GFLOP/s, above the measured ceiling "
                                      f"of {n['from_gflops']:.1f} GFLOP/s on {n['device']}: the ceiling is raised to "
                                      "it (fraction_of_peak <= 1)")


def _finish(report: dict, c, spec) -> None:
    ms = report["measurements"]
    _judge_all(report, c, spec)
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


def _now() -> str:
    """When the run started (UTC): a reader tells this run from another measurement of the same call by it."""
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%" if x < 0.995 else f"{100 * x:.0f}%"


_ms = partial(fmt.duration, down_to="µs")  # explain's times: ms, µs under 1 ms


def _share_cell(share: float | None, ci: list[float] | None) -> str:
    """A table cell: the share with its interval where resolved, else "n.r." (the legend says not resolved)."""
    if share is None:
        return "-"
    if not fitmod.resolved(share, ci):
        return "n.r."
    return f"{100 * share:.0f} ({100 * ci[0]:.0f}-{100 * ci[1]:.0f})"


def _fit_words(m: dict) -> str:
    f = m.get("fit") or {}
    if not f.get("available"):
        return f"{_label(m)} {_ms(m['median_s'])} (no fit: {f.get('reason', 'not measured')})"
    fixed = (f"{_ms(f['fixed_s'])} fixed" if fitmod.resolved(m["fixed_fraction"], m.get("fixed_fraction_ci95"))
             else "a fixed cost not resolved at these batch sizes")
    return (f"{_label(m)} {_ms(m['median_s'])} = {fixed} + {_ms(f['per_sample_s'])} per sample x "
            f"{m['batch_size']} (R² {f['r2']:.2f}; fixed share "
            f"{fitmod.share_text(m['fixed_fraction'], m.get('fixed_fraction_ci95'))}, "
            f"{_pct(m['fraction_of_peak'])} of peak)")


def _story(report: dict, c, spec) -> str:
    """The answer in words, each claim with the measured number behind it (nothing that was not measured)."""
    b = report["batch_size"]
    ms = report["measurements"]
    peak = roofline.device_ceiling(report["ceiling"], report.get("device", "cpu"))
    for n in report.get("ceiling_raised") or []:
        peak = {**peak, "matmul_gflops": n["to_gflops"]} if peak else peak
    train = [m for m in ms if m["task"] == "train_step"]
    infer = [m for m in ms if m["task"] == "inference"]
    parts = []
    name = report["model"]
    rate = f"{peak['matmul_gflops']:.0f} GFLOP/s" if peak else "an unmeasured rate"
    bw = f"{peak['bandwidth_gbs']:.0f} GB/s" if peak else "an unmeasured bandwidth"
    focus = train or infer
    if train:
        tf = c.train_flops
        first = next((n for n in c.nodes if n.kind in ("conv", "matmul")), None)
        parts.append(
            f"Why {name} takes this long to train here: one training step at batch {b} needs {human(tf)}FLOP "
            f"({human(c.flops)}FLOP forward + {human(2 * c.bwd_macs)}FLOP backward; FLOPs = 2 x multiply-accumulates"
            + ("; the first layer computes no input gradient" if first is not None and not first.input_grad else "")
            + f") and moves {human_bytes(c.train_bytes_layers)} layer by layer (compulsory: "
            f"{human_bytes(c.train_bytes_min)}). At this machine's {rate} and {bw} that is "
            + (f"{_ms(tf / (peak['matmul_gflops'] * 1e9))} of arithmetic and "
               f"{_ms(c.train_bytes_layers / (peak['bandwidth_gbs'] * 1e9))} of layer traffic per step." if peak
               else "not placed: no ceiling was measured."))
    elif infer:
        parts.append(f"{name} at batch {b}: one forward pass needs {human(c.flops)}FLOP (FLOPs = 2 x "
                     f"multiply-accumulates) and moves {human_bytes(c.bytes_layers)} layer by layer (compulsory: "
                     f"{human_bytes(c.bytes_min)}); this machine multiplies fp32 matrices at {rate} and copies "
                     f"memory at {bw}.")
    if focus:
        parts.append("Measured, with t = fixed + per-sample x batch fitted over batch sizes "
                     f"{', '.join(map(str, report.get('fit_batches') or []))}: "
                     + "; ".join(_fit_words(m) for m in focus) + ".")
        for m in focus:
            parts.append(f"{_label(m)}: {m['verdict']} ({m.get('verdict_rule')}).")
        # each share's upper bound (its estimate where unresolved and no interval): below half everywhere
        # means a bigger batch saves little, whether or not the share itself is resolved
        highs = [(m.get("fixed_fraction_ci95") or [None, m["fixed_fraction"]])[1] for m in focus
                 if m.get("fixed_fraction") is not None]
        verdicts = {m["verdict"] for m in focus}
        if highs and max(highs) < 0.5:
            parts.append(f"The fixed per-call cost is below {_pct(max(highs))} of the call at batch {b} (the upper "
                         "end of each fit's 95 % interval): a bigger batch would save little per sample; the time "
                         "is per-sample work.")
        if "below-roofline" in verdicts:
            names = {r["name"] for m in focus for r in m.get("responsible_layers") or []}
            below = [_label(m) for m in focus if m["verdict"] == "below-roofline"]
            parts.append(f"The per-sample work of {', '.join(below)} runs far below what the machine allows (more than "
                         "4x its own floor): the cure is faster kernels"
                         + (f" for the layers named ({', '.join(sorted(names))})" if names else
                            " (which layers is not resolved: xbench explain profiles ONNX Runtime and the training "
                            "steps per layer, not the frameworks' inference)")
                         + ", not fewer operations or bigger batches.")
        if "fixed-cost-bound" in verdicts:
            parts.append("Where the fixed cost dominates, bigger batches spread it over more samples.")
    for e in report.get("epochs") or []:
        if e.get("sum_of_steps_s"):
            parts.append(f"One epoch as a user writes it ({e['framework']} {e['variant']}, {e['steps_per_epoch']} "
                         f"steps of {b}) took {_ms(e['epoch_s'])} against {_ms(e['sum_of_steps_s'])} for its steps "
                         f"timed alone: the loop's own share of the epoch (data, callbacks, bookkeeping) is "
                         + fitmod.share_text(e["loop_fraction"], e.get("loop_fraction_ci95"), fitmod.NOT_RESOLVED_LOOP)
                         + (" (the epoch ran faster than its steps timed alone)" if e["loop_fraction"] < 0 else "")
                         + ".")
    ort = [m for m in infer if m["runtime"] == "onnxruntime"]
    if train and ort:
        best = min(ort, key=lambda m: m["median_s"])
        parts.append(f"For scale: ONNX Runtime runs the forward pass of the same batch in {_ms(best['median_s'])} "
                     f"({_pct(best['fraction_of_peak'])} of peak).")
    if report.get("source") == "spec" and spec is not None and spec.num_classes is None:
        parts.append(f"{name} has no classifier head, so there is no loss to train; a training step would need "
                     f"{human(c.train_flops)}FLOP at this batch.")
    if c.macs:
        big = max(c.nodes, key=lambda n: n.macs)
        per_img = big.macs / b
        verdict_claim = ("billions only per batch, not per image" if 2 * big.macs >= 1e9 > 2 * per_img else
                         "far from billions" if 2 * big.macs < 1e9 else "billions indeed")
        parts.append(f"The seed article blames '{ARTICLE_CLAIM}': the biggest layer here ({big.op} {big.name}) needs "
                     f"{per_img:,.0f} multiply-adds ({human(2 * per_img)}FLOP) per image and {human(2 * big.macs)}FLOP "
                     f"per batch of {b} ({verdict_claim}); the whole forward pass needs {human(c.flops / b)}FLOP "
                     f"per image.")
    if not report.get("complete", True):
        parts.append("Some operators are unknown to the counter (" + ", ".join(report.get("unknown_ops") or [])
                     + "): every floor is a lower bound, and the verdicts come from what was measured.")
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
    pb = report["per_batch"]
    out.append(f"  parameters: {report['params']:,}; memory traffic per batch, compulsory / layer by layer: "
               f"{human_bytes(pb['bytes_min'])} / {human_bytes(pb['bytes_layers'])} (inference), "
               f"{human_bytes(pb['train_bytes_min'])} / {human_bytes(pb['train_bytes_layers'])} (training)")
    out.append(f"  arithmetic intensity, compulsory / layer by layer: "
               f"{_ratio(pb['flops'], pb['bytes_min'])} / {_ratio(pb['flops'], pb['bytes_layers'])} FLOP/byte "
               f"(inference), {_ratio(pb['train_flops'], pb['train_bytes_min'])} / "
               f"{_ratio(pb['train_flops'], pb['train_bytes_layers'])} FLOP/byte (training)")
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
        out.append(node_table(c, costmod.fused_groups(c), limit, times=times))
    out.append("")
    out.append("Per runtime (t = fixed + per-sample x batch, fitted over batch sizes "
               f"{', '.join(map(str, report.get('fit_batches') or []))}; {report.get('blocks', 1)} blocks each; "
               "fixed % with its 95 % bootstrap interval over blocks, n.r. = not resolved at these batch sizes):")
    head = ["runtime", "time/batch", "fixed", "per sample", "fixed %", "R²", "GFLOP/s", "of peak", "FLOP/B min",
            "FLOP/B layers", "verdict"]
    rows = []
    for m in ms:
        f = m.get("fit") or {}
        ok = f.get("available")
        shown = ok and fitmod.resolved(m.get("fixed_fraction"), m.get("fixed_fraction_ci95"))
        rows.append([_label(m), _ms(m["median_s"]), _ms(f["fixed_s"]) if shown else "n.r." if ok else "-",
                     _ms(f["per_sample_s"]) if ok else "-",
                     _share_cell(m.get("fixed_fraction"), m.get("fixed_fraction_ci95")) if ok else "-",
                     f"{f['r2']:.3f}" if ok else "-",
                     f"{m['achieved_gflops']:.2f}" if m.get("achieved_gflops") is not None else "-",
                     _pct(m.get("fraction_of_peak")),
                     f"{m['arithmetic_intensity']:.1f}" if m.get("arithmetic_intensity") else "-",
                     f"{m['arithmetic_intensity_layers']:.1f}" if m.get("arithmetic_intensity_layers") else "-",
                     m.get("verdict") or "-"])
    out.append(render_table(head, rows) if rows else "(nothing measured)")
    for s in report.get("skipped", []):
        out.append(f"  skipped {s.get('runtime')} {s.get('task', '')}: {s['reason']}".replace("  :", ":"))
    if ms:
        out.append("")
        out.append("Verdicts (fixed-cost-bound if fixed % >= 50; else compute-/memory-bound if the per-sample time is "
                   "within 4x of the larger of compute and layer traffic per sample; else below-roofline):")
        for m in ms:
            f = m.get("fit") or {}
            out.append(f"  {_label(m)}: {m.get('verdict') or '-'}")
            out.append(f"      fit: {fitmod.describe(f)}")
            out.append(f"      rule: {m.get('verdict_rule') or '-'}")
    from xbench.explain.results import render_epochs

    out += render_epochs(report.get("epochs") or [])
    if report.get("dominant_layers"):
        out.append("")
        out.append("Dominating layers:")
        for d in report["dominant_layers"]:
            out.append(f"  {d['runtime']}: {d['layer']} - {_pct(d['share_of_time'])} of the time, "
                       f"{_pct(d['share_of_macs'])} of the MACs")
    for w in report.get("warnings", []):
        out.append(f"WARNING: {w}")
    out.append("")
    out.append(_wrap(report["summary"]))
    return "\n".join(out)


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}" if b else "-"


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
