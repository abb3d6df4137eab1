"""The benchmark suite as data: which cases exist, and how each becomes a timed callable.

``train_cases`` / ``inference_cases`` enumerate identities from the registries (models/, frameworks,
runtimes and their precisions); ``prepare`` turns one case into a zero-argument callable on real MNIST
batches, or raises :class:`Skip` with the reason. The pytest files only parametrise over these.

It is also the one factory of measured things: ``train_step``, ``predict_fn`` and ``epoch_fn`` build every train
step, predict function and epoch in xbench (explain, sweep, export, training and the scripts ask them, with a
parameter where they need something else than a case: initialised weights, another optimizer, a model they hold).

Inference cases run trained weights (``xbench.training.weights``) and carry the top-1 accuracy of what they run
(``accuracy``, computed once per runtime x precision x export, outside the timed calls) and its difference
from the fp32 framework model the row came from (``accuracy_delta``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from xbench import data as mnist
from xbench import frameworks, precision, runtimes, usermodel
from xbench.bench.accuracy import test_set_top1
from xbench.frameworks.base import ExportUnavailable
from xbench.precision import DTYPES, FLOAT32, SUM_TOLERANCE
from xbench.runtimes import DEVICE_OUTPUT, HOST_OUTPUT, Unavailable  # noqa: F401 (re-exported for tests)
from xbench.runtimes.onnxruntime import SHORT
from xbench.spec import ModelSpec, load_spec

TRAIN_BATCHES = (32, 128)  # the seed article's Example 2
EPOCH_BATCHES = (32, 128)
EPOCH_SAMPLES = 5000  # the embedded MNIST subset's training images: about 157 steps at batch 32
INFER_BATCHES = (1, 32, 128)
WHERE_MODELS = ("seed_cnn",)  # models that get the "where should it run" rows by default
WHERE_BATCHES = (1, 128)  # batches of the lower-precision rows by default (the report's two columns)


@dataclass(frozen=True)
class Selection:
    """Which runtimes and precisions a run makes cases for. The "where should it run" rows (OpenVINO, int8,
    bf16, fp16, TensorRT) are made only for ``where_models`` (None: every model); lower-precision rows only at
    the task's batches that are in ``where_batches``."""
    runtimes: tuple[str, ...] | None = None  # None: every framework and runtime
    dtypes: tuple[str, ...] = DTYPES
    where_models: tuple[str, ...] | None = WHERE_MODELS
    where_batches: tuple[int, ...] = WHERE_BATCHES

    def runs(self, runtime: str) -> bool:
        return self.runtimes is None or runtime in self.runtimes

    def where(self, model: str) -> bool:
        return self.where_models is None or model in self.where_models

    def batches(self, dtype: str, task_batches) -> list[int]:
        return list(task_batches) if dtype == FLOAT32 else [b for b in task_batches if b in self.where_batches]


def runtime_names() -> list[str]:
    """What --xbench-runtimes accepts: the native frameworks and the ONNX runtimes."""
    return frameworks.names() + runtimes.names()


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
    dtype: str = FLOAT32

    @property
    def device(self) -> str:
        return SHORT.get(self.provider, self.provider)

    @property
    def test_id(self) -> str:
        src = f"{self.framework}-" if self.framework and self.runtime != self.framework else ""
        dtype = f"-{self.dtype}" if self.dtype != FLOAT32 else ""
        return f"{self.model}-{self.runtime}-{src}{self.device}-{self.variant}-b{self.batch_size}{dtype}"

    def accuracy_key(self) -> tuple:
        """Accuracy is computed once per runtime x provider x precision x variant x export (not per batch)."""
        return self.framework, self.runtime, self.provider, self.model, self.variant, self.dtype

    def identity(self) -> dict:
        return asdict(self)


@dataclass
class Prepared:
    fn: Callable[[], object]
    extra: dict = field(default_factory=dict)
    check: Callable[[object], None] = lambda result: None  # raises if the first result is wrong
    load_s: float | None = None  # a runtime row's session creation / compilation (the first call is added later)
    runtime_latency: Callable[[], dict] | None = None  # after the rounds: the runtime's own time beside the call's


