"""scripts/sync_docs.py: the README and docs/ say what the committed results files say.

The README and docs are copied with the results into a temporary checkout for every test that edits or
removes something; the repository itself is only read. The script runs in a child process once (the check of this
checkout, which is also the check that it imports no ML framework); the tests on a copied checkout call its
``main`` in this process, which reads each results file of a checkout once for all the calls of a test."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "sync_docs.py"
ML = ("tensorflow", "keras", "torch", "onnxruntime", "onnx", "jax")


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("sync_docs_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


@pytest.fixture
def run(script, capsys):
    """``run(*args)``: the script's ``main(args)`` in this process -> returncode, stdout, stderr. Its cache of read
    results files is emptied first, so nothing read by another test is reused."""
    script._load.cache_clear()

    def call(*args) -> SimpleNamespace:
        capsys.readouterr()
        rc = script.main([str(a) for a in args])
        out, err = capsys.readouterr()
        return SimpleNamespace(returncode=rc, stdout=out, stderr=err)

    yield call
    script._load.cache_clear()


@pytest.fixture(scope="module")
def check_in_a_child() -> SimpleNamespace:
    """``python scripts/sync_docs.py --check`` on this checkout, in a fresh interpreter: its exit code and the ML
    framework modules it left in ``sys.modules``."""
    code = (f"import sys, runpy; sys.argv = [{str(SCRIPT)!r}, '--check']; rc = None\n"
            f"try:\n    runpy.run_path({str(SCRIPT)!r}, run_name='__main__')\n"
            f"except SystemExit as exc:\n    rc = exc.code\n"
            f"print(rc, sorted(m for m in sys.modules if m.split('.')[0] in {ML!r}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    rc, _, modules = (proc.stdout.strip().splitlines() or [""])[-1].partition(" ")
    return SimpleNamespace(returncode=int(rc) if rc.lstrip("-").isdigit() else None, modules=modules,
                           output=proc.stdout + proc.stderr)


@pytest.fixture
def checkout(tmp_path) -> Path:
    """What sync_docs reads and writes: README.md, docs/, results/ and the results schema."""
    for part in ("README.md", "docs", "results", "xbench/schema/results.schema.json"):
        src, dst = ROOT / part, tmp_path / part
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    return tmp_path


def test_docs_are_in_sync_with_the_results(check_in_a_child):
    assert check_in_a_child.returncode == 0, check_in_a_child.output


def test_generators_import_no_ml_framework(check_in_a_child):
    assert check_in_a_child.returncode is not None and check_in_a_child.modules == "[]", check_in_a_child.output


def test_one_edited_number_is_named(checkout, run):
    readme = checkout / "README.md"
    text = readme.read_text()
    start = text.index("<!-- xbench:begin baseline-train -->")
    number = re.search(r"\d+\.\d+ ms", text[start:])[0]  # the block's first time, whatever the baseline says
    other = number[:-4] + ("1" if number[-4] != "1" else "2") + " ms"
    edited = text[:start] + text[start:].replace(number, other, 1)
    assert edited != text
    readme.write_text(edited)
    proc = run("--check", "--root", checkout)
    assert proc.returncode == 1
    assert [line for line in proc.stderr.splitlines() if line.startswith("out of date")] == [
        "out of date: README.md: baseline-train"]
    assert readme.read_text() == edited  # --check writes nothing
    assert run("--root", checkout).returncode == 0 and readme.read_text() == text
    assert run("--check", "--root", checkout).returncode == 0


def test_a_block_follows_its_results_file(checkout, run):
    """A regenerated results file makes the block stale: the check cannot pass with the old numbers."""
    check = checkout / "results" / "ab" / "check.md"
    text = check.read_text()
    row = re.search(r"^\| aa2 \| (\d+) \|", text, re.M)  # whatever the run's counts are, one more regression
    edited = text[:row.start(1)] + str(int(row[1]) + 1) + text[row.end(1):]
    assert edited != text
    check.write_text(edited)
    proc = run("--check", "--root", checkout)
    assert proc.returncode == 1
    assert "out of date: docs/statistics.md: ab-check" in proc.stderr
    assert "out of date: docs/statistics.md: ab-runs" in proc.stderr


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_missing_or_unreadable_results_file_is_one_line(checkout, run, damage):
    target = checkout / "results" / "tta" / "keras-0.98.json"
    if damage == "missing":
        target.unlink()
    else:
        target.write_text('{"schema_version": "1.2.0", "records": [')
    before = {p: p.read_text() for p in [checkout / "README.md", *(checkout / "docs").glob("*.md")]}
    for args in (["--check"], []):
        proc = run(*args, "--root", checkout)
        assert proc.returncode == 2 and proc.stdout == ""
        (line,) = proc.stderr.strip().splitlines()
        assert line.startswith("sync_docs: error: docs/training.md: marker tta: ")
        assert "results/tta/keras-0.98.json" in line and "Traceback" not in proc.stderr
    assert before == {p: p.read_text() for p in before}  # nothing written


def test_unknown_block_name_is_one_line(checkout, run):
    doc = checkout / "docs" / "noise.md"
    doc.write_text(doc.read_text() + "\n<!-- xbench:begin no-such-block -->\n<!-- xbench:end -->\n")
    proc = run("--check", "--root", checkout)
    assert proc.returncode == 2 and "docs/noise.md: marker no-such-block: no such block" in proc.stderr


def test_readme_is_short_and_links_every_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    for page in ("index", "methodology", "statistics", "explain", "training", "claims", "where", "noise", "gpu",
                 "ci", "schema"):
        assert f"(docs/{page}.md" in readme, page
