"""Why is it slow? For a model spec (--model NAME), any ONNX file (PATH.onnx) or a results file (--results):

  * the operation count per layer (multiply-accumulates; FLOPs = 2 x MACs), per sample
    and per batch, forward and training; two memory floors (compulsory traffic, and the
    layer-by-layer traffic of unfused execution) and the arithmetic intensity on both;
  * this machine's ceiling: fp32 matmul rate and memory bandwidth (measured in a subprocess);
  * every runtime timed at several batch sizes (blocks, a fresh model or session each) and
    t = fixed + per-sample x batch fitted: fixed_s, per_sample_s, fixed_fraction, R²;
  * per-layer times (ONNX Runtime's profiler, torch.profiler, Keras per layer less an
    empty call), and a verdict with its rule and numbers: fixed-cost-bound,
    compute-bound, memory-bound or below-roofline (with the layers responsible).

--runtimes keras-jax,keras-torch adds Keras on JAX and on PyTorch (not in the default):
Keras's backend is fixed per process, so each runs in an `xbench explain` child of its
own backend with the same settings, merged into this report before the verdicts. Keras
on PyTorch is profiled with torch.profiler; Keras on JAX has no per-layer times (one
XLA program), only the fit and the verdict.

--results FILE does the fit and the verdicts for a results file's own batch sizes (no
ML framework imported). --json writes everything. The library is xbench.explain.
"""

from __future__ import annotations

import sys

from xbench.commands._common import check_json_out, data_arg, positive_float, positive_int, write_json
from xbench.errors import UserError

HELP = "why is it slow: op counts, the machine's ceiling, per-layer times, a verdict"
ORDER = 40


