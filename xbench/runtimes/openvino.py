"""OpenVINO on the CPU, reading the ONNX exports directly.

On CPUs with bf16 or AMX, OpenVINO's default inference precision is bf16: every row here sets
``INFERENCE_PRECISION_HINT`` explicitly (f32 for fp32 rows, bf16 for bf16 rows) and reads back what the
compiled model uses, so no fp32 row can run in bf16. Threads: ``INFERENCE_NUM_THREADS`` is the suite's
thread count, one stream, latency hint.
"""

from __future__ import annotations

from pathlib import Path

from xbench import precision, threads
from xbench.precision import BFLOAT16, FLOAT32
from xbench.runtimes import HOST_OUTPUT, Row, Session, Unavailable

DEVICE = "CPU"
HINTS = {FLOAT32: "f32", BFLOAT16: "bf16"}


def _ov():
    import openvino

    return openvino


def _text(value) -> str:
    """OpenVINO returns properties as its own types: ``Type`` -> 'f32', lists -> 'CPU', others as str."""
    if hasattr(value, "to_string"):
        return value.to_string()
    return ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


class OpenVino:
    name = "openvino"
    display = "OpenVINO"

    def rows(self, providers: list[str]) -> list[Row]:
        return [Row(DEVICE, FLOAT32, lean=True), Row(DEVICE, BFLOAT16, lean=True)]

    def unavailable_reason(self, device: str, dtype: str, probe) -> str | None:
        try:
            ov = _ov()
        except ImportError as exc:
            return f"OpenVINO is not installed here ({exc}); pip install openvino"
        core = ov.Core()
        if device not in core.available_devices:
            return f"OpenVINO has no {device} device here; available: {', '.join(core.available_devices) or 'none'}"
        reason = precision.cpu_reason(dtype)
        if reason:
            return reason
        caps = core.get_property(device, "OPTIMIZATION_CAPABILITIES")
        if dtype == BFLOAT16 and "BF16" not in caps:
            return f"OpenVINO's {device} plugin does not offer BF16 here (OPTIMIZATION_CAPABILITIES: {', '.join(caps)})"
        return None

    def transform(self, device: str, dtype: str, variant: str) -> str | None:
        return None  # the fp32 export; the precision is the compile hint

    def load(self, path: Path, device: str, dtype: str, variant: str) -> Session:
        ov = _ov()
        asked = {"INFERENCE_PRECISION_HINT": HINTS[dtype], "INFERENCE_NUM_THREADS": threads.count(),
                 "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}
        compiled = ov.Core().compile_model(str(path), device, asked)
        used = {k: _text(compiled.get_property(k)) for k in (*asked, "EXECUTION_DEVICES")}
        if used["INFERENCE_PRECISION_HINT"] != HINTS[dtype]:
            raise Unavailable(f"OpenVINO compiled the model with INFERENCE_PRECISION_HINT "
                              f"{used['INFERENCE_PRECISION_HINT']}, not {HINTS[dtype]} as asked")
        request = compiled.create_infer_request()
        info = {"session": {"device": device, "requested": {k: str(v) for k, v in asked.items()}, "used": used,
                            "shape": "dynamic batch, as exported"},
                "math": {"inference_precision": used["INFERENCE_PRECISION_HINT"]}, "output": HOST_OUTPUT}
        if dtype == BFLOAT16:
            info["math"]["cpu_flag"] = precision.native_flag()

        def first(out):
            return next(iter(out.values()))

        def predict(feed):
            return first(request.infer({0: feed}))

        return Session(predict, lambda feed: ((lambda: request.infer({0: feed})), first), info)


RUNTIME = OpenVino()
