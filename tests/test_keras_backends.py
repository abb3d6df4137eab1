"""Keras on its three backends (issue 23): names, the per-process backend rule, a missing jax, and (e2e, one process
per backend) the equivalence tests and the ONNX export on the JAX and PyTorch backends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xbench import frameworks
from xbench.bench import cases as suite
from xbench.errors import UserError
from xbench.frameworks.base import ExportUnavailable

REPO = Path(__file__).resolve().parents[1]
CHECKS = Path(__file__).with_name("keras_backend_checks.py")
KERAS_FRAMEWORKS = {"keras": "tensorflow", "keras-jax": "jax", "keras-torch": "torch"}


def test_each_backend_is_a_framework_and_a_typo_names_the_valid_ones():
    assert {n: frameworks.get(n).backend for n in KERAS_FRAMEWORKS} == KERAS_FRAMEWORKS
    assert [frameworks.get(n).display for n in KERAS_FRAMEWORKS] == ["Keras", "Keras (JAX)", "Keras (PyTorch)"]
    with pytest.raises(UserError, match=r"unknown framework 'keras-jx'; valid: keras, keras-jax, keras-torch, torch$"):
        frameworks.get("keras-jx")


def test_a_backend_that_is_not_this_processs_says_why_without_importing_keras_on_it():
    """This test process runs Keras on TensorFlow (or has not imported it: then TensorFlow is what it would get)."""
    before = sys.modules.get("keras")
    for name in ("keras-jax", "keras-torch"):
        reason = frameworks.get(name).device_reason("cpu")
        assert reason == (f"Keras's backend is fixed per process: this one runs tensorflow; {name} runs in its own "
                          f"process (KERAS_BACKEND={KERAS_FRAMEWORKS[name]})")
    assert sys.modules.get("keras") is before  # asking imported nothing
    assert frameworks.get("keras").process_reason() is None


def test_a_missing_jax_is_a_skipped_row_with_the_install_line(monkeypatch, suite_ctx):
    monkeypatch.setitem(sys.modules, "jax", None)  # `import jax` raises, find_spec refuses: not installed
    for task in ("train_step", "inference"):
        case = suite.Case(task, "keras-jax", "keras-jax", "cpu", "seed_cnn", 32, "default")
        with pytest.raises(suite.Skip, match=r"^jax is not installed here \(pip install 'xbench\[jax\]'\)$"):
            suite.prepare(case, suite_ctx)


def test_onnx_rows_on_another_backends_export_are_skipped_with_the_reason_not_exported_here(suite_ctx):
    case = suite.Case("inference", "keras-jax", "onnxruntime", "CPUExecutionProvider", "seed_cnn", 1, "default")
    with pytest.raises(suite.Skip, match=r"^cannot export the Keras \(JAX\) model here: Keras's backend is fixed"):
        suite.prepare(case, suite_ctx)


def test_a_jax_export_without_jax2onnx_is_unavailable_with_the_reason(monkeypatch, seed_spec, tmp_path):
    """Keras's documented JAX -> ONNX path needs jax2onnx; without it the export names it and the install line (no
    other backend's file under the JAX label). Checked before Keras is touched, so it runs in this TensorFlow process
    too."""
    monkeypatch.setitem(sys.modules, "jax2onnx", None)
    with pytest.raises(ExportUnavailable, match=r"through jax2onnx, and jax2onnx is not installed here "
                                                r"\(pip install --no-deps -r requirements/jax-export.txt\)"):
        frameworks.get("keras-jax").export_onnx(None, seed_spec, tmp_path / "m.onnx", 18)
    assert not (tmp_path / "m.onnx").exists()


def _jax2onnx_pool(x_shape, kernel, strides):
    """A graph in the form jax2onnx 0.17 writes for a channels-last max-pool: Unsqueeze twice, an n-D MaxPool, Squeeze."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Unsqueeze", ["x", "a0"], ["u0"]), helper.make_node("Unsqueeze", ["u0", "a1"], ["u1"]),
             helper.make_node("MaxPool", ["u1"], ["p"], name="pool", kernel_shape=kernel, strides=strides),
             helper.make_node("Squeeze", ["p", "sq"], ["y"])]
    inits = [numpy_helper.from_array(np.array([0], np.int64), n) for n in ("a0", "a1")] + \
        [numpy_helper.from_array(np.array([0, 1], np.int64), "sq")]
    graph = helper.make_graph(nodes, "pool", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", *x_shape[1:]])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", None, None, x_shape[3]])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)


