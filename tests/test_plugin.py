"""The benchmark plugin end to end, in a child pytest: records, skips with reasons, atomic results; its option
checks in a toy pytester project (tests/test_plugin_inert.py: the plugin stays out of other projects)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from xbench.schema import read_results

REPO = Path(__file__).resolve().parents[1]
FAST = ["--benchmark-max-time=0.05", "--benchmark-min-rounds=3", "-p", "no:cacheprovider", "-q"]
SUITE = "xbench/bench/suite"

pytest_plugins = ["pytester"]


def run_suite(*args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "pytest", SUITE, *FAST, *args], cwd=REPO,
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, **kw)


def _child_env(tmp_path_factory, **extra) -> dict:
    """The environment tests/conftest.py's function fixtures give a test, for a module fixture that runs first."""
    env = {**os.environ, "XBENCH_OFFLINE": "1", "XBENCH_CACHE": str(tmp_path_factory.getbasetemp() / "xbench-cache"),
           **extra}
    env.pop("XBENCH_MNIST", None)
    return env


# One child run whose results several tests read: seed_cnn at batch 1, ONNX Runtime on CPU (both exports, the
# default session), every CUDA/TensorRT row of ONNX Runtime, and PyTorch's native CUDA row. Its ceiling comes from
# the session's (``ceiling_env``); the keras-only test below checks the run measuring its own.
ORT_SELECTION = ("(onnxruntime and b1 and not b128 and not (cpu and iobinding))"
                 " or (torch-cuda-eager and b1 and not b128)")


@pytest.fixture(scope="module")
def ort_run(tmp_path_factory, ceiling_env):
    out = tmp_path_factory.mktemp("ort-run") / "r.json"
    proc = run_suite("--benchmark-only", "--xbench-json", str(out), "--xbench-models", "seed_cnn",
                     "--xbench-frameworks", "keras,torch",  # Keras's other backends: tests/test_keras_backends.py
                     "--xbench-dtypes", "float32", "-k", ORT_SELECTION, timeout=600,
                     env=_child_env(tmp_path_factory, **ceiling_env))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return read_results(out)


