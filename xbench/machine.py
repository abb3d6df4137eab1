"""What this machine is: its hardware, its id, and the ``env`` block a results file records (``collect``).

Which machine a results file came from is an id derived from the hardware, never from the hostname.

Every VM of one kind is called ``vm``, and on these VMs even the CPU's model name is masked ("AMD EPYC",
"Intel(R) Xeon(R) Processor"), so the id is built from what the CPU itself reports (``/proc/cpuinfo``)::

    <cpu name>-f<family>m<model>-<N>c-<isa tier>-<gpus>     e.g. intel-xeon-f6m207-2c-amx-nogpu
                                                                 amd-epyc-f25m17-2c-avx512bf16-nogpu
                                                                 arm-aarch64-f8m3340-4c-neon-nogpu

* ``f<family>m<model>``: the CPU family and model number (x86 ``cpu family`` / ``model``; arm ``CPU architecture``
  / ``CPU part``, in decimal: 3340 = 0xd0c). Two CPU generations never share them. The stepping is recorded but
  left out of the id (a stepping is a revision of one generation: splitting baselines on it would orphan them).
* the ISA tier: the best instruction set among those that change which kernels oneDNN, MLAS and OpenVINO run,
  ``amx`` (amx_tile) > ``avx512bf16`` > ``avx512vnni`` > ``avx512`` (avx512f) > ``avx2`` > ``base`` on x86,
  ``sme`` > ``sve2`` > ``sve`` > ``neon`` (asimd) > ``base`` on arm. A hypervisor can hide a flag on the same
  CPU model (AMX is often masked): that changes the tier, hence the id. Lower flags (fma, avx_vnni, i8mm, bf16, ...)
  are recorded in ``env.cpu.flags`` but do not change the id.
* ``<N>c``: physical cores (else logical); ``<gpus>``: one part per GPU model (``2x-`` when several), or ``nogpu``.

A file whose ``env.cpu`` lacks ``family`` / ``model_number`` (written before they were recorded, or on a platform
without ``/proc/cpuinfo``) gets a **best-effort** id: the older ``<cpu name>-<N>c-<gpus>`` (e.g.
``amd-epyc-2c-nogpu``; its recorded ``env.machine_id`` when it has one), which cannot tell CPU generations apart.
``identify(env)`` returns the id and why it is best-effort (None when it is not). Two files are from one machine
when their ids are equal; when either id is best-effort, when their ``<cpu name>-<N>c-<gpus>`` are equal, with a
note saying so (``compared``).

Reads ``/proc/cpuinfo`` through one pure function (``parse_cpuinfo``), collects the hardware part of a run's
``env`` (``hardware``) and the whole of it (``collect``: hardware, software versions, thread settings, git commit);
imports nothing heavy and no ML framework: reports and CI scripts call it.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from xbench.errors import UserError

# Marketing noise in /proc/cpuinfo model names that says nothing about the hardware.
_NOISE = re.compile(r"\((r|tm)\)|\bcpu\b|\bprocessor\b|\b\d+-core\b|@.*$", re.IGNORECASE)

# The ISA flags that change which kernels the runtimes pick (x86 ``flags``, arm ``Features``); the rest is not kept.
KERNEL_FLAGS = ("fma", "avx2", "avx_vnni", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx512_fp16",
                "amx_tile", "amx_bf16", "amx_int8",
                "asimd", "asimddp", "sve", "sve2", "i8mm", "bf16", "sme")
# Best first: (tag in the id, the flag that grants it). x86 and arm flags never overlap.
TIERS = (("amx", "amx_tile"), ("avx512bf16", "avx512_bf16"), ("avx512vnni", "avx512_vnni"), ("avx512", "avx512f"),
         ("avx2", "avx2"), ("sme", "sme"), ("sve2", "sve2"), ("sve", "sve"), ("neon", "asimd"))
_X86_VENDORS = {"GenuineIntel": "intel", "AuthenticAMD": "amd", "HygonGenuine": "hygon", "CentaurHauls": "centaur"}
PACKAGES = ("tensorflow", "keras", "torch", "onnx", "onnxruntime", "onnxruntime-gpu", "openvino", "tf2onnx", "onnxscript",
            "numpy", "pytest-benchmark", "xbench", "jax", "jaxlib")
REPO = Path(__file__).resolve().parent.parent
_ARM_IMPLEMENTERS = {0x41: "arm", 0x42: "broadcom", 0x43: "cavium", 0x46: "fujitsu", 0x48: "hisilicon", 0x4E: "nvidia",
                     0x50: "apm", 0x51: "qualcomm", 0x61: "apple", 0x69: "intel", 0x6D: "microsoft", 0xC0: "ampere"}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _int(text: str | None, base: int = 10) -> int | None:
    try:
        return int(text, base) if text is not None else None
    except ValueError:
        return None


def parse_cpuinfo(text: str) -> dict:
    """``model`` (the model name, None on most arm kernels), ``vendor``, ``family``, ``model_number``, ``stepping``
    and ``flags`` (the ``KERNEL_FLAGS`` it has, sorted) from ``/proc/cpuinfo`` text; the first value of each field
    (the first processor) counts, and a field it lacks is None (``flags``: empty)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    if "cpu implementer" in fields:  # arm
        implementer = _int(fields["cpu implementer"], 16)
        vendor = _ARM_IMPLEMENTERS.get(implementer, f"arm-{implementer:x}" if implementer is not None else None)
        family = _int(re.sub(r"\D.*", "", fields.get("cpu architecture", "")) or None)  # "8" (old kernels: "AArch64")
        number, stepping, flags = _int(fields.get("cpu part"), 16), _int(fields.get("cpu revision")), fields.get("features")
    else:
        vendor_id = fields.get("vendor_id")
        vendor = _X86_VENDORS.get(vendor_id, _slug(vendor_id)) if vendor_id else None
        family, number, stepping = _int(fields.get("cpu family")), _int(fields.get("model")), _int(fields.get("stepping"))
        flags = fields.get("flags")
    present = set((flags or "").split())
    return {"model": fields.get("model name") or None, "vendor": vendor or None, "family": family,
            "model_number": number, "stepping": stepping, "flags": [f for f in sorted(KERNEL_FLAGS) if f in present]}


