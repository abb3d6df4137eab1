"""Time to accuracy over a grid of batch sizes x learning rates, in each framework given, several seeds per cell.

Every cell trains seed_cnn from scratch --repeats times (seeds seed, seed+1, ...; Adam, same seeds and
data order in every framework; with --init shared also the same initial weights) until the test accuracy
reaches every target or --max-epochs is spent (--all-epochs: always --max-epochs, for the plateau).
Accuracy is checked every --check-every steps on a fixed 2,000-image slice of the test set, confirmed
on the full test set near a target, and measured on the full test set --evals-per-epoch times per epoch.
The grid is --batch-sizes x --lrs, or the explicit --cells.

Per cell and target: the median training time to target over seeds with its order-statistic interval
(stats.median_interval, the benchmark records' median_ci95), the fraction of seeds that reached it; the
best accuracy and the accuracy at each epoch end as mean ± sd over seeds; time per epoch and steps per
second. Seeds that diverged or collapsed are marked and counted, never dropped.

--frameworks takes keras (Keras on TensorFlow), keras-jax, keras-torch and torch. Keras's backend is fixed
per process: the cells of a Keras backend other than this process's are trained by `xbench sweep-train` in a
process of its own (KERAS_BACKEND set; the same grid, seeds, data, threads, --init and targets), and its
records join this sweep.json, tables and plots. --init shared is the same NumPy draw for every framework and
backend (copied in through each one's set_weights, the path the equivalence tests prove).

Writes into --out: sweep.json (xbench results schema, task time_to_accuracy, rewritten
atomically after every cell, so an interrupted sweep keeps its finished cells and
--resume continues it), sweep_<framework>.md (batch x lr tables with intervals),
accuracy_vs_time_<framework>.png, tta_vs_batch.png and tta_vs_lr.png (error bars: the intervals).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from xbench.commands._backend_child import ChildFailed, delegated, run_child
from xbench.commands._common import data_arg, model_arg
from xbench.commands.tta import run_options, targets_list
from xbench.errors import UserError

HELP = "time-to-accuracy sweep over batch sizes x learning rates (tables and plots)"
ORDER = 51
FRAMEWORKS = ("keras", "torch")
BATCH_SIZES = (32, 64, 128, 256, 512)
# The seed's 1e-3 and three higher rates: the claim is that higher rates converge faster at first but are
# less stable; 3e-2 is high enough for that to show (a lower, noisier plateau at small batches).
LEARNING_RATES = (1e-3, 3e-3, 1e-2, 3e-2)


def _list(kind, name: str):
    def parse(text: str):
        try:
            values = [kind(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise UserError(f"{name}: expected a comma-separated list of numbers, got {text!r}") from None
        if not values:
            raise UserError(f"{name}: empty list, so the grid has no cells; give comma-separated numbers")
        return values
    return parse


def add_arguments(p) -> None:
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS),
                   help="comma-separated, of keras (Keras on TensorFlow), keras-jax, keras-torch, torch (default: "
                        "keras,torch); a Keras backend other than this process's trains in a process of its own")
    model_arg(p)
    p.add_argument("--batch-sizes", default=",".join(map(str, BATCH_SIZES)),
                   help="comma-separated (default: 32,64,128,256,512)")
    p.add_argument("--lrs", default=",".join(f"{v:g}" for v in LEARNING_RATES),
                   help="comma-separated Adam learning rates (default: 0.001,0.003,0.01,0.03)")
    p.add_argument("--cells", default=None, metavar="B:LR,...",
                   help="explicit cells instead of the --batch-sizes x --lrs grid, e.g. 32:0.001,128:0.001,32:0.003")
    p.add_argument("--target", type=float, default=0.98, help="test accuracy to reach (default: 0.98)")
    p.add_argument("--max-epochs", type=int, default=3, help="epoch cap per cell (default: 3)")
    p.add_argument("--evals-per-epoch", type=int, default=1,
                   help="full-test-set measurements per epoch, at equal fractions of it (default: 1, the end; "
                        "--check-every resolves the time to target between them)")
    p.add_argument("--repeats", type=int, default=3,
                   help="seeds per cell; the interval of the median over seeds needs 3 or more (default: 3)")
    run_options(p, check_every=100, also_targets="0.97,0.975")
    p.add_argument("--seed", type=int, default=0, help="first seed (default: 0)")
    data_arg(p)
    p.add_argument("--out", default=".", metavar="DIR", help="existing folder for the outputs (default: .)")
    p.add_argument("--resume", action="store_true",
                   help="keep the finished cells of an earlier sweep.json in --out with the same settings")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args) -> int:
    from xbench import machine
    from xbench.report import tta as tta_text
    from xbench.training import tta
    from xbench.data import load_mnist
    from xbench.records import Record, results_document, write_results
    from xbench.spec import load_spec
    from xbench.training.train import steps_per_epoch

    fws = _frameworks(args.frameworks)
    grid = _grid(args)
    targets = targets_list(args.also_targets)
    if args.evals_per_epoch <= 0:
        raise UserError(f"--evals-per-epoch must be a positive integer, got {args.evals_per_epoch}")
    for b, lr in grid:
        tta.check_settings(args.target, b, lr, args.max_epochs, args.repeats, None, targets, args.init,
                           args.check_every)
    out = Path(args.out)
    if not out.is_dir():
        raise UserError(f"--out {out}: folder does not exist")
    spec = load_spec(args.model)
    data = load_mnist(args.data, allow_download=True)
    settings = {"model": spec.name, "target": args.target, "max_epochs": args.max_epochs,
                "evals_per_epoch": args.evals_per_epoch, "repeats": args.repeats, "seed": args.seed,
                "data_kind": data.kind, "also_targets": list(targets), "check_every": args.check_every,
                "init": args.init, "all_epochs": args.all_epochs}
    json_path = out / "sweep.json"
    done = _resumable(json_path, settings) if args.resume else {}
    cells = [(f, b, lr) for f in fws for b, lr in grid]
    child_done: dict[tuple, dict] = {}  # (framework, batch, lr) -> record, from the Keras backends' processes
    children_run: set[str] = set()
    say = lambda text: print(text, file=sys.stderr)  # noqa: E731
    say(f"sweep: {len(fws)} framework(s) x {len(grid)} batch/lr cells = {len(cells)} cells x {args.repeats} "
        f"seed(s), target {args.target:g}{''.join(f', {t:g}' for t in targets)}, CAPPED AT {args.max_epochs} "
        f"EPOCHS PER CELL{' (all run)' if args.all_epochs else ''}, full test set {args.evals_per_epoch}x per "
        f"epoch, {'slice checks every %d steps' % args.check_every if args.check_every else 'no slice checks'}, "
        f"init {args.init}, on {data.label}")
    if data.kind != "full":
        say("note: this is the embedded 6,000-image subset, not full MNIST; pass --data PATH for real figures")
    environment = machine.collect()
    records: list[Record] = []
    elsewhere = delegated(fws)  # framework -> Keras backend, of those trained in a process of their own
    processes: list[dict] = []
    failed: list[str] = []
    t0 = time.perf_counter()

    def write() -> None:
        doc = results_document(environment, records)
        doc["sweep"] = settings
        if processes:
            doc["env"]["processes"] = processes
        write_results(json_path, doc)  # atomic: an interruption keeps every finished cell

    def keep(doc: dict, fw: str) -> None:
        """What a child process finished (all of it, or up to an interruption) joins this sweep."""
        got = {(r["framework"], r["batch_size"], r["learning_rate"]): r for r in doc["records"]}
        child_done.update(got)
        processes.append(_process_entry(doc, fw, elsewhere[fw]))

    try:
        for i, (fw, b, lr) in enumerate(cells, 1):
            key = (fw, b, lr)
            if key in done:
                records.append(Record.from_dict(done[key]))
                say(f"[{i}/{len(cells)}] {fw} batch {b} lr {lr:g}: kept from the earlier sweep.json")
                continue
            if fw in elsewhere:
                if fw not in children_run:
                    children_run.add(fw)
                    pending = [(b2, lr2) for f2, b2, lr2 in cells if f2 == fw and (f2, b2, lr2) not in done]
                    say(f"{fw}: {len(pending)} cell(s) in a process of its own (KERAS_BACKEND={elsewhere[fw]})")
                    try:
                        _run_child(args, fw, elsewhere[fw], pending, keep)
                    except ChildFailed as exc:
                        failed.append(str(exc))
                        say(f"{fw}: {exc}")
                if key not in child_done:
                    say(f"[{i}/{len(cells)}] {fw} batch {b} lr {lr:g}: not measured (its process ended before it)")
                    continue
                records.append(Record.from_dict(child_done[key]))
                write()
                say(f"[{i}/{len(cells)}] {tta_text.summary_line(child_done[key])}  (in the {fw} process)")
                continue
            per_epoch = steps_per_epoch(len(data.x_train), b)
            eval_every = -(-per_epoch // args.evals_per_epoch) if args.evals_per_epoch > 1 else None
            t_cell = time.perf_counter()
            runs = tta.measure(fw, spec, data, args.target, b, lr, args.max_epochs, args.repeats, args.seed,
                               eval_every, progress=not args.quiet, targets=targets, check_every=args.check_every,
                               init=args.init, all_epochs=args.all_epochs)
            rec = tta.make_record(fw, spec, data, runs, b, lr, args.max_epochs, eval_every, args.all_epochs)
            records.append(rec)
            write()
            cell_s = time.perf_counter() - t_cell
            say(f"[{i}/{len(cells)}] {tta_text.summary_line(rec.to_dict())}  (cell {cell_s:.0f} s for {args.repeats} "
                f"seed(s); {time.perf_counter() - t0:.0f} s so far)")
    finally:
        have = {(r.framework, r.batch_size, r.extra.get("learning_rate")) for r in records}
        late = [k for k in child_done if k not in have]  # a child's cells that an interruption kept from the loop
        if late:
            records += [Record.from_dict(child_done[k]) for k in late]
            write()
        if records:  # also after an interruption: tables and plots of what finished
            _report(out, [r.to_dict() for r in records], fws)
    say(f"sweep took {time.perf_counter() - t0:.0f} s (cap: {args.max_epochs} epochs per cell)")
    if failed:
        say("not every cell was measured: " + "; ".join(failed))
        return 1
    return 0


def _frameworks(text: str) -> list[str]:
    """The frameworks named, checked against the registry: a typo is one line naming the valid ones."""
    from xbench import frameworks

    names = [f.strip() for f in text.split(",") if f.strip()]
    if not names:
        raise UserError(f"--frameworks: empty list, so the grid has no cells; give at least one of "
                        f"{','.join(frameworks.names())}")
    try:
        return list(dict.fromkeys(frameworks.get(n).name for n in names))
    except UserError as exc:
        raise UserError(f"--frameworks: {exc}") from None


def child_args(args, framework: str, cells: list[tuple[int, float]], out: Path) -> list[str]:
    """This sweep's arguments for ``framework`` alone, over ``cells``, into ``out`` (a fresh folder): every setting
    that makes a cell (targets, epochs, evaluations, seeds, slice checks, --init, data, model) is passed on."""
    argv = ["--frameworks", framework, "--model", args.model,
            "--cells", ",".join(f"{b}:{lr!r}" for b, lr in cells),
            "--target", repr(args.target), "--max-epochs", str(args.max_epochs),
            "--evals-per-epoch", str(args.evals_per_epoch), "--repeats", str(args.repeats),
            "--also-targets", ",".join(repr(t) for t in targets_list(args.also_targets)),
            "--init", args.init, "--seed", str(args.seed), "--out", str(out), "--quiet"]
    if args.check_every is not None:
        argv += ["--check-every", str(args.check_every)]
    if args.all_epochs:
        argv.append("--all-epochs")
    if args.data:
        argv += ["--data", args.data]
    return argv


def _run_child(args, fw: str, backend: str, cells: list[tuple[int, float]], keep) -> None:
    """``fw``'s cells in a process of its backend; ``keep(doc, fw)`` gets its sweep.json, also after an
    interruption (what it finished); ``ChildFailed`` when it wrote none."""
    import tempfile

    from xbench.schema import read_results

    with tempfile.TemporaryDirectory(prefix=f"xbench-sweep-{fw}-") as tmp:
        part = Path(tmp) / "sweep.json"
        try:
            run_child("sweep-train", child_args(args, fw, cells, Path(tmp)), fw, backend, part)
        finally:
            if part.is_file():
                keep(read_results(part), fw)


def _process_entry(doc: dict, fw: str, backend: str) -> dict:
    """A child's line in ``env.processes`` (as the suite writes it)."""
    return {"frameworks": [fw], "created_at": doc["created_at"], "threads": doc["env"].get("threads"),
            "imported": doc["env"].get("imported"), "keras_backend": backend}


