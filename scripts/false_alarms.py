#!/usr/bin/env python3
"""The compare gate's false-alarm rate, measured on honest runs it was not built on (out of sample).

    python scripts/false_alarms.py run DIR [--runs 11] [--build 3]   # make the runs, one after the other
    python scripts/false_alarms.py judge DIR                          # judge them; writes DIR/check.json

``run`` makes ``--runs`` honest runs of ``xbench ab``'s default selection (the same checkout, nothing changed;
``pytest xbench/bench/suite --benchmark-only`` with 5 blocks each), one after the other, each a fresh process, and
records when each ran and the load average beside it (``DIR/runs.json``); an interrupted ``run`` keeps the runs it
finished and continues where it stopped.

``judge`` pools the first ``--build`` runs into a baseline (the runs the rule's noise is built from) and judges
every later run — the held-out runs — two ways, with ``xbench compare``'s default rule:

* against the baseline (BASE pools several runs, so its own run-to-run drift is the noise);
* against the next held-out run (one run as BASE, the baseline as ``--noise``, as CI does with a single run).

A run (or pair) with any regression is a failed one: every regression of an honest run is a false alarm. The
count is published with its exact (Clopper-Pearson) 95 % interval, with the verdict counts and what each
comparison could see. No ML framework is imported by ``judge``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from xbench.errors import UserError  # noqa: E402
from xbench.paths import atomic_write_text  # noqa: E402

BLOCKS = 5


def _runs_file(folder: Path) -> Path:
    return folder / "runs.json"


def make_runs(folder: Path, runs: int) -> None:
    from xbench.verdicts.ab import DEFAULT_SELECTION

    folder.mkdir(parents=True, exist_ok=True)
    log = json.loads(_runs_file(folder).read_text()) if _runs_file(folder).exists() else []
    for i in range(len(log), runs):
        out = folder / f"run{i:02d}.json"
        start, load0 = time.time(), os.getloadavg()[0]
        cmd = [sys.executable, "-m", "pytest", "xbench/bench/suite", "--benchmark-only", "-q", "-p", "no:cacheprovider",
               "--xbench-blocks", str(BLOCKS), *DEFAULT_SELECTION, "--xbench-json", str(out)]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        entry = {"run": out.name, "utc": datetime.fromtimestamp(start, timezone.utc).strftime("%H:%M:%S"),
                 "wall_s": round(time.time() - start, 1), "load_before": round(load0, 2),
                 "load_after": round(os.getloadavg()[0], 2), "exit": proc.returncode}
        if proc.returncode not in (0,) or not out.exists():
            raise SystemExit(f"run {i} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        log.append(entry)
        atomic_write_text(_runs_file(folder), json.dumps(log, indent=1) + "\n")
        print(f"run {i}: {entry}", file=sys.stderr)


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    from scipy.stats import beta

    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def judge(folder: Path, build: int) -> dict:
    from xbench.verdicts.compare import INCONCLUSIVE, REGRESSION, UNCHANGED, compare
    from xbench.report.comparison import sees_line
    from xbench.machine import of
    from xbench.records.runs import pool
    from xbench.schema import read_results

    log = json.loads(_runs_file(folder).read_text())
    def path(name: str) -> Path:  # committed runs are gzipped (every reader accepts .json.gz)
        plain = folder / name
        return plain if plain.exists() else plain.with_name(name + ".gz")

    docs = [read_results(str(path(e["run"]))) for e in log]
    if len(docs) < build + 2:
        raise UserError(f"{folder}: {len(docs)} runs; judging needs the {build} that build the baseline and at "
                        f"least 2 held out")
    base = pool(docs[:build])
    held = list(zip(log[build:], docs[build:]))

    def row(label: str, c) -> dict:
        flagged = [p.id for p in c.pairs if p.verdict == REGRESSION]
        return {"comparison": label, "false_regressions": flagged, "benchmarks": len(c.pairs),
                "unchanged": c.count(UNCHANGED), "inconclusive": c.count(INCONCLUSIVE), "sees": sees_line(c)}

    vs_base = [row(f"{e['run']} vs baseline", compare(base, d)) for e, d in held]
    vs_next = [row(f"{a[0]['run']} vs {b[0]['run']}", compare(a[1], b[1], noise_doc=base))
               for a, b in zip(held, held[1:])]
    out = {"machine_id": of(docs[0]), "commit": (docs[0]["env"].get("git") or {}).get("commit"),
           "rule": "xbench compare defaults: threshold 10 %, alpha 0.01, Bonferroni over the benchmarks",
           "baseline_runs": [e["run"] for e in log[:build]], "runs": log, "judged": {}}
    for name, rows in (("against the baseline", vs_base), ("run against the next run", vs_next)):
        failed = sum(bool(r["false_regressions"]) for r in rows)
        lo, hi = clopper_pearson(failed, len(rows))
        out["judged"][name] = {"failed": failed, "of": len(rows), "ci95": [lo, hi], "rows": rows}
    atomic_write_text(folder / "check.json", json.dumps(out, indent=1) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=("run", "judge"))
    ap.add_argument("folder", type=Path)
    ap.add_argument("--runs", type=int, default=11, help="honest runs to make (default 11: 3 build + 8 held out)")
    ap.add_argument("--build", type=int, default=3, help="runs pooled into the baseline (default 3)")
    args = ap.parse_args(argv)
    try:
        if args.action == "run":
            make_runs(args.folder, args.runs)
        else:
            out = judge(args.folder, args.build)
            for name, j in out["judged"].items():
                print(f"{name}: {j['failed']} of {j['of']} failed (95% interval {j['ci95'][0]:.0%}–{j['ci95'][1]:.0%})")
    except UserError as exc:
        print(f"false_alarms: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
