"""GPU readiness (issue 16), shown on a CPU machine: what a bare GPU box would hit first.

That box has PyTorch, the CPU onnxruntime, no TensorFlow, no installed xbench, only the tracked
files of a checkout. Missing TensorFlow is simulated in child processes by a sitecustomize that
hides it from the import system (importlib.util.find_spec returns None, as when not installed).
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from xbench import frameworks
from xbench.bench import cases as suite
from xbench.frameworks import torch_nn

REPO = Path(__file__).resolve().parents[1]

HIDE = textwrap.dedent('''
    import importlib.machinery as _m
    import importlib.metadata as _md
    import os
    import sys

    _HIDDEN = tuple(os.environ.get("HIDE_MODULES", "").split(","))
    _real = _md.distributions


    class _PathFinderHiding(_m.PathFinder):
        @classmethod
        def find_spec(cls, name, path=None, target=None):
            if name.split(".")[0] in _HIDDEN:
                return None
            return super().find_spec(name, path, target)


    def _distributions(**kw):  # an uninstalled xbench: no metadata, no pytest11 entry point
        hidden = os.environ.get("HIDE_DISTRIBUTIONS", "").split(",")
        return (d for d in _real(**kw) if (d.metadata["Name"] or "").lower() not in hidden)


    sys.meta_path[:] = [_PathFinderHiding if f is _m.PathFinder else f for f in sys.meta_path]
    _md.distributions = _distributions
''')
NO_TF = "tensorflow,keras,tf2onnx,tf_keras"


@pytest.fixture(scope="module")
def hide_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("hide")
    (d / "sitecustomize.py").write_text(HIDE)
    return d


def _env(hide_dir, modules=NO_TF, distributions="xbench"):
    return {**os.environ, "PYTHONPATH": str(hide_dir), "HIDE_MODULES": modules,
            "HIDE_DISTRIBUTIONS": distributions}


# -- items 1, 2, 3: scripts/gpu_check.sh from a copied tree, xbench not installed, no TensorFlow ---------------------

@pytest.mark.e2e
def test_gpu_check_runs_from_a_copied_tree_without_xbench_or_tensorflow(tmp_path, tracked_tree, hide_dir, ceiling_env):
    tree = tracked_tree
    out = tmp_path / "out"
    env = {**_env(hide_dir), "GPU_CHECK_TESTS": "", **ceiling_env,
           "GPU_CHECK_SELECT": "seed_cnn and b1 and (onnxruntime-torch-cpu or keras-cpu-default or torch-cuda-eager)",
           "GPU_CHECK_COMPILE_SELECT": "torch-cuda-compile and b1", "PYTHON": sys.executable}
    proc = subprocess.run(["bash", "scripts/gpu_check.sh", str(out)], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=600)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-4000:]
    assert "unrecognized arguments" not in text
    assert "tensorflow        missing" in (out / "machine.txt").read_text()
    recs = {r["id"]: r for f in ("main.json", "compile.json") for r in json.loads((out / f).read_text())["records"]}
    by = lambda runtime, provider: [r for r in recs.values() if r["runtime"] == runtime and r["provider"] == provider]  # noqa: E731
    ort_cpu = by("onnxruntime", "CPUExecutionProvider")
    assert {r["framework"] for r in ort_cpu} == {"torch", "keras"}
    assert all(r["status"] == "ok" for r in ort_cpu if r["framework"] == "torch")
    keras = by("keras", "cpu") + [r for r in ort_cpu if r["framework"] == "keras"]  # no Keras: no Keras export either
    assert keras and all(r["status"] == "skipped" and "Keras is not installed" in r["reason"] for r in keras)
    assert not [r for r in recs.values() if r["status"] == "error"]
    if not _cuda():
        cuda = by("torch", "cuda")
        assert {r["variant"] for r in cuda} == {"eager", "compile"}
        assert all(r["status"] == "skipped" and "cuda.is_available() is False" in r["reason"] for r in cuda)
    assert "| status" in (out / "report.md").read_text() or "skipped" in (out / "report.md").read_text()
    assert "records: " in proc.stdout and " 0 error" in proc.stdout


def test_gpu_check_prints_the_report_and_fails_when_rows_fail(tmp_path, tracked_tree, hide_dir, ceiling_env):
    """A spec PyTorch cannot build ('same' padding with stride 2) makes its rows real errors: the report is
    still written and printed, the errors are named, and the script exits non-zero."""
    import re

    tree = tracked_tree
    spec = json.loads((tree / "models/seed_conv64.json").read_text())
    spec["layers"][0].update(padding="same", strides=2)
    (tree / "models/seed_conv64.json").write_text(json.dumps(spec))
    out = tmp_path / "out"
    env = {**_env(hide_dir), "GPU_CHECK_TESTS": "", "GPU_CHECK_COMPILE_SELECT": "", "PYTHON": sys.executable,
           **ceiling_env,
           "GPU_CHECK_SELECT": "seed_conv64 and b1 and (torch-cpu-eager or onnxruntime-torch-cpu)"}
    proc = subprocess.run(["bash", "scripts/gpu_check.sh", str(out)], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(r"records: 0 ok, \d+ skipped, 4 error", proc.stdout)  # b1 and b128, native and ORT
    assert "error: inference/seed_conv64/torch/torch/cpu/eager/b1/float32: UserError: seed_conv64: layer 0: padding 'same'" in proc.stdout
    report = (out / "report.md").read_text()
    assert report and report in proc.stdout and "padding 'same' with strides > 1" in report


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def test_gpu_check_refuses_an_unwritable_results_folder_in_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = subprocess.run(["bash", str(REPO / "scripts/gpu_check.sh"), str(blocker / "out")], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"gpu_check: error: results folder {blocker / 'out'} cannot be created or written"
    assert proc.stdout == ""


# -- item 2: a missing TensorFlow is a skipped row, never an error -----------------------------------------------------

@pytest.fixture
def no_tensorflow(monkeypatch):
    for name in ("tensorflow", "keras", "tf2onnx"):
        monkeypatch.setitem(sys.modules, name, None)  # `import tensorflow` raises ImportError


@pytest.fixture
def ctx(suite_ctx):
    return suite_ctx  # the session's (tests/conftest.py): exports and weights made once for every module


@pytest.mark.parametrize("task", ["train_step", "inference"])
def test_keras_cpu_rows_without_tensorflow_are_skipped_with_the_reason(task, ctx, no_tensorflow):
    case = suite.Case(task, "keras", "keras", "cpu", "seed_cnn", 32, "default")
    with pytest.raises(suite.Skip, match="Keras is not installed here"):
        suite.prepare(case, ctx)


# -- item 4: TensorFlow's GPU memory growth, Keras "cpu" rows on the CPU -----------------------------------------------

TF_CHECKS = textwrap.dedent('''
    import json, os, traceback
    import numpy as np
    results = {}
    try:  # 1: the first use of TensorFlow through xbench sets memory growth
        from xbench.frameworks.keras_tf import _keras
        tf, _ = _keras()
        assert os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] == "true", os.environ.get("TF_FORCE_GPU_ALLOW_GROWTH")
        assert all(tf.config.experimental.get_memory_growth(g) for g in tf.config.list_physical_devices("GPU"))
        results["growth"] = "ok"
    except BaseException:
        results["growth"] = traceback.format_exc()
    try:  # 2: a second logical CPU plays the GPU's default device (set before TensorFlow's runtime starts)
        from xbench.frameworks.keras_tf import FRAMEWORK as fw, _keras
        from xbench.spec import load_spec
        tf, _ = _keras()
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        spec = load_spec("seed_cnn")
        with tf.device("/CPU:1"):  # the default device a GPU would be
            model = fw.build(spec, 0, device="cpu")
            step = fw.make_train_step(model, spec, 0.01, "adam", "default", "cpu")
            x = np.zeros((8, 28, 28, 1), np.float32); y = np.zeros(8, np.int64)
            step(*fw.to_native(model, x, y, "cpu"))
        where = {v.path: v.value.device for v in model.weights + model.optimizer.variables}
        wrong = {k: d for k, d in where.items() if not d.endswith("CPU:0")}
        assert not wrong, wrong
        results["placement"] = "ok"
    except BaseException:
        results["placement"] = traceback.format_exc()
    print(json.dumps(results))
''')


@pytest.fixture(scope="module")
def tf_checks() -> dict:
    """Both TensorFlow checks in one fresh process (each needs TensorFlow not yet started; one import of it, not
    two), without TF_FORCE_GPU_ALLOW_GROWTH in its environment: {check: "ok" or its traceback}."""
    pytest.importorskip("tensorflow")
    proc = subprocess.run([sys.executable, "-c", TF_CHECKS], capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if k != "TF_FORCE_GPU_ALLOW_GROWTH"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_tensorflow_memory_growth_is_set_before_first_use(tf_checks):
    assert tf_checks["growth"] == "ok", tf_checks["growth"][-2000:]


def test_keras_cpu_rows_build_and_train_on_the_cpu_whatever_the_default_device(tf_checks):
    """On a GPU box TensorFlow places new variables on GPU:0. Here a second logical CPU plays that
    default device: a "cpu" row's weights and optimizer state must still land on CPU:0."""
    assert tf_checks["placement"] == "ok", tf_checks["placement"][-3000:]


