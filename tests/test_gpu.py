"""GPU correctness (run by scripts/gpu_check.sh on a CUDA machine; skipped with the reason elsewhere)."""

import numpy as np
import pytest

from xbench import data as mnist_data
from xbench import frameworks


def _need(framework: str):
    fw = frameworks.get(framework)
    try:
        reason = fw.device_reason("cuda")
    except ImportError as exc:
        pytest.skip(f"{fw.display} is not installed: {exc}")
    if reason:
        pytest.skip(reason)
    return fw


@pytest.fixture
def strict_fp32():
    """TF32 (on by default for cuDNN convolutions, TensorFlow and ORT's CUDA provider) off: these tests check
    arithmetic, not speed, so CPU and GPU must agree to fp32 rounding."""
    import importlib.util

    restore = []
    if importlib.util.find_spec("torch"):
        import torch

        saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        restore.append(lambda: (setattr(torch.backends.cudnn, "allow_tf32", saved[0]),
                                setattr(torch.backends.cuda.matmul, "allow_tf32", saved[1])))
    if importlib.util.find_spec("tensorflow"):
        from xbench.frameworks.keras_tf import _keras

        tf, _ = _keras()
        tf.config.experimental.enable_tensor_float_32_execution(False)
        restore.append(lambda: tf.config.experimental.enable_tensor_float_32_execution(True))
    yield
    for undo in restore:
        undo()


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_gpu_forward_and_sgd_step_match_cpu(framework, seed_spec, mnist, strict_fp32):
    fw = _need(framework)
    x, y = mnist_data.batch(mnist, seed_spec.input_shape, 64, split="train")
    cpu, gpu = fw.build(seed_spec, seed=11), fw.build(seed_spec, seed=11)
    fw.set_weights(gpu, seed_spec, fw.get_weights(cpu, seed_spec))
    p_cpu = fw.to_numpy(fw.make_predict(cpu, seed_spec)(fw.to_native(cpu, x)[0]))
    p_gpu = fw.to_numpy(fw.make_predict(gpu, seed_spec, device="cuda")(fw.to_native(gpu, x, device="cuda")[0]))
    assert np.abs(p_cpu - p_gpu).max() <= 1e-4
    fw.make_train_step(cpu, seed_spec, 0.1, "sgd")(*fw.to_native(cpu, x, y))
    fw.make_train_step(gpu, seed_spec, 0.1, "sgd", device="cuda")(*fw.to_native(gpu, x, y, device="cuda"))
    for a, b in zip(fw.get_weights(cpu, seed_spec), fw.get_weights(gpu, seed_spec)):
        assert np.abs(a - b).max() <= 1e-4


def test_ort_cuda_session_really_runs_on_cuda_and_matches_cpu(seed_spec, mnist, tmp_path, strict_fp32):
    from xbench.export import export, onnx_input
    from xbench.runtimes.onnxruntime import ProviderUnavailable, SessionConfig, make_session

    path = tmp_path / "m.onnx"
    export("torch", seed_spec, path, data=mnist)
    try:
        cuda = make_session(path, SessionConfig("cuda", provider_options={"use_tf32": 0}))  # strict fp32
    except ProviderUnavailable as exc:
        pytest.skip(str(exc))
    assert cuda.get_providers()[0] == "CUDAExecutionProvider"
    cpu = make_session(path, SessionConfig("cpu"))
    x = onnx_input(frameworks.get("torch"), mnist_data.batch(mnist, seed_spec.input_shape, 32, split="test")[0])
    assert np.abs(cuda.run(None, {"input": x})[0] - cpu.run(None, {"input": x})[0]).max() <= 1e-4


@pytest.mark.parametrize("runtime, provider", [("torch", "cuda"), ("onnxruntime", "CUDAExecutionProvider")])
def test_cuda_rows_record_device_memory_with_its_scope(runtime, provider):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch sees no GPU")
    from xbench.bench.plugin import _PeakRss
    from xbench.bench.cases import Case

    case = Case("inference", "torch", runtime, provider, "seed_cnn", 1, "eager" if runtime == "torch" else "end_to_end")
    memory = _PeakRss(case).read(case)
    if runtime == "torch":
        assert memory["peak_device_mb"] >= memory["device_baseline_mb"] >= 0
    else:
        assert memory["device_used_after_mb"] > 0 and "whole GPU" in memory["device_scope"]
