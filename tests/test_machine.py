"""Machine ids from the hardware (never the hostname), and `xbench compare` across machines.

The fixture is a real run from a 2-core AMD EPYC VM without a GPU (tests/golden/results.json), recorded before
env.cpu held the CPU family, model and ISA flags: its id is a best-effort one."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from xbench.machine import identify, machine_id, parse_cpuinfo
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
    from xbench import machine

    e = machine.collect()
    assert e["machine_id"] == machine_id({k: e[k] for k in ("cpu", "gpu")})


def _cli(*args):
    """The CLI in a subprocess (compares here pass --noise none: the run-to-run noise is not what they test, and
    reading the 14 MB published baseline for it costs ~10 s each)."""
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
    proc = _cli("compare", FIXTURE, xeon_file, "--cross-machine", "--format", fmt, "--noise", "none")
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert "ardware comparison" in first and "amd-epyc-2c-nogpu" in first and "intel-xeon" in first


def test_same_machine_other_hostname_compares(tmp_path):
    doc = json.loads(FIXTURE.read_text())
    doc["env"]["hostname"] = "runner-7"
    (tmp_path / "r.json").write_text(json.dumps(doc))
    proc = _cli("compare", FIXTURE, tmp_path / "r.json", "--noise", "none")
    assert proc.returncode == 0 and "ardware comparison" not in proc.stdout


def test_gzip_results_read_by_report_and_compare(tmp_path):
    gz = tmp_path / "base.json.gz"
    gz.write_bytes(gzip.compress(FIXTURE.read_bytes()))
    assert read_results(gz) == json.loads(FIXTURE.read_text())
    assert _cli("compare", gz, FIXTURE, "--noise", "none").returncode == 0
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



# ---- /proc/cpuinfo: what the CPU reports when the model name is masked

INTEL_SPR = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 207
model name\t: Intel(R) Xeon(R) Processor
stepping\t: 2
flags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 avx512f avx512dq avx512bw avx512vl avx_vnni \
avx512_bf16 avx512_vnni amx_bf16 avx512_fp16 amx_tile amx_int8 arch_capabilities
bugs\t\t: spectre_v1 spectre_v2

processor\t: 1
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 207
model name\t: Intel(R) Xeon(R) Processor
stepping\t: 2
flags\t\t: fpu sse sse2 ssse3 fma avx2 avx512f amx_tile
"""
AMD_GENOA = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
stepping\t: 1
flags\t\t: fpu sse sse2 fma avx avx2 avx512f avx512dq avx512bw avx512vl avx512_bf16 avx512_vnni avx512vbmi
"""
ARM_GRAVITON3 = """processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc \
dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs paca pacg dcpodp svei8mm svebf16 i8mm \
bf16 dgh rng
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x1
CPU part\t: 0xd40
CPU revision\t: 1

processor\t: 1
Features\t: fp asimd
CPU implementer\t: 0x41
CPU architecture: 8
CPU part\t: 0xd40
"""


@pytest.mark.parametrize("text, expected", [
    (INTEL_SPR, {"model": "Intel(R) Xeon(R) Processor", "vendor": "intel", "family": 6, "model_number": 207,
                 "stepping": 2, "flags": ["amx_bf16", "amx_int8", "amx_tile", "avx2", "avx512_bf16", "avx512_fp16",
                                          "avx512_vnni", "avx512bw", "avx512f", "avx_vnni", "fma"]}),
    (AMD_GENOA, {"model": "AMD EPYC", "vendor": "amd", "family": 25, "model_number": 17, "stepping": 1,
                 "flags": ["avx2", "avx512_bf16", "avx512_vnni", "avx512bw", "avx512f", "fma"]}),
    (ARM_GRAVITON3, {"model": None, "vendor": "arm", "family": 8, "model_number": 0xD40, "stepping": 1,
                     "flags": ["asimd", "asimddp", "bf16", "i8mm", "sve"]}),
    ("", {"model": None, "vendor": None, "family": None, "model_number": None, "stepping": None, "flags": []}),
], ids=["intel", "amd", "arm", "empty"])
def test_cpuinfo_gives_vendor_family_model_stepping_and_the_kernel_flags(text, expected):
    """The first processor's fields; only the flags that change kernels (not sse, aes, svei8mm, ...)."""
    assert parse_cpuinfo(text) == expected


