"""Export a model spec from Keras or PyTorch to ONNX (opset 18, dynamic batch).

Uses the trained weights that `xbench train` saved when present, else a model
freshly initialised with --seed. The file is written only after onnx.checker
passes and ONNX Runtime (CPU) matches the framework's output within 1e-4 on real
MNIST images at batch 1 and 64.
"""

from __future__ import annotations

from xbench.commands._common import data_arg, framework_arg, model_arg

HELP = "export a model to ONNX and check it against the framework"
ORDER = 20


def add_arguments(p) -> None:
    framework_arg(p)
    model_arg(p)
    p.add_argument("--out", required=True, metavar="PATH.onnx", help="ONNX file to write")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset (default: 18, tf2onnx's highest)")
    p.add_argument("--seed", type=int, default=0, help="seed when no trained weights exist (default: 0)")
    data_arg(p)


def run(args) -> int:
    from xbench.data import load_mnist
    from xbench.export import export
    from xbench.paths import check_output_path
    from xbench.spec import load_spec

    spec = load_spec(args.model)
    check_output_path(args.out, "--out")
    result = export(args.framework, spec, args.out, opset=args.opset, seed=args.seed,
                    data=load_mnist(args.data, allow_download=False))
    print(result.summary())
    return 0
