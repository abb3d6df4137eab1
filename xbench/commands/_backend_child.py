"""One xbench command for one Keras backend, in a child process, its JSON read back.

Keras's backend is fixed per process (``KERAS_BACKEND`` before the first ``import keras``). The commands that
take several frameworks in one process (``xbench explain --runtimes``, ``xbench sweep-train --frameworks``) run
each Keras framework whose backend is not this process's as ``python -m xbench.cli COMMAND ...`` with
``KERAS_BACKEND`` set and the same arguments for that framework alone; the parent merges what the child wrote.
Which frameworks go to a child is the suite's rule (:func:`xbench.bench.backends.delegated`: an installed Keras
backend other than this process's; a missing one stays here and is skipped with the reason). The child inherits
the environment (``XBENCH_THREADS`` from ``--threads``, the data and cache settings) and never starts children
of its own (``backends.CHILD_ENV``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import deque
from pathlib import Path

from xbench.bench.backends import CHILD_ENV, delegated  # noqa: F401 (the one rule for what goes to a child)

TAIL_LINES = 12  # of the child's stderr, kept for the reason of a failure


class ChildFailed(Exception):
    """The child ended without the JSON it was asked for; the message is the reason in one line."""


def child_command(command: str, args: list[str]) -> list[str]:
    """``python -m xbench.cli COMMAND ARGS`` with this interpreter."""
    return [sys.executable, "-m", "xbench.cli", command, *args]


def failure_reason(framework: str, backend: str, code: int | None, tail: list[str]) -> str:
    """One line: which process failed, how, and its last words (a traceback's last line says the most)."""
    last = next((ln.strip() for ln in reversed(tail) if ln.strip()), "")
    why = f"exit status {code}" if code is not None else "no exit status"
    return (f"{framework} ran in its own process (KERAS_BACKEND={backend}) and failed ({why})"
            + (f": {last[:300]}" if last else ""))


def xbench_line(line: str) -> bool:
    """A line of xbench's own on stderr (progress in brackets, its notes and errors), not a library's start-up
    chatter (the frameworks' C++ logs, their warnings), which the parent already printed once for itself."""
    return line.startswith(("[", "xbench ", "sweep", "note:", "WARNING: the CPU")) or bool(os.environ.get("XBENCH_DEBUG"))


def run_child(command: str, args: list[str], framework: str, backend: str, json_path: Path,
              env: dict | None = None, show=xbench_line) -> int:
    """Run ``xbench COMMAND ARGS`` with ``KERAS_BACKEND=backend``: the lines of its stderr that ``show`` accepts are
    passed through as they come, prefixed with ``[framework]``; its stdout is discarded (the parent prints the merged
    result). Returns the exit status; ``ChildFailed`` when ``json_path`` was not written (the reason: the status and
    the child's last line)."""
    full_env = {**os.environ, **(env or {}), "KERAS_BACKEND": backend, CHILD_ENV: "1"}
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    prefix = f"[{framework}] "
    code = None
    proc = subprocess.Popen(child_command(command, args), env=full_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, errors="replace")
    try:
        for line in proc.stderr:
            line = line.rstrip("\n")
            tail.append(line)
            if show(line):
                print(prefix + line, file=sys.stderr, flush=True)
        code = proc.wait()
    finally:
        if proc.poll() is None:  # interrupted here: the child gets the same chance to keep what it finished
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    if not Path(json_path).is_file():
        raise ChildFailed(failure_reason(framework, backend, code, list(tail)))
    return code
