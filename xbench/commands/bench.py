"""Run the benchmark suite from any folder: pytest over the installed suite, timed (--benchmark-only).

    xbench bench [PYTEST OPTIONS]

is `python -m pytest --pyargs xbench.bench.suite --benchmark-only -p no:cacheprovider` with xbench's own
pytest settings, run in the current folder (its pytest.ini, conftest.py and addopts are not read). Every
option goes to pytest: the --xbench-* options (pytest --help lists them under "xbench"), pytest's -k/-m
selection and the --benchmark-* options. For example

    xbench bench -k "seed_cnn and b32 and onnxruntime" --xbench-json out.json
    xbench bench --xbench-models seed_cnn --xbench-providers cpu --benchmark-max-time=0.5

The results file is --xbench-json, or results/<host>-<UTC time>.json under the current folder; render it
with `xbench report FILE`. Before the run, one collection checks the arguments: an option pytest does not
know, a bad --xbench-* value or a selection that matches no benchmark is one line and exit status 2.
Otherwise the exit status is pytest's. `xbench run` runs the same command once per framework.
"""

from __future__ import annotations

import shlex
import subprocess
import sys

HELP = "run the benchmark suite (pytest --benchmark-only over the installed suite) from any folder"
ORDER = 4
PASSTHROUGH = True  # every argument after `bench` is pytest's (cli.py hands them over as args.pytest_args)


def add_arguments(p) -> None:
    p.usage = "xbench bench [-h] [PYTEST OPTIONS ...]"


def run(args) -> int:
    from xbench.bench.command import check, pytest_command

    cmd = pytest_command(args.pytest_args)
    n = check(cmd)
    print(f"xbench bench: {n} benchmarks: {shlex.join(['python', *cmd[1:]])}", file=sys.stderr, flush=True)
    return subprocess.call(cmd)
