"""Results files as the report sees them: one ``Run`` per file, records as plain dicts.

Records stay dicts (not ``Record``) so keys other engineers add later
(``achieved_gflops``, ``verdict``...) flow through without code changes here.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from xbench.schema import read_results

# The variant a framework runs when nobody tunes it; main tables show these,
# the variants tables show every variant.
DEFAULT_VARIANTS = ("default", "eager", "end_to_end")
# keras is Keras on TensorFlow (every file before issue 23 has only it); keras-jax and keras-torch its other backends.
FRAMEWORK_LABELS = {"keras": "Keras", "keras-jax": "Keras (JAX)", "keras-torch": "Keras (PyTorch)", "torch": "PyTorch"}
RUNTIME_LABELS = {**FRAMEWORK_LABELS, "onnxruntime": "ORT", "openvino": "OpenVINO"}
TASK_TITLES = {"train_step": "Training step", "inference": "Inference", "train_epoch": "One epoch"}
_ORDER = {"keras": 0, "keras-jax": 0.1, "keras-torch": 0.2, "torch": 1, "onnxruntime": 2, "openvino": 3}


@dataclass
class Run:
    path: Path
    doc: dict
    label: str = ""  # machine id (xbench.machine), unique among the runs of one report

    @property
    def env(self) -> dict:
        return self.doc.get("env") or {}

    @property
    def records(self) -> list[dict]:
        return self.doc["records"]


def load_runs(paths) -> list[Run]:
    """Read and validate every file (one UserError naming the bad one); label each by its machine id (derived from
    the hardware: every VM of a kind has the hostname ``vm``)."""
    from xbench.machine import of

    runs = [Run(Path(p), read_results(p)) for p in paths]
    machines = [of(r.doc) for r in runs]
    for run, machine in zip(runs, machines):
        # Two files from one machine (e.g. before/after) still need distinct column headers.
        run.label = machine if machines.count(machine) == 1 else f"{machine} ({run.path.name.split('.')[0]})"
    return runs


def device(provider: str) -> str:
    """'cpu' / 'CPUExecutionProvider' -> 'CPU'; 'TensorrtExecutionProvider' -> 'Tensorrt'."""
    name = provider.removesuffix("ExecutionProvider")
    return name.upper() if name.lower() in ("cpu", "cuda", "rocm", "mps") else name


@dataclass(frozen=True, order=True)
class Column:
    """What runs the model: a native framework on a device, or ORT on a provider with one export."""
    sort_key: tuple
    label: str


def column(rec: dict) -> Column:
    runtime, fw = rec["runtime"], rec.get("framework")
    dev = device(rec["provider"])
    if runtime != fw:  # an ONNX runtime reading a framework's export
        src = f"{FRAMEWORK_LABELS.get(fw, fw)} export" if fw else "ONNX file"
        label = f"{RUNTIME_LABELS.get(runtime, runtime)} {dev} ({src})"
    else:
        label = f"{RUNTIME_LABELS.get(runtime, runtime)} {dev}"
    key = (_ORDER.get(runtime, 9), runtime, dev != "CPU", dev, _ORDER.get(fw or "", 9), fw or "")
    return Column(key, label)


def default_variant(variants: list[str]) -> str:
    """The untuned variant among those present, else the first one recorded."""
    return next((v for v in DEFAULT_VARIANTS if v in variants), variants[0])


def median_s(rec: dict) -> float | None:
    """Median seconds per call; recomputed from the raw samples when the stats are absent."""
    if rec.get("status") != "ok":
        return None
    if rec.get("stats"):
        return rec["stats"]["median"]
    return statistics.median(rec["samples_s"]) if rec.get("samples_s") else None


NOISY_IQR = 0.25  # interquartile range / median above this: flag the number as noisy (†)


def noisy(rec: dict) -> bool:
    stats = rec.get("stats") or {}
    return bool(stats.get("median")) and stats.get("iqr", 0) / stats["median"] > NOISY_IQR


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "machine"
