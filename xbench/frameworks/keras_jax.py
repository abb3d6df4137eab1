"""Keras 3 on the JAX backend (framework ``keras-jax``): runs in a process whose ``KERAS_BACKEND`` is ``jax``.

Keras's default on JAX compiles the train step and predict with XLA (``jit_compile="auto"`` means True there);
the suite sets it explicitly on both variants. XLA's CPU thread pool has no per-count setting: it uses the
machine's cores, whatever ``--xbench-threads`` says (the record's ``math`` says so).
"""

from __future__ import annotations

import sys

import numpy as np

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

    EXPORT_PACKAGES = ("jax2onnx", "onnx_ir", "flax", "equinox", "optax", "chex", "dm_pix")  # what its export imports

    def export_onnx(self, model, spec, path, opset: int) -> None:
        """Keras's documented path (``model.export(format="onnx")``, jax2onnx inside), then one repair that ONNX
        Runtime needs (:func:`pool_on_spatial_axes`), kept only if ONNX Runtime runs the file; otherwise
        ``ExportUnavailable`` with the reason, never another backend's export."""
        missing = [p for p in self.EXPORT_PACKAGES if not _installed(p)]
        if missing:
            from importlib.metadata import version

            raise ExportUnavailable(f"Keras {version('keras')} exports ONNX from the JAX backend through jax2onnx, "
                                    f"and {', '.join(missing)} is not installed here (pip install --no-deps -r "
                                    "requirements/jax-export.txt): no ONNX rows for keras-jax")
        super().export_onnx(model, spec, path, opset)
        import onnx

        proto = onnx.load(str(path))
        if pool_on_spatial_axes(proto):
            onnx.save(proto, str(path))
        from xbench.runtimes.onnxruntime import open_session

        try:
            session = open_session(str(path), "CPUExecutionProvider")
            inp = session.get_inputs()[0]
            session.run(None, {inp.name: np.zeros((1, *spec.input_shape), np.float32)})
        except Exception as exc:  # e.g. jax2onnx 0.17's own MaxPool: "Unsupported pooling size"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ExportUnavailable(f"ONNX Runtime cannot run Keras's JAX export (jax2onnx): {first[:300]}") from None


REPAIR = "xbench: jax2onnx's 4-D MaxPool over an NHWC tensor rewritten as Transpose, 2-D MaxPool, Transpose"


def pool_on_spatial_axes(proto) -> int:
    """Rewrite jax2onnx 0.17's lowering of a channels-last max-pool, which ONNX Runtime cannot run, into the
    equivalent pool over the spatial axes. Returns how many pools it rewrote (and notes it in the file's metadata).

    jax2onnx lowers ``lax.reduce_window_max`` with window (1, kh, kw, 1) over an NHWC tensor as
    Unsqueeze, Unsqueeze (a 1 x 1 x N x H x W x C tensor), MaxPool with a 4-D kernel (1, kh, kw, 1), Squeeze;
    ONNX Runtime's MaxPool takes at most 3 spatial axes ("Unsupported pooling size"). A window of 1 on the batch
    and channel axes pools nothing there, so the same values come from Transpose to NCHW, MaxPool (kh, kw),
    Transpose back: the form TensorFlow's exporter writes. The export's parity check then compares the repaired
    file with Keras's own output.
    """
    from onnx import helper

    g = proto.graph
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    rewritten = 0
    for pool in [n for n in g.node if n.op_type == "MaxPool"]:
        attrs = {a.name: helper.get_attribute_value(a) for a in pool.attribute}
        kernel, strides = list(attrs.get("kernel_shape", [])), list(attrs.get("strides", []))
        u1 = producer.get(pool.input[0])
        u0 = producer.get(u1.input[0]) if u1 is not None and u1.op_type == "Unsqueeze" else None
        after = consumers.get(pool.output[0], [])
        if (u0 is None or u0.op_type != "Unsqueeze" or len(after) != 1 or after[0].op_type != "Squeeze"
                or len(kernel) != 4 or kernel[0] != 1 or kernel[3] != 1 or len(strides) != 4
                or strides[0] != 1 or strides[3] != 1 or any(attrs.get("pads", [0]))
                or any(d != 1 for d in attrs.get("dilations", [1])) or len(pool.output) != 1
                or len(consumers.get(u0.output[0], [])) != 1 or len(consumers.get(u1.output[0], [])) != 1):
            continue
        squeeze, name = after[0], pool.name or f"pool{rewritten}"
        nchw, pooled = f"{name}_nchw", f"{name}_pooled_nchw"
        new = [helper.make_node("Transpose", [u0.input[0]], [nchw], name=f"{name}_to_nchw", perm=[0, 3, 1, 2]),
               helper.make_node("MaxPool", [nchw], [pooled], name=name, kernel_shape=kernel[1:3],
                                strides=strides[1:3]),
               helper.make_node("Transpose", [pooled], [squeeze.output[0]], name=f"{name}_to_nhwc",
                                perm=[0, 2, 3, 1])]
        at = list(g.node).index(u0)
        for n in (u0, u1, pool, squeeze):
            g.node.remove(n)
        for k, n in enumerate(new):
            g.node.insert(at + k, n)
        rewritten += 1
    if rewritten:
        used = {i for n in g.node for i in n.input}
        for init in [t for t in g.initializer if t.name not in used]:  # the removed nodes' axes
            g.initializer.remove(init)
        proto.metadata_props.add(key="xbench_repair", value=f"{REPAIR} ({rewritten}x)")
    return rewritten


FRAMEWORK = KerasJax()
