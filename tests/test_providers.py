"""No silent fallback: a session labelled with a provider runs on that provider, or it is refused."""

import pytest

from xbench.runtimes import onnxruntime as ortx


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory, seed_spec, mnist):
    from xbench.export import export

    path = tmp_path_factory.mktemp("p") / "m.onnx"
    export("torch", seed_spec, path, data=mnist)
    return path


def test_cpu_session_runs_on_cpu(onnx_path):
    session = ortx.make_session(onnx_path, ortx.SessionConfig("cpu", intra_op_threads=1))
    assert session.get_providers() == ["CPUExecutionProvider"]


def test_cuda_is_refused_with_orts_reason_when_it_cannot_start(onnx_path):
    import onnxruntime as ort

    try:
        session = ortx.make_session(onnx_path, ortx.SessionConfig("cuda"))
    except ortx.ProviderUnavailable as exc:
        reason = str(exc)
        assert reason.startswith("CUDAExecutionProvider")
        if "CUDAExecutionProvider" in ort.get_available_providers():
            # onnxruntime-gpu on a machine without CUDA: ORT's own words about what failed to load
            assert "runs CPUExecutionProvider" in reason and ("fail" in reason.lower() or "require" in reason.lower())
    else:
        assert session.get_providers()[0] == "CUDAExecutionProvider"  # a real GPU: it really runs there


def test_unknown_provider_is_refused(onnx_path):
    with pytest.raises(ortx.ProviderUnavailable, match="not an ONNX Runtime provider"):
        ortx.make_session(onnx_path, ortx.SessionConfig("QuantumExecutionProvider"))


def test_the_check_would_catch_orts_fallback(onnx_path, monkeypatch):
    """Simulate ORT's silent fallback: a session that reports CPU although another provider was asked for."""
    import onnxruntime as ort

    real = ort.InferenceSession

    class FallbackSession(real):
        def __init__(self, path, sess_options=None, providers=None, **kw):
            super().__init__(path, sess_options=sess_options, providers=["CPUExecutionProvider"], **kw)

    monkeypatch.setattr(ort, "InferenceSession", FallbackSession)
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["AzureExecutionProvider", "CPUExecutionProvider"])
    with pytest.raises(ortx.ProviderUnavailable, match="AzureExecutionProvider requested but ONNX Runtime runs CPUExecutionProvider"):
        ortx.make_session(onnx_path, ortx.SessionConfig("AzureExecutionProvider"))


def test_one_onnxruntime_package_per_folder():
    """`pip install -e .` brings onnxruntime-gpu alone (onnxruntime on macOS); a GPU box may add onnxruntime-gpu
    in a folder of its own ahead of its CPU package (docs/gpu.md). Never two in one folder."""
    import sys

    from xbench.runtimes.onnxruntime import _distributions

    found = _distributions()
    assert found and ortx.check_single_distribution() is None
    if sys.platform == "darwin":
        assert found[0][0] == "onnxruntime"


def test_two_onnxruntime_packages_in_one_folder_are_reported(monkeypatch):
    monkeypatch.setattr(ortx, "_distributions", lambda: [("onnxruntime", "1.30.0", "/site"),
                                                         ("onnxruntime-gpu", "1.31.1", "/site")])
    assert "more than one ONNX Runtime package" in ortx.check_single_distribution()
