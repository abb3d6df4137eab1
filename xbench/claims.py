"""Verdicts on a claim "A is smaller than B" (faster, or lower) from per-seed values of two cells.

Each side's interval is the order-statistic interval of its median over seeds (``xbench.stats.median_interval``,
the ``median_ci95`` of every xbench record; a seed that never reached a target counts as infinite). Then:

- **holds**: the intervals separate in the claimed direction (A's upper end below B's lower end);
- **does not hold**: they separate the other way;
- **inconclusive at this precision**: they overlap. The verdict then says how many seeds per cell would
  separate 95 % intervals if the medians and the spread stayed as observed: the median's standard error is
  about 1.2533 sd / sqrt(n) (normal approximation), so n >= (1.96 x 1.2533 x (sd_A + sd_B) / |median_A -
  median_B|)^2, and at least 6 (the fewest seeds whose order-statistic interval reaches 95 %).

With 3 seeds an interval is [min, max] and covers the median with probability 75 %; the verdict states it.
Pure Python: no framework is imported.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from xbench import stats as st

HOLDS = "holds"
DOES_NOT_HOLD = "does not hold"
INCONCLUSIVE = "inconclusive at this precision"
Z = statistics.NormalDist().inv_cdf(0.975)
MEDIAN_SE = math.sqrt(math.pi / 2)  # se(median) / se(mean) for normal data: 1.2533


@dataclass(frozen=True)
class Side:
    median: float
    low: float
    high: float
    level: float
    n: int
    sd: float | None  # over the finite values; None with fewer than two

    @classmethod
    def of(cls, values: list[float | None]) -> "Side":
        x = [math.inf if v is None else float(v) for v in values]
        low, high, level = st.median_interval(x)
        finite = [v for v in x if math.isfinite(v)]
        return cls(statistics.median(x), low, high, level, len(x),
                   statistics.stdev(finite) if len(finite) > 1 else None)

    def text(self, unit: str = "s", scale: float = 1.0, digits: int = 1) -> str:
        def f(v: float) -> str:
            return f"{v * scale:.{digits}f}" if math.isfinite(v) else "∞"
        return f"{f(self.median)} {unit} [{f(self.low)}, {f(self.high)}] ({self.n} seeds, {self.level * 100:.0f} %)"


@dataclass(frozen=True)
class Verdict:
    label: str
    a: Side
    b: Side
    seeds_needed: int | None  # inconclusive only: seeds per cell that would separate the intervals
    why: str


def seeds_needed(a: Side, b: Side) -> int | None:
    """Seeds per cell at which 95 % intervals would separate, if medians and spread stay as observed."""
    d = abs(a.median - b.median)
    if a.sd is None or b.sd is None or not math.isfinite(d) or d == 0:
        return None
    return max(6, math.ceil((Z * MEDIAN_SE * (a.sd + b.sd) / d) ** 2))


def judge(a_values: list[float | None], b_values: list[float | None]) -> Verdict:
    """Verdict on "A < B" from per-seed values (None: never reached, i.e. infinite)."""
    a, b = Side.of(a_values), Side.of(b_values)
    if a.high < b.low:
        return Verdict(HOLDS, a, b, None, "the intervals separate in the claimed direction")
    if b.high < a.low:
        return Verdict(DOES_NOT_HOLD, a, b, None, "the intervals separate the other way")
    need = seeds_needed(a, b)
    d = abs(a.median - b.median)
    if math.isinf(a.median) and math.isinf(b.median):
        why = ("neither cell reached the target in most of its seeds: the epoch cap is too short to judge the "
               "claim at this target")
    elif not math.isfinite(d):
        why = ("the intervals overlap; a median is infinite (most of its seeds never reached the target), so the "
               "spread cannot say how many seeds would settle it")
    elif d == 0:
        why = "the intervals overlap and the medians are equal: no number of seeds is predicted to separate them"
    elif need is None:
        why = "the intervals overlap; too few seeds reached the target on one side to estimate the spread"
    else:
        why = (f"the intervals overlap; about {need} seeds per cell would separate 95 % intervals if the medians "
               "and the spread stay as observed")
    return Verdict(INCONCLUSIVE, a, b, need, why)


def judge_larger(a_values: list[float], b_values: list[float]) -> Verdict:
    """Verdict on "A > B" (e.g. a higher accuracy): the same rule on negated values."""
    v = judge([-x for x in a_values], [-x for x in b_values])
    flip = lambda s: Side(-s.median, -s.high, -s.low, s.level, s.n, s.sd)  # noqa: E731
    return Verdict(v.label, flip(v.a), flip(v.b), v.seeds_needed, v.why)


def sentence(v: Verdict, a_name: str, b_name: str, unit: str = "s", scale: float = 1.0, digits: int = 1) -> str:
    """'**holds**: A 5.2 s [4.9, 5.6] (3 seeds, 75 %) vs B 10.4 s [...]: the intervals separate ...'"""
    return (f"**{v.label}**: {a_name} {v.a.text(unit, scale, digits)} vs {b_name} {v.b.text(unit, scale, digits)}; "
            f"{v.why}")
