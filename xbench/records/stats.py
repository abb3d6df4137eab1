"""Statistics on blocks: the unit of evidence is a block, never a round.

A block is one fresh model or session measured for a fixed number of rounds
(``pytest --benchmark-only`` runs every benchmark in ``--xbench-blocks``
blocks spread across the run). Rounds inside a block share one moment of the
machine; blocks minutes apart do not. So:

* the headline **median** is the median of the block medians: a block in a
  fast machine state counts once, like every other block, however many
  rounds it fitted in;
* **percentiles** (p90, p99, IQR) and the mean weigh every block equally
  (each round weighs 1 / (blocks x its block's rounds));
* the **95 % interval of the median** is distribution-free: the order
  statistics of the block medians whose binomial coverage is at least 95 %
  (with fewer than 6 blocks none reaches 95 %: it is then [min, max] of the
  block medians and ``ci_level`` states the real coverage, 93.8 % for 5);
* **states**: block medians that fall into groups separated by a gap of more
  than ``STATE_GAP`` (each of at least two blocks and a tenth of them) are
  reported as separate machine states, not averaged;
* **comparisons** rank block medians (an exact Mann-Whitney U test) and give
  the size of a change as the ratio of headline medians with the
  Hodges-Lehmann interval of the log ratio.

Pure Python: ``xbench report`` and ``xbench compare`` import no ML framework.
"""

from __future__ import annotations

import math
import statistics
from functools import lru_cache

CI_LEVEL = 0.95
STATE_GAP = 1.25  # consecutive sorted block medians further apart than this: separate states


def block_medians(blocks: list[list[float]]) -> list[float]:
    return [statistics.median(b) for b in blocks if b]


def weighted_quantile(blocks: list[list[float]], q: float) -> float:
    """Quantile q of all rounds, each block weighing the same (Hazen plotting positions)."""
    points = sorted((x, 1 / (len(b) * len(blocks))) for b in blocks for x in b)
    if len(points) == 1:
        return points[0][0]
    cum, positions = 0.0, []
    for _, w in points:
        positions.append(cum + w / 2)
        cum += w
    if q <= positions[0]:
        return points[0][0]
    if q >= positions[-1]:
        return points[-1][0]
    for i in range(1, len(points)):
        if q <= positions[i]:
            (x0, _), (x1, _) = points[i - 1], points[i]
            t = (q - positions[i - 1]) / (positions[i] - positions[i - 1])
            return x0 + t * (x1 - x0)
    return points[-1][0]  # pragma: no cover


def weighted_mean_sd(blocks: list[list[float]]) -> tuple[float, float]:
    k = len(blocks)
    mean = sum(sum(b) / len(b) for b in blocks) / k
    var = sum(sum((x - mean) ** 2 for x in b) / len(b) for b in blocks) / k
    n = sum(len(b) for b in blocks)
    return mean, math.sqrt(var * n / (n - 1)) if n > 1 else 0.0