# -- item 5: every inference row returns NumPy on the host, and the record says so --------------------------------------

@pytest.mark.parametrize("framework, variant", [("torch", "eager"), ("torch", "channels_last"), ("keras", "default")])
def test_native_inference_returns_numpy_on_the_host(framework, variant, ctx, seed_spec, mnist):
    if framework == "keras":
        pytest.importorskip("tensorflow")
    fw = frameworks.get(framework)
    model = fw.build(seed_spec, 0)
    from xbench import data as mnist_data

    x = fw.to_native(model, mnist_data.batch(mnist, seed_spec.input_shape, 4, split="test")[0], None, "cpu", variant)[0]
    out = fw.make_predict(model, seed_spec, variant, "cpu")(x)
    assert isinstance(out, np.ndarray) and out.shape == (4, 10)
    prepared = suite.prepare(suite.Case("inference", framework, framework, "cpu", "seed_cnn", 1, variant), ctx)
    assert prepared.extra["output"] == suite.HOST_OUTPUT


def test_onnxruntime_rows_say_where_the_output_is(ctx):
    prepared = suite.prepare(suite.Case("inference", "torch", "onnxruntime", "CPUExecutionProvider", "seed_cnn", 1,
                                        "default"), ctx)
    assert prepared.extra["output"] == suite.HOST_OUTPUT


