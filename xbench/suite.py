"""The benchmark suite as data: which cases exist, and how each becomes a timed callable.

``train_cases`` / ``inference_cases`` enumerate identities from the
registries (models/, frameworks, ONNX Runtime providers); ``prepare`` turns
one case into a zero-argument callable on real MNIST batches, or raises
:class:`Skip` with the reason. The pytest files only parametrise over these.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from xbench import data as mnist
from xbench import frameworks
from xbench.runtimes.onnxruntime import SHORT, SessionConfig, long_name
from xbench.spec import ModelSpec, load_spec

TRAIN_BATCHES = (32, 128)  # the seed article's Example 2
EPOCH_BATCHES = (32, 128)
EPOCH_SAMPLES = 5000  # the embedded MNIST subset's training images: about 157 steps at batch 32
INFER_BATCHES = (1, 32, 128)
HOST_OUTPUT = "NumPy on the host (device-to-host copy included)"
DEVICE_OUTPUT = "left on the device (IO binding; no copies timed)"
ORT_VARIANTS = {"CPUExecutionProvider": ("default",), "CUDAExecutionProvider": ("end_to_end", "iobinding")}


class Skip(Exception):
    """This case cannot run here; the message is the reason recorded."""


@dataclass(frozen=True)
class Case:
    task: str  # train_step | inference | train_epoch
    framework: str | None
    runtime: str  # keras | torch | onnxruntime
    provider: str  # cpu | cuda | an ORT provider name
    model: str
    batch_size: int
    variant: str
    dtype: str = "float32"

    @property
    def device(self) -> str:
        return SHORT.get(self.provider, self.provider)

    @property
    def test_id(self) -> str:
        src = f"{self.framework}-" if self.runtime == "onnxruntime" else ""
        return f"{self.model}-{self.runtime}-{src}{self.device}-{self.variant}-b{self.batch_size}"

    def identity(self) -> dict:
        return asdict(self)


@dataclass
class Prepared:
    fn: Callable[[], object]
    extra: dict = field(default_factory=dict)
    check: Callable[[object], None] = lambda result: None  # raises if the first result is wrong


def _check_loss(loss) -> None:
    import math

    if not isinstance(loss, float) or not math.isfinite(loss):
        raise AssertionError(f"train step returned {loss!r}, expected a finite float loss")


def _check_probs(batch: int, classes: int | None, to_numpy=lambda out: out):
    def check(out) -> None:
        import numpy as np

        arr = np.asarray(to_numpy(out))
        if arr.shape[0] != batch or not np.isfinite(arr).all():
            raise AssertionError(f"inference output shape {arr.shape} / finite={np.isfinite(arr).all()}, expected ({batch}, ...)")
        if classes and not np.allclose(arr.sum(axis=1), 1.0, atol=1e-4):
            raise AssertionError("inference output rows do not sum to 1 (softmax missing or applied twice)")

    return check


def train_cases(models, framework_names, devices, batch_sizes=TRAIN_BATCHES) -> list[Case]:
    return [Case("train_step", f, f, d, m, b, v)
            for m in models for f in framework_names for d in devices
            for v in frameworks.get(f).variants for b in batch_sizes]


def epoch_cases(models, framework_names, devices, batch_sizes=EPOCH_BATCHES) -> list[Case]:
    """One epoch of the loop a user writes: Keras ``fit`` (defaults and ``steps_per_execution``), a PyTorch
    ``DataLoader`` loop."""
    return [Case("train_epoch", f, f, d, m, b, v)
            for m in models for f in framework_names for d in devices
            for v in frameworks.get(f).epoch_variants for b in batch_sizes]


def inference_cases(models, framework_names, providers, batch_sizes=INFER_BATCHES) -> list[Case]:
    devices = [SHORT.get(p, p) for p in providers if SHORT.get(p) in ("cpu", "cuda")]
    native = [Case("inference", f, f, d, m, b, v)
              for m in models for f in framework_names for d in devices
              for v in frameworks.get(f).variants for b in batch_sizes]
    ort = [Case("inference", f, "onnxruntime", p, m, b, v)
           for m in models for f in framework_names for p in providers
           for v in ORT_VARIANTS.get(p, ("default",)) for b in batch_sizes]
    return native + ort


class Context:
    """What cases share within one run: the data, loaded specs, exported ONNX files."""

    def __init__(self, data: mnist.Mnist, workdir: Path):
        self.data = data
        self.workdir = workdir
        self._exports: dict[tuple[str, str], Path] = {}
        self._specs: dict[str, ModelSpec] = {}
        self._lock = threading.Lock()

    def spec(self, name: str) -> ModelSpec:
        if name not in self._specs:
            self._specs[name] = load_spec(name)
        return self._specs[name]

    def onnx_file(self, framework: str, spec: ModelSpec) -> Path:
        """The framework's export of the freshly initialised (seed 0) model, made once per run."""
        from xbench.export import export

        key = (framework, spec.name)
        with self._lock:
            if key not in self._exports:
                path = self.workdir / f"{spec.name}.{framework}.onnx"
                export(framework, spec, path, model=frameworks.get(framework).build(spec, 0), data=self.data)
                self._exports[key] = path
            return self._exports[key]


