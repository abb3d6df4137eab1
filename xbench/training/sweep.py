"""Does time scale with arithmetic? Generated CNNs over input size, channels and depth.

Each point is a spec built in memory (``ModelSpec.from_dict``): ``depth`` 3x3 'same'
convolutions of ``channels`` filters with ReLU on a ``size`` x ``size`` x 1 input,
then global average pooling and a softmax Dense(10). One axis varies at a time
around the base point. Each spec is exported from PyTorch and counted, then timed:
ONNX Runtime inference (forward FLOPs), the PyTorch eager train step and the Keras
train step (training FLOPs), on real MNIST digits scaled to the input size.

The fit is log10(time) = slope * log10(FLOPs) + c per runtime: a slope near 1 means
time grows in proportion to the arithmetic (compute-bound); well below 1 means a fixed
per-step cost dominates (`xbench explain` fits that fixed cost: fixed-cost-bound).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

BASE = {"size": 28, "channels": 32, "depth": 2}
AXES = {"size": (14, 28, 56), "channels": (8, 16, 32, 64), "depth": (1, 2, 3, 4)}
RUNTIMES = ("onnxruntime", "torch", "keras")


def sweep_spec(size: int, channels: int, depth: int):
    from xbench.spec import ModelSpec

    conv = {"type": "conv2d", "filters": channels, "kernel_size": 3, "padding": "same", "activation": "relu"}
    return ModelSpec.from_dict({
        "name": f"sweep_s{size}_c{channels}_d{depth}",
        "description": f"xbench sweep: {depth} x conv3x3({channels}, same, relu) on {size}x{size}x1, GAP, Dense(10)",
        "input_shape": [size, size, 1],
        "layers": [dict(conv) for _ in range(depth)] + [{"type": "globalavgpool2d"},
                                                         {"type": "dense", "units": 10, "activation": "softmax"}],
    }, source="sweep")


def points(axes: dict = AXES, base: dict = BASE) -> list[dict]:
    seen, out = set(), []
    for axis, values in axes.items():
        for v in values:
            p = {**base, axis: v}
            key = (p["size"], p["channels"], p["depth"])
            if key not in seen:
                seen.add(key)
                out.append({**p, "axis": axis})
    return out


def run_sweep(pts: list[dict], batch: int, runtimes=RUNTIMES, data=None, budget_s: float = 0.5, log=None) -> list[dict]:
    from xbench import data as mnist
    from xbench import frameworks
    from xbench.bench.timing import time_calls
    from xbench.explain import cost as costmod
    from xbench.explain.profiles import median
    from xbench.export import export, onnx_input
    from xbench.runtimes.onnxruntime import open_session
    from xbench.bench.cases import fresh_model, train_step

    data = data or mnist.load_mnist(allow_download=False)
    rows = []
    with tempfile.TemporaryDirectory(prefix="xbench-sweep-") as tmp:
        for i, p in enumerate(pts):
            spec = sweep_spec(p["size"], p["channels"], p["depth"])
            if log:
                log(f"[{i + 1}/{len(pts)}] {spec.name}")
            x, y = mnist.batch(data, spec.input_shape, batch, split="train")
            torch_fw = frameworks.get("torch")
            model = fresh_model(torch_fw, spec)  # initialised weights: time does not depend on them
            path = Path(tmp) / f"{spec.name}.onnx"
            export("torch", spec, path, model=model, data=data)
            c = costmod.count_file(path, batch_size=batch)
            base = {**p, "model": spec.name, "batch_size": batch, "macs_per_sample": c.macs_per_sample,
                    "forward_flops": c.flops, "train_flops": c.train_flops}
            if "onnxruntime" in runtimes:
                session = open_session(path, "CPUExecutionProvider")
                feed = {session.get_inputs()[0].name: onnx_input(torch_fw, x)}
                s = time_calls(lambda: session.run(None, feed), budget_s, min_rounds=5)
                rows.append({**base, "runtime": "onnxruntime", "task": "inference", "flops": c.flops,
                             "median_s": median(s), "rounds": len(s)})
            if "torch" in runtimes:
                _, step = train_step(torch_fw, spec, model=model, variant="eager")
                xn, yn = torch_fw.to_native(model, x, y)
                s = time_calls(lambda: step(xn, yn), budget_s, min_rounds=3)
                rows.append({**base, "runtime": "torch", "task": "train_step", "flops": c.train_flops,
                             "median_s": median(s), "rounds": len(s)})
            if "keras" in runtimes:
                keras_fw = frameworks.get("keras")
                km, step = train_step(keras_fw, spec, variant="default")
                xn, yn = keras_fw.to_native(km, x, y)
                s = time_calls(lambda: step(xn, yn), budget_s, min_rounds=3)
                rows.append({**base, "runtime": "keras", "task": "train_step", "flops": c.train_flops,
                             "median_s": median(s), "rounds": len(s)})
    return rows


def fit(rows: list[dict]) -> dict[str, dict]:
    """Per runtime: slope and intercept of log10(time) against log10(FLOPs)."""
    import numpy as np

    out = {}
    for rt in dict.fromkeys(r["runtime"] for r in rows):
        pts = [(r["flops"], r["median_s"]) for r in rows if r["runtime"] == rt and r["flops"] > 0 and r["median_s"] > 0]
        if len(pts) < 2:
            continue
        lx = np.log10([p[0] for p in pts])
        ly = np.log10([p[1] for p in pts])
        slope, icpt = np.polyfit(lx, ly, 1)
        pred = slope * lx + icpt
        ss = float(((ly - ly.mean()) ** 2).sum())
        r2 = 1 - float(((ly - pred) ** 2).sum()) / ss if ss > 0 else None
        task = next(r["task"] for r in rows if r["runtime"] == rt)
        out[rt] = {"slope": float(slope), "intercept": float(icpt), "r2": r2, "points": len(pts), "task": task}
    return out


def plot(rows: list[dict], fits: dict, path, peak_gflops: float | None = None, batch: int | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(11, 5.5))
    markers = {"size": "o", "channels": "s", "depth": "^"}
    colors = {}
    for i, rt in enumerate(fits):
        colors[rt] = f"C{i}"
        f = fits[rt]
        mine = [r for r in rows if r["runtime"] == rt]
        for axis, marker in markers.items():
            pts = [r for r in mine if r["axis"] == axis]
            if pts:
                ax.scatter([r["flops"] for r in pts], [r["median_s"] for r in pts], color=colors[rt], marker=marker,
                           s=36, alpha=0.85, edgecolor="black", linewidth=0.4)
        xs = np.logspace(math.log10(min(r["flops"] for r in mine)), math.log10(max(r["flops"] for r in mine)), 50)
        ax.plot(xs, 10 ** (f["slope"] * np.log10(xs) + f["intercept"]), color=colors[rt],
                label=f"{rt} {f['task']}: slope {f['slope']:.2f}" + (f" (R² {f['r2']:.2f})" if f["r2"] is not None else ""))
    if peak_gflops:
        lo = min(r["flops"] for r in rows)
        hi = max(r["flops"] for r in rows)
        xs = np.logspace(math.log10(lo), math.log10(hi), 20)
        ax.plot(xs, xs / (peak_gflops * 1e9), "k--", linewidth=1,
                label=f"machine fp32 matmul peak {peak_gflops:.0f} GFLOP/s (slope 1)")
    for axis, marker in markers.items():
        ax.scatter([], [], color="grey", marker=marker, label=f"varying {axis}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("counted FLOPs per batch (2 x MACs; training FLOPs for train steps)")
    ax.set_ylabel("measured time per batch (s, median)")
    ax.set_title(f"xbench sweep: time vs counted work" + (f" (batch {batch})" if batch else ""))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
