"""Several runs of the suite as one results document: each benchmark's blocks from every run.

On a shared or virtual machine the speed drifts over minutes, and a state can
last a whole run (measured here: ONNX Runtime at batch 1 ran 13 µs in every
block of one run and 24 µs in every block of the next). Blocks from several
runs show that drift; ``xbench compare`` uses them as the noise a change must
clear, and the published baseline pools several runs for that reason.

Pooling keeps every raw round: ``samples_s`` is the runs' rounds in order,
``blocks`` their blocks (each tagged with its ``run``), and the statistics,
rates (``xbench.records.rates``) and roofline fields are recomputed from the pooled blocks (each block
weighing the same). A benchmark is ``ok`` when any run measured it, and its
``run_status`` keeps every run's status; the env is the first run's, with every run's
start time and host in ``env.runs``.
"""

from __future__ import annotations

from dataclasses import asdict

from xbench.records import SCHEMA_VERSION, Stats, block_entries, identity_key, rates


def _blocks(rec: dict, run: int) -> list[dict]:
    return [{**b, "run": b.get("run", run)} for b in block_entries(rec)]


def _split(rec: dict) -> list[list[float]]:
    from xbench.verdicts.noise import blocks

    return blocks(rec)


def _stats(blocks: list[list[float]], rec: dict) -> dict:
    """``stats`` and the rates (``throughput``; ``images_per_s`` of an epoch) of ``rec`` made of these blocks,
    in the unit the suite wrote them in (``xbench.records.rates``)."""
    stats = Stats.from_blocks(blocks, rec["stats"]["iterations"])
    return {"stats": asdict(stats),
            **rates(rec["task"], rec["batch_size"], stats.median, rec.get("samples_per_epoch"))}


def _merge(a: dict, b: dict, run: int, ceiling: dict | None) -> dict:
    from xbench.records.stats import block_medians, states

    parts = _split(a) + _split(b)
    out = {**a, "samples_s": a["samples_s"] + b["samples_s"],
           **_stats(parts, a), "blocks": _blocks(a, 0) + _blocks(b, run)}
    found = states(block_medians(parts))
    out.pop("states", None)
    if len(found) > 1:
        out["states"] = found
    cost = a.get("cost") or {}
    if "flops_per_batch" in cost and "achieved_gflops" in a:
        from xbench.bench.annotate import place

        out.update(place(cost, out["stats"]["median"], ceiling, a["provider"], a["batch_size"]))
    return out


def pool(docs: list[dict]) -> dict:
    """One results document from several runs (the first run's env and order).

    A benchmark is ``ok`` when any run measured it; ``run_status`` lists every run's status (and reason), so an
    error in one run is never dropped: ``xbench compare`` fails a NEW benchmark that errored in any run.
    """
    if len(docs) == 1:
        return docs[0]
    ceiling = (docs[0].get("env") or {}).get("ceiling")
    merged: dict[tuple, dict] = {}
    seen: dict[tuple, list[dict]] = {}
    for run, doc in enumerate(docs):
        for rec in doc["records"]:
            k = identity_key(rec)
            seen.setdefault(k, []).append({"run": run, "status": rec["status"],
                                           **({"reason": rec["reason"]} if rec.get("reason") else {})})
            cur = merged.get(k)
            if cur is None or (rec["status"] == "ok" and cur["status"] != "ok"):
                merged[k] = {**rec, "blocks": _blocks(rec, run)} if rec["status"] == "ok" else dict(rec)
            elif rec["status"] == "ok" and cur["status"] == "ok":
                merged[k] = _merge(cur, rec, run, ceiling)
    for k, rec in merged.items():
        rec["run_status"] = seen[k]
    env = dict(docs[0].get("env") or {})
    env["runs"] = [{"created_at": d.get("created_at"), "hostname": (d.get("env") or {}).get("hostname")}
                   for d in docs]
    return {"schema_version": SCHEMA_VERSION, "created_at": docs[0].get("created_at"), "env": env,
            "records": list(merged.values())}


def unpool(doc: dict) -> list[dict]:
    """The runs a pooled document was made from (``pool``'s inverse, up to the env and the roofline fields):
    each run's blocks and rounds per record, its status from ``run_status``. One document for an unpooled file.

    This is how the evidence for the gate's false-alarm rate is re-derived from a committed baseline alone
    (``scripts/gate_check.py --split``)."""
    n = len((doc.get("env") or {}).get("runs") or [])
    if n < 2:
        return [doc]
    out = []
    for run in range(n):
        records = []
        for rec in doc["records"]:
            status = next((s for s in rec.get("run_status") or [] if s["run"] == run), None)
            if rec["status"] != "ok" or (status and status["status"] != "ok"):
                if status:
                    records.append({k: v for k, v in rec.items() if k not in ("run_status",)}
                                   | {k: v for k, v in status.items() if k != "run"})
                continue
            parts = [(b, s) for b, s in zip(block_entries(rec), _split(rec)) if b.get("run", 0) == run]
            if not parts:
                continue
            blocks = [s for _, s in parts]
            records.append({**{k: v for k, v in rec.items() if k not in ("run_status", "states")},
                            "samples_s": [x for s in blocks for x in s],
                            **_stats(blocks, rec),
                            "blocks": [{k: v for k, v in b.items() if k != "run"} for b, _ in parts]})
        env = {k: v for k, v in (doc.get("env") or {}).items() if k != "runs"}
        out.append({**doc, "created_at": doc["env"]["runs"][run].get("created_at"), "env": env, "records": records})
    return out
