"""The one pytest command line that runs the installed suite (``xbench bench``, ``xbench run``), and its
check before a run: bad arguments and an empty selection are one line, not a benchmark run that does nothing.

``python -m pytest --pyargs xbench.bench.suite --benchmark-only -p no:cacheprovider`` with the package's
own ini file (``-c``) and the current folder as rootdir: the current folder's pytest.ini, conftest.py and
addopts are not read, and the results file defaults to ``results/<host>-<UTC time>.json`` under it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from xbench.errors import UserError

INI = Path(__file__).resolve().with_name("bench.ini")
SUITE = "xbench.bench.suite"


def pytest_command(args, python: str = sys.executable) -> list[str]:
    return [python, "-m", "pytest", "--pyargs", SUITE, "-c", str(INI), "--rootdir=.", "--benchmark-only",
            "-p", "no:cacheprovider", *args]


def _error_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:
        found = re.search(r"xbench: error: (.*)", ln)
        if found:
            return found.group(1)
    for ln in lines:
        found = re.search(r"error: (.*)", ln)
        if found:
            return found.group(1)
    return lines[-1] if lines else ""


def check(cmd: list[str], what: str = "the arguments") -> int:
    """How many benchmarks ``cmd`` runs, from a collection with its own arguments (a few seconds); an
    argument pytest or xbench refuses, or a selection of nothing, is one UserError."""
    with tempfile.TemporaryDirectory() as tmp:  # pytest-benchmark's storage folder: not in the user's folder
        proc = subprocess.run([*cmd, "--collect-only", "-q", f"--benchmark-storage=file://{tmp}"],
                              capture_output=True, text=True)
    out = proc.stdout + "\n" + proc.stderr
    if proc.returncode == 0:
        return _count(proc.stdout)
    if proc.returncode == 4:  # pytest's usage error: an unknown option or a bad value
        raise UserError(f"pytest refused {what}: {_error_line(proc.stderr or out)} "
                        f"(see xbench bench --help and pytest --help)")
    if proc.returncode == 5:  # nothing collected, or everything deselected
        raise UserError(f"no benchmark matches {what} ({_selection(out)}); list the benchmarks with "
                        "xbench bench --collect-only -q")
    if proc.returncode == 2 and "xbench: error:" in out:
        raise UserError(_error_line(out))
    sys.stderr.write(out)  # anything else (a collection error): pytest's own words, in full
    raise UserError(f"the benchmarks could not be collected (pytest exit status {proc.returncode}); see above")


def _count(text: str) -> int:
    """The number of tests in ``--collect-only`` output, at any verbosity (the user's -q/-v add to ours)."""
    found = re.search(r"(\d+)(?:/\d+)? tests? collected", text)
    if found:
        return int(found.group(1))
    per_file = re.findall(r"^\S+\.py: (\d+)$", text, re.M)  # -qq
    return sum(map(int, per_file)) if per_file else sum("::" in ln for ln in text.splitlines())


def _selection(text: str) -> str:
    found = re.search(r"(\d+) deselected", text)
    return f"{found.group(1)} collected, all deselected" if found else "nothing collected"
