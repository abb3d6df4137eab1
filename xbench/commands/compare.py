"""Compare two results files (BASE, then NEW) benchmark by benchmark.

Benchmarks are matched on their identity (task, framework, runtime, provider,
model, batch size, dtype, variant). The unit of evidence is a block: one fresh
model or session measured for a fixed number of rounds (`pytest
--benchmark-only` measures every benchmark in --xbench-blocks blocks spread
across the run; a file without blocks counts as one block). Two separate
questions per benchmark:

  significance  an exact one-sided Mann-Whitney U test on the block medians,
                p < --alpha (5 v 5 blocks: complete separation is p = 1/252)
  size          NEW's median of block medians over BASE's, with its 95%
                interval; it must exceed --threshold and the one-sided
                prediction bound for one new run from the spread of run
                medians (BASE's runs when pooled, else the --noise file's)

Every output begins with what the comparison can see: on how many benchmarks
it could flag a slowdown of the threshold, of 50 % and of 100 %, and on how
many it could show one unchanged at all. Then one verdict per benchmark:

  regression    significant and larger than the bar (the threshold, or the
                run-to-run drift bound when larger): NEW is slower
  improvement   the same, faster
  unchanged     shown not to have moved by more than --threshold: the 95%
                interval of the ratio, widened by the run-to-run drift's 95%
                prediction margin when that is known, lies inside ±threshold
  inconclusive  neither: the comparison could not tell; the row says why
                and the smallest slowdown of NEW it would have flagged
The noise is BASE's own; it is never estimated from the pair being judged.

Several runs per side, comma-separated, pool their blocks; pooling BASE runs
puts a machine state that lasts a whole run into BASE's noise, and --noise
borrows it from a pooled file of the same machine when BASE is one run (by
default the published baseline of BASE's machine id,
results/baselines/<machine-id>.json.gz under the current folder, when there is
one). The run-to-run bound is family-wise: a t bound at alpha/m for m
benchmarks (Bonferroni). That keeps an honest run's chance of any false alarm
below alpha only if run medians scatter like a normal sample; the rate
measured on held-out honest runs is in docs/statistics.md:

    xbench compare base1.json,base2.json,base3.json new.json
    xbench compare base.json new.json --noise results/baselines/amd-epyc-2c-nogpu.json.gz

Files from two machines (machine ids differ: CPU name, family and model, ISA
tier, cores, GPUs; python -m xbench.machine FILE prints a file's) are refused
with exit 2: the hardware is not a regression. --cross-machine compares them
anyway and labels the output as a hardware comparison. A file written before
env.cpu recorded the CPU family and model has a best-effort id (CPU name,
cores, GPUs): it is matched on that part only, and a note line says so.

Exit status: 1 when there is a regression, or a benchmark ok in BASE is
skipped or failing in NEW (unless --allow-missing); 0 otherwise; 2 when a file
is not a valid xbench results file (NaN or non-positive samples, duplicate ids,
blocks that do not add up included) or the files share no measured benchmark.
"""

from __future__ import annotations

import sys

from xbench.commands._common import alpha as _alpha, percent

HELP = "compare two results files on blocks; exit 1 on a regression (significant and above the threshold)"
ORDER = 31


def add_arguments(p) -> None:
    p.add_argument("base", metavar="BASE", help="results JSON to compare against (e.g. the committed baseline); "
                                               "several repeated runs: comma-separated")
    p.add_argument("new", metavar="NEW", help="results JSON of the run under test; several runs: comma-separated")
    p.add_argument("--threshold", type=percent, default=10.0, metavar="PCT",
                   help="smallest median change, in percent, that can count (default: 10)")
    p.add_argument("--alpha", type=_alpha, default=0.01,
                   help="significance level of the exact one-sided Mann-Whitney U test on block medians "
                        "(default: 0.01; 5 v 5 blocks reach it with at most one swapped pair)")
    p.add_argument("--allow-missing", action="store_true",
                   help="do not fail when a benchmark ok in BASE is skipped or failing in NEW (still listed)")
    p.add_argument("--noise", metavar="FILE[,FILE...]|none",
                   help="several runs of this machine (pooled, e.g. results/baselines/amd-epyc-2c-nogpu.json.gz) to "
                        "take the run-to-run noise from when BASE is a single run (default: BASE's own runs when it "
                        "pools several, else the published baseline of BASE's machine id, "
                        "results/baselines/<machine-id>.json.gz, when there is one; 'none': no run-to-run noise)")
    p.add_argument("--cross-machine", action="store_true",
                   help="compare files from different machine ids anyway (refused by default, exit 2): the output is "
                        "labelled a hardware comparison, since every difference includes the hardware's")
    p.add_argument("--format", choices=("text", "md"), default="text", help="output format (default: text)")


def run(args) -> int:
    from xbench.verdicts.compare import compare
    from xbench.report.comparison import render_md, render_text
    from xbench.machine import check_same
    from xbench.records.runs import pool
    from xbench.schema import read_results

    base = pool([read_results(f) for f in args.base.split(",") if f])
    new = pool([read_results(f) for f in args.new.split(",") if f])
    hardware = check_same(base, new, args.base, args.new, args.cross_machine)
    noise, noise_name = None, "--noise file"
    if args.noise and args.noise != "none":
        noise = pool([read_results(f) for f in args.noise.split(",") if f])
    elif args.noise is None and len((base.get("env") or {}).get("runs") or []) < 2:
        found = machine_baseline(base)
        if found:
            noise, noise_name = read_results(found), f"baseline of this machine ({found})"
    if hardware:
        sys.stdout.write(f"**{hardware[0].upper()}{hardware[1:]}.**\n\n" if args.format == "md" else f"{hardware}\n")
    result = compare(base, new, threshold=args.threshold / 100, alpha=args.alpha,
                     base_name=args.base, new_name=args.new, allow_missing=args.allow_missing, noise_doc=noise,
                     noise_name=noise_name)
    sys.stdout.write(render_md(result) if args.format == "md" else render_text(result))
    return 1 if result.failed else 0


def machine_baseline(doc: dict) -> str | None:
    """The published baseline of ``doc``'s machine id (``results/baselines/<id>.json.gz`` under the current folder,
    i.e. run from the checkout, as CI does); None when there is none.

    A single BASE run cannot show a machine state that lasts a whole run: on this project's VM, one run against
    the next raised false alarms in 3 of 6 honest pairs, none with the other runs' noise (results/gate-check.txt)."""
    from pathlib import Path

    from xbench.machine import of

    mid = of(doc)
    found = [p for p in (Path("results/baselines") / f"{mid}{ext}" for ext in (".json.gz", ".json")) if p.is_file()]
    return str(found[0]) if found else None
