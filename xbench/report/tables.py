"""The report's content, built as blocks (``xbench.report.doc``): headings, paragraphs and tables from results.

``xbench.report.doc.to_markdown`` and ``xbench.report.html`` render the blocks; ``xbench.report.csv_rows`` writes
the records as CSV.
"""

from __future__ import annotations

import re
from collections import defaultdict

from xbench.machine import machine_id
from xbench.precision import ACCURACY_POINTS
from xbench.report import fmt
from xbench.report.data import (DEFAULT_VARIANTS, FRAMEWORK_LABELS, NOISY_IQR, TASK_TITLES, Column, Run, column,
                                default_variant, device, median_s, noisy)
from xbench.report.doc import Heading, Image, Para, Strong, Table
from xbench.report.scaling import EXPLAIN as SCALING_EXPLAIN, scaling_table
from xbench.report.where import where_tables


def _row_key(rec: dict) -> tuple:
    return rec["model"], rec["batch_size"], rec.get("dtype", "float32")


def _row_label(key: tuple) -> list[str]:
    model, batch, dtype = key
    return [model if dtype == "float32" else f"{model} ({dtype})", str(batch)]


def _by_column(runs: list[Run], task: str) -> dict[Column, dict[str, list[tuple[int, dict]]]]:
    """column -> variant -> (run index, record) for every status, in file order."""
    out: dict = defaultdict(lambda: defaultdict(list))
    for i, run in enumerate(runs):
        for rec in run.records:
            if rec["task"] == task:
                out[column(rec)][rec["variant"]].append((i, rec))
    return out


WIDE_CI = 0.10  # show the median's interval when it reaches further than this from the median


def _dagger(rec: dict) -> str:
    """The interval of the median where it matters, ‡ for separate machine states, † for a noisy record."""
    stats = rec.get("stats") or {}
    med, ci = stats.get("median"), stats.get("median_ci95")
    text = ""
    if med and ci and (ci[1] > med * (1 + WIDE_CI) or ci[0] < med * (1 - WIDE_CI)):
        text += f" ({fmt.interval(*ci, zeros=True, show_unit=False)})"
    if rec.get("states"):
        text += " ‡"
    return text + (" †" if noisy(rec) else "")


def states_table(runs: list[Run]) -> Table | None:
    """Benchmarks whose blocks fell into separate machine states: each state with its blocks."""
    rows = []
    for run in runs:
        for r in run.records:
            if r.get("status") == "ok" and r.get("states"):
                parts = [f"{fmt.duration(st['median_s'], **fmt.TABLE)} "
                         f"({st['blocks']} block{'s' if st['blocks'] > 1 else ''})"
                         for st in r["states"]]
                rows.append([r["id"], str((r.get("stats") or {}).get("blocks", "?")), "; ".join(parts)]
                            + ([run.label] if len(runs) > 1 else []))
    if not rows:
        return None
    head = ["Benchmark", "Blocks", "States (median of their blocks)"] + (["Machine"] if len(runs) > 1 else [])
    return Table(head, rows, "lrl" + "l" * (len(runs) > 1))


def _status_cell(rec: dict | None) -> str:
    return "—" if rec is None else rec["status"]  # reasons are in the "Not measured" table


def _mark_fastest(cells: list[str], medians: list[float | None]) -> None:
    ok = [m for m in medians if m is not None]
    if len(ok) > 1:
        best = min(ok)
        for i, m in enumerate(medians):
            if m == best:
                cells[i] = Strong(cells[i])


def _machines(runs: list[Run]) -> bool:
    return len(runs) > 1


