"""Is a call slower inside a LoadGen SingleStream callback than in a closed loop, and is it the runtime or any code?

``xbench serve`` finds the model call's p90 inside the SUT above the closed loop's of the same callable
(docs/serve.md). This check asks whether that is ONNX Runtime's or anything's: for each callable, ``--pairs`` pairs
in one process, each a closed loop of the callable (``xbench.bench.timing``, as long as one LoadGen run), then a
LoadGen SingleStream run whose SUT calls it once per query and times the call. Callables:

* ``onnxruntime``: ONNX Runtime (CPU, the suite's session settings, ``--threads`` intra-op threads) on the seed
  CNN's PyTorch export, batch 1;
* ``numpy``: a 96 x 96 float64 matmul (about as long as that call on the 2-core VM);
* ``python``: a pure-Python loop of 400 additions.

Per pair: the closed loop's p90, the call's p90 inside the SUT, LoadGen's p90. Printed and written (``--json``):
per callable the median over the pairs of (call inside the SUT - closed loop) and (LoadGen - closed loop), with
the distribution-free interval of the median (``xbench.records.stats.median_interval``; 6 pairs: [min, max],
96.9 %), and the same ratio-wise. Takes about 20 s per callable with the defaults; run it on an idle machine.

    python scripts/serve_context_check.py --json results/serve/context-check.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def callables(threads: int, onnx_path: Path, data: str | None) -> dict:
    import numpy as np

    from xbench import data as mnist
    from xbench.runtimes.onnxruntime import open_session

    sess = open_session(onnx_path, "cpu", intra_op_threads=threads)  # the suite's session settings

    image = (mnist.load_mnist(data).x_test[:1] / 255.0).astype(np.float32).reshape(1, 1, 28, 28)  # NCHW export
    feed = {sess.get_inputs()[0].name: image}
    a = np.random.default_rng(0).random((96, 96))

    def python():
        s = 0
        for i in range(400):
            s += i
        return s

    return {"onnxruntime": lambda: sess.run(None, feed), "numpy": lambda: a @ a, "python": python}


def one_pair(fn, settings, logdir: Path, name: str) -> dict:
    from xbench.records import stats
    from xbench.serve import loadgen, rows, sut

    loop = rows.closed_loop(fn, settings.min_duration_ms / 1e3, max_rounds=10**7)  # serve's pair loop
    calls: list[float] = []

    def run(indices):
        t0 = time.perf_counter()
        fn()
        calls.append(time.perf_counter() - t0)

    s = sut.Inline(run, 1)
    result, _ = loadgen.run(s.issue, s.flush, samples=1024, scenario="single-stream", settings=settings,
                            logdir=logdir, prefix=name,
                            expected_latency_s=max(loop["median_s"] / 2, rows.MIN_EXPECTED_S))
    return {"closed_loop_p90_s": loop["p90_s"], "closed_loop_calls": loop["rounds"],
            "sut_call_p90_s": stats.rank_quantile(calls, 0.9), "sut_calls": len(calls),
            "loadgen_p90_s": result.latency_s["p90"]}


def summary(pairs: list[dict]) -> dict:
    from xbench.records import stats

    out = {}
    for what, key in (("call_inside_minus_closed_loop_s", "sut_call_p90_s"),
                      ("loadgen_minus_closed_loop_s", "loadgen_p90_s")):
        d = [p[key] - p["closed_loop_p90_s"] for p in pairs]
        r = [p[key] / p["closed_loop_p90_s"] for p in pairs]
        lo, hi, cov = stats.median_interval(d)
        rlo, rhi, _ = stats.median_interval(r)
        out[what] = {"median": statistics.median(d), "interval": [lo, hi], "coverage": round(cov, 4),
                     "ratio_median": statistics.median(r), "ratio_interval": [rlo, rhi],
                     "pairs_above": sum(x > 0 for x in d)}
    out["closed_loop_p90_s"] = statistics.median(p["closed_loop_p90_s"] for p in pairs)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads (default 2, the suite's)")
    ap.add_argument("--pairs", type=int, default=6, help="closed loop / LoadGen pairs per callable (default 6)")
    ap.add_argument("--min-duration-ms", type=int, default=1000, help="each LoadGen run and closed loop (default 1000)")
    ap.add_argument("--data", help="MNIST .npz (default: xbench's search order, never a download)")
    ap.add_argument("--json", help="write the pairs and the summary here")
    args = ap.parse_args(argv)

    from xbench.bench import threads as xthreads

    xthreads.configure(args.threads)
    from xbench.serve import loadgen

    settings = loadgen.Settings(args.min_duration_ms)
    with tempfile.TemporaryDirectory(prefix="xbench-context-") as tmp:
        onnx = Path(tmp) / "seed_cnn.onnx"
        # the export in a process of its own: a PyTorch export leaves threads behind (field notes)
        subprocess.run([sys.executable, "-m", "xbench.cli", "export", "--framework", "torch", "--model", "seed_cnn",
                        "--out", str(onnx)], check=True, capture_output=True)
        fns = callables(args.threads, onnx, args.data)
        load_before = round(os.getloadavg()[0], 2)
        doc = {"what": __doc__.split("\n\n")[0], "threads": args.threads, "min_duration_ms": args.min_duration_ms,
               "created_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()), "callables": {}}
        for name, fn in fns.items():
            for _ in range(2000):  # warm
                fn()
            pairs = [one_pair(fn, settings, Path(tmp), f"{name}.{i}") for i in range(args.pairs)]
            doc["callables"][name] = {"pairs": pairs, "summary": summary(pairs)}
            s = doc["callables"][name]["summary"]
            c, g = s["call_inside_minus_closed_loop_s"], s["loadgen_minus_closed_loop_s"]
            print(f"{name:12s} closed loop p90 {s['closed_loop_p90_s'] * 1e6:6.1f} µs; call inside the SUT "
                  f"{c['median'] * 1e6:+5.1f} µs [{c['interval'][0] * 1e6:+.1f}, {c['interval'][1] * 1e6:+.1f}] "
                  f"(x{c['ratio_median']:.3f} [{c['ratio_interval'][0]:.3f}, {c['ratio_interval'][1]:.3f}], "
                  f"{c['pairs_above']} of {len(pairs)} pairs above); LoadGen {g['median'] * 1e6:+5.1f} µs "
                  f"[{g['interval'][0] * 1e6:+.1f}, {g['interval'][1] * 1e6:+.1f}]", flush=True)
        from xbench import machine

        doc["loadavg"] = {"before": load_before, "after": round(os.getloadavg()[0], 2)}
        doc["machine_id"] = machine.machine_id(machine.collect({}))
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
