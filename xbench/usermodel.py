"""Your own model as a "model source": what a model name given to ``--xbench-models`` / ``--model`` resolves to.

A name is a spec name (``models/*.json``, :mod:`xbench.spec`, unchanged), or a file: ``NAME.onnx`` (inference rows
on the ONNX runtimes only), ``NAME.keras`` (loaded with Keras's ``safe_mode=True``; a file that needs unsafe
deserialisation, e.g. a ``Lambda`` layer, is refused) or ``path.py:function`` (the function returns a
``torch.nn.Module``). A file resolves to a :class:`UserModel`: its kind, one sample's input shape (``data_shape``
in the model's own layout; ``input_shape`` channels-last, as a spec's, for the framework builders), classes (the
last axis of a 2-D output, None otherwise), and the record identity ``model`` = ``"<file name>@<first 12 hex of
sha256>"`` (``"<file name>:<function>@..."`` for torch; never the machine's path). Resolution reads the file and checks it;
every defect is one :class:`~xbench.errors.UserError` (exit 2, nothing written). Keras and torch are imported only
for their own kinds.

Data (``--xbench-data FILE.npz``): ``x_train, y_train, x_test, y_test`` (or ``x``/``y``: the first 80 % train,
the last 20 % test), inputs already in the model's layout and scale (float32). Train steps and int8 calibration read
the train split only, accuracy the test split only. Without data: random inputs of the declared shape (uniform
[0, 1), seed 0), accuracy ``null`` with the reason, int8 calibrated on random data and marked so.

:mod:`xbench.bench.cases` makes the cases of a user model (``user_cases``) and prepares them through the same
``prepare`` path as a spec's; this module only resolves names and reads data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xbench.errors import UserError

SUFFIXES = (".onnx", ".keras")
HASH_CHARS = 12
TEST_SHARE = 0.2  # x/y data: the last 20 % is the test split
RANDOM_IMAGES = 256  # without data: this many random inputs stand in for each split


def is_file_model(name: str) -> bool:
    """Whether a model name names a file (``.onnx``, ``.keras``, ``path.py:function``) rather than a spec."""
    return name.endswith(SUFFIXES) or ".py:" in name


def kind_of(name: str) -> str:
    """The kind a model file name gives (onnx | keras | torch), without reading the file."""
    return "torch" if ".py:" in name else "keras" if name.endswith(".keras") else "onnx"


def runs_in(name: str, framework_names: list[str]) -> bool:
    """Whether a process of these frameworks runs a model file: a Keras file or torch module only in its
    framework's (``xbench run`` starts one process per framework; the others never load its framework)."""
    return kind_of(name) == "onnx" or kind_of(name) in framework_names


@dataclass(frozen=True)
class UserModel:
    kind: str  # onnx | keras | torch
    path: Path
    identity: str  # the record's ``model``: file name @ content hash
    input_shape: tuple  # one sample's shape, no batch axis (a spec's name for it); None where the file leaves it open
    num_classes: int | None
    fixed_batch: int | None = None  # the batch the file fixes, None when it is open
    function: str | None = None  # path.py:function
    notes: dict = field(default_factory=dict, compare=False)  # for the record: where the loss and optimizer came from

    @property
    def name(self) -> str:
        return self.identity

    @property
    def data_shape(self) -> tuple:
        """One sample in the model's own layout, as --xbench-data holds it: (C, H, W) for a torch module, whose
        ``input_shape`` is kept channels-last (H, W, C) as a spec's is, for the framework's builders."""
        if self.kind == "torch":
            h, w, c = self.input_shape
            return c, h, w
        return self.input_shape

    @property
    def shown_shape(self) -> str:
        return _show((self.fixed_batch, *self.data_shape))

    @property
    def learning_rate(self) -> float:
        return float(self.notes.get("learning_rate", DEFAULT_LR))

    @property
    def optimizer_name(self) -> str:
        return str(self.notes.get("optimizer", "adam"))


_RESOLVED: dict[str, UserModel] = {}  # given name and identity -> the resolved model (one process, one run)