def test_ort_rows_ok_on_cpu_and_cuda_skipped_with_orts_reason(ort_run):
    doc = ort_run
    recs = doc["records"]
    cpu = [r for r in recs if r["provider"] == "CPUExecutionProvider"]
    cuda = [r for r in recs if r["provider"] == "CUDAExecutionProvider"]
    assert {r["framework"] for r in cpu} == {"keras", "torch"} and all(r["status"] == "ok" for r in cpu)
    assert all(r["stats"]["median"] > 0 and len(r["samples_s"]) == r["stats"]["rounds"] for r in cpu)
    assert all(r["session"]["intra_op_num_threads"] == doc["env"]["threads"]["intra_op"] for r in cpu)
    if not _cuda_works():
        assert cuda and all(r["status"] == "skipped" for r in cuda)
        assert all("CUDAExecutionProvider" in r["reason"] and len(r["reason"]) > 40 for r in cuda)
    assert not [r for r in recs if r["status"] == "ok" and r["provider"] in ("CUDAExecutionProvider", "cuda")
                and not _cuda_works()]
    assert doc["env"]["versions"]["onnxruntime-gpu"] or doc["env"]["versions"]["onnxruntime"]
    # --xbench-blocks (default 5): one record per benchmark, its rounds in 5 blocks spread across the run
    from xbench.bench.options import DEFAULT_BLOCKS

    assert len({r["id"] for r in recs}) == len(recs)
    for r in cpu:
        assert len(r["blocks"]) == DEFAULT_BLOCKS and sum(b["rounds"] for b in r["blocks"]) == len(r["samples_s"])
    starts = sorted((b["started_at"], i) for r in cpu for i, b in enumerate(r["blocks"]))
    assert [i for _, i in starts] == sorted(i for _, i in starts)  # every block 0 before any block 1, ...
    # every block weighs the same: the same rounds in each, the headline is the median of block medians
    for r in cpu:
        s = r["stats"]
        assert len({b["rounds"] for b in r["blocks"]}) == 1 and s["blocks"] == DEFAULT_BLOCKS
        meds = sorted(b["median_s"] for b in r["blocks"])
        assert s["median"] == pytest.approx(meds[len(meds) // 2], rel=1e-6)
        assert s["median"] <= s["p90"] <= s["p99"] <= s["max"]
        assert s["median_ci95"][0] <= s["median"] <= s["median_ci95"][1] and s["ci_unit"] == "blocks"


@pytest.mark.e2e
def test_a_keras_only_process_never_loads_torch(tmp_path):
    """The ceiling (numpy, torch and ORT matmuls) is measured outside the benchmark process: this run measures its
    own (no XBENCH_CEILING_FILE), once, before the first benchmark."""
    out = tmp_path / "r.json"
    env = {k: v for k, v in os.environ.items() if k != "XBENCH_CEILING_FILE"}
    proc = subprocess.run([sys.executable, "-m", "pytest", SUITE, *FAST, "--benchmark-only", "--xbench-json", str(out),
                           "--xbench-frameworks", "keras", "--xbench-blocks", "2", "-k",
                           "seed_cnn-onnxruntime-keras-cpu-default-b1 and not b128"],
                          cwd=REPO, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = read_results(out)
    assert [r["status"] for r in doc["records"]] == ["ok"]
    assert "tensorflow" in doc["env"]["imported"] and "onnxruntime" in doc["env"]["imported"]
    assert "torch" not in doc["env"]["imported"]
    # the ceiling was measured once, before the first benchmark, in its own process
    assert doc["env"]["ceiling"]["measured_in"] == "subprocess before the run"
    assert doc["env"]["ceiling"]["cpu"].get("matmul_gflops", 0) > 0, doc["env"]["ceiling"]


def _cuda_works() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers() and os.path.exists("/dev/nvidia0")


def test_native_cuda_rows_are_skipped_with_the_frameworks_reason(ort_run):
    recs = [r for r in ort_run["records"] if r["runtime"] == "torch"]
    assert recs and all(r["provider"] == "cuda" for r in recs)
    import torch

    if not torch.cuda.is_available():
        assert all(r["status"] == "skipped" and "torch.cuda.is_available() is False" in r["reason"] for r in recs)


@pytest.mark.parametrize("option, message", [
    (["--xbench-providers", "cpu,warp"], "unknown provider .warp.; available in this build: .*CPUExecutionProvider"),
    (["--xbench-frameworks", "jax"], "unknown framework 'jax'; valid: keras, keras-jax, keras-torch, torch"),
    (["--xbench-models", "nope"], "unknown model 'nope'"),
    (["--xbench-threads", "0"], "positive integer"),
    (["--xbench-blocks", "0"], "--xbench-blocks must be a positive integer"),
    (["--xbench-json", "/no/such/dir/r.json"], "does not exist"),
    (["--xbench-runtimes", "torch,tflite"],
     "--xbench-runtimes: unknown name 'tflite'; valid: keras, keras-jax, keras-torch, torch, onnxruntime, openvino"),
    (["--xbench-dtypes", "fp8"], "--xbench-dtypes: unknown name 'fp8'; valid: float32, bfloat16, float16, int8"),
    (["--xbench-where-models", "nope"], "unknown model 'nope'"),
    (["--xbench-where-batches", "1,x"], "--xbench-where-batches: 'x' is not a positive batch size"),
    (["--xbench-serve", "--scenarios bogus"], "--xbench-serve: --scenarios: unknown 'bogus'; valid: single-stream"),
])
def test_bad_options_are_one_clear_error(option, message):
    """The checks the plugin makes at configure time, on the options as pytest parsed them."""
    import re

    from xbench.bench import options
    from xbench.bench.plugin import _validate
    from xbench.errors import UserError

    given = {"xbench_threads": None, "xbench_blocks": options.DEFAULT_BLOCKS, "xbench_models": options.DEFAULT_MODELS,
             "xbench_frameworks": options.DEFAULT_FRAMEWORKS, "xbench_providers": options.DEFAULT_PROVIDERS,
             "xbench_runtimes": None, "xbench_dtypes": None, "xbench_where_models": options.DEFAULT_WHERE_MODELS,
             "xbench_where_batches": options.DEFAULT_WHERE_BATCHES, "xbench_json": None, "xbench_serve": None}
    name, value = option[0][2:].replace("-", "_"), option[1]
    given[name] = int(value) if name in ("xbench_threads", "xbench_blocks") else value
    with pytest.raises(UserError) as exc:
        _validate(SimpleNamespace(getoption=given.__getitem__))
    assert re.search(message, str(exc.value)), str(exc.value)


def test_a_bad_option_ends_the_session_with_one_line(pytester):
    """Bad input before any collection: exit 2, the reason, no traceback (a toy project: no suite needed)."""
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--xbench-frameworks", "jax")
    assert result.ret == 2
    text = result.stdout.str() + result.stderr.str()
    assert "xbench: error: unknown framework 'jax'; valid: keras, keras-jax, keras-torch, torch" in text
    assert "Traceback" not in text


def test_plain_pytest_runs_each_benchmark_once_and_writes_no_results(tmp_path):
    out = tmp_path / "r.json"
    # the smoke run's one case of this family (ORT CPU, fp32, the PyTorch export): batch 1
    proc = run_suite("--xbench-json", str(out), "-k", "seed_cnn-onnxruntime-torch-cpu-default", timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "1 passed" in proc.stdout
    assert not out.exists()


def test_an_interrupted_run_keeps_every_finished_benchmark(tmp_path, ceiling_env):
    out = tmp_path / "r.json"
    # one export (PyTorch's, seed_cnn), 4 benchmarks x 5 blocks; --benchmark-max-time=1 (after FAST's 0.05): each
    # block lasts ~0.2 s, so the run is still going seconds after its second record
    proc = subprocess.Popen([sys.executable, "-m", "pytest", SUITE, *FAST, "--benchmark-only",
                             "--benchmark-max-time=1", "--xbench-json", str(out), "--xbench-models", "seed_cnn",
                             "--xbench-frameworks", "torch", "--xbench-dtypes", "float32", "-k",
                             "onnxruntime and cpu"], cwd=REPO, env={**os.environ, **ceiling_env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if out.exists() and len(json.loads(out.read_text())["records"]) >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    doc = read_results(out)  # valid, complete JSON: never half a file
    assert len(doc["records"]) >= 2 and all(r["status"] == "ok" for r in doc["records"])
    assert not list(tmp_path.glob(".r.json.*"))  # no temporary files left behind
