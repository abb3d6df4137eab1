"""Verdicts on a claim from paired seeds (issue 21): "A is below c x B" (a ratio) or "A is above B + c" (a difference).

The claim runs use shared initial weights, so seed *s* of cell A and seed *s* of cell B start from the same
weights and see the data in the same order: the unit of evidence is the **pair** (A's seed *s*, B's seed *s*)
and its ratio A / B (steps or time to a target) or difference A - B (an accuracy). For measures built from a
time per step, a pair is one A block and its neighbouring B block (``scripts/claims_step_time.py``).

- **Censoring.** A seed that did not reach the target within its budget is censored, not infinite: its steps
  exceed the steps it ran. Each pair therefore gives an *interval* for its ratio, [low, high]; a time ratio also
  carries the interval of the ratio of the two cells' times per step. A pair counts for the claim when its whole
  interval lies on the claimed side of the stated effect ``c``, against it when it lies on the other side, as a
  tie when it is exactly ``c``; otherwise (e.g. both sides censored) its order is unknown and it is undecided.
- **Test.** Where every pair is observed on both sides as one number (steps to target of two seeds that both
  reached it, an accuracy difference), the exact Wilcoxon signed-rank test on the pairs' distances from the stated
  effect (log(A / B) - log c for a ratio, A - B - c for a difference; zeros dropped, ties at average ranks): it
  uses how far each pair lies from c, not only its side. Where censoring or a shared factor with an interval (a
  time per step) leaves only each pair's side known, the exact sign test on the decided, untied pairs (under "the
  effect is exactly c" each pair falls on either side with probability 1/2). Either way ``p`` is the one-sided p
  in the direction the pairs fall (``leans``): towards the claimed side it can make the claim hold, towards the
  other side it can make it not hold. Each direction is a one-sided test at ``ALPHA``; only one of the two can be
  wrong unless the true effect is exactly c (a directional pair of one-sided tests).
- **Multiplicity.** Holm's step-down adjustment across every verdict on the page (``holm``).
- **Verdict.** ``holds`` when the Holm-adjusted p < ``ALPHA`` and the pairs lie on the claimed side; ``does not
  hold`` when adjusted p < ``ALPHA`` and they lie on the other side; ``inconclusive`` otherwise, or with fewer
  than ``MIN_SEEDS`` seeds per cell (the fewest whose sign test can reach p < 0.05 with room for a correction:
  2^-6 = 0.016).
- **Effect.** The median of the per-pair point values (pairs observed on both sides) with the order-statistic
  interval of that median (``xbench.records.stats.median_interval``), widened by the interval of a shared factor (the
  ratio of the cells' times per step) where there is one.

Pure Python: no framework is imported.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from xbench.records import stats as st

HOLDS = "holds"
DOES_NOT_HOLD = "does not hold"
INCONCLUSIVE = "inconclusive"
ALPHA = 0.05
MIN_SEEDS = 6
SIGN_TEST = "exact sign test on paired seeds, one-sided in the direction the pairs fall"
SIGNED_RANK = ("exact Wilcoxon signed-rank test on the pairs' distances from the stated effect, one-sided in the "
               "direction the pairs fall")
TEST = ("exact Wilcoxon signed-rank test on the pairs' distances from the stated effect where every pair is observed "
        "on both sides; exact sign test on the decided pairs where censoring or a time-per-step interval leaves "
        "only each pair's side; one-sided in the direction the pairs fall")
BELOW, ABOVE = "below", "above"


@dataclass(frozen=True)
class Obs:
    """One seed of one cell: ``value`` (steps to target, or a measured number), or None when the target was not
    reached within ``budget`` (the steps it ran): then the value is only known to exceed ``budget``."""
    value: float | None
    budget: float | None = None

    def __post_init__(self):
        if self.value is None and self.budget is None:
            raise ValueError("a censored observation needs its budget")

    @property
    def low(self) -> float:
        return self.value if self.value is not None else self.budget

    @property
    def high(self) -> float:
        return self.value if self.value is not None else math.inf


def ratio_bounds(a: Obs, b: Obs, scale: tuple[float, float] = (1.0, 1.0)) -> tuple[float, float]:
    """Interval of A / B x scale for one pair; ``scale`` is the interval of a factor such as the ratio of the two
    cells' times per step ((1, 1) for steps alone)."""
    low = 0.0 if math.isinf(b.high) else a.low / b.high * scale[0]
    high = math.inf if math.isinf(a.high) or b.low == 0 else a.high / b.low * scale[1]
    return low, high


def side(bounds: tuple[float, float], c: float) -> str:
    """'below' / 'above' c, 'tie' (exactly c), or 'unknown' (the interval straddles c)."""
    low, high = bounds
    if high < c:
        return BELOW
    if low > c:
        return ABOVE
    if low == high == c:
        return "tie"
    return "unknown"


def sign_p(k: int, n: int) -> float:
    """Exact one-sided sign-test p: the chance of k or more of n untied pairs on one side when each side has 1/2."""
    if n == 0:
        return 1.0
    return sum(math.comb(n, i) for i in range(k, n + 1)) / 2 ** n


