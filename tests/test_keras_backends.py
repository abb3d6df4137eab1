"""Keras on its three backends (issue 23): names, the per-process backend rule, a missing jax, and (e2e, one process
per backend) the equivalence tests and the ONNX export on the JAX and PyTorch backends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
    assert frameworks.get("keras").device_reason("cpu") is None


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
    """Keras's documented JAX -> ONNX path needs jax2onnx; without it the export names it (no other backend's file
    under the JAX label). Checked before Keras is touched, so it runs in this TensorFlow process too."""
    monkeypatch.setitem(sys.modules, "jax2onnx", None)
    with pytest.raises(ExportUnavailable, match=r"through jax2onnx, which is not installed here \(pip install jax2onnx\)"):
        frameworks.get("keras-jax").export_onnx(None, seed_spec, tmp_path / "m.onnx", 18)
    assert not (tmp_path / "m.onnx").exists()


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
    tuned = f"test_tuned_variants_compute_the_same_function[{name}-{list(frameworks.get(name).variants)[1]}]"
    assert out["outcomes"] == {t: "passed" for t in EQUIVALENCE | {tuned}}, out["outcomes"]
    assert out["pytest"] == 0
    if name == "keras-torch":  # Keras's exporter on PyTorch: torch.onnx, NHWC input, dynamic batch
        assert out["export"]["input_shape"][1:] == [28, 28, 1] and isinstance(out["export"]["input_shape"][0], str)
        assert max(out["export"]["max_abs_diff"].values()) <= 1e-5
    else:  # jax2onnx is not a dependency: the reason is recorded; with it, the parity check decides
        assert "jax2onnx" in out["export"].get("unavailable", "jax2onnx") and \
            max(out["export"].get("max_abs_diff", {"-": 0}).values()) <= 1e-4
