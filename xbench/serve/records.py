"""Serve records in the results schema: task ``serve``, one record per row x scenario.

Identity: the row's (framework, runtime, provider, model, dtype) and ``variant`` = the row's variant and the
scenario (``default:single-stream``, ``default:server+batcher``); ``batch_size`` is the most samples the SUT
runs in one call. ``samples_s`` are the seconds of each model call inside the SUT (the model's share of the
queries; for a Server record, those of the probe it reports); ``throughput`` is LoadGen's achieved samples per
second. Everything LoadGen says is under ``serve.loadgen`` (latency percentiles, VALID/INVALID and the reason,
the log files by name); a Server record adds ``serve.search`` with every probe.
"""

from __future__ import annotations

from xbench.records import Record


def row_name(identity: dict) -> str:
    """A file-name-safe name of a row: the prefix of its LoadGen log files."""
    parts = [identity["model"], identity.get("framework") or "-", identity["runtime"], identity["provider"],
             identity["variant"], identity["dtype"]]
    return ".".join(str(p).replace("/", "_").replace(" ", "_") for p in parts if p != "-")


def _identity(identity: dict, scenario: str, batch: int) -> dict:
    return {**{k: identity[k] for k in ("framework", "runtime", "provider", "model", "dtype")},
            "task": "serve", "batch_size": batch, "variant": f"{identity['variant']}:{scenario}"}


def serve_record(identity: dict, scenario: str, batch: int, result, call_s: list[float], serve: dict,
                 extra: dict) -> Record:
    ident = _identity(identity, scenario, batch)
    body = {"scenario": scenario, "loadgen": result.to_dict(), **serve}
    samples = [s for s in call_s if s > 0]
    if not samples:
        return Record(status="error", reason=f"{scenario}: the SUT made no model call", extra={"serve": body},
                      **ident)
    rec = Record.measured(samples, 1, **ident)
    rec.throughput = result.qps
    rec.extra.update(extra)
    rec.extra["serve"] = body
    return rec


def failed(identity: dict, status: str, reason: str) -> Record:
    return Record(status=status, reason=reason, **_identity(identity, "all", 1))
