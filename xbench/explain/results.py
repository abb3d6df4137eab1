"""Fixed and per-sample cost, and the verdict, for the records of a results file (``xbench explain --results``).

Records that differ only in their batch size are one series; a series measured at three or more batch sizes
gets the fit ``t = a + b * batch`` (from each record's headline median, with bootstrap intervals over the
records' block medians) and every record in it a verdict by
the rules of :mod:`xbench.explain.verdict`, with the counted FLOPs and layer-by-layer bytes the benchmark run
stored in the record's ``cost``. A series with fewer batch sizes (the suite's train steps run at 32 and 128)
says why it has no fit. ``train_epoch`` records are set against the sum of their steps. Imports no ML framework.
"""

from __future__ import annotations

from xbench.explain import fit as fitmod
from xbench.explain import roofline
from xbench.explain import verdict as verdictmod
from xbench.records import IDENTITY
from xbench.report import fmt

SERIES = tuple(k for k in IDENTITY if k != "batch_size")


def explain_results(doc: dict, source: str = "results") -> dict:
    ceiling = (doc.get("env") or {}).get("ceiling") or {}
    ok = [r for r in doc["records"] if r.get("status") == "ok" and (r.get("stats") or {}).get("median")]
    series: dict[tuple, list[dict]] = {}
    for r in ok:
        series.setdefault(tuple(r.get(k) for k in SERIES), []).append(r)
    peaks: dict[str, tuple[dict | None, dict | None]] = {}
    for dev in dict.fromkeys(r["provider"] for r in ok):
        peak = roofline.device_ceiling(ceiling, dev)
        achieved = [r["achieved_gflops"] for r in ok if r["provider"] == dev and r.get("achieved_gflops")]
        peaks[dev] = roofline.raise_peak(peak, achieved) if peak else (None, None)
    out = []
    for key, recs in series.items():
        recs = sorted(recs, key=lambda r: r["batch_size"])
        points = {r["batch_size"]: r["stats"]["median"] for r in recs}
        blocks = {r["batch_size"]: block_medians(r) for r in recs}
        peak, raised = peaks[recs[0]["provider"]]
        rows = []
        for r in recs:
            f = fitmod.fit(points, r["batch_size"], blocks=blocks)
            cost = r.get("cost") or {}
            row = {"batch_size": r["batch_size"], "median_s": r["stats"]["median"], "fit": f,
                   "fixed_s": f.get("fixed_s") if f.get("available") else None,
                   "per_sample_s": f.get("per_sample_s") if f.get("available") else None,
                   "fixed_fraction": f.get("fixed_fraction") if f.get("available") else None,
                   "fixed_fraction_ci95": f.get("fixed_fraction_ci95") if f.get("available") else None}
            if "flops_per_batch" in cost:
                j = verdictmod.judge(median_s=r["stats"]["median"], batch=r["batch_size"],
                                     flops=cost["flops_per_batch"],
                                     bytes_layers=cost.get("bytes_layers_per_batch") or cost.get("bytes_min_per_batch") or 0,
                                     peak=peak, fit=f, complete=cost.get("complete", True))
                row["verdict"], row["verdict_rule"] = j["verdict"], j["rule"]
                if peak:
                    row["fraction_of_peak"] = round(min(1.0, cost["flops_per_batch"] / r["stats"]["median"] / 1e9
                                                        / peak["matmul_gflops"]), 4)
            else:
                row["verdict"], row["verdict_rule"] = None, "no counted cost in this record: no verdict"
            rows.append(row)
        entry = {**dict(zip(SERIES, key)), "batch_sizes": list(points), "rows": rows,
                 "fit": fitmod.fit(points)}
        if raised:
            entry["ceiling_raised"] = raised
        out.append(entry)
    epochs = epoch_vs_steps(doc)
    return {"source": source, "series": out, "epochs": epochs}


def block_medians(record: dict) -> list[float]:
    """The median of each block a record kept (``blocks[].median_s``); empty where it kept none."""
    return [b["median_s"] for b in record.get("blocks") or [] if b.get("median_s")]


def epoch_vs_steps(doc: dict) -> list[dict]:
    """Each ``train_epoch`` record against the sum of its steps: ``steps_per_epoch`` x the median of the
    matching ``train_step`` record (same model, framework, device, batch, dtype) from the same file."""
    ok = [r for r in doc["records"] if r.get("status") == "ok" and (r.get("stats") or {}).get("median")]
    def key(r: dict) -> tuple:
        return r["model"], r.get("framework"), r["provider"], r["batch_size"], r.get("dtype", "float32")

    steps = {key(r): r for r in ok if r["task"] == "train_step" and r["variant"] in ("default", "eager")}
    out = []
    for r in ok:
        if r["task"] != "train_epoch":
            continue
        step = steps.get(key(r))  # same precision: a bf16 step is not an fp32 epoch's step
        out.append(epoch_row(r.get("framework"), r["variant"], r["model"], r["provider"], r["batch_size"],
                             r["stats"]["median"], r.get("steps_per_epoch"), step["stats"]["median"] if step else None,
                             r.get("images_per_s"), "no train_step record at this batch in the file",
                             epoch_blocks=block_medians(r), step_blocks=block_medians(step) if step else None))
    return out


