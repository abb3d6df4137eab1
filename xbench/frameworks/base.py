"""The interface every framework module implements.

Data in and out is numpy, channels-last (N, H, W, C) float32 images and int64
labels; ``to_native`` converts a batch once, outside any timed region.
Weights cross frameworks in one canonical layout (Keras's: conv kernels
(kh, kw, in, out), dense kernels (in, out) with inputs in H, W, C order), so
parity tests can copy a model from one framework into the other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from xbench.errors import UserError
from xbench.spec import ModelSpec

# (x_native, y_native) -> loss, synchronised. A train step and an epoch carry the optimizer object they step
# (``optimizer``) and what it is, read from that object (``optimizer_info``: name, class, learning rate...).
TrainStep = Callable[[Any, Any], float]
Predict = Callable[[Any], np.ndarray]  # x_native -> probabilities as NumPy on the host (device-to-host copy included)


class ExportUnavailable(UserError):
    """``export_onnx`` cannot export from this framework here; the message is the reason its runtime rows record
    (and ``xbench export``'s one-line error)."""


class Framework(Protocol):
    name: str  # "keras" | "keras-jax" | "keras-torch" | "torch"
    display: str  # "Keras" | "Keras (JAX)" | "Keras (PyTorch)" | "PyTorch"
    layout: str  # "NHWC" | "NCHW": the input layout of the native model and its ONNX export
    weights_suffix: str
    variants: dict[str, str]  # variant name -> what it changes; first one is the default
    epoch_variants: dict[str, str]  # train_epoch: the loop a user writes (first: the framework's defaults)
    precisions: dict[str, tuple[str, ...]]  # lower precision (dtype) -> devices it is offered on (default variant)

    def precision_info(self, dtype: str, device: str) -> dict:
        """How ``dtype`` is applied (autocast, a mixed policy), for the record."""

    def versions(self) -> dict[str, str]: ...

    def device_reason(self, device: str) -> str | None:
        """None when ``device`` ("cpu" | "cuda") is usable, else why not (a Keras backend that is not this process's,
        a missing optional backend); ImportError when the framework is missing."""

    def variant_reason(self, variant: str, device: str) -> str | None:
        """None when ``variant`` can run on ``device`` here, else why not (optional)."""

    def math_mode(self, device: str) -> dict:
        """The fp32 arithmetic the framework is set to use on ``device`` (TF32 or IEEE), for the record."""

    def seed(self, seed: int) -> None: ...

    def build(self, spec: ModelSpec, seed: int = 0, device: str = "cpu", dtype: str = "float32") -> Any:
        """A fresh model; frameworks that place variables at build time place them on ``device``."""

    def to_native(self, model: Any, x: np.ndarray, y: np.ndarray | None = None,
                  device: str = "cpu", variant: str | None = None) -> tuple[Any, Any]: ...

    def make_train_step(self, model: Any, spec: ModelSpec, lr: float, optimizer: str = "adam",
                        variant: str | None = None, device: str = "cpu", dtype: str = "float32") -> TrainStep: ...

    def make_predict(self, model: Any, spec: ModelSpec, variant: str | None = None,
                     device: str = "cpu", dtype: str = "float32") -> Predict: ...

    def make_epoch(self, model: Any, spec: ModelSpec, x: np.ndarray, y: np.ndarray, batch_size: int, lr: float,
                   variant: str, device: str = "cpu", optimizer: str = "adam") -> Callable[[], float]:
        """One epoch over (x, y) as a user of the framework writes it; returns the epoch's mean loss."""

    def to_numpy(self, out: Any) -> np.ndarray: ...

    def get_weights(self, model: Any, spec: ModelSpec) -> list[np.ndarray]: ...

    def set_weights(self, model: Any, spec: ModelSpec, weights: list[np.ndarray]) -> None: ...

    def save(self, model: Any, path: Path) -> None: ...

    def load(self, spec: ModelSpec, path: Path) -> Any: ...

    def export_onnx(self, model: Any, spec: ModelSpec, path: Path, opset: int) -> None:
        """Raises ``ExportUnavailable`` (with the reason) where the framework cannot export here."""