def _check_loss(loss) -> None:
    import math

    if not isinstance(loss, float) or not math.isfinite(loss):
        raise AssertionError(f"train step returned {loss!r}, expected a finite float loss")


def _check_probs(batch: int, classes: int | None, to_numpy=lambda out: out, dtype: str = FLOAT32):
    def check(out) -> None:
        import numpy as np

        arr = np.asarray(to_numpy(out))
        if arr.shape[0] != batch or not np.isfinite(arr).all():
            raise AssertionError(f"inference output shape {arr.shape} / finite={np.isfinite(arr).all()}, expected ({batch}, ...)")
        if classes and not np.allclose(arr.sum(axis=1), 1.0, atol=SUM_TOLERANCE[dtype]):
            raise AssertionError("inference output rows do not sum to 1 (softmax missing or applied twice)")

    return check


def _lower(task, models, framework_names, devices, task_batches, sel: Selection) -> list[Case]:
    """Each framework's lower precisions (``precisions``) on its default variant, where the run has the device."""
    out = []
    for f in framework_names:
        fw = frameworks.get(f)
        default = next(iter(fw.variants))
        out += [Case(task, f, f, d, m, b, default, dtype)
                for dtype, devs in fw.precisions.items() if dtype in sel.dtypes and sel.runs(f)
                for d in devs if d in devices for m in models if sel.where(m)
                for b in sel.batches(dtype, task_batches)]
    return out


def _native(task, models, framework_names, devices, batch_sizes, sel: Selection) -> list[Case]:
    fp32 = [Case(task, f, f, d, m, b, v)
            for m in models for f in framework_names if sel.runs(f) and FLOAT32 in sel.dtypes for d in devices
            for v in frameworks.get(f).variants for b in batch_sizes]
    return fp32 + _lower(task, models, framework_names, devices, batch_sizes, sel)


def train_cases(models, framework_names, devices, batch_sizes=TRAIN_BATCHES, sel: Selection = Selection()) -> list[Case]:
    return _native("train_step", models, framework_names, devices, batch_sizes, sel)


def epoch_cases(models, framework_names, devices, batch_sizes=EPOCH_BATCHES) -> list[Case]:
    """One epoch of the loop a user writes: Keras ``fit`` (defaults and ``steps_per_execution``), a PyTorch
    ``DataLoader`` loop."""
    return [Case("train_epoch", f, f, d, m, b, v)
            for m in models for f in framework_names for d in devices
            for v in frameworks.get(f).epoch_variants for b in batch_sizes]


def inference_cases(models, framework_names, providers, batch_sizes=INFER_BATCHES,
                    sel: Selection = Selection()) -> list[Case]:
    devices = [SHORT.get(p, p) for p in providers if SHORT.get(p) in ("cpu", "cuda")]
    native = _native("inference", models, framework_names, devices, batch_sizes, sel)
    onnx = [Case("inference", f, rt.name, row.device, m, b, row.variant, row.dtype)
            for rt in runtimes.registry().values() if sel.runs(rt.name)
            for row in rt.rows(list(providers)) if row.dtype in sel.dtypes
            for m in models if not row.lean or sel.where(m) for f in framework_names
            for b in sel.batches(row.dtype, batch_sizes)]
    return native + onnx


def user_cases(task, model: usermodel.UserModel, providers, batch_sizes=INFER_BATCHES,
               sel: Selection = Selection()) -> list[Case]:
    """The cases of a user's model file (``xbench.usermodel``): a Keras file or torch module gets its framework's
    fp32 train-step and inference rows (every variant) and the ONNX runtimes' rows on its export; an ONNX file the
    ONNX runtimes' rows only. Every precision the runtimes offer (a user model always gets the "where should it
    run" rows), at the file's fixed batch if it has one."""
    if task == "train_epoch" or (model.kind == "onnx" and task != "inference"):
        return []
    batches = [model.fixed_batch] if model.fixed_batch else list(TRAIN_BATCHES if task == "train_step" else batch_sizes)
    source = None if model.kind == "onnx" else model.kind
    native = [] if source is None or not sel.runs(source) or FLOAT32 not in sel.dtypes else \
        [Case(task, source, source, "cpu", model.identity, b, v) for v in frameworks.get(source).variants for b in batches]
    if task == "train_step":
        return native
    return native + [Case("inference", source, rt.name, row.device, model.identity, b, row.variant, row.dtype)
                     for rt in runtimes.registry().values() if sel.runs(rt.name)
                     for row in rt.rows(list(providers)) if row.dtype in sel.dtypes
                     for b in (batches if model.fixed_batch else sel.batches(row.dtype, batches))]


