"""Export a spec's model from one framework to ONNX, then prove the file is right.

Proof before the file lands: ``onnx.checker`` passes, the batch axis is
dynamic, and ONNX Runtime (CPU) gives the framework's own output within
``TOLERANCE`` on real MNIST images at batch 1 and 64. The file is written to a
temporary name and renamed, so a failed export leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xbench import data as mnist
from xbench import frameworks
from xbench.errors import UserError
from xbench.paths import check_output_path, weights_path
from xbench.spec import ModelSpec

OPSET = 18  # tf2onnx's highest opset; the torch exporter takes it too
TOLERANCE = 1e-4
PARITY_BATCHES = (1, 64)


@dataclass
class ExportResult:
    path: str
    framework: str
    model: str
    opset: int
    weights: str  # "trained (PATH)" or "initialised (seed N)"
    input_name: str
    input_shape: list
    max_abs_diff: dict  # batch size -> max |ORT - framework|

    def summary(self) -> str:
        diffs = ", ".join(f"batch {b}: {d:.1e}" for b, d in self.max_abs_diff.items())
        return (f"exported {self.model} ({self.framework}, {self.weights}) to {self.path}: opset {self.opset}, "
                f"input {self.input_name} {self.input_shape}; ONNX Runtime CPU vs {self.framework} max |diff| {diffs}")


def onnx_input(fw, x_nhwc: np.ndarray) -> np.ndarray:
    """A channels-last batch in the layout of ``fw``'s exported model."""
    return np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)) if fw.layout == "NCHW" else x_nhwc


def load_or_build(fw, spec: ModelSpec, seed: int = 0) -> tuple[object, str]:
    wpath = weights_path(spec.name, fw.name, fw.weights_suffix)
    if wpath.is_file():
        return fw.load(spec, wpath), f"trained ({wpath})"
    return fw.build(spec, seed), f"initialised (seed {seed})"


def export(framework: str, spec: ModelSpec, out: str | os.PathLike, opset: int = OPSET, seed: int = 0,
           model=None, data: mnist.Mnist | None = None, inputs: np.ndarray | None = None) -> ExportResult:
    """``inputs``: the parity check's inputs (a user model's test split, in its layout) instead of MNIST images."""
    import onnx

    from xbench.runtimes.onnxruntime import open_session
    from xbench.bench.cases import predict_fn

    out = check_output_path(out, "ONNX output")
    fw = frameworks.get(framework)
    weights = "given model"
    if model is None:
        model, weights = load_or_build(fw, spec, seed)
    data = data or (mnist.load_mnist() if inputs is None else None)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.stem}.", suffix=".onnx")
    os.close(fd)
    try:
        fw.export_onnx(model, spec, Path(tmp), opset)
        proto = onnx.load(tmp)
        onnx.checker.check_model(proto, full_check=True)
        got_opset = max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
        dim0 = proto.graph.input[0].type.tensor_type.shape.dim[0]
        if dim0.HasField("dim_value"):
            raise UserError(f"export of {spec.name} ({framework}) has a fixed batch of {dim0.dim_value}; expected dynamic")
        session = open_session(tmp, "CPUExecutionProvider")
        inp = session.get_inputs()[0]
        _, predict = predict_fn(fw, spec, model=model)
        diffs = {}
        for b in PARITY_BATCHES:
            x = inputs[np.arange(b) % len(inputs)] if inputs is not None else \
                mnist.batch(data, spec.input_shape, b, split="test")[0]
            ref = fw.to_numpy(predict(fw.to_native(model, x)[0]))
            got = session.run(None, {inp.name: onnx_input(fw, x)})[0]
            diffs[b] = float(np.abs(got - ref).max())
            if not diffs[b] <= TOLERANCE:
                raise UserError(f"export of {spec.name} ({framework}): ONNX Runtime differs from {framework} by "
                                f"{diffs[b]:.3g} at batch {b} (tolerance {TOLERANCE}); file not written")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return ExportResult(path=str(out), framework=framework, model=spec.name, opset=got_opset, weights=weights,
                        input_name=inp.name, input_shape=list(inp.shape), max_abs_diff=diffs)
