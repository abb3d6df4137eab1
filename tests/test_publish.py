"""scripts/publish_baseline.sh: refuses a checkout with changes, writes to the machine's own baseline, and
xbench.records.publish leaves no absolute path of this machine in what it writes. No benchmark is run here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from xbench.machine import REPO
from xbench.machine import current
from xbench.records.publish import machine_prefixes, publish
from xbench.schema import read_results

SCRIPT = REPO / "scripts" / "publish_baseline.sh"
FIXTURE = Path(__file__).parent / "golden" / "results.json"


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A committed git checkout holding the script (xbench itself is found through PYTHONPATH)."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, repo / "scripts")
    (repo / "README.md").write_text("x\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    return repo


def _dry_run(repo: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(REPO)}
    return subprocess.run(["bash", str(repo / "scripts" / "publish_baseline.sh"), "--dry-run"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=120)


def test_clean_checkout_writes_this_machines_baseline(checkout):
    proc = _dry_run(checkout)
    assert proc.returncode == 0, proc.stderr
    machine = current()
    assert f"machine: {machine};" in proc.stdout
    assert (f"would write: results/baselines/{machine}.json.gz, results/baselines/{machine}.md, "
            f"results/baselines/{machine}-plots/") in proc.stdout


def test_checkout_with_changes_is_refused_with_the_list(checkout):
    (checkout / "README.md").write_text("changed\n")
    (checkout / "new_model.json").write_text("{}\n")
    proc = _dry_run(checkout)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "refusing to publish from a checkout with changes" in proc.stderr
    assert " M README.md" in proc.stderr and "?? new_model.json" in proc.stderr
    assert not (checkout / "results").exists()


def test_published_file_holds_no_path_of_this_machine(tmp_path):
    doc = json.loads(FIXTURE.read_text())
    doc["env"]["data"] = f"MNIST subset (6,000 images) from {REPO}/xbench/data/mnist_subset.npz"
    bad = next(r for r in doc["records"] if r["status"] == "error")
    bad["reason"] = f"ImportError: {sys.prefix}/lib/python3.11/site-packages/torch/__init__.py failed"
    run = tmp_path / "run1.json"
    run.write_text(json.dumps(doc))
    out = tmp_path / "m.json.gz"
    publish(out, [run, run])
    assert out.read_bytes()[:2] == b"\x1f\x8b"
    text = json.dumps(read_results(out))
    for prefix, _ in machine_prefixes():
        assert prefix not in text, prefix
    assert "<repo>/xbench/data/mnist_subset.npz" in text and "<python>/lib/python3.11/site-packages" in text
    assert len(read_results(out)["env"]["runs"]) == 2


COMPARE = REPO / "scripts" / "compare_baseline.sh"


def _compare_baseline(results: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(REPO)}
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run(["bash", str(COMPARE), str(results)], env=env, capture_output=True, text=True, timeout=300)


def test_ci_says_when_its_machine_has_no_baseline(tmp_path):
    doc = json.loads(FIXTURE.read_text())
    doc["env"]["cpu"]["model"] = "Intel(R) Xeon(R) Platinum 8488C"
    run = tmp_path / "ci.json"
    run.write_text(json.dumps(doc))
    proc = _compare_baseline(run)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("No baseline for machine intel-xeon-platinum-8488c-2c-nogpu "
                                  "(results/baselines/intel-xeon-platinum-8488c-2c-nogpu.json.gz): "
                                  "nothing to gate against yet.")


def test_ci_picks_the_baseline_of_its_own_machine():
    """The fixture ran on the machine of the committed amd-epyc-2c-nogpu baseline: it is judged against it."""
    assert (REPO / "results" / "baselines" / "amd-epyc-2c-nogpu.json.gz").is_file()
    proc = _compare_baseline(FIXTURE)
    assert proc.returncode in (0, 1), proc.stderr  # judged (1: the fixture's old run is slower somewhere)
    assert "baseline for machine amd-epyc-2c-nogpu: results/baselines/amd-epyc-2c-nogpu.json.gz" in proc.stderr
    assert "summary:" in proc.stdout and "hardware comparison" not in proc.stdout


def test_no_committed_result_or_doc_names_a_path_of_the_machine_that_made_it():
    import gzip
    import re

    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "results", "docs", "README.md"],
                            capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    absolute = re.compile(r"(?<![\w.~-])/(work|tmp|home|root|Users|mnt|var/folders)/")
    found = []
    for name in listed.stdout.split():
        path = REPO / name
        if path.suffix not in (".json", ".gz", ".md", ".txt") or not path.is_file():
            continue
        data = path.read_bytes()
        text = (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode(errors="replace")
        found += [f"{name}: {m.group(0)}" for m in absolute.finditer(text)]
    assert not found, found[:10]
