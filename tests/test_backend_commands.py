"""The commands that take several frameworks (explain --runtimes, sweep-train --frameworks, run --frameworks) with
Keras's JAX and PyTorch backends: a backend other than the process's in a child process, merged into one report.

Pure Python except two launches: one child that fails (its reason comes back in one line) and, under ``-m e2e``,
``xbench explain --runtimes keras-jax`` end to end (one JAX child)."""

from __future__ import annotations

import json

import pytest

from test_explain import in_process  # noqa: F401 (a fixture: the command in this process, the session's ceiling)

from xbench.schema import read_results


def _main(*args) -> int:
    from xbench.cli import main

    try:
        return main([str(a) for a in args])
    except SystemExit as exc:
        return exc.code


def _args(*argv):
    from xbench.cli import build_parser

    parser, _ = build_parser()
    return parser.parse_args([str(a) for a in argv])


# ---- bad input ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, words", [
    (["sweep-train", "--frameworks", "keras,keras-jx"], ["--frameworks", "'keras-jx'", "keras-jax", "keras-torch"]),
    (["explain", "--model", "seed_cnn", "--runtimes", "keras-jx"], ["--runtimes", "keras-jx", "keras-jax", "keras-torch"]),
    (["run", "--frameworks", "keras-jx"], ["'keras-jx'", "keras-jax", "keras-torch"]),
])
def test_a_typo_in_a_framework_is_one_line_naming_the_valid_ones(argv, words, tmp_path, capsys, thread_env):
    assert _main(*argv, *(["--out", tmp_path] if argv[0] == "sweep-train" else [])) == 2
    err = capsys.readouterr().err
    errors = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(errors) == 1 and "Traceback" not in err and all(w in errors[0] for w in words), err
    assert not list(tmp_path.iterdir())  # nothing half-written


# ---- sweep-train ----------------------------------------------------------------------------------------------------

def test_sweep_train_child_gets_every_setting_that_makes_a_cell(tmp_path):
    from xbench.commands import sweep_train

    parent = _args("sweep-train", "--frameworks", "keras,keras-jax", "--model", "seed_cnn", "--cells",
                   "32:0.001,64:0.003", "--target", "0.97", "--max-epochs", "2", "--evals-per-epoch", "3",
                   "--repeats", "4", "--also-targets", "0.95,0.96", "--check-every", "25", "--init", "shared",
                   "--seed", "7", "--all-epochs", "--data", "mnist.npz", "--out", tmp_path)
    child = _args("sweep-train", *sweep_train.child_args(parent, "keras-jax", [(64, 0.003)], tmp_path / "c"))
    assert child.frameworks == "keras-jax" and sweep_train._grid(child) == [(64, 0.003)]
    assert child.out == str(tmp_path / "c") and child.quiet and not child.resume
    same = ("model", "target", "max_epochs", "evals_per_epoch", "repeats", "check_every", "init", "seed", "all_epochs",
            "data")
    assert {k: getattr(child, k) for k in same} == {k: getattr(parent, k) for k in same}
    assert sweep_train.targets_list(child.also_targets) == sweep_train.targets_list(parent.also_targets)


def _tta_record(mnist, framework: str, batch: int, lr: float) -> dict:
    """A time-to-accuracy record as a sweep's process writes it (pure data: no training)."""
    from xbench.spec import load_spec
    from xbench.training import tta
    from xbench.training.train import TrainResult

    curve = [{"step": 10, "epoch": 1.0, "train_s": 1.0, "eval_s": 0.1, "wall_s": 1.2, "test_accuracy": 0.6,
              "loss": 0.1}]
    result = TrainResult(framework, "seed_cnn", 1, batch, lr, 0, "d", "s", 1, steps=10, curve=curve)
    run = tta.summarize(result, 0.5, 10, ())
    return tta.make_record(framework, load_spec("seed_cnn"), mnist, [run], batch, lr, 1, None).to_dict()