class Context:
    """What cases share within one run: the data, loaded specs, trained weights, ONNX files, accuracies."""

    def __init__(self, data: mnist.Mnist, workdir: Path, user_data: str | None = None):
        self.data = data
        self.workdir = workdir
        self.user_data_path = user_data  # --xbench-data of the user's model files (None: random inputs)
        self._user_data: dict[str, usermodel.UserData] = {}
        self._exports: dict[tuple, tuple[Path, dict]] = {}
        self._specs: dict[str, ModelSpec] = {}
        self._weights: dict[tuple[str, str], tuple[list, dict]] = {}
        self._accuracy: dict[tuple, float] = {}
        self._counted: dict[tuple[str, str], Path] = {}
        self._lock = threading.RLock()

    def spec(self, name: str) -> ModelSpec:
        user = usermodel.lookup(name)
        if user is not None:  # a user's model file: what a case needs of it has the spec's names
            return user
        if name not in self._specs:
            self._specs[name] = load_spec(name)
        return self._specs[name]

    def weights(self, framework: str, spec: ModelSpec) -> tuple[list, dict]:
        """Trained weights (``xbench train``'s cache, else one epoch now), once per framework and model."""
        from xbench.training.weights import trained

        key = (framework, spec.name)
        with self._lock:
            if key not in self._weights:
                self._weights[key] = trained(frameworks.get(framework), spec, self.data)
            return self._weights[key]

    def weights_info(self) -> dict:
        """``env.weights``: framework -> model -> where its weights came from."""
        out: dict = {}
        for (framework, model), (_, info) in sorted(self._weights.items()):
            out.setdefault(framework, {})[model] = info
        return out

    def model(self, framework: str, spec: ModelSpec, device: str = "cpu", dtype: str = FLOAT32):
        """A fresh model with the run's trained weights."""
        return fresh_model(framework, spec, device=device, dtype=dtype, weights=self.weights(framework, spec)[0])

    def onnx_file(self, framework: str, spec: ModelSpec, transform: str | None = None) -> Path:
        """The framework's export of the trained model, or a file derived from it (``xbench.export.transform``),
        made once per run."""
        return self.onnx_entry(framework, spec, transform)[0]

    def onnx_entry(self, framework: str, spec: ModelSpec, transform: str | None = None) -> tuple[Path, dict]:
        from xbench.export import export, onnx_input

        key = (framework, spec.name, transform)
        with self._lock:
            if key not in self._exports:
                path = self.workdir / f"{spec.name}.{framework}{'.' + transform if transform else ''}.onnx"
                if transform is None:
                    export(framework, spec, path, model=self.model(framework, spec), data=self.data)
                    info: dict = {}
                else:
                    from xbench.export.transform import CALIBRATION_IMAGES, derive

                    calib = mnist.images(self.data.x_train[:CALIBRATION_IMAGES], spec.input_shape)
                    info = derive(transform, self.onnx_file(framework, spec), path,
                                  onnx_input(frameworks.get(framework), calib))
                self._exports[key] = (path, info)
            return self._exports[key]

    def counted_file(self, framework: str, spec: ModelSpec) -> Path:
        """An export to count FLOPs and bytes on, without training anything: the run's trained export when it
        has made one, else the export of a freshly initialised model (weights do not change the count), under
        the same file name, once per run."""
        from xbench.export import export

        if isinstance(spec, usermodel.UserModel):  # the file itself, or the run's export of it
            return self.user_onnx(spec, None)[0]
        key = (framework, spec.name)
        with self._lock:
            if (framework, spec.name, None) in self._exports:
                return self._exports[(framework, spec.name, None)][0]
            if key not in self._counted:
                path = self.workdir / "untrained" / f"{spec.name}.{framework}.onnx"
                path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    export(framework, spec, path, model=fresh_model(framework, spec), data=self.data)
                except ExportUnavailable:  # e.g. keras-jax without jax2onnx: the same spec's count, from torch's
                    if framework == "torch":  # export (the record's counted_from names that file)
                        raise
                    path = self.counted_file("torch", spec)  # (an RLock: the same thread re-enters)
                self._counted[key] = path
            return self._counted[key]

    def user_data(self, model: usermodel.UserModel) -> usermodel.UserData:
        with self._lock:
            if model.identity not in self._user_data:
                self._user_data[model.identity] = usermodel.load_data(self.user_data_path, model)
            return self._user_data[model.identity]

    def user_onnx(self, model: usermodel.UserModel, transform: str | None) -> tuple[Path, dict]:
        """A user's ONNX file as given, or a file derived from it, calibrated on the train split only."""
        if transform is None and model.kind == "onnx":
            return model.path, {}
        from xbench.export import export
        from xbench.export.transform import CALIBRATION_IMAGES, derive

        key = (None, model.identity, transform)
        with self._lock:
            if key not in self._exports and transform is None:  # the framework's export, parity on the test split
                path = self.workdir / f"{model.path.stem}.{model.identity[-usermodel.HASH_CHARS:]}.{model.kind}.onnx"
                result = export(model.kind, model, path, model=fresh_model(model.kind, model),
                                inputs=usermodel.channels_last(model, self.user_data(model).x_test))
                self._exports[key] = (path, {"parity_max_abs_diff": result.max_abs_diff})
            elif key not in self._exports:
                src = self.user_onnx(model, None)[0]
                path = self.workdir / f"{model.path.stem}.{model.identity[-usermodel.HASH_CHARS:]}.{transform}.onnx"
                calib, source = usermodel.calibration(self.user_data(model), CALIBRATION_IMAGES)
                info = derive(transform, src, path, calib)
                if "calibration_images" in info:
                    info["calibration"] = source
                self._exports[key] = (path, info)
            return self._exports[key]

    def user_accuracy(self, key: tuple, model: usermodel.UserModel, predictor: Callable[[], Callable]) -> float:
        """Top-1 on the user data's test split, once per ``key``."""
        from xbench.bench.accuracy import top1

        data = self.user_data(model)
        with self._lock:
            if key not in self._accuracy:
                self._accuracy[key] = top1(predictor(), data.x_test, data.y_test)
            return self._accuracy[key]

    def accuracy(self, key: tuple, predictor: Callable[[], Callable]) -> float:
        """Top-1 on the run's MNIST test set, once per ``key``; ``predictor()`` builds its own predict function
        (channels-last images -> class scores)."""
        with self._lock:
            if key not in self._accuracy:
                self._accuracy[key] = test_set_top1(predictor(), self.data, self.spec(key[3]).input_shape)
            return self._accuracy[key]


