"""Machine ids from the hardware (never the hostname), and `xbench compare` across machines.

The fixture is a real run from a 2-core AMD EPYC VM without a GPU (tests/golden/results.json)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from xbench.machine import machine_id
from xbench.schema import read_results

FIXTURE = Path(__file__).parent / "golden" / "results.json"
XEON = "Intel(R) Xeon(R) Platinum 8488C"


def _env(model="AMD EPYC", cores=2, gpu=None, host="vm") -> dict:
    return {"hostname": host, "cpu": {"model": model, "physical_cores": cores, "logical_cores": cores}, "gpu": gpu}


@pytest.mark.parametrize("env, expected", [
    (_env(), "amd-epyc-2c-nogpu"),
    (_env(gpu=[]), "amd-epyc-2c-nogpu"),
    (_env(XEON), "intel-xeon-platinum-8488c-2c-nogpu"),
    (_env("Intel(R) Core(TM) i7-9700K CPU @ 3.60GHz", 8), "intel-core-i7-9700k-8c-nogpu"),
    (_env(cores=16, gpu=[{"name": "NVIDIA H200"}]), "amd-epyc-16c-nvidia-h200"),
    (_env(gpu=[{"name": "NVIDIA H200"}, {"name": "NVIDIA H200"}]), "amd-epyc-2c-2x-nvidia-h200"),
])
def test_id_from_cpu_cores_and_gpu(env, expected):
    assert machine_id(env) == expected


def test_hostname_is_not_part_of_the_id():
    assert machine_id(_env(host="vm")) == machine_id(_env(host="runner-7"))
    assert machine_id(_env()) != machine_id(_env(XEON))


def test_a_run_records_its_machine_id():
    from xbench import env

    e = env.collect()
    assert e["machine_id"] == machine_id({k: e[k] for k in ("cpu", "gpu")})


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "xbench.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def xeon_file(tmp_path) -> Path:
    doc = json.loads(FIXTURE.read_text())
    doc["env"]["cpu"]["model"] = XEON  # the hostname stays "vm", as on every machine of this kind
    path = tmp_path / "xeon.json"
    path.write_text(json.dumps(doc))
    return path


def test_compare_refuses_two_machines_in_one_line(xeon_file):
    proc = _cli("compare", FIXTURE, xeon_file)
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("xbench compare: error: ") and "amd-epyc-2c-nogpu" in line
    assert "intel-xeon-platinum-8488c-2c-nogpu" in line and "--cross-machine" in line


@pytest.mark.parametrize("fmt", ["text", "md"])
def test_cross_machine_is_labelled_a_hardware_comparison(xeon_file, fmt):
    proc = _cli("compare", FIXTURE, xeon_file, "--cross-machine", "--format", fmt)
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert "ardware comparison" in first and "amd-epyc-2c-nogpu" in first and "intel-xeon" in first


def test_same_machine_other_hostname_compares(tmp_path):
    doc = json.loads(FIXTURE.read_text())
    doc["env"]["hostname"] = "runner-7"
    (tmp_path / "r.json").write_text(json.dumps(doc))
    proc = _cli("compare", FIXTURE, tmp_path / "r.json")
    assert proc.returncode == 0 and "ardware comparison" not in proc.stdout


def test_gzip_results_read_by_report_and_compare(tmp_path):
    gz = tmp_path / "base.json.gz"
    gz.write_bytes(gzip.compress(FIXTURE.read_bytes()))
    assert read_results(gz) == json.loads(FIXTURE.read_text())
    assert _cli("compare", gz, FIXTURE).returncode == 0
    assert _cli("report", gz, "--out", tmp_path / "r.md").returncode == 0
    (tmp_path / "cut.json.gz").write_bytes(gz.read_bytes()[:200])
    proc = _cli("report", tmp_path / "cut.json.gz")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "cut.json.gz" in proc.stderr


def test_machine_id_of_a_file_and_of_a_bad_file(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "xbench.machine", str(FIXTURE)], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == "amd-epyc-2c-nogpu\n"
    (tmp_path / "bad.json").write_text("{")
    proc = subprocess.run([sys.executable, "-m", "xbench.machine", str(tmp_path / "bad.json")], capture_output=True,
                          text=True)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "bad.json" in proc.stderr
