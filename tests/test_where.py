"""Where should it run: the case set, precisions as data, trained weights, accuracy on every inference row,
OpenVINO's explicit precision, int8 quantization, load_s; real frameworks on the embedded MNIST subset."""

from __future__ import annotations

import numpy as np
import pytest

from xbench import precision
from xbench.bench import cases as suite
from xbench.bench import threads
from xbench.precision import BFLOAT16, FLOAT32, INT8

CPU = "CPUExecutionProvider"


def _ids(cases):
    return {c.test_id for c in cases}


def test_default_inference_cases_add_the_where_rows_on_seed_cnn_only():
    cases = suite.inference_cases(["seed_cnn", "seed_conv64"], ["keras", "torch"], [CPU, "CUDAExecutionProvider"])
    ov = [c for c in cases if c.runtime == "openvino" and c.dtype == FLOAT32]
    assert {(c.model, c.framework, c.batch_size) for c in ov} == {
        ("seed_cnn", f, b) for f in ("keras", "torch") for b in (1, 32, 128)}
    int8 = [c for c in cases if c.dtype == INT8]
    assert {(c.variant, c.batch_size) for c in int8} == {(v, b) for v in ("qdq_static", "dynamic") for b in (1, 128)}
    bf16 = {(c.runtime, c.framework) for c in cases if c.dtype == BFLOAT16}
    assert bf16 == {("keras", "keras"), ("torch", "torch"), ("openvino", "keras"), ("openvino", "torch")}
    assert not [c for c in cases if c.model == "seed_conv64" and (c.dtype != FLOAT32 or c.runtime == "openvino")]
    trt = [c for c in cases if c.provider == "TensorrtExecutionProvider"]
    assert {c.dtype for c in trt} == {FLOAT32, "float16"}
    assert len(_ids(cases)) == len(cases)


def test_selection_narrows_and_widens_the_case_set():
    only = suite.Selection(runtimes=("openvino",), dtypes=(BFLOAT16,))
    cases = suite.inference_cases(["seed_cnn"], ["torch"], [CPU], sel=only)
    assert {(c.runtime, c.dtype) for c in cases} == {("openvino", BFLOAT16)}
    wide = suite.Selection(where_models=None, where_batches=(1, 32, 128))
    cases = suite.inference_cases(["seed_conv64"], ["torch"], [CPU], sel=wide)
    assert {c.batch_size for c in cases if c.dtype == INT8} == {1, 32, 128}
    train = suite.train_cases(["seed_cnn"], ["keras", "torch"], ["cpu"])
    assert {(c.framework, c.batch_size) for c in train if c.dtype == BFLOAT16} == {("keras", 128), ("torch", 128)}