def resolve(name: str, input_shape: str | None = None) -> UserModel:
    """The user model a file name gives, checked; one UserError on a missing, unreadable or unsupported file.
    ``input_shape``: ``--xbench-input-shape`` (C,H,W) for a torch module without an ``input_shape`` attribute."""
    if name in _RESOLVED:
        return _RESOLVED[name]
    file, _, function = name.partition(".py:")
    path = Path(file + ".py" if function else name)
    if not path.is_file():
        raise UserError(f"model {name!r}: no such file; a model is a spec name, FILE.onnx, FILE.keras "
                        f"or FILE.py:function")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:HASH_CHARS]
    identity = f"{path.name}{':' + function if function else ''}@{digest}"
    if function:
        model = _torch(path, function, identity, input_shape)
    elif path.suffix == ".onnx":
        model = _onnx(path, identity)
    elif path.suffix == ".keras":
        model = _keras(path, identity)
    else:
        raise UserError(f"model {name!r}: {path.suffix} models are not supported yet; give FILE.onnx, "
                        f"FILE.keras or FILE.py:function")
    _RESOLVED[name] = _RESOLVED[identity] = model
    return model


def lookup(identity: str) -> UserModel | None:
    """The resolved user model a case's ``model`` names, None for a spec."""
    return _RESOLVED.get(identity)


def _onnx(path: Path, identity: str) -> UserModel:
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(proto)
    except Exception as exc:  # onnx raises DecodeError, ValidationError, OSError...
        raise UserError(f"{path.name}: not a valid ONNX model ({type(exc).__name__}: "
                        f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})"[:400]) from None
    inits = {i.name for i in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in inits]
    if len(inputs) != 1 or len(proto.graph.output) < 1:
        raise UserError(f"{path.name}: {len(inputs)} inputs; models with one input are supported (several inputs "
                        f"are not supported yet)")
    tensor = inputs[0].type.tensor_type
    if tensor.elem_type != onnx.TensorProto.FLOAT:
        raise UserError(f"{path.name}: input {inputs[0].name!r} is {onnx.TensorProto.DataType.Name(tensor.elem_type)}; "
                        f"float32 inputs are supported (other input types are not supported yet)")
    shape = _dims(tensor.shape)
    out = _dims(proto.graph.output[0].type.tensor_type.shape)
    classes = out[1] if len(out) == 2 and isinstance(out[1], int) and out[1] > 1 else None
    return UserModel("onnx", path, identity, shape[1:], classes, fixed_batch=shape[0] if shape else None)


DEFAULT_LR = 1e-3
TRAINABLE_LOSSES = ("sparse_categorical_crossentropy",)  # what xbench's Keras train step computes


def load_keras(model: UserModel):
    """A fresh Keras model from the file, loaded with ``safe_mode=True`` (the file's weights, compiled as saved)."""
    import warnings

    import keras

    with warnings.catch_warnings():  # "Skipping variable loading for optimizer": the step starts a fresh optimizer
        warnings.simplefilter("ignore")
        return keras.saving.load_model(str(model.path), safe_mode=True)


def _keras(path: Path, identity: str) -> UserModel:
    import zipfile

    if not zipfile.is_zipfile(path):
        raise UserError(f"{path.name}: not a .keras file (a zip archive written by model.save)")
    probe = UserModel("keras", path, identity, (), None)
    try:
        native = load_keras(probe)
    except Exception as exc:  # Keras raises ValueError / TypeError with its own words (Lambda: unsafe)
        words = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path.name}: Keras cannot load it with safe_mode=True: {words}"[:500]) from None
    if len(native.inputs) != 1 or len(native.outputs) != 1:
        raise UserError(f"{path.name}: {len(native.inputs)} inputs, {len(native.outputs)} outputs; models with one "
                        f"input and one output are supported (several are not supported yet)")
    shape, out = tuple(native.inputs[0].shape), tuple(native.outputs[0].shape)
    classes = out[1] if len(out) == 2 and isinstance(out[1], int) and out[1] > 1 else None
    notes: dict = {"compiled": bool(native.compiled)}
    if native.compiled:
        config = native.get_compile_config() or {}
        opt = (config.get("optimizer") or {})
        loss = config.get("loss")
        notes.update(optimizer=str(opt.get("class_name", "Adam")).lower(),
                     learning_rate=float(f"{float(opt.get('config', {}).get('learning_rate', DEFAULT_LR)):.7g}"),
                     loss=loss if isinstance(loss, str) else (loss or {}).get("class_name", repr(loss)))
        if isinstance(loss, dict) and (loss.get("config") or {}).get("from_logits"):
            notes["from_logits"] = True
    else:
        notes.update(optimizer="adam", learning_rate=DEFAULT_LR, loss="sparse_categorical_crossentropy",
                     defaults="the file is not compiled: xbench's defaults (Adam 1e-3, sparse categorical "
                              "cross-entropy)")
    return UserModel("keras", path, identity, shape[1:], classes, fixed_batch=shape[0], notes=notes)


