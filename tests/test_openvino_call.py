"""The OpenVINO and ONNX Runtime calls the suite times: OpenVINO's documented latency call by default (static
shape, shared input, no per-call conversion in Python), today's dynamic dict call as a variant, ORT's CPU IO
binding; the runtime's own latency recorded beside the call's. No timing is asserted."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from xbench.bench import cases as suite
from xbench.precision import FLOAT32

pytest.importorskip("openvino")
CPU = "CPUExecutionProvider"


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory):
    """seed_cnn exported from Keras (initialised weights: the call path does not depend on them)."""
    from xbench.data import EMBEDDED, read_npz
    from xbench.export import export
    from xbench.spec import load_spec

    path = tmp_path_factory.mktemp("ov") / "seed_cnn.keras.onnx"
    export("keras", load_spec("seed_cnn"), path, data=read_npz(EMBEDDED))
    return path


# OpenVINO's per-call input copy: update_inputs -> update_tensor, which reads tuple(tensor.shape)
COPY_PATH = {f"openvino.utils.data_helpers.data_dispatcher.{f}" for f in ("update_inputs", "update_tensor")}


def _feed(batch=1):
    return np.random.default_rng(0).random((batch, 28, 28, 1), dtype=np.float32)  # the Keras export is NHWC


def _python_calls(fn) -> set[str]:
    """Every Python function (module.name) that one call of ``fn`` enters."""
    seen: set[str] = set()

    def prof(frame, event, arg):
        if event == "call":
            seen.add(f"{frame.f_globals.get('__name__')}.{frame.f_code.co_name}")

    sys.setprofile(prof)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return seen


def _load(path, variant, runtime="openvino", device="CPU"):
    from xbench import runtimes

    return runtimes.get(runtime).load(path, device, FLOAT32, variant)


@pytest.mark.slow
def test_default_call_converts_nothing_per_call_and_the_dynamic_variant_does(onnx_path):
    """OpenVINO's dict call copies the input through its Python data dispatcher on every call, iterating the
    tensor's shape (a pybind11 iterator that ends in a C++ exception whose cost grows with every pybind11 module
    the process has loaded: ONNX Runtime, PyTorch). The default row's timed call must not go that way."""
    x = _feed()
    default, dynamic = _load(onnx_path, "default"), _load(onnx_path, "dynamic")
    fn, to_probs = default.bind(x)
    dyn_fn, dyn_probs = dynamic.bind(x)
    fn(), dyn_fn()  # the first calls
    through = _python_calls(fn) & COPY_PATH
    assert not through, f"the default OpenVINO call converts its input in Python on every call: {through}"
    assert _python_calls(dyn_fn) & COPY_PATH  # the probe sees it where it is
    assert default.info["session"]["shape"] == "static [1, 28, 28, 1]"
    assert dynamic.info["session"]["shape"] == "dynamic batch, as exported"
    np.testing.assert_allclose(to_probs(fn()), dyn_probs(dyn_fn()), atol=1e-6)
    assert default.predict(_feed(7)).shape == (7, 10)  # accuracy batches compile their own static shape
    assert default.info["session"]["shape"] == "static [1, 28, 28, 1]"  # ...without relabelling the timed one


@pytest.mark.slow
def test_the_runtime_s_own_latency_is_paired_with_the_call_s(onnx_path):
    session = _load(onnx_path, "default")
    fn, _ = session.bind(_feed())
    fn()
    own = suite.runtime_latency(fn, session.latency)
    assert set(own) == {"median_s", "call_median_s", "calls"} and own["calls"] >= 5
    assert own["median_s"] > 0 and own["call_median_s"] > 0
    assert "InferRequest.latency" in session.info["runtime_latency_source"]


@pytest.mark.slow
def test_ort_cpu_iobinding_binds_both_ends_once(onnx_path):
    x = _feed(3)
    plain, bound = _load(onnx_path, "default", "onnxruntime", CPU), _load(onnx_path, "iobinding", "onnxruntime", CPU)
    fn, to_probs = bound.bind(x)
    ref_fn, ref_probs = plain.bind(x)
    np.testing.assert_allclose(to_probs(fn()), ref_probs(ref_fn()), atol=1e-6)
    assert "bound once" in bound.info["output"] and "run_with_iobinding" in bound.info["variant_info"]
    assert bound.latency is None  # ORT reports no per-call time of its own without its profiler


def test_variants_are_rows_of_the_where_models_only():
    cases = suite.inference_cases(["seed_cnn", "seed_conv64"], ["keras", "torch"], [CPU])
    ov = {(c.model, c.variant) for c in cases if c.runtime == "openvino" and c.dtype == FLOAT32}
    assert ov == {("seed_cnn", "default"), ("seed_cnn", "dynamic")}
    ort = {(c.model, c.variant) for c in cases if c.runtime == "onnxruntime" and c.dtype == FLOAT32}
    assert ort == {("seed_cnn", "default"), ("seed_cnn", "iobinding"), ("seed_conv64", "default")}
