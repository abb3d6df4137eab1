"""What machine and software a result came from (no ML framework is imported here)."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
from importlib import metadata
from pathlib import Path

import psutil

from xbench import threads

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


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpus() -> list[dict] | None:
    """NVIDIA GPUs as nvidia-smi reports them; None when there is no nvidia-smi."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return None
    rows = [[c.strip() for c in line.split(",")] for line in out.strip().splitlines() if line.strip()]
    return [{"name": r[0], "memory": r[1], "driver": r[2]} for r in rows if len(r) >= 3]


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


def hardware() -> dict:
    """What identifies the machine (``xbench.machine.machine_id`` derives the id from these fields)."""
    return {"cpu": {"model": cpu_model(), "physical_cores": psutil.cpu_count(logical=False),
                    "logical_cores": psutil.cpu_count(logical=True)},
            "gpu": gpus()}


def collect(extra: dict | None = None) -> dict:
    from xbench.machine import machine_id

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
