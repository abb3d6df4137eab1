"""Serve the suite's inference rows under load: MLPerf LoadGen's SingleStream, Offline and Server scenarios, and
its AccuracyOnly mode, one process per row (docs/serve.md).

Rows: every inference row of --model on the CPU for --runtimes x --dtypes (ONNX Runtime, OpenVINO, the native
frameworks), the ONNX rows on --framework's export. Each row's prepared callables come from the suite's factory
with trained weights. SingleStream: one query at a time, p90 (LoadGen's early-stopping estimate and the measured
one), in --pairs pairs with the suite's closed loop at batch 1 in the same process, judged against the no-op SUT.
Offline: all samples at once, in batches of --offline-batch. Server: Poisson arrivals; the highest QPS whose p99
stays within --latency-bound, found by a search over QPS (each probe one LoadGen run), with and without a dynamic
batcher (--max-batch, --max-wait-ms).
accuracy: LoadGen's AccuracyOnly run over the test set; its top-1 must equal the row's accuracy in the suite.
A no-op SUT under the same settings states what LoadGen and the Python SUT cost on their own.

CI-sized by default: each run >= --min-duration-ms (1000) and a per-scenario minimum query count (SingleStream
256, Server 2048, Offline 1); --mlperf-defaults takes LoadGen's mlperf.conf instead (600 s per run).
LoadGen's summary and detail logs are kept beside the results file, in <results name>.loadgen/.
"""

from __future__ import annotations

import sys

from xbench.commands._common import (check_json_out, data_arg, framework_choice, model_arg, positive_float,
                                     positive_int)

HELP = "serve inference rows under MLPerf LoadGen (SingleStream, Offline, Server QPS search, accuracy)"
ORDER = 42
DEFAULT_RUNTIMES = "onnxruntime,openvino"
DEFAULT_DTYPES = "float32,int8"


def add_arguments(p) -> None:
    from xbench.serve.loadgen import CHOICES

    model_arg(p)
    p.add_argument("--runtimes", default=DEFAULT_RUNTIMES, metavar="A,B",
                   help=f"runtimes and native frameworks, comma-separated (default: {DEFAULT_RUNTIMES})")
    p.add_argument("--dtypes", default=DEFAULT_DTYPES, metavar="A,B",
                   help=f"precisions, comma-separated (default: {DEFAULT_DTYPES})")
    p.add_argument("--variants", metavar="A,B", help="only these row variants (default: every variant of a row)")
    p.add_argument("--framework", type=framework_choice, default="torch",
                   help="whose ONNX export the runtime rows run (default: torch)")
    p.add_argument("--scenarios", default=",".join(CHOICES), metavar="A,B",
                   help=f"comma-separated, of {', '.join(CHOICES)} (default: all)")
    p.add_argument("--latency-bound", type=positive_float, default=10.0, metavar="MS",
                   help="Server: the p99 latency bound in milliseconds (default: 10)")
    p.add_argument("--offline-batch", type=positive_int, default=128, metavar="B", help="Offline batch (default: 128)")
    p.add_argument("--max-batch", type=positive_int, default=32, metavar="B",
                   help="the dynamic batcher's largest batch (default: 32)")
    p.add_argument("--max-wait-ms", type=positive_float, default=2.0, metavar="MS",
                   help="the dynamic batcher's wait after a batch's first sample (default: 2)")
    p.add_argument("--no-batcher", action="store_true", help="Server without the dynamic batcher variant")
    p.add_argument("--no-noop", action="store_true",
                   help="skip the no-op SUT's own row (LoadGen's own overhead in every scenario); SingleStream's "
                        "pairs still run it beside each row")
    p.add_argument("--start-qps", type=positive_float, default=500.0, metavar="Q",
                   help="Server search: the lowest QPS, probed first (default: 500)")
    p.add_argument("--max-qps", type=positive_float, default=256000.0, metavar="Q",
                   help="Server search: the highest QPS probed (default: 256000)")
    p.add_argument("--pairs", type=positive_int, default=6, metavar="N",
                   help="SingleStream: a closed loop as long as one LoadGen run, then the run, N times in the row's "
                        "process; LoadGen's p90 is judged against the closed loop's on these pairs (default: 6; "
                        "fewer cannot reach a 95 %% interval, so give no verdict)")
    p.add_argument("--min-duration-ms", type=positive_int, default=1000, metavar="MS",
                   help="LoadGen's min_duration per run (default: 1000; CI-sized)")
    p.add_argument("--mlperf-defaults", action="store_true",
                   help="LoadGen's mlperf.conf settings (600 s per run) instead of the CI-sized ones")
    data_arg(p)
    p.add_argument("--json", metavar="PATH", help="write the serve records (xbench results schema) here")


