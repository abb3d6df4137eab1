"""PyTorch, channels-first (NCHW), written as a PyTorch user would.

The network ends in logits (``nn.Linear``) and is trained with
``CrossEntropyLoss``; the spec's final softmax is applied only at inference
(``nn.Sequential(net, nn.Softmax(1))``), so the loss is the same as Keras's
softmax + sparse categorical cross-entropy and softmax is never applied twice.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sysconfig
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from xbench.bench import threads
from xbench.errors import UserError
from xbench.spec import ModelSpec


def _torch():
    import torch

    if not getattr(_torch, "done", False):
        torch.set_num_threads(threads.count())
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass  # inter-op pool already started
        _torch.done = True
    return torch


class CompileFallback(RuntimeError):
    """torch.compile did not compile the case's graph: it broke the graph or ran eagerly."""


def _dynamo_counters() -> dict[str, Counter]:
    from torch._dynamo.utils import counters

    return {k: Counter(v) for k, v in counters.items()}


def _checked_first_call(fn, info: dict):
    """``fn`` whose first call must compile exactly one whole graph (Dynamo's counters say so) or raise.

    Dynamo falls back to eager silently (graph breaks, the recompile limit); a row labelled
    torch.compile must not time eager code. ``info`` receives the counts for the record.
    """
    state = {"checked": False}

    def call(*args):
        if state["checked"]:
            return fn(*args)
        before = _dynamo_counters()
        out = fn(*args)
        after = _dynamo_counters()
        delta = {k: after[k] - before.get(k, Counter()) for k in after}
        graphs = delta.get("stats", Counter())["unique_graphs"]
        breaks = delta.get("graph_break", Counter())
        if breaks or graphs < 1:
            named = "; ".join(f"{n}x {r.splitlines()[0]}" for r, n in breaks.items()) or "no graph was compiled"
            raise CompileFallback(f"torch.compile fell back to eager: {graphs} graph(s) compiled, "
                                  f"{sum(breaks.values())} graph break(s): {named}")
        info.update({"graphs_compiled": graphs, "graph_breaks": 0, "dynamic": False})
        state["checked"] = True
        return out

    call.compile_info = info
    return call


def _with_optimizer(fn, opt):
    """``fn`` carrying the optimizer object it steps (``optimizer``) and what it is, read from that object
    (``optimizer_info``, for the record)."""
    fn.optimizer = opt
    fn.optimizer_info = {"name": type(opt).__name__.lower(), "class": f"torch.optim.{type(opt).__name__}",
                         "learning_rate": float(opt.defaults["lr"]),
                         **({"epsilon": opt.defaults["eps"]} if "eps" in opt.defaults else {})}
    return fn


def _flatten_perm(h: int, w: int, c: int) -> np.ndarray:
    """perm[i] = the H,W,C (Keras) flat index of torch's C,H,W flat index i."""
    return np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).ravel()


