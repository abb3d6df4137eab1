"""`xbench explain`, `xbench infer` and `xbench sweep` as a user runs them; the roofline verdicts."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xbench.schema import read_results

REPO = Path(__file__).resolve().parents[1]


EPOCH_SLICE = 700  # the first 700 of the embedded subset's 5,000 training images: 22 steps of 32


def xbench_short_epochs(*args, timeout=600):
    """``xbench ARGS`` in a fresh process, as a user runs it, with its epochs over the first ``EPOCH_SLICE``
    training images instead of the suite's ``EPOCH_SAMPLES`` (the same real digits, a seventh of the loop): the
    tests read the epoch's arithmetic and fields, not a timing that needs 5,000 images."""
    code = ("import sys; from xbench.bench import cases; cases.EPOCH_SAMPLES = %d; from xbench.cli import main; "
            "sys.exit(main(sys.argv[1:]))" % EPOCH_SLICE)
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ}, timeout=timeout)


def use_session_ceiling(monkeypatch, ceiling_env: dict) -> None:
    """``roofline.measure_in_subprocess`` returns the ceiling this session measured once in a subprocess (the same
    function, run once) instead of measuring it again for ~5 s; the ceiling a command adopts is restored after."""
    from xbench.explain import roofline

    monkeypatch.setattr(roofline, "_CEILING", roofline._CEILING)
    if ceiling_env:  # empty when the session's measurement failed: each command measures its own
        measured = json.loads(Path(ceiling_env["XBENCH_CEILING_FILE"]).read_text())
        monkeypatch.setattr(roofline, "measure_in_subprocess", lambda *a, **k: dict(measured))


@pytest.fixture
def in_process(monkeypatch, capsys, ceiling_env, thread_env):
    """``xbench ARGS`` in this process (no interpreter start, no second import of ONNX Runtime), with the machine's
    ceiling this session measured in a subprocess (``ceiling_env``) instead of a fresh 5 s measurement per command:
    for the tests whose subject is not the ceiling. Returns (exit code, stdout, stderr)."""
    use_session_ceiling(monkeypatch, ceiling_env)

    def run(*args):
        capsys.readouterr()
        code = _main(args)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def light(name: str) -> Path:
    import onnx

    path = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light" / f"light_{name}.onnx"
    if not path.is_file():
        pytest.skip(f"{path} not installed with this onnx package")
    return path


def doc_samples(doc: dict) -> int:
    """The epoch's images: the suite's EPOCH_SAMPLES, or fewer when the data has fewer."""
    from xbench.bench.cases import EPOCH_SAMPLES

    e = doc["epochs"][0]
    return min(EPOCH_SAMPLES, round(e["images_per_s"] * e["epoch_s"]))


