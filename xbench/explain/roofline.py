"""The machine's own ceiling, and where a measured time sits under it.

``ceiling()`` measures, in at most ~5 s, this machine's fp32 matrix-multiply
rate (numpy, torch and ONNX Runtime's MatMul on square matrices, the best run of
the best library: on some CPUs ORT's MLAS kernels beat the BLAS of the others) and its memory
bandwidth (a large copy: bytes read + bytes written per second), on the CPU
and on each CUDA GPU torch can see. The result is cached for the process, so
a benchmark run measures it once and stores it in the results ``env``.

``annotate()`` places one measured time under that ceiling:

* ``achieved_gflops`` = counted FLOPs (2 x MACs) / measured seconds
* ``fraction_of_peak`` = achieved / the matmul rate, never above 1: a measurement that achieves more than
  the measured ceiling raises the ceiling to what it achieved (``ceiling_raised`` says so)
* ``arithmetic_intensity`` = FLOPs / compulsory bytes (weights, inputs, outputs; for a train step also
  gradients and Adam's state); ``arithmetic_intensity_layers`` = FLOPs / layer-by-layer bytes (every node
  reads its inputs and writes its outputs, as unfused execution does; training adds the backward pass)
* ``verdict``: the rules of :mod:`xbench.explain.verdict`. A single record has no fit over batch sizes, so
  its verdict is ``compute-bound`` / ``memory-bound`` when the whole time is within 4x of the layer-traffic
  floor, else ``unresolved``; ``xbench explain`` (and ``--results``) fit the fixed and per-sample cost.
"""

from __future__ import annotations

import time

BUDGET_S = 4.0  # of measuring; with library start-up the whole ceiling stays within ~5 s
MATMUL_SIZES = (1024, 2048)  # big enough for every library's best rate (some peak at 1024: cache), small enough for many rounds
_CEILING: dict | None = None


# ---- measuring ----------------------------------------------------------------------------------------------------

def _best(fn, sync=lambda: None, reps: int = 3, deadline: float = float("inf")) -> float:
    fn()
    sync()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
        if time.perf_counter() > deadline:
            break
    return best


