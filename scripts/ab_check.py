"""What `xbench ab` sees on this machine: false alarms, resolution, and the same next to `xbench compare`.

    python scripts/ab_check.py [--baseline results/baseline-cpu.json] AB_DIR [AB_DIR ...]

Give it the folders of finished `xbench ab` runs (A/A runs and real ones). It prints, as markdown:

* per run: its verdict counts and its resolution line (an A/A run should flag nothing);
* per run: its B side slowed x1.10 and x1.20 (every round): how many benchmarks flagged, against how many
  its resolution predicts (resolution <= factor - 1);
* per benchmark: the smallest slowdown the run's pairs could flag (median over the runs and range), next to
  the smallest slowdown `xbench compare BASELINE DIR/a.json` could flag, the stored baseline against the same
  run's A side (six blocks, each its own process), on the same machine.

Exit status 1 when a slowed copy flags fewer benchmarks than predicted, else 0 (false alarms are reported,
not judged: which runs are A/A is for the reader to say).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
from pathlib import Path

from xbench.compare import IMPROVEMENT, INCONCLUSIVE, REGRESSION, compare, resolution_line
from xbench.paired import compare_paired
from xbench.schema import read_results


def slowed(doc: dict, factor: float) -> dict:
    out = copy.deepcopy(doc)
    for r in out["records"]:
        if r["status"] == "ok":
            r["samples_s"] = [s * factor for s in r["samples_s"]]
    return out


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", help="stored baseline to compare each run's A side against")
    ap.add_argument("runs", nargs="+", metavar="AB_DIR")
    args = ap.parse_args(argv)
    baseline = read_results(args.baseline) if args.baseline else None
    ok = True
    per_bench: dict[str, dict[str, list[float]]] = {}
    print("| run | regressions | improvements | inconclusive | unchanged | resolution |")
    print("| :--- | ---: | ---: | ---: | ---: | :--- |")
    slow_rows = []
    for folder in map(Path, args.runs):
        a, b = read_results(folder / "a.json"), read_results(folder / "b.json")
        c = compare_paired(a, b)
        print(f"| {folder.name} | {c.count(REGRESSION)} | {c.count(IMPROVEMENT)} | {c.count(INCONCLUSIVE)} | "
              f"{c.count('unchanged')} | {resolution_line(c).split(': ', 1)[1]} |")
        for p in c.pairs:
            if p.resolution is not None:
                per_bench.setdefault(p.id, {}).setdefault("ab", []).append(p.resolution)
        for factor in (1.10, 1.20):
            s = compare_paired(a, slowed(b, factor))
            # predicted from the honest pairs: a benchmark resolves the slowdown when its resolution is below it
            flagged = {p.id for p in s.pairs if p.verdict == REGRESSION}
            expected = {p.id for p in c.pairs if p.resolution is not None and p.resolution <= factor - 1 - 0.005}
            missed = expected - flagged
            ok &= not missed
            slow_rows.append(f"| {folder.name} | x{factor:.2f} | {len(flagged)} of {len(s.pairs)} | {len(expected)} |"
                             f" {', '.join(sorted(missed)) or '—'} |")
        if baseline is not None:
            cb = compare(baseline, a, base_name="baseline", new_name=str(folder / "a.json"))
            for p in cb.pairs:
                if p.resolution is not None:
                    per_bench.setdefault(p.id, {}).setdefault("compare", []).append(p.resolution)
    print("\n| run | B slowed | flagged | predicted (resolution below the slowdown) | predicted, not flagged |")
    print("| :--- | :--- | ---: | ---: | :--- |")
    print("\n".join(slow_rows))
    print("\n| benchmark | xbench ab: median (range) over runs | xbench compare vs baseline: median (range) |")
    print("| :--- | ---: | ---: |")
    meds = {"ab": [], "compare": []}
    for bid in sorted(per_bench):
        cells = []
        for key in ("ab", "compare"):
            v = sorted(per_bench[bid].get(key, []))
            if v:
                meds[key].append(statistics.median(v))
            cells.append(f"{_pct(statistics.median(v))} ({_pct(v[0])}–{_pct(v[-1])})" if v else "—")
        print(f"| `{bid}` | {cells[0]} | {cells[1]} |")
    for key in ("ab", "compare"):
        if meds[key]:
            v = sorted(meds[key])
            print(f"\n{key}: median over benchmarks {_pct(statistics.median(v))} (best {_pct(v[0])}, worst "
                  f"{_pct(v[-1])}); {sum(x <= 0.10 + 1e-9 for x in v)} of {len(v)} resolve 10%, "
                  f"{sum(x <= 0.20 + 1e-9 for x in v)} resolve 20%")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