def main_table(runs: list[Run], task: str) -> tuple[Table, dict[Column, str]] | None:
    """Rows model x batch; a column per runtime/provider (default variant) and per machine."""
    groups = _by_column(runs, task)
    defaults = {col: default_variant(list(variants)) for col, variants in groups.items()}
    cols = sorted(col for col, variants in groups.items()
                  if any(r["status"] == "ok" for _, r in variants[defaults[col]]))
    if not cols:
        return None
    index = {(i, col, _row_key(r)): r for col in cols for i, r in groups[col][defaults[col]]}
    keys = sorted({key for _, _, key in index})
    multi = _machines(runs)
    headers = ["Model", "Batch"]
    # Training: the Keras/PyTorch time ratio per device where both ran.
    ratio_devices = []
    if task == "train_step":
        devs = {device(r["provider"]) for col in cols for _, r in groups[col][defaults[col]]}
        for dev in sorted(devs, key=lambda d: (d != "CPU", d)):
            pair = [c for c in cols if c.label in (f"Keras {dev}", f"PyTorch {dev}")]
            if len(pair) == 2:
                ratio_devices.append((dev, pair[0], pair[1]))
    for run in runs:
        suffix = f" · {run.label}" if multi else ""
        headers += [c.label + suffix for c in cols]
        headers += [f"Keras ÷ PyTorch ({dev}){suffix}" for dev, _, _ in ratio_devices]
    rows = []
    for key in keys:
        row = _row_label(key)
        for i in range(len(runs)):
            recs = [index.get((i, col, key)) for col in cols]
            meds = [median_s(r) if r else None for r in recs]
            slowest = max((m for m in meds if m), default=None)
            cells = []
            for rec, med in zip(recs, meds):
                if med is None:
                    cells.append(_status_cell(rec))
                    continue
                text = f"{fmt.duration(med, **fmt.TABLE)}{_dagger(rec)} · {fmt.rate(rec.get('throughput'))}"
                if task == "inference" and len([m for m in meds if m]) > 1:
                    text += f" · {slowest / med:.1f}×"
                cells.append(text)
            _mark_fastest(cells, meds)
            for _, k, t in ratio_devices:
                mk, mt = meds[cols.index(k)], meds[cols.index(t)]
                cells.append(f"{mk / mt:.2f}×" if mk and mt else "—")
            row += cells
        rows.append(row)
    return Table(headers, rows, "lr" + "r" * (len(headers) - 2)), {c: defaults[c] for c in cols}


def variant_tables(runs: list[Run], task: str) -> list[tuple[str, Table]]:
    """Per runtime/provider with two or more variants: every variant's median, and the fastest."""
    out = []
    multi = _machines(runs)
    for col, variants in sorted(_by_column(runs, task).items()):
        names = list(variants)
        if len(names) < 2 or not any(r["status"] == "ok" for recs in variants.values() for _, r in recs):
            continue
        default = default_variant(names)
        names = [default] + [n for n in names if n != default]
        headers = (["Machine"] if multi else []) + ["Model", "Batch"] + [f"`{n}`" for n in names]
        headers += ["Fastest", "Default ÷ fastest"]
        rows = []
        for i, run in enumerate(runs):
            mine = defaultdict(dict)
            for n in names:
                for j, r in variants[n]:
                    if j == i:
                        mine[_row_key(r)][n] = r
            for key in sorted(mine):
                recs = [mine[key].get(n) for n in names]
                meds = [median_s(r) if r else None for r in recs]
                cells = [fmt.duration(m, **fmt.TABLE) + _dagger(r) if m is not None else _status_cell(r)
                         for r, m in zip(recs, meds)]
                _mark_fastest(cells, meds)
                ok = [(m, n) for m, n in zip(meds, names) if m is not None]
                best_m, best_n = min(ok) if ok else (None, None)
                gain = f"{meds[0] / best_m:.2f}×" if best_m and meds[0] else "—"
                rows.append(([run.label] if multi else []) + _row_label(key) + cells
                            + [f"`{best_n}`" if best_n else "—", gain])
        align = ("l" if multi else "") + "lr" + "r" * len(names) + "lr"
        out.append((f"{TASK_TITLES.get(task, task)} · {col.label}", Table(headers, rows, align)))
    return out


_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?")


def not_measured_table(runs: list[Run]) -> tuple[Table, int] | None:
    """Every skipped or failed benchmark with its reason; batch sizes sharing one reason share a row."""
    multi = _machines(runs)
    groups: dict[tuple, list[int]] = {}
    for run in runs:
        for r in sorted((r for r in run.records if r["status"] != "ok"),
                        key=lambda r: (r["task"] != "train_step", r["task"], column(r), r["variant"], _row_key(r))):
            # Log timestamps inside reasons would keep identical reasons apart.
            reason = _TIMESTAMP.sub("[time]", " ".join((r.get("reason") or "(no reason recorded)").split()))
            model = _row_label(_row_key(r))[0]
            key = (run.label, TASK_TITLES.get(r["task"], r["task"]), column(r).label, f"`{r['variant']}`", model,
                   r["status"], reason)
            groups.setdefault(key, []).append(r["batch_size"])
    if not groups:
        return None
    rows = [([label] if multi else []) + [task, col, variant, model, ", ".join(map(str, batches)), status, reason]
            for (label, task, col, variant, model, status, reason), batches in groups.items()]
    headers = (["Machine"] if multi else []) + ["Task", "Runs on", "Variant", "Model", "Batch", "Status", "Reason"]
    return Table(headers, rows, ("l" if multi else "") + "llllrll"), sum(map(len, groups.values()))


