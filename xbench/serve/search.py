"""The Server scenario's QPS search: the highest request rate whose 99th percentile latency stays under a bound.

Pure logic over a ``run(qps) -> Probe`` function (one LoadGen Server run per probe in ``xbench serve``; a fake
in the tests). Doubling from ``start_qps`` until a probe fails, then bisection between the last pass and the
first fail until they are within ``rel_tol`` of each other. A probe passes when LoadGen calls the run VALID
(minimum duration and query count met, the latency bound met by its early-stopping estimate) and the measured
p99 is within the bound. The answer is the highest passing QPS of all probes, so a noisy probe above it that
failed cannot raise it, and it is never a QPS whose p99 exceeded the bound.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

FOUND = "found"
NOT_AT_LOWEST = "bound not met at the lowest QPS"
CEILING = "bound met at the highest QPS searched"
LIMIT = "probe limit reached before a probe failed"


@dataclass(frozen=True)
class Probe:
    qps: float  # the target (scheduled) rate
    p99_s: float | None  # measured 99th percentile latency; None: no latency (the run failed)
    valid: bool  # LoadGen's verdict on the run
    reason: str = ""  # LoadGen's reason when not valid
    achieved_qps: float | None = None
    logs: dict = field(default_factory=dict)  # log names of this probe (``xbench.serve.loadgen``)
    complete: bool | None = None  # LoadGen's minimum duration and query count met (a whole run, whatever its latency)

    def passes(self, bound_s: float) -> bool:
        return self.valid and self.p99_s is not None and self.p99_s <= bound_s


@dataclass
class Search:
    bound_s: float
    status: str  # FOUND | NOT_AT_LOWEST | CEILING | LIMIT
    qps: float | None  # the answer; None when the bound is not met even at the lowest QPS
    probes: list[Probe]
    rel_tol: float = 0.1  # the bisection stops when the last pass and the first fail are this close

    @property
    def best(self) -> Probe | None:
        return next((p for p in self.probes if p.qps == self.qps and p.passes(self.bound_s)), None)

    def to_dict(self) -> dict:
        known = [p.complete for p in self.probes if p.complete is not None]
        invalid = [p for p in self.probes if not p.valid]
        return {"status": self.status, "qps": self.qps, "latency_bound_s": self.bound_s, "rel_tol": self.rel_tol,
                # every probe a whole LoadGen run? The probes above the edge are INVALID by LoadGen's latency rule:
                # that is how the search finds the edge, not a run that measured too little.
                "complete_probes": f"{sum(known)} of {len(self.probes)}" if known else None,
                # INVALID probes whose measured p99 met the bound (early stopping not met, too few queries...):
                # 0 means every probe within the bound was VALID, the INVALID ones all missed the bound
                "invalid_probes": len(invalid),
                "invalid_within_bound": sum(p.p99_s is None or p.p99_s <= self.bound_s for p in invalid),
                "probes": [asdict(p) for p in self.probes]}


def search(run: Callable[[float], Probe], bound_s: float, *, start_qps: float, max_qps: float,
           rel_tol: float = 0.1, max_probes: int = 12) -> Search:
    """The highest QPS in [start_qps, max_qps] whose probe passes (``Probe.passes``), to within ``rel_tol``."""
    if not bound_s > 0 or not 0 < start_qps <= max_qps or not rel_tol > 0:
        raise ValueError(f"search needs bound_s > 0, 0 < start_qps <= max_qps, rel_tol > 0 "
                         f"(got {bound_s}, {start_qps}, {max_qps}, {rel_tol})")
    probes: list[Probe] = []

    def probe(qps: float) -> bool:
        p = run(qps)
        probes.append(p)
        return p.passes(bound_s)

    if not probe(start_qps):
        return Search(bound_s, NOT_AT_LOWEST, None, probes, rel_tol)
    good, bad = start_qps, None
    while bad is None and good < max_qps and len(probes) < max_probes:
        nxt = min(good * 2, max_qps)
        if probe(nxt):
            good = nxt
        else:
            bad = nxt
    while bad is not None and bad - good > rel_tol * good and len(probes) < max_probes:
        mid = (good + bad) / 2
        if probe(mid):
            good = mid
        else:
            bad = mid
    best = max(p.qps for p in probes if p.passes(bound_s))
    status = FOUND if bad is not None else CEILING if best >= max_qps else LIMIT
    return Search(bound_s, status, best, probes, rel_tol)