def _check_native(fw, case: Case) -> None:
    try:
        reason = fw.device_reason(case.device)
    except ImportError as exc:  # e.g. a GPU box with PyTorch but no TensorFlow
        raise Skip(f"{fw.display} is not installed here ({exc})") from None
    if reason:
        raise Skip(reason)
    reason = fw.variant_reason(case.variant, case.device)
    if reason:
        raise Skip(reason)


def prepare(case: Case, ctx: Context) -> Prepared:
    spec = ctx.spec(case.model)
    if case.task == "train_epoch":
        return _prepare_epoch(case, spec, ctx)
    x, y = mnist.batch(ctx.data, spec.input_shape, case.batch_size, split="train" if case.task == "train_step" else "test")
    if case.runtime == "onnxruntime":
        return _prepare_ort(case, spec, ctx, x)
    fw = frameworks.get(case.framework)
    _check_native(fw, case)
    if case.task == "train_step" and spec.num_classes is None:
        raise Skip(f"{spec.name} has no classifier head (softmax Dense last): there is no loss to train")
    model = fw.build(spec, seed=0, device=case.device)
    extra = {"variant_info": fw.variants[case.variant], "math": fw.math_mode(case.device)}
    if case.task == "train_step":
        step = fw.make_train_step(model, spec, spec.learning_rate, "adam", case.variant, case.device)
        xn, yn = fw.to_native(model, x, y, case.device, case.variant)
        _add_compile_info(extra, step)
        return Prepared(lambda: step(xn, yn), {"optimizer": spec.optimizer, **extra}, _check_loss)
    predict = fw.make_predict(model, spec, case.variant, case.device)
    xn, _ = fw.to_native(model, x, None, case.device, case.variant)
    _add_compile_info(extra, predict)
    return Prepared(lambda: predict(xn), {**extra, "output": HOST_OUTPUT},
                    _check_probs(case.batch_size, spec.num_classes, fw.to_numpy))


def _add_compile_info(extra: dict, fn) -> None:
    """A compiled callable fills its ``compile_info`` (graphs compiled, breaks) on its first call."""
    info = getattr(fn, "compile_info", None)
    if info is not None:
        extra["compile"] = info


def _prepare_ort(case: Case, spec: ModelSpec, ctx: Context, x) -> Prepared:
    import numpy as np

    from xbench.export import onnx_input
    from xbench.runtimes.onnxruntime import ProviderUnavailable, make_session

    fw = frameworks.get(case.framework)
    provider = long_name(case.provider)
    config = SessionConfig(provider=provider)
    if provider == "CUDAExecutionProvider":
        config.provider_options = {"device_id": 0, "cudnn_conv_algo_search": "EXHAUSTIVE"}
    try:
        path = ctx.onnx_file(case.framework, spec)
    except ImportError as exc:
        raise Skip(f"cannot export the {fw.display} model: {fw.display} is not installed here ({exc})") from None
    try:
        session = make_session(path, config)
    except ProviderUnavailable as exc:
        raise Skip(str(exc)) from None
    name = session.get_inputs()[0].name
    feed = np.ascontiguousarray(onnx_input(fw, x))
    # What ORT really runs with (its defaults filled in), not only what was asked for.
    effective = session.get_provider_options().get(provider, {})
    recorded = {**config.recorded(), "provider_options_effective": effective}
    math = {"use_tf32": effective.get("use_tf32")} if provider == "CUDAExecutionProvider" else {"fp32": "ieee"}
    extra = {"session": recorded, "onnx_file": path.name, "export_layout": fw.layout, "math": math,
             "output": DEVICE_OUTPUT if case.variant == "iobinding" else HOST_OUTPUT}
    if case.variant == "iobinding":
        import onnxruntime as ort

        binding = session.io_binding()
        binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(feed, "cuda", 0))
        binding.bind_output(session.get_outputs()[0].name, "cuda")
        return Prepared(lambda: session.run_with_iobinding(binding), extra,
                        lambda _: _check_probs(case.batch_size, spec.num_classes)(binding.copy_outputs_to_cpu()[0]))
    return Prepared(lambda: session.run(None, {name: feed}), extra,
                    lambda out: _check_probs(case.batch_size, spec.num_classes)(out[0]))


def _prepare_epoch(case: Case, spec: ModelSpec, ctx: Context) -> Prepared:
    """One epoch over the first ``EPOCH_SAMPLES`` training images, a fresh model per block; the model keeps
    training from epoch to epoch, as in a user's ``epochs=10``."""
    import math

    fw = frameworks.get(case.framework)
    try:
        reason = fw.device_reason(case.device)
    except ImportError as exc:
        raise Skip(f"{fw.display} is not installed here ({exc})") from None
    if reason:
        raise Skip(reason)
    if spec.num_classes is None:
        raise Skip(f"{spec.name} has no classifier head (softmax Dense last): there is no loss to train")
    n = min(EPOCH_SAMPLES, len(ctx.data.x_train))
    x, y = mnist.batch(ctx.data, spec.input_shape, n, split="train")
    model = fw.build(spec, seed=0, device=case.device)
    epoch = fw.make_epoch(model, spec, x, y, case.batch_size, spec.learning_rate, case.variant, case.device)
    steps = math.ceil(n / case.batch_size)
    extra = {"variant_info": fw.epoch_variants[case.variant], "optimizer": spec.optimizer,
             "samples_per_epoch": n, "steps_per_epoch": steps, "math": fw.math_mode(case.device)}
    return Prepared(epoch, extra, _check_loss)
