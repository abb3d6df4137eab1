"""Does `xbench compare` hold on this machine? False alarms on honest runs, detections on slowed copies.

Give it the results files of runs made one after the other on one machine
(e.g. `KEEP_RUNS=DIR scripts/publish_baseline.sh`, or `pytest --benchmark-only`
repeated). With the default rule (threshold 10 %, alpha 0.01) it prints:

* every back-to-back pair of honest runs (run i as BASE, run i+1 as NEW), and
  every pair when --all-pairs is given: regressions flagged (each one a false
  alarm), inconclusive, and the resolution line;
* each run against copies of itself slowed x1.5 and x1.2 (every round), and with
  every row of one runtime slowed x2: how many benchmarks were flagged, against
  how many the resolution line predicts (a benchmark whose BASE blocks can resolve
  the slowdown, i.e. resolution <= factor - 1).

    python scripts/gate_check.py [--all-pairs] run1.json run2.json run3.json ...

Exit status 1 when an honest pair is flagged or a slowed copy flags fewer benchmarks
than predicted, else 0.
"""

from __future__ import annotations

import copy
import itertools
import sys

from xbench.compare import INCONCLUSIVE, REGRESSION, compare, resolution_line
from xbench.schema import read_results


def slowed(doc: dict, factor: float, runtime: str | None = None) -> dict:
    """Every round of every ok record (or of one runtime's records) multiplied by factor."""
    out = copy.deepcopy(doc)
    for r in out["records"]:
        if r["status"] == "ok" and (runtime is None or r["runtime"] == runtime):
            r["samples_s"] = [s * factor for s in r["samples_s"]]
    return out


def check_slowed(name: str, base: dict, new: dict, factor: float, runtime: str | None = None) -> tuple[str, bool]:
    c = compare(base, new)
    # id: task/model/framework/runtime/provider/variant/batch/dtype
    target = [p for p in c.pairs if p.change is not None and (runtime is None or p.id.split("/")[3] == runtime)]
    predicted = sum(p.resolution is not None and p.resolution <= factor - 1 + 1e-9 for p in target)
    hit = sum(p.verdict == REGRESSION for p in target)
    stray = sum(p.verdict == REGRESSION for p in c.pairs if p not in target)
    line = f"{name}: {hit} flagged / {predicted} predicted / {len(target)} measured"
    return line + (f"; {stray} others flagged" if stray else ""), hit >= predicted and not stray


def main(argv: list[str]) -> int:
    all_pairs = "--all-pairs" in argv
    paths = [a for a in argv if a != "--all-pairs"]
    if len(paths) < 2:
        print(__doc__)
        return 2
    runs = [read_results(p) for p in paths]
    bad = 0
    pairs = itertools.combinations(range(len(runs)), 2) if all_pairs else zip(range(len(runs) - 1), range(1, len(runs)))
    print("honest pairs (BASE -> NEW): regressions flagged (false alarms), inconclusive")
    total = 0
    for i, j in pairs:
        c = compare(runs[i], runs[j])
        hits = [p for p in c.pairs if p.verdict == REGRESSION]
        total += len(hits)
        bad += bool(hits)
        print(f"  run{i + 1} -> run{j + 1}: {len(hits)} flagged, {c.count(INCONCLUSIVE)} inconclusive, "
              f"{len(c.pairs)} compared" + "".join(f"\n      {p.id} {p.change:+.0%} p={p.p:.2g}" for p in hits))
        print(f"      {resolution_line(c)}")
    print(f"  false alarms in all: {total}")
    print("slowed copies (flagged / predicted by the resolution line / measured)")
    for i, doc in enumerate(runs):
        runtimes = sorted({r["runtime"] for r in doc["records"] if r["status"] == "ok"})
        checks = [check_slowed("x1.5 all", doc, slowed(doc, 1.5), 1.5),
                  check_slowed("x1.2 all", doc, slowed(doc, 1.2), 1.2)]
        checks += [check_slowed(f"x2 {rt} only", doc, slowed(doc, 2.0, rt), 2.0, rt) for rt in runtimes]
        print(f"  run{i + 1}: " + "; ".join(line for line, _ in checks))
        bad += sum(not ok for _, ok in checks)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