@pytest.mark.e2e
@pytest.mark.slow
def test_explain_seed_cnn_json_has_total_macs_a_layer_table_and_a_checkable_verdict(tmp_path):
    from test_verdict import check_rules

    out = tmp_path / "e.json"
    proc = xbench_short_epochs("explain", "--model", "seed_cnn", "--batch-size", "32", "--budget", "0.1", "--blocks",
                               "2", "--fit-batches", "8,16,32", "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["total_macs"] == 248_768 and doc["total_flops"] == 2 * 248_768
    assert [r["name"] for r in doc["layers"]] == ["0:conv2d", "1:maxpool2d", "2:flatten", "3:dense"]
    assert [r["macs_per_sample"] for r in doc["layers"]] == [194_688, 0, 0, 54_080]
    assert doc["export_check"]["same"] is True
    assert doc["ceiling"]["cpu"]["matmul_gflops"] > 0 and doc["ceiling"]["cpu"]["bandwidth_gbs"] > 0
    assert doc["ceiling"].get("measured_in") == "subprocess before the run"
    pb = doc["per_batch"]
    assert pb["bytes_layers"] > 10 * pb["bytes_min"] and pb["train_bytes_layers"] > pb["bytes_layers"]
    got = {(m["runtime"], m["framework"], m["task"]) for m in doc["measurements"]}
    assert {("onnxruntime", "torch", "inference"), ("onnxruntime", "keras", "inference"),
            ("torch", "torch", "train_step"), ("keras", "keras", "train_step")} <= got
    for m in doc["measurements"]:
        assert m["median_s"] > 0 and m["achieved_gflops"] > 0 and 0 < m["fraction_of_peak"] <= 1
        assert m["fit"]["available"] and sorted(map(int, m["fit"]["points"])) == [8, 16, 32]
        assert m["fixed_s"] is not None and m["per_sample_s"] is not None
        # the raw share (never clamped) and its bootstrap interval over the two blocks kept per batch size
        assert m["fixed_fraction"] == pytest.approx(m["fixed_s"] / m["median_s"], abs=1e-3)
        assert sorted(map(int, m["block_medians_s"])) == [8, 16, 32] and all(
            len(v) == 2 for v in m["block_medians_s"].values())
        lo, hi = m["fixed_fraction_ci95"]
        assert lo <= hi and m["fit"]["fixed_share_resolved"] == (not lo <= 0 <= hi and hi - lo <= m["fixed_fraction"])
        assert m["verdict"] in ("fixed-cost-bound", "compute-bound", "memory-bound", "below-roofline", "unresolved")
        check_rules(m)  # the verdict follows from its own fit and floors
        assert m["arithmetic_intensity_layers"] < m["arithmetic_intensity"]
    train = [m for m in doc["measurements"] if m["task"] == "train_step"]
    # the settings that ran: the spec's optimizer (the suite's factory), the suite's warm-ups and session settings
    assert all(m["optimizer"]["name"] == "adam" for m in train)
    assert all(m["warmup_calls"] == 3 for m in doc["measurements"])
    assert all(m["session"]["provider"] == "CPUExecutionProvider"
               for m in doc["measurements"] if m["runtime"] == "onnxruntime")
    assert all(m["flops_per_batch"] == 32 * 2 * (248_768 + 194_688 + 2 * 54_080) for m in train)
    assert all(len(m["per_layer_s"]) == 4 for m in train)
    keras = next(m for m in train if m["runtime"] == "keras")
    # Keras's rows less an empty call: the layers and the rest add up to the step (within 10 %)
    assert keras["profile"]["empty_call_s"] > 0
    assert keras["profile"]["layers_exceed_step_by_s"] <= 0.1 * keras["median_s"]
    torch_train = next(m for m in train if m["runtime"] == "torch")
    prof = torch_train["profile"]  # scaled to the step for display; unscaled, its rows fit in the profiled step
    unscaled = (sum(r["forward_s"] + r["backward_s"] for r in torch_train["per_layer_split"])
                + sum(torch_train["other_s"].values()) / prof["scale"])
    assert prof["scale"] == pytest.approx(torch_train["median_s"] / prof["step_s"])
    assert unscaled == pytest.approx(prof["step_s"], rel=0.01)  # nothing counted twice
    assert doc["dominant_layers"] and "train" in doc["summary"] and "billions" in doc["summary"]
    assert "fixed share" in doc["summary"]
    assert "Per layer" in proc.stdout and "0:conv2d" in proc.stdout and "of peak" in proc.stdout
    assert "Verdicts (fixed-cost-bound if fixed % >= 50" in proc.stdout and "rule: " in proc.stdout
    # the seed's own loop, timed as its reader runs it, against the sum of its steps
    epochs = {e["framework"]: e for e in doc["epochs"]}
    assert set(epochs) == {"keras", "torch"}
    assert epochs["keras"]["variant"] == "fit" and epochs["torch"]["variant"] == "dataloader"
    step = {m["runtime"]: m["median_s"] for m in train}
    for name, e in epochs.items():
        assert e["batch_size"] == 32 and e["steps_per_epoch"] == -(-doc_samples(doc) // 32) and len(e["blocks_s"]) == 2
        assert e["epoch_s"] > 0 and e["sum_of_steps_s"] == pytest.approx(e["steps_per_epoch"] * step[name])
        assert e["loop_fraction"] == pytest.approx(1 - e["sum_of_steps_s"] / e["epoch_s"], abs=1e-3)
        assert len(e["loop_fraction_ci95"]) == 2 and isinstance(e["loop_resolved"], bool)
    assert doc["created_at"].startswith("20")
    assert "One epoch against the sum of its steps" in proc.stdout and "One epoch as a user writes it" in doc["summary"]


def test_explain_third_party_onnx_fixed_batch_old_opset(tmp_path, in_process):
    out = tmp_path / "a.json"
    code, stdout, stderr = in_process("explain", str(light("bvlc_alexnet")), "--budget", "0.3", "--json", str(out))
    assert code == 0, stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["total_macs"] == 654_560_384 and doc["batch_size"] == 1
    assert doc["inputs"][0]["name"] == "data_0" and doc["inputs"][0]["shape"] == [1, 3, 224, 224]
    (m,) = doc["measurements"]
    assert m["provider"] == "CPUExecutionProvider" and m["verdict"] and m["per_node_s"]
    assert "Conv+Relu" in stdout and "ConstantOfShape x16" in stdout


def test_unknown_operator_is_a_visible_warning_not_a_zero(tmp_path, in_process):
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper, save

    f = TensorProto.FLOAT
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"]),
         helper.make_node("Einsum", ["c", "c"], ["y"], equation="nchw,nchw->nc")],
        "g", [helper.make_tensor_value_info("x", f, ["N", 1, 8, 8])], [helper.make_tensor_value_info("y", f, ["N", 4])],
        initializer=[numpy_helper.from_array(np.ones((4, 1, 3, 3), np.float32), "w")])
    path = tmp_path / "einsum.onnx"
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    code, stdout, stderr = in_process("explain", str(path), "--budget", "0.1")
    assert code == 0, stderr[-3000:]
    assert "Einsum [UNKNOWN]" in stdout and "WARNING" in stdout
    assert "warning:" in stderr and "Einsum" in stderr


