"""Two sides, one machine, alternating blocks: the runner behind ``xbench ab``.

A **side** is an interpreter (a virtual environment with other library
versions), a checkout (another commit of the project), extra pytest/xbench
arguments and environment variables. Each block is one fresh process
(``python -m pytest xbench/bench/suite --benchmark-only --xbench-blocks 1``; ``tests/benchmarks`` in a
checkout from before the suite moved into the package)
that times every selected benchmark once, so a block pays its own imports,
model builds and ONNX exports, as a real user's process does.

Blocks run in the balanced order A B, B A, A B, B A, ... (``order``): each
pair of neighbouring positions (2k, 2k+1) is one pair for ``xbench.verdicts.paired``,
and which side goes first alternates, so neither always runs on a machine the
other just warmed (or heated). Everything a run produces lives in its folder:

    ab.json          the plan (sides, order, pytest arguments) and every finished block
    ceiling.json     the machine's ceiling, measured once and passed to every block
    parts/NN-S.json  block NN's own results file (side S)
    logs/NN-S.log    its pytest output
    a.json, b.json   each side's blocks pooled into one ordinary results file, every block tagged with
                     ``side``, ``position`` and ``started_at`` (seconds since the A/B run began);
                     rewritten after every block, so an interrupted run keeps what it finished
    compare.md       the comparison (markdown)

``--resume`` runs the blocks that are not finished yet, with the plan in ab.json.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from xbench.errors import UserError
from xbench.paths import atomic_write_text

PLAN = "ab.json"
# One block per process; each benchmark's block gets what a block of the main run gets (1 s / 5 blocks).
BLOCK_ARGS = ("--benchmark-only", "-p", "no:cacheprovider", "--xbench-blocks", "1", "--benchmark-max-time", "0.2")
# Used when nothing follows `--`: the seed CNN on the CPU in fp32 with the frameworks and ONNX Runtime, without
# the variants whose compile alone takes longer than all the others (XLA, torch.compile), ORT's CPU IO binding
# and the epoch loop (seconds per round): 21 benchmarks, about 30 s per block on 2 cores. Spelled out in full so that
# a row added to the suite later (OpenVINO, int8, bf16 and train_epoch were) does not silently lengthen it.
DEFAULT_SELECTION = ("--xbench-models", "seed_cnn", "--xbench-providers", "cpu", "--xbench-dtypes", "float32",
                     "--xbench-runtimes", "keras,torch,onnxruntime",
                     "-k", "not compile and not xla and not train_epoch and not iobinding")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The entry point is xbench.bench.options; xbench.pytest_plugin in checkouts from before the suite moved.
PROBE = """\
import importlib, importlib.metadata as md, importlib.util, sys
try:
    import pytest_benchmark
    plugin = importlib.import_module("xbench.bench.options" if importlib.util.find_spec("xbench.bench") else "xbench.pytest_plugin")
except ImportError as exc:
    sys.exit(f"xbench is not installed in this interpreter ({exc}); install it there: pip install -e CHECKOUT")
if not any(e.value in ("xbench.bench.options", "xbench.pytest_plugin") for e in md.entry_points(group="pytest11")):
    sys.exit("xbench is not installed in this interpreter (no pytest plugin); install it there: pip install -e CHECKOUT")
