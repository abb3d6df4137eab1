"""Does `xbench compare` hold on this machine? False alarms on honest runs, detections on slowed copies.

Give it the results files of runs made one after the other on one machine
(e.g. `KEEP_RUNS=DIR scripts/publish_baseline.sh`, or `pytest --benchmark-only`
repeated). With the default rule (threshold 10 %, alpha 0.01) it prints:

* every back-to-back pair of honest runs (run i as BASE, run i+1 as NEW), and
  every pair when --all-pairs is given: regressions flagged (each one a false
  alarm), inconclusive, and the resolution line; with four runs or more, the
  same pairs again with the run-to-run noise taken from the other runs pooled
  (`--noise`), and each run against all the others pooled as BASE;
* each run against copies of itself slowed x1.5 and x1.2 (every round), and with
  every row of one runtime slowed x2: how many benchmarks were flagged, against
  how many the resolution line predicts (a benchmark whose BASE blocks can resolve
  the slowdown, i.e. resolution <= factor - 1).

    python scripts/gate_check.py [--all-pairs] run1.json run2.json run3.json ...
    python scripts/gate_check.py --split results/baseline-cpu.json   # the runs a pooled baseline was made from

Exit status 1 when an honest pair judged with run-to-run noise is flagged (with fewer
than four runs: any honest pair), or a slowed copy flags fewer benchmarks than
predicted, else 0. `xbench compare` takes that noise from the committed baseline of
the same machine when BASE is one run.
"""

from __future__ import annotations

import copy
import functools
import itertools
import sys

from xbench.verdicts.compare import INCONCLUSIVE, REGRESSION, compare
from xbench.report.comparison import resolution_line
from xbench.records.runs import pool, unpool
from xbench.schema import read_results


def slowed(doc: dict, factor: float, runtime: str | None = None) -> dict:
    """Every round of every ok record (or of one runtime's records) multiplied by factor."""
    out = copy.deepcopy(doc)
    for r in out["records"]:
        if r["status"] == "ok" and (runtime is None or r["runtime"] == runtime):
            r["samples_s"] = [s * factor for s in r["samples_s"]]
    return out


def check_slowed(name: str, base: dict, new: dict, factor: float, runtime: str | None = None,
                 noise: dict | None = None) -> tuple[str, bool]:
    c = compare(base, new, noise_doc=noise)
    # id: task/model/framework/runtime/provider/variant/batch/dtype
    target = [p for p in c.pairs if p.change is not None and (runtime is None or p.id.split("/")[3] == runtime)]
    predicted = sum(p.resolution is not None and p.resolution <= factor - 1 + 1e-9 for p in target)
    hit = sum(p.verdict == REGRESSION for p in target)
    stray = sum(p.verdict == REGRESSION for p in c.pairs if p not in target)
    line = f"{name}: {hit} flagged / {predicted} predicted / {len(target)} measured"
    return line + (f"; {stray} others flagged" if stray else ""), hit >= predicted and not stray


def honest(title: str, cases: list[tuple]) -> int:
    """Honest pairs (label, BASE, NEW, noise doc): every regression flagged is a false alarm.
    Prints each pair and its resolution; returns how many pairs raised any."""
    print(f"{title}: regressions flagged (false alarms), inconclusive")
    total = pairs_flagged = 0
    for label, base, new, noise in cases:
        c = compare(base, new, noise_doc=noise)
        hits = [p for p in c.pairs if p.verdict == REGRESSION]
        total += len(hits)
        pairs_flagged += bool(hits)
        print(f"  {label}: {len(hits)} flagged, {c.count(INCONCLUSIVE)} inconclusive, {len(c.pairs)} compared"
              + "".join(f"\n      {p.id} {p.change:+.0%} p={p.p:.2g}" for p in hits))
        print(f"      {resolution_line(c)}")
    print(f"  false alarms in all: {total} (in {pairs_flagged} of {len(cases)} pairs)")
    return pairs_flagged


def main(argv: list[str]) -> int:
    all_pairs, split = "--all-pairs" in argv, "--split" in argv
    paths = [a for a in argv if a not in ("--all-pairs", "--split")]
    runs = [run for p in paths for run in (unpool(read_results(p)) if split else [read_results(p)])]
    if len(runs) < 2:
        print(__doc__)
        return 2
    pairs = itertools.combinations(range(len(runs)), 2) if all_pairs else zip(range(len(runs) - 1), range(1, len(runs)))
    # the other runs pooled, once per set left out (the honest pairs and the slowed copies both use them)
    others = functools.cache(lambda *skip: pool([r for k, r in enumerate(runs) if k not in skip]))
    flagged = honest("honest pairs (BASE -> NEW), no run-to-run noise known (what one run alone cannot see)",
                     [(f"run{i + 1} -> run{j + 1}", runs[i], runs[j], None) for i, j in pairs])
    bad = flagged if len(runs) < 4 else 0  # with 4 runs or more the gate is judged with run-to-run noise below
    if len(runs) >= 4:
        bad += honest("the same back-to-back pairs, run-to-run noise from the other runs pooled (--noise)",
                      [(f"run{i + 1} -> run{i + 2}", runs[i], runs[i + 1], others(i, i + 1))
                       for i in range(len(runs) - 1)])
        bad += honest("each run against all the others pooled as BASE",
                      [(f"others -> run{k + 1}", others(k), runs[k], None) for k in range(len(runs))])
    print("slowed copies (flagged / predicted by the resolution line / measured)")
    docs = runs + ([pool(runs)] if len(runs) > 1 else [])
    for i, doc in enumerate(docs):
        # a single run is judged with the other runs as its run-to-run noise, as in the honest pairs above
        noise = others(i) if len(runs) >= 4 and i < len(runs) else None
        runtimes = sorted({r["runtime"] for r in doc["records"] if r["status"] == "ok"})
        checks = [check_slowed("x1.5 all", doc, slowed(doc, 1.5), 1.5, noise=noise),
                  check_slowed("x1.2 all", doc, slowed(doc, 1.2), 1.2, noise=noise)]
        checks += [check_slowed(f"x2 {rt} only", doc, slowed(doc, 2.0, rt), 2.0, rt, noise) for rt in runtimes]
        name = f"run{i + 1}" if i < len(runs) else f"all {len(runs)} pooled"
        print(f"  {name}{' (noise: the other runs)' if noise else ''}: " + "; ".join(line for line, _ in checks))
        bad += sum(not ok for _, ok in checks)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
