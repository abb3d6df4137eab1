"""Result records and the results file: raw samples kept, statistics computed in one place.

A results file is ``{"schema_version", "created_at", "env", "records": [...]}``;
every record keeps its raw per-round seconds (``samples_s``) so anything can be
recomputed later (see ``xbench/schema/results.schema.json``).
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from xbench.paths import atomic_write_text

SCHEMA_VERSION = "1.3.0"  # 1.1: records may carry repeats (blocks); 1.2: block-weighted stats, p90/p99, interval; 1.3: accuracy, accuracy_delta, load_s, env.weights
SAMPLE_DECIMALS = 10  # samples_s are stored rounded to 0.1 ns
IDENTITY = ("task", "framework", "runtime", "provider", "model", "batch_size", "dtype", "variant")


def identity_key(rec: dict) -> tuple:
    """What makes two records (dicts) the same benchmark, across files."""
    return tuple(rec.get(k) for k in IDENTITY)


def rates(task: str, batch_size: int, median_s: float | None, samples_per_epoch: int | None = None) -> dict:
    """A record's ``throughput`` (samples per second at the median), from what one round of its task is: the one
    place that knows, used by the suite when it writes a record and by ``xbench.records.runs`` when it pools runs.

    A ``train_step`` or ``inference`` round is one batch; a ``train_epoch`` round is a whole epoch of
    ``samples_per_epoch`` images, so its throughput is images per second of the epoch (``images_per_s`` too).
    Any other task (time to accuracy), or an epoch of unknown size, has no throughput: None."""
    per_round = {"train_step": batch_size, "inference": batch_size, "train_epoch": samples_per_epoch}.get(task)
    rate = per_round / median_s if per_round and median_s and median_s > 0 else None
    return {"throughput": rate, "images_per_s": rate} if task == "train_epoch" else {"throughput": rate}


def block_entries(rec: dict) -> list[dict]:
    """A record's blocks (``blocks``, in the order of ``samples_s``), or one block of all its rounds when it
    has none or their rounds do not add up to ``samples_s``."""
    entries = rec.get("blocks") or []
    rounds = len(rec.get("samples_s") or [])
    if entries and sum(b.get("rounds", 0) for b in entries) == rounds:
        return entries
    stats = rec.get("stats") or {}
    return [{"rounds": rounds, "iterations": stats.get("iterations"), "median_s": stats.get("median"),
             "first_call_s": rec.get("first_call_s")}]


@dataclass(frozen=True)
class Stats:
    """Every field weighs each block the same (``xbench.records.stats``); ``median`` is the median of block medians."""
    min: float
    max: float
    mean: float
    median: float
    stddev: float
    iqr: float
    rounds: int
    iterations: int
    p90: float | None = None
    p99: float | None = None
    median_ci95: list[float] | None = None  # interval of the median over blocks (over rounds when one block)
    ci_level: float | None = None  # its real coverage: below 0.95 when there are fewer than 6 blocks
    ci_unit: str | None = None  # blocks | rounds
    blocks: int = 1

    @classmethod
    def from_blocks(cls, blocks: list[list[float]], iterations: int = 1) -> "Stats":
        from xbench.records import stats as st

        blocks = [b for b in blocks if b]
        meds = st.block_medians(blocks)
        mean, sd = st.weighted_mean_sd(blocks)
        one = len(blocks) == 1
        lo, hi, level = st.median_interval(blocks[0] if one else meds)
        return cls(min=min(min(b) for b in blocks), max=max(max(b) for b in blocks), mean=mean,
                   median=statistics.median(meds), stddev=sd,
                   iqr=st.weighted_quantile(blocks, 0.75) - st.weighted_quantile(blocks, 0.25),
                   rounds=sum(len(b) for b in blocks), iterations=iterations,
                   p90=st.weighted_quantile(blocks, 0.90), p99=st.weighted_quantile(blocks, 0.99),
                   median_ci95=[lo, hi], ci_level=round(level, 4), ci_unit="rounds" if one else "blocks",
                   blocks=len(blocks))

    @classmethod
    def from_samples(cls, samples: list[float], iterations: int = 1) -> "Stats":
        return cls.from_blocks([samples], iterations)


@dataclass
class Record:
    task: str  # train_step | inference | ...
    framework: str | None  # keras | torch; for ORT the framework whose export ran; None for foreign ONNX
    runtime: str  # keras | torch | onnxruntime
    provider: str  # ORT execution provider name, or cpu / cuda for native runs
    model: str
    batch_size: int
    dtype: str = "float32"
    variant: str = "default"
    status: str = "ok"  # ok | skipped | error
    reason: str | None = None
    stats: Stats | None = None
    samples_s: list[float] = field(default_factory=list)
    throughput: float | None = None  # samples per second at the median (``rates``)
    first_call_s: float | None = None
    extra: dict = field(default_factory=dict)  # config, memory, cost... (free-form, per task)

    @property
    def id(self) -> str:
        fw = self.framework or "-"
        return f"{self.task}/{self.model}/{fw}/{self.runtime}/{self.provider}/{self.variant}/b{self.batch_size}/{self.dtype}"

    def identity(self) -> dict:
        return {k: getattr(self, k) for k in IDENTITY}

    @classmethod
    def measured(cls, samples_s: list[float] | list[list[float]], iterations: int = 1, **identity) -> "Record":
        """A measured record from its rounds: a flat list (one block) or a list of blocks. A ``train_epoch``
        record gets its throughput once its epoch's size is known (``rates`` with ``samples_per_epoch``)."""
        from xbench.records.stats import states

        blocks = samples_s if samples_s and isinstance(samples_s[0], list) else [samples_s]
        # 0.1 ns: below the timer's resolution even per iteration, and half the file size of full floats
        blocks = [[round(s, SAMPLE_DECIMALS) for s in b] for b in blocks]
        stats = Stats.from_blocks(blocks, iterations)
        rec = cls(stats=stats, samples_s=[s for b in blocks for s in b],
                  throughput=rates(identity["task"], identity["batch_size"], stats.median)["throughput"], **identity)
        found = states([statistics.median(b) for b in blocks]) if len(blocks) > 1 else []
        if len(found) > 1:
            rec.extra["states"] = found
        return rec

    def to_dict(self) -> dict:
        d = asdict(self)
        extra = d.pop("extra")
        return {"id": self.id, **d, **extra}

    @classmethod
    def from_dict(cls, d: dict) -> "Record":
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        kwargs = {k: d[k] for k in known if k in d}
        if kwargs.get("stats"):
            kwargs["stats"] = Stats(**kwargs["stats"])
        extra = {k: v for k, v in d.items() if k not in known and k != "id"}
        return cls(**kwargs, extra=extra)


def results_document(env: dict, records: list[Record], created_at: str | None = None) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "created_at": created_at or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "env": env,
        "records": [r.to_dict() for r in records],
    }


def to_json(doc: dict) -> str:
    """Indented JSON with each raw sample list on one line (thousands of rounds stay readable)."""
    text = json.dumps(doc, indent=2)
    return re.sub(r'("samples_s": \[)([^\]]*)(\])', lambda m: m[1] + re.sub(r"\s+", "", m[2]) + m[3], text)


def write_results(path: str | Path, doc: dict, check: bool = True) -> None:
    """Validate (unless the caller already checked every record) and write atomically."""
    if check:
        from xbench.schema import validate  # light: jsonschema only

        validate(doc, source=str(path))
    atomic_write_text(path, to_json(doc) + "\n")
