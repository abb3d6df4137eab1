"""A comparison (``xbench.verdicts.compare.Comparison``, ``xbench ab``'s too) as text and markdown: what it could see (the
first line of every output), the rule in words, one row per benchmark, the summary."""

from __future__ import annotations

import math
import statistics

from xbench.verdicts.compare import FAILING, IMPROVEMENT, INCONCLUSIVE, MISSING, REGRESSION, UNCHANGED, Comparison, Pair
from xbench.report import fmt


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
        return f"{p.blocks[0]} pairs, p={fmt.p_value(p.p)}, resolves {res}"
    return f"{p.blocks[0]}v{p.blocks[1]} blocks, p={fmt.p_value(p.p)}"


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
