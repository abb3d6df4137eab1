"""Why is it slow? Counted work, the machine's ceiling, fixed vs per-sample cost and per-layer time, for one model.

``explain_spec`` (a model from models/) counts the PyTorch export (and checks
that the Keras export counts the same), then times, on real MNIST batches and
at several batch sizes (blocks, each with a fresh model or session): ONNX
Runtime inference of both exports (with ORT's per-node profile), the PyTorch
eager train step (with ``torch.profiler`` per layer, forward and backward) and
the Keras ``train_on_batch`` step (with per-layer timing), plus the native
inference calls. Keras on another backend (``keras-jax``, ``keras-torch``) is measured the same way in a
process of its own (``child``) and merged before the verdicts. Each gets ``t = fixed + per_sample x batch`` fitted and a
verdict by the rules of :mod:`xbench.explain.verdict`. ``explain_onnx`` does the
ONNX Runtime part for any ONNX file. The timing harness is :mod:`~xbench.explain.measure`; the words and
the text of the report (a JSON-ready dict) are :mod:`~xbench.explain.story`.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from xbench.explain import cost as costmod
from xbench.explain import fit as fitmod
from xbench.explain import profiles, roofline
from xbench.explain.measure import (busy_warning, epoch_measurement, infer_factory, measure_scaling, measurement,
                                    say, train_factory)
from xbench.explain.story import label, story

RUNTIMES = ("onnxruntime", "torch", "keras", "keras-jax", "keras-torch")
DEFAULT_RUNTIMES = ("onnxruntime", "torch", "keras")
KERAS_RUNTIMES = ("keras", "keras-jax", "keras-torch")  # Keras on TensorFlow, JAX, PyTorch: one backend per process
CEILING_ENV = "XBENCH_EXPLAIN_CEILING_FILE"  # set for a Keras backend's process: the parent's measured ceiling


# ---- a spec model ---------------------------------------------------------------------------------------------------

def explain_spec(spec, batch: int = 32, runtimes=DEFAULT_RUNTIMES, device: str = "cpu", data=None,
                 budget_s: float = 1.0, log=None, blocks: int = 3, batches: list[int] | None = None,
                 child=None) -> dict:
    """``child(runtime, batches)``: the JSON report of ``xbench explain`` run for that Keras runtime alone in a process
    of its backend (the CLI's :mod:`xbench.commands._backend_child`); its measurements join this report before the
    verdicts, as if measured here. Without it, a Keras backend other than this process's is skipped with why."""
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
    elsewhere = _delegated([r for r in runtimes if r in KERAS_RUNTIMES]) if child is not None else {}
    for name in [r for r in runtimes if r in KERAS_RUNTIMES and r not in elsewhere]:
        try:
            frameworks.get(name).device_reason(device)
        except ImportError as exc:  # a machine with PyTorch and ONNX Runtime only: explain what is there
            report["skipped"].append({"runtime": name, "reason": f"Keras is not installed here ({exc})"})
            runtimes = [r for r in runtimes if r != name]
    tmp = tempfile.TemporaryDirectory(prefix="xbench-explain-")
    workdir = Path(tmp.name)
    try:
        # counting: the PyTorch export is the reference; the Keras export must count the same
        # (Keras on TensorFlow only in a TensorFlow process: elsewhere it is its child's runtime)
        fw_names = ["torch"] + (["keras"] if "keras" in runtimes and "keras" not in elsewhere else [])
        costs, files = {}, {}
        for name in fw_names:
            fw = frameworks.get(name)
            say(log, f"building and exporting {spec.name} from {fw.display} to ONNX")
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
            say(log, f"timing {what} at batch sizes {', '.join(map(str, batches))} ({blocks} blocks, fresh each)")
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
                report["measurements"].append(measurement(
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
                    make_torch_train = train_factory(fw, spec, "eager", device, train_data, native=("eager",))
                    sc = scaling(make_torch_train, "the PyTorch eager train step", train=True)
                    sc["optimizer"] = make_torch_train.optimizer
                    say(log, "profiling the PyTorch train step (torch.profiler)")
                    model, step = train_step(fw, spec, variant="eager", device=device)
                    xn, yn = fw.to_native(model, x_train, y_train, device, "eager")
                    prof = profiles.torch_train_profile(model, spec, step, xn, yn, steps=3, device=device)
                    m = measurement("torch", "torch", device, "train_step", "eager", batch, sc, *trn)
                    # profiled times, scaled to the unprofiled step so they add up to it (shares unchanged)
                    scale = m["median_s"] / prof["step_s"] if prof["step_s"] else 1.0
                    m.update(per_layer_s=[scale * (l["forward_s"] + l["backward_s"]) for l in prof["layers"]],
                             per_layer_split=prof["layers"], other_s={k: scale * v for k, v in prof["buckets_s"].items()},
                             profile={"clock": "torch.profiler " + prof["clock"] + " time, scaled to the measured step",
                                      "step_s": prof["step_s"], "scale": scale, "note": prof["note"]})
                    report["measurements"].append(m)
                    report["epochs"].append(epoch_measurement(fw, spec, device, data, batch, m, blocks, log))
                else:
                    report["skipped"].append({"runtime": "torch", "task": "train_step",
                                              "reason": f"{spec.name} has no classifier head: there is no loss to train"})

                make_torch_infer = infer_factory(fw, spec, "eager", device, test_data, native=("eager",))
                sc = scaling(make_torch_infer, "PyTorch eager inference")
                report["measurements"].append(measurement("torch", "torch", device, "inference", "eager", batch, sc,
                                                           *fwd))

        # Keras on this process's backend: train_on_batch, per-layer timing, predict_on_batch; on another
        # backend: the same in a process of its own, merged here
        for name in [r for r in KERAS_RUNTIMES if r in runtimes]:
            if name in elsewhere:
                _merge_child(report, name, elsewhere[name], child, batches, log)
            else:
                _keras_here(report, frameworks.get(name), spec, device, batch, train_data, test_data,
                            (x_train, y_train), data, trainable, trn, fwd, blocks, scaling, log)
    finally:
        tmp.cleanup()
    _finish(report, ref, spec)
    return report


def _keras_here(report, fw, spec, device, batch, train_data, test_data, train_batch, data, trainable, trn, fwd,
                blocks, scaling, log) -> None:
    """One Keras framework in this process: its train_on_batch step (with per-layer times on TensorFlow; the other
    backends' records say why not, ``NO_LAYER_TIMES``), one ``model.fit`` epoch and predict_on_batch."""
    from xbench.bench.cases import fresh_model

    name = fw.name
    x_train, y_train = train_batch
    reason = fw.device_reason(device)
    if reason:
        report["skipped"].append({"runtime": name, "reason": reason})
        return
    if trainable:
        make_keras_train = train_factory(fw, spec, "default", device, train_data)
        sc = scaling(make_keras_train, f"the {fw.display} train_on_batch step", train=True)
        sc["optimizer"] = make_keras_train.optimizer
        m = measurement(name, name, device, "train_step", "default", batch, sc, *trn)
        if fw.backend == "tensorflow":
            say(log, "timing each Keras layer alone (forward, forward + gradients), less an empty call")
            model = fresh_model(fw, spec, device=device)
            lt = profiles.keras_layer_times(model, spec, x_train, device=device)
            per = [l["forward_s"] + l["backward_s"] for l in lt["layers"]]
            rest = m["median_s"] - sum(per)
            m.update(per_layer_s=per if len(per) == len(spec.layers) else None, per_layer_split=lt["layers"],
                     other_s={"rest of train_on_batch (loss, Adam, Keras step machinery)": max(0.0, rest)},
                     profile={"clock": "per-layer timing, each layer alone, less an empty call's cost",
                              "empty_call_s": lt.get("empty_call_s"), "note": lt["note"],
                              "layers_sum_s": sum(per), "layers_exceed_step_by_s": max(0.0, -rest)})
        elif fw.backend == "torch":
            _keras_torch_layers(m, fw, spec, device, x_train, y_train, log)
        else:
            m.update(per_layer_s=None, profile={"clock": None, "note": NO_LAYER_TIMES.get(fw.backend, "")})
        report["measurements"].append(m)
        report["epochs"].append(epoch_measurement(fw, spec, device, data, batch, m, blocks, log))
    else:
        report["skipped"].append({"runtime": name, "task": "train_step",
                                  "reason": f"{spec.name} has no classifier head: there is no loss to train"})

    make_keras_infer = infer_factory(fw, spec, "default", device, test_data)
    sc = scaling(make_keras_infer, f"{fw.display} predict_on_batch")
    report["measurements"].append(measurement(name, name, device, "inference", "default", batch, sc, *fwd))


# Why a Keras backend's train step has no per-layer times (the fit and the verdict do not need them).
NO_LAYER_TIMES = {
    "jax": "no per-layer times: the step is one jax.jit (XLA) program whose layers XLA fuses, and the per-layer "
           "timing used for Keras on TensorFlow (each layer alone in a tf.function) is TensorFlow's; "
           "the fixed/per-sample fit is over the whole step",
}


def _keras_torch_layers(m: dict, fw, spec, device: str, x, y, log) -> None:
    """Keras on PyTorch: its train_on_batch step under ``torch.profiler`` with a range per Keras layer, as the
    PyTorch step is profiled; the profiled times scaled to the unprofiled step (shares unchanged)."""
    from xbench.bench.cases import train_step

    say(log, f"profiling the {fw.display} train step (torch.profiler, a range per Keras layer)")
    model, step = train_step(fw, spec, variant="default", device=device)
    xn, yn = fw.to_native(model, x, y, device)
    prof = profiles.torch_train_profile(model, spec, step, xn, yn, steps=3, device=device,
                                        ranges=profiles.keras_layer_ranges)
    scale = m["median_s"] / prof["step_s"] if prof["step_s"] else 1.0
    per = [scale * (l["forward_s"] + l["backward_s"]) for l in prof["layers"]]
    b = prof["buckets_s"]
    m.update(per_layer_s=per if len(per) == len(spec.layers) else None, per_layer_split=prof["layers"],
             other_s={"loss": scale * b["loss"],
                      "rest of train_on_batch (Adam, Keras step machinery)": max(0.0, m["median_s"] - sum(per)
                                                                                  - scale * b["loss"])},
             profile={"clock": "torch.profiler " + prof["clock"] + " time, a range per Keras layer, scaled to the "
                               "measured step", "step_s": prof["step_s"], "scale": scale, "note": prof["note"]})


def _delegated(names: list[str]) -> dict[str, str]:
    """Keras runtime -> backend, of those that run in a process of their own (the suite's rule)."""
    from xbench.bench.backends import delegated

    return delegated(names)


# What a child's report adds to this one; everything derived (roofline fields, verdicts, layer times by runtime,
# dominant layers, the story) is computed again here over all measurements, under this report's ceiling.
MERGED_KEYS = ("measurements", "epochs", "skipped")


def _merge_child(report: dict, name: str, backend: str, child, batches: list[int], log) -> None:
    """``name``'s measurements from its own process (KERAS_BACKEND=backend); its failure is this runtime's skip line
    with the reason, never the whole command's."""
    say(log, f"{name} runs in its own process (KERAS_BACKEND={backend})")
    try:
        doc = child(name, batches)
    except Exception as exc:  # the child's own words: its exit status and last line
        report["skipped"].append({"runtime": name, "reason": str(exc) or type(exc).__name__})
        return
    merge_child_report(report, doc, name, backend)


def merge_child_report(report: dict, doc: dict, name: str, backend: str) -> None:
    """The measurements, epochs and skip lines of ``doc`` (a child's JSON report for ``name`` alone) added to
    ``report``; the child's busy-CPU warning kept, naming its process. A child that measured at other batch sizes
    or under another ceiling would not be comparable: refused with the reason, as a skip line."""
    if doc.get("fit_batches") != report["fit_batches"] or doc.get("batch_size") != report["batch_size"]:
        report["skipped"].append({"runtime": name, "reason": f"its process measured at batch sizes "
                                  f"{doc.get('fit_batches')}, not {report['fit_batches']}: not merged"})
        return
    for key in MERGED_KEYS:
        report[key] += [dict(v, process={"keras_backend": backend}) if key != "skipped" else v
                        for v in doc.get(key) or [] if key == "skipped" or v.get("framework") == name]
    for w in doc.get("warnings") or []:
        if w.startswith("the CPU was"):
            report["warnings"].append(f"in the {name} process (KERAS_BACKEND={backend}): {w}")


def _ceiling(log) -> dict:
    """The machine's ceiling: measured once per process, in a fresh subprocess (so this process's frameworks
    and warm threads do not bias it)."""
    if roofline._CEILING is None and os.environ.get(CEILING_ENV):  # a Keras backend's process: its parent's
        roofline.use(json.loads(Path(os.environ[CEILING_ENV]).read_text()))
    if roofline._CEILING is None:
        say(log, "measuring this machine's ceiling in a subprocess (<= 5 s of measuring)")
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

        say(log, f"timing ONNX Runtime ({provider}) on {path.name} at batch sizes "
                  f"{', '.join(map(str, batches))} ({blocks} blocks, a fresh session each)")
        sc = measure_scaling(make, batches, blocks, budget_s, log, f"ONNX Runtime ({provider})", fixed_reason=why,
                             chosen=b)
        t_b = sc["points"][b]
        prof = profiles.ort_profile(path, feeds, provider, runs=max(3, min(10, int(budget_s / max(t_b, 1e-6)))),
                                    model=model)
        report["measurements"].append(measurement(
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
                note["by"] = label(best)
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
        row["time_s"] = {label(m): m["per_layer_s"][i] for m in ms
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
                dominant.append({"runtime": label(m), "layer": name, "time_s": t,
                                 "share_of_time": t / total if total else None,
                                 "share_of_macs": macs / c.macs if c.macs else 0.0})
    else:
        groups = costmod.fused_groups(c)
        for m in focus:
            per = m.get("per_node_s") or {}
            total = sum(per.values()) or 1.0
            timed = [(sum(per.get(n, 0.0) for n in g["nodes"]), g) for g in groups]
            for t, g in sorted(timed, key=lambda tg: -tg[0])[:2]:
                dominant.append({"runtime": label(m), "layer": f"{g['name']} ({g['ops']})", "time_s": t,
                                 "share_of_time": t / total, "share_of_macs": g["macs"] / c.macs if c.macs else 0.0})
    report["dominant_layers"] = dominant
    report["summary"] = story(report, c, spec)


def _now() -> str:
    """When the run started (UTC): a reader tells this run from another measurement of the same call by it."""
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ---- text -----------------------------------------------------------------------------------------------------------


def to_json(report: dict) -> dict:
    return {k: v for k, v in report.items() if not k.startswith("_")}
