"""Benchmark any ONNX file with ONNX Runtime, as an xbench results file.

Inputs are generated from the declared shapes and types (floats uniform in [0, 1),
integers zero). Dimension 0 is the batch: a symbolic batch takes --batch-size (default
1); a model built for a fixed batch runs at that batch, and asking for another is an
error. Any other symbolic dimension needs --shape NAME=D1xD2x... (the whole shape).

Every record carries the counted forward FLOPs (2 x MACs), achieved GFLOP/s, fraction
of this machine's measured peak and a roofline verdict; --json writes the records in
the xbench results schema (framework null, model = the file name), so `xbench report`
renders them beside the suite's.
"""

from __future__ import annotations

import sys
import time

from xbench.commands._common import check_json_out, positive_float, positive_int
from xbench.errors import first_line

HELP = "benchmark any ONNX file with ONNX Runtime (results in the xbench schema)"
ORDER = 41


def add_arguments(p) -> None:
    p.add_argument("onnx", metavar="PATH.onnx", help="the ONNX model file")
    p.add_argument("--provider", action="append", metavar="NAME",
                   help="ONNX Runtime execution provider, long or short name (cpu, cuda); repeatable or "
                        "comma-separated (default: cpu)")
    p.add_argument("--batch-size", type=positive_int, nargs="+", metavar="B",
                   help="batch size(s) (default: 1, or the model's fixed batch)")
    p.add_argument("--shape", action="append", metavar="NAME=D1xD2x...",
                   help="concrete shape of an input with symbolic non-batch dimensions (repeatable)")
    p.add_argument("--budget", type=positive_float, default=2.0, metavar="S", help="seconds of timing per case (default: 2)")
    p.add_argument("--json", metavar="PATH", help="write the results file (xbench results schema) here")


def run(args) -> int:
    from xbench import machine
    from xbench.bench import timing
    from xbench.explain import cost as costmod
    from xbench.explain import roofline
    from xbench.export.onnxfile import load_model, make_feeds, parse_shape_args, resolve_inputs
    from xbench.records import Record, results_document, write_results
    from xbench.runtimes.onnxruntime import (ProviderUnavailable, make_session, provider_option,
                                             session_config, session_record)

    check_json_out(args.json)
    model = load_model(args.onnx)
    name = args.onnx.replace("\\", "/").rsplit("/", 1)[-1]
    shapes = parse_shape_args(args.shape)
    providers = provider_option(args.provider)
    batches = args.batch_size or [None]
    resolved = [resolve_inputs(model, b, shapes, source=name) for b in batches]  # every bad input before any run
    created = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    ceil = roofline.measure_in_subprocess()  # as the suite does: no framework imported here, no warm threads
    roofline.use(ceil)
    records = []
    for (inputs, batch) in resolved:
        c = costmod.count(model, batch, shapes, source=name)
        costmod.warn_unknown(c)
        flops, bytes_min, bytes_layers = c.task_cost("inference")
        feeds = make_feeds(inputs)
        dtype = inputs[0].dtype
        for provider in providers:
            identity = dict(task="inference", framework=None, runtime="onnxruntime", provider=provider, model=name,
                            batch_size=batch, dtype=dtype, variant="default")
            config = session_config(provider)
            try:
                session = make_session(args.onnx, config)
            except ProviderUnavailable as exc:
                records.append(Record(status="skipped", reason=str(exc), **identity))
                print(f"skipped {provider} batch {batch}: {exc}", file=sys.stderr)
                continue
            try:
                timed = timing.measure(lambda: session.run(None, feeds), args.budget, min_rounds=3)
            except Exception as exc:  # ORT rejects the inputs or fails in a kernel: recorded, not a traceback
                msg = first_line(exc)
                records.append(Record(status="error", reason=f"{type(exc).__name__}: {msg}"[:500], **identity))
                print(f"error {provider} batch {batch}: {msg}", file=sys.stderr)
                continue
            rec = Record.measured(timed.samples, 1, **identity)
            rec.first_call_s = timed.first_call_s
            fields = roofline.annotate(flops, bytes_min, rec.stats.median, roofline.device_ceiling(ceil, provider),
                                       bytes_layers=bytes_layers, batch=batch)
            rec.extra = {"session": session_record(session, config), "warmup_calls": timed.warmup_calls,
                         "onnx_file": str(args.onnx),
                         "inputs": [i.to_dict() for i in inputs], "input_generation": "uniform [0, 1) floats, zero ints",
                         **fields,
                         "cost": {"flops_per_batch": flops, "flops": "forward (2 x MACs)",
                                  "macs_per_sample_forward": c.macs_per_sample, "bytes_min_per_batch": bytes_min,
                                  "bytes_layers_per_batch": bytes_layers, "complete": c.complete,
                                  "unknown_ops": c.unknown_ops}}
            records.append(rec)
    _print(records)
    if args.json:
        doc = results_document(machine.collect({"ceiling": ceil, "data": "generated inputs (xbench infer)"}), records,
                               created)
        write_results(args.json, doc)
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


def _print(records) -> None:
    from xbench.report import fmt
    from xbench.report.text import render_table

    rows = []
    for r in records:
        if r.status != "ok":
            rows.append([r.model, r.provider, str(r.batch_size), r.status, "-", "-", "-", "-", (r.reason or "")[:60]])
            continue
        e = r.extra
        frac = e.get("fraction_of_peak")
        rows.append([r.model, r.provider, str(r.batch_size), "ok", fmt.duration(r.stats.median, decimals=3),
                     fmt.rate(r.throughput, decimals=1), f"{fmt.human(e['cost']['flops_per_batch'])}FLOP",
                     f"{e['achieved_gflops']:.2f} GFLOP/s" + (f" ({100 * frac:.1f}% of peak)" if frac is not None else ""),
                     e.get("verdict") or "-"])
    print(render_table(["model", "provider", "batch", "status", "median", "throughput", "work/batch", "achieved",
                        "verdict"], rows))
