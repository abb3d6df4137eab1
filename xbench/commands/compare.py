"""Compare two results files (BASE, then NEW) benchmark by benchmark.

Benchmarks are matched on their identity (task, framework, runtime, provider,
model, batch size, dtype, variant). A matched benchmark is a regression only
when its median time grew by more than --threshold percent AND the evidence
agrees: `pytest --benchmark-only` measures every benchmark in blocks spread
across the run (--xbench-blocks, default 5), and every NEW block must be
more than --threshold slower than every BASE block. Rounds within a block share
one moment of the machine; blocks minutes apart show how far the machine itself
drifts, which is the noise a change must clear. Files without blocks fall back
to a one-sided Mann-Whitney U test on the raw rounds (samples_s), p < --alpha.
A third condition guards both: the change must exceed 3 robust standard
deviations of the log ratios of all matched benchmarks (this pair's own
run-to-run noise); see the README. Improvements mirror the rule; a benchmark
that ran in BASE and errors in NEW also counts as a regression. Improvements,
status changes and unmatched benchmarks are listed.

Several runs per side, comma-separated, pool their blocks (a run without
blocks counts as one), which widens the noise each change must clear:

    xbench compare base1.json,base2.json new1.json,new2.json

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
    p.add_argument("base", metavar="BASE", help="results JSON to compare against (e.g. the committed baseline); "
                                               "several repeated runs: comma-separated")
    p.add_argument("new", metavar="NEW", help="results JSON of the run under test; several runs: comma-separated")
    p.add_argument("--threshold", type=positive_float, default=10.0, metavar="PCT",
                   help="smallest median change, in percent, that can count (default: 10)")
    p.add_argument("--alpha", type=_alpha, default=0.01,
                   help="significance level of the one-sided Mann-Whitney U test used for files without blocks "
                        "(default: 0.01)")
    p.add_argument("--format", choices=("text", "md"), default="text", help="output format (default: text)")


def run(args) -> int:
    from xbench.compare import compare, render_md, render_text
    from xbench.runs import pool
    from xbench.schema import read_results

    base = pool([read_results(f) for f in args.base.split(",") if f])
    new = pool([read_results(f) for f in args.new.split(",") if f])
    result = compare(base, new, threshold=args.threshold / 100, alpha=args.alpha,
                     base_name=args.base, new_name=args.new)
    sys.stdout.write(render_md(result) if args.format == "md" else render_text(result))
    return 1 if result.failed else 0