# ---- the one factory: every train step, predict function and epoch in xbench is built here -------------------------
# (tests/test_one_factory.py keeps it so). Callers that need something else than the suite's case ask with a
# parameter: untrained weights (``weights=None``), another optimizer or learning rate, a model they already hold.

def _framework(framework):
    return frameworks.get(framework) if isinstance(framework, str) else framework


def fresh_model(framework, spec: ModelSpec, *, device: str = "cpu", dtype: str = FLOAT32, weights: list | None = None,
                seed: int = 0):
    """A new model of ``spec`` on ``device``: initialised from ``seed``, or with ``weights`` (canonical layout)."""
    fw = _framework(framework)
    if isinstance(spec, usermodel.UserModel):  # a user's file: its own weights (a torch function: seeded)
        return usermodel.native(spec)
    model = fw.build(spec, seed=seed, device=device, dtype=dtype)
    if weights is not None:
        fw.set_weights(model, spec, weights)
    return model


def train_step(framework, spec: ModelSpec, *, model=None, variant: str | None = None, device: str = "cpu",
               dtype: str = FLOAT32, optimizer: str | None = None, lr: float | None = None,
               weights: list | None = None):
    """``(model, step)``: a train step with the spec's optimizer and learning rate unless ``optimizer`` / ``lr``
    say otherwise, on ``model`` or a fresh one (``fresh_model``). ``step.optimizer_info`` is what ran."""
    fw = _framework(framework)
    model = fresh_model(fw, spec, device=device, dtype=dtype, weights=weights) if model is None else model
    step = fw.make_train_step(model, spec, spec.learning_rate if lr is None else lr,
                              optimizer or spec.optimizer_name, variant, device, dtype)
    return model, step


