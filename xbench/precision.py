"""Precisions as data: the dtype names a case may carry and what the CPU must have to run each natively.

A row labelled bfloat16 must run in bfloat16: where the CPU has no native bf16 instructions the frameworks
emulate it (slower than fp32, so the row would mislead) and OpenVINO silently keeps fp32. Such a row is
skipped with the missing flag named.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

FLOAT32, BFLOAT16, FLOAT16, INT8 = "float32", "bfloat16", "float16", "int8"
DTYPES = (FLOAT32, BFLOAT16, FLOAT16, INT8)
BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 CPU flags (Linux /proc/cpuinfo) for native bf16 arithmetic
ACCURACY_POINTS = 1.0  # a row more than this many points below its fp32 source is marked (MLPerf's 99 % rule)


@cache
def cpu_flags() -> frozenset[str] | None:
    """The first CPU's flags from /proc/cpuinfo; None where there is no such file (macOS, Windows)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_reason(dtype: str) -> str | None:
    """Why this CPU cannot run ``dtype`` natively (None when it can, or when the dtype needs no CPU feature)."""
    if dtype != BFLOAT16:
        return None
    flags = cpu_flags()
    if flags is None:
        return "bfloat16 needs avx512_bf16 or amx_bf16, and this system has no /proc/cpuinfo to read CPU flags from"
    if not any(f in flags for f in BF16_FLAGS):
        return f"this CPU has no native bfloat16: neither {' nor '.join(BF16_FLAGS)} is in /proc/cpuinfo's flags"
    return None


def native_flag() -> str | None:
    """The bf16 flag this CPU has, for the record."""
    return next((f for f in BF16_FLAGS if f in (cpu_flags() or ())), None)

# How far a row of probabilities may sum from 1 (a softmax after bf16/fp16/int8 arithmetic rounds coarsely).
SUM_TOLERANCE = {FLOAT32: 1e-4, BFLOAT16: 3e-2, FLOAT16: 3e-3, INT8: 3e-2}
