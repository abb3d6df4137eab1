"""The suite's serve stage (``--xbench-serve``): its options are `xbench serve`'s, checked before any case runs,
never inherited by a Keras backend's child process; one real suite run with the stage (e2e) merges LoadGen's
records into the session's file, keeps the logs beside it and reuses the session's trained weights."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from xbench.bench import serve_stage
from xbench.errors import UserError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("value, message", [
    ("--scenarios bogus", r"^--xbench-serve: --scenarios: unknown 'bogus'; valid: single-stream"),
    ("--json x.json", r"^--xbench-serve: --json is the stage's own"),
    ("--frob", r"^--xbench-serve: unrecognized arguments: --frob \(its value takes `xbench serve` options"),
    ("--start-qps 900 --max-qps 800", r"^--xbench-serve: --start-qps 900 is above --max-qps 800"),
])
def test_bad_serve_options_are_one_user_error(value, message):
    with pytest.raises(UserError, match=message):
        serve_stage.serve_args("seed_cnn", None, value)


def test_the_stage_runs_what_xbench_serve_would_with_its_defaults():
    from xbench.commands import serve

    args = serve_stage.serve_args("seed_cnn", "m.npz", "")
    assert (args.model, args.data, args.runtimes, args.dtypes) == ("seed_cnn", "m.npz", serve.DEFAULT_RUNTIMES,
                                                                   serve.DEFAULT_DTYPES)
    args = serve_stage.serve_args("seed_cnn", None, "--dtypes float32 --no-batcher")
    assert args.dtypes == "float32" and args.no_batcher


def test_a_keras_backend_child_never_runs_the_stage(tmp_path):
    from xbench.bench.backends import child_args

    got = child_args(["--benchmark-only", "--xbench-serve", "--xbench-threads", "2"], "keras-jax", tmp_path / "p.json")
    assert "--xbench-serve" not in got and got[:3] == ["--benchmark-only", "--xbench-threads", "2"]
    got = child_args(["--benchmark-only", "--xbench-serve=--dtypes float32"], "keras-jax", tmp_path / "p.json")
    assert not any(a.startswith("--xbench-serve") for a in got)


def test_a_bad_serve_option_ends_the_session_with_exit_2_before_any_case():
    proc = subprocess.run([sys.executable, "-m", "pytest", "xbench/bench/suite", "--benchmark-only", "-q",
                           "-p", "no:cacheprovider", "--xbench-serve=--scenarios bogus"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout[-2000:]
    assert "xbench: error: --xbench-serve: --scenarios: unknown 'bogus'" in proc.stdout + proc.stderr


@pytest.mark.e2e
def test_a_suite_run_with_the_stage_merges_loadgens_records_and_keeps_the_logs(tmp_path):
    from xbench.schema import read_results

    out, reuse = tmp_path / "r.json", tmp_path / "weights"
    reuse.mkdir()
    env = {**os.environ, "XBENCH_OFFLINE": "1", "XBENCH_REUSE_TRAINED": str(reuse)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "xbench/bench/suite", "--benchmark-only", "-q", "-p", "no:cacheprovider",
         "--benchmark-max-time=0.05", "--xbench-blocks", "1", "--xbench-models", "seed_cnn", "--xbench-frameworks",
         "torch", "--xbench-dtypes", "float32", "-k", "onnxruntime and cpu and default and b1 and not b128",
         "--xbench-json", str(out), "--xbench-serve=--runtimes onnxruntime --dtypes float32 --variants default "
         "--scenarios single-stream,accuracy --no-noop --min-duration-ms 300"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = read_results(out)
    serve = [r for r in doc["records"] if r["task"] == "serve"]
    assert sorted(r["serve"]["scenario"] for r in serve) == ["accuracy", "single-stream"]
    assert all(r["status"] == "ok" for r in serve) and serve[0]["serve"]["loadgen"]["logs"]
    acc = next(r for r in serve if r["serve"]["scenario"] == "accuracy")["serve"]["accuracy"]
    assert acc["equals_suite"], acc
    logs = doc["env"]["serve"]["models"]["seed_cnn"]["logs"]
    assert logs == "r.serve-seed_cnn.loadgen"
    named = {n for r in serve for n in r["serve"]["loadgen"]["logs"].values()}
    assert named <= {p.name for p in (tmp_path / logs).iterdir()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", logs, "weights"]  # the side file is gone
    assert len(list(reuse.iterdir())) == 1  # the stage loaded the session's weights instead of training again
    assert "serve stage, seed_cnn: 2 of 2 serve records ok" in proc.stdout
