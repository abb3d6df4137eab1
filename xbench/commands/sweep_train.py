"""Time to accuracy over a grid of batch sizes x learning rates, in both frameworks.

Every cell trains seed_cnn from scratch (Adam, same seeds and data order in both
frameworks) until the test accuracy reaches --target or --max-epochs is spent; the cap
keeps the default sweep (2 frameworks x 5 batch sizes x 4 learning rates, 3 epochs
at most per cell) within 20 minutes on a 2-core CPU (measured: 13 minutes). Accuracy is measured
--evals-per-epoch times per epoch, at the same fractions of an epoch for every batch size.

Per cell: time per epoch, steps per second, epochs and training time to target; cells
whose loss diverged or whose accuracy collapsed are marked, not dropped.

Writes into --out: sweep.json (xbench results schema, task time_to_accuracy, rewritten
atomically after every cell, so an interrupted sweep keeps its finished cells and
--resume continues it), sweep_<framework>.md (batch x lr tables),
accuracy_vs_time_<framework>.png and tta_vs_batch.png.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from xbench.commands._common import data_arg, model_arg
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
            raise UserError(f"{name}: empty list")
        return values
    return parse


def add_arguments(p) -> None:
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS), help="comma-separated (default: keras,torch)")
    model_arg(p)
    p.add_argument("--batch-sizes", default=",".join(map(str, BATCH_SIZES)),
                   help="comma-separated (default: 32,64,128,256,512)")
    p.add_argument("--lrs", default=",".join(f"{v:g}" for v in LEARNING_RATES),
                   help="comma-separated Adam learning rates (default: 0.001,0.003,0.01,0.03)")
    p.add_argument("--target", type=float, default=0.98, help="test accuracy to reach (default: 0.98)")
    p.add_argument("--max-epochs", type=int, default=3, help="epoch cap per cell (default: 3)")
    p.add_argument("--evals-per-epoch", type=int, default=2,
                   help="test-accuracy measurements per epoch (default: 2: half way and at the end)")
    p.add_argument("--repeats", type=int, default=1, help="seeds per cell (default: 1, to fit the time budget)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default: 0)")
    data_arg(p)
    p.add_argument("--out", default=".", metavar="DIR", help="existing folder for the outputs (default: .)")
    p.add_argument("--resume", action="store_true",
                   help="keep the finished cells of an earlier sweep.json in --out with the same settings")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args) -> int:
    from xbench import env, frameworks, tta
    from xbench.data import load_mnist
    from xbench.records import Record, results_document, write_results
    from xbench.spec import load_spec
    from xbench.train import steps_per_epoch

    fws = [frameworks.get(f.strip()).name for f in args.frameworks.split(",") if f.strip()]
    batches = _list(int, "--batch-sizes")(args.batch_sizes)
    lrs = _list(float, "--lrs")(args.lrs)
    if not fws:
        raise UserError("--frameworks: empty list")
    if args.evals_per_epoch <= 0:
        raise UserError(f"--evals-per-epoch must be a positive integer, got {args.evals_per_epoch}")
    for b in batches:
        for lr in lrs:
            tta.check_settings(args.target, b, lr, args.max_epochs, args.repeats)
    out = Path(args.out)
    if not out.is_dir():
        raise UserError(f"--out {out}: folder does not exist")
    spec = load_spec(args.model)
    data = load_mnist(args.data, allow_download=True)
    settings = {"model": spec.name, "target": args.target, "max_epochs": args.max_epochs,
                "evals_per_epoch": args.evals_per_epoch, "repeats": args.repeats, "seed": args.seed,
                "data_kind": data.kind}
    json_path = out / "sweep.json"
    done = _resumable(json_path, settings) if args.resume else {}
    cells = [(f, b, lr) for f in fws for b in batches for lr in lrs]
    say = lambda text: print(text, file=sys.stderr)  # noqa: E731
    say(f"sweep: {len(fws)} framework(s) x {len(batches)} batch sizes x {len(lrs)} learning rates = {len(cells)} "
        f"cells, target {args.target:g}, CAPPED AT {args.max_epochs} EPOCHS PER CELL, accuracy measured "
        f"{args.evals_per_epoch}x per epoch, {args.repeats} repeat(s), on {data.label}")
    if data.kind != "full":
        say("note: this is the embedded 6,000-image subset, not full MNIST; pass --data PATH for real figures")
    environment = env.collect()
    records: list[Record] = []
    t0 = time.perf_counter()
    try:
        for i, (fw, b, lr) in enumerate(cells, 1):
            key = (fw, b, lr)
            if key in done:
                records.append(Record.from_dict(done[key]))
                say(f"[{i}/{len(cells)}] {fw} batch {b} lr {lr:g}: kept from the earlier sweep.json")
                continue
            per_epoch = steps_per_epoch(len(data.x_train), b)
            eval_every = -(-per_epoch // args.evals_per_epoch) if args.evals_per_epoch > 1 else None
            runs = tta.measure(fw, spec, data, args.target, b, lr, args.max_epochs, args.repeats, args.seed,
                               eval_every, progress=not args.quiet)
            rec = tta.make_record(fw, spec, data, runs, b, lr, args.max_epochs, eval_every)
            records.append(rec)
            doc = results_document(environment, records)
            doc["sweep"] = settings
            write_results(json_path, doc)  # atomic: an interruption keeps every finished cell
            say(f"[{i}/{len(cells)}] {tta.summary_line(rec.to_dict())}  ({time.perf_counter() - t0:.0f} s so far)")
    finally:
        if records:  # also after an interruption: tables and plots of what finished
            _report(out, [r.to_dict() for r in records], fws)
    say(f"sweep took {time.perf_counter() - t0:.0f} s (cap: {args.max_epochs} epochs per cell)")
    return 0


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
    from xbench.tta import markdown_table

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
            ax.axhline(target, color="red", lw=0.8, ls=":")
            ax.set(title=f"{fw}, Adam lr {lr:g}", xlabel="training time (s; evaluation excluded)", ylim=(low, 1.0))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="lower right")
        axes[0][0].set_ylabel(f"test accuracy (red: target {target:g}; below {low:g} clipped)")
        fig.suptitle(f"{recs[0]['model']} on {recs[0]['data']}: test accuracy vs training time "
                     f"(cap {recs[0]['max_epochs']} epochs per cell; dashed: unstable, dotted: diverged)", fontsize=10)
        fig.tight_layout()
        paths.append(out / f"accuracy_vs_time_{fw}.png")
        fig.savefig(paths[-1], dpi=90)
        plt.close(fig)

    fig, axes = plt.subplots(1, len(fws), figsize=(6 * len(fws), 4.2), sharey=True, squeeze=False)
    for ax, fw in zip(axes[0], fws):
        for j, lr in enumerate(lrs):
            recs = sorted((r for r in records if r["framework"] == fw and r["learning_rate"] == lr),
                          key=lambda r: r["batch_size"])
            color = plt.cm.plasma(j / max(1, len(lrs) - 1) * 0.85)
            got = [r for r in recs if r["reached"]]
            ax.plot([r["batch_size"] for r in got], [r["train_s_to_target"] for r in got], "-o", color=color,
                    label=f"lr {lr:g}")
            bad = [r for r in got if r["stability"] != "stable"]
            ax.plot([r["batch_size"] for r in bad], [r["train_s_to_target"] for r in bad], "o", ms=12,
                    mfc="none", color="red")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")  # one slow cell must not flatten the rest
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.set(title=f"{fw}: training time to {target:g} (missing point: not reached "
                     f"in {records[0]['max_epochs']} epochs)", xlabel="batch size", ylabel="seconds")
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, title="red ring: unstable", title_fontsize=7)
    fig.tight_layout()
    paths.append(out / "tta_vs_batch.png")
    fig.savefig(paths[-1], dpi=90)
    plt.close(fig)
    return paths