def _grid(args) -> list[tuple[int, float]]:
    """(batch size, learning rate) cells: --cells, else --batch-sizes x --lrs; an empty grid is an error."""
    if args.cells is None:
        return [(b, lr) for b in _list(int, "--batch-sizes")(args.batch_sizes)
                for lr in _list(float, "--lrs")(args.lrs)]
    cells = []
    for item in (c.strip() for c in args.cells.split(",")):
        if not item:
            continue
        b, _, lr = item.partition(":")
        try:
            cells.append((int(b), float(lr)))
        except ValueError:
            raise UserError(f"--cells: expected BATCH:LR pairs such as 32:0.001, got {item!r}") from None
    if not cells:
        raise UserError("--cells: the grid has no cells; give BATCH:LR pairs such as 32:0.001,128:0.001")
    return cells


def _resumable(path: Path, settings: dict) -> dict:
    """Finished cells of an earlier sweep with the same settings, keyed by (framework, batch, lr)."""
    if not path.is_file():
        return {}
    from xbench.schema import read_results

    doc = read_results(path)
    if doc.get("sweep") != settings:
        raise UserError(f"--resume: {path} was made with other settings ({doc.get('sweep')}); "
                        "use another --out or drop --resume")
    return {(r["framework"], r["batch_size"], r["learning_rate"]): r for r in doc["records"]}