class TorchFramework:
    name = "torch"
    display = "PyTorch"
    layout = "NCHW"
    weights_suffix = ".pt"
    variants = {
        "eager": "plain eager nn.Module, NCHW contiguous",
        "channels_last": "model and inputs in torch.channels_last memory format",
        "compile": "torch.compile(model, dynamic=False) after torch._dynamo.reset(): one compile of the case's "
                   "shape, checked to be one whole graph (inductor; needs a C/C++ compiler and Python's headers)",
    }

    # Lower precisions on the default variant: dtype -> devices, and how (torch.autocast around the forward pass
    # and the loss; the weights and the optimizer stay fp32).
    precisions = {"bfloat16": ("cpu",), "float16": ("cuda",)}

    def precision_info(self, dtype: str, device: str) -> dict:
        return {"autocast": f"torch.autocast({'cuda' if device == 'cuda' else 'cpu'!r}, dtype=torch.{dtype})",
                "weights": "float32"}

    def _autocast(self, dtype: str, device: str):
        torch = _torch()
        if dtype == "float32":
            return contextlib.nullcontext()
        return torch.autocast("cuda" if device == "cuda" else "cpu", dtype=getattr(torch, dtype))

    def versions(self) -> dict[str, str]:
        torch = _torch()
        import onnxscript

        return {"torch": torch.__version__, "onnxscript": onnxscript.__version__}

    def device_reason(self, device: str) -> str | None:
        if device == "cpu":
            return None
        torch = _torch()
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            return f"torch {torch.__version__} ({build}): torch.cuda.is_available() is False"
        return None

    def variant_reason(self, variant: str, device: str) -> str | None:
        """Why a variant cannot run here (None when it can)."""
        if variant != "compile":
            return None
        # Inductor's C++ code on CPU and Triton's kernel launcher on CUDA are both compiled at run time
        # against Python's headers; without them the first call fails deep inside the compiler.
        if device == "cpu":
            compilers, what = [os.environ.get("CXX"), "g++", "c++", "clang++"], "a C++ compiler on CPU: none of $CXX, g++, c++, clang++"
        else:
            compilers, what = [os.environ.get("CC"), "cc", "gcc", "clang"], "a C compiler for Triton's launcher: none of $CC, cc, gcc, clang"
        if not any(c and shutil.which(c) for c in compilers):
            return f"torch.compile needs {what} is on PATH"
        headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
        if not headers.is_file():
            return f"torch.compile needs Python's C headers: {headers} is missing (install python3-dev)"
        if device == "cpu":
            return None
        from torch.utils._triton import has_triton

        return None if has_triton() else "torch.compile on CUDA needs Triton, which is not installed"

    def math_mode(self, device: str) -> dict:
        """fp32 arithmetic as configured: on CUDA, cuDNN convolutions use TF32 by default."""
        torch = _torch()
        mode = {"float32_matmul_precision": torch.get_float32_matmul_precision()}
        if device != "cuda":
            return {"fp32": "ieee", **mode}
        cuda, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
        settings = {"matmul_fp32_precision": (cuda, "fp32_precision"),  # torch >= 2.9
                    "cudnn_conv_fp32_precision": (getattr(cudnn, "conv", None), "fp32_precision"),
                    "tf32_matmul": (cuda, "allow_tf32"), "tf32_cudnn": (cudnn, "allow_tf32")}
        for key, (obj, attr) in settings.items():
            try:  # an API this torch lacks, or one torch refuses to read after the other was set
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    mode[key] = getattr(obj, attr)
            except Exception:
                mode[key] = None
        return mode

    def seed(self, seed: int) -> None:
        _torch().manual_seed(seed)

    def build(self, spec: ModelSpec, seed: int = 0, device: str = "cpu", dtype: str = "float32"):
        torch = _torch()  # built on the CPU; make_train_step / make_predict move it to the device
        nn = torch.nn
        self.seed(seed)
        acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
        mods: list = []
        groups: list[list[int]] = []  # the modules each spec layer became, in order
        for i, layer in enumerate(spec.layers):
            start = len(mods)
            p, cin = layer.params, layer.in_shape[-1]
            if layer.type == "conv2d":
                if p["padding"] == "same" and p["strides"] != 1:
                    raise UserError(f"{spec.name}: layer {i}: padding 'same' with strides > 1 pads "
                                    "asymmetrically in Keras and has no nn.Conv2d equivalent")
                mods.append(nn.Conv2d(cin, p["filters"], p["kernel_size"], stride=p["strides"],
                                      padding=0 if p["padding"] == "valid" else "same"))
            elif layer.type == "maxpool2d":
                mods.append(nn.MaxPool2d(p["pool_size"], stride=p["strides"] or p["pool_size"]))
            elif layer.type == "globalavgpool2d":
                mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
            elif layer.type == "flatten":
                mods.append(nn.Flatten())
            elif layer.type == "dense":
                mods.append(nn.Linear(cin, p["units"]))
            elif layer.type == "dropout":
                mods.append(nn.Dropout(p["rate"]))
            elif layer.type == "batchnorm":
                bn = nn.BatchNorm2d if len(layer.in_shape) == 3 else nn.BatchNorm1d
                mods.append(bn(cin, eps=p["epsilon"], momentum=1.0 - p["momentum"]))
            act = p.get("activation", "linear")
            if act in acts:
                mods.append(acts[act]())
            groups.append(list(range(start, len(mods))))
        model = nn.Sequential(*mods)  # ends in logits when the spec ends in softmax
        model.xbench_layer_groups = groups  # read by explain's per-layer profile
        return model

    def _inference_module(self, model, spec: ModelSpec):
        torch = _torch()
        module = torch.nn.Sequential(model, torch.nn.Softmax(dim=1)) if spec.num_classes else model
        return module.eval()  # a new Sequential starts in training mode (dropout, batchnorm)

    def _device(self, device: str):
        return _torch().device("cuda" if device == "cuda" else "cpu")

    def _prepare(self, model, variant: str | None, device: str):
        torch = _torch()
        model.to(self._device(device))
        if variant == "channels_last":
            model.to(memory_format=torch.channels_last)
        if variant != "compile":
            return model
        # Each case compiles its own fixed shape: no code cached from earlier cases (which made torch
        # recompile with dynamic shapes, or stop compiling at the recompile limit).
        torch._dynamo.reset()
        return torch.compile(model, dynamic=False)

    def to_native(self, model, x, y=None, device="cpu", variant=None):
        torch = _torch()
        dev = self._device(device)
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).to(dev)  # (N, C, H, W)
        if variant == "channels_last":
            xt = xt.contiguous(memory_format=torch.channels_last)
        yt = None if y is None else torch.from_numpy(np.asarray(y, dtype=np.int64)).to(dev)
        return xt, yt

    def make_train_step(self, model, spec, lr, optimizer="adam", variant=None, device="cpu", dtype="float32"):
        torch = _torch()
        net = self._prepare(model, variant, device)
        model.train()
        opt = self._optimizer(model, optimizer, lr)
        loss_fn = torch.nn.CrossEntropyLoss()

        def train_step(x, y) -> float:
            if not model.training:  # evaluation in between switched to eval mode
                model.train()
            opt.zero_grad(set_to_none=True)
            with self._autocast(dtype, device):
                loss = loss_fn(net(x), y)
            loss.backward()
            opt.step()
            return loss.item()  # host sync, matching Keras train_on_batch's float loss

        return _with_optimizer(_checked_first_call(train_step, {}) if variant == "compile" else train_step, opt)

    # xbench.spec.OPTIMIZERS -> the torch.optim class and its settings. Adam gets Keras's default epsilon (1e-7,
    # torch's is 1e-8), but the two apply it differently: PyTorch adds eps to sqrt(v / (1 - beta2^t)), Keras to
    # sqrt(v) ("epsilon hat"), so the same number is PyTorch's eps times sqrt(1 - beta2^t) in Keras's terms
    # (tests/test_equivalence.py: one Adam step is identical with eps = 1e-7 / sqrt(1 - beta2)).
    OPTIMIZERS = {"adam": ("Adam", {"eps": 1e-7}), "sgd": ("SGD", {})}

    def _optimizer(self, model, name: str, lr: float):
        torch = _torch()
        if name not in self.OPTIMIZERS:
            raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(self.OPTIMIZERS)}")
        cls, settings = self.OPTIMIZERS[name]
        return getattr(torch.optim, cls)(model.parameters(), lr=lr, **settings)

    epoch_variants = {
        "dataloader": "for x, y in DataLoader(TensorDataset(x, y), batch_size=B, shuffle=True): zero_grad, "
                      "loss, backward, optimizer step, running loss += loss.item()",
    }

    def make_epoch(self, model, spec, x, y, batch_size: int, lr: float, variant: str = "dataloader",
                   device: str = "cpu", optimizer: str = "adam"):
        """One epoch of the plain PyTorch loop over a ``DataLoader`` (x: N, H, W, C float32 NumPy, converted to
        an N, C, H, W tensor once, as a user builds the dataset); returns the epoch's mean loss."""
        torch = _torch()
        from torch.utils.data import DataLoader, TensorDataset

        dev = self._device(device)
        model.to(dev).train()
        xt, yt = self.to_native(model, x, y, "cpu")
        loader = DataLoader(TensorDataset(xt, yt), batch_size=batch_size, shuffle=True)
        opt = self._optimizer(model, optimizer, lr)
        loss_fn = torch.nn.CrossEntropyLoss()

        def epoch() -> float:
            model.train()
            running, steps = 0.0, 0
            for xb, yb in loader:
                xb, yb = xb.to(dev), yb.to(dev)
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
                running += loss.item()
                steps += 1
            return running / steps

        return _with_optimizer(epoch, opt)

    def make_predict(self, model, spec, variant=None, device="cpu", dtype="float32"):
        torch = _torch()
        model.eval()
        net = self._prepare(self._inference_module(model, spec), variant, device)

        def predict(x):
            if model.training:  # training in between switched to train mode
                model.eval()
            with torch.inference_mode(), self._autocast(dtype, device):
                # NumPy on the host, as Keras's predict_on_batch and ONNX Runtime's run return it:
                # on CUDA the device-to-host copy (and its synchronisation) is part of the call.
                return net(x).float().cpu().numpy()

        return _checked_first_call(predict, {}) if variant == "compile" else predict

    def to_numpy(self, out) -> np.ndarray:
        return out if isinstance(out, np.ndarray) else out.detach().cpu().numpy()

    def _param_layers(self, model, spec: ModelSpec):
        torch = _torch()
        kinds = (torch.nn.Conv2d, torch.nn.Linear, torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)
        mods = [m for m in model if isinstance(m, kinds)]
        layers = [layer for layer in spec.layers if layer.num_params]
        assert len(mods) == len(layers), (mods, layers)
        return list(zip(layers, mods))

    def _dense_perm(self, spec: ModelSpec, layer) -> np.ndarray | None:
        i = spec.layers.index(layer)
        if i > 0 and spec.layers[i - 1].type == "flatten" and len(spec.layers[i - 1].in_shape) == 3:
            return _flatten_perm(*spec.layers[i - 1].in_shape)
        return None

    def get_weights(self, model, spec) -> list[np.ndarray]:
        out = []
        for layer, mod in self._param_layers(model, spec):
            if layer.type == "conv2d":
                out += [mod.weight.detach().cpu().numpy().transpose(2, 3, 1, 0), mod.bias.detach().cpu().numpy()]
            elif layer.type == "dense":
                w = mod.weight.detach().cpu().numpy().T  # (in, out), rows in torch's C,H,W order
                perm = self._dense_perm(spec, layer)
                if perm is not None:
                    canon = np.empty_like(w)
                    canon[perm] = w
                    w = canon
                out += [w, mod.bias.detach().cpu().numpy()]
            else:
                out += [t.detach().cpu().numpy() for t in (mod.weight, mod.bias, mod.running_mean, mod.running_var)]
        return [np.ascontiguousarray(a, dtype=np.float32) for a in out]

    def set_weights(self, model, spec, weights) -> None:
        torch = _torch()
        it = iter(weights)
        with torch.no_grad():
            for layer, mod in self._param_layers(model, spec):
                if layer.type == "conv2d":
                    mod.weight.copy_(torch.from_numpy(np.ascontiguousarray(next(it).transpose(3, 2, 0, 1))))
                    mod.bias.copy_(torch.from_numpy(next(it)))
                elif layer.type == "dense":
                    w = next(it)
                    perm = self._dense_perm(spec, layer)
                    if perm is not None:
                        w = w[perm]
                    mod.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
                    mod.bias.copy_(torch.from_numpy(next(it)))
                else:
                    for t in (mod.weight, mod.bias, mod.running_mean, mod.running_var):
                        t.copy_(torch.from_numpy(next(it)))

    def save(self, model, path: Path) -> None:
        _torch().save(model.state_dict(), path)

    def load(self, spec: ModelSpec, path: Path):
        torch = _torch()
        model = self.build(spec)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model

    def export_onnx(self, model, spec, path: Path, opset: int) -> None:
        torch = _torch()
        model = model.to("cpu").eval()
        module = self._inference_module(model, spec)
        example = torch.zeros((2, spec.input_shape[2], *spec.input_shape[:2]))  # dynamo needs batch >= 2
        torch.onnx.export(module, (example,), str(path), dynamo=True, opset_version=opset,
                          input_names=["input"], output_names=["output"],
                          dynamic_shapes=({0: torch.export.Dim("batch")},), external_data=False,
                          verbose=False)


FRAMEWORK = TorchFramework()
