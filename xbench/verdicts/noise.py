"""What compare and ab share about a record: its rounds block by block, the median of each pooled run, and the
run-to-run noise model (how far whole runs of one machine drift, from several runs pooled into one document)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from xbench.records import stats as st
from xbench.records import block_entries, identity_key


def _samples(rec: dict) -> list[float]:
    return rec.get("samples_s") or ([rec["stats"]["median"]] if rec.get("stats") else [])


def blocks(rec: dict) -> list[list[float]]:
    """The record's rounds, block by block (``blocks[].rounds`` split ``samples_s``); one block without them."""
    samples = _samples(rec)
    sizes = [b["rounds"] for b in block_entries(rec)]
    if len(sizes) < 2:
        return [samples]
    out, i = [], 0
    for n in sizes:
        out.append(samples[i:i + n])
        i += n
    return out


def run_medians(rec: dict) -> list[float]:
    """The median of each pooled run's block medians (one value for a record from one run)."""
    per_run: dict[int, list[float]] = {}
    for entry, b in zip(block_entries(rec), blocks(rec)):
        if b:
            per_run.setdefault(entry.get("run", 0), []).append(statistics.median(b))
    return [statistics.median(v) for v in per_run.values()]


@dataclass
class RunNoise:
    """How far whole runs of this machine drift, from several runs pooled into one document (BASE's own, or a
    ``--noise`` file): per benchmark the sd of its log run medians, and the machine's pooled sd over all of
    them (degrees of freedom: the sum of runs - 1)."""
    sd: dict[tuple, tuple[float, int]]  # identity -> (sd of log run medians, runs)
    pooled_sd: float
    df: int
    runs: int

    def _sd_new(self, key: tuple) -> float:
        """The sd of one new run's log median about BASE's: max(own sd, pooled sd) x sqrt(1 + 1/runs)."""
        sd, runs = self.sd.get(key, (0.0, self.runs))
        return max(sd, self.pooled_sd) * math.sqrt(1 + 1 / max(runs, 1))

    def margin(self, key: tuple, level: float = st.CI_LEVEL) -> float:
        """The two-sided ``level`` prediction margin of one new run's log median (for the equivalence test)."""
        from scipy.stats import t

        return float(t.ppf(0.5 + level / 2, self.df)) * self._sd_new(key)

    def bar(self, key: tuple, alpha: float, family: int = 1) -> float:
        """The one-sided prediction bound for one new run's median, as a fraction above BASE's:
        t(1 - alpha/family, df) x max(this benchmark's sd, the machine's pooled sd) x sqrt(1 + 1/runs).

        ``family``: how many benchmarks the comparison judges at once. A gate fails on *any* regression, so the
        bound is Bonferroni-corrected: an honest NEW run crosses some benchmark's bound with probability below
        alpha in all (per benchmark alpha/family), not about alpha x family."""
        from scipy.stats import t

        level = 1 - alpha / max(family, 1)
        return math.expm1(t.ppf(level, self.df) * self._sd_new(key))


def run_noise(doc: dict | None) -> RunNoise | None:
    """The run-to-run noise in a pooled document; None when it holds fewer than two runs."""
    if not doc:
        return None
    sd = {}
    for rec in doc["records"]:
        meds = [m for m in run_medians(rec) if m > 0] if rec["status"] == "ok" else []
        if len(meds) >= 2:
            sd[identity_key(rec)] = (statistics.stdev(math.log(m) for m in meds), len(meds))
    df = sum(r - 1 for _, r in sd.values())
    if not df:
        return None
    pooled = math.sqrt(sum(s * s * (r - 1) for s, r in sd.values()) / df)
    return RunNoise(sd, pooled, df, max(r for _, r in sd.values()))