def _import(path: Path):
    """The user's Python file as a module, once per process, registered in ``sys.modules`` (torch.compile looks
    a module's code up there)."""
    import importlib.util
    import sys

    name = f"xbench_user_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:HASH_CHARS]}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return sys.modules[name]


def _torch(path: Path, function: str, identity: str, input_shape: str | None) -> UserModel:
    import torch

    where = f"{path.name}:{function}"
    try:
        module = _import(path)
    except Exception as exc:  # whatever the user's file raises while importing
        raise UserError(f"{where}: {path.name} does not import: {type(exc).__name__}: {_first(exc)}"[:500]) from None
    fn = getattr(module, function, None)
    if not callable(fn):
        raise UserError(f"{where}: {path.name} has no function {function!r}")
    net = build_torch(path, function, module=module)
    shape = getattr(net, "input_shape", None)
    if shape is None and input_shape:
        try:
            shape = tuple(int(v) for v in input_shape.split(","))
        except ValueError:
            raise UserError(f"--xbench-input-shape: {input_shape!r} is not C,H,W (e.g. 1,28,28)") from None
    if shape is None:
        raise UserError(f"{where}: the module has no input_shape attribute (C, H, W); set one on it or give "
                        f"--xbench-input-shape C,H,W")
    shape = tuple(int(v) for v in shape)
    if len(shape) != 3 or min(shape) <= 0:
        raise UserError(f"{where}: input shape {list(shape)}: (C, H, W) image inputs are supported (other input "
                        f"ranks are not supported yet)")
    try:
        with torch.no_grad():
            out = tuple(net.eval()(torch.zeros((2, *shape))).shape)
    except Exception as exc:
        raise UserError(f"{where}: a batch of shape {[2, *shape]} fails in the module: {type(exc).__name__}: "
                        f"{_first(exc)}"[:500]) from None
    classes = out[1] if len(out) == 2 and out[1] > 1 else None
    notes = {"optimizer": "adam", "learning_rate": DEFAULT_LR,
             "loss": "cross-entropy on the module's output (logits): xbench's default",
             "input_shape": "module attribute" if getattr(net, "input_shape", None) is not None else
             "--xbench-input-shape"}
    c, h, w = shape
    return UserModel("torch", path, identity, (h, w, c), classes, function=function, notes=notes)


def build_torch(path: Path, function: str, module=None, seed: int = 0):
    """A fresh module from the user's function (torch seeded first, so every build starts from the same weights)."""
    import torch

    module = module or _import(path)
    torch.manual_seed(seed)
    net = getattr(module, function)()
    if not isinstance(net, torch.nn.Module):
        raise UserError(f"{path.name}:{function}: returned {type(net).__name__}, not a torch.nn.Module")
    return net


def native(model: UserModel):
    """A fresh native model of a user's Keras file or torch function."""
    return load_keras(model) if model.kind == "keras" else build_torch(model.path, model.function)


