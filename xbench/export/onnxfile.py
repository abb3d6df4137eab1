"""Any ONNX file as xbench sees it: loaded and checked, its real inputs, their concrete shapes.

Third-party files are the hard case: fixed batch sizes, old opsets (IR 3, where
every initializer is also listed as a graph input), odd input names and
symbolic dimensions. ``resolve_inputs`` turns the declared inputs plus the
user's ``--batch-size`` / ``--shape NAME=...`` into concrete shapes, or one
:class:`UserError` that says what is wrong and what is valid.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from xbench.errors import UserError, first_line


@dataclass(frozen=True)
class InputInfo:
    name: str
    dtype: str  # numpy dtype name
    declared: tuple  # ints for fixed dims, strings for symbolic ones, "?" for unknown
    shape: tuple[int, ...]  # the concrete shape used

    def to_dict(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "declared": list(self.declared), "shape": list(self.shape)}


def load_model(path: str | os.PathLike):
    """The checked ModelProto of ``path``, or one UserError (missing, not ONNX, truncated, invalid)."""
    import onnx

    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: no such file (expected an ONNX model file)")
    if p.is_dir():
        raise UserError(f"{p}: is a directory, expected an ONNX model file")
    try:
        model = onnx.load(str(p))
    except Exception as exc:  # protobuf DecodeError, missing external data, ...
        raise UserError(f"{p}: not a readable ONNX model ({first_line(exc)}); truncated or not an ONNX file?") from None
    if not model.graph.node or not model.graph.output:
        raise UserError(f"{p}: not an ONNX model (no graph nodes or outputs were found in the file)")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise UserError(f"{p}: invalid ONNX model: {first_line(exc)}") from None
    return model


def real_inputs(model) -> list:
    """Graph inputs that are data, not weights (IR < 4 lists initializers as inputs too)."""
    inits = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def _declared(value_info) -> tuple | None:
    t = value_info.type
    if not t.HasField("tensor_type"):
        return None
    if not t.tensor_type.HasField("shape"):
        return None
    dims = []
    for d in t.tensor_type.shape.dim:
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            dims.append(d.dim_param)
        else:
            dims.append("?")
    return tuple(dims)


def _np_dtype(value_info) -> str:
    import onnx

    elem = value_info.type.tensor_type.elem_type
    try:
        return str(onnx.helper.tensor_dtype_to_np_dtype(elem))
    except Exception:
        return f"onnx-type-{elem}"


def parse_shape_args(items: list[str] | None) -> dict[str, tuple[int, ...]]:
    """``["NAME=1x3x224x224", "ids=1,128"]`` -> {name: shape}; bad syntax is a UserError."""
    out: dict[str, tuple[int, ...]] = {}
    for item in items or []:
        name, sep, dims = item.rpartition("=")
        if not sep or not name:
            raise UserError(f"--shape {item!r}: expected NAME=D1xD2x... (for example data_0=1x3x224x224)")
        parts = [p for p in re.split(r"[x,X*]", dims.strip()) if p.strip()]
        try:
            shape = tuple(int(p) for p in parts)
        except ValueError:
            raise UserError(f"--shape {item!r}: dimensions must be positive integers, got {dims!r}") from None
        if any(d <= 0 for d in shape):
            raise UserError(f"--shape {item!r}: dimensions must be positive integers, got {dims!r}")
        out[name] = shape
    return out


def fixed_batch(model) -> int | None:
    """The batch a model is built for, when its first input's first dimension is fixed."""
    inputs = real_inputs(model)
    if not inputs:
        return None
    declared = _declared(inputs[0])
    if declared and isinstance(declared[0], int):
        return declared[0]
    return None


def resolve_inputs(model, batch_size: int | None = None, shapes: dict[str, tuple[int, ...]] | None = None,
                   source: str = "model") -> tuple[list[InputInfo], int]:
    """Concrete shapes for every real input, and the batch they describe.

    Dimension 0 is the batch: a symbolic one takes ``batch_size`` (default 1); a
    fixed one must equal ``batch_size`` when that is given. Any other symbolic
    dimension needs ``shapes[name]`` (the whole shape, from ``--shape``).
    """
    shapes = dict(shapes or {})
    inputs = real_inputs(model)
    if not inputs:
        raise UserError(f"{source}: the graph has no data inputs (every input is an initializer)")
    names = [i.name for i in inputs]
    for name in shapes:
        if name not in names:
            raise UserError(f"--shape {name}=...: {source} has no input named {name!r}; its inputs are: "
                            f"{', '.join(names)}")
    fixed = fixed_batch(model)
    if fixed is not None and batch_size is not None and batch_size != fixed and names[0] not in shapes:
        raise UserError(f"{source} has a fixed batch of {fixed} (input {names[0]!r} is declared "
                        f"{list(_declared(inputs[0]) or [])}); it cannot run at batch {batch_size}")
    batch = fixed if fixed is not None else (batch_size or 1)
    out = []
    for vi in inputs:
        declared = _declared(vi)
        if vi.name in shapes:
            shape = shapes[vi.name]
            if declared is not None:
                if len(shape) != len(declared):
                    raise UserError(f"--shape {vi.name}=...: {source} declares this input with {len(declared)} "
                                    f"dimensions {list(declared)}, got {len(shape)}")
                for axis, (want, got) in enumerate(zip(declared, shape)):
                    if isinstance(want, int) and want != got:
                        raise UserError(f"--shape {vi.name}=...: dimension {axis} of this input is fixed at {want} "
                                        f"in {source}, got {got}")
            if vi is inputs[0] and shape:
                if batch_size is not None and shape[0] != batch_size:
                    raise UserError(f"--shape {vi.name}=... gives batch {shape[0]} but --batch-size is {batch_size}")
                batch = shape[0]
        else:
            if declared is None:
                raise UserError(f"{source}: input {vi.name!r} has no declared shape; give it with "
                                f"--shape {vi.name}=D1xD2x...")
            shape = []
            for axis, dim in enumerate(declared):
                if isinstance(dim, int):
                    shape.append(dim)
                elif axis == 0:
                    shape.append(batch)
                else:
                    raise UserError(f"{source}: input {vi.name!r} {list(declared)} has symbolic dimension "
                                    f"{dim!r} at axis {axis}; give its size with --shape {vi.name}="
                                    + "x".join(str(d) if isinstance(d, int) else ("B" if a == 0 else "N")
                                               for a, d in enumerate(declared)))
            shape = tuple(shape)
        out.append(InputInfo(vi.name, _np_dtype(vi), tuple(declared or ()), tuple(shape)))
    return out, int(batch)


def make_feeds(inputs: list[InputInfo], seed: int = 0) -> dict:
    """Inputs generated from the declared types: floats uniform in [0, 1), integers and bools zero."""
    import numpy as np

    rng = np.random.default_rng(seed)
    feeds = {}
    for info in inputs:
        try:
            dtype = np.dtype(info.dtype)
        except TypeError:
            raise UserError(f"input {info.name!r} has type {info.dtype}, which xbench cannot generate") from None
        if dtype.kind == "f":
            feeds[info.name] = rng.random(info.shape, dtype=np.float32).astype(dtype)
        elif dtype.kind in "iub":
            feeds[info.name] = np.zeros(info.shape, dtype=dtype)
        else:
            raise UserError(f"input {info.name!r} has type {info.dtype}, which xbench cannot generate")
    return feeds
