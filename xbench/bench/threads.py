"""One thread count for every framework, fixed before any of them initialises.

TensorFlow's pools can only be sized before it initialises and OpenMP reads
its variables at load time, so ``configure`` must run before the first import
of tensorflow / torch / onnxruntime (the pytest plugin and the CLI call it
first). Frameworks read ``settings()`` when they are imported.
"""

from __future__ import annotations

import os

import psutil

_THREADS: int | None = None


def default_threads() -> int:
    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def configure(n: int | None = None) -> int:
    global _THREADS
    n = int(n or os.environ.get("XBENCH_THREADS") or default_threads())
    _THREADS = n
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        os.environ[var] = str(n)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    os.environ["XBENCH_THREADS"] = str(n)  # inherited by any process xbench launches
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return n


def count() -> int:
    return _THREADS if _THREADS is not None else configure()


def settings() -> dict:
    """What is recorded in every results file."""
    return {"intra_op": count(), "inter_op": 1, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}