print(plugin.__file__)
"""
SUITES = ("xbench/bench/suite", "tests/benchmarks")  # the suite's folder in a checkout, newest first


@dataclass(frozen=True)
class Side:
    name: str  # "A" or "B"
    python: str
    dir: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()

    def setup(self) -> dict:
        """What makes the side what it is (the name aside): two sides with equal setups measure the same thing."""
        return {"python": self.python, "dir": self.dir, "args": list(self.args), "env": dict(self.env)}

    def describe(self) -> str:
        parts = [f"python {self.python}", f"dir {self.dir}"]
        if self.args:
            parts.append(f"args {shlex.join(self.args)}")
        parts += [f"{k}={v}" for k, v in self.env]
        return ", ".join(parts)

    def process_env(self, ceiling: Path) -> dict:
        return {**os.environ, **dict(self.env), "XBENCH_CEILING_FILE": str(ceiling)}

    @classmethod
    def from_setup(cls, name: str, d: dict) -> "Side":
        return cls(name, d["python"], d["dir"], tuple(d["args"]), tuple(d["env"].items()))


def order(blocks_per_side: int) -> list[str]:
    """A B, B A, A B, ...: pair k is (2k, 2k+1) and A goes first in the even pairs."""
    return [s for k in range(blocks_per_side) for s in (("A", "B") if k % 2 == 0 else ("B", "A"))]


def parse_env(items: list[str] | None, flag: str) -> tuple[tuple[str, str], ...]:
    out = []
    for item in items or []:
        name, eq, value = item.partition("=")
        if not eq or not ENV_NAME.match(name):
            raise UserError(f"{flag} {item!r}: expected NAME=VALUE with NAME a valid environment variable name")
        out.append((name, value))
    return tuple(out)


def parse_args_text(text: str | None, flag: str) -> tuple[str, ...]:
    try:
        return tuple(shlex.split(text or ""))
    except ValueError as exc:
        raise UserError(f"{flag} {text!r}: {exc}") from None


def check_checkout(path: str, flag: str) -> str:
    """The absolute path of a checkout of this project (its benchmark suite and plugin), or one UserError."""
    p = Path(path).expanduser()
    if not p.is_dir():
        raise UserError(f"{flag} {path}: no such directory")
    missing = [m for m in ("pyproject.toml",) if not (p / m).exists()]
    if not any((p / s).is_dir() for s in SUITES):
        missing.insert(0, " or ".join(reversed(SUITES)))
    if missing:
        raise UserError(f"{flag} {path}: not a checkout of xbench (no {', '.join(missing)})")
    return str(p.resolve())


def suite_path(checkout: str) -> str:
    """The suite's folder in this checkout, relative to it (an older checkout keeps it in tests/benchmarks)."""
    return next((s for s in SUITES if (Path(checkout) / s).is_dir()), SUITES[0])


def check_python(side: Side, flag: str) -> None:
    """The side's interpreter runs, has pytest-benchmark and xbench's pytest plugin, from the side's checkout."""
    exe = Path(side.python)
    if not exe.exists():
        raise UserError(f"{flag} {side.python}: no such file")
    try:
        proc = subprocess.run([side.python, "-c", PROBE], cwd=side.dir, env={**os.environ, **dict(side.env)},
                              capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"{flag} {side.python}: cannot run it ({exc})") from None
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines() or [f"exit status {proc.returncode}"]
        raise UserError(f"{flag} {side.python}: cannot run xbench's benchmarks: {lines[-1]}")


def check_selection(side: Side, flag: str, pytest_args: list[str]) -> int:
    """How many benchmarks one block of this side runs, from a collection with the block's own arguments
    (about 2 s): a selection that matches nothing or an option the side's plugin refuses is bad input,
    found before any block runs."""
    cmd = [side.python, "-m", "pytest", suite_path(side.dir), *BLOCK_ARGS, "--collect-only", "-q", *pytest_args,
           *side.args]
    try:
        proc = subprocess.run(cmd, cwd=side.dir, env={**os.environ, **dict(side.env)}, capture_output=True,
                              text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"{flag}: cannot collect the benchmarks ({exc})") from None
    lines = [ln.strip() for ln in (proc.stdout + "\n" + proc.stderr).splitlines() if ln.strip()]
    found = re.search(r"(\d+)(?:/\d+)? tests? collected", proc.stdout)
    if proc.returncode == 0 and found:
        return int(found.group(1))
    why = next((ln for ln in lines if "error" in ln.lower()), lines[-1] if lines else f"exit {proc.returncode}")
    if proc.returncode == 5:
        why = f"no benchmark selected ({why})"
    raise UserError(f"side {side.name} ({flag}): the benchmarks cannot run with these arguments: {why}")


@dataclass
class Plan:
    """Everything that defines an A/B run, and how far it got (``ab.json``)."""
    sides: dict[str, Side]
    blocks: int  # per side
    pytest_args: list[str]
    started_at: float = field(default_factory=time.time)  # epoch seconds; block start times count from here
    done: dict[int, dict] = field(default_factory=dict)  # position -> {side, started_at, wall_s, returncode}

    @property
    def order(self) -> list[str]:
        return order(self.blocks)

    def settings(self) -> dict:
        return {"blocks": self.blocks, "pytest_args": self.pytest_args,
                "sides": {k: s.setup() for k, s in self.sides.items()}}

    def to_dict(self) -> dict:
        return {"xbench_ab": 1, **self.settings(), "order": self.order, "started_at": self.started_at,
                "done": {str(k): v for k, v in sorted(self.done.items())}}

    @classmethod
    def from_dict(cls, d: dict) -> "Plan":
        return cls({k: Side.from_setup(k, v) for k, v in d["sides"].items()}, d["blocks"], d["pytest_args"],
                   d["started_at"], {int(k): v for k, v in d["done"].items()})

    @classmethod
    def load(cls, folder: Path) -> "Plan":
        path = folder / PLAN
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            raise UserError(f"--resume: {folder} holds no A/B run (no {PLAN})") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UserError(f"--resume: {path} is not an xbench ab plan ({type(exc).__name__}: {exc})") from None

    def save(self, folder: Path) -> None:
        atomic_write_text(folder / PLAN, json.dumps(self.to_dict(), indent=2) + "\n")


