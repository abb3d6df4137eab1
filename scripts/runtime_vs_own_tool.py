"""OpenVINO's suite rows beside OpenVINO's own benchmark_app, in one session, on the same file, batch and threads.

    python scripts/runtime_vs_own_tool.py [--out results/runtime-vs-own-tool] [--blocks 3] [--app-seconds 10]

1. **The suite's rows**: ``pytest xbench/bench/suite --benchmark-only`` on seed_cnn's PyTorch export, OpenVINO fp32,
   batch 1 and 32, both variants (``default``: OpenVINO's documented latency call; ``dynamic``: the dict call),
   with ``--basetemp`` so the exported file stays for step 2.
2. **benchmark_app** (ships in the ``openvino`` wheel) on that file: ``-hint none -nthreads N -nstreams 1 -nireq 1
   -api sync -infer_precision f32 -shape [B,1,28,28]``; its median latency.
3. **Why the dict call depends on the process** (``--probe``): the same two calls timed in fresh processes, each
   after one kind of preparation the suite does in its timing process (import ONNX Runtime, import PyTorch, the
   PyTorch dynamo export), with the live thread count and OpenVINO's own ``InferRequest.latency``.

Writes OUT/openvino.json and OUT/openvino.md: every figure with the load average before and after it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BATCHES = (1, 32)
PROBE_MODES = ("fresh", "import_onnxruntime", "import_torch", "torch_export", "idle_threads")


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def suite_rows(tmp: Path, blocks: int, threads: int) -> dict:
    out = tmp / "suite.json"
    cmd = [sys.executable, "-m", "pytest", "xbench/bench/suite/test_inference.py", "--benchmark-only",
           "-p", "no:cacheprovider", "-q", "--basetemp", str(tmp / "pytest"), "--xbench-json", str(out),
           "--xbench-models", "seed_cnn", "--xbench-frameworks", "torch", "--xbench-runtimes", "openvino",
           "--xbench-dtypes", "float32", "--xbench-providers", "cpu", "--xbench-blocks", str(blocks),
           "--xbench-threads", str(threads),
           "-k", f"({' or '.join(f'CPU-{v}-b{b}' for v in ('default', 'dynamic') for b in BATCHES)}) and not b128"]
    load0 = _load()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"the suite's rows failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    rows = {}
    for r in json.loads(out.read_text())["records"]:
        if r["status"] == "ok":
            own = r.get("runtime_latency") or {}
            rows[f"{r['variant']}-b{r['batch_size']}"] = {
                "median_s": r["stats"]["median"], "block_medians_s": [b["median_s"] for b in r["blocks"]],
                "runtime_latency_s": own.get("median_s"), "runtime_latency_call_s": own.get("call_median_s"),
                "onnx_file": r["onnx_file"], "session": r["session"]}
    files = list((tmp / "pytest").rglob("seed_cnn.torch.onnx"))
    return {"command": " ".join(cmd[1:]), "load_before": load0, "load_after": _load(), "rows": rows,
            "file": str(files[0]) if files else None}


def benchmark_app(path: str, batch: int, threads: int, seconds: int) -> dict:
    app = Path(sys.executable).with_name("benchmark_app")
    cmd = [str(app) if app.exists() else "benchmark_app", "-m", path, "-d", "CPU", "-hint", "none",
           "-nthreads", str(threads), "-nstreams", "1", "-nireq", "1", "-api", "sync", "-infer_precision", "f32",
           "-shape", f"[{batch},1,28,28]", "-t", str(seconds)]
    load0 = _load()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    found = re.search(r"Median:\s+([\d.]+)\s*(us|ms)", proc.stdout)
    if proc.returncode != 0 or not found:
        sys.exit(f"benchmark_app failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    median = float(found.group(1)) * (1e-6 if found.group(2) == "us" else 1e-3)
    return {"command": " ".join(["benchmark_app", "-m", "FILE", *cmd[3:]]), "median_s": median,
            "load_before": load0, "load_after": _load()}


PROBE = r"""
import json, os, statistics, sys, threading, time
from xbench.bench import threads
threads.configure(int(sys.argv[3]))
mode, path = sys.argv[1], sys.argv[2]
if mode == "import_onnxruntime":
    import onnxruntime
elif mode == "import_torch":
    import torch
elif mode == "torch_export":
    from xbench.data import EMBEDDED, read_npz
    from xbench.export import export
    from xbench.spec import load_spec
    export("torch", load_spec("seed_cnn"), path + ".probe.onnx", data=read_npz(EMBEDDED))
    os.unlink(path + ".probe.onnx")
elif mode == "idle_threads":
    stop = threading.Event()
    for _ in range(4):
        threading.Thread(target=stop.wait, daemon=True).start()
import numpy as np
from pathlib import Path
from xbench.runtimes.openvino import RUNTIME
x = np.random.default_rng(0).random((1, 1, 28, 28), dtype=np.float32)
out = {"threads": len(os.listdir("/proc/self/task"))}
for variant in ("default", "dynamic"):
    s = RUNTIME.load(Path(path), "CPU", "float32", variant)
    fn, _ = s.bind(x)
    for _ in range(300):
        fn()
    call, own = [], []
    for _ in range(3000):
        t0 = time.perf_counter(); fn(); call.append(time.perf_counter() - t0); own.append(s.latency())
    out[variant] = {"call_median_s": statistics.median(call), "runtime_latency_s": statistics.median(own)}
