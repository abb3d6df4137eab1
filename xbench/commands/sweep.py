"""Does the time follow the arithmetic? A scaling sweep over generated CNNs.

Varies one of input size, channels and depth at a time around a base CNN
(--size x --size x 1 input, --depth 3x3 'same' convolutions of --channels filters,
global average pooling, Dense(10)), counts each model's FLOPs (2 x MACs, from its
ONNX export) and times ONNX Runtime inference and the PyTorch and Keras train steps
on real MNIST digits. Writes a log-log plot of measured time against counted FLOPs
per runtime with the fitted slope: 1 means time proportional to work, well below 1
means a fixed per-step overhead dominates. The default grid takes about a minute
on a 2-core CPU.
"""

from __future__ import annotations

import sys

from xbench.commands._common import check_json_out, data_arg, positive_float, positive_int, write_json
from xbench.errors import UserError

HELP = "scaling sweep: measured time vs counted FLOPs over input size, channels, depth (log-log plot)"
ORDER = 42


def _ints(text: str) -> tuple[int, ...]:
    import argparse

    try:
        vals = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}") from None
    if not vals or min(vals) <= 0:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return vals


def add_arguments(p) -> None:
    from xbench.training.sweep import AXES, BASE

    p.add_argument("--sizes", type=_ints, default=AXES["size"], metavar="LIST",
                   help=f"input sizes (default: {','.join(map(str, AXES['size']))})")
    p.add_argument("--channels", type=_ints, default=AXES["channels"], metavar="LIST",
                   help=f"filters per convolution (default: {','.join(map(str, AXES['channels']))})")
    p.add_argument("--depths", type=_ints, default=AXES["depth"], metavar="LIST",
                   help=f"number of convolutions (default: {','.join(map(str, AXES['depth']))})")
    p.add_argument("--base", default=f"{BASE['size']},{BASE['channels']},{BASE['depth']}", metavar="S,C,D",
                   help=f"the point the axes vary around: size,channels,depth (default: "
                        f"{BASE['size']},{BASE['channels']},{BASE['depth']})")
    p.add_argument("--batch-size", type=positive_int, default=32, help="batch size (default: 32)")
    p.add_argument("--runtimes", default="onnxruntime,torch,keras", metavar="LIST",
                   help="which of onnxruntime, torch, keras to time (default: all three)")
    p.add_argument("--budget", type=positive_float, default=0.5, metavar="S", help="seconds of timing per point (default: 0.5)")
    p.add_argument("--plot", default="sweep.png", metavar="PATH.png", help="plot to write (default: sweep.png)")
    data_arg(p)
    p.add_argument("--json", metavar="PATH", help="write points and fits as JSON here")


def run(args) -> int:
    from xbench.training import sweep
    from xbench.bench.timing import WARMUP_CALLS
    from xbench.explain import roofline
    from xbench.report import fmt
    from xbench.report.text import render_table
    from xbench.data import load_mnist
    from xbench.paths import check_output_path

    check_json_out(args.json)
    check_output_path(args.plot, "--plot")
    try:
        s, c, d = (int(v) for v in args.base.split(","))
        assert min(s, c, d) > 0
    except (ValueError, AssertionError):
        raise UserError(f"--base: expected size,channels,depth as positive integers, got {args.base!r}") from None
    runtimes = [r.strip() for r in args.runtimes.split(",") if r.strip()]
    bad = [r for r in runtimes if r not in sweep.RUNTIMES]
    if bad or not runtimes:
        raise UserError(f"--runtimes: unknown {', '.join(bad) or '(none given)'}; valid: {', '.join(sweep.RUNTIMES)}")
    pts = sweep.points({"size": args.sizes, "channels": args.channels, "depth": args.depths},
                       {"size": s, "channels": c, "depth": d})
    for p in pts:
        sweep.sweep_spec(p["size"], p["channels"], p["depth"])  # every bad point before any timing
    data = load_mnist(args.data, allow_download=False)
    print(f"sweep: {len(pts)} generated CNNs x {len(runtimes)} runtimes at batch {args.batch_size}", file=sys.stderr)
    ceil = roofline.measure_in_subprocess()  # as the suite and infer: no framework warmed up by it here
    roofline.use(ceil)
    rows = sweep.run_sweep(pts, args.batch_size, runtimes, data, args.budget,
                           log=lambda m: print(f"[sweep] {m}", file=sys.stderr))
    fits = sweep.fit(rows)
    cpu = roofline.device_ceiling(ceil, "cpu")
    sweep.plot(rows, fits, args.plot, cpu["matmul_gflops"] if cpu else None, args.batch_size)
    table = [[r["model"], r["axis"], r["runtime"], r["task"], f"{r['macs_per_sample']:,}",
              f"{fmt.human(r['flops'])}FLOP", fmt.duration(r["median_s"], decimals=3),
              f"{r['flops'] / r['median_s'] / 1e9:.2f}"] for r in rows]
    print(render_table(["model", "varies", "runtime", "task", "MACs/sample", "FLOPs/batch", "time/batch", "GFLOP/s"],
                       table))
    for rt, f in fits.items():
        print(f"{rt} {f['task']}: time ~ FLOPs^{f['slope']:.2f} (R^2 {f['r2']:.2f}, {f['points']} points)"
              + ("  -> close to proportional: compute-bound" if f["slope"] > 0.8 else
                 "  -> well below 1: fixed per-step overhead dominates" if f["slope"] < 0.6 else ""))
    print(f"wrote {args.plot}", file=sys.stderr)
    write_json(args.json, {"batch_size": args.batch_size, "base": {"size": s, "channels": c, "depth": d},
                           "ceiling": ceil, "points": rows, "fits": fits, "warmup_calls": WARMUP_CALLS,
                           "flops_definition": "FLOPs = 2 x MACs; train steps use forward + backward FLOPs"})
    return 0
