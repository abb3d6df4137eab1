"""How much arithmetic and memory traffic an ONNX graph needs, counted node by node.

Framework-neutral: the Keras export, the PyTorch export and any third-party
ONNX file are counted by the same rules, on shapes from ONNX shape inference
(run at a concrete batch, so weights the graph computes itself, e.g. with
``ConstantOfShape``, get their shapes too).

Conventions (the ones published model tables use):

* A multiply-accumulate (MAC) is one multiply and one add; **FLOPs = 2 × MACs**.
  Only Conv, ConvTranspose, Gemm and MatMul (and their quantised forms) do MACs;
  bias additions are not MACs.
    Conv:           MACs = numel(Y) · (C_in / groups) · prod(kernel)   (strides, pads
                    and dilations enter through Y's shape)
    ConvTranspose:  MACs = numel(X) · (C_out / groups) · prod(kernel)
    Gemm / MatMul:  MACs = numel(Y) · K
* Element operations (``elem_ops``) are everything else that computes: one per
  output element for activations and element-wise arithmetic, one per window
  element for pooling, a documented constant per element for normalisation
  and softmax. They are reported separately and are not part of FLOPs.
* Bytes: two memory floors. ``bytes_min`` is the compulsory traffic (weights,
  model inputs and outputs once: what a perfectly fused run must move).
  ``bytes_layers`` is the layer-by-layer traffic of unfused execution: every node
  reads its inputs and weights and writes its outputs (no fusion, no cache). For
  a training step (``train_bytes_layers``) the backward pass adds, per node, the
  output gradient read, the input gradient written (with the weights read for
  it), the saved activation read again (the forward input of a convolution or
  matmul for its weight gradient, of ReLU, pooling, normalisation... for its
  input gradient), the weight gradients written, and Adam's reads and writes.
  Real traffic of a framework's step lies near the layer-by-layer figure; a fused
  runtime can approach the compulsory one.
* Operators the counter does not know are counted as **unknown**: listed, with
  a warning, and the totals say they are incomplete; never silently zero.
* Training: the backward pass is counted per node. Conv/Gemm/MatMul need a
  weight gradient (same MACs as forward) for each trainable input and an input
  gradient (same MACs as forward) only when their input depends on a trainable
  weight: the first layer needs none. Element-wise and pooling layers pass
  gradients back with element operations. The optimizer (Adam) adds
  ``ADAM_OPS_PER_PARAM`` element operations per parameter.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import asdict, dataclass, field

from xbench.errors import UserError, first_line

MAC_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul", "QLinearConv", "QLinearMatMul", "ConvInteger",
           "MatMulInteger"}
# activations and unary math: ops per output element (forward, backward)
UNARY = {
    "Relu": (1, 1), "LeakyRelu": (1, 1), "PRelu": (1, 2), "Elu": (2, 2), "Selu": (2, 2), "Celu": (2, 2),
    "ThresholdedRelu": (1, 1), "Sigmoid": (4, 2), "HardSigmoid": (2, 1), "HardSwish": (3, 2), "Tanh": (4, 2),
    "Softplus": (3, 2), "Softsign": (2, 2), "Gelu": (8, 8), "Mish": (8, 8), "Clip": (1, 1), "Erf": (4, 2),
    "Exp": (1, 1), "Log": (1, 1), "Sqrt": (1, 1), "Reciprocal": (1, 1), "Neg": (1, 1), "Abs": (1, 1),
    "Ceil": (1, 0), "Floor": (1, 0), "Round": (1, 0), "Sign": (1, 0), "Not": (1, 0), "Sin": (1, 1), "Cos": (1, 1),
    "IsNaN": (1, 0), "IsInf": (1, 0), "Shrink": (1, 1), "BitShift": (1, 0),
}
# element-wise with several inputs: ops per output element per extra input
BINARY = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mean", "Sum", "Mod", "Equal", "Greater", "Less",
          "GreaterOrEqual", "LessOrEqual", "And", "Or", "Xor", "Where", "BitwiseAnd", "BitwiseOr", "BitwiseXor"}
POOL = {"MaxPool", "AveragePool", "LpPool"}
GLOBAL_POOL = {"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"}
REDUCE = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
          "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin", "CumSum", "TopK"}
# ops per element: (forward at inference, backward)
NORM = {"BatchNormalization": (2, 10), "InstanceNormalization": (5, 10), "LayerNormalization": (5, 10),
        "GroupNormalization": (5, 10), "LpNormalization": (3, 4), "MeanVarianceNormalization": (5, 10)}
SOFTMAX = {"Softmax": (5, 3), "LogSoftmax": (5, 3), "Hardmax": (2, 0)}
MOVEMENT = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Split", "Slice", "Gather",
            "GatherElements", "GatherND", "ScatterElements", "ScatterND", "Expand", "Tile", "Pad", "Identity",
            "Shape", "Size", "Cast", "CastLike", "Constant", "ConstantOfShape", "Dropout", "DepthToSpace",
            "SpaceToDepth", "Range", "NonZero", "OneHot", "EyeLike", "Trilu", "ReverseSequence",
            "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}
RESIZE = {"Resize", "Upsample"}
ADAM_OPS_PER_PARAM = 12  # m and v moving averages (7), bias corrections and the update (5)
ADAM_BYTES_PER_PARAM_BYTE = 7  # read gradient, read and write parameter, m and v
# kinds whose input gradient needs the forward pass's saved tensor (read again in the backward pass);
# conv/matmul read theirs for the weight gradient, movement ops need none
SAVES_INPUT = ("activation", "pool", "norm", "softmax", "elementwise", "resize", "reduce")
UNKNOWN_WARNING = "operator not known to the counter: its cost is NOT included (totals are a lower bound)"


@dataclass
class NodeCost:
    name: str
    op: str
    kind: str  # conv | matmul | pool | norm | activation | elementwise | softmax | reduce | resize | movement | unknown
    out_shape: list
    in_shape: list  # first dynamic input
    macs: int = 0  # forward, per batch
    elem_ops: int = 0
    weight_bytes: int = 0
    in_bytes: int = 0
    out_bytes: int = 0
    params: int = 0  # trainable elements among the constant inputs
    bwd_macs: int = 0
    bwd_elem_ops: int = 0
    bwd_bytes: int = 0
    input_grad: bool = False
    weight_grad: bool = False
    unknown: bool = False
    note: str = ""
    layer: int | None = None  # index of the spec layer this node implements (None: not mapped)
    inputs: list = field(default_factory=list)  # dynamic (activation) inputs
    outputs: list = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return self.weight_bytes + self.in_bytes + self.out_bytes

    @property
    def flops(self) -> int:
        return 2 * self.macs


@dataclass
class ModelCost:
    source: str
    batch: int
    inputs: list  # [InputInfo.to_dict()]
    nodes: list[NodeCost]
    opset: int | None = None
    folded_constant_nodes: dict = field(default_factory=dict)  # op -> count of nodes computing only constants
    weight_bytes: int = 0  # unique constant tensors read by the counted nodes
    trainable_bytes: int = 0
    params: int = 0
    io_bytes: int = 0  # model inputs and outputs at this batch
    warnings: list = field(default_factory=list)

    # ---- totals per batch -------------------------------------------------------------------------------------
    @property
    def macs(self) -> int:
        return sum(n.macs for n in self.nodes)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def elem_ops(self) -> int:
        return sum(n.elem_ops for n in self.nodes)

    @property
    def bwd_macs(self) -> int:
        return sum(n.bwd_macs for n in self.nodes)

    @property
    def train_macs(self) -> int:
        return self.macs + self.bwd_macs

    @property
    def train_flops(self) -> int:
        return 2 * self.train_macs

    @property
    def train_elem_ops(self) -> int:
        return self.elem_ops + sum(n.bwd_elem_ops for n in self.nodes) + ADAM_OPS_PER_PARAM * self.params

    @property
    def bytes_layers(self) -> int:
        return sum(n.bytes for n in self.nodes)

    @property
    def bytes_min(self) -> int:
        return self.weight_bytes + self.io_bytes

    @property
    def train_bytes_layers(self) -> int:
        return self.bytes_layers + sum(n.bwd_bytes for n in self.nodes) + ADAM_BYTES_PER_PARAM_BYTE * self.trainable_bytes

    @property
    def train_bytes_min(self) -> int:
        # weights read twice (forward, backward), gradients written, Adam's reads and writes
        return self.bytes_min + (1 + 1 + ADAM_BYTES_PER_PARAM_BYTE) * self.trainable_bytes

    @property
    def unknown_ops(self) -> list[str]:
        return sorted({n.op for n in self.nodes if n.unknown})

    @property
    def complete(self) -> bool:
        return not self.unknown_ops

    @property
    def macs_per_sample(self) -> int:
        return round(self.macs / self.batch)

    def task_cost(self, task: str) -> tuple[int, int, int]:
        """(FLOPs, compulsory bytes, per-layer bytes) per batch for ``train_step`` or inference."""
        if task == "train_step":
            return self.train_flops, self.train_bytes_min, self.train_bytes_layers
        return self.flops, self.bytes_min, self.bytes_layers

    def summary(self) -> dict:
        b = self.batch
        return {
            "source": self.source, "batch_size": b, "opset": self.opset,
            "flops_definition": "FLOPs = 2 x MACs (multiply-accumulates); element operations are counted apart",
            "total_macs": round(self.macs / b), "total_flops": round(self.flops / b),
            "per_sample": {"macs": self.macs / b, "flops": self.flops / b, "elem_ops": self.elem_ops / b,
                           "train_macs": self.train_macs / b, "train_flops": self.train_flops / b,
                           "backward_macs": self.bwd_macs / b},
            "per_batch": {"macs": self.macs, "flops": self.flops, "elem_ops": self.elem_ops,
                          "train_macs": self.train_macs, "train_flops": self.train_flops,
                          "backward_macs": self.bwd_macs, "train_elem_ops": self.train_elem_ops,
                          "bytes_layers": self.bytes_layers, "bytes_min": self.bytes_min,
                          "train_bytes_layers": self.train_bytes_layers, "train_bytes_min": self.train_bytes_min},
            "params": self.params, "weight_bytes": self.weight_bytes,
            "unknown_ops": self.unknown_ops, "complete": self.complete,
            "folded_constant_nodes": self.folded_constant_nodes, "warnings": self.warnings,
        }

    def to_dict(self) -> dict:
        return {**self.summary(), "inputs": self.inputs,
                "nodes": [{**asdict(n), "flops": n.flops, "bytes": n.bytes} for n in self.nodes]}

# ---- counting ---------------------------------------------------------------------------------------------------

def count_file(path: str | os.PathLike, batch_size: int | None = None, shapes: dict | None = None) -> ModelCost:
    from xbench.export.onnxfile import load_model

    return count(load_model(path), batch_size, shapes, source=os.path.basename(str(path)))


def count(model, batch_size: int | None = None, shapes: dict | None = None, source: str = "model") -> ModelCost:
    """Count ``model`` (a ModelProto) at a concrete batch (dimension 0 of its inputs)."""
    import onnx

    from xbench.export.onnxfile import resolve_inputs

    inputs, batch = resolve_inputs(model, batch_size, shapes, source=source)
    model = _concrete(model, {i.name: i.shape for i in inputs})
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception as exc:
        raise UserError(f"{source}: ONNX shape inference failed: {first_line(exc)}") from None
    graph = inferred.graph
    info = _tensor_info(inferred)
    dynamic = {i.name for i in inputs}
    requires_grad: set[str] = set()
    trainable_seen: dict[str, int] = {}
    weights_seen: dict[str, int] = {}
    nodes: list[NodeCost] = []
    folded: dict[str, int] = {}
    warnings: list[str] = []
    for node in graph.node:
        ins = [t for t in node.input if t]
        if not any(t in dynamic for t in ins) and node.op_type not in ("If", "Loop", "Scan"):
            folded[node.op_type] = folded.get(node.op_type, 0) + 1  # weights/shapes the runtime folds once
            continue
        nc = _node_cost(node, info, dynamic, requires_grad)
        for pos, t in enumerate(node.input):
            if t and t not in dynamic:
                weights_seen[t] = _nbytes(info.get(t))
                if _is_trainable(node, pos, info.get(t)):
                    trainable_seen[t] = _numel(info.get(t))
        if nc.unknown:
            warnings.append(f"{nc.op} ({nc.name}): {nc.note or UNKNOWN_WARNING}")
        dynamic.update(t for t in node.output if t)
        if nc.input_grad or nc.weight_grad or any(t in requires_grad for t in ins):
            requires_grad.update(t for t in node.output if t)
        nodes.append(nc)
    io = sum(_nbytes(info.get(i.name)) for i in inputs) + sum(_nbytes(info.get(o.name)) for o in graph.output)
    trainable_bytes = sum(_nbytes(info.get(t)) for t in trainable_seen)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    return ModelCost(source=source, batch=batch, inputs=[i.to_dict() for i in inputs], nodes=nodes, opset=opset,
                     folded_constant_nodes=folded, weight_bytes=sum(weights_seen.values()),
                     trainable_bytes=trainable_bytes, params=sum(trainable_seen.values()), io_bytes=io,
                     warnings=warnings)


def _concrete(model, shapes: dict[str, tuple[int, ...]]):
    """A copy with concrete input shapes and no stale value_info (inference recomputes it)."""
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    if m.functions:
        try:
            from onnx import inliner

            m = inliner.inline_local_functions(m)
        except Exception:
            pass  # counted as unknown ops below
    del m.graph.value_info[:]
    for vi in m.graph.input:
        if vi.name in shapes:
            tt = vi.type.tensor_type
            tt.shape.Clear()
            for d in shapes[vi.name]:
                tt.shape.dim.add().dim_value = int(d)
    return m


def _tensor_info(model) -> dict[str, tuple[int, tuple | None]]:
    """name -> (ONNX elem type, shape tuple or None when unknown)."""
    out = {}
    g = model.graph
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        t = vi.type.tensor_type
        shape = None
        if t.HasField("shape"):
            dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
            shape = tuple(dims) if all(d is not None for d in dims) else None
        out[vi.name] = (t.elem_type, shape)
    for init in g.initializer:
        out[init.name] = (init.data_type, tuple(init.dims))
    return out


def _numel(meta) -> int:
    if not meta or meta[1] is None:
        return 0
    return math.prod(meta[1])


def _itemsize(elem_type: int) -> int:
    import onnx

    try:
        return onnx.helper.tensor_dtype_to_np_dtype(elem_type).itemsize
    except Exception:
        return 4


def _nbytes(meta) -> int:
    return _numel(meta) * _itemsize(meta[0]) if meta and meta[1] is not None else 0


def _is_float(meta) -> bool:
    import onnx

    return bool(meta) and meta[0] in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16,
                                      onnx.TensorProto.DOUBLE)


def _is_trainable(node, pos: int, meta) -> bool:
    """Constant inputs a training run would update: weights and biases of MAC ops, scale and shift of norms."""
    if not _is_float(meta) or _numel(meta) < 1:
        return False
    op = node.op_type
    if op in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
        return True
    if op in NORM:
        return pos in (1, 2)
    if op == "PRelu":
        return pos == 1
    if op in ("Add", "Mul", "Sub"):  # a bias or scale vector that an exporter split off its layer
        return _numel(meta) >= 2
    return False


def _attr(node, name, default=None):
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _node_cost(node, info, dynamic: set, requires_grad: set) -> NodeCost:
    op = node.op_type
    ins = list(node.input)
    outs = [t for t in node.output if t]
    out_meta = info.get(outs[0]) if outs else None
    dyn_in = [t for t in ins if t and t in dynamic]
    nc = NodeCost(name=node.name or (outs[0] if outs else op), op=op, kind="unknown",
                  out_shape=list(out_meta[1]) if out_meta and out_meta[1] is not None else [],
                  in_shape=list(info[dyn_in[0]][1]) if dyn_in and info.get(dyn_in[0]) and info[dyn_in[0]][1] is not None else [])
    nc.inputs, nc.outputs = dyn_in, outs
    nc.in_bytes = sum(_nbytes(info.get(t)) for t in dyn_in)
    nc.out_bytes = sum(_nbytes(info.get(t)) for t in outs)
    nc.weight_bytes = sum(_nbytes(info.get(t)) for t in ins if t and t not in dynamic)
    nc.params = sum(_numel(info.get(t)) for pos, t in enumerate(ins)
                    if t and t not in dynamic and _is_trainable(node, pos, info.get(t)))
    if node.domain not in ("", "ai.onnx"):
        nc.unknown, nc.note = True, f"custom domain {node.domain!r}: " + UNKNOWN_WARNING
        return nc
    shapes_known = out_meta is not None and out_meta[1] is not None and all(
        info.get(t) and info[t][1] is not None for t in ins if t)
    if op not in MOVEMENT and not shapes_known:
        nc.unknown, nc.note = True, "shape inference gave no shape here: cost NOT included"
        return nc
    y = _numel(out_meta)
    rg = lambda t: bool(t) and t in requires_grad  # noqa: E731
    trainable = lambda pos: (pos < len(ins) and bool(ins[pos]) and ins[pos] not in dynamic  # noqa: E731
                             and _is_trainable(node, pos, info.get(ins[pos])))

    if op in MAC_OPS:
        nc.kind = "matmul" if "MatMul" in op or op == "Gemm" else "conv"
        w_pos = 3 if op in ("QLinearConv", "QLinearMatMul") else 1
        a_shape, w_shape = info[ins[0]][1], info[ins[w_pos]][1]
        if op in ("Conv", "QLinearConv", "ConvInteger"):
            nc.macs = y * math.prod(w_shape[1:])
        elif op == "ConvTranspose":
            nc.macs = _numel(info[ins[0]]) * math.prod(w_shape[1:])
        elif op == "Gemm":
            k = a_shape[0] if _attr(node, "transA", 0) else a_shape[-1]
            nc.macs = y * k
        else:  # MatMul family: numpy semantics, K is the last axis of A
            nc.macs = y * a_shape[-1]
        bias_pos = {"Conv": 2, "ConvTranspose": 2, "Gemm": 2}.get(op)
        if bias_pos is not None and len(ins) > bias_pos and ins[bias_pos]:
            nc.elem_ops = y
        a_pos, b_pos = (0, w_pos)
        nc.input_grad = rg(ins[a_pos]) or (op in ("Gemm", "MatMul") and rg(ins[b_pos]))
        grads = int(rg(ins[a_pos]) or trainable(a_pos)) + int(rg(ins[b_pos]) or trainable(b_pos))
        nc.weight_grad = trainable(a_pos) or trainable(b_pos)
        nc.bwd_macs = grads * nc.macs
        if bias_pos is not None and trainable(bias_pos):
            nc.bwd_elem_ops = y
            nc.weight_grad = True
    elif op in UNARY:
        nc.kind = "activation"
        f, b = UNARY[op]
        nc.elem_ops = f * y
        nc.input_grad = any(rg(t) for t in dyn_in)
        nc.weight_grad = trainable(1)
        nc.bwd_elem_ops = b * y if (nc.input_grad or nc.weight_grad) else 0
    elif op in BINARY:
        nc.kind = "elementwise"
        n_in = len([t for t in ins if t])
        nc.elem_ops = max(1, n_in - 1) * y
        nc.input_grad = any(rg(t) for t in dyn_in)
        nc.weight_grad = any(trainable(p) for p in range(len(ins)))
        nc.bwd_elem_ops = y * sum(1 for p, t in enumerate(ins) if t and (rg(t) or trainable(p)))
    elif op in POOL:
        nc.kind = "pool"
        kernel = _attr(node, "kernel_shape", [])
        nc.elem_ops = y * (math.prod(kernel) if kernel else 1)
        nc.input_grad = rg(ins[0])
        if nc.input_grad:
            nc.bwd_elem_ops = _numel(info[ins[0]]) if op == "MaxPool" else nc.elem_ops
    elif op in GLOBAL_POOL or op in REDUCE:
        nc.kind = "pool" if op in GLOBAL_POOL else "reduce"
        nc.elem_ops = _numel(info[ins[0]])
        nc.input_grad = rg(ins[0])
        nc.bwd_elem_ops = nc.elem_ops if nc.input_grad else 0
    elif op in NORM:
        nc.kind = "norm"
        f, b = NORM[op]
        x = _numel(info[ins[0]])
        nc.elem_ops = f * x
        nc.input_grad = rg(ins[0])
        nc.weight_grad = trainable(1) or trainable(2)
        nc.bwd_elem_ops = (b * x if nc.input_grad else 0) + (2 * x if nc.weight_grad else 0)
    elif op == "LRN":
        nc.kind = "norm"
        nc.elem_ops = y * (int(_attr(node, "size", 1)) + 3)
        nc.input_grad = rg(ins[0])
        nc.bwd_elem_ops = 2 * nc.elem_ops if nc.input_grad else 0
    elif op in SOFTMAX:
        nc.kind = "softmax"
        f, b = SOFTMAX[op]
        nc.elem_ops = f * y
        nc.input_grad = rg(ins[0])
        nc.bwd_elem_ops = b * y if nc.input_grad else 0
    elif op in RESIZE:
        nc.kind = "resize"
        mode = _attr(node, "mode", b"nearest")
        mode = mode.decode() if isinstance(mode, bytes) else str(mode)
        nc.elem_ops = y * (1 if mode == "nearest" else 4 if mode == "linear" else 16)
        nc.input_grad = rg(ins[0])
        nc.bwd_elem_ops = nc.elem_ops if nc.input_grad else 0
    elif op in MOVEMENT:
        nc.kind = "movement"
        nc.input_grad = any(rg(t) for t in dyn_in)
    else:
        nc.unknown, nc.note = True, UNKNOWN_WARNING
        return nc
    if nc.input_grad or nc.weight_grad:
        # read dY; write dX; read the saved input and write dW for weight gradients; read W for dX
        nc.bwd_bytes = nc.out_bytes
        if nc.input_grad:
            nc.bwd_bytes += nc.in_bytes + nc.weight_bytes
            if nc.kind in SAVES_INPUT:  # the activation saved in the forward pass, read again (ReLU's mask,
                nc.bwd_bytes += nc.in_bytes  # max-pooling's argmax, a norm's statistics source)
        if nc.weight_grad:
            nc.bwd_bytes += nc.in_bytes + nc.weight_bytes
    return nc


# ---- spec layers ------------------------------------------------------------------------------------------------

ANCHORS = {"conv2d": {"Conv"}, "maxpool2d": {"MaxPool"},
           "globalavgpool2d": {"GlobalAveragePool", "ReduceMean", "AveragePool"},
           "flatten": {"Flatten", "Reshape"}, "dense": {"Gemm", "MatMul"}, "dropout": {"Dropout"},
           "batchnorm": {"BatchNormalization"}}
OPTIONAL = {"dropout", "batchnorm", "flatten"}  # exporters drop or fuse these


def map_to_spec(cost: ModelCost, spec) -> list[dict]:
    """Assign every counted node to the spec layer it implements; the per-layer sums.

    Spec models are sequential: a node whose operator is the next layer's anchor
    (Conv for conv2d, Gemm/MatMul for dense...) starts that layer; activations,
    bias adds and layout transposes join the layer before them. Nodes before the
    first anchor (input layout changes) stay unmapped.
    """
    layers = spec.layers
    nxt, cur = 0, None
    for n in cost.nodes:
        k = nxt
        while k < len(layers):
            if n.op in ANCHORS.get(layers[k].type, ()):
                break
            if layers[k].type in OPTIONAL:
                k += 1
                continue
            k = len(layers)
        if k < len(layers):
            cur, nxt = k, k + 1
        n.layer = cur
    rows = []
    for i, layer in enumerate(layers):
        mine = [n for n in cost.nodes if n.layer == i]
        rows.append(_layer_row(i, f"{i}:{layer.type}", layer.type, mine, cost.batch, list(layer.out_shape),
                               layer.num_params))
    pre = [n for n in cost.nodes if n.layer is None]
    if pre and any(n.macs or n.elem_ops for n in pre):
        rows.insert(0, _layer_row(None, "input layout", "layout", pre, cost.batch, [], 0))
    return rows


def _layer_row(index, name, type_, nodes, batch, out_shape, params) -> dict:
    return {"index": index, "name": name, "type": type_, "onnx_nodes": [n.name for n in nodes],
            "ops": "+".join(dict.fromkeys(n.op for n in nodes)) or "-", "out_shape": out_shape, "params": params,
            "macs_per_sample": sum(n.macs for n in nodes) / batch,
            "macs": sum(n.macs for n in nodes), "flops": 2 * sum(n.macs for n in nodes),
            "elem_ops": sum(n.elem_ops for n in nodes), "bwd_macs": sum(n.bwd_macs for n in nodes),
            "bwd_elem_ops": sum(n.bwd_elem_ops for n in nodes),
            "input_grad": any(n.input_grad for n in nodes if n.kind in ("conv", "matmul")),
            "bytes": sum(n.bytes for n in nodes), "bwd_bytes": sum(n.bwd_bytes for n in nodes),
            "unknown": [n.op for n in nodes if n.unknown]}


# ---- fused groups -----------------------------------------------------------------------------------------------

FUSABLE = ("activation", "norm", "elementwise", "softmax", "movement")


def fused_groups(cost: ModelCost) -> list[dict]:
    """Nodes grouped as runtimes fuse them: a node joins the group of the node that produces its first
    activation input when it is an activation, normalisation, element-wise or data-movement node and the
    only consumer of that tensor (Conv + BatchNormalization + Relu is one group). Times that a runtime
    reports under one fused node's name are then attributed to the whole group."""
    producer: dict[str, int] = {}
    consumers: dict[str, int] = {}
    for i, n in enumerate(cost.nodes):
        for t in n.inputs:
            consumers[t] = consumers.get(t, 0) + 1
        for t in n.outputs:
            producer[t] = i
    group_of: list[int] = []
    groups: list[list[int]] = []
    for i, n in enumerate(cost.nodes):
        src = producer.get(n.inputs[0]) if n.inputs else None
        if (n.kind in FUSABLE and not n.unknown and src is not None and consumers.get(n.inputs[0]) == 1):
            g = group_of[src]
        else:
            g = len(groups)
            groups.append([])
        groups[g].append(i)
        group_of.append(g)
    out = []
    for members in groups:
        ns = [cost.nodes[i] for i in members]
        out.append({"name": ns[0].name, "nodes": [n.name for n in ns],
                    "ops": "+".join(n.op + (" [UNKNOWN]" if n.unknown else "") for n in ns),
                    "out_shape": ns[-1].out_shape, "macs": sum(n.macs for n in ns),
                    "elem_ops": sum(n.elem_ops for n in ns), "bytes": sum(n.bytes for n in ns),
                    "bwd_macs": sum(n.bwd_macs for n in ns), "unknown": any(n.unknown for n in ns)})
    return out


def warn_unknown(cost: ModelCost, stream=None) -> None:
    """One visible warning line per unknown operator type."""
    stream = stream or sys.stderr
    for op in cost.unknown_ops:
        k = sum(1 for n in cost.nodes if n.unknown and n.op == op)
        print(f"warning: {cost.source}: {k} {op} node(s) not counted (unknown to xbench's counter); "
              f"totals are a lower bound", file=stream)
