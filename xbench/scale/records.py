"""Scale records: one per framework x world size x threads per worker x scaling mode, in the results schema.

``task`` is ``train_step_dp``; ``batch_size`` is the global batch; ``variant`` names the mode and the layout
(``strong-w2x1``: strong scaling, 2 workers x 1 thread). The rounds are the synchronised step's, in blocks (a fresh
model each) like every record; the unsynchronised step's rounds stay beside them (``unsynced``) for the
all-reduce share. Imports no ML framework.
"""

from __future__ import annotations

from xbench.records import Record
from xbench.scale.efficiency import allreduce_share, block_median, share_interval
from xbench.scale.plan import Launch

TASK = "train_step_dp"
HOW = {"torch": {"launcher": "torchrun (torch.distributed.run, c10d rendezvous on localhost)",
                 "strategy": "torch.nn.parallel.DistributedDataParallel"},
       "keras": {"launcher": "one process, a replica per logical CPU device",
                 "strategy": "tf.distribute.MirroredStrategy over logical CPU devices, Keras fit"}}


def variant(mode: str, world_size: int, threads: int) -> str:
    return f"{mode}-w{world_size}x{threads}"


def _identity(launch: Launch, model: str, mode: str, global_batch: int) -> dict:
    return {"task": TASK, "framework": launch.framework, "runtime": launch.framework, "provider": launch.device,
            "model": model, "batch_size": global_batch,
            "variant": variant(mode, launch.world_size, launch.threads_per_worker)}


def _fields(launch: Launch, mode: str, global_batch: int) -> dict:
    return {"world_size": launch.world_size, "threads_per_worker": launch.threads_per_worker,
            "global_batch": global_batch, "batch_per_worker": global_batch // launch.world_size, "scaling": mode,
            **HOW[launch.framework]}


def measured(launch: Launch, model: str, worker_doc: dict) -> list[Record]:
    """Records from what rank 0 wrote (``modes`` -> blocks of ``synced_s`` / ``unsynced_s`` rounds)."""
    out = []
    for mode, global_batch in launch.batches:
        part = worker_doc["modes"][mode]
        synced = [b["synced_s"] for b in part["blocks"]]
        unsynced = [b["unsynced_s"] for b in part["blocks"]]
        rec = Record.measured(synced, **_identity(launch, model, mode, global_batch))
        med, local = rec.stats.median, block_median(unsynced)
        rec.throughput = global_batch / med
        rec.first_call_s = part["blocks"][0]["first_call_s"]
        rec.extra.update(_fields(launch, mode, global_batch))
        rec.extra.update({
            "backend": worker_doc.get("backend"), "optimizer": part.get("optimizer"),
            "blocks": [{"rounds": len(b["synced_s"]), "median_s": block_median([b["synced_s"]]),
                        "first_call_s": b["first_call_s"]} for b in part["blocks"]],
            "unsynced": {"what": worker_doc.get("unsynced", "the same step under DDP's no_sync(): no all-reduce"),
                         "median_s": local, "block_medians_s": [block_median([b]) for b in unsynced],
                         "samples_s": [round(s, 10) for b in unsynced for s in b]},
            "allreduce_share": allreduce_share(med, local),
            "allreduce_share_ci95": share_interval([block_median([b]) for b in synced],
                                                   [block_median([b]) for b in unsynced]),
        })
        if worker_doc.get("steps_per_round"):  # Keras: a round is one fit call; samples are per step
            rec.extra["steps_per_round"] = worker_doc["steps_per_round"]
            rec.extra["first_call_note"] = (f"first_call_s is the first fit call: {worker_doc['steps_per_round']} "
                                            "steps, tracing included")
        out.append(rec)
    return out


def failed(launch: Launch, model: str, reason: str) -> list[Record]:
    """An ``error`` record per mode of a launch that did not finish (a worker died, the timeout ended it)."""
    out = []
    for mode, global_batch in launch.batches:
        rec = Record(status="error", reason=reason, **_identity(launch, model, mode, global_batch))
        rec.extra.update(_fields(launch, mode, global_batch))
        out.append(rec)
    return out


def merge(worker_docs: list[dict]) -> dict:
    """One worker document from several passes of the same launch: each mode's blocks in run order."""
    first = worker_docs[0]
    out = {**first, "modes": {m: {**v, "blocks": list(v["blocks"])} for m, v in first["modes"].items()}}
    for doc in worker_docs[1:]:
        for mode, part in doc["modes"].items():
            out["modes"][mode]["blocks"] += part["blocks"]
    return out
