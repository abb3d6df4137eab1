"""MLPerf LoadGen: the settings of one run, the run itself, and what its logs say.

CI-sized by default (``Settings()``): every run at least ``min_duration_ms`` = 1 s and ``min_query_count``
queries (256 for SingleStream, whose early-stopping estimate of the p90 needs 64; 2048 for Server: the early-stopping
estimate of the p99 needs about 460 queries on a run without a late one and more for each late one, so 2048 lets a
probe with a few late queries still prove its p99; 1 for Offline, one query of all samples).
``Settings.mlperf()`` takes MLPerf's own values instead (LoadGen's built-in ``mlperf.conf``: 600 s and 100
queries for a model it does not know; ``--mlperf-defaults``).

A run writes LoadGen's files to a folder; ``run`` keeps the summary and the detail log under names made from a
prefix (``<prefix>.summary.txt``, ``<prefix>.detail.txt``) and parses the detail log's ``:::MLLOG`` lines, which
carry every result as JSON (LoadGen's summary is the same numbers as text).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

SCENARIOS = {"single-stream": "SingleStream", "offline": "Offline", "server": "Server"}
ACCURACY = "accuracy"  # not a LoadGen scenario: an AccuracyOnly run (Offline, every sample once)
CHOICES = (*SCENARIOS, ACCURACY)
PERCENTILES = ("50.00", "90.00", "99.00", "99.90")
MIN_QUERIES = {"single-stream": 256, "offline": 1, "server": 2048}


@dataclass(frozen=True)
class Settings:
    min_duration_ms: int = 1000
    min_query_count: dict | None = None  # scenario -> count; None: ``MIN_QUERIES``
    mlperf_defaults: bool = False  # True: LoadGen's mlperf.conf decides duration and query count

    @classmethod
    def mlperf(cls) -> "Settings":
        return cls(min_duration_ms=600_000, min_query_count=None, mlperf_defaults=True)

    def queries(self, scenario: str) -> int:
        return (self.min_query_count or MIN_QUERIES).get(scenario, 1)

    def recorded(self, scenario: str) -> dict:
        if self.mlperf_defaults:
            return {"source": "LoadGen's mlperf.conf (--mlperf-defaults)"}
        return {"source": "xbench CI-sized defaults", "min_duration_ms": self.min_duration_ms,
                "min_query_count": self.queries(scenario)}


@dataclass
class Result:
    """One LoadGen run as its detail log reports it. Latencies in seconds."""
    scenario: str
    mode: str
    valid: bool | None  # None: an AccuracyOnly run, which LoadGen does not judge
    invalid_reason: str | None
    latency_s: dict  # p50, p90, p99, p99.9, mean, min, max
    early_stopping: dict  # LoadGen's early-stopping estimates (SingleStream: p90 and p99, seconds), its words
    qps: float | None  # achieved samples per second
    query_count: int | None
    effective: dict  # the settings LoadGen ran with (effective_*)
    logs: dict  # summary / detail: file names
    constraints: dict = field(default_factory=dict)  # LoadGen's own flags: min duration / queries, latency, early stop

    @property
    def complete(self) -> bool | None:
        """The run measured what LoadGen asks of a run (minimum duration and query count), whatever its latency."""
        flags = [self.constraints.get(k) for k in ("min_duration_met", "min_queries_met")]
        return None if None in flags else all(flags)

    def to_dict(self) -> dict:
        return asdict(self)


def parse_detail(text: str) -> dict:
    """``key -> value`` of every ``:::MLLOG {...}`` line (the last one wins)."""
    out = {}
    for line in text.splitlines():
        if line.startswith(":::MLLOG "):
            try:
                entry = json.loads(line[len(":::MLLOG "):])
            except ValueError:
                continue
            out[entry.get("key")] = entry.get("value")
    return out


def result_from_log(log: dict, scenario: str, mode: str, logs: dict) -> Result:
    ns = 1e-9

    def sec(key):
        v = log.get(key)
        return None if v is None else v * ns

    lat = {f"p{p.rstrip('0').rstrip('.')}": sec(f"result_{p}_percentile_latency_ns") for p in PERCENTILES}
    lat.update(mean=sec("result_mean_latency_ns"), min=sec("result_min_latency_ns"), max=sec("result_max_latency_ns"))
    early = {"met": log.get("early_stopping_met"), "words": (log.get("early_stopping_result") or "").strip() or None}
    if "early_stopping_latency_ss" in log:
        early["p90_s"] = sec("early_stopping_latency_ss")
        early["p99_s"] = sec("early_stopping_latency_ms")  # LoadGen's key for the SingleStream p99 estimate
    qps = (log.get("result_completed_samples_per_sec") if scenario == "server" else
           log.get("result_samples_per_second") if scenario == "offline" else
           log.get("result_qps_with_loadgen_overhead"))
    if mode == "AccuracyOnly":
        return Result(scenario, mode, None, None, lat, early, None, log.get("result_query_count"), {}, logs)
    valid = log.get("result_validity") == "VALID"
    reason = None if valid else (log.get("result_invalid_reason") or "").strip() or _reason_from_flags(log)
    effective = {k[len("effective_"):]: v for k, v in log.items() if k.startswith("effective_")}
    constraints = {k[len("result_"):] if k.startswith("result_") else k: log[k] for k in CONSTRAINT_KEYS if k in log}
    return Result(scenario, mode, valid, reason, lat, early, qps, log.get("result_query_count"), effective, logs,
                  constraints)


CONSTRAINT_KEYS = ("result_min_duration_met", "result_min_queries_met", "result_perf_constraints_met",
                   "early_stopping_met")


def _reason_from_flags(log: dict) -> str:
    """LoadGen's own flags, in words, when it gave no reason line (a latency bound missed, for one)."""
    said = [what for key, what in (("result_perf_constraints_met", "latency bound not met"),
                                   ("result_min_duration_met", "minimum duration not met"),
                                   ("result_min_queries_met", "minimum query count not met"),
                                   ("early_stopping_met", "early stopping not met")) if log.get(key) is False]
    return "; ".join(said) or f"LoadGen said {log.get('result_validity')!r}"