def efficiency_table(runs: list[Run]) -> Table | None:
    """Only when the results carry achieved GFLOP/s (added by the roofline work); never required."""
    multi = _machines(runs)
    rows = []
    for run in runs:
        for r in run.records:
            if r["status"] != "ok" or r.get("achieved_gflops") is None:
                continue
            frac = r.get("fraction_of_peak")
            rows.append(([run.label] if multi else []) + [
                TASK_TITLES.get(r["task"], r["task"]), column(r).label, f"`{r['variant']}`",
                *_row_label(_row_key(r)), fmt.duration(median_s(r), **fmt.TABLE), f"{r['achieved_gflops']:,.2f}",
                f"{frac:.1%}" if isinstance(frac, (int, float)) else "—", str(r.get("verdict") or "—")])
    if not rows:
        return None
    headers = (["Machine"] if multi else []) + ["Task", "Runs on", "Variant", "Model", "Batch", "Median",
                                                "GFLOP/s", "% of peak", "Verdict"]
    return Table(headers, rows, ("l" if multi else "") + "lllllrrrrl")


def epoch_table(runs: list[Run]) -> Table | None:
    """``train_epoch`` records beside the sum of their steps (steps per epoch x the default train step's median
    from the same file): what the loop itself (data pipeline, callbacks, per-step Python) adds."""
    from xbench.explain.results import epoch_vs_steps, loop_share  # pure Python: no ML framework

    multi = _machines(runs)
    rows = []
    for run in runs:
        for e in epoch_vs_steps(run.doc):
            fw = FRAMEWORK_LABELS.get(e["framework"], e["framework"])
            has = e.get("sum_of_steps_s") is not None
            rows.append(([run.label] if multi else []) + [
                f"{fw} {device(e['provider'])} `{e['variant']}`", e["model"], str(e["batch_size"]),
                fmt.duration(e["epoch_s"], **fmt.TABLE), fmt.rate(e.get("images_per_s")),
                str(e.get("steps_per_epoch") or "—"),
                fmt.duration(e["sum_of_steps_s"], **fmt.TABLE) if has else "—",
                fmt.duration(e["loop_s"], **fmt.TABLE) if has else "—",
                loop_share(e) if has else e.get("reason", "—")])  # a digit only where its blocks resolve it
    if not rows:
        return None
    headers = (["Machine"] if multi else []) + ["Loop", "Model", "Batch", "Epoch", "Images/s", "Steps",
                                                "Sum of steps", "Loop's own", "Share of epoch"]
    return Table(headers, rows, ("l" if multi else "") + "llrrrrrrr")


def gpu_text(env: dict) -> str:
    gpus = env.get("gpu")
    if not gpus:
        return "none"
    return "; ".join(g.get("name", fmt.value(g)) if isinstance(g, dict) else str(g) for g in gpus)


def cpu_text(cpu: dict) -> str:
    """The CPU's name and, where recorded, its family, model and stepping: names are masked on many VMs
    ("Intel(R) Xeon(R) Processor"), the numbers tell generations apart."""
    ids = [f"{k} {cpu[f]}" for k, f in (("family", "family"), ("model", "model_number"), ("stepping", "stepping"))
           if cpu.get(f) is not None]
    return (cpu.get("model") or "—") + (f" ({', '.join(ids)})" if ids else "")