def predict_fn(framework, spec: ModelSpec, *, model=None, variant: str | None = None, device: str = "cpu",
               dtype: str = FLOAT32, weights: list | None = None):
    """``(model, predict)``: the framework's predict function (probabilities as NumPy on the host)."""
    fw = _framework(framework)
    model = fresh_model(fw, spec, device=device, dtype=dtype, weights=weights) if model is None else model
    return model, fw.make_predict(model, spec, variant, device, dtype)


def epoch_fn(framework, spec: ModelSpec, x, y, batch_size: int, *, variant: str | None = None, device: str = "cpu",
             optimizer: str | None = None, lr: float | None = None, model=None):
    """One epoch over (x, y) as a user of the framework writes it (its default loop unless ``variant``), with the
    spec's optimizer and learning rate unless asked otherwise, on ``model`` or a fresh one."""
    fw = _framework(framework)
    model = fresh_model(fw, spec, device=device) if model is None else model
    return fw.make_epoch(model, spec, x, y, batch_size, spec.learning_rate if lr is None else lr,
                         variant or next(iter(fw.epoch_variants)), device, optimizer=optimizer or spec.optimizer_name)


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
    user = usermodel.lookup(case.model)
    if user is not None:
        return _prepare_user_runtime(case, user, ctx) if case.runtime != case.framework else \
            _prepare_user_native(case, user, ctx)
    spec = ctx.spec(case.model)
    if case.task == "train_epoch":
        return _prepare_epoch(case, spec, ctx)
    x, y = mnist.batch(ctx.data, spec.input_shape, case.batch_size, split="train" if case.task == "train_step" else "test")
    if case.runtime != case.framework:
        return _prepare_runtime(case, spec, ctx, x)
    fw = frameworks.get(case.framework)
    _check_native(fw, case)
    reason = precision.cpu_reason(case.dtype) if case.device == "cpu" else None
    if reason:
        raise Skip(reason)
    if case.task == "train_step" and spec.num_classes is None:
        raise Skip(f"{spec.name} has no classifier head (softmax Dense last): there is no loss to train")
    extra = {"variant_info": fw.variants[case.variant], "math": fw.math_mode(case.device)}
    if case.dtype != FLOAT32:
        extra["precision"] = fw.precision_info(case.dtype, case.device)
    if case.task == "train_step":
        model, step = train_step(fw, spec, variant=case.variant, device=case.device, dtype=case.dtype)
        xn, yn = fw.to_native(model, x, y, case.device, case.variant)
        _add_compile_info(extra, step)
        return Prepared(lambda: step(xn, yn), {"optimizer": step.optimizer_info, **extra}, _check_loss)
    model, predict = predict_fn(fw, spec, model=ctx.model(case.framework, spec, case.device, case.dtype),
                                variant=case.variant, device=case.device, dtype=case.dtype)
    xn, _ = fw.to_native(model, x, None, case.device, case.variant)
    _add_compile_info(extra, predict)
    extra.update(_accuracy(case, spec, ctx))
    return Prepared(lambda: predict(xn), {**extra, "output": HOST_OUTPUT},
                    _check_probs(case.batch_size, spec.num_classes, fw.to_numpy, case.dtype))


