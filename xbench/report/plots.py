"""PNG charts, one set per machine: inference throughput against batch size, training-step time.

Uses matplotlib's object API with the Agg canvas (no pyplot, no display, no
global backend switch), so it runs headless in CI and inside other programs.
"""

from __future__ import annotations

import io
import statistics
from collections import defaultdict
from pathlib import Path

from xbench.report.data import Run, column, default_variant, median_s, slug

DPI = 110


def _machine(run: Run) -> str:
    cpu = run.env.get("cpu") or {}
    gpus = run.env.get("gpu") or []
    gpu = ", " + "; ".join(g.get("name", "GPU") if isinstance(g, dict) else str(g) for g in gpus) if gpus else ""
    return f"{run.label} ({cpu.get('model', '?')}, {cpu.get('physical_cores', '?')} cores{gpu})"


def _ok(run: Run, task: str) -> list[dict]:
    """The ok fp32 records of a task: a line or bar stands for one configuration, so lower precisions (their
    own rows in the tables and the where-should-it-run table) are not drawn into the fp32 ones."""
    return [r for r in run.records if r["task"] == task and r["status"] == "ok"
            and r.get("dtype", "float32") == "float32"]


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def inference_figure(run: Run):
    """Throughput against batch size, one line per runtime/provider (default variants), log-log: one panel per
    model, each line's colour the same in every panel, one legend beside them."""
    recs = _ok(run, "inference")
    if not recs:
        return None
    variants = defaultdict(list)
    for r in recs:
        variants[column(r)].append(r["variant"])
    models = sorted({r["model"] for r in recs})
    lines, source = defaultdict(list), {}
    for r in recs:
        col = column(r)
        if r["variant"] == default_variant(variants[col]) and r.get("throughput"):
            lines[(r["model"], col)].append((r["batch_size"], r["throughput"]))
            source[col] = (r.get("framework") or "", r["runtime"] == r.get("framework"), r["runtime"])
    if not lines:
        return None
    # colour: the framework whose model (or export) it is; line: the framework itself, ONNX Runtime or another runtime
    cols = sorted({col for _, col in lines}, key=lambda c: (source[c][0], not source[c][1], c.label))
    import matplotlib

    palette = matplotlib.colormaps["tab10"]
    fws = sorted({source[c][0] for c in cols})
    dash = {True: "-", "onnxruntime": "--"}
    style = {col: dict(color=palette(fws.index(source[col][0]) % 10),
                       linestyle=dash.get(source[col][1] or source[col][2], ":")) for col in cols}
    fig = _figure()
    fig.set_size_inches(4.2 * len(models) + 3.4, 5)
    axes = fig.subplots(1, len(models), sharey=True, squeeze=False)[0]
    for ax, model in zip(axes, models):
        batches = set()
        for col in cols:
            points = sorted(lines.get((model, col), []))
            if not points:
                continue
            batches.update(b for b, _ in points)
            ax.plot([b for b, _ in points], [t for _, t in points], marker="o", label=col.label, **style[col])
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(sorted(batches), [str(b) for b in sorted(batches)])
        ax.set_xlabel("batch size (log scale)")
        ax.set_title(model)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("throughput (samples/s, log scale)")
    handles = [matplotlib.lines.Line2D([], [], marker="o", label=c.label, **style[c]) for c in cols]
    fig.legend(handles=handles, loc="outside right center", fontsize="small")
    fig.suptitle(f"Inference throughput vs batch size\n{_machine(run)}; default variants, fp32")
    return fig


def _quartiles(rec: dict) -> tuple[float, float]:
    s = sorted(rec.get("samples_s") or [])
    if len(s) < 2:
        m = median_s(rec)
        return m, m
    q = statistics.quantiles(s, n=4, method="inclusive")
    return q[0], q[2]


def _lighten(color: str, amount: float):
    from matplotlib.colors import to_rgb

    return tuple(c + (1 - c) * amount for c in to_rgb(color))


def train_figure(run: Run):
    """Median training-step time per framework/variant, grouped by batch size, with IQR whiskers."""
    recs = _ok(run, "train_step")
    if not recs:
        return None
    models = sorted({r["model"] for r in recs})
    order = defaultdict(list)  # column -> variants, default first, then in file order
    for r in recs:
        if r["variant"] not in order[column(r)]:
            order[column(r)].append(r["variant"])
    for col, names in order.items():
        default = default_variant(names)
        names.sort(key=lambda v: v != default)
    series = defaultdict(dict)  # (column, variant rank, variant, model) -> batch -> record
    for r in recs:
        col = column(r)
        series[(col, order[col].index(r["variant"]), r["variant"], r["model"])][r["batch_size"]] = r
    batches = sorted({r["batch_size"] for r in recs})
    fig = _figure()
    ax = fig.add_subplot()
    width = 0.8 / len(series)
    hues = {col: f"C{i}" for i, col in enumerate(sorted(order))}
    for i, ((col, rank, variant, model), by_batch) in enumerate(sorted(series.items())):
        xs, ys, lo, hi = [], [], [], []
        for j, b in enumerate(batches):
            if b in by_batch:
                med = median_s(by_batch[b]) * 1e3
                q1, q3 = (q * 1e3 for q in _quartiles(by_batch[b]))
                xs.append(j + (i - (len(series) - 1) / 2) * width)
                ys.append(med)
                lo.append(max(med - q1, 0))
                hi.append(max(q3 - med, 0))
        label = f"{col.label} {variant}" + (f" · {model}" if len(models) > 1 else "")
        # One hue per framework/runtime, lighter for each tuned variant: families read at a glance.
        bars = ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, label=label,
                      color=_lighten(hues[col], 0.5 * rank / max(len(order[col]) - 1, 1)))
        ax.bar_label(bars, fmt="%.3g", fontsize="x-small", padding=2)
    ax.set_xticks(range(len(batches)), [str(b) for b in batches])
    ax.set_xlabel("batch size")
    ax.set_ylabel("median time per training step (ms)")
    ax.set_title(f"Training-step time by framework and batch size, {', '.join(models)}\n{_machine(run)}\nfp32; "
                 "whiskers: interquartile range")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def _figures(runs: list[Run]):
    for run in runs:
        for kind, make, alt in (("inference-throughput", inference_figure, "Inference throughput vs batch size"),
                                ("train-step-time", train_figure, "Training-step time")):
            fig = make(run)
            if fig is not None:
                yield f"{kind}-{slug(run.label)}.png", f"{alt} on {run.label}", fig


def write_plots(runs: list[Run], folder: Path) -> list[Path]:
    from xbench.errors import UserError

    if folder.exists() and not folder.is_dir():
        raise UserError(f"--plots {folder}: exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, _, fig in _figures(runs):
        path = folder / name
        fig.savefig(path, format="png")
        paths.append(path)
    return paths


def figures_png(runs: list[Run]) -> list[tuple[str, str, bytes]]:
    """(file name, alt text, PNG bytes) for inlining in the HTML page."""
    out = []
    for name, alt, fig in _figures(runs):
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        out.append((name, alt, buf.getvalue()))
    return out