def env_table(runs: list[Run]) -> Table:
    def commit(env):
        git = env.get("git") or {}
        sha = git.get("commit")
        return "—" if not sha else f"`{sha[:12]}`" + (" (dirty)" if git.get("dirty") else "")

    fields = [
        ("Machine id", lambda e, r: machine_id(e)),
        ("Host", lambda e, r: e.get("hostname") or "—"),
        ("CPU", lambda e, r: cpu_text(e.get("cpu") or {})),
        ("Cores (physical / logical)", lambda e, r: "{} / {}".format((e.get("cpu") or {}).get("physical_cores", "?"),
                                                                    (e.get("cpu") or {}).get("logical_cores", "?"))),
        ("Memory", lambda e, r: f"{e['memory_gb']:.1f} GB" if e.get("memory_gb") else "—"),
        ("GPU", lambda e, r: gpu_text(e)),
        ("OS", lambda e, r: e.get("os") or "—"),
        ("Python", lambda e, r: e.get("python") or "—"),
    ]
    if any((r.env.get("cpu") or {}).get("flags") for r in runs):  # the ISA that picks the kernels
        fields.insert(4, ("ISA flags", lambda e, r: ", ".join((e.get("cpu") or {}).get("flags") or []) or "—"))
    if any("ceiling" in r.env for r in runs):
        fields.append(("Machine peak (ceiling)", lambda e, r: fmt.value(e.get("ceiling"))))
    versions = sorted({k for r in runs for k, v in (r.env.get("versions") or {}).items() if v})
    fields += [(name, lambda e, r, n=name: (e.get("versions") or {}).get(n) or "—") for name in versions]
    if any(rec.get("blocks") for r in runs for rec in r.records):
        fields.append(("Measured in", lambda e, r: _measured_in(r)))
    fields += [
        ("Threads", lambda e, r: fmt.value(e.get("threads"))),
        ("Commit", lambda e, r: commit(e)),
        ("Data", lambda e, r: e.get("data") or "—"),
        ("Results file", lambda e, r: f"`{r.path.name}` (schema {r.doc['schema_version']}, {r.doc['created_at']})"),
    ]
    headers = [""] + [r.label for r in runs]
    rows = [[name] + [fn(r.env, r) for r in runs] for name, fn in fields]
    return Table(headers, rows, "l" * len(headers))


def _measured_in(run: Run) -> str:
    """How many runs and blocks stand behind each median (see --xbench-blocks and xbench.records.runs.pool)."""
    ok = [rec for rec in run.records if rec.get("status") == "ok"]
    blocks = sorted(len(rec.get("blocks") or [None]) for rec in ok)
    n_runs = len(run.env.get("runs") or [None])
    if not blocks:
        return "—"
    per = f"{blocks[0]}" if blocks[0] == blocks[-1] else f"{blocks[0]}–{blocks[-1]}"
    return (f"{n_runs} run{'s' if n_runs > 1 else ''}, {per} blocks per benchmark "
            f"(medians over all rounds; blocks are fresh models/sessions minutes apart)")


def _defaults_note(defaults: dict[Column, str]) -> str:
    by_variant = defaultdict(list)
    for col, v in defaults.items():
        by_variant[v].append(col.label)
    return "; ".join(f"`{v}` for {', '.join(labels)}" for v, labels in by_variant.items())


