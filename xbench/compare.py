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

What one run of BASE cannot see: a machine state that lasts a whole run. Pool
several BASE runs (``xbench compare b1.json,b2.json,b3.json NEW``), give a
pooled file of the same machine as ``--noise``, or compare A and B in
alternating blocks on one machine, to include that drift.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from xbench import stats as st
from xbench.errors import UserError
from xbench.records import IDENTITY, block_entries, identity_key
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
    rule: str = ""  # the rule in words; empty: this module's own (_rule)

    def count(self, verdict: str) -> int:
        return sum(p.verdict == verdict for p in self.pairs)

    @property
    def failed(self) -> bool:
        return any(p.verdict in (REGRESSION, FAILING, MISSING) for p in self.pairs)


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
        verdict, note = UNCHANGED, (f"a significant {change:+.1%} change (p={_p(p)}), inside ±{threshold:.0%}"
                                    if significant else "")
    else:
        verdict = INCONCLUSIVE
        if significant:
            why = f"significant (p={_p(p)}) but smaller than {bar_text}"
        elif big and resolution is None:
            why = (f"too few blocks to tell ({len(bb)}v{len(nb)}: the smallest possible p is "
                   f"{_p(st.min_p(len(nb), len(bb)))}, not below {alpha:g})")
        elif big:
            why = f"too noisy to tell (p={_p(p)})"
        else:
            why = f"not significant (p={_p(p)})"
        note = undecided_note(why, eq, threshold, resolution, "blocks", widened=drift_margin > 0)
    ci_change = (ci[0] - 1, ci[1] - 1) if ci else None
    eq_change = (eq[0] - 1, eq[1] - 1) if eq else None
    return Pair("", verdict, mb, mn, change, p, note, ci_change, (len(bb), len(nb)), resolution, bar,
                equivalence=eq_change, can_be_unchanged=possible)


def _missing_runs(rec: dict) -> list[dict]:
    """Pooled runs in which this record was not measured (``xbench.runs.pool`` keeps them in ``run_status``)."""
    return [r for r in rec.get("run_status") or [] if r.get("status") != "ok"]


def compare(base_doc: dict, new_doc: dict, threshold: float = 0.10, alpha: float = 0.01,
            base_name: str = "BASE", new_name: str = "NEW", allow_missing: bool = False,
            noise_doc: dict | None = None, judge_records=None, noise_name: str = "--noise file") -> Comparison:
    """``noise_doc``: several runs of this machine pooled (e.g. the committed baseline), the source of the
    run-to-run noise when BASE itself is one run. ``judge_records(base_rec, new_rec) -> Pair`` replaces the
    block rule for benchmarks measured in both (``xbench.paired`` judges alternated blocks pair by pair)."""
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


# ---------------------------------------------------------------- rendering

def _p(p: float | None) -> str:
    if p is None:
        return "—"
    return "<1e-300" if p == 0 else f"{p:.2g}"


def _rule(c: Comparison) -> str:
    if c.rule:
        return c.rule
    missing = ("a benchmark ok in BASE and skipped or failing in NEW is listed but allowed (--allow-missing)"
               if c.allow_missing else "a benchmark ok in BASE and skipped or failing in NEW fails the gate")
    source = ("BASE's own runs" if c.base_runs > 1 else
              f"the {c.noise_runs} runs of the {c.noise_name}" if c.noise_runs else "nowhere: BASE is one run")
    if c.drift:
        source += (f": the machine's pooled sd of log run medians {c.drift.pooled_sd:.3f} over "
                   f"{c.drift.df} degrees of freedom, or a benchmark's own when larger")
    return (f"a regression is a NEW median (median of block medians) more than {c.threshold:.0%} above BASE's, "
            f"and beyond what run-to-run drift alone reaches (the one-sided t prediction bound for a new run at "
            f"{c.alpha:g}/{c.family} per benchmark, Bonferroni over the {c.family} benchmarks; run-to-run noise "
            f"from {source}), where NEW's block medians rank above BASE's with p < {c.alpha:g} (exact one-sided "
            f"Mann-Whitney U on blocks; a file without blocks is one block); improvements mirror it; unchanged "
            f"means shown: the 95% interval of the ratio, widened by the run-to-run drift's 95% prediction margin, "
            f"lies inside ±{c.threshold:.0%}; anything else is inconclusive; {missing}. The bound assumes run "
            f"medians scatter like a normal sample and is no false-alarm guarantee: a machine state that outlasts "
            f"BASE's runs is not in it, and on this project's 2-core VMs most honest runs held out from a "
            f"3-run baseline raised a false alarm (docs/statistics.md, out of sample); judge code with xbench ab")


