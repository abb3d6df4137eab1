"""Keras 3 on the TensorFlow backend (framework ``keras``: the name results files have always used)."""

from __future__ import annotations

import os

from xbench.bench import threads
from xbench.frameworks.keras_common import KerasFramework, import_keras, quiet_native_logs

_quiet_native_logs = quiet_native_logs  # the name tests and scripts imported from here


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
    with quiet_native_logs():  # TF's C++ start-up chatter (oneDNN, "no CUDA drivers") bypasses Python
        keras = import_keras("tensorflow")
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


class KerasTF(KerasFramework):
    backend = package = "tensorflow"
    name = "keras"
    display = "Keras"
    variants = {
        "default": "model.compile(jit_compile=False): TensorFlow graph functions, no XLA",
        "xla": "model.compile(jit_compile=True): the step compiled by XLA",
    }
    JIT = {"default": False, "xla": True}

    def _keras(self):
        return _keras()[1]

    def _device(self, device: str) -> str:
        return "/GPU:0" if device == "cuda" else "/CPU:0"

    def _scope(self, device: str):
        tf, _ = _keras()
        return tf.device(self._device(device))

    def versions(self) -> dict[str, str]:
        tf, keras = _keras()
        import tf2onnx

        return {"tensorflow": tf.__version__, "keras": keras.__version__, "tf2onnx": tf2onnx.__version__}

    def gpu_reason(self) -> str | None:
        tf, _ = _keras()  # ImportError without TensorFlow: the suite records the row as skipped
        if not tf.config.list_physical_devices("GPU"):
            built = "built with CUDA" if tf.test.is_built_with_cuda() else "a build without CUDA"
            return (f"TensorFlow {tf.__version__} ({built}) sees no GPU: "
                    "tf.config.list_physical_devices('GPU') is empty")
        return None

    def variant_reason(self, variant: str, device: str) -> str | None:
        return None  # XLA ships inside TensorFlow

    def math_mode(self, device: str) -> dict:
        tf, _ = _keras()
        if device != "cuda":
            return {"fp32": "ieee"}
        return {"tensor_float_32_execution": tf.config.experimental.tensor_float_32_execution_enabled()}

    def to_native(self, model, x, y=None, device="cpu", variant=None):
        tf, _ = _keras()
        with tf.device(self._device(device)):
            xt = tf.convert_to_tensor(x, dtype=tf.float32)
            yt = None if y is None else tf.convert_to_tensor(y, dtype=tf.int64)
        return xt, yt


FRAMEWORK = KerasTF()