def _cpu_env(text: str, cores=2, model=None) -> dict:
    info = parse_cpuinfo(text)
    info["model"] = model or info["model"] or "aarch64"  # arm kernels name no model: xbench records the architecture
    return {"cpu": {**info, "physical_cores": cores, "logical_cores": cores}, "gpu": None}


@pytest.mark.parametrize("text, expected", [
    (INTEL_SPR, "intel-xeon-f6m207-2c-amx-nogpu"),
    (AMD_GENOA, "amd-epyc-f25m17-2c-avx512bf16-nogpu"),
    (ARM_GRAVITON3, "arm-aarch64-f8m3392-2c-sve-nogpu"),
], ids=["intel", "amd", "arm"])
def test_id_names_family_model_and_isa_tier(text, expected):
    assert identify(_cpu_env(text)) == (expected, None)


@pytest.mark.parametrize("flags, tier", [
    (["amx_tile", "avx512_bf16", "avx512f", "avx2"], "amx"), (["avx512_bf16", "avx512f", "avx2"], "avx512bf16"),
    (["avx512_vnni", "avx512f", "avx2"], "avx512vnni"), (["avx512f", "avx2", "fma"], "avx512"),
    (["avx2", "fma", "avx_vnni"], "avx2"), (["fma"], "base"), ([], "base"),
    (["asimd", "sve", "sve2"], "sve2"), (["asimd", "sve", "i8mm"], "sve"), (["asimd"], "neon")])
def test_isa_tier_is_the_best_kernel_isa(flags, tier):
    from xbench.machine import isa_tier

    assert isa_tier(flags) == tier


def test_this_machine_records_what_its_cpu_reports():
    from xbench import machine

    cpu = machine.collect()["cpu"]
    assert {"vendor", "family", "model_number", "stepping", "flags", "physical_cores", "logical_cores"} <= set(cpu)
    if not Path("/proc/cpuinfo").is_file():
        pytest.skip("no /proc/cpuinfo: family and model are not known here")
    assert cpu == {**parse_cpuinfo(Path("/proc/cpuinfo").read_text()), "model": cpu["model"],
                   "physical_cores": cpu["physical_cores"], "logical_cores": cpu["logical_cores"]}
    assert identify(machine.hardware())[1] is None  # not a best-effort id


# ---- results files: the Done-when case, old files

def _new_style(doc: dict, **cpu) -> dict:
    """The fixture as a run that records env.cpu's new fields would write it (Zen 4, AVX-512 with bf16)."""
    doc = json.loads(json.dumps(doc))
    doc["env"]["cpu"].update({"vendor": "amd", "family": 25, "model_number": 17, "stepping": 1,
                              "flags": ["avx2", "avx512_bf16", "avx512_vnni", "avx512f", "fma"], **cpu})
    doc["env"]["machine_id"] = machine_id(doc["env"])
    return doc


def _machine_cli(path):
    return subprocess.run([sys.executable, "-m", "xbench.machine", str(path)], capture_output=True, text=True)


def test_files_differing_only_in_model_number_or_one_flag_get_different_ids(tmp_path):
    """Same masked name, cores and GPUs: the CPU model number, or AMX hidden by the hypervisor, tells them apart."""
    doc = json.loads(FIXTURE.read_text())
    flags = ["amx_tile", "avx2", "avx512_bf16", "avx512f"]
    docs = {"spr": _new_style(doc, vendor="intel", model="Intel(R) Xeon(R) Processor", family=6, model_number=143,
                              flags=flags),
            "emr": _new_style(doc, vendor="intel", model="Intel(R) Xeon(R) Processor", family=6, model_number=207,
                              flags=flags),
            "emr-noamx": _new_style(doc, vendor="intel", model="Intel(R) Xeon(R) Processor", family=6,
                                    model_number=207, flags=flags[1:])}
    for d in docs.values():
        d["env"]["machine_id"] = docs["spr"]["env"]["machine_id"]  # a recorded id does not override the fields
    ids = {}
    for name, d in docs.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(d))
        proc = _machine_cli(tmp_path / f"{name}.json")
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
        ids[name] = proc.stdout
    assert ids == {"spr": "intel-xeon-f6m143-2c-amx-nogpu\n", "emr": "intel-xeon-f6m207-2c-amx-nogpu\n",
                   "emr-noamx": "intel-xeon-f6m207-2c-avx512bf16-nogpu\n"}


