"""Time-to-accuracy records in words: one line per record for terminals, and the sweep's Markdown tables (batch size x
learning rate -> time to each target with its interval, best accuracy, plateau, s/epoch). Reads record dicts only."""

from __future__ import annotations

from xbench.training.tta import COLLAPSE_DROP, TASK, target_key


def interval_text(t: dict) -> str:
    """'10.4 s [9.8, 11.0] · 3/3' for one entry of a record's ``targets``; ∞: some seeds never got there."""
    lo, hi = (f"{x:.1f}" if x is not None else "∞" for x in t["median_ci95"])
    if t["median_s"] is None:
        return f"not reached · {t['reached']}/{t['seeds']}"
    return f"{t['median_s']:.1f} s [{lo}, {hi}] · {t['reached']}/{t['seeds']}"


def summary_line(rec: dict) -> str:
    """One line per record (a ``Record.to_dict()``), for terminals and reports."""
    head = (f"{rec['task']} {rec['framework']} {rec['model']} batch {rec['batch_size']} lr {rec['learning_rate']:g} "
            f"init {rec.get('init', 'own')}:")
    n, k = rec["repeats"], rec["reached_repeats"]
    if rec["reached"]:
        s = rec["stats"]
        text = (f"reached {rec['target']:g} in {k}/{n} repeats; median {rec['train_s_to_target']:.1f} s training "
                f"(min {s['min']:.1f}, max {s['max']:.1f}), {rec['eval_s_to_target']:.1f} s evaluation, "
                f"{rec['wall_s_to_target']:.1f} s wall; {rec['epochs_to_target']:.2f} epochs, "
                f"{rec['steps_to_target']:g} steps")
    else:
        text = (f"reached: false ({k}/{n} repeats reached {rec['target']:g} within {rec['max_epochs']} epochs); "
                f"best accuracy {rec['best_accuracy']:.4f}")
    others = [f"{float(key):g}: {interval_text(t)}" for key, t in rec.get("targets", {}).items()
              if float(key) != rec["target"]]
    if others:
        text += "; also " + ", ".join(others)
    text += f"; {rec['time_per_epoch_s']:.2f} s/epoch, {rec['steps_per_s']:.0f} steps/s"
    if rec["stability"] != "stable":
        bad = next(r for r in rec["runs"] if r["stability"] != "stable")
        text += f"; {rec['stability'].upper()}: {bad['instability']}"
    return f"{head} {text}"


def _flag(rec: dict) -> str:
    return {"stable": "", "unstable": " ⚠ unstable", "diverged": " ✗ diverged"}[rec["stability"]]


def cell_text(rec: dict, key: str | None = None) -> str:
    """A sweep table cell: median time to the target [interval] · seeds that reached it, or why there is none."""
    t = rec["targets"][key or target_key(rec["target"])]
    text = interval_text(t)
    if t["median_s"] is None:
        b = rec["best_accuracy_over_seeds"]
        text += f" (best {b['mean'] * 100:.2f} ± {b['sd'] * 100:.2f}%)"
    return text + _flag(rec)


def _pm(m: dict) -> str:
    return f"{m['mean'] * 100:.2f} ± {m['sd'] * 100:.2f}"


def markdown_table(records: list[dict], framework: str) -> str:
    """Batch size x learning rate -> time to each target with its interval, best accuracy, the plateau and
    s/epoch, for one framework."""
    recs = [r for r in records if r["framework"] == framework and r["task"] == TASK]
    if not recs:
        return ""
    lrs = sorted({r["learning_rate"] for r in recs})
    batches = sorted({r["batch_size"] for r in recs})
    cell = {(r["batch_size"], r["learning_rate"]): r for r in recs}
    r0 = recs[0]
    head = "| batch \\ lr | " + " | ".join(f"{lr:g}" for lr in lrs) + " |"
    rule = "|---:|" + "---:|" * len(lrs)

    def table(fmt) -> list[str]:
        return [head, rule] + [f"| {b} | " + " | ".join(fmt(cell[b, lr]) if (b, lr) in cell else "–" for lr in lrs)
                               + " |" for b in batches]

    res = r0["resolution"]
    levels = sorted({t["ci_level"] for r in recs for t in r["targets"].values()})
    lines = [f"**{framework}**, init {r0['init']}: training time to each target test accuracy over "
             f"{r0['repeats']} seed(s) per cell: median [interval of the median, order statistic, coverage "
             f"{'/'.join(f'{v * 100:.1f}%' for v in levels)}] · seeds that reached it (∞: a seed that did not "
             f"reach it bounds the interval); capped at {r0['max_epochs']} epochs per cell; {r0['data']}. "
             f"Resolution: accuracy measured every {res['steps_between_measurements']} steps "
             f"({res['rule']}).", ""]
    for key in r0["targets"]:
        lines += [f"Target {float(key) * 100:g}%:", "", *table(lambda r, k=key: cell_text(r, k)), ""]
    epochs = [p["epoch"] for p in r0["plateau"]]
    lines += [f"**{framework}**: best test accuracy over the run, mean ± sd over seeds (%)", "",
              *table(lambda r: _pm(r["best_accuracy_over_seeds"])), "",
              f"**{framework}**: test accuracy at the end of epoch {', '.join(map(str, epochs))}, mean ± sd over "
              "seeds (%)", "",
              *table(lambda r: " / ".join(_pm(p) for p in r["plateau"])), "",
              f"**{framework}**: seconds per epoch of training · optimizer steps per second · largest fall of test "
              f"accuracy below its best so far (points; >= {COLLAPSE_DROP * 100:g} is flagged unstable)", "",
              *table(lambda r: f"{r['time_per_epoch_s']:.1f} s · {r['steps_per_s']:.0f}/s · "
                               f"{max(x['max_drop'] for x in r['runs']) * 100:.2f}"), ""]
    return "\n".join(lines)
