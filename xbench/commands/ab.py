"""Compare two environments or two checkouts in alternating blocks on one machine.

A side is an interpreter (--a-python/--b-python: a virtual environment with
other library versions), a checkout (--a-dir/--b-dir: another commit of this
project, e.g. the base branch in a worktree), extra pytest/xbench arguments
(--a-args/--b-args) and environment variables (--a-env/--b-env NAME=VALUE,
repeatable); each defaults to the current one, so

    xbench ab --b-args "--xbench-threads 1"

is a complete command. The benchmarks run block by block, one fresh process
per block, in the balanced order A B, B A, A B, ... (--blocks per side,
default 6). Each B block is paired with its neighbouring A block; per
benchmark:

  change        the median paired ratio B/A - 1
  interval      the order-statistic 95% interval of that median
                (6 pairs: the smallest and the largest paired ratio)
  significance  exact one-sided Wilcoxon signed-rank test on the paired
                log ratios, p < --alpha (6 pairs: the smallest p is 1/64)
  regression    significant and the whole interval above 1 + --threshold
  improvement   significant and the whole interval below 1/(1 + threshold)
  unchanged     shown: the whole 95% interval inside ±threshold (fewer than
                6 pairs never reach 95%: nothing can be unchanged then)
  inconclusive  anything else: the row says why and the smallest slowdown
                of B these pairs would have flagged
The output begins with what the comparison can see (how many benchmarks
could flag a slowdown of the threshold, 50 %, 100 %; how many could be
shown unchanged).

Arguments after `--` select the benchmarks as for `pytest --benchmark-only`
(default: --xbench-models seed_cnn --xbench-providers cpu
--xbench-dtypes float32 --xbench-runtimes keras,torch,onnxruntime
-k "not compile and not xla and not train_epoch", 21 benchmarks, about 25 s per block on a 2-core
machine: 6 blocks per side take about 5 minutes). Both sides get them; the
side's own --a-args/--b-args come after. On a 2-core VM whose second core comes and
goes, adding --xbench-threads 1 after the selection resolves far smaller
changes (docs/statistics.md).

Writes DIR/a.json and DIR/b.json (ordinary results files: every block tagged
with its side, position and start time) after every block, DIR/compare.md at
the end, and prints the comparison. Interrupted: the finished blocks stay;
`xbench ab --out DIR --resume` runs the rest with the run's own plan (options
given with it must match the plan's). On a finished run it only judges again
(e.g. with another --threshold).

Exit status as xbench compare: 1 on a regression of B against A, 0 otherwise,
2 on bad input (nothing is written then). Without side options both sides
are the same: an A/A run, which measures the false-alarm rate (a warning
says so); side options that end up the same on both sides are refused
unless --aa says that is meant.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from xbench.commands._common import alpha as _alpha, percent, positive_int

DEFAULT_BLOCKS = 6
HELP = "A/B: two environments or checkouts in alternating blocks on one machine; exit 1 if B regresses"
ORDER = 32


def add_arguments(p) -> None:
    from xbench.verdicts.paired import ALPHA, THRESHOLD

    for s in ("a", "b"):
        S = s.upper()
        p.add_argument(f"--{s}-python", metavar="PATH", help=f"interpreter of side {S} (default: this one)")
        p.add_argument(f"--{s}-dir", metavar="DIR", help=f"checkout of side {S} (default: this one)")
        p.add_argument(f"--{s}-args", metavar='"ARGS"', help=f"extra pytest/xbench arguments for side {S}, one string")
        p.add_argument(f"--{s}-env", metavar="NAME=VALUE", action="append",
                       help=f"environment variable for side {S} (repeatable)")
    p.add_argument("--blocks", type=positive_int, default=DEFAULT_BLOCKS, metavar="N",
                   help=f"blocks per side (default: {DEFAULT_BLOCKS})")
    p.add_argument("--out", metavar="DIR", help="folder for the run (default: results/ab-<UTC time>)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in --out DIR")
    p.add_argument("--aa", action="store_true",
                   help="A and B are deliberately the same (an A/A run with side options, e.g. another venv)")
    p.add_argument("--threshold", type=percent, default=THRESHOLD * 100, metavar="PCT",
                   help=f"the interval of the paired ratio must clear this many percent (default: {100 * THRESHOLD:g} %%)")
    p.add_argument("--alpha", type=_alpha, default=ALPHA,
                   help=f"significance level of the signed-rank test (default: {ALPHA:g})")
    p.add_argument("pytest_args", nargs="*", metavar="-- PYTEST_ARGS",
                   help="benchmark selection for both sides (default: see above)")


SIDE_OPTIONS = ("python", "dir", "args", "env")


def _checkout() -> Path:
    """The checkout this xbench runs from (the folder above the package): both sides' default."""
    import xbench

    return Path(xbench.__file__).resolve().parents[1]


def _sides(args) -> dict:
    from xbench.verdicts import ab

    here = str(_checkout())
    sides = {}
    for s in ("a", "b"):
        flag = f"--{s}-"
        env = ab.parse_env(getattr(args, f"{s}_env"), flag + "env")
        extra = ab.parse_args_text(getattr(args, f"{s}_args"), flag + "args")
        folder = ab.check_checkout(getattr(args, f"{s}_dir") or here, flag + "dir")
        python = getattr(args, f"{s}_python") or sys.executable
        python = os.path.abspath(python) if os.sep in python else python
        sides[s.upper()] = ab.Side(s.upper(), python, folder, extra, env)
    return sides