# -- item 6: torch.compile's prerequisites, one compile per case, no silent fallback to eager ----------------------------

def test_compile_on_cuda_needs_a_c_compiler(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no compiler anywhere
    monkeypatch.delenv("CC", raising=False)
    reason = frameworks.get("torch").variant_reason("compile", "cuda")
    assert reason and "C compiler" in reason


def test_compile_needs_pythons_headers(monkeypatch, tmp_path):
    import sysconfig

    paths = {**sysconfig.get_paths(), "include": str(tmp_path / "no-include")}
    monkeypatch.setattr(sysconfig, "get_paths", lambda *a, **k: paths)
    for device in ("cpu", "cuda"):
        reason = frameworks.get("torch").variant_reason("compile", device)
        assert reason and "Python.h" in reason, (device, reason)


def _compiles(case, ctx) -> int:
    """Graphs Dynamo compiled during the case's first call."""
    from torch._dynamo.utils import counters

    prepared = suite.prepare(case, ctx)  # may compile the accuracy run's own model (batch 1000) once
    before = counters["stats"]["unique_graphs"]
    prepared.check(prepared.fn())
    return counters["stats"]["unique_graphs"] - before


def test_each_compile_case_compiles_its_own_shape(ctx):
    """Without a reset, the batch-128 case recompiles with dynamic shapes and a later batch-32 case reuses
    that graph: its first call would not be the compile cost of its shape."""
    if frameworks.get("torch").variant_reason("compile", "cpu"):
        pytest.skip(frameworks.get("torch").variant_reason("compile", "cpu"))
    cases = [suite.Case("inference", "torch", "torch", "cpu", "seed_cnn", b, "compile") for b in (32, 128, 32)]
    assert [_compiles(c, ctx) for c in cases] == [1, 1, 1]
    prepared = suite.prepare(cases[1], ctx)
    prepared.fn()
    assert prepared.extra["compile"] == {"graphs_compiled": 1, "graph_breaks": 0, "dynamic": False}


def test_a_graph_break_makes_the_compile_row_an_error_that_names_it(seed_spec):
    torch = pytest.importorskip("torch")
    fw = frameworks.get("torch")
    if fw.variant_reason("compile", "cpu"):
        pytest.skip(fw.variant_reason("compile", "cpu"))

    class Breaks(torch.nn.Module):
        def forward(self, x):
            torch._dynamo.graph_break()
            return x

    model = fw.build(seed_spec, 0)
    model.append(Breaks())
    predict = fw.make_predict(model, seed_spec, "compile", "cpu")
    x = fw.to_native(model, np.zeros((2, 28, 28, 1), np.float32))[0]
    with pytest.raises(torch_nn.CompileFallback, match=r"fell back to eager: .* graph break\(s\): \d+x Call to `torch._dynamo.graph_break\(\)`"):
        predict(x)


# -- item 7: torch before onnxruntime ------------------------------------------------------------------------------------

def test_torch_is_imported_before_a_cuda_build_of_onnxruntime():
    code = ("import sys; from xbench.runtimes import onnxruntime as o; o.ort(); m = list(sys.modules); "
            "gpu = any(d.startswith('onnxruntime-gpu==') for d in o.installed_distributions()); "
            "assert not gpu or m.index('torch') < m.index('onnxruntime'), 'onnxruntime imported before torch'; "
            "print('gpu build' if gpu else 'cpu build')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_onnxruntime_gpu_in_its_own_folder_shadows_the_cpu_package(monkeypatch, tmp_path):
    from xbench.runtimes import onnxruntime as ortx

    monkeypatch.setattr(ortx, "_distributions", lambda: [("onnxruntime-gpu", "1.31.1", "/x/.whl/site"),
                                                         ("onnxruntime", "1.30.0", "/usr/lib/site-packages")])
    assert ortx.check_single_distribution() is None
    monkeypatch.setattr(ortx, "_distributions", lambda: [("onnxruntime-gpu", "1.31.1", "/usr/lib/site-packages"),
                                                         ("onnxruntime", "1.30.0", "/usr/lib/site-packages")])
    assert "more than one ONNX Runtime package is installed in /usr/lib/site-packages" in ortx.check_single_distribution()


# -- item 8: the math mode and the provider options that really ran --------------------------------------------------------

def test_records_carry_the_math_mode_and_orts_effective_provider_options(ctx):
    ort_case = suite.Case("inference", "torch", "onnxruntime", "CPUExecutionProvider", "seed_cnn", 1, "default")
    extra = suite.prepare(ort_case, ctx).extra
    assert extra["session"]["provider_options_effective"] == {}  # the CPU provider has no options
    assert extra["math"] == {"fp32": "ieee"}
    torch_extra = suite.prepare(suite.Case("inference", "torch", "torch", "cpu", "seed_cnn", 1, "eager"), ctx).extra
    assert torch_extra["math"]["float32_matmul_precision"] == "highest"
    cuda_math = frameworks.get("torch").math_mode("cuda")  # readable without a GPU: the settings, not the device
    assert cuda_math["cudnn_conv_fp32_precision"] in ("tf32", "ieee", "none")


def test_cuda_provider_options_are_read_back_from_the_session(ctx):
    """On a GPU: what ORT's CUDA provider really uses (TF32 included) is recorded, not what was asked."""
    case = suite.Case("inference", "torch", "onnxruntime", "CUDAExecutionProvider", "seed_cnn", 1, "end_to_end")
    try:
        extra = suite.prepare(case, ctx).extra
    except suite.Skip as exc:
        pytest.skip(str(exc))
    effective = extra["session"]["provider_options_effective"]
    assert effective["cudnn_conv_algo_search"] == "EXHAUSTIVE" and "use_tf32" in effective
    assert extra["math"] == {"use_tf32": effective["use_tf32"]}


# -- item 9: explain --device cuda without TensorFlow ----------------------------------------------------------------------

def test_explain_on_cuda_without_tensorflow_skips_keras_with_the_reason(no_tensorflow, mnist, monkeypatch,
                                                                       ceiling_env):
    from test_explain import use_session_ceiling

    from xbench import explain
    from xbench.spec import load_spec

    use_session_ceiling(monkeypatch, ceiling_env)  # the ceiling is not under test here

    report = explain.explain_spec(load_spec("seed_cnn"), 8, explain.RUNTIMES, "cuda", mnist, budget_s=0.05)
    keras = [s for s in report["skipped"] if s["runtime"] == "keras"]
    assert keras and "Keras is not installed here" in keras[0]["reason"]


# -- bringing wheels: parts joined and verified, one clear line when something is missing -----------------------------------

def _parts(tmp_path, size=300_000, part=128 * 1024):
    data = np.random.default_rng(0).bytes(size)
    src = tmp_path / "src"
    src.mkdir()
    (src / "pkg.whl").write_bytes(data)
    parts = tmp_path / "parts"
    parts.mkdir()
    subprocess.run(["split", "-b", str(part), "-d", "-a", "2", str(src / "pkg.whl"), "pkg.whl.part-"], cwd=parts,
                   check=True)
    names = sorted(p.name for p in parts.iterdir())
    lines = subprocess.run(["sha256sum", *names], cwd=parts, capture_output=True, text=True, check=True).stdout
    lines += subprocess.run(["sha256sum", "pkg.whl"], cwd=src, capture_output=True, text=True, check=True).stdout
    (parts / "m.sha256").write_text(lines)
    return data, parts, names


def _join(parts, out):
    return subprocess.run(["bash", str(REPO / "scripts/join_parts.sh"), str(parts / "m.sha256"), str(out)],
                          capture_output=True, text=True, timeout=60)


def test_parts_are_joined_and_verified(tmp_path):
    data, parts, names = _parts(tmp_path)
    assert len(names) == 3
    proc = _join(parts, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "pkg.whl").read_bytes() == data
    assert os.listdir(tmp_path / "out") == ["pkg.whl"]


@pytest.mark.parametrize("damage, message", [
    ("missing", r"part .*pkg\.whl\.part-01 is missing \(3 parts expected\)"),
    ("corrupt", r"part .*pkg\.whl\.part-01 is corrupted \(SHA-256 differs from .*m\.sha256\)"),
])
def test_a_missing_or_corrupted_part_is_named_and_nothing_is_written(tmp_path, damage, message):
    import re

    _, parts, _ = _parts(tmp_path)
    victim = parts / "pkg.whl.part-01"
    if damage == "missing":
        victim.unlink()
    else:
        victim.write_bytes(b"x" + victim.read_bytes()[1:])
    proc = _join(parts, tmp_path / "out")
    assert proc.returncode == 1 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and re.search(message, proc.stderr), proc.stderr
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")


def test_device_install_names_a_missing_wheel_folder(tmp_path):
    proc = subprocess.run(["bash", str(REPO / "scripts/device_install.sh"), str(tmp_path / "nowheels")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"device_install: error: wheel folder {tmp_path / 'nowheels'} is missing or holds no wheels "
        "(run scripts/device_prepare.sh here first)"]
