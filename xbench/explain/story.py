"""The words of explain: the summary story (each claim with the number behind it) and the text rendering of a
report. Reads the report dict and the counted cost; measures nothing.
"""

from __future__ import annotations

from functools import partial

from xbench.explain import cost as costmod
from xbench.explain import fit as fitmod
from xbench.explain import roofline
from xbench.report import fmt
from xbench.report.data import FRAMEWORK_LABELS
from xbench.report.fmt import human, human_bytes
from xbench.report.text import node_table, render_table


ARTICLE_CLAIM = "billions of operations per layer"


# The report's readable names of the Keras backends explain took later; the first three runtimes keep the names
# their reports and JSON keys always had.
READABLE = {name: FRAMEWORK_LABELS[name] for name in ("keras-jax", "keras-torch")}


def readable(name: str | None) -> str | None:
    """A runtime's or framework's name as the report prints it."""
    return READABLE.get(name, name)


def label(m: dict) -> str:
    src = f" ({m['framework']} export)" if m["runtime"] == "onnxruntime" and m.get("framework") else ""
    return f"{readable(m['runtime'])}{src} {m['task']}"


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
        return f"{label(m)} {_ms(m['median_s'])} (no fit: {f.get('reason', 'not measured')})"
    fixed = (f"{_ms(f['fixed_s'])} fixed" if fitmod.resolved(m["fixed_fraction"], m.get("fixed_fraction_ci95"))
             else "a fixed cost not resolved at these batch sizes")
    return (f"{label(m)} {_ms(m['median_s'])} = {fixed} + {_ms(f['per_sample_s'])} per sample x "
            f"{m['batch_size']} (R² {f['r2']:.2f}; fixed share "
            f"{fitmod.share_text(m['fixed_fraction'], m.get('fixed_fraction_ci95'))}, "
            f"{_pct(m['fraction_of_peak'])} of peak)")


def story(report: dict, c, spec) -> str:
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
            parts.append(f"{label(m)}: {m['verdict']} ({m.get('verdict_rule')}).")
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
            below = [label(m) for m in focus if m["verdict"] == "below-roofline"]
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
            parts.append(f"One epoch as a user writes it ({readable(e['framework'])} {e['variant']}, {e['steps_per_epoch']} "
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
        rows.append([label(m), _ms(m["median_s"]), _ms(f["fixed_s"]) if shown else "n.r." if ok else "-",
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
        out.append("Verdicts (fixed-cost-bound if fixed % >= 50 over its whole interval, unresolved if the interval "
                   "straddles 50; else compute-/memory-bound if the per-sample time is within 4x of the larger of compute and layer traffic per sample; else below-roofline):")
        for m in ms:
            f = m.get("fit") or {}
            out.append(f"  {label(m)}: {m.get('verdict') or '-'}")
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
    return f"{readable(m['runtime'])} {'train f+b' if m['task'] == 'train_step' else 'inf'}"


def _wrap(text: str, width: int = 100) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))

