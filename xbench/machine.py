"""Which machine a results file came from: an id derived from the hardware, never from the hostname.

Every VM of one kind is called ``vm``; what tells two machines apart is the CPU model, its core count and the
GPUs. ``machine_id(env)`` derives the id from a recorded ``env`` (so files written before the id was recorded
get the same id their machine would record today), e.g. ``amd-epyc-2c-nogpu`` or
``intel-xeon-platinum-8488c-8c-nvidia-h200``. Imports nothing heavy: reports and CI scripts call it.
"""

from __future__ import annotations

import re
import sys

from xbench.errors import UserError

# Marketing noise in /proc/cpuinfo model names that says nothing about the hardware.
_NOISE = re.compile(r"\((r|tm)\)|\bcpu\b|\bprocessor\b|\b\d+-core\b|@.*$", re.IGNORECASE)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def machine_id(env: dict) -> str:
    """``<cpu model>-<N>c-<gpu>`` from a results file's ``env`` (the recorded ``machine_id`` if any)."""
    if env.get("machine_id"):
        return env["machine_id"]
    cpu = env.get("cpu") or {}
    model = _slug(_NOISE.sub(" ", cpu.get("model") or "")) or "unknown-cpu"
    cores = cpu.get("physical_cores") or cpu.get("logical_cores")
    gpus = [_slug(g.get("name", "") if isinstance(g, dict) else str(g)) or "gpu" for g in env.get("gpu") or []]
    # one part per GPU model, "2x-" in front when there are several of it
    gpu = "-".join((f"{gpus.count(n)}x-" if gpus.count(n) > 1 else "") + n for n in sorted(set(gpus))) or "nogpu"
    return f"{model}-{cores or 'unknown'}c-{gpu}"


def of(doc: dict) -> str:
    """The machine id of a results document."""
    return machine_id(doc.get("env") or {})


def check_same(base: dict, new: dict, base_name: str, new_name: str, cross_machine: bool) -> str | None:
    """Refuse to judge files from two machines (a hardware difference is not a regression) unless asked.

    Returns None for one machine, else the line that labels a hardware comparison (``cross_machine``)."""
    a, b = of(base), of(new)
    if a == b:
        return None
    if not cross_machine:
        raise UserError(f"{base_name} comes from machine {a} and {new_name} from {b}: their differences include the "
                        f"hardware, so they are no regression test; compare files of one machine "
                        f"(results/baselines/<machine-id>.json.gz), or pass --cross-machine for a hardware comparison")
    return f"hardware comparison: BASE machine {a} vs NEW machine {b} (differences are the hardware's, not the code's)"


def current() -> str:
    """This machine's id (collects the same env fields a run records)."""
    from xbench import env

    return machine_id(env.hardware())


def main(argv: list[str]) -> int:
    """``python -m xbench.machine [FILE]``: this machine's id, or the id of the machine a results file came from."""
    if not argv:
        print(current())
        return 0
    from xbench.schema import read_results

    try:
        print(of(read_results(argv[0])))
    except UserError as exc:
        print(f"xbench.machine: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
