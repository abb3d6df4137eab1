"""What machine and software a result came from (no ML framework is imported here).

The hardware part (``env.cpu``, ``env.gpu`` and the machine id derived from them) is ``xbench.machine``'s."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path

import psutil

from xbench import threads
from xbench.machine import hardware, machine_id

PACKAGES = ("tensorflow", "keras", "torch", "onnx", "onnxruntime", "onnxruntime-gpu", "openvino", "tf2onnx", "onnxscript",
            "numpy", "pytest-benchmark", "xbench")
REPO = Path(__file__).resolve().parent.parent


def versions() -> dict[str, str | None]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_info() -> dict:
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=10,
                                  check=True).stdout.strip()
        except (subprocess.SubprocessError, OSError):
            return None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def collect(extra: dict | None = None) -> dict:
    mem = psutil.virtual_memory().total
    hw = hardware()
    return {
        "machine_id": machine_id(hw),  # labels and matches files by hardware; the hostname is often just "vm"
        "hostname": socket.gethostname(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
        **hw,
        "memory_gb": round(mem / 2**30, 1),
        "versions": versions(),
        "threads": threads.settings(),
        "git": git_info(),
        # allocator settings change timings (see README: page faults); record any that are set
        "allocator_env": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_") or k == "LD_PRELOAD"},
        **(extra or {}),
    }
