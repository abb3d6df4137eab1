"""The paired rule for alternated blocks (``xbench ab``): each B block against its neighbouring A block.

``xbench ab`` runs the blocks in the balanced order A B, B A, A B, B A, ...:
positions 2k and 2k+1 form **pair k**, two fresh processes back to back on the
same machine, in the same minute. Whatever state the machine is in (a slow
minute, another job, a warm or cold cache) both blocks of a pair share it, so
the ratio of their medians cancels it; alternating which side goes first
cancels an advantage of going first or second. So, per benchmark:

* the **paired ratios** r_k = B block median / A block median, one per pair;
* **change**: the median paired ratio - 1;
* **interval**: the distribution-free interval of that median (order statistics
  of the r_k with binomial coverage >= 95 %; with 6 pairs: [min, max], 96.9 %);
* **significance**: the exact one-sided Wilcoxon signed-rank test on log r_k
  (no change: every sign pattern is equally likely), p < alpha;
* **regression** when significant *and the whole interval lies above
  1 + threshold*; improvement mirrors it (the whole interval below
  1 / (1 + threshold));
* **unchanged** only when shown: the whole 95 % interval lies inside
  1 / (1 + threshold) .. 1 + threshold (an equivalence test; with fewer than 6
  pairs no interval reaches 95 %, so nothing can be unchanged);
* **inconclusive** otherwise, with why and the smallest slowdown these pairs
  could have flagged.

Requiring the interval, not just the median, to clear the threshold is what
keeps a benchmark that jumps between two machine states (ONNX Runtime at batch 1
runs 13 or 25 µs per fresh session here) from flagging by chance: with 6 pairs
every one of its pairs would have to land B-slow by more than the threshold.

The comparison is ``xbench.verdicts.compare``'s (matching on identity, status changes,
"now failing") and its rendering ``xbench.report.comparison``'s (the table and
the resolution line), with this rule for the benchmarks measured on both sides.
"""

from __future__ import annotations

import math
import statistics

from xbench.records import stats as st
from xbench.verdicts.compare import (IMPROVEMENT, INCONCLUSIVE, REGRESSION, UNCHANGED, Comparison, Pair, compare, equivalent,
                            smallest_factor, undecided_note)
from xbench.verdicts.noise import blocks
from xbench.records import block_entries
from xbench.report import fmt

THRESHOLD = 0.05
ALPHA = 0.05


def pairs_of(a_rec: dict, b_rec: dict) -> list[tuple[float, float]]:
    """(A block median, B block median) for every pair k in which both blocks measured the benchmark.

    Blocks carry their ``position`` in the run's order; positions 2k and 2k+1 are pair k. A pair with only one
    of its blocks (a failed or missing block) is left out."""
    def by_pair(rec: dict) -> dict[int, float]:
        out = {}
        for entry, rounds in zip(block_entries(rec), blocks(rec)):
            if rounds and "position" in entry:
                out[entry["position"] // 2] = statistics.median(rounds)
        return out

    a, b = by_pair(a_rec), by_pair(b_rec)
    return [(a[k], b[k]) for k in sorted(a) if k in b and a[k] > 0]


def decide(ratios: list[float], threshold: float, alpha: float) -> tuple[str, float, tuple[float, float, float]]:
    """(verdict, p in the direction of the change, (low, high, coverage) of the median ratio) without notes."""
    change = statistics.median(ratios) - 1
    d = [math.log(r) for r in ratios]
    p = st.p_signed_rank(d if change > 0 else [-x for x in d])
    lo, hi, level = st.median_interval(ratios)
    if p < alpha and lo > 1 + threshold:
        return REGRESSION, p, (lo, hi, level)
    if p < alpha and hi < 1 / (1 + threshold):
        return IMPROVEMENT, p, (lo, hi, level)
    return ("", p, (lo, hi, level))


def smallest_flagged(ratios: list[float], threshold: float, alpha: float) -> float | None:
    """The smallest uniform slowdown f - 1 of *this* B (every pair's ratio x f) that these pairs would flag as a
    regression (0: already flagged); None when no slowdown could (too few pairs for alpha)."""
    if st.min_p_paired(len(ratios)) >= alpha:
        return None
    return smallest_factor(lambda f: decide([r * f for r in ratios], threshold, alpha)[0] == REGRESSION)


def judge_paired(pairs: list[tuple[float, float]], threshold: float = THRESHOLD, alpha: float = ALPHA) -> Pair:
    """One benchmark from its (A, B) block-median pairs."""
    n = len(pairs)
    a_med = statistics.median(a for a, _ in pairs) if pairs else None
    b_med = statistics.median(b for _, b in pairs) if pairs else None
    if n == 0:
        return Pair("", INCONCLUSIVE, a_med, b_med, note="no pair with both blocks measured", blocks=(0, 0),
                    bar=threshold, paired=True)
    ratios = [b / a for a, b in pairs]
    verdict, p, (lo, hi, level) = decide(ratios, threshold, alpha)
    change = statistics.median(ratios) - 1
    resolution = smallest_flagged(ratios, threshold, alpha)
    eq = (lo, hi) if level >= st.CI_LEVEL else None  # an interval below 95 % coverage shows nothing
    inside, possible = equivalent(eq, threshold)
    note = ""
    if not verdict and inside:
        verdict = UNCHANGED
        if p < alpha:
            note = f"a significant {change:+.1%} change (p={fmt.p_value(p)}), inside ±{threshold:.0%}"
    elif not verdict:
        verdict = INCONCLUSIVE
        if st.min_p_paired(n) >= alpha:
            why = (f"too few pairs to tell ({n}: the smallest possible p is {fmt.p_value(st.min_p_paired(n))}, "
                   f"not below {alpha:g})")
        elif p < alpha:
            why = f"significant (p={fmt.p_value(p)}) but the interval reaches inside ±{threshold:.0%}"
        else:
            why = f"not significant (p={fmt.p_value(p)})"
        note = undecided_note(why, eq, threshold, resolution, "pairs")
    if level < st.CI_LEVEL:
        note = (note + "; " if note else "") + f"interval covers {level:.1%} only ({n} pairs)"
    return Pair("", verdict, a_med, b_med, change, p, note, (lo - 1, hi - 1), (n, n), resolution, threshold,
                paired=True, equivalence=(eq[0] - 1, eq[1] - 1) if eq else None, can_be_unchanged=possible)


def rule_text(threshold: float, alpha: float) -> str:
    return (f"B's blocks are paired with their neighbouring A block (order A B, B A, A B, ...: positions 2k and 2k+1); "
            f"a regression is a median paired ratio B/A whose whole 95% interval (order statistics of the paired "
            f"ratios) lies above {1 + threshold:.2f}, with p < {alpha:g} (exact one-sided Wilcoxon signed-rank test "
            f"on the paired log ratios); improvements mirror it; unchanged means shown: the whole 95% interval "
            f"lies inside ±{threshold:.0%}; anything else is inconclusive; a benchmark ok in A and failing or "
            f"skipped in B fails the gate")


def compare_paired(a_doc: dict, b_doc: dict, threshold: float = THRESHOLD, alpha: float = ALPHA,
                   a_name: str = "A", b_name: str = "B") -> Comparison:
    """``xbench.verdicts.compare.compare`` with the paired rule; A plays BASE and B plays NEW."""
    c = compare(a_doc, b_doc, threshold=threshold, alpha=alpha, base_name=a_name, new_name=b_name,
                judge_records=lambda a, b: judge_paired(pairs_of(a, b), threshold, alpha))
    c.title, c.sides, c.rule = "xbench ab", ("A", "B"), rule_text(threshold, alpha)
    return c
