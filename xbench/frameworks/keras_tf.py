"""Keras 3 on the TensorFlow backend, channels-last, written as a Keras user would."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import numpy as np

from xbench.bench import threads
from xbench.spec import ModelSpec


def _keras():
    """Import TensorFlow/Keras once, after the thread settings are in the environment."""
    threads.count()
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    # Without memory growth the first op reserves nearly the whole GPU, and PyTorch / ONNX Runtime cases
    # later in the same process fail to allocate (and look like "provider unavailable").
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    if getattr(_keras, "done", False):
        import keras
        import tensorflow as tf

        return tf, keras
    with _quiet_native_logs():  # TF's C++ start-up chatter (oneDNN, "no CUDA drivers") bypasses Python
        import keras
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads.count())
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass  # already initialised: the TF_NUM_*_THREADS variables set by threads.configure apply
        for gpu in tf.config.list_physical_devices("GPU"):
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:
                pass  # GPU already initialised: TF_FORCE_GPU_ALLOW_GROWTH above applied
        tf.config.list_physical_devices()
    _keras.done = True
    return tf, keras


@contextlib.contextmanager
def _quiet_native_logs():
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
    name = "keras"
    display = "Keras"
    layout = "NHWC"
    weights_suffix = ".weights.h5"
    variants = {
        "default": "model.compile(jit_compile=False): TensorFlow graph functions, no XLA",
        "xla": "model.compile(jit_compile=True): the step compiled by XLA",
    }

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

    def precision_info(self, dtype: str, device: str) -> dict:
        return {"policy": self.POLICIES[dtype], "weights": "float32",
                "softmax": "float32 (Keras's mixed-precision guide: the output activation in float32)"}

    def versions(self) -> dict[str, str]:
        tf, keras = _keras()
        import tf2onnx

        return {"tensorflow": tf.__version__, "keras": keras.__version__, "tf2onnx": tf2onnx.__version__}

    def device_reason(self, device: str) -> str | None:
        tf, _ = _keras()  # ImportError without TensorFlow: the suite records the row as skipped
        if device == "cpu":
            return None
        if not tf.config.list_physical_devices("GPU"):
            built = "built with CUDA" if tf.test.is_built_with_cuda() else "a build without CUDA"
            return (f"TensorFlow {tf.__version__} ({built}) sees no GPU: "
                    "tf.config.list_physical_devices('GPU') is empty")
        return None

    def variant_reason(self, variant: str, device: str) -> str | None:
        return None  # XLA ships inside TensorFlow

    def _device(self, device: str) -> str:
        return "/GPU:0" if device == "cuda" else "/CPU:0"

    def math_mode(self, device: str) -> dict:
        tf, _ = _keras()
        if device != "cuda":
            return {"fp32": "ieee"}
        return {"tensor_float_32_execution": tf.config.experimental.tensor_float_32_execution_enabled()}

    def seed(self, seed: int) -> None:
        _, keras = _keras()
        keras.utils.set_random_seed(seed)

    def build(self, spec: ModelSpec, seed: int = 0, device: str = "cpu", dtype: str = "float32"):
        tf, _ = _keras()
        # Variables are created here: without a device scope TensorFlow puts them on GPU:0 whenever
        # one exists, and a "cpu" row would copy its weights from the GPU on every step.
        with tf.device(self._device(device)):
            return self._build(spec, seed, self.POLICIES[dtype])

    def _build(self, spec: ModelSpec, seed: int, policy: str = "float32"):
        _, keras = _keras()
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

    # xbench.spec.OPTIMIZERS -> the Keras optimizer, with Keras's defaults (Adam: epsilon 1e-7, applied as
    # "epsilon hat", outside the bias correction).
    OPTIMIZERS = {"adam": "Adam", "sgd": "SGD"}

    def _compile(self, model, spec: ModelSpec, lr: float, optimizer: str, variant: str | None, device: str,
                 steps_per_execution: int = 1) -> None:
        tf, keras = _keras()
        if optimizer not in self.OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; valid: {', '.join(self.OPTIMIZERS)}")
        with tf.device(self._device(device)):  # the optimizer's variables live beside the model's
            opt = getattr(keras.optimizers, self.OPTIMIZERS[optimizer])(lr)
            # jit_compile is set explicitly on both variants: "auto" silently means no XLA on CPU.
            model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(),
                          jit_compile=(variant == "xla"), steps_per_execution=steps_per_execution)

    def _with_optimizer(self, fn, model):
        """``fn`` carrying the optimizer object its model trains with (``optimizer``) and what it is, read from that
        object (``optimizer_info``, for the record)."""
        _, keras = _keras()
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
        tf, _ = _keras()
        spe = self.STEPS_PER_EXECUTION if variant == "fit_spe32" else 1
        self._compile(model, spec, lr, optimizer, "default", device, steps_per_execution=spe)
        dev = self._device(device)

        def epoch() -> float:
            with tf.device(dev):
                history = model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
            return float(history.history["loss"][-1])

        return self._with_optimizer(epoch, model)

    def to_native(self, model, x, y=None, device="cpu", variant=None):
        tf, _ = _keras()
        with tf.device(self._device(device)):
            xt = tf.convert_to_tensor(x, dtype=tf.float32)
            yt = None if y is None else tf.convert_to_tensor(y, dtype=tf.int64)
        return xt, yt

    def make_train_step(self, model, spec, lr, optimizer="adam", variant=None, device="cpu", dtype="float32"):
        """``dtype``: the policy was set when the model was built (``build(..., dtype=)``)."""
        tf, _ = _keras()
        self._compile(model, spec, lr, optimizer, variant, device)
        dev = self._device(device)

        def train_step(x, y) -> float:
            with tf.device(dev):
                # train_on_batch returns the loss as a Python float: a host sync, like torch's loss.item()
                return float(model.train_on_batch(x, y))

        return self._with_optimizer(train_step, model)

    def make_predict(self, model, spec, variant=None, device="cpu", dtype="float32"):
        tf, _ = _keras()
        if not model.compiled:
            self._compile(model, spec, spec.learning_rate, spec.optimizer_name, variant, device)
        elif model.jit_compile != (variant == "xla"):  # never recompile: that would reset the optimizer
            model.jit_compile = variant == "xla"
            model.predict_function = None
        dev = self._device(device)

        def predict(x):
            with tf.device(dev):
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
        # Keras 3's own exporter (tf2onnx inside); tf2onnx.convert.from_keras fails on Keras 3.
        model(np.zeros((1, *spec.input_shape), np.float32), training=False)  # the exporter needs a called model
        model.export(str(path), format="onnx", opset_version=opset, verbose=False)


FRAMEWORK = KerasFramework()
