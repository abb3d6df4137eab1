"""Installed, xbench stays out of other projects' pytest: its options and nothing else until asked.

Toy projects made with ``pytester`` run in a child pytest (``runpytest_subprocess``): this session may have
activated xbench itself (threads set, frameworks imported), which a child must not inherit by accident.
"""

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from xbench.bench import options

pytest_plugins = ["pytester"]

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
               "TF_NUM_INTEROP_THREADS", "XBENCH_THREADS")

FOREIGN_TEST = """
import os, sys

def test_my_own_benchmark(benchmark, request):
    names = [getattr(p, "__name__", "") for p in request.config.pluginmanager.get_plugins()]
    assert "xbench.bench.options" in names  # xbench is installed: its entry point was loaded ...
    assert "xbench.bench.plugin" not in names  # ... and stayed inert
    assert benchmark.disabled is False
    assert benchmark(sum, range(1000)) == 499500
    assert len(benchmark.stats.stats.data) > 0 and benchmark.stats.stats.median > 0
    assert not [v for v in {THREAD_VARS} if v in os.environ], "xbench set thread variables"
    assert not {{"torch", "tensorflow", "onnxruntime"}} & set(sys.modules)
"""


@pytest.fixture
def foreign(pytester, monkeypatch):
    """A one-file project using pytest-benchmark, in an environment without xbench's thread variables."""
    for var in THREAD_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    pytester.makepyfile(test_foreign=FOREIGN_TEST.format(THREAD_VARS=THREAD_VARS))
    return pytester


def test_a_foreign_project_runs_unchanged(foreign):
    result = foreign.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_my_own_benchmark*"])  # pytest-benchmark's table: it timed
    assert "xbench results" not in result.stdout.str()  # no results file of its own either


def test_an_xbench_option_without_the_suite_is_one_clear_line(foreign):
    result = foreign.runpytest_subprocess("-p", "no:cacheprovider", "--xbench-blocks", "2")
    assert result.ret == 2
    text = result.stdout.str() + result.stderr.str()
    assert "xbench: the xbench suite was not collected: run `xbench bench`" in text, text
    assert "Traceback" not in text and "passed" not in text


def _xbench(*args, cwd):
    return subprocess.run([sys.executable, "-m", "xbench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("args, message", [
    (["--no-such-option"], "xbench bench: error: pytest refused the arguments: unrecognized arguments: "
                           "--no-such-option"),
    (["-k", "nothing_matches"], "xbench bench: error: no benchmark matches the arguments"),
])
def test_xbench_bench_bad_input_is_one_line(tmp_path, args, message):
    proc = _xbench("bench", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stderr.startswith(message) and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stdout == "" and not list(tmp_path.iterdir())  # nothing ran, nothing written


def test_the_installed_suite_collects_by_name_from_any_folder(pytester):
    """`--pyargs xbench.bench.suite` activates xbench (the plugin parametrises the cases); a plain run smoke-tests
    one case per family, --xbench-smoke all and --benchmark-only every case."""
    def count(*args):
        result = pytester.runpytest_subprocess("--pyargs", "xbench.bench.suite", "--collect-only", "-q",
                                               "-p", "no:cacheprovider", *args)
        assert result.ret == 0, result.stdout.str()[-2000:] + result.stderr.str()[-2000:]
        return sum("::test_" in line for line in result.stdout.lines)

    smoke, every = count(), count("--xbench-smoke", "all")
    assert 0 < smoke < every and count("--benchmark-only", "--xbench-blocks", "1") == every


def _config(args, pyargs=False, here=None):
    """What the rules read of a pytest config; by default invoked in the folder holding the imported xbench (this
    checkout, or site-packages when the tests run against an installed xbench)."""
    here = options.SUITE_DIR.parents[2] if here is None else here
    return SimpleNamespace(args=[str(a) for a in args], option=SimpleNamespace(pyargs=pyargs),
                           invocation_params=SimpleNamespace(dir=Path(here), args=tuple(args)),
                           getini=lambda name: [])


@pytest.mark.parametrize("args, pyargs, active", [
    (["tests/test_report.py"], False, False),
    (["tests"], False, False),
    (["tests", "xbench/bench/suite"], False, True),  # `pytest` in the checkout: its testpaths
    (["xbench/bench/suite/test_inference.py::test_inference"], False, True),
    (["."], False, True),
    (["xbench.bench.suite"], True, True),
    (["xbench.bench.suite.test_train_step"], True, True),
    (["xbench"], True, True),
    (["xbench.bench.suite"], False, False),  # without --pyargs: a path, and no such path
    (["xbench.benchmarks_of_mine"], True, False),
])
def test_xbench_activates_only_for_its_suite(args, pyargs, active):
    assert options.names_suite(_config(args, pyargs)) is active


def test_a_folder_that_holds_the_suite_only_inside_an_environment_does_not_activate(tmp_path, monkeypatch):
    """A project with its .venv inside: `pytest` there names a folder above the installed suite."""
    site = tmp_path / ".venv" / "lib" / "python3.11" / "site-packages"
    monkeypatch.setattr(options, "SUITE_DIR", site / "xbench" / "bench" / "suite")
    assert not options.names_suite(_config(["."], here=tmp_path))
    assert options.names_suite(_config([site / "xbench"], here=tmp_path))


def test_an_explicit_option_activates(monkeypatch):
    monkeypatch.setenv("PYTEST_ADDOPTS", "--xbench-json=r.json")
    assert options.given_options(_config(["tests"])) == ["--xbench-json"]
    monkeypatch.delenv("PYTEST_ADDOPTS")
    assert options.activation(_config(["tests", "-q"])) is None
    assert options.activation(_config(["tests", "--xbench-blocks", "2"])) == "option"


def test_option_defaults_are_the_suites():
    """options.py keeps the defaults as constants (importing xbench.bench.cases there would load the registries)."""
    from xbench.bench import cases as suite

    assert options.DEFAULT_WHERE_MODELS == ",".join(suite.WHERE_MODELS)
    assert options.DEFAULT_WHERE_BATCHES == ",".join(map(str, suite.WHERE_BATCHES))


def test_plain_pytest_smoke_runs_one_case_per_family():
    from xbench.bench import cases as suite
    from xbench.bench.plugin import smoke_cases

    models, fws, devices = ["seed_cnn", "seed_conv64"], ["keras", "torch"], ["cpu", "cuda"]
    cases = (suite.train_cases(models, fws, devices) + suite.epoch_cases(models, fws, devices)
             + suite.inference_cases(models, fws, ["CPUExecutionProvider", "CUDAExecutionProvider"]))
    smoke = smoke_cases(cases)

    def family(c):
        return c.framework, c.task, c.runtime, c.device

    assert sorted(map(family, smoke)) == sorted({family(c) for c in cases})  # each family once
    for c in smoke:
        same = [d for d in cases if family(d) == family(c)]
        if any(d.dtype == "float32" for d in same):  # fp32 first: the other precisions run in --benchmark-only
            assert c.dtype == "float32"
            same = [d for d in same if d.dtype == "float32"]
        batches = [d.batch_size for d in same]
        assert c.batch_size == (max(batches) if c.task == "train_epoch" else min(batches))
    assert len(smoke) < len(cases) / 4
    print(f"smoke: {len(smoke)} of {len(cases)} cases")
