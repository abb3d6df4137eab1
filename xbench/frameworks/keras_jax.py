"""Keras 3 on the JAX backend (framework ``keras-jax``): runs in a process whose ``KERAS_BACKEND`` is ``jax``.

Keras's default on JAX compiles the train step and predict with XLA (``jit_compile="auto"`` means True there);
the suite sets it explicitly on both variants. XLA's CPU thread pool has no per-count setting: it uses the
machine's cores, whatever ``--xbench-threads`` says (the record's ``math`` says so).
"""

from __future__ import annotations

import sys

from xbench.bench import threads
from xbench.frameworks.keras_common import (ExportUnavailable, KerasFramework, _installed, import_keras,
                                            quiet_native_logs)


class KerasJax(KerasFramework):
    backend = package = "jax"
    install_hint = "pip install 'xbench[jax]'"
    name = "keras-jax"
    display = "Keras (JAX)"
    variants = {
        "default": "model.compile(jit_compile=True): Keras's default on JAX, train_on_batch / predict_on_batch "
                   "run a jax.jit-compiled (XLA) stateless step",
        "no_jit": "model.compile(jit_compile=False): the same step op by op, without jax.jit",
        "stateless": "Keras's JAX training-loop guide: one jax.jit function of model.stateless_call (and "
                     "optimizer.stateless_apply), the state passed in and out, not written back to the model each call",
    }
    ROWS_OPT_IN = True  # beyond the default fp32 variant, the suite's native rows need --xbench-backend-rows all
    JIT = {"default": True, "no_jit": False, "stateless": True}
    LABEL_DTYPE = "int32"  # JAX's default integers (int64 needs jax_enable_x64; it would truncate with a warning)

    def _keras(self):
        threads.count()
        if "keras" in sys.modules:
            return import_keras(self.backend)
        with quiet_native_logs():  # XLA's start-up lines (no GPU/TPU found) bypass Python
            keras = import_keras(self.backend)
            import jax

            jax.devices()
        return keras

    def backend_versions(self) -> dict[str, str]:
        import jax
        import jaxlib

        return {"jax": jax.__version__, "jaxlib": jaxlib.__version__}

    def gpu_reason(self) -> str | None:
        import jax

        try:
            jax.devices("gpu")
        except RuntimeError:
            return f"jax {jax.__version__} sees no GPU: jax.devices('gpu') fails (the CPU-only jaxlib, or no CUDA)"
        return None

    def math_mode(self, device: str) -> dict:
        import jax

        mode = {"xla_cpu_threads": "XLA's own pool (all cores; --xbench-threads does not apply)"}
        if device != "cuda":
            return {"fp32": "ieee", **mode}
        return {"jax_default_matmul_precision": jax.config.jax_default_matmul_precision, **mode}

    def _own_train_step(self, model, spec, lr, optimizer, variant, device):
        if variant != "stateless":
            return None
        import jax

        self._compile(model, spec, lr, optimizer, variant, device)  # the optimizer and loss a user compiles
        opt, loss_fn = model.optimizer, model.loss
        opt.build(model.trainable_variables)

        def loss_and_state(trainable, non_trainable, x, y):
            probs, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
            return loss_fn(y, probs), non_trainable

        grad = jax.value_and_grad(loss_and_state, has_aux=True)

        @jax.jit
        def step(state, x, y):
            trainable, non_trainable, opt_vars = state
            (loss, non_trainable), grads = grad(trainable, non_trainable, x, y)
            trainable, opt_vars = opt.stateless_apply(opt_vars, grads, trainable)
            return loss, (trainable, non_trainable, opt_vars)

        owners = (model.trainable_variables, model.non_trainable_variables, opt.variables)
        held = {"state": tuple([v.value for v in vs] for vs in owners)}

        def sync() -> None:
            """The state back into the model's variables (before its weights are read)."""
            for vs, values in zip(owners, held["state"]):
                for v, value in zip(vs, values):
                    v.assign(value)

        def train_step(x, y) -> float:
            loss, held["state"] = step(held["state"], x, y)
            return float(loss)  # a host sync, like train_on_batch's float

        model._xbench_sync = sync  # get_weights reads the trained state
        return self._with_optimizer(train_step, model)

    def _own_predict(self, model, spec, variant, device):
        if variant != "stateless":
            return None
        import jax
        import numpy as np

        getattr(model, "_xbench_sync", lambda: None)()
        forward = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x, training=False)[0])
        tv, ntv = [v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables]
        return lambda x: np.asarray(forward(tv, ntv, x))  # NumPy on the host, like predict_on_batch

    def get_weights(self, model, spec):
        getattr(model, "_xbench_sync", lambda: None)()
        return super().get_weights(model, spec)

    def export_onnx(self, model, spec, path, opset: int) -> None:
        """Keras's documented path (``model.export(format="onnx")``, jax2onnx inside), kept only if ONNX Runtime
        loads the file; otherwise ``ExportUnavailable`` with the reason, never another backend's export."""
        if not _installed("jax2onnx"):
            from importlib.metadata import version

            raise ExportUnavailable(f"Keras {version('keras')} exports ONNX from the JAX backend through jax2onnx, "
                                    "which is not installed here (pip install jax2onnx): no ONNX rows for keras-jax")
        super().export_onnx(model, spec, path, opset)
        from xbench.runtimes.onnxruntime import open_session

        try:
            open_session(str(path), "CPUExecutionProvider")
        except Exception as exc:  # e.g. MaxPool: "Unsupported pooling size" (seen with jax2onnx 0.17)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ExportUnavailable(f"ONNX Runtime rejects Keras's JAX export (jax2onnx): {first[:300]}") from None


FRAMEWORK = KerasJax()
