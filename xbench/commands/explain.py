"""Why is it slow? For a model spec (--model NAME) or any ONNX file (PATH.onnx):

  * the operation count per layer (multiply-accumulates; FLOPs = 2 x MACs), per sample
    and per batch, forward and training (backward counted per layer type);
  * this machine's ceiling: fp32 matmul rate and memory bandwidth (measured, <= 5 s);
  * measured time per layer per runtime (ONNX Runtime's profiler, torch.profiler for
    the PyTorch train step, per-layer timing for Keras), achieved GFLOP/s, fraction of
    peak and a roofline verdict (overhead-, memory- or compute-bound);
  * the layers that dominate, and a plain-language answer to "why does this CNN take
    this long to train here".

--json writes everything, with total_macs (per sample, forward) at the top level.
"""

from __future__ import annotations

import sys

from xbench.commands._common import check_json_out, data_arg, positive_float, positive_int, write_json
from xbench.errors import UserError

HELP = "why is it slow: op counts, the machine's ceiling, per-layer times, a verdict"
ORDER = 40


def add_arguments(p) -> None:
    p.add_argument("onnx", nargs="?", metavar="PATH.onnx", help="any ONNX model file (instead of --model)")
    p.add_argument("--model", metavar="NAME", help="model spec: a name from models/ or a path to a spec .json")
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help="batch size (default: 32 for a spec; for an ONNX file 1, or its fixed batch)")
    p.add_argument("--shape", action="append", metavar="NAME=D1xD2x...",
                   help="concrete shape of an ONNX input with symbolic non-batch dimensions (repeatable)")
    p.add_argument("--runtimes", default="onnxruntime,torch,keras", metavar="LIST",
                   help="for a spec: which of onnxruntime, torch, keras to time (default: all three)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="device for the frameworks and ONNX Runtime (default: cpu)")
    p.add_argument("--provider", action="append", metavar="NAME",
                   help="for an ONNX file: ONNX Runtime provider(s), long or short names (default: cpu; repeatable)")
    p.add_argument("--budget", type=positive_float, default=1.0, metavar="S",
                   help="seconds of timing per measurement (default: 1.0)")
    p.add_argument("--limit", type=positive_int, default=40, help="rows of the per-node table for ONNX files (default: 40)")
    data_arg(p)
    p.add_argument("--json", metavar="PATH", help="write the whole report as JSON here")


def run(args) -> int:
    from xbench import explain

    check_json_out(args.json)
    if bool(args.onnx) == bool(args.model):
        raise UserError("give either --model NAME or an ONNX file path (one of them)")
    log = lambda msg: print(f"[explain] {msg}", file=sys.stderr)  # noqa: E731
    if args.onnx:
        from xbench.onnxfile import parse_shape_args
        from xbench.runtimes.onnxruntime import known_providers, long_name

        if not args.onnx.lower().endswith(".onnx") and args.onnx.lower().endswith(".json"):
            raise UserError(f"{args.onnx}: looks like a model spec; use --model {args.onnx}")
        providers = args.provider or ["cpu"]
        if args.device == "cuda" and not args.provider:
            providers = ["cuda"]
        known = known_providers()
        for p in providers:
            if long_name(p) not in known:
                raise UserError(f"--provider: unknown provider {p!r}; known to this ONNX Runtime: {', '.join(known)} "
                                "(short names: cpu, cuda)")
        report = explain.explain_onnx(args.onnx, args.batch_size, parse_shape_args(args.shape), providers,
                                      budget_s=args.budget, log=log)
        for op in report["unknown_ops"]:
            print(f"warning: {report['model']}: operator {op} is unknown to xbench's counter; its cost is not "
                  f"included (totals are a lower bound)", file=sys.stderr)
    else:
        from xbench.data import load_mnist
        from xbench.spec import load_spec

        if args.shape:
            raise UserError("--shape applies to ONNX files; a spec has fixed shapes")
        spec = load_spec(args.model)
        runtimes = [r.strip() for r in args.runtimes.split(",") if r.strip()]
        bad = [r for r in runtimes if r not in explain.RUNTIMES]
        if bad or not runtimes:
            raise UserError(f"--runtimes: unknown {', '.join(bad) or '(none given)'}; valid: {', '.join(explain.RUNTIMES)}")
        data = load_mnist(args.data, allow_download=False)
        report = explain.explain_spec(spec, args.batch_size or 32, runtimes, args.device, data, budget_s=args.budget,
                                      log=log)
    print(explain.render(report, limit=args.limit))
    write_json(args.json, explain.to_json(report))
    return 0