def holm(ps: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order."""
    m = len(ps)
    out = [1.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda i: ps[i])):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        out[i] = running
    return out


@dataclass
class Paired:
    """One claim tested on pairs; ``verdict`` and ``p_holm`` are set by ``decide`` over the whole page."""
    claim: str
    direction: str  # the claim: the pair's value lies 'below' or 'above' c
    c: float
    kind: str  # "ratio" | "difference"
    bounds: list[tuple[float, float]]
    points: list[float]  # pairs observed on both sides: their point value
    seeds: int  # pairs available (seeds per cell, or block pairs)
    unit: str = "seed"  # "seed" | "block pair"
    spread: tuple[float, float] = (1.0, 1.0)  # a shared factor's interval over its point value (widens the effect's)
    counts: dict = field(default_factory=dict)
    test: str = SIGN_TEST
    leans: str = BELOW  # the side the test's p is computed towards
    p: float = 1.0
    p_holm: float | None = None
    verdict: str | None = None
    why: str = ""

    def __post_init__(self):
        sides = [side(b, self.c) for b in self.bounds]
        self.counts = {s: sides.count(s) for s in (BELOW, ABOVE, "tie", "unknown")}
        below, above = self.counts[BELOW], self.counts[ABOVE]
        if self.points and len(self.points) == self.seeds and all(lo == hi for lo, hi in self.bounds):
            d = [math.log(v / self.c) if self.kind == "ratio" else v - self.c for v in self.points]
            p_below, p_above = st.p_signed_rank([-x for x in d]), st.p_signed_rank(d)
            self.test, self.leans, self.p = SIGNED_RANK, BELOW if p_below <= p_above else ABOVE, min(p_below, p_above)
        else:  # only sides are known: the direction the pairs fall
            self.leans, self.p = BELOW if below >= above else ABOVE, sign_p(max(below, above), below + above)

    @property
    def decided(self) -> int:
        return self.seeds - self.counts["unknown"]

    @property
    def toward(self) -> int:
        return self.counts[self.direction]

    @property
    def away(self) -> int:
        return self.counts[ABOVE if self.direction == BELOW else BELOW]

    def effect(self) -> dict:
        if not self.points:
            return {"estimate": None, "interval": [None, None], "level": None, "pairs": 0}
        low, high, level = st.median_interval(self.points)
        low, high = low * self.spread[0], high * self.spread[1]
        return {"estimate": statistics.median(self.points), "interval": [low, high], "level": round(level, 4),
                "pairs": len(self.points)}


def paired_ratio(claim: str, a: list[Obs], b: list[Obs], c: float, direction: str = BELOW,
                 scale: tuple[float, float, float] = (1.0, 1.0, 1.0), unit: str = "seed") -> Paired:
    """Claim "A / B (x scale) is below (or above) c" on seeds paired by position. ``scale``: (point, low, high) of
    a factor applied to every pair, e.g. the ratio of the cells' times per step."""
    if len(a) != len(b):
        raise ValueError(f"paired cells need the same seeds: {len(a)} vs {len(b)}")
    bounds = [ratio_bounds(x, y, scale[1:]) for x, y in zip(a, b)]
    points = [x.value / y.value * scale[0] for x, y in zip(a, b) if x.value is not None and y.value]
    spread = (scale[1] / scale[0], scale[2] / scale[0])
    return Paired(claim, direction, c, "ratio", bounds, points, len(a), unit, spread)


def paired_difference(claim: str, a: list[float], b: list[float], c: float = 0.0, direction: str = ABOVE,
                      unit: str = "seed", a_at_least: list[bool] | None = None) -> Paired:
    """Claim "A - B is above (or below) c" on values paired by position. ``a_at_least[i]``: A's value is only a
    lower bound (e.g. the best accuracy of a run that stopped at its target), so the difference is >= a - b."""
    if len(a) != len(b):
        raise ValueError(f"paired cells need the same seeds: {len(a)} vs {len(b)}")
    at_least = a_at_least or [False] * len(a)
    d = [x - y for x, y in zip(a, b)]
    bounds = [(v, math.inf if o else v) for v, o in zip(d, at_least)]
    return Paired(claim, direction, c, "difference", bounds, [v for v, o in zip(d, at_least) if not o], len(d), unit)


def seeds_for(m: int, alpha: float = ALPHA) -> int:
    """The fewest pairs, all decided on one side, whose sign test passes Holm's first step among m verdicts."""
    n = 1
    while sign_p(n, n) * m >= alpha:
        n += 1
    return n


def decide(tests: list[Paired], alpha: float = ALPHA, min_seeds: int = MIN_SEEDS) -> list[Paired]:
    """Holm-adjust every test's p over the page and give each its verdict and reason (in place)."""
    for t, q in zip(tests, holm([t.p for t in tests])):
        t.p_holm = q
        undecided = t.counts["unknown"]
        if t.unit == "seed" and t.seeds < min_seeds:
            t.verdict = INCONCLUSIVE
            t.why = f"{t.seeds} seeds per cell, fewer than the {min_seeds} a paired test needs"
        elif q < alpha:
            t.verdict = HOLDS if t.leans == t.direction else DOES_NOT_HOLD
            where = "claimed" if t.verdict == HOLDS else "other"
            t.why = (f"{max(t.toward, t.away)} of {t.toward + t.away} untied pairs on the {where} side"
                     if t.test == SIGN_TEST else
                     f"{t.toward} pairs on the claimed side, {t.away} on the other; their distances from "
                     f"{t.c:g} (signed ranks) lean to the {where} side")
        else:
            t.verdict = INCONCLUSIVE
            t.why = (f"Holm-adjusted p >= {alpha:g}: {t.toward} pairs on the claimed side, {t.away} on the other, "
                     f"{t.counts['tie']} tied, {undecided} undecided"
                     + (" (censored: order unknown)" if undecided else "")
                     + f"; all of at least {seeds_for(len(tests), alpha)} pairs on one side would be needed "
                     f"among {len(tests)} verdicts")
    return tests
