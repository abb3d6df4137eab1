"""ONNX Runtime sessions that are what they say they are.

ONNX Runtime falls back to the CPU silently when a requested provider cannot
start (it logs an error and returns a working session). ``make_session``
checks ``session.get_providers()`` and raises :class:`ProviderUnavailable`
with ORT's own message instead, so no CUDA-labelled number can come from
the CPU.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from xbench.bench import threads
from xbench.precision import FLOAT16, FLOAT32, INT8
from xbench.runtimes import DEVICE_OUTPUT, HOST_OUTPUT, Row, Session, Unavailable

SHORT = {"CPUExecutionProvider": "cpu", "CUDAExecutionProvider": "cuda", "TensorrtExecutionProvider": "tensorrt",
         "CoreMLExecutionProvider": "coreml", "DmlExecutionProvider": "dml", "OpenVINOExecutionProvider": "openvino"}
LONG = {v: k for k, v in SHORT.items()}


class ProviderUnavailable(Unavailable):
    """The requested execution provider is not the one running the session."""


TORCH_IN_PROCESS = True  # will this process use torch too? The benchmark plugin says no for a Keras-only run


def ort():
    if TORCH_IN_PROCESS and "onnxruntime" not in sys.modules and \
            any(d.startswith("onnxruntime-gpu==") for d in installed_distributions()):
        _torch_first()
    import onnxruntime

    if not getattr(ort, "preloaded", False):
        ort.preloaded = True
        if hasattr(onnxruntime, "preload_dlls") and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            with contextlib.suppress(Exception), _captured_output():
                onnxruntime.preload_dlls()  # CUDA/cuDNN from the NVIDIA wheels, when installed
    return onnxruntime


def _torch_first() -> None:
    """ONNX Runtime's CUDA build loads CUDA and cuDNN when imported; its documentation says to import torch
    first when both are used, so both run on torch's copies of those libraries. A process that never uses
    torch (``TORCH_IN_PROCESS`` False) does not load it for this."""
    import importlib.util

    if "torch" not in sys.modules and importlib.util.find_spec("torch") is not None:
        import torch  # noqa: F401


NAMES = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino")


def _distributions() -> list[tuple[str, str, str]]:
    """(name, version, folder) of every installed ONNX Runtime wheel, first on sys.path first."""
    found = []
    for dist in metadata.distributions():
        entry = ((dist.metadata["Name"] or "").lower(), dist.version, str(dist.locate_file("")))
        if entry[0] in NAMES and entry not in found:  # a folder twice on sys.path lists its wheels twice
            found.append(entry)
    return found


def installed_distributions() -> list[str]:
    """Which ONNX Runtime wheels are installed, as name==version."""
    return [f"{name}=={version}" for name, version, _ in _distributions()]


def check_single_distribution() -> str | None:
    """Two ONNX Runtime wheels in one folder overwrite each other's files. In different folders on sys.path
    (onnxruntime-gpu installed with --target ahead of a system onnxruntime) the first one is imported whole."""
    by_folder: dict[str, list[str]] = {}
    for name, version, folder in _distributions():
        by_folder.setdefault(folder, []).append(f"{name}=={version}")
    for folder, found in by_folder.items():
        if len(found) > 1:
            return (f"more than one ONNX Runtime package is installed in {folder} ({', '.join(found)}); they share "
                    f"one module directory and break each other: pip uninstall all of them, then reinstall one")
    return None


def long_name(provider: str) -> str:
    return LONG.get(provider.lower(), provider)


def known_providers() -> list[str]:
    """Every provider this ONNX Runtime build knows, whether or not it can start here."""
    rt = ort()
    return sorted(set(rt.get_all_providers()))


def provider_option(values: list[str] | None, default: str = "cpu", option: str = "--provider") -> list[str]:
    """``--provider`` of the CLI and ``--xbench-providers`` of the suite (repeatable or comma-separated, long or
    short names) as long names; an unknown name is one UserError that lists what this build has and knows."""
    from xbench.errors import UserError

    known = known_providers()
    out = []
    for item in values or [default]:
        for p in (v.strip() for v in item.split(",") if v.strip()):
            if long_name(p) not in known:
                raise UserError(f"{option}: unknown provider {p!r}; available in this build: "
                                f"{', '.join(ort().get_available_providers())} (short names: cpu, cuda); "
                                f"all ONNX Runtime providers: {', '.join(known)}")
            out.append(long_name(p))
    return out


@dataclass
class SessionConfig:
    provider: str = "CPUExecutionProvider"
    intra_op_threads: int | None = None
    inter_op_threads: int = 1
    graph_optimization: str = "ORT_ENABLE_ALL"
    provider_options: dict = field(default_factory=dict)
    profile_prefix: str | None = None  # switch ORT's profiler on, writing PREFIX_<date>.json

    def recorded(self) -> dict:
        return {"provider": self.provider, "intra_op_num_threads": self.intra_op_threads or threads.count(),
                "inter_op_num_threads": self.inter_op_threads, "graph_optimization_level": self.graph_optimization,
                "provider_options": {k: str(v) for k, v in self.provider_options.items()}}


@contextlib.contextmanager
def _captured_output():
    """Capture what native code and ORT's Python wrapper write to fd 1 and 2 (provider failures)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        box = {"text": ""}
        try:
            yield box
        finally:
            sys.stdout.flush()
            for fd, copy in zip((1, 2), saved):
                os.dup2(copy, fd)
                os.close(copy)
            tmp.seek(0)
            box["text"] = re.sub(r"\x1b\[[0-9;]*m", "", tmp.read().decode(errors="replace"))


