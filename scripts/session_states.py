"""Is an ONNX Runtime session's speed decided when it is created? (README, "Noise: the VM, per session")

Creates fresh CPU sessions of one ONNX file, 1 and 2 intra-op threads alternately,
and prints each session's median per-call time on a real MNIST test image
(300 warm-up calls, then 1,500 timed). Run it several times: on this project's
2-vCPU VM a 2-thread session of seed_cnn at batch 1 runs about 13 or about 25 us
and keeps that speed for its whole life; 1-thread sessions run about 12.5 us.

    python scripts/session_states.py [--onnx FILE] [--sessions 3] [--processes 8]

Without --onnx it exports seed_cnn from PyTorch (seed 0) to a temporary file first.
Run it on an idle machine; it takes a few seconds per process.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_process(path: str, sessions: int) -> str:
    import numpy as np

    from xbench.data import batch, load_mnist
    from xbench.runtimes.onnxruntime import open_session

    x, _ = batch(load_mnist(None), (28, 28, 1), 1, split="test")
    out = []
    for _ in range(sessions):
        for threads in (1, 2):
            sess = open_session(path, "cpu", intra_op_threads=threads)  # the suite's settings, this thread count
            name = sess.get_inputs()[0].name
            feed = {name: np.ascontiguousarray(x.reshape([1] + [d or 1 for d in sess.get_inputs()[0].shape[1:]]),
                                               dtype=np.float32)}
            for _ in range(300):
                sess.run(None, feed)
            times = []
            for _ in range(1500):
                t = time.perf_counter()
                sess.run(None, feed)
                times.append(time.perf_counter() - t)
            out.append(f"{threads} thread{'s' if threads > 1 else ' '} {statistics.median(times) * 1e6:5.1f} us")
    return "  |  ".join(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--onnx", help="ONNX file with a (N, 1, 28, 28) or (N, 28, 28, 1) input (default: export seed_cnn)")
    p.add_argument("--sessions", type=int, default=3, help="sessions per thread count in each process (default: 3)")
    p.add_argument("--processes", type=int, default=8, help="fresh processes, one after the other (default: 8)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(one_process(args.onnx, args.sessions), flush=True)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = args.onnx
        if not path:
            path = str(Path(tmp) / "seed_cnn.torch.onnx")
            subprocess.run([sys.executable, "-m", "xbench.cli", "export", "--framework", "torch", "--out", path],
                           check=True, capture_output=True)
        for i in range(args.processes):
            proc = subprocess.run([sys.executable, __file__, "--child", "--onnx", path, "--sessions",
                                   str(args.sessions)], capture_output=True, text=True)
            print(f"process {i + 1}: {proc.stdout.strip() or proc.stderr.strip().splitlines()[-1]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