print(json.dumps(out))
"""


def probe(path: str, threads: int, repeats: int) -> dict:
    """Each mode in a fresh process, the modes interleaved ``repeats`` times (they share the machine's drift)."""
    runs: dict[str, list] = {m: [] for m in PROBE_MODES}
    load0 = _load()
    for _ in range(repeats):
        for mode in PROBE_MODES:
            proc = subprocess.run([sys.executable, "-c", PROBE, mode, path, str(threads)], cwd=ROOT,
                                  capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
            if proc.returncode != 0:
                sys.exit(f"probe {mode} failed:\n{proc.stderr[-2000:]}")
            runs[mode].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {"load_before": load0, "load_after": _load(), "runs": runs}


def _us(s) -> str:
    return "—" if s is None else f"{s * 1e6:.1f} µs"


def markdown(doc: dict) -> str:
    lines = [f"# OpenVINO: the suite's rows beside benchmark_app ({doc['created_at']})", "",
             f"Machine: {doc['machine']}; {doc['threads']} threads. Load averages (1 min) are given beside each "
             f"step: this VM is shared, so compare figures taken close together. Made by "
             f"`scripts/runtime_vs_own_tool.py`; the raw figures are in `openvino.json`.", "",
             "| Batch | benchmark_app median | suite `default` (median, blocks) | ratio | suite `dynamic` | ratio | "
             "OpenVINO's own latency in the `default` row | the same call from Python |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    rows = doc["suite"]["rows"]
    for b in BATCHES:
        app = doc["benchmark_app"][str(b)]["median_s"]
        d, y = rows.get(f"default-b{b}", {}), rows.get(f"dynamic-b{b}", {})
        blocks = ", ".join(_us(v).replace(" µs", "") for v in d.get("block_medians_s", []))
        lines.append(f"| {b} | {_us(app)} | {_us(d.get('median_s'))} ({blocks}) | "
                     f"{d['median_s'] / app:.2f}× | {_us(y.get('median_s'))} | {y['median_s'] / app:.2f}× | "
                     f"{_us(d.get('runtime_latency_s'))} | {_us(d.get('runtime_latency_call_s'))} |")
    s, a = doc["suite"], doc["benchmark_app"]
    lines += ["", f"Load: suite {s['load_before']} → {s['load_after']}; benchmark_app "
              + "; ".join(f"b{b} {a[str(b)]['load_before']} → {a[str(b)]['load_after']}" for b in BATCHES) + ".", "",
              f"Suite: `{s['command']}`", "", f"benchmark_app: `{a['1']['command']}` (and `-shape [32,1,28,28]`)"]
    if doc.get("probe"):
        p = doc["probe"]
        lines += ["", "## The same calls in fresh processes, after one kind of preparation each", "",
                  f"Batch 1, each mode a fresh process, modes interleaved {len(p['runs']['fresh'])} times "
                  f"(load {p['load_before']} → {p['load_after']}); medians of 3,000 calls per process.", "",
                  "| Before the session | live threads | `default` call | `dynamic` call | OpenVINO's own latency "
                  "(`dynamic`) |", "| --- | ---: | ---: | ---: | ---: |"]
        for mode, runs in p["runs"].items():
            cell = lambda k, v: " / ".join(_us(r[v][k]).replace(" µs", "") for r in runs) + " µs"  # noqa: E731
            lines.append(f"| {mode.replace('_', ' ')} | {' / '.join(str(r['threads']) for r in runs)} | "
                         f"{cell('call_median_s', 'default')} | {cell('call_median_s', 'dynamic')} | "
                         f"{cell('runtime_latency_s', 'dynamic')} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "results" / "runtime-vs-own-tool"))
    ap.add_argument("--blocks", type=int, default=3)
    ap.add_argument("--app-seconds", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--probe-repeats", type=int, default=2, help="0: skip the fresh-process probe")
    args = ap.parse_args()
    if args.blocks < 1 or args.app_seconds < 1 or args.threads < 1 or args.probe_repeats < 0:
        print("runtime_vs_own_tool: --blocks, --app-seconds and --threads must be >= 1, --probe-repeats >= 0",
              file=sys.stderr)
        return 2
    import tempfile

    sys.path.insert(0, str(ROOT))
    from xbench import machine
    from xbench.paths import atomic_write_text

    with tempfile.TemporaryDirectory() as tmp:
        suite = suite_rows(Path(tmp), args.blocks, args.threads)
        if not suite["file"]:
            sys.exit("the suite's export was not found under its --basetemp")
        app = {str(b): benchmark_app(suite["file"], b, args.threads, args.app_seconds) for b in BATCHES}
        found = probe(suite["file"], args.threads, args.probe_repeats) if args.probe_repeats else None
    doc = {"created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine.current(),
           "threads": args.threads, "suite": suite, "benchmark_app": app, "probe": found,
           "ratio_default_b1": suite["rows"]["default-b1"]["median_s"] / app["1"]["median_s"]}
    doc = json.loads(json.dumps(doc).replace(tmp, "$TMP"))  # no path of this machine in a committed file
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "openvino.json", json.dumps(doc, indent=1) + "\n")
    atomic_write_text(out / "openvino.md", markdown(doc))
    print(markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