def cpu() -> dict:
    """This machine's ``env.cpu``: ``parse_cpuinfo`` of /proc/cpuinfo (off Linux: the name only, the rest None),
    and the core counts."""
    import psutil

    try:
        info = parse_cpuinfo(Path("/proc/cpuinfo").read_text())
    except OSError:
        info = parse_cpuinfo("")
    info["model"] = info["model"] or platform.processor() or platform.machine()
    return {**info, "physical_cores": psutil.cpu_count(logical=False), "logical_cores": psutil.cpu_count(logical=True)}


def gpus() -> list[dict] | None:
    """NVIDIA GPUs as nvidia-smi reports them; None when there is no nvidia-smi."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return None
    rows = [[c.strip() for c in line.split(",")] for line in out.strip().splitlines() if line.strip()]
    return [{"name": r[0], "memory": r[1], "driver": r[2]} for r in rows if len(r) >= 3]


def hardware() -> dict:
    """What identifies the machine: ``env.cpu`` and ``env.gpu`` of a run (``machine_id`` derives the id from them)."""
    return {"cpu": cpu(), "gpu": gpus()}


def _name_cores_gpu(env: dict) -> tuple[str, str, str]:
    cpu_ = env.get("cpu") or {}
    name = _slug(_NOISE.sub(" ", cpu_.get("model") or "")) or "unknown-cpu"
    cores = cpu_.get("physical_cores") or cpu_.get("logical_cores")
    gpus_ = [_slug(g.get("name", "") if isinstance(g, dict) else str(g)) or "gpu" for g in env.get("gpu") or []]
    # one part per GPU model, "2x-" in front when there are several of it
    gpu = "-".join((f"{gpus_.count(n)}x-" if gpus_.count(n) > 1 else "") + n for n in sorted(set(gpus_))) or "nogpu"
    return name, f"{cores or 'unknown'}c", gpu


def coarse_id(env: dict) -> str:
    """``<cpu name>-<N>c-<gpus>``: the id before the CPU family and model were recorded (the recorded one, if a
    file that lacks them has one); all a best-effort id can be matched on."""
    cpu_ = env.get("cpu") or {}
    if env.get("machine_id") and (cpu_.get("family") is None or cpu_.get("model_number") is None):
        return env["machine_id"]
    return "-".join(_name_cores_gpu(env))


def isa_tier(flags) -> str:
    """The best ``TIERS`` tag the flags grant (``base``: none)."""
    have = set(flags or ())
    return next((tag for tag, flag in TIERS if flag in have), "base")


def identify(env: dict) -> tuple[str, str | None]:
    """(machine id, None) from a results file's ``env``; (best-effort id, why it is one) when ``env.cpu`` lacks
    the CPU family or model number."""
    cpu_ = env.get("cpu") or {}
    family, number = cpu_.get("family"), cpu_.get("model_number")
    if family is None or number is None:
        why = ("env.cpu predates the CPU family, model and ISA flags" if "family" not in cpu_ else
               "the machine did not report the CPU family and model")
        return coarse_id(env), why
    name, cores, gpu = _name_cores_gpu(env)
    vendor = _slug(cpu_.get("vendor") or "")
    if vendor and not name.startswith(vendor):
        name = f"{vendor}-{name}"  # arm kernels name no model: "arm-aarch64"
    return f"{name}-f{family}m{number}-{cores}-{isa_tier(cpu_.get('flags'))}-{gpu}", None


def machine_id(env: dict) -> str:
    """The machine id of a results file's ``env`` (see the module docstring; ``identify`` says if best-effort)."""
    return identify(env)[0]


