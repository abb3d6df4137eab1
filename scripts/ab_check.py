"""What `xbench ab` sees on this machine: false alarms, resolution, and the same next to `xbench compare`.

    python scripts/ab_check.py [--baseline results/baselines/amd-epyc-2c-nogpu.json.gz] AB_DIR [AB_DIR ...]

Give it the folders of finished `xbench ab` runs (A/A runs and real ones). It prints, as markdown:

* per run: its verdict counts and its resolution line (an A/A run should flag nothing);
* per run: its B side slowed x1.10 and x1.20 (every round): how many benchmarks flagged, against how many
  its resolution predicts (resolution <= factor - 1);
* per benchmark: the smallest slowdown the run's pairs could flag (median over the runs and range), next to
  the smallest slowdown `xbench compare BASELINE DIR/a.json` could flag, the stored baseline against the same
  run's A side (six blocks, each its own process), on the same machine;
* the false-alarm rate of the rule, resampled (--resample N): the pairs of every A/A run given (both sides'
  setups equal in env.ab) pooled per benchmark; N times, each benchmark gets 6 pairs drawn from its pool, with
  a random side order per pair, and the rule judges them: the share of benchmarks flagged, and of runs with
  any benchmark flagged.

--medians PATH writes every run's paired block medians (small JSON: enough to re-judge any rule).

Exit status 1 when a slowed copy flags fewer benchmarks than predicted, else 0 (false alarms are reported,
not judged: which runs are A/A is for the reader to say).
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import sys
from pathlib import Path

from xbench.compare import IMPROVEMENT, INCONCLUSIVE, REGRESSION, compare, resolution_line
from xbench.paired import ALPHA, THRESHOLD, compare_paired, decide, pairs_of
from xbench.records import identity_key
from xbench.schema import read_results


def slowed(doc: dict, factor: float) -> dict:
    out = copy.deepcopy(doc)
    for r in out["records"]:
        if r["status"] == "ok":
            r["samples_s"] = [s * factor for s in r["samples_s"]]
    return out


def paired_medians(a: dict, b: dict) -> dict[str, list[list[float]]]:
    """benchmark id -> [[A block median, B block median], ...] per pair."""
    bb = {identity_key(r): r for r in b["records"]}
    return {r["id"]: [list(p) for p in pairs_of(r, bb[identity_key(r)])]
            for r in a["records"] if r["status"] == "ok" and bb.get(identity_key(r), {}).get("status") == "ok"}


def resample(pools: dict[str, list[list[float]]], draws: int, n: int = 6, seed: int = 1) -> tuple[float, float]:
    """(share of benchmark judgements flagged, share of simulated runs with any flag) from A/A pairs."""
    rng = random.Random(seed)
    flagged = runs_flagged = 0
    for _ in range(draws):
        hit = False
        for pairs in pools.values():
            pick = [rng.choice(pairs) for _ in range(n)]
            pick = [(a, b) if rng.random() < 0.5 else (b, a) for a, b in pick]
            if decide([b / a for a, b in pick], THRESHOLD, ALPHA)[0] in (REGRESSION, IMPROVEMENT):
                flagged += 1
                hit = True
        runs_flagged += hit
    return flagged / (draws * len(pools)), runs_flagged / draws


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", help="stored baseline to compare each run's A side against")
    ap.add_argument("--resample", type=int, default=0, metavar="N", help="resampled false-alarm rate, N draws")
    ap.add_argument("--medians", metavar="PATH", help="write the paired block medians of every run here")
    ap.add_argument("runs", nargs="+", metavar="AB_DIR")
    args = ap.parse_args(argv)
    baseline = read_results(args.baseline) if args.baseline else None
    ok = True
    per_bench: dict[str, dict[str, list[float]]] = {}
    print("| run | regressions | improvements | inconclusive | unchanged | resolution |")
    print("| :--- | ---: | ---: | ---: | ---: | :--- |")
    slow_rows = []
    medians: dict[str, dict] = {}
    aa_pools: dict[str, list[list[float]]] = {}
    for folder in map(Path, args.runs):
        a, b = read_results(folder / "a.json"), read_results(folder / "b.json")
        medians[folder.name] = paired_medians(a, b)
        setup = [{k: v for k, v in d["env"]["ab"].items() if k not in ("side", "positions")} for d in (a, b)]
        if setup[0] == setup[1]:
            for bid, pairs in medians[folder.name].items():
                aa_pools.setdefault(bid, []).extend(pairs)
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
    if args.resample and aa_pools:
        per_bench, per_run = resample(aa_pools, args.resample)
        n_pairs = statistics.median(len(v) for v in aa_pools.values())
        print(f"\nresampled false alarms ({args.resample} runs of 6 pairs drawn from {n_pairs:.0f} A/A pairs per "
              f"benchmark, {len(aa_pools)} benchmarks): {per_bench:.2%} of benchmark judgements, "
              f"{per_run:.1%} of runs with any flag")
    if args.medians:
        Path(args.medians).write_text(json.dumps(medians, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