def _native_predictor(case: Case, spec: ModelSpec, ctx: Context) -> Callable:
    """A fresh model and predict function of the case's framework, variant and precision (for accuracy)."""
    fw = frameworks.get(case.framework)
    model, predict = predict_fn(fw, spec, model=ctx.model(case.framework, spec, case.device, case.dtype),
                                variant=case.variant, device=case.device, dtype=case.dtype)
    return lambda x: fw.to_numpy(predict(fw.to_native(model, x, None, case.device, case.variant)[0]))


def predictor(case: Case, ctx: Context) -> Callable:
    """Channels-last images -> class scores, of what an inference case runs (runtime, precision, variant): the
    predict function its accuracy is measured with. ``xbench serve``'s accuracy mode runs it on LoadGen's queries."""
    spec = ctx.spec(case.model)
    if case.runtime == case.framework:
        return _native_predictor(case, spec, ctx)
    path = ctx.onnx_file(case.framework, spec, runtimes.get(case.runtime).transform(case.provider, case.dtype,
                                                                                    case.variant))
    return _runtime_predictor(case, spec, path)


def reference_case(case: Case) -> Case:
    """The fp32 framework model a row came from: its framework, on the CPU, default variant."""
    fw = frameworks.get(case.framework)
    return Case("inference", case.framework, case.framework, "cpu", case.model, 1, next(iter(fw.variants)))


def _accuracy(case: Case, spec: ModelSpec, ctx: Context, predictor: Callable[[], Callable] | None = None) -> dict:
    """``accuracy`` of what the case runs and ``accuracy_delta`` against its fp32 framework model."""
    if spec.num_classes is None:
        return {"accuracy": None, "accuracy_note": f"{spec.name} has no classifier head: no top-1 accuracy"}
    ref = reference_case(case)
    reference = ctx.accuracy(ref.accuracy_key(), lambda: _native_predictor(ref, spec, ctx))
    acc = ctx.accuracy(case.accuracy_key(), predictor or (lambda: _native_predictor(case, spec, ctx)))
    return {"accuracy": acc, "accuracy_delta": round(acc - reference, 6), "accuracy_images": len(ctx.data.x_test)}


def _add_compile_info(extra: dict, fn) -> None:
    """A compiled callable fills its ``compile_info`` (graphs compiled, breaks) on its first call."""
    info = getattr(fn, "compile_info", None)
    if info is not None:
        extra["compile"] = info


def _prepare_runtime(case: Case, spec: ModelSpec, ctx: Context, x) -> Prepared:
    """An ONNX runtime (``xbench.runtimes``) on the framework's export: file -> session, timed as ``load_s``."""
    from xbench.export import onnx_input
    from xbench.export.transform import TransformFailed

    fw = frameworks.get(case.framework)
    rt = runtimes.get(case.runtime)

    def export() -> Path:
        try:
            reason = fw.device_reason("cpu")  # the export runs the framework here (a Keras backend: its process)
            if reason:
                raise Skip(f"cannot export the {fw.display} model here: {reason}")
            return ctx.onnx_file(case.framework, spec)
        except ImportError as exc:
            raise Skip(f"cannot export the {fw.display} model: {fw.display} is not installed here ({exc})") from None
        except ExportUnavailable as exc:  # the framework's documented path does not give a file ORT runs
            raise Skip(str(exc)) from None

    reason = rt.unavailable_reason(case.provider, case.dtype, export)
    if reason:
        raise Skip(reason)
    transform = rt.transform(case.provider, case.dtype, case.variant)
    export()
    try:
        path, derived = ctx.onnx_entry(case.framework, spec, transform)
    except TransformFailed as exc:
        if isinstance(exc.__cause__, ImportError):  # a library this row needs is missing: not a failure
            raise Skip(str(exc)) from None
        raise
    feed = onnx_input(fw, x)
    try:
        t0 = time.perf_counter()
        session = rt.load(path, case.provider, case.dtype, case.variant)
        fn, to_probs = session.bind(feed)  # a static-shape session compiles for the batch here
        load_s = time.perf_counter() - t0
    except Unavailable as exc:
        raise Skip(str(exc)) from None
    extra = {**session.info, "onnx_file": path.name, "export_layout": fw.layout}
    if derived:
        extra["derived"] = derived
    extra.update(_accuracy(case, spec, ctx, lambda: _runtime_predictor(case, spec, path)))
    own = session.latency
    return Prepared(fn, extra, lambda out: _check_probs(case.batch_size, spec.num_classes, dtype=case.dtype)(to_probs(out)),
                    load_s=load_s, runtime_latency=None if own is None else lambda: runtime_latency(fn, own))