def of(doc: dict) -> str:
    """The machine id of a results document."""
    return machine_id(doc.get("env") or {})


def compared(base: dict, new: dict, sides: tuple[str, str] = ("BASE", "NEW")) -> tuple[str, str]:
    """(``"A vs B"`` when two results documents come from different machines, else ""; a note when either's id is
    best-effort, else "")."""
    (a, why_a), (b, why_b) = (identify(d.get("env") or {}) for d in (base, new))
    if not (why_a or why_b):
        return ("" if a == b else f"{a} vs {b}"), ""
    if coarse_id(base.get("env") or {}) != coarse_id(new.get("env") or {}):
        return f"{a} vs {b}", ""
    vague = [(f"{side}'s ({mid})", why) for side, mid, why in ((sides[0], a, why_a), (sides[1], b, why_b)) if why]
    whys = "; ".join(dict.fromkeys(why for _, why in vague))
    return "", (f"best-effort machine id: {' and '.join(v for v, _ in vague)} ({whys}): the files were matched on "
                f"CPU name, cores and GPUs only, so a different CPU generation under that name would read as changes")


def check_same(base: dict, new: dict, base_name: str, new_name: str, cross_machine: bool) -> str | None:
    """Refuse to judge files from two machines (a hardware difference is not a regression) unless asked.

    Returns None for one machine, else the line that labels a hardware comparison (``cross_machine``)."""
    if not compared(base, new)[0]:
        return None
    a, b = of(base), of(new)
    if not cross_machine:
        raise UserError(f"{base_name} comes from machine {a} and {new_name} from {b}: their differences include the "
                        f"hardware, so they are no regression test; compare files of one machine "
                        f"(results/baselines/<machine-id>.json.gz), or pass --cross-machine for a hardware comparison")
    return f"hardware comparison: BASE machine {a} vs NEW machine {b} (differences are the hardware's, not the code's)"


def current() -> str:
    """This machine's id (from the same env fields a run records)."""
    return machine_id(hardware())


def versions() -> dict[str, str | None]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_info() -> dict:
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=10,
                                  check=True).stdout.strip()
        except (subprocess.SubprocessError, OSError):
            return None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def collect(extra: dict | None = None) -> dict:
    """The ``env`` block of a results file: what machine and software a result came from."""
    import psutil

    from xbench.bench import threads

    mem = psutil.virtual_memory().total
    hw = hardware()
    return {
        "machine_id": machine_id(hw),  # labels and matches files by hardware; the hostname is often just "vm"
        "hostname": socket.gethostname(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
        **hw,
        "memory_gb": round(mem / 2**30, 1),
        "versions": versions(),
        "threads": threads.settings(),
        "git": git_info(),
        # allocator settings change timings (see README: page faults); record any that are set
        "allocator_env": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_") or k == "LD_PRELOAD"},
        **(extra or {}),
    }


def main(argv: list[str]) -> int:
    """``python -m xbench.machine [FILE]``: this machine's id, or the id of the machine a results file came from.

    stdout is the bare id (scripts use it); a best-effort id adds one ``xbench.machine: note: ...`` line on stderr."""
    if argv:
        from xbench.schema import read_results

        try:
            env = read_results(argv[0]).get("env") or {}
        except UserError as exc:
            print(f"xbench.machine: error: {exc}", file=sys.stderr)
            return 2
        where = argv[0]
    else:
        env, where = hardware(), "this machine"
    mid, why = identify(env)
    print(mid)
    if why:
        print(f"xbench.machine: note: {mid} ({where}) is a best-effort id: {why}, so it cannot tell CPU generations "
              f"apart", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
