"""Inference runtimes for exported ONNX models: one module per runtime, discovered automatically.

Each module defines ``RUNTIME`` with the small interface of :class:`Runtime` and imports its library only
inside methods, so discovering runtimes (and ``xbench report``) stays light. Adding a runtime is adding one
module here; the suite makes its cases from ``rows`` and runs them through ``load``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from xbench.plugins import discover, lookup

HOST_OUTPUT = "NumPy on the host (device-to-host copy included)"
DEVICE_OUTPUT = "left on the device (IO binding; no copies timed)"


class Unavailable(RuntimeError):
    """This runtime cannot run the row here; the message (the runtime's own words where it gives them) is the
    reason recorded with the skipped row."""


@dataclass(frozen=True)
class Row:
    """One device x precision x variant a runtime offers. ``lean``: only on the models that get the "where
    should it run" rows (``--xbench-where-models``), not on every model."""
    device: str  # the provider / device name the record carries
    dtype: str
    variant: str = "default"
    lean: bool = False


@dataclass
class Session:
    """A loaded model. ``predict``: a batch in the export's layout -> probabilities on the host (accuracy);
    ``bind(feed)`` -> (the zero-argument call the benchmark times, its result -> probabilities on the host); it
    may compile for the feed's shape (``load_s`` includes it). ``latency``: the runtime's own time of the last
    timed call in seconds, where the runtime reports one (None: it does not)."""
    predict: Callable[[np.ndarray], np.ndarray]
    bind: Callable[[np.ndarray], tuple[Callable[[], object], Callable[[object], np.ndarray]]]
    info: dict  # what the runtime really runs with (read back from it), for the record
    latency: Callable[[], float] | None = None


class Runtime(Protocol):
    name: str  # the record's ``runtime``
    display: str

    def rows(self, providers: list[str]) -> list[Row]:
        """The rows it offers, given the ONNX Runtime providers the run asked for (``--xbench-providers``)."""

    def unavailable_reason(self, device: str, dtype: str, probe: Callable[[], Path]) -> str | None:
        """None when the row can run here, else why not; ``probe()`` gives the fp32 export for a trial load."""

    def transform(self, device: str, dtype: str, variant: str) -> str | None:
        """Which derived ONNX file the row reads (a name in ``xbench.export.transform``), None for the fp32 export."""

    def load(self, path: Path, device: str, dtype: str, variant: str) -> Session:
        """File on disk -> a session ready to run (``load_s`` times it with ``bind`` and the first call); Unavailable
        if not."""


@cache
def registry() -> dict[str, Runtime]:
    return discover(__name__, __path__, "RUNTIME")


def names() -> list[str]:
    return list(registry())


def get(name: str) -> Runtime:
    return lookup(registry(), name, "runtime")