def epoch_row(framework, variant, model, provider, batch_size, epoch_s, steps, step_s, images_per_s=None,
              no_step="no train step measured at this batch", *, epoch_blocks=None, step_blocks=None) -> dict:
    """One epoch against ``steps`` x the median train step at the same batch: the loop's own cost, with the
    bootstrap interval of its share where both sides kept two or more blocks (``epoch_blocks``: one time per
    epoch block; ``step_blocks``: the step's block medians)."""
    row = {"framework": framework, "variant": variant, "model": model, "provider": provider,
           "batch_size": batch_size, "epoch_s": epoch_s, "steps_per_epoch": steps, "images_per_s": images_per_s}
    if step_s and steps:
        row["step_s"] = step_s
        row["sum_of_steps_s"] = steps * step_s
        row["loop_s"] = epoch_s - row["sum_of_steps_s"]
        row["loop_fraction"] = round(row["loop_s"] / epoch_s, 4)
        ci = fitmod.loop_interval(epoch_blocks, step_blocks, steps) if epoch_blocks and step_blocks else None
        if ci:
            row["loop_fraction_ci95"] = ci
        row["loop_resolved"] = fitmod.resolved(row["loop_fraction"], ci)
    else:
        row["sum_of_steps_s"] = None
        row["reason"] = no_step if steps else "the record has no steps_per_epoch"
    return row


def render_epochs(epochs: list[dict]) -> list[str]:
    from xbench.explain.story import readable
    from xbench.report.text import render_table

    if not epochs:
        return []
    rows = [[f"{readable(e['framework'])} {e['variant']} {e['model']}", str(e["batch_size"]),
             fmt.duration(e["epoch_s"], down_to="µs"), str(e["steps_per_epoch"] or "-"),
             fmt.duration(e["sum_of_steps_s"], down_to="µs") if e.get("sum_of_steps_s") else "-",
             fmt.duration(e["loop_s"], down_to="µs") if e.get("sum_of_steps_s") else "-",
             loop_share(e) if e.get("sum_of_steps_s") else e.get("reason", "-")]
            for e in epochs]
    return ["", "One epoch against the sum of its steps (train_epoch vs steps_per_epoch x train_step median; "
                "share with its 95 % bootstrap interval over blocks):",
            render_table(["loop", "batch", "epoch", "steps", "sum of steps", "loop's own", "share"], rows)]


def loop_share(e: dict) -> str:
    """The loop's own share of an epoch row as a reader should see it: a digit with its interval, or not resolved."""
    return fitmod.share_text(e["loop_fraction"], e.get("loop_fraction_ci95"), fitmod.NOT_RESOLVED_LOOP)


def render(report: dict) -> str:
    from xbench.report.text import render_table

    out = [f"xbench explain --results {report['source']}: fixed and per-sample cost per series "
           "(t = fixed + per-sample x batch, from each record's median)"]
    for s in report["series"]:
        label = (f"{s['task']} {s['model']} {s['runtime']}"
                 + (f" ({s['framework']} export)" if s["runtime"] == "onnxruntime" and s.get("framework") else "")
                 + f" {s['provider']} {s['variant']}")
        out.append("")
        out.append(f"{label}: {fitmod.describe(s['fit'])}")
        if s.get("ceiling_raised"):
            n = s["ceiling_raised"]
            out.append(f"  (ceiling raised from {n['from_gflops']} to {n['to_gflops']} GFLOP/s: a record achieved more)")
        rows = [[str(r["batch_size"]), fmt.duration(r["median_s"], down_to="µs"),
                 fitmod.share_text(r["fixed_fraction"], r.get("fixed_fraction_ci95"))
                 if r.get("fixed_fraction") is not None else "-",
                 f"{100 * r['fraction_of_peak']:.1f}%" if r.get("fraction_of_peak") is not None else "-",
                 r.get("verdict") or "-"] for r in s["rows"]]
        out.append(render_table(["batch", "median", "fixed %", "of peak", "verdict"], rows))
        for r in s["rows"]:
            out.append(f"  b{r['batch_size']}: {r['verdict_rule']}")
    out += render_epochs(report["epochs"])
    return "\n".join(out)