def _check(plan, args, asked: bool) -> None:
    from xbench.verdicts import ab
    from xbench.records import stats
    from xbench.errors import UserError

    a, b = plan.sides["A"], plan.sides["B"]
    if a.setup() == b.setup() and asked and not args.aa:
        raise UserError("A and B are the same (" + a.describe() + "): nothing differs to compare; "
                        "pass --aa for a deliberate A/A run")
    if stats.min_p_paired(plan.blocks) >= args.alpha:
        raise UserError(f"--blocks {plan.blocks} gives {plan.blocks} pairs, whose smallest p is "
                        f"{stats.min_p_paired(plan.blocks):g}, never below --alpha {args.alpha:g}: "
                        f"use more blocks or a larger --alpha")
    for side in (a, b):
        ab.check_python(side, f"--{side.name.lower()}-python")
    counts = [ab.check_selection(side, f"--{side.name.lower()}-args", plan.pytest_args) for side in (a, b)]
    for side, n in zip((a, b), counts):  # only once both sides passed: bad input stays one line
        print(f"xbench ab: {side.name}: {side.describe()}: {n} benchmarks per block", file=sys.stderr)
    if a.setup() == b.setup():
        print("xbench ab: warning: A and B are identical: an A/A run (it measures the false-alarm rate)",
              file=sys.stderr)


def run(args) -> int:
    from datetime import datetime, timezone

    from tqdm import tqdm

    from xbench.verdicts import ab
    from xbench.errors import UserError
    from xbench.verdicts.paired import compare_paired
    from xbench.report.comparison import render_md, render_text
    from xbench.paths import atomic_write_text

    asked = any(getattr(args, f"{s}_{o}") for s in "ab" for o in SIDE_OPTIONS)
    plan = ab.Plan(_sides(args), args.blocks, list(args.pytest_args or ab.DEFAULT_SELECTION))
    if args.resume:
        if not args.out:
            raise UserError("--resume needs --out DIR, the folder of the run to continue")
        folder = Path(args.out)
        saved = ab.Plan.load(folder)
        given = asked or args.pytest_args or args.blocks != DEFAULT_BLOCKS  # else: just the run's own plan
        if given and saved.settings() != plan.settings():
            diff = [k for k in ("blocks", "pytest_args") if saved.settings()[k] != plan.settings()[k]]
            diff += [f"side {k}" for k in "AB" if saved.sides[k].setup() != plan.sides[k].setup()]
            raise UserError(f"--resume: {', '.join(diff)} differ from the run in {folder}; "
                            f"repeat its command with --resume")
        plan = saved
    else:
        folder = Path(args.out) if args.out else (_checkout() / "results" /
                                                  f"ab-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}")
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise UserError(f"--out {folder}: " + ("holds an earlier A/B run: continue it with --resume, or "
                                                    "choose another folder" if (folder / ab.PLAN).exists()
                                                    else "exists and is not an empty folder"))
        if not folder.parent.is_dir():
            raise UserError(f"--out {folder}: folder {folder.parent} does not exist")
    _check(plan, args, asked)
    folder.mkdir(exist_ok=True)
    total = len(plan.order)
    bar = tqdm(total=total, initial=len(plan.done), unit="block", file=sys.stderr, dynamic_ncols=True)
    try:
        docs = ab.run(plan, folder, progress=bar)
    except KeyboardInterrupt:
        bar.close()
        print(f"xbench ab: {len(plan.done)} of {total} blocks kept in {folder}; "
              f"continue with the same command and --out {folder} --resume", file=sys.stderr)
        raise
    bar.close()
    failed = [d for d in plan.done.values() if d["returncode"] not in (0, 1)]
    # A side whose benchmarks all failed: B's failures are the comparison's "now failing" rows (exit 1); without
    # a single measured A benchmark, or without any record (the suite did not even start), nothing can be compared.
    for name in ("A", "B"):
        doc = docs[name]
        if doc is None or not doc["records"] or (name == "A" and not any(r["status"] == "ok" for r in doc["records"])):
            why = _first_error(doc, folder, plan, name)
            raise UserError(f"side {name} measured nothing in any of its {plan.blocks} blocks: {why}")
    c = compare_paired(docs["A"], docs["B"], threshold=args.threshold / 100, alpha=args.alpha,
                       a_name=str(folder / "a.json"), b_name=str(folder / "b.json"))
    atomic_write_text(folder / "compare.md", render_md(c))
    sys.stdout.write(render_text(c))
    if failed:
        print(f"xbench ab: {len(failed)} block processes ended with an error (logs in {folder / 'logs'})",
              file=sys.stderr)
    print(f"xbench ab: wrote {folder / 'a.json'}, {folder / 'b.json'}, {folder / 'compare.md'}", file=sys.stderr)
    return 1 if c.failed else 0


def _first_error(doc, folder, plan, name) -> str:
    """Why a side measured nothing: its records' first error, else the last line of its first block's log."""
    for rec in (doc or {}).get("records", []):
        if rec["status"] == "error":
            return rec.get("reason") or "error"
    for pos, d in sorted(plan.done.items()):
        if d["side"] == name:
            log = folder / "logs" / f"{pos:02d}-{name}.log"
            lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
            return f"exit {d['returncode']}: {lines[-1] if lines else 'no output'} (see {log})"
    return "no block ran"
