"""One process per row: ``python -m xbench.serve.worker JOB.json`` serves the rows (or the no-op SUT) a job names
and writes their records to the job's ``out`` file; ``launch`` runs one such process per row.

Before the rows, one process of the same kind trains the weights and writes every ONNX file the rows read
(``prepare`` jobs), so no row's process exports (a PyTorch export leaves threads behind that slow the next
runtime in the same process: docs/where.md, field notes) and the weights are trained once, not once per row.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from xbench.bench import cases
from xbench.serve import loadgen
from xbench.serve.rows import Options

INFO = ".info.json"


class FilesContext(cases.Context):
    """The factory's context, reading the ONNX files an earlier process wrote in ``workdir`` (with what their
    derivation reported beside them) instead of exporting again; a file not there yet is made and kept."""

    def onnx_entry(self, framework, spec, transform=None):
        path = self.workdir / f"{spec.name}.{framework}{'.' + transform if transform else ''}.onnx"
        side = path.with_name(path.name + INFO)
        with self._lock:
            if path.is_file() and side.is_file():
                return path, json.loads(side.read_text())
            path, info = super().onnx_entry(framework, spec, transform)
            side.write_text(json.dumps(info))
            return path, info


def options_to_dict(opts: Options) -> dict:
    return dataclasses.asdict(opts)


def options_from_dict(d: dict) -> Options:
    return Options(**{**d, "scenarios": tuple(d["scenarios"]), "settings": loadgen.Settings(**d["settings"])})


def run_job(job: dict) -> dict:
    """``{"env": {...}, "records": [...]}`` of one job (a ``prepare`` job: weights and files only, no records)."""
    from xbench import data as mnist
    from xbench.serve import rows

    opts = options_from_dict(job["options"])
    logdir = Path(job["logdir"])
    if job.get("noop"):
        return {"env": {}, "records": [r.to_dict() for r in rows.serve_noop(opts, logdir, job["model"])]}
    ctx = FilesContext(mnist.load_mnist(job.get("data")), Path(job["workdir"]))
    out = []
    for row in job["rows"]:
        case = cases.Case(**row)
        if job.get("prepare"):
            try:
                cases.prepare(case, ctx)
            except Exception:  # noqa: BLE001 the row's own process reports it
                pass
            continue
        out += [r.to_dict() for r in rows.serve_row(case, ctx, opts, logdir)]
    return {"env": {"weights": ctx.weights_info(), "data": f"{ctx.data.label} ({ctx.data.file_name})"},
            "records": out}


def main(argv: list[str]) -> int:
    from xbench.bench import threads

    threads.configure(None)  # XBENCH_THREADS from the parent, before any framework loads
    job = json.loads(Path(argv[0]).read_text())
    result = run_job(job)
    Path(job["out"]).write_text(json.dumps(result))
    return 0


def launch(job: dict, folder: Path, name: str, env: dict | None = None) -> tuple[dict | None, str | None]:
    """Run ``job`` in a fresh process: (``run_job``'s answer, None) or (None, why it failed)."""
    path = folder / f"{name}.job.json"
    job = {**job, "out": str(folder / f"{name}.out.json")}
    path.write_text(json.dumps(job))
    proc = subprocess.run([sys.executable, "-m", "xbench.serve.worker", str(path)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    out = Path(job["out"])
    if proc.returncode != 0 or not out.is_file():
        tail = [line for line in (proc.stderr or "").strip().splitlines() if line.strip()]
        return None, (tail[-1] if tail else f"exit code {proc.returncode}")[:500]
    return json.loads(out.read_text()), None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
