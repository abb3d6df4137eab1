"""Does `xbench compare` hold on this machine? False alarms on honest runs, detections on slowed copies.

Give it the results files of runs made one after the other on one machine
(e.g. `KEEP_RUNS=DIR scripts/publish_baseline.sh`, or `pytest --benchmark-only`
repeated). It prints, with the default rule (threshold 10 %, alpha 0.01):

* every pair of honest runs (earlier as BASE): how many benchmarks were flagged,
  and which; all should be 0 (a flag is a false alarm);
* each run against a copy of itself with every round 50 % slower (should exit 1,
  every stable benchmark flagged);
* each run against a copy with one benchmark 2x slower (should exit 1 and name it),
  for the benchmark with the tightest blocks and for the one with the widest.

    python scripts/gate_check.py /tmp/runs/run1.json /tmp/runs/run2.json /tmp/runs/run3.json

Exit status 1 when any honest pair is flagged or a slowed copy is missed, else 0.
"""

from __future__ import annotations

import copy
import itertools
import statistics
import sys

from xbench.compare import REGRESSION, blocks, compare
from xbench.schema import read_results


def slowed(doc: dict, factor: float, only: str | None = None) -> dict:
    out = copy.deepcopy(doc)
    for r in out["records"]:
        if r["status"] == "ok" and (only is None or r["id"] == only):
            r["samples_s"] = [s * factor for s in r["samples_s"]]
            r["stats"]["median"] = statistics.median(r["samples_s"])
    return out


def spread(rec: dict) -> float:
    m = [statistics.median(b) for b in blocks(rec)]
    return max(m) / min(m)


def flagged(base: dict, new: dict) -> list[str]:
    c = compare(base, new)
    return [f"{p.id} {p.change:+.0%}" for p in c.pairs if p.verdict == REGRESSION]


def main(paths: list[str]) -> int:
    if len(paths) < 2:
        print(__doc__)
        return 2
    runs = [read_results(p) for p in paths]
    bad = 0
    print("honest pairs (BASE -> NEW): regressions flagged")
    for (i, a), (j, b) in itertools.combinations(enumerate(runs), 2):
        hits = flagged(a, b)
        bad += bool(hits)
        print(f"  run{i + 1} -> run{j + 1}: {len(hits)}" + "".join(f"\n      {h}" for h in hits))
    print("slowed copies: flagged / measured")
    for i, doc in enumerate(runs):
        ok = [r for r in doc["records"] if r["status"] == "ok"]
        all_slow = flagged(doc, slowed(doc, 1.5))
        tight, wide = min(ok, key=spread), max(ok, key=spread)
        line = f"  run{i + 1}: all rounds x1.5: {len(all_slow)}/{len(ok)}"
        for name, rec in (("tightest", tight), ("widest", wide)):
            hits = flagged(doc, slowed(doc, 2.0, rec["id"]))
            caught = any(h.startswith(rec["id"] + " ") for h in hits)
            line += f"; one x2 ({name} blocks, spread {spread(rec):.2f}x): {'caught' if caught else 'missed'}"
            bad += name == "tightest" and not caught
        bad += not all_slow
        print(line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
