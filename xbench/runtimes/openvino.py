"""OpenVINO on the CPU, reading the ONNX exports directly.

On CPUs with bf16 or AMX, OpenVINO's default inference precision is bf16: every row here sets
``INFERENCE_PRECISION_HINT`` explicitly (f32 for fp32 rows, bf16 for bf16 rows) and reads back what the
compiled model uses, so no fp32 row can run in bf16. Threads: ``INFERENCE_NUM_THREADS`` is the suite's
thread count, one stream, latency hint.

Two calls (``VARIANTS``). ``default`` is the one OpenVINO documents for latency from Python: the model
reshaped to the batch's static shape, the input set once as a tensor sharing the batch's memory
(``set_input_tensor``), then ``infer(share_outputs=True)``. ``dynamic`` is the convenience call on the
export's dynamic batch, ``request.infer({0: x})``, which copies the input on every call; on the way it
iterates the tensor's shape, and pybind11 ends that iteration with a C++ exception that it translates by
trying every exception translator registered in the process: with ONNX Runtime or PyTorch imported (the
suite always has them) each call pays for a dozen more C++ unwinds (docs/where.md, "OpenVINO's call").
"""

from __future__ import annotations

from pathlib import Path

from xbench import precision
from xbench.bench import threads
from xbench.precision import BFLOAT16, FLOAT32
from xbench.runtimes import HOST_OUTPUT, Row, Session, Unavailable

DEVICE = "CPU"
HINTS = {FLOAT32: "f32", BFLOAT16: "bf16"}
VARIANTS = {
    "default": "static shape per batch (model.reshape), input set once as a shared ov.Tensor "
               "(set_input_tensor), infer(share_outputs=True): OpenVINO's documented latency call from Python",
    "dynamic": "the export's dynamic batch, request.infer({0: x}): the input copied into the request every call",
}
LATENCY_SOURCE = "InferRequest.latency (OpenVINO's own time of the last infer, ms)"


def _ov():
    import openvino

    return openvino


def _text(value) -> str:
    """OpenVINO returns properties as its own types: ``Type`` -> 'f32', lists -> 'CPU', others as str."""
    if hasattr(value, "to_string"):
        return value.to_string()
    return ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _first(out):
    return next(iter(out.values()))


class OpenVino:
    name = "openvino"
    display = "OpenVINO"

    def rows(self, providers: list[str]) -> list[Row]:
        return [Row(DEVICE, FLOAT32, v, lean=True) for v in VARIANTS] + [Row(DEVICE, BFLOAT16, lean=True)]

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
        core = ov.Core()
        model = core.read_model(str(path))
        asked = {"INFERENCE_PRECISION_HINT": HINTS[dtype], "INFERENCE_NUM_THREADS": threads.count(),
                 "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}

        def compiled(shape=None):
            """The model compiled as asked, for one static input shape (None: the export's dynamic batch)."""
            if shape is not None:
                model.reshape({0: ov.PartialShape(list(shape))})
            out = core.compile_model(model, device, asked)
            got = _text(out.get_property("INFERENCE_PRECISION_HINT"))
            if got != HINTS[dtype]:
                raise Unavailable(f"OpenVINO compiled the model with INFERENCE_PRECISION_HINT {got}, "
                                  f"not {HINTS[dtype]} as asked")
            return out

        first = compiled() if variant == "dynamic" else None
        info = {"session": {"device": device, "requested": {k: str(v) for k, v in asked.items()}},
                "variant_info": VARIANTS[variant], "math": {}, "output": HOST_OUTPUT,
                "runtime_latency_source": LATENCY_SOURCE}
        if dtype == BFLOAT16:
            info["math"]["cpu_flag"] = precision.native_flag()

        def record(c, shape) -> None:
            used = {k: _text(c.get_property(k)) for k in (*asked, "EXECUTION_DEVICES")}
            info["session"].update(used=used, shape=f"static {list(shape)}" if shape else "dynamic batch, as exported")
            info["math"]["inference_precision"] = used["INFERENCE_PRECISION_HINT"]

        if first is not None:
            record(first, None)
        static: dict[tuple, tuple] = {}  # input shape -> (compiled model, its request): the default variant

        def request_for(shape, timed: bool):
            if shape not in static:
                c = compiled(shape)
                static[shape] = (c, c.create_infer_request())
            if timed:  # the record describes the timed call's compiled model, not the accuracy batches'
                record(static[shape][0], shape)
            return static[shape][1]

        if variant == "dynamic":
            request = first.create_infer_request()

            def predict(feed):
                return _first(request.infer({0: feed}))

            def bind(feed):
                return (lambda: request.infer({0: feed})), _first

            return Session(predict, bind, info, lambda: request.latency / 1e3)

        last: list = []

        def predict(feed):
            req = request_for(tuple(feed.shape), timed=False)
            req.set_input_tensor(ov.Tensor(feed, shared_memory=True))
            return _first(req.infer())  # copied out: the next call reuses the request's output

        def bind(feed):
            req = request_for(tuple(feed.shape), timed=True)
            tensor = ov.Tensor(feed, shared_memory=True)  # the caller's array itself, read at every infer()
            req.set_input_tensor(tensor)
            last[:] = [req, feed, tensor]  # kept alive as long as the session
            return (lambda: req.infer(share_outputs=True)), _first

        return Session(predict, bind, info, lambda: last[0].latency / 1e3)


RUNTIME = OpenVino()