def _cpu_ceiling(budget_s: float) -> dict:
    import numpy as np

    from xbench.bench import threads

    start = time.perf_counter()
    out: dict = {"device": "cpu", "threads": threads.count(), "matmul": {}, "copy": {}}
    kernels = {}
    for n in MATMUL_SIZES:
        a = np.random.default_rng(0).random((n, n), dtype=np.float32)
        b = np.random.default_rng(1).random((n, n), dtype=np.float32)
        kernels[f"numpy {n}^3"] = (2 * n**3, lambda a=a, b=b: a @ b)
    try:
        import torch

        torch.set_num_threads(threads.count())
        for n in MATMUL_SIZES:
            a, b = torch.rand(n, n), torch.rand(n, n)
            kernels[f"torch {n}^3"] = (2 * n**3, lambda a=a, b=b: torch.mm(a, b))
    except ImportError:
        pass
    kernels.update(_ort_matmuls(threads.count()))
    # Round-robin until 70% of the budget is spent, keeping each kernel's best: a machine shared with
    # other work gives its peak only in its quiet moments.
    matmul_deadline = start + 0.7 * budget_s
    best = {name: float("inf") for name in kernels}
    for _, fn in kernels.values():
        fn()
    timed = False  # every kernel is timed at least once, even when start-up (imports, sessions) on a busy
    while not timed or time.perf_counter() < matmul_deadline:  # machine has spent the budget already
        for name, (flop, fn) in kernels.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
            if timed and time.perf_counter() > matmul_deadline:
                break
        timed = True
    for name, (flop, _) in kernels.items():
        if best[name] < float("inf"):
            out["matmul"][name] = round(flop / best[name] / 1e9, 1)
    size = 64 * 2**20  # 64 MiB: far beyond any L2, and beyond most L3 slices
    src = np.ones(size // 4, np.float32)
    dst = np.empty_like(src)
    deadline = start + budget_s
    bws = []
    t = _best(lambda: np.copyto(dst, src), reps=5, deadline=deadline)
    bws.append(2 * src.nbytes / t / 1e9)
    out["copy"]["numpy copyto 64 MiB"] = round(bws[-1], 1)
    try:
        import torch

        s, d = torch.from_numpy(src), torch.from_numpy(dst)
        t = _best(lambda: d.copy_(s), reps=5, deadline=deadline)
        bws.append(2 * src.nbytes / t / 1e9)
        out["copy"]["torch copy_ 64 MiB"] = round(bws[-1], 1)
    except ImportError:
        pass
    out["matmul_gflops"] = max(out["matmul"].values())
    out["bandwidth_gbs"] = round(max(bws), 1)
    out["measure_s"] = round(time.perf_counter() - start, 2)
    return out


def _ort_matmuls(n_threads: int) -> dict:
    """ONNX Runtime's own MatMul (MLAS): on some CPUs it is faster than numpy's and torch's BLAS."""
    try:
        import numpy as np
        from onnx import TensorProto, helper

        from xbench.runtimes.onnxruntime import open_session, ort

        ort()
    except Exception:
        return {}
    out = {}
    for n in MATMUL_SIZES:
        graph = helper.make_graph(
            [helper.make_node("MatMul", ["a", "b"], ["c"])], "matmul",
            [helper.make_tensor_value_info(k, TensorProto.FLOAT, [n, n]) for k in ("a", "b")],
            [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
        try:
            sess = open_session(model.SerializeToString(), "cpu", intra_op_threads=n_threads)
        except Exception:
            return out
        feed = {"a": np.random.default_rng(0).random((n, n), dtype=np.float32),
                "b": np.random.default_rng(1).random((n, n), dtype=np.float32)}
        out[f"onnxruntime {n}^3"] = (2 * n**3, lambda sess=sess, feed=feed: sess.run(None, feed))
    return out


def _cuda_ceilings(budget_s: float) -> list[dict]:
    try:
        import torch
    except ImportError:
        return []
    if not torch.cuda.is_available():
        return []
    found = []
    for i in range(torch.cuda.device_count()):
        start = time.perf_counter()
        deadline = start + budget_s / max(1, torch.cuda.device_count())
        dev = torch.device("cuda", i)
        sync = lambda: torch.cuda.synchronize(dev)  # noqa: E731
        prev = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32, not TF32: the same arithmetic as the CPU figure
        try:
            rates, info = [], {"device": f"cuda:{i}", "name": torch.cuda.get_device_name(i), "matmul": {}, "copy": {}}
            for n in (4096, 8192):
                a = torch.rand(n, n, device=dev)
                b = torch.rand(n, n, device=dev)
                t = _best(lambda: torch.mm(a, b), sync, deadline=deadline)
                rates.append(2 * n**3 / t / 1e9)
                info["matmul"][f"torch {n}^3"] = round(rates[-1], 1)
                del a, b
            src = torch.empty(256 * 2**20 // 4, device=dev)
            dst = torch.empty_like(src)
            t = _best(lambda: dst.copy_(src), sync, deadline=deadline)
            info["copy"]["torch copy_ 256 MiB"] = round(2 * src.numel() * 4 / t / 1e9, 1)
            info["matmul_gflops"] = round(max(rates), 1)
            info["bandwidth_gbs"] = info["copy"]["torch copy_ 256 MiB"]
            info["measure_s"] = round(time.perf_counter() - start, 2)
            del src, dst
            torch.cuda.empty_cache()
        except Exception as exc:  # a GPU that cannot run this is recorded, not fatal
            info = {"device": f"cuda:{i}", "error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
        finally:
            torch.backends.cuda.matmul.allow_tf32 = prev
        found.append(info)
    return found


def ceiling(budget_s: float = BUDGET_S) -> dict:
    """The machine's fp32 matmul rate and memory bandwidth (CPU, each GPU), measured once per process."""
    global _CEILING
    if _CEILING is None:
        gpus = _cuda_ceilings(budget_s / 2)
        try:
            cpu = _cpu_ceiling(budget_s / 2 if gpus else budget_s)
        except Exception as exc:
            cpu = {"device": "cpu", "error": f"{type(exc).__name__}: {exc}"}
        _CEILING = {"what": "fp32 matmul rate (best of numpy, torch and ONNX Runtime MatMul, n^3 square) "
                            "and copy bandwidth (read + write)", "cpu": cpu, "cuda": gpus}
    return _CEILING


def use(ceil: dict) -> None:
    """Adopt a ceiling measured elsewhere (the benchmark run measures it in a subprocess before it starts)."""
    global _CEILING
    _CEILING = ceil


def measure_in_subprocess(timeout_s: float = 120) -> dict:
    """The ceiling, measured in a fresh Python process so that the caller imports no framework for it and its
    threads are not warm from it; a failure is recorded as the ceiling's error, never raised."""
    import json
    import subprocess
    import sys

    # -c, not -m: the package xbench.explain imports this module, and runpy warns when -m runs such a module
    cmd = [sys.executable, "-c", "from xbench.explain.roofline import main; main()"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        if proc.returncode == 0:
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            out["measured_in"] = "subprocess before the run"
            return out
        why = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        why = f"{type(exc).__name__}: {exc}"
    return {"what": "not measured", "error": why[:300], "cpu": {"device": "cpu", "error": why[:300]}, "cuda": []}


def device_ceiling(ceil: dict, device: str) -> dict | None:
    """The entry for ``device`` ("cpu", "cuda", an ORT provider name)."""
    dev = device.lower()
    if dev in ("cpu", "cpuexecutionprovider"):
        entry = ceil.get("cpu")
    elif dev.startswith("cuda") or dev in ("tensorrt", "tensorrtexecutionprovider"):
        gpus = [g for g in ceil.get("cuda") or [] if "matmul_gflops" in g]
        entry = gpus[0] if gpus else None
    else:
        entry = None
    return entry if entry and "matmul_gflops" in entry else None


# ---- placing a time under it ---------------------------------------------------------------------------------------

def annotate(flops: float, bytes_min: float, seconds: float, peak: dict | None, bytes_layers: float | None = None,
             batch: int | None = None, fit: dict | None = None, layers: list[dict] | None = None) -> dict:
    """achieved_gflops, fraction_of_peak (<= 1), arithmetic intensities, verdict (and the numbers behind them)."""
    from xbench.explain import verdict as verdictmod

    out = {"achieved_gflops": None, "fraction_of_peak": None,
           "arithmetic_intensity": round(flops / bytes_min, 3) if bytes_min else None,
           "arithmetic_intensity_layers": round(flops / bytes_layers, 3) if bytes_layers else None, "verdict": None}
    if not seconds or seconds <= 0:
        return out
    achieved = flops / seconds / 1e9
    out["achieved_gflops"] = round(achieved, 4)
    if not peak:
        out["verdict_reason"] = "no ceiling measured for this device"
        return out
    peak, raised = raise_peak(peak, [achieved])
    if raised:
        out["ceiling_raised"] = raised
    p, bw = peak["matmul_gflops"] * 1e9, peak["bandwidth_gbs"] * 1e9
    t_compute, t_memory = flops / p, bytes_min / bw
    t_layers = (bytes_layers or 0) / bw
    out["fraction_of_peak"] = round(min(1.0, flops / seconds / p), 4)
    judged = verdictmod.judge(median_s=seconds, batch=batch or 1, flops=flops,
                              bytes_layers=bytes_layers if bytes_layers else bytes_min, peak=peak, fit=fit,
                              layers=layers)
    out["verdict"] = judged["verdict"]
    out["verdict_rule"] = judged["rule"]
    if judged.get("responsible"):
        out["responsible_layers"] = judged["responsible"]
    ideal = max(t_compute, t_memory)
    ideal_layers = max(t_compute, t_layers)
    out["roofline"] = {"peak_gflops": peak["matmul_gflops"], "bandwidth_gbs": peak["bandwidth_gbs"],
                       "ridge_flops_per_byte": round(p / bw, 2), "compute_s": t_compute,
                       "memory_s": t_memory, "memory_layers_s": t_layers,
                       "ideal_s": ideal, "ideal_layers_s": ideal_layers,
                       "time_over_ideal": round(seconds / ideal, 2) if ideal else None,
                       "time_over_ideal_layers": round(seconds / ideal_layers, 2) if ideal_layers else None}
    return out


def raise_peak(peak: dict, achieved_gflops: list[float]) -> tuple[dict, dict | None]:
    """The ceiling, raised to the best achieved rate when a measurement beat it (the ceiling is a measurement
    too: a busy moment, or a kernel the ceiling's libraries do not reach), and a note saying so."""
    best = max([a for a in achieved_gflops if a is not None] or [0.0])
    if best <= peak["matmul_gflops"]:
        return peak, None
    note = {"from_gflops": peak["matmul_gflops"], "to_gflops": round(best, 2),
            "why": "a measurement achieved more than the measured matmul ceiling; the ceiling is raised to it, "
                   "so fraction_of_peak stays <= 1"}
    return {**peak, "matmul_gflops": round(best, 2), "raised_from_gflops": peak["matmul_gflops"]}, note


def main() -> None:
    """python -m xbench.explain.roofline: measure and print the ceiling as one JSON line."""
    import json

    from xbench.bench import threads

    threads.configure(None)
    print(json.dumps(ceiling()))


if __name__ == "__main__":
    main()