def _prepare_user_native(case: Case, model: usermodel.UserModel, ctx: Context) -> Prepared:
    """A user's Keras file in Keras or torch module in PyTorch: a train step with the file's optimizer (or
    xbench's default, fresh) on the train split, or inference on the test split with accuracy there."""
    fw = frameworks.get(case.framework)
    _check_native(fw, case)
    data = ctx.user_data(model)
    extra = {"variant_info": fw.variants[case.variant], "math": fw.math_mode(case.device), "data": data.label,
             "model_file": model.notes}
    if case.task == "train_step":
        reason = usermodel.train_reason(model)
        if not reason and (not len(data.x_train) or data.y_train is None):
            reason = f"{data.label}: no labelled train split (x_train, y_train): train steps never read the test split"
        if reason:
            raise Skip(reason)
        x, y = usermodel.batch(data, case.batch_size, "train")
        x = usermodel.channels_last(model, x)
        mdl, step = train_step(fw, model, model=fresh_model(fw, model), variant=case.variant)
        xn, yn = fw.to_native(mdl, x, y, case.device, case.variant)
        return Prepared(lambda: step(xn, yn), {"optimizer": step.optimizer_info, **extra}, _check_loss)
    x, _ = usermodel.batch(data, case.batch_size, "test")
    x = usermodel.channels_last(model, x)
    mdl, predict = predict_fn(fw, model, model=fresh_model(fw, model), variant=case.variant)
    xn, _ = fw.to_native(mdl, x, None, case.device, case.variant)

    extra.update(_user_accuracy(case, model, ctx, data, _user_predictor(model, ctx, None)))
    return Prepared(lambda: predict(xn), {**extra, "output": HOST_OUTPUT},
                    _check_probs(case.batch_size, None, fw.to_numpy))


def _user_accuracy(case: Case, model: usermodel.UserModel, ctx: Context, data, predictor) -> dict:
    """``accuracy`` on the user data's test split and ``accuracy_delta`` against the fp32 model the row came from
    (its framework's default variant; ONNX Runtime fp32 on the CPU for an ONNX file); ``predictor(case)`` builds a
    case's predict function."""
    if not data.labelled or model.num_classes is None:
        why = data.label if not data.labelled else f"the output is not (batch, classes) ({data.label})"
        return {"accuracy": None, "accuracy_note": f"no top-1 accuracy: {why}"}
    ref = reference_case(case) if case.framework else \
        Case("inference", None, "onnxruntime", "CPUExecutionProvider", model.identity, 1, "default")
    ref_predictor = predictor if ref.runtime == case.runtime else _user_predictor(model, ctx, predictor)
    reference = ctx.user_accuracy(ref.accuracy_key(), model, lambda: ref_predictor(ref))
    acc = ctx.user_accuracy(case.accuracy_key(), model, lambda: predictor(case))
    return {"accuracy": acc, "accuracy_delta": round(acc - reference, 6), "accuracy_images": len(data.x_test)}


def _user_predictor(model: usermodel.UserModel, ctx: Context, runtime_predictor):
    """A predictor of any case of a user model: native (Keras) cases through the factory, runtime cases through
    ``runtime_predictor``."""
    def predictor(c: Case):
        if c.runtime != c.framework:
            return runtime_predictor(c)
        fw = frameworks.get(c.framework)
        m, p = predict_fn(fw, model, model=fresh_model(fw, model), variant=c.variant)
        return lambda xb: fw.to_numpy(p(fw.to_native(m, usermodel.channels_last(model, xb), None, c.device,
                                                     c.variant)[0]))

    return predictor


