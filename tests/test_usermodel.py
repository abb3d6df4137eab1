"""Your own model through the suite (``xbench.usermodel``): a model file resolves to an identity of file name and
content hash, bad files and data are one line and exit 2, accuracy reads the test split only and int8 calibrates
on the train split only.

The ONNX files here are written with ``onnx.helper`` (no framework): ``x @ I`` then softmax over 10 classes, so the
predicted class is the input's largest entry and a split's accuracy is known exactly from how its data is made.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xbench import usermodel
from xbench.errors import UserError

REPO = Path(__file__).resolve().parents[1]
CLASSES = 10
CEILING = {"what": "test", "cpu": {"device": "cpu", "matmul_gflops": 100.0, "bandwidth_gbs": 10.0}, "cuda": []}


def argmax_model(path: Path, batch="N") -> Path:
    """An ONNX classifier whose class is the argmax of its 10 inputs: MatMul by the identity, then Softmax."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["logits"]), helper.make_node("Softmax", ["logits"], ["p"], axis=1)],
        "argmax", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, CLASSES])],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, [batch, CLASSES])],
        [numpy_helper.from_array(np.eye(CLASSES, dtype=np.float32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def split_data(path: Path, n_train=200, n_test=100, test_scale=1.0) -> Path:
    """Test inputs whose argmax is their label (top-1 = 1.0 on the test split); train labels one class off their
    inputs' argmax (top-1 = 0.0 on the train split). Train inputs lie in [0, 1.5), test inputs in
    [0, 1.5 * test_scale)."""
    rng = np.random.default_rng(0)

    def make(n, scale):
        y = rng.integers(0, CLASSES, n)
        x = (rng.random((n, CLASSES)) * 0.5 + np.eye(CLASSES)[y]) * scale
        return x.astype(np.float32), y

    x_train, y_train = make(n_train, 1.0)
    x_test, y_test = make(n_test, test_scale)
    np.savez(path, x_train=x_train, y_train=(y_train + 1) % CLASSES, x_test=x_test, y_test=y_test)
    return path


def test_a_model_file_is_named_by_file_name_and_content_hash(tmp_path):
    path = argmax_model(tmp_path / "mine.onnx")
    model = usermodel.resolve(str(path))
    assert model.identity == f"mine.onnx@{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}"
    assert str(tmp_path) not in model.identity and usermodel.lookup(model.identity) is model
    assert (model.kind, model.input_shape, model.num_classes, model.fixed_batch) == ("onnx", (CLASSES,), CLASSES, None)
    assert [usermodel.is_file_model(n) for n in ("seed_cnn", "a.onnx", "b.keras", "m.py:build")] == \
        [False, True, True, True]


def _garbage(tmp_path: Path) -> str:
    (tmp_path / "bad.onnx").write_bytes(b"not a protobuf at all" * 10)
    return str(tmp_path / "bad.onnx")


@pytest.mark.parametrize("case, message", [
    ("missing model", "no such file"),
    ("corrupt model", "not a valid ONNX model"),
    ("missing data", "no such file"),
    ("shape mismatch", r"x_test samples are \[7\], the model m.onnx@\w+ takes \[\?, 10\]"),
    ("no labels", "no labels"),
    ("no test split", "expected x_train, y_train, x_test"),
])
def test_bad_model_files_and_data_are_one_user_error(tmp_path, case, message):
    model = str(argmax_model(tmp_path / "m.onnx"))
    data = tmp_path / "d.npz"
    if case == "shape mismatch":
        np.savez(data, x_test=np.zeros((4, 7), np.float32), y_test=np.zeros(4, np.int64))
    elif case == "no labels":
        np.savez(data, x_test=np.zeros((4, CLASSES), np.float32))
    elif case == "no test split":
        np.savez(data, images=np.zeros((4, CLASSES), np.float32))
    name = {"missing model": str(tmp_path / "nope.onnx"), "corrupt model": _garbage(tmp_path)}.get(case, model)
    with pytest.raises(UserError, match=message) as err:
        usermodel.load_data(None if case == "missing model" else data if case != "missing data"
                            else tmp_path / "nope.npz", usermodel.resolve(name))
    assert "\n" not in str(err.value)


def _rows(tmp_path, data_path: Path, **sel):
    from xbench.bench import cases as suite
    from xbench.data import EMBEDDED, read_npz

    model = usermodel.resolve(str(argmax_model(tmp_path / "m.onnx")))
    ctx = suite.Context(read_npz(EMBEDDED), tmp_path / "work", user_data=str(data_path))
    ctx.workdir.mkdir()
    cases = suite.user_cases("inference", model, ["CPUExecutionProvider"],
                             sel=suite.Selection(runtimes=("onnxruntime",), **sel))
    return {(c.variant, c.batch_size): (c, suite.prepare(c, ctx)) for c in cases}


def test_an_onnx_file_with_two_inputs_is_refused_plainly(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["c"])], "two",
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 4]) for n in "ab"],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, ["N", 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "two.onnx")
    with pytest.raises(UserError, match="2 inputs; models with one input are supported .several inputs are not "
                                        "supported yet"):
        usermodel.resolve(str(tmp_path / "two.onnx"))