def test_the_jax_exports_channels_last_pool_is_rewritten_to_one_onnx_runtime_runs_with_the_same_values():
    """jax2onnx 0.17's 4-D MaxPool (ONNX Runtime: "Unsupported pooling size") becomes Transpose, 2-D MaxPool,
    Transpose with the same output as a NumPy 2 x 2 max-pool; a pool that is not over the spatial axes is left."""
    import onnx

    from xbench.frameworks.keras_jax import pool_on_spatial_axes
    from xbench.runtimes.onnxruntime import open_session

    x = np.random.default_rng(0).standard_normal((3, 6, 8, 5)).astype(np.float32)
    proto = _jax2onnx_pool(x.shape, [1, 2, 2, 1], [1, 2, 2, 1])
    with pytest.raises(Exception, match="Unsupported pooling size"):
        open_session(proto.SerializeToString(), "CPUExecutionProvider").run(None, {"x": x})
    assert pool_on_spatial_axes(proto) == 1
    onnx.checker.check_model(proto, full_check=True)
    got = open_session(proto.SerializeToString(), "CPUExecutionProvider").run(None, {"x": x})[0]
    want = x.reshape(3, 3, 2, 4, 2, 5).max(axis=(2, 4))
    np.testing.assert_array_equal(got, want)
    assert [n.op_type for n in proto.graph.node] == ["Transpose", "MaxPool", "Transpose"]
    assert not proto.graph.initializer and "Transpose, 2-D MaxPool" in proto.metadata_props[0].value
    other = _jax2onnx_pool(x.shape, [2, 2, 2, 1], [2, 2, 2, 1])  # pools the batch axis too: not ours to rewrite
    assert pool_on_spatial_axes(other) == 0 and len(other.graph.node) == 4


def _run_checks(name: str, backend: str) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run([sys.executable, str(CHECKS), name], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("XBENCH-CHECKS ")), None)
    assert line, f"no result from the {backend} process (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(line.removeprefix("XBENCH-CHECKS "))


EQUIVALENCE = {"test_parameter_counts_match", "test_weight_round_trip_is_exact", "test_outputs_agree_on_real_images",
               "test_a_wrong_flatten_order_would_be_caught", "test_losses_are_equivalent",
               "test_one_sgd_step_updates_weights_identically",
               "test_one_adam_step_is_the_same_update_with_epsilon_in_each_frameworks_terms"}


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["keras-jax", "keras-torch"])
def test_backend_in_its_own_process_matches_pytorch_and_exports(name):
    """One process per backend: tests/test_equivalence.py on this Keras backend (outputs <= 1e-5 against PyTorch
    from the same weights, one SGD and one Adam step <= 1e-4, a wrong weight layout caught, the tuned variant the
    same function), then the ONNX export with xbench.export's parity check, or the reason there is none."""
    backend = KERAS_FRAMEWORKS[name]
    if frameworks.get(name).process_reason() and "not installed" in frameworks.get(name).process_reason():
        pytest.fail(frameworks.get(name).process_reason())  # the e2e stage installs every backend
    out = _run_checks(name, backend)
    tuned = {f"test_tuned_variants_compute_the_same_function[{name}-{v}]" for v in list(frameworks.get(name).variants)[1:]}
    assert out["outcomes"] == {t: "passed" for t in EQUIVALENCE | tuned}, out["outcomes"]
    assert out["pytest"] == 0
    # Keras's exporter: torch.onnx on PyTorch, jax2onnx (requirements/jax-export.txt, which CI installs) on JAX; NHWC
    # input, dynamic batch, ONNX Runtime within 1e-5 of the backend's own output
    assert "unavailable" not in out["export"], out["export"]
    assert out["export"]["input_shape"][1:] == [28, 28, 1] and isinstance(out["export"]["input_shape"][0], str)
    assert max(out["export"]["max_abs_diff"].values()) <= 1e-5
    if name == "keras-jax":  # FLOPs and bytes are counted on the same spec's torch export when jax2onnx is missing
        assert out["export"]["counted_without_exporter"] == "seed_cnn.torch.onnx"


