"""Compare two results files (BASE, then NEW) benchmark by benchmark.

Benchmarks are matched on their identity (task, framework, runtime, provider,
model, batch size, dtype, variant). A matched benchmark is a regression only
when BOTH hold: its median time grew by more than --threshold percent, AND a
one-sided Mann-Whitney U test on the raw per-round samples (samples_s) finds
NEW slower than BASE at p < --alpha. The threshold keeps tiny but
"significant" shifts (thousands of rounds) from alarming; the test keeps a
noisy median from a few rounds from alarming. Improvements mirror the rule; a
benchmark that ran in BASE and errors in NEW also counts as a regression.
Improvements, status changes and unmatched benchmarks are listed.

Exit status: 1 when there is any regression, 0 otherwise, 2 when the files
share no measured benchmark or a file is not a valid xbench results file.
"""

from __future__ import annotations

import argparse
import sys

from xbench.commands._common import positive_float

HELP = "compare two results files; exit 1 on a real (thresholded, significant) regression"
ORDER = 31


def _alpha(text: str) -> float:
    value = positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def add_arguments(p) -> None:
    p.add_argument("base", metavar="BASE", help="results JSON to compare against (e.g. the committed baseline)")
    p.add_argument("new", metavar="NEW", help="results JSON of the run under test")
    p.add_argument("--threshold", type=positive_float, default=10.0, metavar="PCT",
                   help="smallest median change, in percent, that can count (default: 10)")
    p.add_argument("--alpha", type=_alpha, default=0.01,
                   help="significance level of the one-sided Mann-Whitney U test (default: 0.01)")
    p.add_argument("--format", choices=("text", "md"), default="text", help="output format (default: text)")


def run(args) -> int:
    from xbench.compare import compare, render_md, render_text
    from xbench.schema import read_results

    base, new = read_results(args.base), read_results(args.new)
    result = compare(base, new, threshold=args.threshold / 100, alpha=args.alpha,
                     base_name=args.base, new_name=args.new)
    sys.stdout.write(render_md(result) if args.format == "md" else render_text(result))
    return 1 if result.failed else 0