def test_accuracy_is_on_the_test_split(tmp_path):
    """The data makes the test split's top-1 exactly 1.0 and the train split's exactly 0.0."""
    rows = _rows(tmp_path, split_data(tmp_path / "d.npz"), dtypes=("float32",))
    for (variant, batch), (case, prepared) in rows.items():
        assert prepared.extra["accuracy"] == 1.0, case.test_id
        assert prepared.extra["accuracy_images"] == 100 and prepared.extra["data"] == "d.npz (200 train + 100 test)"
        out = prepared.fn()
        prepared.check(out)


def test_int8_calibrates_on_the_train_split_only(tmp_path):
    """Test inputs 40x larger than train inputs: calibrated on the train split, the quantized input saturates and
    the argmax is lost on most test images; calibrated on the test images it would keep top-1 at 1.0."""
    rows = _rows(tmp_path, split_data(tmp_path / "d.npz", test_scale=40.0), dtypes=("float32", "int8"))
    fp32 = rows[("default", 1)][1].extra
    int8 = rows[("qdq_static", 1)][1].extra
    assert fp32["accuracy"] == 1.0
    assert int8["derived"]["calibration"] == "train split (200 inputs)"
    assert int8["accuracy"] < 0.5 and int8["accuracy_delta"] == int8["accuracy"] - 1.0
    calib, _ = usermodel.calibration(usermodel.load_data(tmp_path / "d.npz", usermodel.resolve(str(tmp_path / "m.onnx"))), 512)
    assert calib.max() < 1.5  # the train split's range, not the test split's
    _, note = usermodel.calibration(usermodel.load_data(None, usermodel.resolve(str(tmp_path / "m.onnx"))), 512)
    assert note == "random inputs (no --xbench-data)"  # without data the int8 rows say what they calibrated on