def test_bf16_reason_names_the_missing_flag(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    reason = precision.cpu_reason(BFLOAT16)
    assert "avx512_bf16" in reason and "amx_bf16" in reason and "/proc/cpuinfo" in reason
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512f", "amx_bf16"}))
    assert precision.cpu_reason(BFLOAT16) is None
    assert precision.cpu_reason(INT8) is None


@pytest.fixture
def ctx(suite_ctx):
    return suite_ctx  # the session's (tests/conftest.py): exports and weights made once for every module


def _case(runtime, provider, variant, dtype=FLOAT32, framework="torch", batch=1):
    return suite.Case("inference", framework, runtime, provider, "seed_cnn", batch, variant, dtype)


@pytest.mark.slow
def test_inference_rows_run_trained_weights_and_carry_accuracy(ctx):
    prepared = suite.prepare(_case("torch", "cpu", "eager"), ctx)
    info = ctx.weights_info()["torch"]["seed_cnn"]
    assert info["source"] == "trained at session start" and info["epochs"] == 5 and "MNIST subset" in info["data"]
    assert prepared.extra["accuracy"] >= 0.93  # five epochs on 5,000 images (95.9-96 % measured); seed-0: about 0.1
    assert prepared.extra["accuracy_delta"] == 0 and prepared.extra["accuracy_images"] == 1000
    ort = suite.prepare(_case("onnxruntime", CPU, "default"), ctx)
    assert abs(ort.extra["accuracy"] - prepared.extra["accuracy"]) <= 0.002  # the export is of the trained model
    assert ort.load_s > 0


@pytest.mark.slow
def test_openvino_fp32_forces_f32_and_reads_it_back(ctx):
    pytest.importorskip("openvino")
    prepared = suite.prepare(_case("openvino", "CPU", "default"), ctx)
    used = prepared.extra["session"]["used"]
    assert used["INFERENCE_PRECISION_HINT"] == "f32" and used["EXECUTION_DEVICES"] == "CPU"
    assert used["INFERENCE_NUM_THREADS"] == str(threads.count())
    assert prepared.extra["accuracy_delta"] == pytest.approx(0, abs=0.002)
    prepared.check(prepared.fn())


@pytest.mark.slow
def test_openvino_bf16_runs_bf16_or_is_skipped_with_the_flag(ctx):
    pytest.importorskip("openvino")
    case = _case("openvino", "CPU", "default", BFLOAT16, batch=128)
    if precision.cpu_reason(BFLOAT16):
        with pytest.raises(suite.Skip, match="avx512_bf16"):
            suite.prepare(case, ctx)
        return
    prepared = suite.prepare(case, ctx)
    assert prepared.extra["session"]["used"]["INFERENCE_PRECISION_HINT"] == "bf16"
    assert prepared.extra["accuracy_delta"] >= -0.01
    prepared.check(prepared.fn())


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["qdq_static", "dynamic"])
def test_int8_rows_stay_within_one_point(ctx, variant):
    import onnx

    prepared = suite.prepare(_case("onnxruntime", CPU, variant, INT8, batch=128), ctx)
    ops = {n.op_type for n in onnx.load(str(ctx.workdir / prepared.extra["onnx_file"])).graph.node}
    assert ops & ({"QuantizeLinear", "DequantizeLinear"} if variant == "qdq_static" else {"ConvInteger", "MatMulInteger"})
    assert prepared.extra["accuracy_delta"] >= -0.01
    prepared.check(prepared.fn())


@pytest.mark.slow
@pytest.mark.parametrize("framework, variant", [("torch", "eager"), ("keras", "default")])
def test_bf16_rows_compute_in_bf16(ctx, framework, variant):
    if precision.cpu_reason(BFLOAT16):
        pytest.skip(precision.cpu_reason(BFLOAT16))
    bf16 = suite.prepare(_case(framework, "cpu", variant, BFLOAT16, framework, batch=32), ctx)
    fp32 = suite.prepare(_case(framework, "cpu", variant, FLOAT32, framework, batch=32), ctx)
    assert "bfloat16" in str(bf16.extra["precision"])
    out, ref = bf16.fn(), fp32.fn()
    bf16.check(out)
    # bf16 keeps 8 bits of mantissa: the probabilities differ from fp32's, but not by much
    assert 1e-5 < np.abs(out - ref).max() < 0.05
    assert bf16.extra["accuracy_delta"] >= -0.01


@pytest.mark.slow
def test_a_failed_quantization_is_an_error_not_a_skip(ctx, tmp_path):
    from xbench.export.transform import TransformFailed, derive

    src = ctx.onnx_file("torch", ctx.spec("seed_cnn"))
    dst = tmp_path / "q.onnx"
    with pytest.raises(TransformFailed, match="int8_qdq_static of .* failed"):
        derive("int8_qdq_static", src, dst, np.zeros((4, 3, 5, 5), np.float32))  # calibration of the wrong shape
    assert not dst.exists() and not list(tmp_path.iterdir())


def test_cuda_and_tensorrt_rows_are_skipped_with_ort_s_words(ctx):
    from xbench.runtimes.onnxruntime import ort

    if "CUDAExecutionProvider" not in ort().get_available_providers():
        pytest.skip("this ONNX Runtime build has no CUDA provider")
    for provider, dtype in (("CUDAExecutionProvider", "float16"), ("TensorrtExecutionProvider", FLOAT32)):
        try:
            suite.prepare(_case("onnxruntime", provider, "end_to_end" if dtype == "float16" else "default", dtype), ctx)
        except suite.Skip as exc:
            assert provider in str(exc) and "ONNX Runtime runs CPUExecutionProvider" in str(exc)
        else:  # a machine where the provider really runs
            pass
