"""What `xbench ab` sees on this machine: false alarms, resolution, and the same next to `xbench compare`.

    python scripts/ab_check.py [--baseline results/baselines/amd-epyc-2c-nogpu.json.gz] AB_DIR [AB_DIR ...]

Give it the folders of finished `xbench ab` runs (A/A runs and real ones). It prints, as markdown:

* per run: its verdict counts and its resolution line (an A/A run should flag nothing);
* per run: its B side slowed x1.10 and x1.20 (every round): how many benchmarks flagged, against how many
  its resolution predicts (the run's median paired ratio m times the factor reaches 1 + resolution);
* per benchmark: the smallest slowdown the run's pairs could flag (median over the runs and range), next to
  the smallest slowdown `xbench compare BASELINE DIR/a.json` could flag, the stored baseline against the same
  run's A side (six blocks, each its own process), on the same machine;
* the false-alarm rate of the rule, resampled (--resample N): the pairs of every A/A run given (both sides'
  setups equal in env.ab) pooled per benchmark; N times, each benchmark gets 6 pairs drawn from its pool, with
  a random side order per pair, and the rule judges them: the share of benchmarks flagged, and of runs with
  any benchmark flagged.

--medians PATH writes every run's paired block medians (small JSON: enough to re-judge any rule).

Exit status 1 when a slowed copy's flags differ from the prediction (either way), else 0 (false alarms are reported,
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

from xbench.verdicts.compare import IMPROVEMENT, INCONCLUSIVE, REGRESSION, compare
from xbench.report.comparison import resolution_line
from xbench.verdicts.paired import ALPHA, THRESHOLD, compare_paired, decide, pairs_of, smallest_flagged
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


def _draw(rng: random.Random, pairs: list[list[float]], n: int) -> list[float]:
    """n paired ratios B/A drawn from an A/A benchmark's pairs, each pair's side order flipped at random."""
    pick = [rng.choice(pairs) for _ in range(n)]
    return [b / a if rng.random() < 0.5 else a / b for a, b in pick]


def resample(pools: dict[str, list[list[float]]], draws: int, n: int = 6, seed: int = 1,
             failing: dict[str, int] | None = None) -> tuple[float, float, float]:
    """(share of benchmark judgements flagged, share of simulated runs with any flag, share of simulated runs
    with a regression flag: the runs a gate would fail) from A/A pairs; ``failing`` counts the regression flags
    per benchmark."""
    rng = random.Random(seed)
    flagged = runs_flagged = runs_failed = 0
    for _ in range(draws):
        hit = failed = False
        for bid, pairs in pools.items():
            verdict = decide(_draw(rng, pairs, n), THRESHOLD, ALPHA)[0]
            if verdict in (REGRESSION, IMPROVEMENT):
                flagged += 1
                hit = True
                failed |= verdict == REGRESSION
                if verdict == REGRESSION and failing is not None:
                    failing[bid] = failing.get(bid, 0) + 1
        runs_flagged += hit
        runs_failed += failed
    return flagged / (draws * len(pools)), runs_flagged / draws, runs_failed / draws


def resolution_by_blocks(pools: dict[str, list[list[float]]], sizes: list[int], draws: int,
                         seed: int = 2) -> dict[int, list[float]]:
    """Per number of pairs n: each benchmark's median resolution over ``draws`` simulated A/A runs of n pairs
    drawn from its pool (random side order per pair). A prediction from the pooled pairs, not a measurement:
    with 9 or more pairs the rule's 95 % interval drops the most extreme pair on each side, with 12 two."""
    rng = random.Random(seed)
    out: dict[int, list[float]] = {}
    for n in sizes:
        per_bench = []
        for pairs in pools.values():
            res = []
            for _ in range(draws):
                r = smallest_flagged(_draw(rng, pairs, n), THRESHOLD, ALPHA)
                res.append(float("inf") if r is None else r)
            per_bench.append(statistics.median(res))
        out[n] = sorted(per_bench)
    return out


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", help="stored baseline to compare each run's A side against")
    ap.add_argument("--resample", type=int, default=0, metavar="N", help="resampled false-alarm rate, N draws")
    ap.add_argument("--medians", metavar="PATH", help="write the paired block medians of every run here")
    ap.add_argument("--by-blocks", metavar="N,N,...", default="",
                    help="also predict the median resolution with this many blocks per side, resampled from the "
                         "A/A runs' pairs (e.g. 6,9,12; 200 simulated runs per benchmark and size)")
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
    compare_flags: list[str] = []
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
            # Predicted from the honest pairs. The resolution is the smallest slowdown *from a median paired
            # ratio of 1* that the pairs' spread lets the rule flag; this run's median ratio m is not exactly 1
            # (an A/A run lands at 0.97 or 1.02), so slowing B by f moves the median to m*f, and the benchmark
            # is flagged exactly when m*f >= 1 + resolution. Cases within 0.5 % of that edge are left out
            # of the check (the bisection's and the rounding's tolerance).
            flagged = {p.id for p in s.pairs if p.verdict == REGRESSION}
            edge = {p.id: (1 + p.change) * factor / (1 + p.resolution) for p in c.pairs
                    if p.resolution is not None and p.change is not None}
            expected = {k for k, e in edge.items() if e >= 1.005}
            unsure = {k for k, e in edge.items() if abs(e - 1) < 0.005}
            missed = (expected - flagged) | (flagged - expected - unsure)
            ok &= not missed
            slow_rows.append(f"| {folder.name} | x{factor:.2f} | {len(flagged)} of {len(s.pairs)} | {len(expected)} |"
                             f" {', '.join(sorted(missed)) or '—'} |")
        if baseline is not None:
            cb = compare(baseline, a, base_name="baseline", new_name=str(folder / "a.json"))
            # the A side is this checkout, unchanged: anything the gate flags against the baseline is a false alarm
            compare_flags.append(f"{folder.name} {cb.count(REGRESSION)}")
            for p in cb.pairs:
                if p.resolution is not None:
                    per_bench.setdefault(p.id, {}).setdefault("compare", []).append(p.resolution)
    print("\n| run | B slowed | flagged | predicted (median ratio x slowdown >= 1 + resolution) | "
          "prediction missed (either way) |")
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
    if compare_flags:
        print(f"\ncompare: regressions flagged judging each run's A side (this checkout, unchanged) against the "
              f"baseline, all false alarms: {', '.join(compare_flags)}")
    if args.resample and aa_pools:
        failing: dict[str, int] = {}
        per_bench, per_run, per_gate = resample(aa_pools, args.resample, failing=failing)
        top = sorted(failing.items(), key=lambda kv: -kv[1])[:3]
        n_pairs = statistics.median(len(v) for v in aa_pools.values())
        print(f"\nresampled false alarms ({args.resample} runs of 6 pairs drawn from {n_pairs:.0f} A/A pairs per "
              f"benchmark, {len(aa_pools)} benchmarks): {per_bench:.2%} of benchmark judgements, "
              f"{per_run:.1%} of runs with any flag, {per_gate:.1%} with a regression (a failed gate)"
              + (f"; the false regressions came from {', '.join(f'`{b}` ({k})' for b, k in top)}" if top else ""))
    if args.by_blocks and aa_pools:
        sizes = [int(x) for x in args.by_blocks.split(",")]
        draws = 200
        print(f"\nresolution by blocks per side, resampled ({draws} simulated A/A runs per benchmark and size, "
              f"pairs drawn from the A/A runs' pairs; a prediction, not a measurement):\n")
        print("| blocks per side | median resolution over benchmarks | best | worst | resolve 10% | resolve 20% | "
              "false alarms per benchmark | runs with any flag |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for n, v in resolution_by_blocks(aa_pools, sizes, draws).items():
            fa_bench, fa_run, _ = resample(aa_pools, args.resample or 2000, n=n)
            print(f"| {n} | {_pct(statistics.median(v))} | {_pct(v[0])} | {_pct(v[-1])} | "
                  f"{sum(x <= 0.10 + 1e-9 for x in v)} of {len(v)} | {sum(x <= 0.20 + 1e-9 for x in v)} of {len(v)} | "
                  f"{fa_bench:.2%} | {fa_run:.1%} |")
    if args.medians:
        Path(args.medians).write_text(json.dumps(medians, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
