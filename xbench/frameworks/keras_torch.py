"""Keras 3 on the PyTorch backend (framework ``keras-torch``): runs in a process whose ``KERAS_BACKEND`` is
``torch``. Keras layers dispatch to PyTorch eager by default; ``jit_compile=True`` wraps the step in
``torch.compile``. Threads, GPU checks and the fp32 math mode are PyTorch's (:mod:`xbench.frameworks.torch_nn`).
"""

from __future__ import annotations

from xbench.frameworks import torch_nn
from xbench.frameworks.keras_common import KerasFramework, import_keras


class KerasTorch(KerasFramework):
    backend = package = "torch"
    name = "keras-torch"
    display = "Keras (PyTorch)"
    variants = {
        "default": "model.compile(jit_compile=False): Keras's default on PyTorch, its layers run in PyTorch eager",
        "compile": "model.compile(jit_compile=True): Keras wraps the train and predict steps in torch.compile",
    }
    ROWS_OPT_IN = True  # beyond the default fp32 variant, the suite's native rows need --xbench-backend-rows all
    JIT = {"default": False, "compile": True}
    # "cpu", not "cpu:0": Keras 3.15 moves each new Parameter with .to(device), and a move to "cpu:0" copies it into
    # a non-leaf tensor that never receives a gradient ("No gradients provided for any variable").
    DEVICES = {"cpu": "cpu", "cuda": "cuda"}

    def _keras(self):
        torch_nn._torch()  # thread pools sized before Keras runs anything
        return import_keras(self.backend)

    def backend_versions(self) -> dict[str, str]:
        import torch

        return {"torch": torch.__version__}

    def gpu_reason(self) -> str | None:
        return torch_nn.FRAMEWORK.device_reason("cuda")

    def variant_reason(self, variant: str, device: str) -> str | None:
        return torch_nn.FRAMEWORK.variant_reason(variant, device)

    def math_mode(self, device: str) -> dict:
        return torch_nn.FRAMEWORK.math_mode(device)


FRAMEWORK = KerasTorch()