def part_path(folder: Path, position: int, side: str) -> Path:
    return folder / "parts" / f"{position:02d}-{side}.json"


def block_command(plan: Plan, side: Side, part: Path) -> list[str]:
    return [side.python, "-m", "pytest", suite_path(side.dir), *BLOCK_ARGS, "--xbench-json", str(part),
            *plan.pytest_args, *side.args]


def run_block(plan: Plan, folder: Path, position: int) -> dict:
    """One block in a fresh process; returns what ab.json keeps about it."""
    side = plan.sides[plan.order[position]]
    part = part_path(folder, position, side.name)
    part.unlink(missing_ok=True)  # an interrupted attempt's partial file
    log = folder / "logs" / f"{position:02d}-{side.name}.log"
    started = time.time()
    with open(log, "w") as out:
        code = subprocess.call(block_command(plan, side, part), cwd=side.dir, stdout=out, stderr=subprocess.STDOUT,
                               env=side.process_env(folder / "ceiling.json"))
    return {"side": side.name, "started_at": round(started - plan.started_at, 1),
            "wall_s": round(time.time() - started, 1), "returncode": code}


def side_document(plan: Plan, folder: Path, name: str) -> dict | None:
    """The side's finished blocks as one results file (``xbench.records.runs.pool``), each block tagged with its side,
    its position in the order and its start time; None before its first block with results."""
    from xbench.records.runs import pool
    from xbench.schema import read_results

    positions = [p for p in sorted(plan.done) if plan.done[p]["side"] == name and part_path(folder, p, name).exists()]
    if not positions:
        return None
    doc = pool([read_results(part_path(folder, p, name)) for p in positions])
    for rec in doc["records"]:
        for b in rec.get("blocks") or []:
            pos = positions[b.get("run", 0)]
            b.update(side=name, position=pos,
                     started_at=round(plan.done[pos]["started_at"] + b.get("started_at", 0.0), 1))
        for r in rec.get("run_status") or []:
            r["position"] = positions[r["run"]]
    doc["env"]["ab"] = {"side": name, **plan.sides[name].setup(), "positions": positions,
                        "started_at": datetime.fromtimestamp(plan.started_at, timezone.utc).isoformat(timespec="seconds")}
    return doc


def write_sides(plan: Plan, folder: Path) -> dict[str, dict | None]:
    from xbench.records import write_results

    docs = {}
    for name in ("A", "B"):
        docs[name] = side_document(plan, folder, name)
        if docs[name] is not None:
            write_results(folder / f"{name.lower()}.json", docs[name])
    return docs


def measure_ceiling(folder: Path) -> None:
    """Once per A/B run, in a fresh process (or from $XBENCH_CEILING_FILE); every block reads it."""
    from xbench.explain import roofline

    path = folder / "ceiling.json"
    if path.exists():
        return
    given = os.environ.get("XBENCH_CEILING_FILE")
    ceiling = None
    if given:
        try:
            ceiling = json.loads(Path(given).read_text())
        except (OSError, ValueError):
            ceiling = None
    atomic_write_text(path, json.dumps(ceiling or roofline.measure_in_subprocess()) + "\n")


def run(plan: Plan, folder: Path, progress=None, runner=run_block) -> dict[str, dict | None]:
    """Run every block not finished yet, in order; after each, record it in ab.json and rewrite a.json/b.json.

    ``progress``: an object with ``update(n)`` and ``set_description(text)`` (a tqdm bar) or None.
    ``runner(plan, folder, position) -> dict``: how a block runs (tests replace the process)."""
    for sub in ("parts", "logs"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    measure_ceiling(folder)
    plan.save(folder)
    total = len(plan.order)
    for position, name in enumerate(plan.order):
        if position in plan.done:
            continue
        if progress is not None:
            progress.set_description(f"block {position + 1}/{total}: side {name}")
        plan.done[position] = runner(plan, folder, position)
        plan.save(folder)
        write_sides(plan, folder)
        if progress is not None:
            progress.update(1)
    return write_sides(plan, folder)
