"""xbench's pytest entry point (``pytest11``): the ``--xbench-*`` options, and nothing else until asked.

Installed, xbench is loaded into every pytest session of the environment. In a session that did not ask
for it this module only adds its options: no environment variables, no framework imports, pytest-benchmark
left as it is. It activates xbench (registers :mod:`xbench.bench.plugin`, which configures threads before
anything imports TensorFlow, PyTorch or ONNX Runtime) only when

- an ``--xbench-*`` option is given explicitly (command line, ``PYTEST_ADDOPTS`` or ``addopts``),
- ``-p xbench.bench.plugin`` is given (the plugin is then registered already), or
- a collection argument is xbench's suite: with ``--pyargs`` the dotted name ``xbench.bench.suite``
  (or a name inside it or above it), otherwise a path inside the suite's folder or one that contains it
  (``pytest`` in a checkout, whose ``testpaths`` name ``xbench/bench/suite``).

Only the standard library and pytest are imported here.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

PLUGIN = "xbench.bench.plugin"
SUITE = "xbench.bench.suite"
SUITE_DIR = Path(__file__).resolve().parent / "suite"

# Defaults as constants: xbench.bench.cases (frameworks, runtimes) is not imported until xbench is asked for.
DEFAULT_MODELS = "seed_cnn,seed_conv64"
DEFAULT_FRAMEWORKS = "keras,torch"  # keras-jax, keras-torch (a process each, bench/backends.py) are asked for by
# name: a default run took 9.5 minutes of its 10 before them (docs/keras-backends.md)
ALL_FRAMEWORKS = "keras,keras-jax,keras-torch,torch"
DEFAULT_PROVIDERS = "CPUExecutionProvider,CUDAExecutionProvider"
DEFAULT_WHERE_MODELS = "seed_cnn"  # xbench.bench.cases.WHERE_MODELS (a test keeps the two equal)
DEFAULT_WHERE_BATCHES = "1,128"  # xbench.bench.cases.WHERE_BATCHES
DEFAULT_BLOCKS = 5
SMOKE_CHOICES = ("one", "all")
BACKEND_ROW_CHOICES = ("default", "all")


def pytest_addoption(parser):
    g = parser.getgroup("xbench", "xbench: Keras vs PyTorch vs ONNX Runtime on the same CNN")
    g.addoption("--xbench-json", metavar="PATH", help="results file to write (default: results/<host>-<UTC time>.json)")
    g.addoption("--xbench-threads", metavar="N", type=int,
                help="intra-op threads for every framework and ONNX Runtime (default: physical cores)")
    g.addoption("--xbench-data", metavar="PATH", help="MNIST .npz for the benchmark batches (default: the loader's order; never downloads)")
    g.addoption("--xbench-models", metavar="NAMES", default=DEFAULT_MODELS,
                help=f"comma-separated model specs from models/, or your own model files: FILE.onnx, FILE.keras, "
                     f"FILE.py:function (a torch.nn.Module); see docs/own-model.md (default: {DEFAULT_MODELS})")
    g.addoption("--xbench-input-shape", metavar="C,H,W",
                help="input shape of a FILE.py:function module that has no input_shape attribute")
    g.addoption("--xbench-frameworks", metavar="NAMES", default=DEFAULT_FRAMEWORKS,
                help=f"comma-separated frameworks; keras is Keras on TensorFlow, keras-jax and keras-torch Keras on its "
                     f"JAX and PyTorch backends, each run in a pytest process of its own; every one: {ALL_FRAMEWORKS} "
                     f"(default: {DEFAULT_FRAMEWORKS}, to keep a default run within 10 minutes on 2 cores)")
    g.addoption("--xbench-backend-rows", choices=BACKEND_ROW_CHOICES, default="default",
                help="native rows of keras-jax and keras-torch: 'default' times their default variant (jit_compile as "
                     "Keras defaults it on that backend) in float32, train steps and inference, to keep a default run "
                     "within its time; 'all' adds their tuned variants (jit_compile on/off, torch.compile), bfloat16 "
                     "and model.fit epochs. Their ONNX runtime rows run either way (default: %(default)s)")
    g.addoption("--xbench-providers", metavar="NAMES", default=DEFAULT_PROVIDERS,
                help="comma-separated ONNX Runtime providers, long or short names (cpu, cuda); CUDA also selects the "
                     "native GPU benchmarks (default: CPU and CUDA; CUDA is recorded as skipped where it cannot run)")
    g.addoption("--xbench-runtimes", metavar="NAMES",
                help="comma-separated runtimes to benchmark: the frameworks themselves (keras, torch) and the ONNX "
                     "runtimes (onnxruntime, openvino); --xbench-frameworks still chooses whose exports the ONNX "
                     "runtimes read (default: all of them)")
    g.addoption("--xbench-dtypes", metavar="NAMES",
                help="comma-separated precisions: float32, bfloat16, float16, int8 (default: all; a precision this "
                     "machine cannot run is recorded as skipped with the reason)")
    g.addoption("--xbench-where-models", metavar="NAMES", default=DEFAULT_WHERE_MODELS,
                help="models that get the 'where should it run' rows (OpenVINO, int8, bf16, fp16, TensorRT); 'all' "
                     "for every --xbench-models model (default: %(default)s, to keep a default run short)")
    g.addoption("--xbench-where-batches", metavar="SIZES", default=DEFAULT_WHERE_BATCHES,
                help="batch sizes of the lower-precision rows, among each task's own (inference 1,32,128; training "
                     "32,128) (default: %(default)s; 1,32,128 brings every batch back)")
    g.addoption("--xbench-blocks", metavar="N", type=int, default=DEFAULT_BLOCKS,
                help="measure every benchmark in N blocks spread across the run, each with a fresh model/session and "
                     "1/N of --benchmark-max-time; blocks are the unit of noise for xbench compare "
                     f"(default: {DEFAULT_BLOCKS}; 1 = one contiguous block; a plain `pytest` smoke run uses 1)")
    g.addoption("--xbench-serve", nargs="?", const="", default=None, metavar="SERVE_OPTIONS",
                help="after every case of a timed run, serve each where-model's inference rows behind MLPerf LoadGen "
                     "as `xbench serve --model NAME` does (its defaults: ONNX Runtime and OpenVINO, fp32 and int8; "
                     "SingleStream, Offline, the Server QPS search, accuracy mode; several minutes per model), into the "
                     "same results file, LoadGen's logs beside it. An optional value passes `xbench serve` options, "
                     "e.g. --xbench-serve=\"--dtypes float32 --no-batcher\" (off by default; docs/serve.md)")
    g.addoption("--xbench-smoke", choices=SMOKE_CHOICES, default="one",
                help="what a plain `pytest` (benchmarks disabled) smoke-runs once: 'one' case per framework x task x "
                     "runtime family (runtime and device) at its cheapest case (fp32, smallest batch), or 'all' of them; "
                     "--benchmark-only always times every case (default: %(default)s)")


def given_options(config) -> list[str]:
    """The ``--xbench-*`` options this session was given explicitly."""
    args = [str(a) for a in config.invocation_params.args]
    args += shlex.split(os.environ.get("PYTEST_ADDOPTS", "")) + [str(a) for a in config.getini("addopts")]
    return [a.split("=", 1)[0] for a in args if a.startswith("--xbench-")]


def names_suite(config) -> bool:
    """Whether a collection argument of this session is (inside, or contains) xbench's suite."""
    pyargs = bool(getattr(config.option, "pyargs", False))
    for arg in config.args:
        target = str(arg).split("::", 1)[0]
        if pyargs and re.fullmatch(r"[A-Za-z_][\w.]*", target) and \
                (target == SUITE or target.startswith(SUITE + ".") or SUITE.startswith(target + ".")):
            return True
        path = (config.invocation_params.dir / target).resolve()
        if path == SUITE_DIR or SUITE_DIR in path.parents:
            return True
        if path in SUITE_DIR.parents:
            # A folder above the suite, but not one that holds it only inside an installed environment
            # (a project's own .venv/lib/.../site-packages/xbench): pytest does not collect from there.
            between = SUITE_DIR.relative_to(path).parts
            if not any(p in ("site-packages", "dist-packages") or p.startswith(".") for p in between):
                return True
    return False


def activation(config) -> str | None:
    """Why this session activates xbench (None: it stays inert)."""
    if names_suite(config):
        return "suite"
    if given_options(config):
        return "option"
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if config.pluginmanager.has_plugin(PLUGIN):  # -p xbench.bench.plugin
        config._xbench_activated_by = "-p"
        return
    why = activation(config)
    if why is None:
        return
    config._xbench_activated_by = why
    from xbench.bench import plugin

    config.pluginmanager.register(plugin, PLUGIN)  # its pytest_configure runs now (a historic hook)