def _reason(log: str, provider: str, running: list[str]) -> str:
    """ORT's own words for why ``provider`` did not start, without source paths and timestamps."""
    keep = []
    for line in log.splitlines():
        if not re.search(r"fail|error|require|cannot|not found", line, re.I):
            continue
        line = re.sub(r"^.*?\[ONNXRuntimeError\] : \d+ : \w+ : ", "", line)
        line = re.sub(r"^.*?\] ", "", line)  # "[W:onnxruntime:..., file.cc:123 Function] "
        line = re.sub(r"(/[^\s:]+/)([^/\s:]+\.so[\w.]*)", r"\2", line)  # library paths -> file names
        line = re.sub(r" Please install.*", "", line).strip()
        if line and line not in keep:
            keep.append(line)
    ran = ", ".join(running) or "nothing"
    detail = "; ".join(keep[:3])
    return f"{provider} requested but ONNX Runtime runs {ran}" + (f": {detail}" if detail else "")


def make_session(model_path: str | Path | bytes, config: SessionConfig):
    """An InferenceSession whose first provider is ``config.provider``, or ProviderUnavailable: the one place in
    xbench that creates one (``tests/test_one_factory.py`` keeps it so). ``model_path`` may be a serialized model."""
    rt = ort()
    provider = long_name(config.provider)
    if provider not in rt.get_all_providers():
        raise ProviderUnavailable(f"{provider} is not an ONNX Runtime provider; known: {', '.join(rt.get_all_providers())}")
    if provider not in rt.get_available_providers():
        raise ProviderUnavailable(
            f"{provider} is not in this build of ONNX Runtime ({', '.join(installed_distributions())}); "
            f"available: {', '.join(rt.get_available_providers())}")
    opts = rt.SessionOptions()
    opts.intra_op_num_threads = config.intra_op_threads or threads.count()
    opts.inter_op_num_threads = config.inter_op_threads
    opts.graph_optimization_level = getattr(rt.GraphOptimizationLevel, config.graph_optimization)
    if config.profile_prefix:
        opts.enable_profiling = True
        opts.profile_file_prefix = config.profile_prefix
    opts.log_severity_level = 2  # warnings and errors: ORT's own reason if the provider fails
    providers = [(provider, config.provider_options)] if config.provider_options else [provider]
    if provider != "CPUExecutionProvider":
        providers.append("CPUExecutionProvider")  # CPU stays allowed for ops the provider lacks
    with _captured_output() as log:
        try:
            model = model_path if isinstance(model_path, bytes) else str(model_path)
            session = rt.InferenceSession(model, sess_options=opts, providers=providers)
            error = None
        except Exception as exc:  # ORT raises its own exception types (Fail, RuntimeException, ...)
            session, error = None, exc
    if session is None:
        raise ProviderUnavailable(f"{provider}: session creation failed: {error}")
    running = session.get_providers()
    if not running or running[0] != provider:
        raise ProviderUnavailable(_reason(log["text"], provider, running))
    return session


CPU, CUDA, TRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"
VARIANTS = {CPU: ("default", "iobinding"), CUDA: ("end_to_end", "iobinding")}  # fp32 variants per provider
VARIANT_INFO = {"default": "session.run(None, {name: x}): NumPy in, a fresh NumPy output per call",
                "end_to_end": "session.run(None, {name: x}): NumPy in, host copies both ways included",
                "iobinding": "run_with_iobinding: the input bound once as an OrtValue, the output into a buffer "
                             "bound once (ORT's documented way to avoid per-call copies and allocations)"}
LEAN = {(CPU, "iobinding")}  # only on the models that get the "where should it run" rows
CPU_BOUND_OUTPUT = "NumPy on the host, in a buffer bound once (IO binding; no per-call allocation)"
# Lower precisions: int8 on the CPU (two quantizations), fp16 on CUDA and TensorRT, TensorRT fp32.
LOWER = {CPU: [Row(CPU, INT8, "qdq_static", True), Row(CPU, INT8, "dynamic", True)],
         CUDA: [Row(CUDA, FLOAT16, "end_to_end", True), Row(TRT, FLOAT32, "default", True),
                Row(TRT, FLOAT16, "default", True)],
         TRT: [Row(TRT, FLOAT16, "default", True)]}