def test_sweep_train_merges_a_backend_process_keeps_it_when_interrupted_and_resumes(mnist, tmp_path, monkeypatch,
                                                                                     capsys, thread_env):
    """keras-jax's cells come from its own process (here a stand-in that hands back records as the real child's
    sweep.json would): merged in the grid's order with its process listed, kept after an interruption, and on
    --resume only the missing cell is asked of a new process."""
    from xbench.commands import sweep_train

    asked = []

    def child(args, fw, backend, cells, keep):
        asked.append((fw, backend, cells))
        doc = {"created_at": "t", "env": {"threads": {}, "imported": ["jax"]},
               "records": [_tta_record(mnist, fw, b, lr) for b, lr in cells[:1]]}
        keep(doc, fw)
        if len(cells) > 1:
            raise KeyboardInterrupt  # Ctrl-C after the child's first cell

    monkeypatch.setattr(sweep_train, "_run_child", child)
    argv = ["sweep-train", "--frameworks", "keras-jax", "--cells", "32:0.001,64:0.001", "--target", "0.5",
            "--max-epochs", "1", "--repeats", "1", "--out", tmp_path, "--quiet"]
    assert _main(*argv) == 130
    doc = read_results(tmp_path / "sweep.json")
    assert [(r["framework"], r["batch_size"]) for r in doc["records"]] == [("keras-jax", 32)]
    assert doc["env"]["processes"] == [{"frameworks": ["keras-jax"], "created_at": "t", "threads": {},
                                        "imported": ["jax"], "keras_backend": "jax"}]
    assert asked == [("keras-jax", "jax", [(32, 0.001), (64, 0.001)])]

    assert _main(*argv, "--resume") == 0
    assert asked[-1] == ("keras-jax", "jax", [(64, 0.001)])
    doc = read_results(tmp_path / "sweep.json")
    assert [(r["framework"], r["batch_size"]) for r in doc["records"]] == [("keras-jax", 32), ("keras-jax", 64)]
    err = capsys.readouterr().err
    assert "keras-jax batch 32 lr 0.001: kept from the earlier sweep.json" in err
    assert "(in the keras-jax process)" in err
    assert "| 64 |" in (tmp_path / "sweep_keras-jax.md").read_text()


# ---- explain --------------------------------------------------------------------------------------------------------

def _measurement(runtime: str, task: str = "train_step") -> dict:
    return {"runtime": runtime, "framework": runtime, "provider": "cpu", "task": task, "batch_size": 32,
            "median_s": 0.01}


def test_a_childs_measurements_join_the_report_and_other_batches_are_refused():
    from xbench.explain.analysis import merge_child_report

    report = {"batch_size": 32, "fit_batches": [8, 16, 32], "measurements": [_measurement("torch")], "epochs": [],
              "skipped": [], "warnings": []}
    child = {"batch_size": 32, "fit_batches": [8, 16, 32], "skipped": [],
             "measurements": [_measurement("torch"), _measurement("keras-jax"), _measurement("keras-jax", "inference")],
             "epochs": [{"framework": "keras-jax", "epoch_s": 1.0}],
             "warnings": ["the CPU was 90% busy with other work", "seed_cnn.torch.onnx: a counting note",
                          "Keras (JAX) train_step achieved 9 GFLOP/s, above the measured ceiling"]}
    merge_child_report(report, child, "keras-jax", "jax")
    assert [(m["runtime"], m["task"]) for m in report["measurements"]] == [
        ("torch", "train_step"), ("keras-jax", "train_step"), ("keras-jax", "inference")]  # its own runtime only
    assert report["measurements"][1]["process"] == {"keras_backend": "jax"}
    assert report["epochs"] == [{"framework": "keras-jax", "epoch_s": 1.0, "process": {"keras_backend": "jax"}}]
    assert report["warnings"] == ["in the keras-jax process (KERAS_BACKEND=jax): the CPU was 90% busy with other work"]

    report = {**report, "measurements": [], "skipped": []}
    merge_child_report(report, {**child, "fit_batches": [16, 32]}, "keras-jax", "jax")
    assert report["measurements"] == [] and "[16, 32], not [8, 16, 32]" in report["skipped"][0]["reason"]


def test_a_failed_child_is_that_runtimes_skip_line_with_its_last_words(tmp_path):
    """A real child that fails (a bad argument: exit 2): its one line comes back as the reason, and explain turns it
    into the runtime's skip line instead of failing the command."""
    from xbench.commands._backend_child import ChildFailed, run_child
    from xbench.explain.analysis import _merge_child

    with pytest.raises(ChildFailed) as caught:
        run_child("explain", ["--model", "seed_cnn", "--blocks", "0", "--json", str(tmp_path / "r.json")],
                  "keras-jax", "jax", tmp_path / "r.json")
    reason = str(caught.value)
    assert reason.startswith("keras-jax ran in its own process (KERAS_BACKEND=jax) and failed (exit status 2): ")
    assert "--blocks" in reason and "positive integer" in reason and "\n" not in reason

    def child(runtime, batches):
        raise ChildFailed(reason)

    report = {"skipped": [], "measurements": []}
    _merge_child(report, "keras-jax", "jax", child, [8, 16, 32], None)
    assert report == {"skipped": [{"runtime": "keras-jax", "reason": reason}], "measurements": []}


