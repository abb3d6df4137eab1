"""ONNX exports: opset 18, dynamic batch, onnx.checker, ORT == framework within 1e-4 at batch 1 and 64."""

import numpy as np
import onnx
import pytest

from xbench.data import batch as real_batch
from xbench import frameworks
from xbench.errors import UserError
from xbench.export import export, onnx_input
from xbench.runtimes.onnxruntime import SessionConfig, make_session


def batch_of(data, spec, n):
    return real_batch(data, spec.input_shape, n, split="test")


@pytest.fixture(scope="module", params=["keras", "torch"])
def exported(request, seed_spec, mnist, tmp_path_factory):
    fw = frameworks.get(request.param)
    model = fw.build(seed_spec, seed=7)
    path = tmp_path_factory.mktemp("onnx") / f"seed_cnn.{fw.name}.onnx"
    result = export(fw.name, seed_spec, path, model=model, data=mnist)
    return fw, model, path, result


def test_file_is_valid_opset_18_with_dynamic_batch(exported):
    fw, model, path, result = exported
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert {o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")} == {18}
    dim0 = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert not dim0.HasField("dim_value") and dim0.dim_param  # symbolic batch
    assert result.opset == 18


@pytest.mark.parametrize("batch", [1, 64, 7])
def test_onnxruntime_matches_the_framework(exported, seed_spec, mnist, batch):
    fw, model, path, _ = exported
    x, _ = batch_of(mnist, seed_spec, batch)
    session = make_session(path, SessionConfig("cpu"))
    got = session.run(None, {session.get_inputs()[0].name: onnx_input(fw, x)})[0]
    want = fw.to_numpy(fw.make_predict(model, seed_spec)(fw.to_native(model, x)[0]))
    assert got.shape == (batch, 10)
    assert np.abs(got - want).max() <= 1e-4


def test_keras_and_torch_exports_agree_when_weights_agree(seed_spec, mnist, tmp_path):
    keras_fw, torch_fw = frameworks.get("keras"), frameworks.get("torch")
    tm = torch_fw.build(seed_spec, seed=8)
    km = keras_fw.build(seed_spec)
    keras_fw.set_weights(km, seed_spec, torch_fw.get_weights(tm, seed_spec))
    kp, tp = tmp_path / "k.onnx", tmp_path / "t.onnx"
    export("keras", seed_spec, kp, model=km, data=mnist)
    export("torch", seed_spec, tp, model=tm, data=mnist)
    x, _ = batch_of(mnist, seed_spec, 32)
    ks, ts = make_session(kp, SessionConfig("cpu")), make_session(tp, SessionConfig("cpu"))
    ko = ks.run(None, {ks.get_inputs()[0].name: x})[0]
    to = ts.run(None, {ts.get_inputs()[0].name: np.ascontiguousarray(x.transpose(0, 3, 1, 2))})[0]
    assert np.abs(ko - to).max() <= 1e-5


def test_missing_output_folder_is_a_clear_error_and_writes_nothing(seed_spec, mnist, tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        export("torch", seed_spec, tmp_path / "missing" / "m.onnx", data=mnist)
    assert not (tmp_path / "missing").exists()


def test_export_uses_trained_weights_when_present(seed_spec, mnist, tmp_path):
    from xbench.paths import weights_path

    fw = frameworks.get("torch")
    trained = fw.build(seed_spec, seed=9)
    wpath = weights_path(seed_spec.name, fw.name, fw.weights_suffix)
    wpath.parent.mkdir(parents=True, exist_ok=True)
    fw.save(trained, wpath)
    result = export("torch", seed_spec, tmp_path / "t.onnx", data=mnist)
    assert result.weights.startswith("trained")
    x, _ = batch_of(mnist, seed_spec, 4)
    s = make_session(tmp_path / "t.onnx", SessionConfig("cpu"))
    got = s.run(None, {"input": onnx_input(fw, x)})[0]
    want = fw.to_numpy(fw.make_predict(trained, seed_spec)(fw.to_native(trained, x)[0]))
    assert np.abs(got - want).max() <= 1e-4
    wpath.unlink()
