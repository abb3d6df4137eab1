"""The Server QPS search (``xbench.serve.search``) on fake run functions: no LoadGen, no model, no clock.

Each fake says what the p99 latency is at a QPS; the search must return the highest passing QPS it probed, never one
whose p99 exceeds the bound, and say so when even the lowest QPS misses the bound."""

from __future__ import annotations

import pytest

from xbench.serve.search import CEILING, FOUND, LIMIT, NOT_AT_LOWEST, Probe, search

BOUND = 0.010


def fake(p99_at, valid_at=lambda qps: True):
    calls = []

    def run(qps: float) -> Probe:
        calls.append(qps)
        return Probe(qps, p99_at(qps), valid_at(qps), "" if valid_at(qps) else "min duration not met", qps)

    run.calls = calls
    return run


def knee(edge: float):
    """p99 flat under ``edge`` QPS, then past the bound (a queue that stops draining)."""
    return lambda qps: 0.002 if qps <= edge else 0.050


@pytest.mark.parametrize("edge", [300, 777, 5000, 12_345])
def test_the_answer_is_the_highest_passing_qps_within_tolerance(edge):
    run = fake(knee(edge))
    got = search(run, BOUND, start_qps=250, max_qps=32_000, rel_tol=0.05, max_probes=30)
    assert got.status == FOUND
    assert knee(edge)(got.qps) <= BOUND  # never a QPS whose p99 exceeds the bound
    assert got.best is not None and got.best.p99_s <= BOUND
    assert edge * (1 - 0.05) <= got.qps <= edge  # and not far below the edge
    assert len(run.calls) == len(got.probes) <= 30


def test_a_noisy_probe_neither_raises_nor_sinks_the_answer():
    """p99 rises with QPS, and one probe below the edge happens to fail (a hiccup): the answer is still the highest
    QPS that passed, and its own probe passed."""
    def p99(qps):
        if 1900 < qps < 2100:
            return 0.020  # a noisy failure
        return 0.001 + qps * 2e-6  # crosses 10 ms at 4500 QPS

    got = search(fake(p99), BOUND, start_qps=250, max_qps=32_000, rel_tol=0.02, max_probes=30)
    assert got.qps is not None and p99(got.qps) <= BOUND
    assert all(p.qps <= got.qps for p in got.probes if p.passes(BOUND))


def test_a_run_loadgen_calls_invalid_never_passes_even_under_the_bound():
    run = fake(lambda qps: 0.001, valid_at=lambda qps: qps <= 1000)  # fast, but runs above 1000 QPS are INVALID
    got = search(run, BOUND, start_qps=250, max_qps=32_000, rel_tol=0.05)
    assert got.qps <= 1000 and got.best.valid
    d = got.to_dict()  # the record counts the INVALID probes that met the bound: here every INVALID one did
    assert d["invalid_probes"] == d["invalid_within_bound"] == sum(not p.valid for p in got.probes) > 0


def test_probes_invalid_only_above_the_edge_are_counted_as_such():
    got = search(fake(knee(5000), valid_at=lambda qps: qps <= 5000), BOUND, start_qps=250, max_qps=32_000)
    d = got.to_dict()
    assert d["invalid_probes"] > 0 and d["invalid_within_bound"] == 0


def test_the_bound_missed_at_the_lowest_qps_is_an_answer_not_an_error():
    got = search(fake(lambda qps: 0.5), BOUND, start_qps=250, max_qps=32_000)
    assert got.status == NOT_AT_LOWEST and got.qps is None and got.best is None
    assert [p.qps for p in got.probes] == [250]
    assert got.to_dict()["status"] == NOT_AT_LOWEST


def test_a_search_that_never_fails_says_where_it_stopped():
    assert search(fake(lambda qps: 0.001), BOUND, start_qps=250, max_qps=1000).status == CEILING
    got = search(fake(lambda qps: 0.001), BOUND, start_qps=250, max_qps=1e9, max_probes=3)
    assert got.status == LIMIT and got.qps == 1000


def test_nonsense_settings_are_refused():
    with pytest.raises(ValueError):
        search(fake(lambda qps: 0.001), 0, start_qps=250, max_qps=1000)
    with pytest.raises(ValueError):
        search(fake(lambda qps: 0.001), BOUND, start_qps=2000, max_qps=1000)