def test_an_old_file_gets_a_best_effort_id_whatever_id_it_recorded(tmp_path):
    env = json.loads(FIXTURE.read_text())["env"]
    mid, why = identify(env)
    assert mid == "amd-epyc-2c-nogpu" and "family" in why
    assert identify({**env, "machine_id": "amd-epyc-2c-nogpu"}) == (mid, why)  # as the published baseline records it
    unknown = {**env, "cpu": {**env["cpu"], "vendor": None, "family": None, "model_number": None, "flags": []}}
    assert identify(unknown)[0] == mid and identify(unknown)[1]  # recorded off Linux: still best-effort
    proc = _machine_cli(FIXTURE)
    assert proc.returncode == 0 and proc.stdout == "amd-epyc-2c-nogpu\n"  # stdout stays the bare id, for scripts
    (note,) = proc.stderr.strip().splitlines()
    assert note.startswith("xbench.machine: note: amd-epyc-2c-nogpu") and "best-effort" in note


def test_compare_notes_a_best_effort_base_and_matches_it_on_name_cores_and_gpus(tmp_path):
    """An old BASE is judged against a NEW of the same CPU name, cores and GPUs, with a note; never silently."""
    new = tmp_path / "new.json"
    new.write_text(json.dumps(_new_style(json.loads(FIXTURE.read_text()))))
    for fmt in ("text", "md"):
        proc = _cli("compare", FIXTURE, new, "--format", fmt, "--noise", "none")  # none: no 14 MB baseline to read
        assert proc.returncode in (0, 1), proc.stderr
        notes = [line for line in proc.stdout.splitlines() if "best-effort" in line]
        assert len(notes) == 1 and "BASE's (amd-epyc-2c-nogpu)" in notes[0] and "NEW's" not in notes[0]
        assert notes[0].startswith("note: " if fmt == "text" else "**Note:** ")
        assert "different machines" not in proc.stdout
    proc = _cli("compare", new, new, "--noise", "none")
    assert proc.returncode == 0 and "best-effort" not in proc.stdout  # both exact: no note


def test_compare_refuses_a_best_effort_base_of_another_cpu_name(tmp_path, xeon_file):
    new = tmp_path / "new.json"
    new.write_text(json.dumps(_new_style(json.loads(FIXTURE.read_text()))))
    proc = _cli("compare", xeon_file, new)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "intel-xeon-platinum-8488c-2c-nogpu" in proc.stderr and "amd-epyc-f25m17-2c-avx512bf16-nogpu" in proc.stderr


def test_compare_refuses_two_cpu_generations_under_one_name(tmp_path):
    doc = json.loads(FIXTURE.read_text())
    (tmp_path / "a.json").write_text(json.dumps(_new_style(doc)))
    (tmp_path / "b.json").write_text(json.dumps(_new_style(doc, model_number=160)))  # Zen 4c, same masked name
    proc = _cli("compare", tmp_path / "a.json", tmp_path / "b.json")
    assert proc.returncode == 2 and "amd-epyc-f25m160-2c-avx512bf16-nogpu" in proc.stderr


def test_ci_without_a_baseline_for_a_new_id_says_so(tmp_path):
    """A run whose (new) id has no committed baseline takes the honest 'No baseline' path, naming what there is."""
    import os

    run = tmp_path / "ci.json"
    run.write_text(json.dumps(_new_style(json.loads(FIXTURE.read_text()))))
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(root)}
    env.pop("GITHUB_STEP_SUMMARY", None)
    proc = subprocess.run(["bash", str(root / "scripts" / "compare_baseline.sh"), str(run)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    first, others = proc.stdout.splitlines()
    assert first.startswith("No baseline for machine amd-epyc-f25m17-2c-avx512bf16-nogpu ")
    assert others.startswith("Baselines of other machine ids: ") and "amd-epyc-2c-nogpu" in others