def _prepare_user_runtime(case: Case, model: usermodel.UserModel, ctx: Context) -> Prepared:
    """An ONNX runtime on a user's ONNX file (derived files: ``Context.user_onnx``), on the test split's inputs,
    with accuracy on that split where the data has labels."""
    from xbench.export.transform import TransformFailed

    rt = runtimes.get(case.runtime)
    data = ctx.user_data(model)
    reason = rt.unavailable_reason(case.provider, case.dtype, lambda: model.path)
    if reason:
        raise Skip(reason)
    try:
        transform = rt.transform(case.provider, case.dtype, case.variant)
        path, derived = ctx.user_onnx(model, transform)
    except TransformFailed as exc:
        if isinstance(exc.__cause__, ImportError):
            raise Skip(str(exc)) from None
        raise
    x, _ = usermodel.batch(data, case.batch_size, "test")
    try:
        t0 = time.perf_counter()
        session = rt.load(path, case.provider, case.dtype, case.variant)
        fn, to_probs = session.bind(x)
        load_s = time.perf_counter() - t0
    except Unavailable as exc:
        raise Skip(str(exc)) from None
    extra = {**session.info, "onnx_file": path.name, "data": data.label}
    if case.framework:
        extra["export_layout"] = frameworks.get(case.framework).layout
    if derived:
        extra["derived" if transform else "export"] = derived

    def predictor(c: Case):
        rt_ = runtimes.get(c.runtime)
        return rt_.load(ctx.user_onnx(model, rt_.transform(c.provider, c.dtype, c.variant))[0], c.provider, c.dtype,
                        c.variant).predict

    extra.update(_user_accuracy(case, model, ctx, data, _user_predictor(model, ctx, predictor)))
    own = session.latency
    return Prepared(fn, extra, lambda out: _check_probs(case.batch_size, None, dtype=case.dtype)(to_probs(out)),
                    load_s=load_s, runtime_latency=None if own is None else lambda: runtime_latency(fn, own))


LATENCY_CALLS, LATENCY_BUDGET_S = 200, 0.25


def runtime_latency(fn: Callable[[], object], latency: Callable[[], float]) -> dict:
    """The runtime's own time per call beside the Python call's, paired over the same calls (up to
    ``LATENCY_CALLS`` or ``LATENCY_BUDGET_S``, at least 5), run after a block's timed rounds: what the binding and
    the Python side add to the runtime is ``call_median_s - median_s``."""
    import statistics

    own, call = [], []
    end = time.perf_counter() + LATENCY_BUDGET_S
    while len(call) < LATENCY_CALLS and (len(call) < 5 or time.perf_counter() < end):
        t0 = time.perf_counter()
        fn()
        call.append(time.perf_counter() - t0)
        own.append(latency())
    return {"median_s": statistics.median(own), "call_median_s": statistics.median(call), "calls": len(call)}


def _runtime_predictor(case: Case, spec: ModelSpec, path: Path) -> Callable:
    from xbench.export import onnx_input

    fw = frameworks.get(case.framework)
    session = runtimes.get(case.runtime).load(path, case.provider, case.dtype, case.variant)
    return lambda x: session.predict(onnx_input(fw, x))


def epoch_size(data) -> int:
    """How many images one ``train_epoch`` runs over: the first ``EPOCH_SAMPLES`` (fewer if the data has fewer)."""
    return min(EPOCH_SAMPLES, len(data.x_train))


def epoch_data(data, spec: ModelSpec):
    """The images one ``train_epoch`` runs over (``epoch_size``), as (x, y) in the spec's input shape."""
    return mnist.batch(data, spec.input_shape, epoch_size(data), split="train")


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
    x, y = epoch_data(ctx.data, spec)
    n = len(x)
    epoch = epoch_fn(fw, spec, x, y, case.batch_size, variant=case.variant, device=case.device)
    steps = math.ceil(n / case.batch_size)
    extra = {"variant_info": fw.epoch_variants[case.variant], "optimizer": epoch.optimizer_info,
             "samples_per_epoch": n, "steps_per_epoch": steps, "math": fw.math_mode(case.device)}
    return Prepared(epoch, extra, _check_loss)
