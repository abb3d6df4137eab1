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


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_gpu_forward_and_sgd_step_match_cpu(framework, seed_spec, mnist):
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


def test_ort_cuda_session_really_runs_on_cuda_and_matches_cpu(seed_spec, mnist, tmp_path):
    from xbench.export import export, onnx_input
    from xbench.runtimes.onnxruntime import ProviderUnavailable, SessionConfig, make_session

    path = tmp_path / "m.onnx"
    export("torch", seed_spec, path, data=mnist)
    try:
        cuda = make_session(path, SessionConfig("cuda"))
    except ProviderUnavailable as exc:
        pytest.skip(str(exc))
    assert cuda.get_providers()[0] == "CUDAExecutionProvider"
    cpu = make_session(path, SessionConfig("cpu"))
    x = onnx_input(frameworks.get("torch"), mnist_data.batch(mnist, seed_spec.input_shape, 32, split="test")[0])
    assert np.abs(cuda.run(None, {"input": x})[0] - cpu.run(None, {"input": x})[0]).max() <= 1e-4
