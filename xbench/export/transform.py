"""ONNX files derived from an fp32 export: int8 quantizations (ONNX Runtime's tools) and an fp16 conversion.

Each transform reads ``src`` and writes ``dst`` (through a temporary name, so a failure leaves nothing) and
returns what it did, for the record. Calibration batches are real MNIST training images in the export's
layout. A failure raises :class:`TransformFailed` carrying the library's exception: the row becomes an
``error`` record, never a silently fp32 one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

CALIBRATION_IMAGES = 512  # MNIST training images the static quantization calibrates on
CALIBRATION_BATCH = 64


class TransformFailed(RuntimeError):
    """The library failed to derive the file; the message names the transform and its exception."""


def _preprocessed(src: Path, tmpdir: str) -> str:
    """ONNX Runtime's recommended pre-processing (shape inference, graph clean-up): the PyTorch export's
    dynamic quantization fails shape inference without it."""
    with _without_torch():
        from onnxruntime.quantization.shape_inference import quant_pre_process
        import onnxruntime.tools  # noqa: F401 (what quant_pre_process imports later)

    out = os.path.join(tmpdir, "pre.onnx")
    quant_pre_process(str(src), out)
    return out


@contextlib.contextmanager
def _without_torch():
    """``onnxruntime.tools`` imports torch whenever it is installed (for a PyTorch export helper the quantizer
    never uses): a Keras-only benchmark process must not load torch for it. A ``None`` entry in sys.modules
    makes ``importlib.util.find_spec("torch")`` answer None; it is removed again, so torch stays importable."""
    if "torch" in sys.modules:
        yield
        return
    sys.modules["torch"] = None
    try:
        yield
    finally:
        del sys.modules["torch"]


def int8_qdq_static(src: Path, dst: str, calibration: np.ndarray) -> dict:
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    import onnx

    input_name = onnx.load(str(src), load_external_data=False).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(calibration[i:i + CALIBRATION_BATCH]
                                for i in range(0, len(calibration), CALIBRATION_BATCH))

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {input_name: batch}

    settings = {"quant_format": QuantFormat.QDQ, "activation_type": QuantType.QUInt8,
                "weight_type": QuantType.QInt8, "calibrate_method": CalibrationMethod.MinMax, "per_channel": False}
    with tempfile.TemporaryDirectory() as tmp:
        quantize_static(_preprocessed(src, tmp), dst, Reader(), **settings)
    return {"method": "onnxruntime.quantization.quantize_static", "calibration_images": len(calibration),
            **{k: getattr(v, "name", v) for k, v in settings.items()}}


def int8_dynamic(src: Path, dst: str, calibration: np.ndarray) -> dict:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        quantize_dynamic(_preprocessed(src, tmp), dst, weight_type=QuantType.QInt8)
    return {"method": "onnxruntime.quantization.quantize_dynamic", "weight_type": "QInt8",
            "activations": "quantized at run time (uint8)"}


def float16(src: Path, dst: str, calibration: np.ndarray) -> dict:
    import onnx
    from onnxconverter_common import float16 as f16  # the gpu extra installs it

    model = f16.convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    onnx.save(model, dst)
    return {"method": "onnxconverter_common.float16.convert_float_to_float16", "keep_io_types": True}


TRANSFORMS = {"int8_qdq_static": int8_qdq_static, "int8_dynamic": int8_dynamic, "float16": float16}


def derive(name: str, src: Path, dst: Path, calibration: np.ndarray) -> dict:
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.stem}.", suffix=".onnx")
    os.close(fd)
    try:
        with _quiet_quantizer():
            info = TRANSFORMS[name](src, tmp, calibration)
        os.replace(tmp, dst)
    except Exception as exc:  # the quantizers raise whatever their graph passes raise
        raise TransformFailed(f"{name} of {src.name} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return info


@contextlib.contextmanager
def _quiet_quantizer():
    """The quantizer logs "please consider pre-processing" through the root logger even after it was done."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
