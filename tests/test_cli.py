"""The xbench command as a user runs it: train -> saved weights -> export; bad input is one line, exit 2."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def xbench(*args, env=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "xbench.cli", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def _in_process(monkeypatch, capsys, *args):
    """``xbench ARGS`` in this process: the interpreter start and the framework's import are paid once per session,
    not per command (the entry point itself is run as a user runs it by the tests below); its caller asks for the
    ``thread_env`` fixture. Returns (code, out, err)."""
    from xbench.cli import main

    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("framework", ["keras", "torch"])
def test_train_then_export_on_the_embedded_subset(framework, tmp_path, monkeypatch, capsys, thread_env):
    summary = tmp_path / "s.json"
    monkeypatch.setenv("XBENCH_CACHE", str(tmp_path / "cache"))  # its saved weights stay out of the session's cache
    code, out, err = _in_process(monkeypatch, capsys, "train", "--framework", framework, "--epochs", "2",
                                 "--batch-size", "64", "--json", str(summary), "--quiet")
    assert code == 0, err[-3000:]
    assert "epoch 2/2" in out and "test_accuracy" in out
    assert "embedded subset" in err  # honest about the data it used
    s = json.loads(summary.read_text())
    assert s["framework"] == framework and s["model"] == "seed_cnn" and s["epochs"] == 2 and s["batch_size"] == 64
    assert len(s["epoch_seconds"]) == 2 and all(t > 0 for t in s["epoch_seconds"])
    assert 0.85 <= s["test_accuracy"] <= 1.0  # 5,000 real digits, 2 epochs
    assert s["epoch_test_accuracy"][1] == s["test_accuracy"]
    assert Path(s["weights_path"]).is_file() and Path(s["weights_path"]).is_relative_to(tmp_path / "cache")
    onnx_path = tmp_path / "m.onnx"
    code, out, err = _in_process(monkeypatch, capsys, "export", "--framework", framework, "--out", str(onnx_path))
    assert code == 0, err[-3000:]
    assert "trained (" in out and "opset 18" in out and onnx_path.is_file()


@pytest.mark.parametrize("args, message", [
    (["train", "--framework", "mxnet"], "unknown framework 'mxnet'; valid: keras, keras-jax, keras-torch, torch"),
    (["train", "--framework", "keras", "--model", "lenet9"], "unknown model 'lenet9'; valid: seed_cnn"),
    (["train", "--framework", "keras", "--batch-size", "0"], "must be a positive integer"),
    (["train", "--framework", "keras", "--batch-size", "-3"], "must be a positive integer"),
    (["train", "--framework", "torch", "--epochs", "0"], "must be a positive integer"),
    (["train", "--framework", "torch", "--lr", "-1"], "must be a positive number"),
    (["train", "--framework", "torch", "--data", "/no/mnist.npz"], "/no/mnist.npz: no such file"),
    (["train", "--framework", "torch", "--json", "/no/dir/s.json"], "folder /no/dir does not exist"),
    (["export", "--framework", "torch", "--out", "/no/dir/m.onnx"], "folder /no/dir does not exist"),
    (["--threads", "0", "train", "--framework", "torch"], "positive integer"),
])
def test_bad_input_is_one_line_exit_2(args, message, tmp_path, capsys):
    """In this process (argparse's errors exit with 2; a traceback would be an exception and fail the test)."""
    from xbench.cli import main

    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1


def test_corrupt_data_file_is_named(tmp_path):
    bad = tmp_path / "mnist.npz"
    bad.write_bytes(b"PK\x03\x04 truncated")
    out = tmp_path / "s.json"
    proc = xbench("train", "--framework", "torch", "--data", str(bad), "--json", str(out), timeout=120)
    assert proc.returncode == 2 and str(bad) in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_help_explains_every_command():
    proc = xbench("--help")
    assert proc.returncode == 0 and "pytest --benchmark-only" in proc.stdout
    for command in ("train", "export"):
        sub = xbench(command, "--help")
        assert sub.returncode == 0 and "--framework" in sub.stdout


def test_every_command_prints_its_help(capsys):
    """`xbench COMMAND --help` exits 0 for every registered command (a stray '%' in one help string crashed
    `xbench ab --help` with a traceback)."""
    from xbench.cli import build_parser

    parser, handlers = build_parser()
    for name in handlers:
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args([name, "--help"])
        assert exit_.value.code == 0, name
        assert "usage: xbench " + name in capsys.readouterr().out, name