def bad_cases(tmp_path):
    text = tmp_path / "notes.onnx"
    text.write_text("not a model\n")
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(light("resnet50").read_bytes()[:30000])
    alex = str(light("bvlc_alexnet"))
    return [
        (["infer", str(text)], "not a readable ONNX model"),
        (["explain", str(text)], "not a readable ONNX model"),
        (["infer", str(cut)], "truncated or not an ONNX file"),
        (["explain", str(cut)], "truncated or not an ONNX file"),
        (["infer", str(tmp_path / "missing.onnx")], "no such file"),
        (["infer", alex, "--batch-size", "4"], "fixed batch of 1"),
        (["explain", alex, "--batch-size", "8"], "fixed batch of 1"),
        (["infer", alex, "--shape", "image=1x3x224x224"], "no input named 'image'; its inputs are: data_0"),
        (["explain", alex, "--shape", "image=1x3x224x224"], "no input named 'image'"),
        (["infer", alex, "--shape", "data_0=1x3xHx224"], "positive integers"),
        (["infer", alex, "--provider", "tpu"], "unknown provider 'tpu'"),
        (["explain"], "give either --model NAME or an ONNX file path"),
        (["explain", "--model", "lenet9"], "unknown model 'lenet9'"),
        (["explain", "--model", "seed_cnn", "--runtimes", "mxnet"], "--runtimes: unknown mxnet"),
        (["sweep", "--runtimes", "mxnet"], "--runtimes: unknown mxnet"),
        (["sweep", "--sizes", "0,28"], "positive integers"),
    ]


def _main(args) -> int:
    """The command in this process (as a user's shell runs it, minus the interpreter start): argparse's errors exit
    with 2, a traceback would be an exception here and fail the test."""
    from xbench.cli import main

    try:
        return main(list(args))
    except SystemExit as exc:
        return exc.code


def test_bad_input_is_one_line_exit_2(tmp_path, capsys):
    failures = []
    for args, message in bad_cases(tmp_path):
        code = _main(args)
        out, err = capsys.readouterr()
        errors = [line for line in err.splitlines() if "error:" in line]
        if not (code == 2 and message in err and len(errors) == 1):
            failures.append((args, code, err[-500:]))
    assert not failures, failures


def test_infer_light_model_writes_a_schema_valid_results_file_with_a_record_per_provider(tmp_path, in_process):
    """One run for both checks: the CPU record's fields, and an unavailable provider as a skipped record."""
    out = tmp_path / "r.json"
    code, _, stderr = in_process("infer", str(light("squeezenet")), "--provider", "cpu,cuda", "--budget", "0.3",
                                 "--json", str(out))
    assert code == 0, stderr[-3000:]
    doc = read_results(out)  # validates against the results schema
    recs = {r["provider"]: r for r in doc["records"]}
    assert set(recs) == {"CPUExecutionProvider", "CUDAExecutionProvider"}
    rec = recs["CPUExecutionProvider"]
    assert rec["framework"] is None and rec["model"] == "light_squeezenet.onnx" and rec["runtime"] == "onnxruntime"
    assert rec["status"] == "ok" and rec["batch_size"] == 1
    assert rec["stats"]["rounds"] >= 3 and rec["achieved_gflops"] > 0 and rec["verdict"]
    assert abs(rec["cost"]["macs_per_sample_forward"] - 0.35e9) / 0.35e9 < 0.05
    assert doc["env"]["ceiling"]["cpu"]["matmul_gflops"] > 0
    # the settings that ran (the suite's warm-ups, the session ORT really ran), the ceiling measured as the suite does
    assert rec["warmup_calls"] == 3 and "provider_options_effective" in rec["session"]
    assert doc["env"]["ceiling"].get("measured_in") == "subprocess before the run"
    cuda = recs["CUDAExecutionProvider"]
    if cuda["status"] != "ok":  # a machine without a usable GPU: recorded with ORT's reason, never run on the CPU
        assert cuda["status"] == "skipped" and "CUDAExecutionProvider" in cuda["reason"]


