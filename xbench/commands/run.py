"""Run the benchmark suite with each framework in its own process, then merge the results.

Keras and PyTorch keep thread pools alive after they run (PyTorch's OpenMP
workers spin after every parallel region); in one process, whichever runs
second can find its cores busy. `xbench run` launches
`xbench bench`'s pytest command with `--xbench-frameworks NAME` once per framework, one
after the other, from the current folder, and merges the records into one results file, rewritten
after each framework finishes so an interruption keeps what completed.
Arguments after `--` go to every pytest run (e.g. -- --benchmark-max-time=0.5).

`--runs N` repeats the whole sequence N times and pools the runs (xbench.records.runs):
every benchmark then carries blocks from N runs minutes apart, the drift of the
machine that `xbench compare` needs to tell noise from a change.
(scripts/publish_baseline.sh pools its runs the same way, with xbench.records.runs.pool,
but runs the main path, one pytest process for both frameworks.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from xbench.commands._common import check_json_out, positive_int

HELP = "run the benchmark suite, one process per framework, into one results file"
ORDER = 5


def add_arguments(p) -> None:
    p.add_argument("--json", metavar="PATH",
                   help="merged results file (default: results/<host>-<UTC time>.json under the current folder)")
    p.add_argument("--frameworks", default="keras,torch",
                   help="comma-separated frameworks, one process each: keras (Keras on TensorFlow), keras-jax, "
                        "keras-torch, torch (default: keras,torch)")
    p.add_argument("--runs", type=positive_int, default=1, metavar="N",
                   help="run the whole suite N times and pool the runs into one file (default: 1)")
    p.add_argument("pytest_args", nargs="*", metavar="-- PYTEST_ARGS", help="extra arguments for each pytest run")


def merge(docs: list[dict]) -> dict:
    """One results document: the first run's env, every run's records, each run's own env kept."""
    from xbench.records import SCHEMA_VERSION

    env = dict(docs[0]["env"])
    env["processes"] = [p for d in docs for p in _processes(d)]
    return {"schema_version": SCHEMA_VERSION, "created_at": docs[0]["created_at"], "env": env,
            "records": [r for d in docs for r in d["records"]]}


def _processes(doc: dict) -> list[dict]:
    """The processes one framework's run used: its pytest process, or, for a Keras backend that process handed to
    a child of its own (``xbench.bench.backends``), the processes its file lists that ran records, with the Keras
    backend each had."""
    ceiling = (doc["env"].get("ceiling") or {}).get("measured_in")
    nested = [p for p in doc["env"].get("processes") or [] if p.get("frameworks")]
    if nested:
        return [{**p, "ceiling_measured_in": ceiling} for p in nested]
    return [{"frameworks": sorted({r["framework"] for r in doc["records"] if r["framework"]}),
             "created_at": doc["created_at"], "threads": doc["env"].get("threads"),
             "imported": doc["env"].get("imported"), "ceiling_measured_in": ceiling}]


def run(args) -> int:
    import socket

    from xbench import frameworks
    from xbench.errors import UserError
    from xbench.records import write_results
    from xbench.bench.command import check, pytest_command
    from xbench.records.runs import pool
    from xbench.schema import read_results

    names = [frameworks.get(n.strip()).name for n in args.frameworks.split(",") if n.strip()]
    check_json_out(args.json)
    check(pytest_command(["--xbench-frameworks", ",".join(names), *args.pytest_args]))  # bad input: one line, now
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.json) if args.json else Path("results") / f"{socket.gethostname()}-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    runs: list[list[dict]] = []
    status = 0
    with tempfile.TemporaryDirectory() as tmp:
        from xbench.explain import roofline

        # One ceiling for every process, measured before any of them, in a process of its own.
        ceiling_file = Path(tmp) / "ceiling.json"
        ceiling_file.write_text(json.dumps(roofline.measure_in_subprocess()))
        os.environ["XBENCH_CEILING_FILE"] = str(ceiling_file)
        for i in range(args.runs):
            runs.append([])
            for name in names:
                part = Path(tmp) / f"{name}-{i}.json"
                cmd = pytest_command(["--xbench-frameworks", name, "--xbench-json", str(part), *args.pytest_args])
                label = f"run {i + 1}/{args.runs}, " if args.runs > 1 else ""
                print(f"== {label}{name}: {' '.join(cmd[2:])}", file=sys.stderr, flush=True)
                code = subprocess.call(cmd)
                status = status or code
                if part.exists():
                    runs[-1].append(read_results(part))
                    write_results(out, pool([merge(r) for r in runs if r]))
    if not any(runs):
        raise UserError("no benchmark produced results")
    n = sum(len(d["records"]) for r in runs for d in r)
    print(f"wrote {out} ({n} records from {sum(len(r) for r in runs)} processes)", file=sys.stderr)
    return status
