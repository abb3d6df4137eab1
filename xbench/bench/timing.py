"""The one warm-up-and-time loop for measurements outside pytest (explain, sweep, infer, per-layer timing).

The suite's warm-up policy, here too: the first call is timed on its own (tracing, compilation, first
allocations, cuDNN's search), then ``WARMUP_CALLS`` untimed calls, then rounds until the budget is spent.
The pytest plugin times its rounds with pytest-benchmark after the same first call and warm-ups.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

WARMUP_CALLS = 3  # after the first (timed separately) call, before the timed rounds: the suite's number


@dataclass
class Timing:
    first_call_s: float
    samples: list[float] = field(default_factory=list)  # seconds per call, in order
    warmup_calls: int = WARMUP_CALLS


def _timed(fn: Callable[[], object], sync: Callable[[], object] | None) -> float:
    t0 = time.perf_counter()
    fn()
    if sync:
        sync()
    return time.perf_counter() - t0


def first_call(fn: Callable[[], object], sync: Callable[[], object] | None = None) -> float:
    """Seconds of ``fn``'s first call (a failing call raises here, before any timing)."""
    return _timed(fn, sync)


def rounds(fn: Callable[[], object], budget_s: float = 1.0, min_rounds: int = 5, max_rounds: int = 500,
           sync: Callable[[], object] | None = None) -> list[float]:
    """After the first call: ``WARMUP_CALLS`` untimed calls, then seconds per call until ``budget_s`` is spent
    (at least ``min_rounds``, at most ``max_rounds``). ``sync`` (a device synchronisation) runs inside each
    timed call."""
    for _ in range(WARMUP_CALLS):
        fn()
        if sync:
            sync()
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < max_rounds and (len(samples) < min_rounds or time.perf_counter() - start < budget_s):
        samples.append(_timed(fn, sync))
    return samples


def measure(fn: Callable[[], object], budget_s: float = 1.0, min_rounds: int = 5, max_rounds: int = 500,
            sync: Callable[[], object] | None = None) -> Timing:
    """``fn``'s first call, timed on its own, then ``rounds``."""
    first = first_call(fn, sync)
    return Timing(first, rounds(fn, budget_s, min_rounds, max_rounds, sync))


def time_calls(fn: Callable[[], object], budget_s: float = 1.0, min_rounds: int = 5, max_rounds: int = 500,
               sync: Callable[[], object] | None = None) -> list[float]:
    """``measure``'s timed rounds only (seconds per call)."""
    return measure(fn, budget_s, min_rounds, max_rounds, sync).samples