def test_the_suite_runs_an_onnx_file_and_refuses_bad_data(tmp_path):
    """``pytest --benchmark-only --xbench-models FILE.onnx --xbench-data FILE.npz``: ORT and OpenVINO rows, each with
    accuracy, named by file and hash, no machine path in the file; data without labels: one line, exit 2, no file."""
    model, data = argmax_model(tmp_path / "m.onnx"), split_data(tmp_path / "d.npz")
    ceiling = tmp_path / "ceiling.json"
    ceiling.write_text(json.dumps(CEILING))
    env = {**os.environ, "XBENCH_CEILING_FILE": str(ceiling), "PYTHONPATH": str(REPO)}

    def suite(data_path: Path, out: Path):
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "xbench/bench/suite",
                               "--benchmark-only", "--xbench-models", str(model), "--xbench-data", str(data_path),
                               "--xbench-providers", "cpu", "--xbench-dtypes", "float32,int8", "--xbench-blocks", "1",
                               "--xbench-frameworks", "keras",  # keeps torch out of an ONNX-only process (faster)
                               "-k", "b1 and not b128 and (cpu-default or qdq_static)", "--benchmark-max-time", "0.01",
                               "--benchmark-min-rounds", "3",
                               "--xbench-json", str(out)], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=120)

    out = tmp_path / "out.json"
    proc = suite(data, out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    text = out.read_text()
    assert str(tmp_path) not in text
    records = json.loads(text)["records"]
    assert {r["runtime"] for r in records} == {"onnxruntime", "openvino"}
    assert {r["dtype"] for r in records} == {"float32", "int8"}
    for r in records:
        assert r["status"] == "ok" and r["framework"] is None and r["model"].startswith("m.onnx@"), r["id"]
        assert r["accuracy"] is not None, r["id"]
    np.savez(tmp_path / "unlabelled.npz", x_test=np.zeros((4, CLASSES), np.float32))
    bad = suite(tmp_path / "unlabelled.npz", tmp_path / "bad.json")
    lines = (bad.stdout + bad.stderr).strip().splitlines()
    assert bad.returncode == 2 and "Traceback" not in bad.stdout + bad.stderr
    assert [line for line in lines if "xbench: error" in line] == [lines[-1]] and "no labels" in lines[-1]
    assert not (tmp_path / "bad.json").exists()


def _examples():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_example_models", REPO / "scripts" / "make_example_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_keras_file_is_loaded_in_safe_mode_and_keeps_its_compile_settings(tmp_path):
    """A Lambda layer (a Python lambda) needs unsafe deserialisation: one UserError naming safe mode. A compiled
    file brings its loss, optimizer and learning rate; a file that is not a .keras archive is one UserError."""
    examples = _examples()
    with pytest.raises(UserError, match=r"lambda.keras: Keras cannot load it with safe_mode=True: .*Lambda") as err:
        usermodel.resolve(str(examples.lambda_keras(tmp_path)))
    assert "\n" not in str(err.value)
    (tmp_path / "broken.keras").write_bytes(b"PK but not really")
    with pytest.raises(UserError, match="not a .keras file"):
        usermodel.resolve(str(tmp_path / "broken.keras"))
    model = usermodel.resolve(str(examples.keras_cnn(tmp_path, split_data(tmp_path / "unused.npz"), steps=0)))
    assert model.identity.startswith("cnn.keras@") and (model.input_shape, model.num_classes) == ((28, 28, 1), 10)
    assert model.notes == {"compiled": True, "optimizer": "adam", "learning_rate": 1e-3,
                           "loss": "sparse_categorical_crossentropy"}
    assert usermodel.train_reason(model) is None
    np.savez(tmp_path / "nhwc.npz", x_train=np.zeros((3, 28, 28, 1), np.float32), y_train=np.zeros(3, np.int64),
             x_test=np.zeros((2, 28, 28, 1), np.float32), y_test=np.zeros(2, np.int64))
    assert usermodel.load_data(tmp_path / "nhwc.npz", model).label == "nhwc.npz (3 train + 2 test)"
    import keras

    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="softmax")])
    plain.save(tmp_path / "plain.keras")  # never compiled: xbench's defaults, and the record says so
    notes = usermodel.resolve(str(tmp_path / "plain.keras")).notes
    assert (notes["compiled"], notes["optimizer"], notes["loss"]) == (False, "adam", "sparse_categorical_crossentropy")
    assert "not compiled" in notes["defaults"]
    plain.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    plain.save(tmp_path / "logits.keras")  # a loss xbench's Keras step does not compute: its train rows are skipped
    assert "from_logits=True" in usermodel.train_reason(usermodel.resolve(str(tmp_path / "logits.keras")))


def _doc_commands(block: int) -> list[str]:
    text = (REPO / "docs" / "own-model.md").read_text()
    code = text.split("## An example, end to end", 1)[1].split("```sh\n")[1 + block].split("```", 1)[0]
    return [line for line in code.splitlines() if line.strip()]


@pytest.mark.e2e
@pytest.mark.parametrize("block, framework, results, min_accuracy", [(0, "keras", "cnn.json", 0.5),
                                                                      (1, "torch", "resnet.json", 0.0)])