def _summary(c: Comparison) -> str:
    parts = [f"{c.count(REGRESSION)} regressions", f"{c.count(IMPROVEMENT)} improvements",
             f"{c.count(INCONCLUSIVE)} inconclusive", f"{c.count(UNCHANGED)} unchanged"]
    for verdict in (MISSING, FAILING):
        if c.count(verdict):
            parts.insert(0, f"{c.count(verdict)} {verdict}")
    parts += [f"{len(c.status_changes)} changed status", f"{c.not_measured} not measured in either",
              f"{len(c.only_base)} only in {c.sides[0]}", f"{len(c.only_new)} only in {c.sides[1]}"]
    return ", ".join(parts)


def _evidence(p: Pair) -> str:
    if p.verdict in (FAILING, MISSING) or p.change is None:
        return "—"
    if p.paired:  # xbench ab: each row says what its pairs could see
        res = "—" if p.resolution is None else f"{p.resolution:.0%}"
        return f"{p.blocks[0]} pairs, p={_p(p.p)}, resolves {res}"
    return f"{p.blocks[0]}v{p.blocks[1]} blocks, p={_p(p.p)}"


def _interval(p: Pair) -> str:
    return "—" if p.ci is None else fmt.interval(*p.ci, of=fmt.percent, sep="..", signed=True)


def _judged(c: Comparison) -> list[Pair]:
    return [p for p in c.pairs if p.change is not None]


def sees_line(c: Comparison) -> str:
    """What this comparison can see, before any verdict: how many benchmarks could flag a slowdown of the
    threshold, of 50 % and of 100 % (x2), the median smallest flaggable slowdown, and how many could be shown
    unchanged at all. Every compare / ab output begins with it."""
    pairs = _judged(c)
    if not pairs:
        return "sees: no benchmark measured on both sides"
    m = len(pairs)
    res = sorted(math.inf if p.resolution is None else p.resolution for p in pairs)
    med = statistics.median(res)

    def n(x: float) -> int:
        return sum(r <= x + 1e-9 for r in res)

    levels = sorted({c.threshold, 0.5, 1.0})
    flag = ", ".join(f"{x:.0%}{' (x2)' if x == 1.0 else ''} or more on {n(x)}" for x in levels)
    can_eq = sum(p.can_be_unchanged for p in pairs)
    line = (f"sees: this comparison can flag slowdowns of {flag} of {m} benchmarks (median smallest flaggable "
            f"slowdown: {'none' if math.isinf(med) else f'{med:.0%}'}); ")
    line += (f"it can show a benchmark unchanged (95% interval inside ±{c.threshold:.0%}) on {can_eq} of {m}"
             if can_eq else f"no benchmark can be unchanged with these {'pairs' if pairs[0].paired else 'blocks'} "
                            f"(no 95% interval this narrow fits inside ±{c.threshold:.0%})")
    if c.base_runs == 1 and not c.noise_runs and not pairs[0].paired:
        line += ("; BASE is one run and no --noise file was given: a machine state lasting a whole run is not "
                 "in the noise")
    return line