def channels_last(model: UserModel, x: np.ndarray) -> np.ndarray:
    """A batch in the model's layout -> channels-last, as the framework builders take it (torch: NCHW -> NHWC)."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if model.kind == "torch" else x


def _first(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else ""


def train_reason(model: UserModel) -> str | None:
    """Why xbench cannot time a train step of ``model`` as compiled (None: it can)."""
    if model.kind == "onnx":
        return "an ONNX file has no train step"
    if model.num_classes is None:
        return f"{model.identity}: the output is not (batch, classes): no classification loss to train"
    if model.kind == "torch":  # cross-entropy on its logits, Adam: xbench's defaults, named in the record
        return None
    loss = str(model.notes.get("loss", "")).lower().replace("sparsecategoricalcrossentropy",
                                                             "sparse_categorical_crossentropy")
    if loss not in TRAINABLE_LOSSES or model.notes.get("from_logits"):
        logits = " (from_logits=True)" if model.notes.get("from_logits") else ""
        return (f"{model.identity} is compiled with loss {model.notes.get('loss')!r}{logits}; xbench's Keras train step "
                f"runs sparse categorical cross-entropy on probabilities only (other losses are not supported yet)")
    if model.optimizer_name not in ("adam", "sgd"):
        return (f"{model.identity} is compiled with optimizer {model.optimizer_name!r}; xbench's train step runs "
                f"adam or sgd (others are not supported yet)")
    return None


def _dims(shape) -> tuple:
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in shape.dim)


@dataclass(frozen=True)
class UserData:
    """A user model's inputs and labels, float32 in the model's layout; ``labelled``: accuracy can be computed."""
    x_train: np.ndarray
    y_train: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray | None
    label: str  # for the results file's env: file name and split sizes, or that inputs are random

    @property
    def labelled(self) -> bool:
        return self.y_test is not None


def load_data(path: str | Path | None, model: UserModel) -> UserData:
    """``--xbench-data`` for ``model`` (None: random inputs of its shape), checked against its input shape."""
    if path is None:
        rng = np.random.default_rng(0)
        sample = model.data_shape
        if any(d is None for d in sample):
            raise UserError(f"{model.identity}: its input shape {model.shown_shape} leaves a dimension open "
                            f"besides the batch; give --xbench-data with inputs of the shape it takes")
        x = rng.random((RANDOM_IMAGES, *sample), dtype=np.float32)
        y = rng.integers(0, model.num_classes or 2, RANDOM_IMAGES)  # for train steps only: never an accuracy
        return UserData(x, y, x, None, f"random inputs {model.shown_shape} (no --xbench-data)")
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise UserError(f"--xbench-data: {path}: no such file (expected an .npz with x_train, y_train, x_test, "
                        f"y_test, or x, y)") from None
    except Exception as exc:  # zipfile, pickle refusal, truncated file
        raise UserError(f"--xbench-data: {path}: not a readable .npz file ({type(exc).__name__})") from None
    if "x_test" in arrays:
        x_train, y_train = arrays.get("x_train", arrays["x_test"][:0]), arrays.get("y_train")
        x_test, y_test = arrays["x_test"], arrays.get("y_test")
    elif "x" in arrays:
        cut = int(round(len(arrays["x"]) * (1 - TEST_SHARE)))
        y = arrays.get("y")
        x_train, x_test = arrays["x"][:cut], arrays["x"][cut:]
        y_train, y_test = (None, None) if y is None else (y[:cut], y[cut:])
    else:
        raise UserError(f"--xbench-data: {path.name}: has {sorted(arrays)}; expected x_train, y_train, x_test, "
                        f"y_test (or x, y)")
    if y_test is None:
        raise UserError(f"--xbench-data: {path.name}: no labels (y_test or y): accuracy needs them; give labels, "
                        f"or leave --xbench-data out for random inputs")
    for xs, ys, split in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if not len(xs) and split == "train":
            continue
        if xs.ndim != len(model.data_shape) + 1 or any(d is not None and d != n for d, n in
                                                        zip(model.data_shape, xs.shape[1:])):
            raise UserError(f"--xbench-data: {path.name}: x_{split} samples are {list(xs.shape[1:])}, the model "
                            f"{model.identity} takes {model.shown_shape} (batch first, in its own layout)")
        if ys is not None and len(ys) != len(xs):
            raise UserError(f"--xbench-data: {path.name}: {len(xs)} x_{split} but {len(ys)} y_{split}")
    if not len(x_test):
        raise UserError(f"--xbench-data: {path.name}: the test split is empty")
    label = f"{path.name} ({len(x_train):,} train + {len(x_test):,} test)"
    as_labels = (lambda y: None if y is None else y.astype(np.int64))
    return UserData(x_train.astype(np.float32), as_labels(y_train), x_test.astype(np.float32), as_labels(y_test), label)


def _show(shape: tuple) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def batch(data: UserData, batch_size: int, split: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``batch_size`` inputs (and labels) of one split, wrapping around it: the test split for inference rows,
    the train split for train steps (never the other; an empty split is a UserError)."""
    x, y = (data.x_train, data.y_train) if split == "train" else (data.x_test, data.y_test)
    if not len(x):
        raise UserError(f"the data has no {split} split (x_{split}); give x_{split}, y_{split}")
    idx = np.arange(batch_size) % len(x)
    return np.ascontiguousarray(x[idx]), None if y is None else y[idx]


def calibration(data: UserData, images: int) -> tuple[np.ndarray, str]:
    """What int8 static quantization calibrates on, and what the record says of it: the first ``images`` of the
    train split (never the test split), or random inputs of the model's shape when there is no train split."""
    if not len(data.x_train):
        rng = np.random.default_rng(0)
        return rng.random((images, *data.x_test.shape[1:]), dtype=np.float32), "random inputs (no train split)"
    if data.y_test is None:  # no data given: the train split is the random stand-in
        return data.x_train[:images], "random inputs (no --xbench-data)"
    return data.x_train[:images], f"train split ({min(images, len(data.x_train))} inputs)"