def _list(text: str, valid, what: str) -> tuple[str, ...]:
    from xbench.errors import UserError

    items = tuple(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
    bad = [v for v in items if v not in valid]
    if bad or not items:
        raise UserError(f"--{what}: unknown {', '.join(map(repr, bad)) or 'empty list'}; valid: {', '.join(valid)}")
    return items


def options(args):
    from xbench.errors import UserError
    from xbench.serve import loadgen
    from xbench.serve.rows import Options

    if args.start_qps > args.max_qps:
        raise UserError(f"--start-qps {args.start_qps:g} is above --max-qps {args.max_qps:g}")
    settings = loadgen.Settings.mlperf() if args.mlperf_defaults else loadgen.Settings(args.min_duration_ms)
    return Options(scenarios=_list(args.scenarios, loadgen.CHOICES, "scenarios"), settings=settings,
                   bound_s=args.latency_bound / 1e3, offline_batch=args.offline_batch, max_batch=args.max_batch,
                   max_wait_s=args.max_wait_ms / 1e3, batcher=not args.no_batcher, start_qps=args.start_qps,
                   max_qps=args.max_qps, pairs=args.pairs)


def plan(args) -> tuple[str, list, object]:
    """The model's name, its rows and the LoadGen options these arguments ask for (``UserError`` if bad): what
    this command serves, and the suite's serve stage (``xbench.bench.serve_stage``) too."""
    from xbench.bench import cases
    from xbench.errors import UserError
    from xbench.precision import DTYPES
    from xbench.serve import launch
    from xbench.spec import load_spec

    opts = options(args)
    runtimes = _list(args.runtimes, cases.runtime_names(), "runtimes")
    dtypes = _list(args.dtypes, DTYPES, "dtypes")
    spec = load_spec(args.model)
    rows = launch.rows(spec.name, args.framework, runtimes, dtypes)
    if args.variants:
        rows = [r for r in rows if r.variant in _list(args.variants, sorted({r.variant for r in rows}), "variants")]
    if not rows:
        raise UserError(f"no inference row of {spec.name} on the CPU for runtimes {','.join(runtimes)} and dtypes "
                        f"{','.join(dtypes)}")
    return spec.name, rows, opts


def run(args) -> int:
    from xbench.serve import launch

    check_json_out(args.json)
    model, rows, opts = plan(args)
    doc = launch.serve(rows, opts, model=model, data=args.data, noop=not args.no_noop, json_path=args.json,
                       progress=lambda line: print(line, file=sys.stderr))
    _print(doc["records"])
    return 0


def _print(records) -> None:
    from xbench.report import fmt
    from xbench.report.text import render_table

    out = []
    for r in records:
        s = r.get("serve") or {}
        lg = s.get("loadgen") or {}
        lat = lg.get("latency_s") or {}
        search = s.get("search") or {}
        verdict = ("—" if lg.get("valid") is None else "VALID" if lg.get("valid") else "INVALID")
        answer = (f"{search['qps']:g} QPS" if search.get("qps") else search.get("status", "")) if search else ""
        if s.get("accuracy"):
            answer = f"top-1 {s['accuracy']['loadgen_top1']:.2%} (suite {s['accuracy']['suite_top1']:.2%})"
        out.append([r["runtime"], r["dtype"], r["variant"], r["status"] if r["status"] != "ok" else verdict,
                    *(fmt.duration(lat[k], decimals=3) if lat.get(k) else "—" for k in ("p50", "p90", "p99")),
                    fmt.rate(r["throughput"], decimals=1) if r.get("throughput") else "—",
                    answer or (r.get("reason") or "")[:60]])
    print(render_table(["runtime", "dtype", "variant:scenario", "LoadGen", "p50", "p90", "p99", "achieved",
                        "answer"], out))