def median_interval(values: list[float], level: float = CI_LEVEL) -> tuple[float, float, float]:
    """(low, high, coverage): the narrowest symmetric order-statistic interval of the median of ``values``
    with binomial coverage >= level, or [min, max] with its (lower) coverage when none reaches it.
    Exact binomial up to 1000 values, the normal approximation beyond (thousands of rounds in one block)."""
    x = sorted(values)
    n = len(x)
    if n == 1:
        return x[0], x[0], 0.0
    if n > 1000:
        nd = statistics.NormalDist()
        j = max(1, math.floor((n - nd.inv_cdf(0.5 + level / 2) * math.sqrt(n)) / 2))
        return x[j - 1], x[n - j], 1 - 2 * nd.cdf((j - 0.5 - n / 2) / (math.sqrt(n) / 2))
    best = (x[0], x[-1], 1 - 2 * 0.5 ** n)
    tail, term = 0, 1  # sum of C(n, i) for i < j, and C(n, j - 1)
    for j in range(1, (n + 1) // 2 + 1):  # interval [x(j), x(n+1-j)], 1-based
        tail += term
        term = term * (n - j + 1) // j
        coverage = 1 - 2 * tail / 2 ** n
        if coverage < level:
            break
        best = (x[j - 1], x[n - j], coverage)
    return best


def quantile_interval(values: list[float], q: float, level: float = CI_LEVEL) -> tuple[float, float] | None:
    """A distribution-free interval of the ``q``-quantile of ``values``: the order statistics whose ranks bound
    the binomial(n, q) count of values below it with ``level`` coverage (normal approximation, so it needs about
    20 values beyond either rank: ``None`` when n q (1 - q) < 5)."""
    n = len(values)
    if n * q * (1 - q) < 5:
        return None
    x = sorted(values)
    half = statistics.NormalDist().inv_cdf(0.5 + level / 2) * math.sqrt(n * q * (1 - q))
    lo, hi = math.floor(n * q - half), math.ceil(n * q + half)
    return x[max(0, lo - 1)], x[min(n - 1, hi)]


def states(medians: list[float], gap: float = STATE_GAP) -> list[dict]:
    """Groups of block medians separated by more than ``gap``; a group is a state when it holds at least two
    blocks and a tenth of all of them (a lone block far off is an outlier, left out). Callers report the
    states only when there are two or more."""
    x = sorted(m for m in medians if m > 0)
    if not x:
        return []
    groups = [[x[0]]]
    for prev, cur in zip(x, x[1:]):
        if cur > prev * gap:
            groups.append([])
        groups[-1].append(cur)
    least = max(2, math.ceil(0.1 * len(x)))
    return [{"median_s": statistics.median(g), "low_s": g[0], "high_s": g[-1], "blocks": len(g)}
            for g in groups if len(g) >= least]


# ---- comparing two sets of blocks ----------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _u_counts(m: int, n: int) -> tuple[int, ...]:
    """How many of the C(m+n, m) orderings of m vs n exchangeable values give U = 0, 1, ..., m*n."""
    if m == 0 or n == 0:
        return (1,)
    a, b = _u_counts(m - 1, n), _u_counts(m, n - 1)  # the largest value belongs to the m side, or the n side
    out = [0] * (m * n + 1)
    for u, c in enumerate(a):
        out[u + n] += c
    for u, c in enumerate(b):
        out[u] += c
    return tuple(out)


def u_statistic(new: list[float], base: list[float]) -> float:
    """Mann-Whitney U of NEW over BASE: pairs where NEW is larger (ties count one half)."""
    return sum((x > y) + 0.5 * (x == y) for x in new for y in base)


def p_greater(new: list[float], base: list[float]) -> float:
    """Exact one-sided p that NEW's values are stochastically larger than BASE's (no change: exchangeable)."""
    m, n = len(new), len(base)
    if not m or not n:
        return 1.0
    counts = _u_counts(m, n)
    u = u_statistic(new, base)
    return sum(counts[math.ceil(u - 1e-9):]) / math.comb(m + n, m)


def min_p(m: int, n: int) -> float:
    """The smallest one-sided p that m vs n blocks can reach (complete separation)."""
    return 1 / math.comb(m + n, m)


def ratio_interval(new: list[float], base: list[float], level: float = CI_LEVEL) -> tuple[float, float] | None:
    """Hodges-Lehmann interval of NEW/BASE from all pairwise log ratios of block medians, cut at the exact
    Mann-Whitney quantiles; None when the blocks are too few to reach ``level``."""
    m, n = len(new), len(base)
    if not m or not n:
        return None
    counts, total = _u_counts(m, n), math.comb(m + n, m)
    tail, k = 0, 0  # k: how many extreme pairwise ratios each side may be cut
    for c in counts:
        if (tail + c) / total > (1 - level) / 2:
            break
        tail += c
        k += 1
    if k == 0:
        return None
    d = sorted(math.log(x / y) for x in new for y in base)
    return math.exp(d[k - 1]), math.exp(d[len(d) - k])


# ---- paired blocks: B against its neighbouring A block (xbench ab) ----------------------------------------------

def _doubled_ranks(values: list[float]) -> list[int]:
    """Twice the average ranks (1-based) of ``values``: ties share a rank, and doubling keeps them integers."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = i + j + 2  # 2 x the mean of ranks i+1 .. j+1
        i = j + 1
    return ranks


@lru_cache(maxsize=None)
def _signed_rank_counts(ranks: tuple[int, ...]) -> tuple[int, ...]:
    """How many of the 2^n sign patterns give each sum of the (doubled) ranks carrying a + sign."""
    out = [1]
    for r in ranks:
        nxt = [0] * (len(out) + r)
        for s, c in enumerate(out):
            nxt[s] += c
            nxt[s + r] += c
        out = nxt
    return tuple(out)


def p_signed_rank(d: list[float]) -> float:
    """Exact one-sided p of the Wilcoxon signed-rank test that the paired differences ``d`` lie above 0.

    Under no change each pair's two blocks are exchangeable, so every one of the 2^n sign patterns is equally
    likely; the statistic is the sum of the ranks of |d| carrying a + sign (ties: average ranks; zeros dropped).
    """
    nz = [x for x in d if x != 0]
    if not nz:
        return 1.0
    ranks = _doubled_ranks([abs(x) for x in nz])
    w = sum(r for r, x in zip(ranks, nz) if x > 0)
    counts = _signed_rank_counts(tuple(sorted(ranks)))
    return sum(counts[w:]) / 2 ** len(nz)


def min_p_paired(n: int) -> float:
    """The smallest one-sided p that n pairs can reach (every pair on the same side)."""
    return 0.5 ** n if n else 1.0


BOOTSTRAP_RESAMPLES = 2000


def rank_quantile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``values`` as the order statistic at rank floor(q n) (0-based; no interpolation):
    serve's closed-loop and SUT-call percentiles."""
    x = sorted(values)
    return x[min(len(x) - 1, int(q * len(x)))]


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``values``, interpolated between order statistics (numpy's default, 'linear')."""
    x = sorted(values)
    pos = q * (len(x) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(x) - 1)
    return x[lo] + (pos - lo) * (x[hi] - x[lo])


def bootstrap_groups(groups: dict, statistic, *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
                     level: float = CI_LEVEL) -> list[tuple[float, float]] | None:
    """Percentile intervals of ``statistic`` over a stratified bootstrap: each group's values (e.g. one batch
    size's block medians) are resampled with replacement, within the group, ``resamples`` times (seeded).

    ``statistic(resampled groups) -> tuple of floats`` (or None where undefined, e.g. a zero denominator: that
    resample is dropped). Returns one (low, high) per element of the tuple, or None when a group has fewer than
    two values (nothing to resample) or no resample gave a value.
    """
    import random

    if not groups or any(len(v) < 2 for v in groups.values()):
        return None
    rng = random.Random(seed)
    draws = []
    for _ in range(resamples):
        sample = {k: [v[rng.randrange(len(v))] for _ in v] for k, v in groups.items()}
        value = statistic(sample)
        if value is not None:
            draws.append(value)
    if not draws:
        return None
    tail = (1 - level) / 2
    return [(percentile(col, tail), percentile(col, 1 - tail)) for col in zip(*draws)]