def build(runs: list[Run], images: list[Image] = ()) -> list:
    """Every block of the report, in order."""
    blocks: list = [Heading(1, "xbench results")]
    for run in runs:
        e = run.env
        cpu = e.get("cpu") or {}
        blocks.append(Para(f"**{run.label}**: {cpu.get('model', '?')}, {cpu.get('physical_cores', '?')} physical cores, "
                           f"GPU: {gpu_text(e)}; `{run.path.name}` from {run.doc['created_at']}."))
    blocks.append(Para("Times are the median seconds per call, in ms: each benchmark runs in blocks (a fresh "
                       "model or session each, the same number of rounds each, minutes apart) and the time shown is "
                       "the median of the block medians, so every block weighs the same. In parentheses: the 95% "
                       "interval of that median across blocks (distribution-free; with 5 blocks it is their range, "
                       f"93.8% coverage), shown when it reaches more than {WIDE_CI:.0%} from the median. Throughput "
                       "is batch size ÷ median (samples/s). **Bold** marks the fastest in a row. ‡ marks a benchmark "
                       "whose blocks fell into separate machine states (listed under States). † marks a noisy "
                       f"measurement (interquartile range above {NOISY_IQR:.0%} of the median): rerun on an idle "
                       "machine before drawing conclusions from it. Raw per-round samples are kept in the results "
                       "file."))
    where = where_tables(runs)
    if where:
        blocks += [Heading(2, "Where should it run"),
                   Para("Every runtime and precision that ran each model: latency at batch 1 (median and 90th "
                        "percentile), throughput at the largest batch, the cold start (model file on disk to the first "
                        "result: session creation or compilation plus the first call) and top-1 accuracy on the run's "
                        "MNIST test set with that runtime and precision, against the fp32 framework model the row came "
                        f"from (Δ, in points). ✗ marks a row more than {ACCURACY_POINTS:g} point below its fp32 source; "
                        "**bold** marks the fastest rows among the others. See docs/where.md."
                        + (" A user's model (named file@hash) is judged on the test split of the data given with it "
                           "(the record's `data`); without data its accuracy is empty."
                           if any("@" in (rec.get("model") or "") for r in runs for rec in r.records) else ""))]
        for title, table, answer in where:
            blocks += [Heading(3, title), Para(answer), table]
    for task, explain in (("train_step", "one optimizer step (forward, loss, backward, Adam update) on one batch"),
                          ("inference", "one forward pass on one batch, output back on the host")):
        built = main_table(runs, task)
        if not built:
            continue
        table, defaults = built
        note = (f"{TASK_TITLES[task]}: {explain}. Each framework's untuned variant ({_defaults_note(defaults)}); "
                f"tuned variants are compared under Variants below.")
        if task == "train_step":
            note += " Keras ÷ PyTorch is the ratio of the two times: below 1, Keras is faster."
        else:
            note += " The × figure is the speed-up against the slowest in the row (1.0× = slowest)."
        blocks += [Heading(2, TASK_TITLES[task]), Para(note), table]
    epochs = epoch_table(runs)
    if epochs:
        blocks += [Heading(2, TASK_TITLES["train_epoch"]),
                   Para("One epoch on the embedded 5,000-image MNIST subset as the seed article's reader runs it: "
                        "Keras `model.fit(x, y, batch_size=B, epochs=1, verbose=0)` (`fit`: Keras's defaults; "
                        "`fit_spe32`: `steps_per_execution=32`) and a plain PyTorch loop over "
                        "`DataLoader(TensorDataset(x, y), batch_size=B, shuffle=True)`. Sum of steps = steps per "
                        "epoch × the default train step's median from the same file; the loop's own cost is the "
                        "difference (negative: the loop runs its steps faster than the single-step benchmark); "
                        "its share of the epoch is given with its 95 % bootstrap interval over the epoch's and the "
                        "step's blocks, or as not resolved where that interval includes 0 or is wider than the share."),
                   epochs]
    scaling = scaling_table([r for run in runs for r in run.records])
    if scaling:
        blocks += [Heading(2, "Scaling (data-parallel training)"), Para(SCALING_EXPLAIN), scaling]
    variants = [vt for task in ("train_step", "inference") for vt in variant_tables(runs, task)]
    if variants:
        blocks += [Heading(2, "Variants"),
                   Para(f"Median time of every variant of each framework/runtime; the default variant "
                        f"({', '.join(f'`{v}`' for v in DEFAULT_VARIANTS)}) comes first. "
                        "Default ÷ fastest is the speed-up the fastest variant gives over the default.")]
        for title, table in variants:
            blocks += [Heading(3, title), table]
    eff = efficiency_table(runs)
    if eff:
        blocks += [Heading(2, "Efficiency"), Para("Achieved GFLOP/s against the machine's measured peak."), eff]
    split = states_table(runs)
    if split:
        blocks += [Heading(2, "States"),
                   Para("Benchmarks whose block medians fall into groups more than 25% apart, each of at least two "
                        "blocks and a tenth of them: the machine (or the session it drew) ran them in separate "
                        "states. Their headline median is the median block's; read the states, not one number."),
                   split]
    missing = not_measured_table(runs)
    if missing:
        table, count = missing
        blocks += [Heading(2, f"Not measured ({count})"),
                   Para(f"{count} benchmarks were skipped or failed; each is listed with the reason recorded at "
                        "run time."), table]
    blocks += [Heading(2, "Environment"), env_table(runs)]
    if images:
        blocks += [Heading(2, "Plots"), *images]
    return blocks
