"""Shared fixtures. Tests never touch the network and never write to the user's cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"

# Markers whose tests run only when the marker expression asks for them (``pytest -m NAME``), with the reason.
OPT_IN = {"e2e": "a whole xbench command end to end (several framework processes): .ci/run runs these with "
                 "pytest -m e2e; opt in the same way"}


def pytest_runtest_setup(item):
    expr = item.config.getoption("markexpr") or ""
    for name, why in OPT_IN.items():
        if item.get_closest_marker(name) and (name not in expr or f"not {name}" in expr):
            pytest.skip(why)


@pytest.fixture(scope="session", autouse=True)
def _trained_once(tmp_path_factory):
    """Weights trained at a suite run's start are kept for the whole test session, for this process and the
    child processes it starts (``xbench.training.weights.REUSE_ENV``): each framework and model trains once, not once per
    suite run. Records still say "trained at session start", as a user's run does."""
    from xbench.training.weights import REUSE_ENV

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(REUSE_ENV, str(tmp_path_factory.getbasetemp() / "trained-weights"))
        yield


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("XBENCH_OFFLINE", "1")
    monkeypatch.setenv("XBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "xbench-cache"))
    monkeypatch.delenv("XBENCH_MNIST", raising=False)


@pytest.fixture
def tracked_tree(tmp_path) -> Path:
    """A copy of the checkout as `git archive` of the working tree would give it (tracked and new, not ignored
    files), in ``tmp_path / "tree"``: what a clean clone holds, and a place to build or break things."""
    import shutil
    import subprocess

    repo, dest = Path(__file__).resolve().parents[1], tmp_path / "tree"
    if not (repo / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (repo / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(repo / name, dest / name)
    return dest


@pytest.fixture(scope="session")
def mnist():
    """The embedded subset: real MNIST, always present."""
    from xbench.data import EMBEDDED, read_npz

    return read_npz(EMBEDDED)


@pytest.fixture(scope="session")
def full_mnist_path():
    path = Path(os.environ.get("XBENCH_TEST_FULL_MNIST", SHARED_MNIST))
    if not path.is_file():
        pytest.skip(f"full MNIST not found at {path}")
    return path


@pytest.fixture(scope="session")
def seed_spec():
    from xbench.spec import load_spec

    return load_spec("seed_cnn")


@pytest.fixture(scope="session")
def suite_ctx(tmp_path_factory, mnist):
    """One suite Context for the tests that prepare cases in this process: its trained weights, ONNX exports and
    accuracies are made once per session (cases only read them)."""
    from xbench.bench import cases as suite

    return suite.Context(mnist, tmp_path_factory.mktemp("suite-ctx"))


@pytest.fixture(scope="session")
def ceiling_env(tmp_path_factory) -> dict:
    """The machine's ceiling, measured once per session in a subprocess as a suite run measures it, for child suite
    runs whose ceiling is not what they test: ``{"XBENCH_CEILING_FILE": path}`` (as ``xbench run`` hands it to its
    processes), which saves each such run the ~5 s of measuring it again. Empty (each run measures its own) when
    this measurement failed."""
    import json

    from xbench.explain import roofline

    ceil = roofline.measure_in_subprocess()
    if "matmul_gflops" not in ceil.get("cpu", {}):
        return {}
    path = tmp_path_factory.getbasetemp() / "ceiling.json"
    path.write_text(json.dumps(ceil))
    return {"XBENCH_CEILING_FILE": str(path)}


@pytest.fixture
def thread_env(monkeypatch):
    """Restore the thread variables after the test: ``xbench.cli.main`` run in this process sets them."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                "TF_NUM_INTEROP_THREADS", "XBENCH_THREADS", "TF_CPP_MIN_LOG_LEVEL"):
        if var in os.environ:
            monkeypatch.setenv(var, os.environ[var])
        else:
            monkeypatch.delenv(var, raising=False)
