"""Keras backends in processes of their own, within one suite run.

Keras's backend is fixed per process (``KERAS_BACKEND`` before the first ``import keras``). The suite's pytest
process runs the Keras backend it has (TensorFlow unless ``KERAS_BACKEND`` says otherwise) and hands every other
Keras framework requested (``keras-jax``, ``keras-torch``) to a child pytest: the same arguments (options, -k,
threads, seed, data), only that framework, ``KERAS_BACKEND`` set, the parent's ceiling, its own results file. The
child runs when the parent reaches that framework's first case (after all of the parent's own: they are ordered
last), and its records join the session's results file (``Recorder.merge_process``); each of the parent's items
for that framework then reports the child's outcome for its case (ok, skipped with the reason, or failed). The
parent's results file is rewritten after each of its own records, so an interrupted child leaves them intact.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD_ENV = "XBENCH_KERAS_BACKEND_CHILD"  # set in a child: it never starts children of its own
# Arguments a child must not inherit: its framework and results file are its own; pytest-benchmark's and
# JUnit's files and the serve stage are the parent's.
_OWN_VALUE = ("--xbench-frameworks", "--xbench-json", "--benchmark-json", "--benchmark-save", "--junitxml",
              "--junit-xml", "--benchmark-storage")
_OWN_FLAG = ("--benchmark-autosave", "--xbench-serve")  # the serve stage runs once, in the parent


def delegated(names: list[str]) -> dict[str, str]:
    """framework -> Keras backend, of the frameworks among ``names`` this process hands to a child: Keras on a
    backend other than this process's, installed (a missing one stays here: its rows are skipped with the reason)."""
    if os.environ.get(CHILD_ENV):
        return {}
    from xbench import frameworks
    from xbench.frameworks.keras_common import _installed, process_backend

    active, out = process_backend(), {}
    for name in names:
        fw = frameworks.get(name)
        backend = getattr(fw, "backend", None)
        if backend and backend != active and _installed(fw.package):
            out[name] = backend
    return out


def child_args(args: list[str], framework: str, json_path: Path) -> list[str]:
    """The parent's pytest arguments for a child that runs only ``framework`` into ``json_path``."""
    out, skip_next = [], False
    for arg in args:
        if skip_next:
            skip_next = False
            continue
        key = arg.split("=", 1)[0]
        if key in _OWN_FLAG:
            continue
        if key in _OWN_VALUE:
            skip_next = "=" not in arg
            continue
        out.append(arg)
    return [*out, "--xbench-frameworks", framework, "--xbench-json", str(json_path)]


class Children:
    """The child process of each delegated framework, started once, on demand; its records by id."""

    def __init__(self, config, recorder, backends: dict[str, str]):
        self.config = config
        self.recorder = recorder
        self.backends = backends
        self.records: dict[str, dict[str, dict]] = {}  # framework -> record id -> record
        self.ended: dict[str, str] = {}  # framework -> how its process ended (for the summary and failures)

    def record(self, framework: str, record_id: str) -> dict | None:
        if framework not in self.records:
            self._run(framework)
        return self.records[framework].get(record_id)

    def _run(self, framework: str) -> None:
        from xbench.schema import read_results

        backend = self.backends[framework]
        self.records[framework] = {}
        with tempfile.TemporaryDirectory() as tmp:
            part, log = Path(tmp) / f"{framework}.json", Path(tmp) / "out.txt"
            env = {**os.environ, "KERAS_BACKEND": backend, CHILD_ENV: "1"}
            if self.recorder.ceiling is not None:  # measured once, in the parent
                (Path(tmp) / "ceiling.json").write_text(json.dumps(self.recorder.ceiling))
                env["XBENCH_CEILING_FILE"] = str(Path(tmp) / "ceiling.json")
            cmd = [sys.executable, "-m", "pytest",
                   *child_args([str(a) for a in self.config.invocation_params.args], framework, part)]
            code = None
            try:
                with log.open("w") as out:
                    code = subprocess.call(cmd, cwd=self.config.invocation_params.dir, env=env, stdout=out,
                                           stderr=subprocess.STDOUT)
            finally:  # interrupted too: what the child finished joins the file
                doc = read_results(part) if part.is_file() else None
                if doc is not None:
                    self.records[framework] = {r["id"]: r for r in doc["records"]}
                    self.recorder.merge_process(doc, framework, backend)
                tail = log.read_text(errors="replace").strip().splitlines()[-15:] if log.is_file() else []
                self.ended[framework] = (f"{framework} ran in its own process (KERAS_BACKEND={backend}): exit status "
                                         f"{code}, {len(self.records[framework])} records")
                if code not in (0, None) and not doc:
                    self.ended[framework] += ":\n  " + "\n  ".join(tail)


def outcome(children: Children, case, identity: dict, node) -> None:
    """This item's result from its framework's child: a pass, a skip with the child's reason, or a failure (an
    ``error`` record in the file only when the child wrote none for the case)."""
    import pytest

    from xbench.records import Record

    rec = children.record(case.framework, Record(**identity).id)
    node._xbench_recorded = rec is not None
    if rec is None:
        pytest.fail(f"no record from {children.ended.get(case.framework, case.framework + ' process')}",
                    pytrace=False)
    if rec["status"] == "skipped":
        pytest.skip(rec.get("reason") or "skipped")
    if rec["status"] == "error":
        pytest.fail(f"in the {children.backends[case.framework]} process: {rec.get('reason')}", pytrace=False)


def summary_table(children: Children) -> list[str]:
    """pytest-benchmark's table lists this process's benchmarks only: the children's ok records, one line each
    (median of the block medians, its interval across blocks, blocks x rounds), for the terminal summary."""
    from xbench.report import fmt

    t = functools.partial(fmt.duration, down_to="µs", **fmt.TABLE)
    lines = []
    for framework, records in children.records.items():
        ok = [r for r in records.values() if r["status"] == "ok" and r.get("stats")]
        if not ok:
            continue
        lines.append(f"{framework} (its own process, KERAS_BACKEND={children.backends[framework]}): median of the "
                     "block medians (interval across blocks), blocks x rounds")
        width = max(len(r["id"]) for r in ok)
        for r in sorted(ok, key=lambda r: r["id"]):
            s = r["stats"]
            lo, hi = s.get("median_ci95") or (None, None)
            interval = f"({t(lo)}–{t(hi)})" if lo is not None else ""
            lines.append(f"  {r['id']:<{width}}  {t(s['median']):>9} "
                         f"{interval:<24} {s.get('blocks', 1)} x {s['rounds'] // max(s.get('blocks', 1), 1)}")
    return lines