def test_readable_labels_for_the_backends_and_the_old_names_unchanged():
    from xbench.explain.story import label

    assert label(_measurement("keras-jax")) == "Keras (JAX) train_step"
    assert label(_measurement("keras-torch", "inference")) == "Keras (PyTorch) inference"
    assert [label(_measurement(r)) for r in ("keras", "torch")] == ["keras train_step", "torch train_step"]


@pytest.mark.e2e
def test_explain_measures_keras_jax_in_its_own_process_and_merges_it(tmp_path, in_process):
    """``xbench explain --runtimes keras-jax`` from a TensorFlow-backend process: one JAX child (tiny budget), its
    train step and inference fitted and judged in the parent's report under the parent's ceiling."""
    out = tmp_path / "e.json"
    code, stdout, stderr = in_process("explain", "--model", "seed_cnn", "--batch-size", "32", "--runtimes",
                                      "keras-jax", "--budget", "0.05", "--blocks", "2", "--fit-batches", "8,16,32",
                                      "--json", str(out))
    assert code == 0, stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["skipped"] == [], doc["skipped"]
    ms = {(m["runtime"], m["task"]): m for m in doc["measurements"]}
    assert set(ms) == {("keras-jax", "train_step"), ("keras-jax", "inference")}
    for m in ms.values():
        assert m["framework"] == "keras-jax" and m["process"] == {"keras_backend": "jax"}
        assert m["fit"]["available"] and m["fit"]["per_sample_s"] is not None and m["verdict"]
        assert set(m["block_medians_s"]) == {"8", "16", "32"} and m["fraction_of_peak"] is not None
    assert ms["keras-jax", "train_step"]["optimizer"]["class"] == "keras.optimizers.Adam"
    assert "no per-layer times" in ms["keras-jax", "train_step"]["profile"]["note"]
    assert [e["framework"] for e in doc["epochs"]] == ["keras-jax"]
    assert "Keras (JAX) train_step" in stdout and "Keras (JAX) inference" in stdout
    assert "[keras-jax] [explain] timing" in stderr  # the child's progress, passed through


# ---- run ------------------------------------------------------------------------------------------------------------

def test_run_keeps_the_keras_backend_of_each_process_a_framework_ran_in():
    """``xbench run --frameworks keras,keras-jax``: keras-jax's pytest process hands its cases to a child (the
    suite's rule), whose line in that file's ``env.processes`` names its Keras backend; the merged file keeps it."""
    from xbench.commands.run import merge

    env = {"python": "3.11", "os": "Linux", "cpu": {}, "threads": {}, "versions": {},
           "ceiling": {"measured_in": "subprocess before the run"}}
    rec = {"id": "x", "task": "train_step", "framework": "keras", "runtime": "keras", "provider": "cpu",
           "model": "seed_cnn", "batch_size": 32, "dtype": "float32", "variant": "default", "status": "skipped",
           "reason": "because", "stats": None, "samples_s": [], "throughput": None}
    keras = {"created_at": "t1", "env": {**env, "imported": ["tensorflow"]}, "records": [rec]}
    jax_env = {**env, "imported": ["tensorflow"], "processes": [
        {"frameworks": [], "created_at": "t2", "threads": {}, "imported": ["tensorflow"]},
        {"frameworks": ["keras-jax"], "created_at": "t3", "threads": {}, "imported": ["jax"], "keras_backend": "jax"}]}
    jax = {"created_at": "t2", "env": jax_env,
           "records": [{**rec, "id": "y", "framework": "keras-jax", "runtime": "keras-jax"}]}
    procs = merge([keras, jax])["env"]["processes"]
    assert [(p["frameworks"], p.get("keras_backend")) for p in procs] == [(["keras"], None), (["keras-jax"], "jax")]
    assert {p["ceiling_measured_in"] for p in procs} == {"subprocess before the run"}