def add_arguments(p) -> None:
    p.add_argument("onnx", nargs="?", metavar="PATH.onnx", help="any ONNX model file (instead of --model)")
    p.add_argument("--model", metavar="NAME", help="model spec: a name from models/ or a path to a spec .json; or your "
                                                   "own FILE.keras or FILE.py:function (its ONNX export is explained "
                                                   "in ONNX Runtime; --data: its .npz, docs/own-model.md)")
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help="batch size (default: 32 for a spec; for an ONNX file 1, or its fixed batch)")
    p.add_argument("--shape", action="append", metavar="NAME=D1xD2x...",
                   help="concrete shape of an ONNX input with symbolic non-batch dimensions (repeatable)")
    p.add_argument("--runtimes", default="onnxruntime,torch,keras", metavar="LIST",
                   help="for a spec: which of onnxruntime, torch, keras (Keras on TensorFlow), keras-jax, keras-torch "
                        "to time (default: onnxruntime,torch,keras; add the Keras backends by name, e.g. "
                        "onnxruntime,torch,keras,keras-jax,keras-torch: each Keras backend other than this "
                        "process's runs in a process of its own with the same settings, merged into this report)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="device for the frameworks and ONNX Runtime (default: cpu)")
    p.add_argument("--provider", action="append", metavar="NAME",
                   help="for an ONNX file: ONNX Runtime provider(s), long or short names (default: cpu; repeatable "
                        "or comma-separated)")
    p.add_argument("--budget", type=positive_float, default=1.0, metavar="S",
                   help="seconds of timing per measurement (default: 1.0)")
    p.add_argument("--blocks", type=positive_int, default=3, metavar="N",
                   help="blocks per batch size, each with a fresh model or session (default: 3)")
    p.add_argument("--fit-batches", metavar="LIST",
                   help="batch sizes for the fixed/per-sample fit, comma-separated (default: batch/8, /4, /2 and "
                        "the batch; at least 3 distinct sizes)")
    p.add_argument("--results", metavar="FILE", help="a results file: fit and verdicts from its own batch sizes")
    p.add_argument("--limit", type=positive_int, default=40, help="rows of the per-node table for ONNX files (default: 40)")
    data_arg(p)
    p.add_argument("--json", metavar="PATH", help="write the whole report as JSON here")


def _fit_batches(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        sizes = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        sizes = []
    if not sizes or min(sizes) <= 0:
        raise UserError(f"--fit-batches: positive integers separated by commas, got {text!r}")
    return sizes


def run(args) -> int:
    check_json_out(args.json)
    if args.results:
        if args.onnx or args.model:
            raise UserError("--results FILE explains a results file; give it without --model or an ONNX path")
        from xbench.explain import results
        from xbench.schema import read_results

        report = results.explain_results(read_results(args.results), source=args.results)
        print(results.render(report))
        write_json(args.json, report)
        return 0
    from xbench import explain

    if bool(args.onnx) == bool(args.model):
        raise UserError("give either --model NAME or an ONNX file path (one of them), or --results FILE")
    batches = _fit_batches(args.fit_batches)
    log = lambda msg: print(f"[explain] {msg}", file=sys.stderr)  # noqa: E731
    from xbench.usermodel import is_file_model

    if args.model and is_file_model(args.model) and not args.model.endswith(".onnx"):
        report = _explain_user_model(args, batches, log)
    elif args.onnx or (args.model and args.model.endswith(".onnx")):
        args.onnx = args.onnx or args.model
        from xbench.export.onnxfile import parse_shape_args
        from xbench.runtimes.onnxruntime import provider_option

        if not args.onnx.lower().endswith(".onnx") and args.onnx.lower().endswith(".json"):
            raise UserError(f"{args.onnx}: looks like a model spec; use --model {args.onnx}")
        providers = provider_option(args.provider, "cuda" if args.device == "cuda" else "cpu")
        report = explain.explain_onnx(args.onnx, args.batch_size, parse_shape_args(args.shape), providers,
                                      budget_s=args.budget, log=log, blocks=args.blocks, batches=batches)
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
                                      log=log, blocks=args.blocks, batches=batches, child=_child(args))
    print(explain.render(report, limit=args.limit))
    write_json(args.json, explain.to_json(report))
    return 0


def _explain_user_model(args, batches, log) -> dict:
    """A user's Keras file or torch module: exported to ONNX (checked against the framework on the data's test
    inputs, ``xbench.export``), then explained as an ONNX file in ONNX Runtime. The framework itself is not timed
    here (the suite's rows time it)."""
    import tempfile
    from pathlib import Path

    from xbench import explain, frameworks, usermodel
    from xbench.bench.cases import fresh_model
    from xbench.export import export
    from xbench.runtimes.onnxruntime import provider_option

    if args.shape:
        raise UserError("--shape applies to ONNX files; a model file has its own input shape")
    model = usermodel.resolve(args.model)
    data = usermodel.load_data(args.data, model)
    providers = provider_option(args.provider, "cuda" if args.device == "cuda" else "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{model.path.stem}.{model.kind}.onnx"
        log(f"exporting {model.identity} from {frameworks.get(model.kind).display} to ONNX")
        export(model.kind, model, path, model=fresh_model(model.kind, model),
               inputs=usermodel.channels_last(model, data.x_test))
        report = explain.explain_onnx(path, args.batch_size or 32, None, providers, budget_s=args.budget, log=log,
                                      blocks=args.blocks, batches=batches)
    report["model"] = f"{model.identity} (its {frameworks.get(model.kind).display} export, in ONNX Runtime)"
    return report


def _child(args):
    """``explain_spec``'s ``child``: this command for one Keras runtime alone, in a process of its backend (same
    model, batch, batch sizes, budget, blocks, device and data; threads by the inherited ``XBENCH_THREADS``; this
    process's ceiling), its JSON report read back."""
    def run_child(runtime: str, batches: list[int]) -> dict:
        import json
        import tempfile
        from pathlib import Path

        from xbench import frameworks
        from xbench.commands._backend_child import run_child as launch
        from xbench.explain import roofline
        from xbench.explain.analysis import CEILING_ENV

        backend = frameworks.get(runtime).backend
        with tempfile.TemporaryDirectory(prefix="xbench-explain-child-") as tmp:
            out, ceiling = Path(tmp) / "report.json", Path(tmp) / "ceiling.json"
            ceiling.write_text(json.dumps(roofline.ceiling()))
            argv = ["--model", args.model, "--batch-size", str(args.batch_size or 32), "--runtimes", runtime,
                    "--device", args.device, "--budget", repr(args.budget), "--blocks", str(args.blocks),
                    "--fit-batches", ",".join(map(str, batches)), "--json", str(out),
                    *(["--data", args.data] if args.data else [])]
            launch("explain", argv, runtime, backend, out, env={CEILING_ENV: str(ceiling)})
            return json.loads(out.read_text())
    return run_child
