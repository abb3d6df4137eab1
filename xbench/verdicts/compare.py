"""Compare two results files benchmark by benchmark: a gate whose noise comes from BASE alone.

Benchmarks are matched on the identity fields (``xbench.records.IDENTITY``).
The unit of evidence is a **block** (one fresh model or session measured for a
fixed number of rounds; ``pytest --benchmark-only`` runs each benchmark in
``--xbench-blocks`` blocks spread across the run). A record without blocks
counts as one block. Raw rounds are never tested: rounds inside a block share
one moment of the machine, so thousands of them make any 1 % shift
"significant" and say nothing about the drift between moments.

For each benchmark measured in both files, two separate questions:

* **significance**: an exact one-sided Mann-Whitney U test on the block
  medians (NEW's blocks vs BASE's), p < alpha (default 0.01). With 5 v 5
  blocks complete separation has p = 1/252, one swapped pair 2/252; 5 v 1
  blocks can never reach 0.01, whatever the change;
* **size**: the ratio of the headline medians (median of block medians), with
  the Hodges-Lehmann 95 % interval of the ratio from all pairwise block ratios.
  It must exceed the threshold (default 10 %) and what run-to-run drift alone
  reaches: the one-sided (1 - alpha) prediction bound for one new run from the
  spread of run medians (t on the pooled degrees of freedom, with the larger of
  the benchmark's own sd and the machine's pooled sd), when BASE pools several
  runs, or else from a pooled ``noise_doc`` of the same machine.

Verdicts, each in one sentence:

* ``regression`` / ``improvement``: significant *and* larger than the bar;
* ``unchanged``: *shown* not to have moved by more than the threshold: the 95 %
  interval of the ratio (Hodges-Lehmann on block ratios, widened on each side by
  the two-sided 95 % prediction margin of run-to-run drift when that is known)
  lies inside ±threshold (1/(1 + t) .. 1 + t) -- an equivalence test;
* ``inconclusive``: neither: the comparison could not tell; the row says why
  and the smallest slowdown this benchmark's blocks could have flagged (its
  minimum detectable effect).

A benchmark
``ok`` in BASE that is ``error`` or ``skipped`` in NEW (or errored in any
pooled NEW run) fails the gate unless ``allow_missing``. Noise is never
estimated from the BASE/NEW pair being judged: a change that moves many
benchmarks by different amounts is judged benchmark by benchmark. Every
rendering begins with what the comparison could see (``sees_line``).

This module is the rule and the matching; a record's blocks and the run-to-run noise model are
``xbench.verdicts.noise``'s, the text and markdown ``xbench.report.comparison``'s.

What one run of BASE cannot see: a machine state that lasts a whole run. Pool
several BASE runs (``xbench compare b1.json,b2.json,b3.json NEW``), give a
pooled file of the same machine as ``--noise``, or compare A and B in
alternating blocks on one machine, to include that drift.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from xbench.records import stats as st
from xbench.errors import UserError
from xbench.verdicts.noise import RunNoise, blocks, run_noise
from xbench.records import IDENTITY, identity_key
from xbench.report import fmt

REGRESSION, IMPROVEMENT, INCONCLUSIVE, UNCHANGED = "regression", "improvement", "inconclusive", "unchanged"
FAILING, MISSING = "now failing", "now skipped"


@dataclass
class Pair:
    id: str
    verdict: str  # regression | improvement | inconclusive | unchanged | now failing | now skipped
    base_median: float | None = None  # median of block medians
    new_median: float | None = None
    change: float | None = None  # new/base - 1
    p: float | None = None  # exact one-sided Mann-Whitney U on block medians, in the direction of the change
    note: str = ""
    ci: tuple[float, float] | None = None  # 95% interval of new/base - 1 (Hodges-Lehmann on block ratios)
    blocks: tuple[int, int] = (1, 1)  # blocks per side
    resolution: float | None = None  # smallest uniform slowdown of NEW this comparison would flag (0: flagged)
    bar: float = 0.0  # the size a change had to exceed: max(threshold, the run-to-run prediction bound)
    paired: bool = False  # judged on pairs of neighbouring blocks (xbench ab): ``blocks`` counts pairs
    equivalence: tuple[float, float] | None = None  # the interval of new/base - 1 the "unchanged" test used
    can_be_unchanged: bool = False  # an interval as wide as ``equivalence`` fits inside ±threshold at all


@dataclass
class Comparison:
    base_name: str
    new_name: str
    threshold: float
    alpha: float
    allow_missing: bool = False
    pairs: list[Pair] = field(default_factory=list)
    status_changes: list[str] = field(default_factory=list)  # matched, not measured in both, not failing the gate
    not_measured: int = 0  # matched, skipped/failed in both files
    only_base: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)
    machines: str = ""  # set when the two files come from different machines
    machine_note: str = ""  # set when a side's machine id is best-effort (xbench.machine.compared)
    env_changes: list[str] = field(default_factory=list)  # library versions / thread settings that differ
    base_runs: int = 1
    noise_runs: int = 0  # runs in the --noise file (0: none given)
    drift: RunNoise | None = None  # the run-to-run noise used (None: unknown)
    family: int = 1  # benchmarks judged at once: the run-to-run bound is Bonferroni-corrected over them
    noise_name: str = "--noise file"  # where noise_doc came from (the CLI may pick the machine's baseline)
    # How the comparison is presented (xbench ab reuses the rendering with its own sides and rule):
    title: str = "xbench compare"
    sides: tuple[str, str] = ("BASE", "NEW")
    rule: str = ""  # the rule in words; empty: this module's own (xbench.report.comparison words it)

    def count(self, verdict: str) -> int:
        return sum(p.verdict == verdict for p in self.pairs)

    @property
    def failed(self) -> bool:
        return any(p.verdict in (REGRESSION, FAILING, MISSING) for p in self.pairs)


def _env_changes(base: dict, new: dict) -> list[str]:
    """Versions and thread settings that differ: the first suspects when a regression shows up."""
    out = []
    for section in ("versions", "threads"):
        b, n = base.get(section) or {}, new.get(section) or {}
        out += [f"{k}: {b.get(k)} -> {n.get(k)}" for k in sorted(set(b) | set(n)) if b.get(k) != n.get(k)]
    return out


def equivalent(ci: tuple[float, float] | None, threshold: float) -> tuple[bool, bool]:
    """(inside, possible): whether the ratio interval ``ci`` lies inside 1/(1 + threshold) .. 1 + threshold, and
    whether an interval as wide as ``ci`` could lie inside at all (False: too few or too noisy blocks)."""
    if ci is None:
        return False, False
    lo, hi = 1 / (1 + threshold), 1 + threshold
    return lo < ci[0] and ci[1] < hi, ci[1] / ci[0] < hi / lo


def undecided_note(why: str, eq: tuple[float, float] | None, threshold: float, resolution: float | None,
                   unit: str, widened: bool = False) -> str:
    """The note of an ``inconclusive`` row: why neither verdict, why not ``unchanged``, and what it could see."""
    if eq is None:
        shown = f"too few {unit} for a 95% interval, so it cannot be shown unchanged"
    else:
        shown = (f"its 95% interval{' with run-to-run drift' if widened else ''} "
                 f"{eq[0] - 1:+.0%}..{eq[1] - 1:+.0%} reaches beyond ±{threshold:.0%}")
    can = (f"these {unit} could flag a slowdown of {resolution:.0%} or more" if resolution is not None else
           f"these {unit} cannot flag any slowdown")
    return "; ".join(x for x in (why, shown, can) if x)


def flags(bb: list[float], nb: list[float], bar: float, alpha: float) -> bool:
    """Whether NEW's block medians ``nb`` are a regression against BASE's ``bb``: median more than ``bar`` above
    and ranked above with p < alpha."""
    return statistics.median(nb) > statistics.median(bb) * (1 + bar) and st.p_greater(nb, bb) < alpha


def smallest_factor(flags_at) -> float:
    """The smallest slowdown f - 1 (0: flagged as it is) at which ``flags_at(f)`` starts to hold, for a rule that
    only moves towards flagging as f grows (xbench compare's and xbench ab's both do)."""
    if flags_at(1.0):
        return 0.0
    lo, hi = 1.0, 2.0
    while not flags_at(hi):
        lo, hi = hi, hi * 2
    for _ in range(40):  # bisection in log space
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if flags_at(mid) else (mid, hi)
    return hi - 1


def smallest_slowdown(bb: list[float], nb: list[float], bar: float, alpha: float) -> float | None:
    """The smallest uniform slowdown of *this* NEW (every block x f) that this comparison would flag, as f - 1
    (0: already flagged); None when these block counts can never reach alpha. Computed on the pair in hand, not
    on an assumed shape: what the header line and the inconclusive rows promise is exactly what a slowed copy of
    NEW would get."""
    if not bb or not nb or st.min_p(len(nb), len(bb)) >= alpha:
        return None
    return smallest_factor(lambda f: flags(bb, [x * f for x in nb], bar, alpha))


def judge(base_blocks: list[list[float]], new_blocks: list[list[float]], threshold: float, alpha: float,
          run_bar: float = 0.0, drift_margin: float = 0.0) -> Pair:
    """One benchmark: significance from ranking block medians, size from the ratio of headline medians,
    ``unchanged`` only from an equivalence test.

    ``run_bar``: how far a new run may drift by run-to-run noise alone (``RunNoise.bar``; 0 when unknown);
    a change must exceed it and the threshold. ``drift_margin``: the two-sided 95 % prediction margin of that
    drift in log units (``RunNoise.margin``): the block interval is widened by it before the equivalence test.
    """
    bb, nb = st.block_medians(base_blocks), st.block_medians(new_blocks)
    mb, mn = statistics.median(bb), statistics.median(nb)
    change = mn / mb - 1 if mb > 0 else 0.0
    slower = change > 0
    p = st.p_greater(nb, bb) if slower else st.p_greater(bb, nb)
    ci = st.ratio_interval(nb, bb)
    eq = (ci[0] * math.exp(-drift_margin), ci[1] * math.exp(drift_margin)) if ci else None
    inside, possible = equivalent(eq, threshold)
    bar = max(threshold, run_bar)
    size = change if slower else (mb / mn - 1 if mn > 0 else 0.0)  # symmetric: 2x faster is as big as 2x slower
    resolution = smallest_slowdown(bb, nb, bar, alpha)
    significant, big = p < alpha, size > bar
    bar_text = f"{bar:.0%}" + (" (what run-to-run drift alone can reach)" if run_bar > threshold else "")
    if significant and big:
        verdict, note = (REGRESSION if slower else IMPROVEMENT), ""
    elif inside:
        verdict, note = UNCHANGED, (f"a significant {change:+.1%} change (p={fmt.p_value(p)}), inside ±{threshold:.0%}"
                                    if significant else "")
    else:
        verdict = INCONCLUSIVE
        if significant:
            why = f"significant (p={fmt.p_value(p)}) but smaller than {bar_text}"
        elif big and resolution is None:
            why = (f"too few blocks to tell ({len(bb)}v{len(nb)}: the smallest possible p is "
                   f"{fmt.p_value(st.min_p(len(nb), len(bb)))}, not below {alpha:g})")
        elif big:
            why = f"too noisy to tell (p={fmt.p_value(p)})"
        else:
            why = f"not significant (p={fmt.p_value(p)})"
        note = undecided_note(why, eq, threshold, resolution, "blocks", widened=drift_margin > 0)
    ci_change = (ci[0] - 1, ci[1] - 1) if ci else None
    eq_change = (eq[0] - 1, eq[1] - 1) if eq else None
    return Pair("", verdict, mb, mn, change, p, note, ci_change, (len(bb), len(nb)), resolution, bar,
                equivalence=eq_change, can_be_unchanged=possible)


def _missing_runs(rec: dict) -> list[dict]:
    """Pooled runs in which this record was not measured (``xbench.records.runs.pool`` keeps them in ``run_status``)."""
    return [r for r in rec.get("run_status") or [] if r.get("status") != "ok"]


def compare(base_doc: dict, new_doc: dict, threshold: float = 0.10, alpha: float = 0.01,
            base_name: str = "BASE", new_name: str = "NEW", allow_missing: bool = False,
            noise_doc: dict | None = None, judge_records=None, noise_name: str = "--noise file") -> Comparison:
    """``noise_doc``: several runs of this machine pooled (e.g. the committed baseline), the source of the
    run-to-run noise when BASE itself is one run. ``judge_records(base_rec, new_rec) -> Pair`` replaces the
    block rule for benchmarks measured in both (``xbench.verdicts.paired`` judges alternated blocks pair by pair)."""
    base = {identity_key(r): r for r in base_doc["records"]}
    drift = run_noise(base_doc) or run_noise(noise_doc)  # BASE's own runs first
    new = {identity_key(r): r for r in new_doc["records"]}
    common = [k for k in base if k in new]
    if not common:
        raise UserError(f"no benchmark in common between {base_name} and {new_name} "
                        f"(matched on {', '.join(IDENTITY)})")
    c = Comparison(base_name, new_name, threshold, alpha, allow_missing,
                   only_base=[base[k]["id"] for k in base if k not in new],
                   only_new=[new[k]["id"] for k in new if k not in base],
                   base_runs=max(1, len((base_doc.get("env") or {}).get("runs") or [])),
                   noise_runs=len((noise_doc or {}).get("env", {}).get("runs") or []) if noise_doc else 0,
                   drift=drift, noise_name=noise_name)
    from xbench.machine import compared

    c.machines, c.machine_note = compared(base_doc, new_doc)
    c.env_changes = _env_changes(base_doc.get("env") or {}, new_doc.get("env") or {})
    c.family = sum(base[k]["status"] == "ok" and new[k]["status"] == "ok" for k in common)
    for k in common:
        b, n = base[k], new[k]
        if b["status"] == "ok" and n["status"] == "ok":
            pair = (judge_records(b, n) if judge_records else
                    judge(blocks(b), blocks(n), threshold, alpha, drift.bar(k, alpha, c.family) if drift else 0.0,
                          drift.margin(k) if drift else 0.0))
            pair.id = n["id"]
            failed = [r for r in _missing_runs(n) if r.get("status") == "error"]
            if failed and not allow_missing:
                pair.verdict = FAILING
                pair.note = f"failed in {len(failed)} of {len(n['run_status'])} runs: {failed[0].get('reason') or ''}"
            c.pairs.append(pair)
        elif b["status"] == "ok" and n["status"] in ("error", "skipped") and not allow_missing:
            c.pairs.append(Pair(n["id"], FAILING if n["status"] == "error" else MISSING, note=n.get("reason") or ""))
        elif b["status"] != n["status"]:
            c.status_changes.append(f"{n['id']}: {b['status']} -> {n['status']}"
                                    + (f" ({n['reason']})" if n.get("reason") else ""))
        else:
            c.not_measured += 1
    if not c.pairs:
        raise UserError(f"no benchmark measured in both {base_name} and {new_name} "
                        f"({len(common)} matched, none ok in both)")
    order = {FAILING: 0, MISSING: 1, REGRESSION: 2, IMPROVEMENT: 3, INCONCLUSIVE: 4, UNCHANGED: 5}
    c.pairs.sort(key=lambda p: (order[p.verdict], -abs(p.change or 0)))
    return c