def resolution_line(c: Comparison) -> str:
    """What this comparison could have seen: the slowdowns each benchmark's BASE blocks could flag."""
    pairs = _judged(c)
    res = sorted(p.resolution for p in pairs if p.resolution is not None)
    if not pairs:
        return ""
    blind = len(pairs) - len(res)
    if not res:
        return f"resolution: none of {len(pairs)} benchmarks has enough blocks to flag any change at p < {c.alpha:g}"
    fifty = sum(r <= 0.5 for r in res)
    unit = "pairs" if any(p.paired for p in pairs) else "blocks"
    line = (f"resolution: these {unit} can flag a slowdown of at least {statistics.median(res):.0%} "
            f"(median over benchmarks; best {res[0]:.0%}, worst {res[-1]:.0%}); {fifty} of {len(pairs)} could flag "
            f"a 50% slowdown")
    if unit == "pairs":
        ten = sum(r <= 0.10 + 1e-9 for r in res)
        line += f", {ten} a 10% slowdown"
    if blind:
        line += f"; {blind} have too few {unit} to flag any"
    return line


def _row(p: Pair) -> list[str]:
    change = fmt.percent(p.change, digits=1, signed=True)
    loud = p.verdict in (REGRESSION, FAILING, MISSING)
    return [p.verdict.upper() if loud else p.verdict, change, _interval(p), fmt.duration(p.base_median, digits=4),
            fmt.duration(p.new_median, digits=4), _evidence(p), p.id + (f"  [{p.note}]" if p.note else "")]


HEAD = ["verdict", "change", "95% interval", "BASE median", "NEW median", "evidence", "benchmark"]


def _head(c: Comparison) -> list[str]:
    return HEAD[:3] + [f"{c.sides[0]} median", f"{c.sides[1]} median"] + HEAD[5:]


def render_text(c: Comparison) -> str:
    w = max(len(s) for s in c.sides)
    lines = [sees_line(c), f"{c.sides[0].ljust(w)} {c.base_name}", f"{c.sides[1].ljust(w)} {c.new_name}",
             f"rule: {_rule(c)}"]
    if c.machines:
        lines.append(f"note: different machines ({c.machines}): differences include the hardware")
    if c.machine_note:
        lines.append(f"note: {c.machine_note}")
    if c.env_changes:
        lines.append(f"note: environment changed: {'; '.join(c.env_changes)}")
    rows = [_head(c)] + [_row(p) for p in c.pairs]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEAD) - 1)]
    lines.append("")
    for r in rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths)) + "  " + r[-1])
    for title, items in (("changed status", c.status_changes), (f"only in {c.sides[0]}", c.only_base),
                         (f"only in {c.sides[1]}", c.only_new)):
        if items:
            lines += ["", f"{title} ({len(items)}):"] + [f"  {i}" for i in items]
    lines += ["", f"summary: {_summary(c)}"]
    return "\n".join(lines) + "\n"


def render_md(c: Comparison) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|").replace("<", "&lt;")

    seen = sees_line(c).removeprefix("sees: ")
    lines = [f"**{seen[0].upper()}{seen[1:]}.**", "", f"## {c.title}", "",
             f"{c.sides[0]} `{c.base_name}` → {c.sides[1]} `{c.new_name}`. Rule: {_rule(c)}.", ""]
    if c.machines:
        lines += [f"**Note:** different machines ({esc(c.machines)}): differences include the hardware.", ""]
    if c.machine_note:
        lines += [f"**Note:** {esc(c.machine_note)}.", ""]
    if c.env_changes:
        lines += [f"**Note:** environment changed: {esc('; '.join(c.env_changes))}.", ""]
    lines += ["| " + " | ".join(_head(c)) + " |", "| :--- | ---: | ---: | ---: | ---: | ---: | :--- |"]
    for p in c.pairs:
        r = _row(p)
        r[0] = f"**{r[0]}**" if p.verdict in (REGRESSION, FAILING, MISSING) else r[0]
        r[-1] = f"`{p.id}`" + (f" ({esc(p.note)})" if p.note else "")
        lines.append("| " + " | ".join(esc(x) if i < len(HEAD) - 1 else x for i, x in enumerate(r)) + " |")
    for title, items in (("Changed status", c.status_changes), (f"Only in {c.sides[0]}", c.only_base),
                         (f"Only in {c.sides[1]}", c.only_new)):
        if items:
            lines += ["", f"**{title} ({len(items)})**", ""] + [f"- `{i}`" for i in items]
    lines += ["", f"**Summary:** {_summary(c)}."]
    return "\n".join(lines) + "\n"
