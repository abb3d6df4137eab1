"""Keras 3's model code, shared by its backends: the spec -> ``keras.Sequential`` builder, compile, train step,
predict, epoch, weights and export, written as a Keras user writes them. No ``FRAMEWORK`` here: one small module
per backend (``keras_tf``, ``keras_jax``, ``keras_torch``) subclasses :class:`KerasFramework` with what its backend
needs (the import, device placement, the jit variants).

Keras's backend is fixed per process: ``KERAS_BACKEND`` is read at the first ``import keras``. A framework whose
backend is not the process's answers ``device_reason`` with why (and the suite runs it in its own process,
:mod:`xbench.bench.backends`), never importing Keras on the wrong backend.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

from xbench.frameworks.base import ExportUnavailable  # noqa: F401 (re-exported for the backend modules)
from xbench.spec import ModelSpec


def process_backend() -> str:
    """The Keras backend of this process: the imported Keras's, else what ``import keras`` would choose
    (``KERAS_BACKEND``, default tensorflow)."""
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "backend"):
        return keras.backend.backend()
    return os.environ.get("KERAS_BACKEND") or "tensorflow"


def _installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ValueError, AttributeError):  # in sys.modules as None (a test hiding it) or without a spec
        return False


def import_keras(backend: str):
    """``import keras`` on ``backend``; only called once ``process_backend() == backend`` was checked."""
    os.environ.setdefault("KERAS_BACKEND", backend)
    import keras

    if keras.backend.backend() != backend:  # ~/.keras/keras.json chose another one
        raise RuntimeError(f"Keras imported on {keras.backend.backend()!r}, expected {backend!r}")
    return keras


@contextlib.contextmanager
def quiet_native_logs():
    """Silence C++ start-up chatter (TensorFlow's oneDNN and CUDA lines, XLA's) that bypasses Python."""
    if os.environ.get("XBENCH_DEBUG"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class KerasFramework:
    """Keras on ``backend``; subclasses set the names, ``variants`` and the backend hooks below."""
    backend = "tensorflow"
    package = "tensorflow"  # the backend's Python package
    install_hint = ""  # an optional backend: how to install it (missing: rows skipped with this), else ImportError
    name = "keras"
    display = "Keras"
    layout = "NHWC"
    weights_suffix = ".weights.h5"
    variants: dict[str, str] = {}
    JIT: dict[str, bool] = {}  # variant -> model.compile(jit_compile=...), set explicitly: "auto" differs by backend

    # One epoch as the seed article's reader runs it (task train_epoch).
    STEPS_PER_EXECUTION = 32
    epoch_variants = {
        "fit": "model.fit(x, y, batch_size=B, epochs=1, verbose=0) with Keras's defaults (shuffle, steps_per_execution=1)",
        "fit_spe32": f"the same fit with model.compile(steps_per_execution={STEPS_PER_EXECUTION}): Keras's documented "
                     "setting to run several steps per call of the compiled function",
    }

    # Lower precisions on the default variant: dtype -> devices. Keras's mixed policy is set per layer at build
    # time (not the global policy, which would leak into every later model of the process).
    precisions = {"bfloat16": ("cpu",)}
    POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}

    # xbench.spec.OPTIMIZERS -> the Keras optimizer, with Keras's defaults (Adam: epsilon 1e-7, applied as
    # "epsilon hat", outside the bias correction).
    OPTIMIZERS = {"adam": "Adam", "sgd": "SGD"}

    # ---- backend hooks ----------------------------------------------------------------------------------------------
    def _keras(self):
        """The keras module, imported on this backend (thread settings applied first)."""
        return import_keras(self.backend)

    DEVICES = {"cpu": "cpu:0", "cuda": "gpu:0"}  # xbench device -> the name keras.device takes on this backend
    LABEL_DTYPE = "int64"

    def _scope(self, device: str):
        """Where variables and tensors are placed (Keras's own device scope, every backend)."""
        return self._keras().device(self.DEVICES[device])

    def gpu_reason(self) -> str | None:
        """None when the backend sees a GPU, else why not."""
        return "no GPU check for this backend"

    def backend_versions(self) -> dict[str, str]:
        return {}

    def math_mode(self, device: str) -> dict:
        return {"fp32": "ieee"} if device != "cuda" else {}

    def variant_reason(self, variant: str, device: str) -> str | None:
        return None

    def _own_train_step(self, model, spec: ModelSpec, lr: float, optimizer: str, variant: str | None, device: str):
        """A variant's train step other than ``train_on_batch`` (None: ``train_on_batch``)."""
        return None

    def _own_predict(self, model, spec: ModelSpec, variant: str | None, device: str):
        """A variant's predict function other than ``predict_on_batch`` (None: ``predict_on_batch``)."""
        return None

    # ---- shared -----------------------------------------------------------------------------------------------------
    def process_reason(self) -> str | None:
        """Why this process cannot run this backend (None when it can)."""
        if self.install_hint and not _installed(self.package):  # an optional backend (a required one: ImportError)
            return f"{self.package} is not installed here ({self.install_hint})"
        active = process_backend()
        if active != self.backend:
            return (f"Keras's backend is fixed per process: this one runs {active}; "
                    f"{self.name} runs in its own process (KERAS_BACKEND={self.backend})")
        return None

    def device_reason(self, device: str) -> str | None:
        reason = self.process_reason()
        if reason:
            return reason
        self._keras()  # ImportError (a broken install): the suite records the row as skipped
        return None if device == "cpu" else self.gpu_reason()

    def versions(self) -> dict[str, str]:
        keras = self._keras()
        return {"keras": keras.__version__, "keras_backend": self.backend, **self.backend_versions()}

    def precision_info(self, dtype: str, device: str) -> dict:
        return {"policy": self.POLICIES[dtype], "weights": "float32",
                "softmax": "float32 (Keras's mixed-precision guide: the output activation in float32)"}

    def seed(self, seed: int) -> None:
        keras = self._keras()
        with quiet_native_logs():  # Keras seeds TensorFlow too when it is installed, on every backend (its first
            keras.utils.set_random_seed(seed)  # import then prints oneDNN's lines in a JAX or PyTorch process)

    def build(self, spec: ModelSpec, seed: int = 0, device: str = "cpu", dtype: str = "float32"):
        # Variables are created here: placed on ``device`` (without a scope a backend may put them on its GPU).
        with self._scope(device):
            return self._build(spec, seed, self.POLICIES[dtype])

    def _build(self, spec: ModelSpec, seed: int, policy: str = "float32"):
        keras = self._keras()
        self.seed(seed)
        L = keras.layers
        layers = [keras.Input(shape=spec.input_shape, name="input")]
        for layer in spec.layers:
            p = layer.params
            if layer.type == "conv2d":
                layers.append(L.Conv2D(p["filters"], p["kernel_size"], strides=p["strides"],
                                       padding=p["padding"], activation=p["activation"], dtype=policy))
            elif layer.type == "maxpool2d":
                layers.append(L.MaxPooling2D(p["pool_size"], strides=p["strides"], dtype=policy))
            elif layer.type == "globalavgpool2d":
                layers.append(L.GlobalAveragePooling2D(dtype=policy))
            elif layer.type == "flatten":
                layers.append(L.Flatten(dtype=policy))
            elif layer.type == "dense" and policy != "float32" and p["activation"] == "softmax":
                layers += [L.Dense(p["units"], dtype=policy), L.Activation("softmax", dtype="float32")]
            elif layer.type == "dense":
                layers.append(L.Dense(p["units"], activation=p["activation"], dtype=policy))
            elif layer.type == "dropout":
                layers.append(L.Dropout(p["rate"], dtype=policy))
            elif layer.type == "batchnorm":
                layers.append(L.BatchNormalization(epsilon=p["epsilon"], momentum=p["momentum"], dtype=policy))
        return keras.Sequential(layers, name=spec.name)

    def _jit(self, variant: str | None) -> bool:
        return self.JIT.get(variant or next(iter(self.variants)), False)

    def _compile(self, model, spec: ModelSpec, lr: float, optimizer: str, variant: str | None, device: str,
                 steps_per_execution: int = 1) -> None:
        keras = self._keras()
        if optimizer not in self.OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; valid: {', '.join(self.OPTIMIZERS)}")
        with self._scope(device):  # the optimizer's variables live beside the model's
            opt = getattr(keras.optimizers, self.OPTIMIZERS[optimizer])(lr)
            # jit_compile is set explicitly on every variant: "auto" means no XLA on a CPU-only TensorFlow and
            # XLA on JAX.
            model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(),
                          jit_compile=self._jit(variant), steps_per_execution=steps_per_execution)

    def _with_optimizer(self, fn, model):
        """``fn`` carrying the optimizer object its model trains with (``optimizer``) and what it is, read from that
        object (``optimizer_info``, for the record)."""
        keras = self._keras()
        opt = model.optimizer
        fn.optimizer = opt
        fn.optimizer_info = {"name": type(opt).__name__.lower(), "class": f"keras.optimizers.{type(opt).__name__}",
                             # a float32 variable: its 7 significant digits, not float32's binary tail
                             "learning_rate": float(f"{float(keras.ops.convert_to_numpy(opt.learning_rate)):.7g}"),
                             **({"epsilon": opt.epsilon} if hasattr(opt, "epsilon") else {})}
        return fn

    def make_epoch(self, model, spec, x, y, batch_size: int, lr: float, variant: str = "fit", device: str = "cpu",
                   optimizer: str = "adam"):
        """One epoch of ``model.fit`` on NumPy arrays (x: N, H, W, C float32; y: N int), as a user writes it;
        returns the epoch's mean loss as a float."""
        spe = self.STEPS_PER_EXECUTION if variant == "fit_spe32" else 1
        self._compile(model, spec, lr, optimizer, None, device, steps_per_execution=spe)

        def epoch() -> float:
            with self._scope(device):
                history = model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
            return float(history.history["loss"][-1])

        return self._with_optimizer(epoch, model)

    def to_native(self, model, x, y=None, device="cpu", variant=None):
        ops = self._keras().ops
        with self._scope(device):
            xt = ops.convert_to_tensor(x, dtype="float32")
            yt = None if y is None else ops.convert_to_tensor(np.asarray(y), dtype=self.LABEL_DTYPE)
        return xt, yt

    def make_train_step(self, model, spec, lr, optimizer="adam", variant=None, device="cpu", dtype="float32"):
        """``dtype``: the policy was set when the model was built (``build(..., dtype=)``)."""
        own = self._own_train_step(model, spec, lr, optimizer, variant, device)
        if own is not None:
            return own
        self._compile(model, spec, lr, optimizer, variant, device)
        scope = self._scope

        def train_step(x, y) -> float:
            with scope(device):
                # train_on_batch returns the loss as a Python float: a host sync, like torch's loss.item()
                return float(model.train_on_batch(x, y))

        return self._with_optimizer(train_step, model)

    def make_predict(self, model, spec, variant=None, device="cpu", dtype="float32"):
        own = self._own_predict(model, spec, variant, device)
        if own is not None:
            return own
        if not model.compiled:
            self._compile(model, spec, spec.learning_rate, spec.optimizer_name, variant, device)
        elif model.jit_compile != self._jit(variant):  # never recompile: that would reset the optimizer
            model.jit_compile = self._jit(variant)
            model.predict_function = None
        scope = self._scope

        def predict(x):
            with scope(device):
                return model.predict_on_batch(x)  # numpy out: includes the device-to-host copy; float32 softmax

        return predict

    def to_numpy(self, out) -> np.ndarray:
        return np.asarray(out)

    def get_weights(self, model, spec) -> list[np.ndarray]:
        return [np.asarray(w) for w in model.get_weights()]

    def set_weights(self, model, spec, weights) -> None:
        model.set_weights([np.asarray(w, dtype=np.float32) for w in weights])

    def save(self, model, path: Path) -> None:
        model.save_weights(str(path))

    def load(self, spec: ModelSpec, path: Path):
        model = self.build(spec)
        model.load_weights(str(path))
        return model

    def export_onnx(self, model, spec, path: Path, opset: int) -> None:
        # Keras 3's own exporter (tf2onnx inside on TensorFlow, torch.onnx on PyTorch).
        model(np.zeros((1, *spec.input_shape), np.float32), training=False)  # the exporter needs a called model
        model.export(str(path), format="onnx", opset_version=opset, verbose=False)