def lg_settings(scenario: str, settings: Settings, *, accuracy: bool = False, target_qps: float | None = None,
                  bound_s: float | None = None, expected_latency_s: float | None = None,
                  expected_qps: float | None = None):
    """LoadGen's ``TestSettings`` for one run: ``settings`` (CI-sized, or LoadGen's mlperf.conf), the scenario and
    mode, and what this run needs (Server's QPS and bound; the expected latency / QPS that size the queries LoadGen
    pre-generates)."""
    import mlperf_loadgen as lg

    lg_scenario = SCENARIOS["offline" if scenario == ACCURACY else scenario]
    s = lg.TestSettings()
    if settings.mlperf_defaults:
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as empty:  # no user.conf: mlperf.conf alone
            s.FromConfig(empty.name, "xbench", lg_scenario, 0)
    else:
        s.min_duration_ms = settings.min_duration_ms
        s.min_query_count = settings.queries(scenario)
    s.scenario = getattr(lg.TestScenario, lg_scenario)
    s.mode = lg.TestMode.AccuracyOnly if accuracy else lg.TestMode.PerformanceOnly
    if expected_latency_s:
        s.single_stream_expected_latency_ns = max(1, int(expected_latency_s * 1e9))
    if expected_qps:
        s.offline_expected_qps = float(expected_qps)
    if target_qps:
        s.server_target_qps = float(target_qps)
    if bound_s:
        s.server_target_latency_ns = int(bound_s * 1e9)
    return s


def run(issue: Callable, flush: Callable, *, samples: int, scenario: str, settings: Settings, logdir: Path,
        prefix: str, accuracy: bool = False, target_qps: float | None = None, bound_s: float | None = None,
        expected_latency_s: float | None = None, expected_qps: float | None = None,
        performance_samples: int | None = None) -> tuple[Result, dict]:
    """One LoadGen test of the SUT callbacks ``issue(query_samples)`` / ``flush()`` over ``samples`` samples
    (all in memory). Returns the parsed result and the raw log entries; the summary and detail logs are kept in
    ``logdir`` as ``<prefix>.summary.txt`` / ``<prefix>.detail.txt`` (an accuracy run also keeps
    ``<prefix>.accuracy.json``)."""
    import mlperf_loadgen as lg

    s = lg_settings(scenario, settings, accuracy=accuracy, target_qps=target_qps, bound_s=bound_s,
                      expected_latency_s=expected_latency_s, expected_qps=expected_qps)
    with tempfile.TemporaryDirectory(prefix="xbench-loadgen-") as tmp:
        log_settings = lg.LogSettings()
        log_settings.log_output.outdir = tmp
        log_settings.log_output.copy_summary_to_stdout = False
        log_settings.enable_trace = False
        sut = lg.ConstructSUT(issue, flush)
        qsl = lg.ConstructQSL(samples, min(samples, performance_samples or samples), lambda _: None, lambda _: None)
        try:
            lg.StartTestWithLogSettings(sut, qsl, s, log_settings)
        finally:
            lg.DestroyQSL(qsl)
            lg.DestroySUT(sut)
        logs = {"summary": f"{prefix}.summary.txt", "detail": f"{prefix}.detail.txt"}
        shutil.copyfile(Path(tmp) / "mlperf_log_summary.txt", logdir / logs["summary"])
        shutil.copyfile(Path(tmp) / "mlperf_log_detail.txt", logdir / logs["detail"])
        if accuracy:
            logs["accuracy"] = f"{prefix}.accuracy.json"
            shutil.copyfile(Path(tmp) / "mlperf_log_accuracy.json", logdir / logs["accuracy"])
        log = parse_detail((logdir / logs["detail"]).read_text())
    return result_from_log(log, scenario, "AccuracyOnly" if accuracy else "PerformanceOnly", logs), log


def accuracy_entries(path: Path) -> list[tuple[int, bytes]]:
    """(sample index, response bytes) of every response LoadGen logged in an accuracy run."""
    return [(e["qsl_idx"], bytes.fromhex(e["data"])) for e in json.loads(path.read_text() or "[]")]