def test_the_own_model_page_runs_as_written(tmp_path, block, framework, results, min_accuracy):
    """docs/own-model.md's commands, as written, in a fresh folder (the suite's speed options through
    PYTEST_ADDOPTS): a Keras CNN with BatchNorm and Dropout (trained a few steps) and a PyTorch residual CNN give ok
    train-step rows and native, ORT fp32 and int8 and OpenVINO inference rows, each with accuracy on the test
    split; the report renders them."""
    import shlex

    ceiling = tmp_path / "ceiling.json"
    ceiling.write_text(json.dumps(CEILING))
    env = {**os.environ, "XBENCH_CEILING_FILE": str(ceiling), "PYTHONPATH": str(REPO),
           "PYTEST_ADDOPTS": "-p no:cacheprovider --xbench-providers cpu --xbench-blocks 1 --benchmark-max-time 0.01 "
                             "--benchmark-min-rounds 2 --xbench-dtypes float32,int8 "
                             "-k '(b1 and not b128 or train_step and b32) and not compile and not xla and not dynamic'"}
    outputs = []
    for line in _doc_commands(block):
        argv = shlex.split(line)
        argv = [sys.executable, "-m", "xbench.cli", *argv[1:]] if argv[0] == "xbench" else \
            [sys.executable, "-m", "pytest", *argv[1:]] if argv[0] == "pytest" else \
            [sys.executable, str(REPO / argv[1]), *argv[2:]]
        if argv[3:4] == ["explain"]:  # the page's explain, with a short timing budget
            argv += ["--budget", "0.1", "--blocks", "2"]
        proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{line}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        outputs.append(proc.stdout)
    records = json.loads((tmp_path / "examples" / results).read_text())["records"]
    assert all(r["status"] == "ok" for r in records), [(r["id"], r.get("reason")) for r in records if r["status"] != "ok"]
    rows = {(r["task"], r["runtime"], r["dtype"]) for r in records}
    assert {("train_step", framework, "float32"), ("inference", framework, "float32"),
            ("inference", "onnxruntime", "float32"), ("inference", "onnxruntime", "int8"),
            ("inference", "openvino", "float32")} <= rows
    for r in records:
        assert r["model"].startswith(results.replace(".json", ".")) and r["framework"] == framework
        if r["task"] == "inference":
            assert r["accuracy"] >= min_accuracy and r["accuracy_images"] == 1000, r["id"]
    report = next(out for line, out in zip(_doc_commands(block), outputs) if line.startswith("xbench report"))
    assert records[0]["model"] in report
    if framework == "keras":  # the page's explain: the verdict for the file's export
        assert f"xbench explain: {records[0]['model']} (its Keras export, in ONNX Runtime)" in outputs[-1]
        assert re.search(r"onnxruntime inference: (fixed-cost-bound|compute-bound|memory-bound|below-roofline|unresolved)",
                         outputs[-1])


@pytest.mark.parametrize("source, message", [
    ("raise RuntimeError('no GPU here')\n", r"bad.py does not import: RuntimeError: no GPU here"),
    ("def build():\n    return 42\n", r"returned int, not a torch.nn.Module"),
    ("import torch\ndef build():\n    return torch.nn.Linear(4, 2)\n", r"no input_shape attribute"),
    ("import torch\ndef other():\n    return None\n", r"has no function 'build'"),
])
def test_a_torch_function_that_gives_no_module_is_one_user_error(tmp_path, source, message):
    (tmp_path / "bad.py").write_text(source)
    with pytest.raises(UserError, match=message) as err:
        usermodel.resolve(f"{tmp_path / 'bad.py'}:build")
    assert "\n" not in str(err.value)


def test_a_torch_module_takes_its_shape_from_its_attribute_and_its_data_in_its_layout(tmp_path):
    path, nchw = _examples().torch_resnet(tmp_path, split_data(tmp_path / "unused.npz"))
    model = usermodel.resolve(f"{path}:build")
    assert model.identity.startswith("resnet.py:build@") and (model.data_shape, model.num_classes) == ((1, 28, 28), 10)
    np.savez(tmp_path / "nhwc.npz", x_test=np.zeros((4, 28, 28, 1), np.float32), y_test=np.zeros(4, np.int64))
    with pytest.raises(UserError, match=r"x_test samples are \[28, 28, 1\].*takes \[\?, 1, 28, 28\]"):
        usermodel.load_data(tmp_path / "nhwc.npz", model)


def test_train_steps_never_read_the_test_split(tmp_path):
    """Data with a test split only: the train-step rows are skipped with the reason, not fed test images."""
    from xbench.bench import cases as suite
    from xbench.data import EMBEDDED, read_npz

    path, _ = _examples().torch_resnet(tmp_path, split_data(tmp_path / "unused.npz"))
    model = usermodel.resolve(f"{path}:build")
    np.savez(tmp_path / "test_only.npz", x_test=np.zeros((8, 1, 28, 28), np.float32), y_test=np.zeros(8, np.int64))
    ctx = suite.Context(read_npz(EMBEDDED), tmp_path, user_data=str(tmp_path / "test_only.npz"))
    case = next(c for c in suite.user_cases("train_step", model, ["CPUExecutionProvider"]) if c.variant == "eager")
    with pytest.raises(suite.Skip, match="no labelled train split"):
        suite.prepare(case, ctx)
