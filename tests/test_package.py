"""The suite ships in the package: a wheel holds the suite, the specs from models/, the ini of `xbench bench` and
the pytest11 entry point; `xbench bench --help` says how it runs."""

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_the_wheel_ships_the_suite_the_specs_and_the_entry_point(tmp_path, tracked_tree):
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("setuptools is not installed here (the wheel is built without build isolation: offline)")
    tree = tracked_tree
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path / "dist"), str(tree)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("xbench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    specs = {f"xbench/models/{p.name}" for p in (REPO / "models").glob("*.json")}
    assert specs and specs <= names  # every spec of models/, installed as the package xbench.models
    assert {"xbench/bench/bench.ini", "xbench/bench/suite/__init__.py", "xbench/bench/suite/test_inference.py",
            "xbench/bench/suite/test_train_step.py", "xbench/bench/suite/test_train_epoch.py"} <= names
    tracked = subprocess.run(["git", "ls-files", "xbench"], cwd=REPO, capture_output=True, text=True).stdout.split()
    assert {n for n in tracked if not n.endswith(".py")} <= names  # every data file of the package
    assert not [n for n in names if n.startswith(("tests/", "models/"))]
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[pytest11]\nxbench = xbench.bench.options" in text


def test_bench_help_explains(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "xbench.cli", "bench", "--help"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "--pyargs xbench.bench.suite --benchmark-only" in proc.stdout and "results/<host>-<UTC" in proc.stdout
    assert not list(tmp_path.iterdir())