def _report(out: Path, records: list[dict], fws: list[str]) -> None:
    from xbench.paths import atomic_write_text
    from xbench.report.tta import markdown_table

    for fw in fws:
        table = markdown_table(records, fw)
        if table:
            atomic_write_text(out / f"sweep_{fw}.md", table)
            print(table)
    try:
        paths = _plots(out, records, fws)
    except ImportError as exc:
        print(f"no plots: {exc}", file=sys.stderr)
        return
    print("wrote " + ", ".join(str(p) for p in [out / "sweep.json", *(out / f"sweep_{f}.md" for f in fws), *paths]),
          file=sys.stderr)


def _label(fw: str) -> str:
    """The plots' name of a framework: the report's readable label for the Keras backends added in issue 23 (the
    names keras and torch stay as they always appeared)."""
    from xbench.report.data import FRAMEWORK_LABELS

    return FRAMEWORK_LABELS[fw] if fw in ("keras-jax", "keras-torch") else fw


def _plots(out: Path, records: list[dict], fws: list[str]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    target = records[0]["target"]
    low = min(0.9, target - 0.05)  # zoom on the approach to the target
    lrs = sorted({r["learning_rate"] for r in records})
    batches = sorted({r["batch_size"] for r in records})
    colors = {b: plt.cm.viridis(i / max(1, len(batches) - 1)) for i, b in enumerate(batches)}
    paths = []
    for fw in fws:
        recs = [r for r in records if r["framework"] == fw]
        if not recs:
            continue
        fig, axes = plt.subplots(1, len(lrs), figsize=(4.2 * len(lrs), 4), sharey=True, squeeze=False)
        for ax, lr in zip(axes[0], lrs):
            for r in (r for r in recs if r["learning_rate"] == lr):
                for k, run in enumerate(r["runs"]):
                    t = [0.0] + [p["train_s"] for p in run["curve"]]
                    acc = [0.1] + [p["test_accuracy"] for p in run["curve"]]  # untrained: chance
                    style = {"stable": "-", "unstable": "--", "diverged": ":"}[run["stability"]]
                    ax.plot(t, acc, style, marker=".", color=colors[r["batch_size"]],
                            label=(f"batch {r['batch_size']}" + ("" if run["stability"] == "stable"
                                                                  else f" ({run['stability']})")) if k == 0 else None)
                    checks = run.get("checks") or []
                    ax.plot([c["train_s"] for c in checks], [c["slice_accuracy"] for c in checks], ".", ms=2,
                            alpha=0.35, color=colors[r["batch_size"]])
            for key in recs[0].get("targets", {}):
                ax.axhline(float(key), color="red", lw=0.8, ls=":")
            ax.set(title=f"{_label(fw)}, Adam lr {lr:g}", xlabel="training time (s; evaluation excluded)", ylim=(low, 1.0))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="lower right")
        axes[0][0].set_ylabel(f"test accuracy (red: targets; below {low:g} clipped)")
        fig.suptitle(f"{recs[0]['model']} on {recs[0]['data']}: full-test-set accuracy vs training time, one line "
                     f"per seed (faint dots: {recs[0]['resolution']['check_images']:,}-image slice checks)\ncap {recs[0]['max_epochs']} epochs per "
                     "cell; dashed: unstable, dotted: diverged", fontsize=9)
        fig.tight_layout()
        paths.append(out / f"accuracy_vs_time_{fw}.png")
        fig.savefig(paths[-1], dpi=90)
        plt.close(fig)

    paths.append(_interval_plot(plt, out / "tta_vs_batch.png", records, fws, "batch_size", "learning_rate"))
    if len({r["learning_rate"] for r in records}) > 1:
        paths.append(_interval_plot(plt, out / "tta_vs_lr.png", records, fws, "learning_rate", "batch_size"))
    return paths