TRANSFORMS = {(INT8, "qdq_static"): "int8_qdq_static", (INT8, "dynamic"): "int8_dynamic"}


class OnnxRuntime:
    """ONNX Runtime as a runtime of the suite: fp32 on every requested provider, int8 (static QDQ and dynamic
    quantization) on the CPU, fp16 on CUDA (an fp16 conversion of the export) and TensorRT (its own fp16)."""

    name = "onnxruntime"
    display = "ONNX Runtime"

    def rows(self, providers: list[str]) -> list[Row]:
        rows = [Row(p, FLOAT32, v, (p, v) in LEAN) for p in providers for v in VARIANTS.get(p, ("default",))]
        for p in providers:
            rows += [r for r in LOWER.get(p, []) if (r.device, r.dtype, r.variant) not in
                     {(x.device, x.dtype, x.variant) for x in rows}]
        return rows

    def unavailable_reason(self, device: str, dtype: str, probe) -> str | None:
        if device == CPU:
            return None
        if device not in _probed:  # the provider's own reason, once per process
            try:
                make_session(probe(), session_config(device, FLOAT32))
                _probed[device] = None
            except ProviderUnavailable as exc:
                _probed[device] = str(exc)
        return _probed[device]

    def transform(self, device: str, dtype: str, variant: str) -> str | None:
        if dtype == FLOAT16 and device == CUDA:
            return "float16"
        return TRANSFORMS.get((dtype, variant))

    def load(self, path: Path, device: str, dtype: str, variant: str) -> Session:
        config = session_config(device, dtype)
        session = make_session(path, config)
        name, out_name = session.get_inputs()[0].name, session.get_outputs()[0].name
        effective = session.get_provider_options().get(device, {})
        math = {"use_tf32": effective.get("use_tf32")} if device == CUDA else {"fp32": "ieee"}
        if dtype == INT8:
            math = {"int8": f"{variant}: {TRANSFORMS[(dtype, variant)]} (onnxruntime.quantization)"}
        output = HOST_OUTPUT if variant != "iobinding" else DEVICE_OUTPUT if device != CPU else CPU_BOUND_OUTPUT
        info = {"session": session_record(session, config), "math": math,
                "output": output}
        if variant in VARIANT_INFO:
            info["variant_info"] = VARIANT_INFO[variant]

        def predict(feed):
            return session.run(None, {name: feed})[0]

        def bind(feed):
            if variant != "iobinding":
                return (lambda: session.run(None, {name: feed})), (lambda out: out[0])
            rt = ort()
            binding = session.io_binding()
            if device == CPU:  # both ends in host memory, bound once: the call copies and allocates nothing
                out = rt.OrtValue.ortvalue_from_numpy(predict(feed))
                binding.bind_ortvalue_input(name, rt.OrtValue.ortvalue_from_numpy(feed))
                binding.bind_ortvalue_output(out_name, out)
                return (lambda: session.run_with_iobinding(binding)), (lambda _: out.numpy())
            binding.bind_ortvalue_input(name, rt.OrtValue.ortvalue_from_numpy(feed, "cuda", 0))
            binding.bind_output(out_name, "cuda")
            return (lambda: session.run_with_iobinding(binding)), (lambda _: binding.copy_outputs_to_cpu()[0])

        return Session(predict, bind, info)


_probed: dict[str, str | None] = {}


def session_config(provider: str, dtype: str = FLOAT32, *, profile_prefix: str | None = None,
                   intra_op_threads: int | None = None) -> SessionConfig:
    """The suite's session settings for ``provider`` (long or short name): the threads of the run, CUDA's
    exhaustive cuDNN search, TensorRT's fp16 switch; ``profile_prefix`` switches ORT's profiler on (explain's
    per-node profile), ``intra_op_threads`` overrides the run's threads (a script that compares thread counts)."""
    provider = long_name(provider)
    config = SessionConfig(provider=provider, profile_prefix=profile_prefix, intra_op_threads=intra_op_threads)
    if provider == CUDA:
        config.provider_options = {"device_id": 0, "cudnn_conv_algo_search": "EXHAUSTIVE"}
    elif provider == TRT:
        config.provider_options = {"device_id": 0, "trt_fp16_enable": dtype == FLOAT16}
    return config


def open_session(path, provider: str = CPU, dtype: str = FLOAT32, *, profile_prefix: str | None = None,
                 intra_op_threads: int | None = None):
    """A session of ``path`` with the suite's settings (``session_config``) and its provider check: what every
    tool outside the suite's runtime rows (explain, sweep, infer, scripts) opens."""
    return make_session(path, session_config(provider, dtype, profile_prefix=profile_prefix,
                                             intra_op_threads=intra_op_threads))


def session_record(session, config: SessionConfig) -> dict:
    """The session settings a record stores: what was asked for and what ORT really runs with (its defaults
    filled in)."""
    effective = session.get_provider_options().get(config.provider, {})
    return {**config.recorded(), "provider_options_effective": effective}


RUNTIME = OnnxRuntime()