def test_a_child_gets_the_parents_arguments_with_its_own_framework_and_files(tmp_path):
    from xbench.bench.backends import child_args

    args = ["xbench/bench/suite", "--benchmark-only", "-k", "train_step or inference", "--xbench-frameworks=keras,keras-jax",
            "--xbench-json", "out.json", "--benchmark-json", "b.json", "--benchmark-autosave", "--xbench-threads", "2"]
    assert child_args(args, "keras-jax", tmp_path / "p.json") == [
        "xbench/bench/suite", "--benchmark-only", "-k", "train_step or inference", "--xbench-threads", "2",
        "--xbench-frameworks", "keras-jax", "--xbench-json", str(tmp_path / "p.json")]


def test_a_process_hands_over_the_keras_backends_it_does_not_run(monkeypatch):
    from xbench.bench.backends import CHILD_ENV, delegated

    every = ["keras", "keras-jax", "keras-torch", "torch"]
    assert delegated(every) == {"keras-jax": "jax", "keras-torch": "torch"}
    monkeypatch.setitem(sys.modules, "jax", None)  # not installed: stays here, its rows skipped with the reason
    assert delegated(every) == {"keras-torch": "torch"}
    monkeypatch.setenv(CHILD_ENV, "1")  # a child never starts children
    assert delegated(every) == {}


def test_new_backends_time_their_default_fp32_rows_unless_asked_for_all():
    from xbench.bench.plugin import _opt_in_row

    def row(framework, variant="default", task="train_step", dtype="float32", runtime=None):
        return suite.Case(task, framework, runtime or framework, "cpu", "seed_cnn", 32, variant, dtype)

    assert [_opt_in_row(c) for c in (row("keras-jax"), row("keras-torch", task="inference"),
                                     row("keras-jax", runtime="onnxruntime"), row("keras", "xla"),
                                     row("keras", dtype="bfloat16"), row("torch", "compile"))] == [False] * 6
    assert [_opt_in_row(c) for c in (row("keras-jax", "no_jit"), row("keras-torch", "compile"),
                                     row("keras-jax", dtype="bfloat16"), row("keras-torch", "fit", "train_epoch"))] == [True] * 4


@pytest.mark.e2e
def test_one_suite_run_times_every_backend_into_one_results_file(tmp_path):
    """The suite's process runs Keras on TensorFlow; keras-jax and keras-torch each run in a child process whose
    records join the one results file (train steps at batch 32, one short block: about 35 s loaded)."""
    out = tmp_path / "r.json"
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("KERAS_BACKEND", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "xbench/bench/suite", "--benchmark-only", "-p", "no:cacheprovider",
                           "--xbench-models", "seed_cnn", "-k", "train_step and b32", "--xbench-blocks", "1",
                           "--benchmark-max-time", "0.05", "--xbench-dtypes", "float32", "--xbench-providers", "cpu",
                           "--xbench-frameworks", "keras,keras-jax,keras-torch", "--xbench-json", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    doc = json.loads(out.read_text())
    status = {(r["framework"], r["variant"]): r["status"] for r in doc["records"]}
    assert status == {("keras", "default"): "ok", ("keras", "xla"): "ok", ("keras-jax", "default"): "ok",
                      ("keras-torch", "default"): "ok"}, status
    procs = {tuple(p["frameworks"]): p.get("keras_backend") for p in doc["env"]["processes"]}
    assert procs == {("keras",): None, ("keras-jax",): "jax", ("keras-torch",): "torch"}
    assert "keras-jax ran in its own process (KERAS_BACKEND=jax): exit status 0, 1 records" in proc.stdout


def test_the_terminal_summary_lists_each_childs_benchmarks_that_pytest_benchmark_cannot():
    """pytest-benchmark's table holds only the parent's benchmarks: a child's ok records get one line each with the
    median, its interval and blocks x rounds; skipped ones are left to the results file."""
    from types import SimpleNamespace

    from xbench.bench.backends import summary_table

    ok = {"id": "train_step/seed_cnn/keras-jax/keras-jax/cpu/default/b32/float32", "status": "ok",
          "stats": {"median": 0.00452, "median_ci95": [0.00438, 0.00527], "blocks": 3, "rounds": 60}}
    skipped = {"id": "inference/seed_cnn/keras-jax/onnxruntime/x/default/b1/float32", "status": "skipped", "stats": None}
    kids = SimpleNamespace(records={"keras-jax": {ok["id"]: ok, skipped["id"]: skipped}}, backends={"keras-jax": "jax"})
    head, line = summary_table(kids)
    assert head.startswith("keras-jax (its own process, KERAS_BACKEND=jax)")
    assert ok["id"] in line and "4.52 ms" in line and "(4.38 ms–5.27 ms)" in line and line.rstrip().endswith("3 x 20")
