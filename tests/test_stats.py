"""Block statistics (xbench.records.stats, Stats.from_blocks): every block weighs the same, intervals hold."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from xbench.records import stats as st
from xbench.records import Record, Stats


def _blocks(rng, states, rounds):
    """One block per (state, rounds): rounds around the state's time, +-3%."""
    return [[s * rng.uniform(0.97, 1.03) for _ in range(n)] for s, n in zip(states, rounds)]


def test_headline_median_does_not_lean_to_blocks_with_more_rounds():
    """The published-baseline defect: 7 fast blocks fit 3x the rounds of 8 slow ones."""
    rng = random.Random(0)
    blocks = _blocks(rng, [0.35e-3] * 7 + [0.88e-3] * 8, [30] * 7 + [10] * 8)
    rec = Record.measured(blocks, 1, task="inference", framework="keras", runtime="onnxruntime",
                          provider="CPUExecutionProvider", model="seed_cnn", batch_size=128)
    meds = [statistics.median(b) for b in blocks]
    assert statistics.median([x for b in blocks for x in b]) < 0.4e-3  # what the old pooled median said
    assert rec.stats.median == pytest.approx(statistics.median(meds))
    assert rec.stats.median > 0.8e-3 and rec.throughput == pytest.approx(128 / rec.stats.median)
    assert [s["blocks"] for s in rec.extra["states"]] == [7, 8]  # two states, reported as such


def test_percentiles_weigh_blocks_equally():
    # 1 block of 1000 fast rounds and 1 block of 10 slow rounds: half the weight each
    s = Stats.from_blocks([[1.0] * 1000, [3.0] * 10])
    assert s.p90 == 3.0 and s.mean == pytest.approx(2.0)
    assert Stats.from_blocks([[1.0] * 1000, [3.0] * 1000]).p90 == 3.0


@pytest.mark.parametrize("seed", range(20))
def test_order_and_interval_invariants(seed):
    rng = random.Random(seed)
    k = rng.choice([1, 2, 3, 5, 15])
    blocks = _blocks(rng, [rng.choice([1.0, 1.1, 2.4]) for _ in range(k)], [rng.randint(3, 40) for _ in range(k)])
    s = Stats.from_blocks(blocks)
    lo, hi = s.median_ci95
    assert s.min <= s.median <= s.p90 <= s.p99 <= s.max
    assert lo <= s.median <= hi
    assert s.blocks == k and s.ci_unit == ("rounds" if k == 1 else "blocks")


def test_interval_coverage_is_stated_exactly():
    assert st.median_interval([1, 2, 3, 4, 5]) == (1, 5, 1 - 2 / 32)  # 93.75%: 5 blocks cannot reach 95%
    lo, hi, level = st.median_interval(list(range(1, 16)))
    assert (lo, hi) == (4, 12) and level == pytest.approx(1 - 2 * 576 / 2 ** 15)
    assert level >= 0.95


def test_interval_covers_the_true_median_as_often_as_it_says():
    rng = random.Random(3)
    hits = sum(lo <= 0 <= hi for lo, hi, _ in (st.median_interval([rng.gauss(0, 1) for _ in range(15)])
                                               for _ in range(2000)))
    assert 0.95 <= hits / 2000 <= 0.985  # stated 96.5%


def test_states_split_on_gaps_only():
    assert len(st.states([0.35, 0.36, 0.34, 0.88, 0.9])) == 2
    assert len(st.states([1.0, 1.1, 1.2, 1.3, 1.4])) == 1  # a spread without a gap is one state
    assert len(st.states([1.0, 1.02, 0.99, 1.01, 9.0])) == 1  # one block far off is an outlier, not a state
    assert len(st.states([1.0] * 30 + [3.0] * 2 + [9.0])) == 1  # 2 of 33 blocks: under a tenth


def test_exact_rank_test_and_its_limits():
    assert st.p_greater([2, 3, 4, 5, 6], [0.1, 0.2, 0.3, 0.4, 0.5]) == pytest.approx(1 / 252)
    assert st.p_greater([2, 3, 4, 5, 0.45], [0.1, 0.2, 0.3, 0.4, 0.5]) == pytest.approx(2 / 252)
    assert st.min_p(5, 1) == pytest.approx(1 / 6)
    # the null distribution of U sums to C(m+n, m) and is symmetric
    counts = st._u_counts(4, 6)
    assert sum(counts) == math.comb(10, 4) and counts == counts[::-1]


def test_ratio_interval_contains_the_true_ratio():
    rng = random.Random(5)
    inside = 0
    for _ in range(500):
        base = [rng.lognormvariate(0, 0.1) for _ in range(5)]
        new = [1.3 * rng.lognormvariate(0, 0.1) for _ in range(5)]
        lo, hi = st.ratio_interval(new, base)
        inside += lo <= 1.3 <= hi
    assert inside / 500 >= 0.94
    assert st.ratio_interval([1.0, 2.0], [1.0]) is None  # 2 v 1 blocks: no 95% interval exists


def test_smallest_slowdown_is_the_boundary():
    from xbench.verdicts.compare import flags, smallest_slowdown

    base, new = [1.0, 1.1, 1.2, 1.05, 1.15], [0.9, 1.2, 1.0, 1.1, 1.3]
    f = 1 + smallest_slowdown(base, new, 0.10, 0.01)
    assert flags(base, [x * f for x in new], 0.10, 0.01)
    assert not flags(base, [x * f * 0.999 for x in new], 0.10, 0.01)
    assert smallest_slowdown([1.0] * 5, [1.0], 0.10, 0.01) is None  # 5 v 1 blocks: never significant at 1%