def _errorbars(ax, xs: list, summaries: list[dict], **style) -> None:
    """Medians with their intervals as error bars; an interval open upwards (a seed never reached the target)
    is drawn as an arrow; cells whose median itself is infinite are left out (their reached fraction is in the
    tables)."""
    pts = [(x, t) for x, t in zip(xs, summaries) if t["median_s"] is not None]
    if not pts:
        return
    x = [p[0] for p in pts]
    med = [t["median_s"] for _, t in pts]
    low = [m - t["median_ci95"][0] for m, (_, t) in zip(med, pts)]
    high = [(t["median_ci95"][1] - m) if t["median_ci95"][1] is not None else 0.0 for m, (_, t) in zip(med, pts)]
    ax.errorbar(x, med, yerr=[low, high], capsize=4, **style)
    open_up = [(xi, m) for xi, m, (_, t) in zip(x, med, pts) if t["median_ci95"][1] is None]
    if open_up:
        ax.errorbar([p[0] for p in open_up], [p[1] for p in open_up], yerr=[[0] * len(open_up),
                    [p[1] * 0.5 for p in open_up]], lolims=True, fmt="none", ecolor=style.get("color"))


def _interval_plot(plt, path: Path, records: list[dict], fws: list[str], x_key: str, line_key: str) -> Path:
    """Time to each target against batch size (or learning rate), one panel per framework, error bars = the
    intervals of the median over seeds; one line per target and learning rate (or batch size)."""
    from matplotlib import ticker

    keys = list(records[0]["targets"])
    lines_of = sorted({r[line_key] for r in records})
    xs_all = sorted({r[x_key] for r in records})
    fig, axes = plt.subplots(1, len(fws), figsize=(6 * len(fws), 4.4), sharey=True, squeeze=False)
    markers = "osD^v<>"
    for ax, fw in zip(axes[0], fws):
        for j, key in enumerate(keys):
            color = plt.cm.viridis(j / max(1, len(keys) - 1) * 0.85)
            for m, value in enumerate(lines_of):
                recs = sorted((r for r in records if r["framework"] == fw and r[line_key] == value),
                              key=lambda r: r[x_key])
                if not recs:
                    continue
                label = f"{float(key) * 100:g}%, {line_key.replace('_', ' ')} {value:g}"
                shift = 1 + 0.04 * (j - (len(keys) - 1) / 2)  # side by side, not on top of each other
                _errorbars(ax, [r[x_key] * shift for r in recs], [r["targets"][key] for r in recs], color=color,
                           ls="-" if m == 0 else "--", mfc="white" if m else color, label=label,
                           marker=markers[m % len(markers)])
        ax.set_xscale("log", base=2 if x_key == "batch_size" else 10)
        ax.set_yscale("log")
        ax.set_xticks(xs_all, [f"{v:g}" for v in xs_all])
        ax.minorticks_off()
        ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1, 2, 5)))
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set(title=f"{_label(fw)}, init {records[0]['init']}", xlabel=x_key.replace("_", " "),
               ylabel="seconds of training to target (log)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    r0 = records[0]
    fig.suptitle(f"Training time to target: median over {r0['repeats']} seeds; bars: interval of the median (order "
                 f"statistic, coverage {r0['targets'][keys[0]]['ci_level'] * 100:.0f}%)\narrow: a seed never "
                 f"reached the target within {r0['max_epochs']} epochs; no point: most seeds never did", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
