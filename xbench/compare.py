"""Compare two results files benchmark by benchmark, with a regression rule that ignores noise.

Benchmarks are matched on the identity fields (``xbench.records.IDENTITY``).
A matched pair measured in both files is a **regression** only when all hold:

1. the median time grew by more than the threshold (default 10%);
2. the evidence says NEW is really slower than BASE, judged on **blocks** when
   both files have at least two per benchmark (``pytest --benchmark-only``
   measures each benchmark in ``--xbench-blocks`` blocks spread across the
   run): *every* NEW block's median is more than the threshold slower than
   *every* BASE block's median. Rounds inside one block share one moment of
   the machine, blocks minutes apart do not, so the blocks' spread is the
   noise a change has to clear. If the blocks were exchangeable (no change),
   complete separation alone has probability 1/C(kb+kn, kb) (1/252 for 5 v 5)
   and the margin makes it rarer still. Files without blocks (one per side)
   fall back to a one-sided Mann-Whitney U test on the raw rounds
   (``samples_s``), p < alpha (default 0.01);
3. the change stands out from this pair of runs' own run-to-run noise: its
   log ratio exceeds ``NOISE_K`` (3) robust standard deviations of the log
   ratios of all matched benchmarks (1.4826 x their median absolute deviation).

Why: with thousands of rounds a test on rounds calls a 1% shift "significant"
and a VM moves whole benchmarks by 20-170% between minutes (measured on this
project's 2-core VM: ONNX Runtime at batch 128 ran 0.38, 1.34 and 0.91 ms in
three blocks of one run, and a 2-thread session at batch 1 runs 12.9 or 24.7 µs
for its whole life, decided when it is created). The threshold alone fires on a noisy median; the
blocks carry the between-moment noise that rounds cannot show; rule 3 still
guards files without blocks, assuming most benchmarks did not change. A change
that moves everything by the same factor (a slower build, the 50%-slower test
copy) clears all three. Rule 3 needs at least ``MIN_FOR_NOISE`` measured pairs.
Improvements use the mirror rule. A benchmark that ran in BASE and fails
(status ``error``) in NEW also counts against NEW. Several runs per side pool
their blocks (``xbench.runs.pool``).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from xbench.errors import UserError
from xbench.records import IDENTITY, block_entries, identity_key

REGRESSION, IMPROVEMENT, UNCHANGED, FAILING = "regression", "improvement", "unchanged", "now failing"
NOISE_K = 3.0
MIN_FOR_NOISE = 8


@dataclass
class Pair:
    id: str
    verdict: str  # regression | improvement | unchanged | now failing
    base_median: float | None = None
    new_median: float | None = None
    change: float | None = None  # new/base - 1
    p: float | None = None  # one-sided, in the direction of the change (Mann-Whitney; or exact, for blocks)
    note: str = ""
    gap: float | None = None  # blocks: (NEW's nearest block) / (BASE's farthest block) - 1, in the change's direction
    blocks: tuple[int, int] = (1, 1)  # blocks per side
    resolution: float | None = None  # smallest uniform slowdown of BASE's own blocks the block rule would flag


@dataclass
class Comparison:
    base_name: str
    new_name: str
    threshold: float
    alpha: float
    pairs: list[Pair] = field(default_factory=list)
    status_changes: list[str] = field(default_factory=list)  # matched, but not measured in both
    not_measured: int = 0  # matched, skipped/failed in both files
    only_base: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)
    noise: float | None = None  # robust sd of log(new/base) over all measured pairs (None: too few pairs)
    machines: str = ""  # set when the two files come from different machines
    env_changes: list[str] = field(default_factory=list)  # library versions / thread settings that differ

    def count(self, verdict: str) -> int:
        return sum(p.verdict == verdict for p in self.pairs)

    @property
    def failed(self) -> bool:
        return any(p.verdict in (REGRESSION, FAILING) for p in self.pairs)


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


def _machine(doc: dict) -> str:
    env = doc.get("env") or {}
    return f"{env.get('hostname') or '?'} / {(env.get('cpu') or {}).get('model') or '?'}"


def _env_changes(base: dict, new: dict) -> list[str]:
    """Versions and thread settings that differ: the first suspects when a regression shows up."""
    out = []
    for section in ("versions", "threads"):
        b, n = base.get(section) or {}, new.get(section) or {}
        out += [f"{k}: {b.get(k)} -> {n.get(k)}" for k in sorted(set(b) | set(n)) if b.get(k) != n.get(k)]
    return out


def one_sided_p(new: list[float], base: list[float], slower: bool) -> float:
    """P-value of Mann-Whitney U for 'new is slower' (slower=True) or 'new is faster' than base."""
    from scipy.stats import mannwhitneyu

    if len(new) < 2 or len(base) < 2:
        return 1.0  # one round says nothing about noise
    return float(mannwhitneyu(new, base, alternative="greater" if slower else "less").pvalue)


def _separation_p(kb: int, kn: int) -> float:
    """Exact chance that kn exchangeable blocks all land on one chosen side of kb others: 1 / C(kb+kn, kb)."""
    return 1 / math.comb(kb + kn, kb)


def judge(base: list[float], new: list[float], threshold: float, alpha: float, noise_floor: float = 0.0,
          base_blocks: list[list[float]] | None = None, new_blocks: list[list[float]] | None = None) -> Pair:
    """``noise_floor``: the smallest |log(new/base)| that stands out from run-to-run noise.

    With at least two blocks on each side, the evidence is the blocks' separation (rule 2 in the module
    docstring); otherwise the Mann-Whitney U test on the rounds.
    """
    mb, mn = statistics.median(base), statistics.median(new)
    change = mn / mb - 1 if mb > 0 else 0.0
    slower = change > 0
    bb = [statistics.median(b) for b in base_blocks or [] if b]
    nb = [statistics.median(b) for b in new_blocks or [] if b]
    gap = None
    if len(bb) >= 2 and len(nb) >= 2:
        gap = (min(nb) / max(bb) - 1) if slower else (max(nb) / min(bb) - 1)
        separated = gap > 0 if slower else gap < 0
        p = _separation_p(len(bb), len(nb)) if separated else 1.0
        evidence = abs(gap) > threshold and separated
        weak = (f"blocks overlap ({_range(bb)} vs {_range(nb)})" if not separated else
                f"blocks only {abs(gap):.0%} apart ({_range(bb)} vs {_range(nb)})")
    else:
        p = one_sided_p(new, base, slower=slower)
        evidence = p < alpha
        weak = f"not significant (p ≥ {alpha:g})"
    big = abs(change) > threshold
    beyond_noise = abs(math.log1p(change)) > noise_floor if change > -1 else True
    verdict = UNCHANGED
    if big and evidence and beyond_noise:
        verdict = REGRESSION if slower else IMPROVEMENT
    note = ""
    if verdict == UNCHANGED and big:
        note = weak if not evidence else f"within run-to-run noise (factor {math.exp(noise_floor):.2f})"
    resolution = (1 + threshold) * max(bb) / min(bb) - 1 if len(bb) >= 2 and min(bb) > 0 else None
    return Pair("", verdict, mb, mn, change, p, note, gap, (max(len(bb), 1), max(len(nb), 1)), resolution)


def _range(medians: list[float]) -> str:
    return f"{min(medians) * 1e3:.3g}-{max(medians) * 1e3:.3g} ms"


def run_to_run_noise(pairs: list[tuple[float, float]]) -> float | None:
    """Robust sd of log(new/base) over (base_median, new_median) pairs; None when too few."""
    logs = [math.log(n / b) for b, n in pairs if b > 0 and n > 0]
    if len(logs) < MIN_FOR_NOISE:
        return None
    center = statistics.median(logs)
    return 1.4826 * statistics.median(abs(x - center) for x in logs)


def compare(base_doc: dict, new_doc: dict, threshold: float = 0.10, alpha: float = 0.01,
            base_name: str = "BASE", new_name: str = "NEW") -> Comparison:
    base = {identity_key(r): r for r in base_doc["records"]}
    new = {identity_key(r): r for r in new_doc["records"]}
    common = [k for k in base if k in new]
    if not common:
        raise UserError(f"no benchmark in common between {base_name} and {new_name} "
                        f"(matched on {', '.join(IDENTITY)})")
    c = Comparison(base_name, new_name, threshold, alpha,
                   only_base=[base[k]["id"] for k in base if k not in new],
                   only_new=[new[k]["id"] for k in new if k not in base])
    if _machine(base_doc) != _machine(new_doc):
        c.machines = f"{_machine(base_doc)} vs {_machine(new_doc)}"
    c.env_changes = _env_changes(base_doc.get("env") or {}, new_doc.get("env") or {})
    measured = [k for k in common if base[k]["status"] == "ok" and new[k]["status"] == "ok"]
    c.noise = run_to_run_noise([(statistics.median(_samples(base[k])), statistics.median(_samples(new[k])))
                                for k in measured])
    floor = NOISE_K * c.noise if c.noise is not None else 0.0
    for k in common:
        b, n = base[k], new[k]
        if b["status"] == "ok" and n["status"] == "ok":
            pair = judge(_samples(b), _samples(n), threshold, alpha, floor, blocks(b), blocks(n))
            pair.id = n["id"]
            c.pairs.append(pair)
        elif b["status"] == "ok" and n["status"] == "error":
            c.pairs.append(Pair(n["id"], FAILING, note=n.get("reason") or ""))
        elif b["status"] != n["status"]:
            c.status_changes.append(f"{n['id']}: {b['status']} -> {n['status']}"
                                    + (f" ({n['reason']})" if n.get("reason") else ""))
        else:
            c.not_measured += 1
    if not c.pairs:
        raise UserError(f"no benchmark measured in both {base_name} and {new_name} "
                        f"({len(common)} matched, none ok in both)")
    order = {FAILING: 0, REGRESSION: 1, IMPROVEMENT: 2, UNCHANGED: 3}
    c.pairs.sort(key=lambda p: (order[p.verdict], -abs(p.change or 0)))
    return c


# ---------------------------------------------------------------- rendering

def _ms(s: float | None) -> str:
    return "—" if s is None else f"{s * 1e3:.4g} ms"


def _p(p: float | None) -> str:
    if p is None:
        return "—"
    return "<1e-300" if p == 0 else f"{p:.2g}"


def _rule(c: Comparison) -> str:
    if c.noise is None:
        noise = (f"the run-to-run noise check is off (fewer than {MIN_FOR_NOISE} benchmarks measured in both files)")
    else:
        noise = (f"and that stands out from this pair's run-to-run noise (more than {NOISE_K:g} x "
                 f"{c.noise:.1%} robust sd of all log ratios, i.e. a factor beyond {math.exp(NOISE_K * c.noise):.2f} either way)")
    return (f"a regression is a median slowdown of more than {c.threshold:.0%} where every NEW block is more than "
            f"{c.threshold:.0%} slower than every BASE block (benchmarks with under 2 blocks a side: a one-sided "
            f"Mann-Whitney U test on the raw rounds, p < {c.alpha:g}) {noise}; improvements mirror it")


def _summary(c: Comparison) -> str:
    parts = [f"{c.count(REGRESSION)} regressions", f"{c.count(IMPROVEMENT)} improvements",
             f"{c.count(UNCHANGED)} unchanged"]
    if c.count(FAILING):
        parts.insert(0, f"{c.count(FAILING)} now failing")
    parts += [f"{len(c.status_changes)} changed status", f"{c.not_measured} not measured in either",
              f"{len(c.only_base)} only in BASE", f"{len(c.only_new)} only in NEW"]
    return ", ".join(parts)


def _evidence(p: Pair) -> str:
    if p.verdict == FAILING or p.change is None:
        return "—"
    if p.gap is not None:
        return f"{p.blocks[0]}v{p.blocks[1]} blocks, gap {p.gap:+.0%}"
    return f"p={_p(p.p)}"


def resolution_line(c: Comparison) -> str:
    """What this comparison could have seen: the slowdowns the BASE blocks can resolve, per benchmark."""
    res = sorted(p.resolution for p in c.pairs if p.resolution is not None)
    if not res:
        return ""
    fifty = sum(r < 0.5 for r in res)
    return (f"resolution: with these blocks a benchmark can flag a slowdown of at least {statistics.median(res):.0%} "
            f"(median; best {res[0]:.0%}, worst {res[-1]:.0%}); {fifty} of {len(res)} could flag a 50% slowdown")


def _row(p: Pair) -> list[str]:
    change = "—" if p.change is None else f"{p.change:+.1%}"
    return [p.verdict.upper() if p.verdict in (REGRESSION, FAILING) else p.verdict, change,
            _ms(p.base_median), _ms(p.new_median), _evidence(p), p.id + (f"  [{p.note}]" if p.note else "")]


HEAD = ["verdict", "change", "BASE median", "NEW median", "evidence", "benchmark"]


def render_text(c: Comparison) -> str:
    lines = [f"BASE {c.base_name}", f"NEW  {c.new_name}", f"rule: {_rule(c)}"]
    if c.machines:
        lines.append(f"note: different machines ({c.machines}): differences include the hardware")
    if c.env_changes:
        lines.append(f"note: environment changed: {'; '.join(c.env_changes)}")
    rows = [HEAD] + [_row(p) for p in c.pairs]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEAD) - 1)]
    lines.append("")
    for r in rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths)) + "  " + r[-1])
    for title, items in (("changed status", c.status_changes), ("only in BASE", c.only_base),
                         ("only in NEW", c.only_new)):
        if items:
            lines += ["", f"{title} ({len(items)}):"] + [f"  {i}" for i in items]
    res = resolution_line(c)
    lines += [""] + ([res] if res else []) + [f"summary: {_summary(c)}"]
    return "\n".join(lines) + "\n"


def render_md(c: Comparison) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|").replace("<", "&lt;")

    lines = ["## xbench compare", "", f"BASE `{c.base_name}` → NEW `{c.new_name}`. Rule: {_rule(c)}.", ""]
    if c.machines:
        lines += [f"**Note:** different machines ({esc(c.machines)}): differences include the hardware.", ""]
    if c.env_changes:
        lines += [f"**Note:** environment changed: {esc('; '.join(c.env_changes))}.", ""]
    lines += ["| " + " | ".join(HEAD) + " |", "| :--- | ---: | ---: | ---: | ---: | :--- |"]
    for p in c.pairs:
        r = _row(p)
        r[0] = f"**{r[0]}**" if p.verdict in (REGRESSION, FAILING) else r[0]
        r[-1] = f"`{p.id}`" + (f" ({esc(p.note)})" if p.note else "")
        lines.append("| " + " | ".join(esc(x) if i < 5 else x for i, x in enumerate(r)) + " |")
    for title, items in (("Changed status", c.status_changes), ("Only in BASE", c.only_base),
                         ("Only in NEW", c.only_new)):
        if items:
            lines += ["", f"**{title} ({len(items)})**", ""] + [f"- `{i}`" for i in items]
    res = resolution_line(c)
    lines += [""] + ([f"**Resolution:** {res.split(': ', 1)[1]}.", ""] if res else [])
    lines += [f"**Summary:** {_summary(c)}."]
    return "\n".join(lines) + "\n"
