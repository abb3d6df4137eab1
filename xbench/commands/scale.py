"""Data-parallel training on one machine, timed as scaling: W workers each step on their share of the global
batch and average their gradients, for each world size. PyTorch: torchrun starts W processes running
DistributedDataParallel over gloo (NCCL with --device cuda). Keras on TensorFlow: one process, MirroredStrategy over
W logical CPU devices (Keras 3 fails under MultiWorkerMirroredStrategy; docs/scaling.md says why).

Strong scaling keeps the global batch (--batch-size) fixed; weak scaling keeps the batch per worker fixed at
--batch-size / max(world size). Unless --threads-per-worker is given, every world size uses the same total threads
(--threads, default the cores): on 2 cores, 1 worker x 2 threads against 2 workers x 1 thread. Each record keeps
the step's rounds in blocks, the all-reduce's share of the step (the same step without synchronisation) and the
scaling efficiency against world size 1 with the same total threads.

Example:  xbench scale --model seed_cnn --frameworks torch,keras --world-sizes 1,2 --json scale.json
"""

from __future__ import annotations

import sys

from xbench.commands._common import check_json_out, data_arg, model_arg, positive_int
from xbench.errors import UserError

HELP = "data-parallel training (torchrun/DDP, tf.distribute): step time, all-reduce share, scaling efficiency"
ORDER = 44
FRAMEWORKS = ("torch", "keras")


def _list(text: str, what: str, valid=None) -> list[str]:
    items = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in items if valid is not None and v not in valid]
    if not items or bad:
        raise UserError(f"{what}: {'unknown ' + ', '.join(bad) if bad else 'empty'}; valid: {', '.join(valid)}"
                        if valid else f"{what}: expected a comma-separated list, got {text!r}")
    return list(dict.fromkeys(items))


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(v) for v in _list(text, "--world-sizes")})
    except ValueError:
        sizes = []
    if not sizes or sizes[0] < 1:
        raise UserError(f"--world-sizes: expected comma-separated positive integers, e.g. 1,2, got {text!r}")
    return sizes


def add_arguments(p) -> None:
    from xbench.scale.plan import MODES

    model_arg(p)
    p.add_argument("--frameworks", default="torch", metavar="LIST", help="torch, keras or both (default: torch)")
    p.add_argument("--world-sizes", default="1,2", metavar="LIST", help="worker processes to try (default: 1,2)")
    p.add_argument("--threads-per-worker", type=positive_int, metavar="N",
                   help="intra-op threads per worker (default: the total threads divided by the world size)")
    p.add_argument("--batch-size", type=positive_int, default=128, metavar="B",
                   help="global batch of strong scaling; weak scaling gives each worker B / max(world size) "
                        "(default: 128)")
    p.add_argument("--scaling", default=",".join(MODES), metavar="LIST", help="strong, weak or both (default: both)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="cuda: one GPU per worker, PyTorch's NCCL backend (default: cpu, gloo)")
    p.add_argument("--blocks", type=positive_int, default=4, help="blocks per record, a fresh model each (default: 4)")
    p.add_argument("--passes", type=positive_int, default=2,
                   help="passes over the launches, every other one in reverse order (A B B A), the blocks shared "
                        "out over them (default: 2)")
    p.add_argument("--rounds", type=positive_int, default=10, help="timed steps per block (default: 10)")
    p.add_argument("--port", type=positive_int, metavar="P",
                   help="torchrun's rendezvous port on localhost (default: a free one; Keras needs none)")
    p.add_argument("--timeout", type=positive_int, default=600, metavar="S",
                   help="seconds per launch before its whole process group is ended (default: 600)")
    data_arg(p)
    p.add_argument("--json", required=True, metavar="PATH", help="write the results file (xbench results schema) here")


def _reason(done) -> str:
    """One line for an error record: how the launch ended and the last line that names an error."""
    import re

    if done.timed_out:
        return "the launch ran past --timeout and its process group was ended"
    how = f"killed by signal {-done.returncode}" if done.returncode < 0 else f"exit {done.returncode}"
    lines = [ln.strip() for ln in done.output.splitlines() if ln.strip()]
    named = re.compile(r"[A-Za-z]+Error\b|Exception\b|Fatal Python error|Segmentation fault")
    last = next((ln for ln in reversed(lines) if named.search(ln)), lines[-1] if lines else "no output")
    return f"a worker failed ({how}): {last[:300]}"


def run(args) -> int:
    import os
    import tempfile
    from pathlib import Path

    from xbench import machine
    from xbench.bench import threads
    from xbench.records import results_document, write_results
    from xbench.scale import efficiency, launch, plan, records

    check_json_out(args.json)
    frameworks = _list(args.frameworks, "--frameworks", FRAMEWORKS)
    modes = _list(args.scaling, "--scaling", plan.MODES)
    cores = len(os.sched_getaffinity(0))
    gpus = len(machine.gpus() or []) if args.device == "cuda" else 0
    launches = plan.plan(frameworks, _sizes(args.world_sizes), args.batch_size, cores,
                         total_threads=threads.count(), threads_per_worker=args.threads_per_worker, modes=modes,
                         device=args.device, gpus=gpus)
    if args.port:
        launch.check_port(args.port)
    import json

    runs = plan.schedule(launches, args.blocks, args.passes)
    done_docs: dict = {launch_: [] for launch_ in launches}
    failed: dict = {}
    restarts: dict = {}  # launch -> why its worker was started again (xbench.scale.launch.workers)
    load_before = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="xbench-scale-") as tmp:
        for i, (item, blocks) in enumerate(runs):
            if item in failed:
                continue
            print(f"[scale] {i + 1}/{len(runs)} {item.framework}: {item.world_size} worker(s) x "
                  f"{item.threads_per_worker} thread(s), {blocks} block(s)", file=sys.stderr)
            path = Path(tmp) / f"{i}.json"
            worker_args = ["time", "--model", args.model, "--device", item.device, "--blocks", str(blocks),
                           "--rounds", str(args.rounds), "--scaling", ",".join(f"{m}:{b}" for m, b in item.batches),
                           *(["--data", args.data] if args.data else [])]
            done = launch.workers(item.framework, item.world_size, item.threads_per_worker, worker_args, path,
                                  args.timeout, port=args.port)
            if done.retried:
                print(f"[scale] {item.framework} worker restarted: {'; '.join(done.retried)}", file=sys.stderr)
                restarts.setdefault(item, []).extend(done.retried)
            if done.returncode == 0 and path.is_file():
                done_docs[item].append(json.loads(path.read_text()))
            else:
                failed[item] = _reason(done)
                print(f"[scale] error: {failed[item]}", file=sys.stderr)
    out: list = []
    for item in launches:
        recs = (records.failed(item, args.model, failed[item]) if item in failed
                else records.measured(item, args.model, records.merge(done_docs[item])))
        for rec in recs:
            if item in restarts:
                rec.extra["worker_restarts"] = restarts[item]
        out += recs
    docs = efficiency.annotate([r.to_dict() for r in out])
    load = {"before": load_before, "after": round(os.getloadavg()[0], 2)}  # 1-minute load average
    doc = results_document(machine.collect({"scale": {"cores": cores, "loadavg": load}}), [])
    doc["records"] = docs
    write_results(args.json, doc)
    print(f"wrote {args.json}", file=sys.stderr)
    from xbench.report.doc import to_markdown
    from xbench.report.scaling import scaling_table

    table = scaling_table(docs)
    if table:
        print(to_markdown([table]))
    return 1 if any(r["status"] != "ok" for r in docs) else 0