def test_infer_symbolic_batch_runs_each_batch(tmp_path, in_process):
    from xbench import frameworks
    from xbench.spec import load_spec

    spec = load_spec("seed_cnn")
    fw = frameworks.get("torch")
    path = tmp_path / "seed.onnx"
    fw.export_onnx(fw.build(spec, 0), spec, path, 18)
    out = tmp_path / "r.json"
    code, _, stderr = in_process("infer", str(path), "--batch-size", "1", "16", "--budget", "0.1", "--json", str(out))
    assert code == 0, stderr[-3000:]
    recs = read_results(out)["records"]
    assert [r["batch_size"] for r in recs] == [1, 16]
    assert [r["cost"]["flops_per_batch"] for r in recs] == [2 * 248_768, 16 * 2 * 248_768]


def test_torch_profile_rows_fit_in_the_profiled_step_and_name_each_layer(seed_spec, mnist):
    """The unscaled profile (``explain`` scales it to the unprofiled step for display, which hides both faults): the
    rows count nothing twice, and each layer's backward is found (not left in "backward (other)")."""
    from xbench import frameworks
    from xbench.data import batch
    from xbench.explain import profiles

    fw = frameworks.get("torch")
    model = fw.build(seed_spec, 0)
    step = fw.make_train_step(model, seed_spec, seed_spec.learning_rate, seed_spec.optimizer_name)
    x, y = batch(mnist, seed_spec.input_shape, 32, split="train")
    prof = profiles.torch_train_profile(model, seed_spec, step, *fw.to_native(model, x, y), steps=2)
    layers, buckets = prof["layers"], prof["buckets_s"]
    named = sum(r["forward_s"] + r["backward_s"] for r in layers) + sum(
        v for k, v in buckets.items() if not k.startswith("other"))
    assert named <= 1.01 * prof["step_s"]  # the remainder ("other") is never negative: no event counted twice
    conv, _, _, dense = layers
    assert min(conv["forward_s"], conv["backward_s"], dense["forward_s"], dense["backward_s"]) > 0
    assert buckets["backward (other)"] < 0.1 * sum(r["backward_s"] for r in layers)
    assert buckets["loss"] > 0 and buckets["optimizer"] > 0


def test_the_cpu_ceiling_has_a_rate_even_when_its_budget_is_spent_before_it_starts():
    """On a loaded machine the imports and warm-up calls can outlast the budget: still one timed round each."""
    from xbench.explain import roofline

    cpu = roofline._cpu_ceiling(0.001)
    assert cpu["matmul_gflops"] > 0 and cpu["bandwidth_gbs"] > 0 and len(cpu["matmul"]) >= 2


def test_roofline_verdicts():
    from xbench.explain.roofline import annotate

    peak = {"matmul_gflops": 100.0, "bandwidth_gbs": 10.0}
    # 1 GFLOP moving 1 MB: 10 ms of arithmetic, 0.1 ms of memory
    assert annotate(1e9, 1e6, 0.0125, peak)["verdict"] == "compute-bound"
    # 10 MFLOP moving 100 MB: 0.1 ms of arithmetic, 10 ms of memory
    assert annotate(1e7, 1e8, 0.012, peak)["verdict"] == "memory-bound"
    # 1 MB compulsory but 100 MB layer by layer: the layer-by-layer floor decides
    assert annotate(1e7, 1e6, 0.012, peak, bytes_layers=1e8)["verdict"] == "memory-bound"
    # the same work taking 10x what it needs, with no fit over batch sizes: not resolved, never guessed
    slow = annotate(1e9, 1e6, 0.1, peak)
    assert slow["verdict"] == "unresolved" and "fixed per-call cost cannot be told" in slow["verdict_rule"]
    assert slow["achieved_gflops"] == 10.0 and slow["fraction_of_peak"] == 0.1 and slow["arithmetic_intensity"] == 1000


def test_sweep_fit_and_plot(tmp_path):
    from xbench.training import sweep

    pts = sweep.points()
    assert len(pts) == len({(p["size"], p["channels"], p["depth"]) for p in pts}) == 9
    rows = [{"runtime": "a", "task": "inference", "axis": "size", "flops": f, "median_s": f / 1e11} for f in (1e6, 1e7, 1e8)]
    rows += [{"runtime": "b", "task": "train_step", "axis": "depth", "flops": f, "median_s": 1e-3} for f in (1e6, 1e8)]
    fits = sweep.fit(rows)
    assert fits["a"]["slope"] == pytest.approx(1.0) and fits["b"]["slope"] == pytest.approx(0.0, abs=1e-9)
    sweep.plot(rows, fits, tmp_path / "s.png", peak_gflops=100, batch=32)
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
