"""Render xbench results files as tables a person reads at a glance.

md (GitHub-flavoured, the default): a training-step table (Keras vs PyTorch and
their ratio), an inference table (a column per runtime / provider / export),
each framework's variants side by side, every skipped or failed benchmark with
its reason, and the environment. The main tables use each framework's untuned
variant (Keras `default`, PyTorch `eager`, ORT `default` / `end_to_end`).
Several files (e.g. from different machines) give side-by-side columns.

csv: one row per record, flat columns. html: one self-contained page with the
plots inlined. --plots DIR writes PNG charts (and links them from the markdown
when --out is given). When $GITHUB_STEP_SUMMARY is set the markdown is appended
there as well. Imports no ML framework.
"""

from __future__ import annotations

import sys
from pathlib import Path

HELP = "render results files as markdown, CSV or HTML tables and PNG plots"
ORDER = 30


def add_arguments(p) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="xbench results JSON (one or more)")
    p.add_argument("--format", choices=("md", "csv", "html"), default="md", help="output format (default: md)")
    p.add_argument("--out", metavar="PATH", help="write here instead of stdout")
    p.add_argument("--plots", metavar="DIR", help="also write PNG charts into DIR (created if missing)")


def run(args) -> int:
    from xbench.paths import atomic_write_text, check_output_path
    from xbench.report import append_step_summary, load_runs, render, write_plots

    out = check_output_path(args.out, "--out") if args.out else None
    runs = load_runs(args.files)
    plots = write_plots(runs, Path(args.plots)) if args.plots else []
    text = render(runs, args.format, plots, relative_to=out.parent if out else None)
    if out:
        atomic_write_text(out, text)
        print(f"wrote {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    for p in plots:
        print(f"wrote {p}", file=sys.stderr)
    append_step_summary(runs)
    return 0
