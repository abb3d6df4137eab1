"""Time per training step of the claim cells, in alternating blocks in one process per framework (issue 21).

usage: python scripts/claims_step_time.py FRAMEWORK --data mnist.npz --json OUT.json [--threads 1]

Steps to target do not depend on the machine's state; the time of a step does. So the claims take the steps
from the training runs and the time per step from here: one process builds the batch-32 and the batch-128
train step of ``seed_cnn`` (Adam; the learning rate does not change the work of a step, so lr 1e-3, 3e-3
and 3e-2 share the batch-32 figure) and times them in alternating blocks A B B A A B ... Each block runs
``--block-images`` training images through the step (300 steps at batch 32, 75 at batch 128 by default),
each step the way the training clock counts it (batch slice, layout conversion, ``train_step`` with its host
sync). Adjacent A and B blocks share the machine's moment, so the ratio of a pair cancels most of the load of
a shared machine; the load average before and after is recorded.

Writes a small JSON: per batch size the seconds per step of every block, and the pairs in order.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

BATCHES = (32, 128)


def loadavg() -> list[float]:
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("framework", choices=("keras", "torch"))
    ap.add_argument("--data", required=True, help="full MNIST .npz")
    ap.add_argument("--pairs", type=int, default=12, help="A/B block pairs (default 12)")
    ap.add_argument("--block-images", type=int, default=9600, help="training images per block (default 9600)")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads, as the claim runs (default 1)")
    ap.add_argument("--json", required=True)
    args = ap.parse_args()

    from xbench.bench import threads
    threads.configure(args.threads)  # before any framework is imported

    from xbench import frameworks, machine
    from xbench.data import images, load_mnist
    from xbench.training.shared_init import shared_weights
    from xbench.spec import load_spec
    from xbench.bench.cases import train_step
    from xbench.training.train import epoch_order

    spec = load_spec("seed_cnn")
    data = load_mnist(args.data, allow_download=False)
    fw = frameworks.get(args.framework)
    x_train = images(data.x_train, spec.input_shape)
    y_train = data.y_train.astype(np.int64)
    order = epoch_order(len(x_train), 0, 1)
    cells = {}
    for b in BATCHES:
        cells[b] = train_step(fw, spec, weights=shared_weights(spec, 0), lr=1e-3, optimizer="adam")
    cursor = {b: 0 for b in BATCHES}

    def block(b: int) -> float:
        """Seconds per step over one block of ``--block-images`` images at batch ``b``."""
        model, step = cells[b]
        steps = args.block_images // b
        t0 = time.perf_counter()
        for _ in range(steps):
            i = cursor[b] % (len(order) // b)
            idx = order[i * b:(i + 1) * b]
            x, y = fw.to_native(model, x_train[idx], y_train[idx])
            step(x, y)
            cursor[b] += 1
        return (time.perf_counter() - t0) / steps

    for b in BATCHES:  # warm-up: tracing, first allocations
        block(b)
    load_before = loadavg()
    pairs = []
    for k in range(args.pairs):
        first, second = BATCHES if k % 2 == 0 else BATCHES[::-1]  # A B, B A, A B, ...
        t = {first: block(first), second: block(second)}
        pairs.append({"order": [first, second], **{f"b{bb}_s_per_step": round(t[bb], 7) for bb in BATCHES}})
    doc = {
        "what": "seconds per training step of seed_cnn (Adam, shared init, seed 0) in alternating blocks, one "
                "process; a step as the training clock counts it (batch slice, layout conversion, train_step "
                "with its host sync)",
        "framework": fw.name,
        "threads": threads.count(),
        "block_images": args.block_images,
        "steps_per_block": {f"b{b}": args.block_images // b for b in BATCHES},
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu": machine.collect().get("cpu"),
        "pairs": pairs,
    }
    Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
