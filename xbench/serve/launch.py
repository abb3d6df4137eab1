"""The serve run: which rows, one process per row (``xbench.serve.worker``), and the results file with LoadGen's
logs kept beside it (``<results stem>.loadgen/``; records name the files, ``env.serve.logs`` the folder)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

from xbench.serve.rows import Options


def rows(model: str, framework: str, runtimes: tuple[str, ...], dtypes: tuple[str, ...]) -> list:
    """The suite's inference rows of ``model`` on the CPU (batch 1 stands for the row): the native frameworks
    named in ``runtimes``, and the ONNX runtimes on ``framework``'s export."""
    from xbench import frameworks
    from xbench.bench import cases

    names = list(dict.fromkeys([framework] + [r for r in runtimes if r in frameworks.names()]))
    sel = cases.Selection(runtimes=runtimes, dtypes=dtypes, where_models=None, where_batches=(1,))
    found = cases.inference_cases([model], names, ["CPUExecutionProvider"], batch_sizes=(1,), sel=sel)
    keep = [c for c in found if c.device.lower() == "cpu" and (c.runtime == c.framework or c.framework == framework)]
    return list(dict.fromkeys(keep))


def serve(row_cases: list, opts: Options, *, model: str, data: str | None, noop: bool, json_path: str | None,
          progress: Callable[[str], None] = lambda line: None) -> dict:
    from xbench import machine
    from xbench.records import Record, results_document, write_results
    from xbench.serve import records as rec_mod
    from xbench.serve.worker import launch, options_to_dict
    from xbench.training.weights import REUSE_ENV

    created = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    load_before = _loadavg()
    with tempfile.TemporaryDirectory(prefix="xbench-serve-") as tmp:
        tmp = Path(tmp)
        logdir, workdir = tmp / "logs", tmp / "files"
        logdir.mkdir()
        workdir.mkdir()
        env = {REUSE_ENV: os.environ.get(REUSE_ENV) or str(tmp / "weights")}  # weights trained once, for all rows
        base = {"options": options_to_dict(opts), "logdir": str(logdir), "workdir": str(workdir), "data": data,
                "model": model}
        row_dicts = [dataclasses.asdict(c) for c in row_cases]
        if row_dicts:
            progress(f"serve: preparing {len(row_cases)} rows (weights, ONNX files) in a separate process")
            _, why = launch({**base, "rows": row_dicts, "prepare": True}, tmp, "prepare", env)
            if why:
                progress(f"serve: preparing failed ({why}); each row reports its own reason")
        records, run_env = [], {}
        jobs = [({**base, "rows": [d]}, rec_mod.row_name({**d, "task": "serve"})) for d in row_dicts]
        if noop:
            jobs.append(({**base, "noop": True}, "noop"))
        for job, name in jobs:
            progress(f"serve: {name}")
            got, why = launch(job, tmp, name, env)
            if got is None:
                ident = job["rows"][0] if job.get("rows") else {
                    "framework": None, "runtime": "noop", "provider": "cpu", "model": model, "dtype": "float32",
                    "variant": "noop"}
                records.append(rec_mod.failed(ident, "error", f"the row's process failed: {why}").to_dict())
                continue
            records += got["records"]
            for k, v in got["env"].items():
                if k == "weights":
                    for fw, by_model in v.items():
                        run_env.setdefault("weights", {}).setdefault(fw, {}).update(by_model)
                else:
                    run_env.setdefault(k, v)
        against_noop(records)
        logs_name = Path(json_path).stem + ".loadgen" if json_path else None
        env_block = machine.collect({**run_env, "serve": {
            "logs": logs_name, "loadgen": _version("mlcommons-loadgen"), "processes": "one per row (xbench.serve.worker); weights and ONNX files made first "
                                            "in a separate process", "options": options_to_dict(opts),
            # the machine's 1-minute load average before and after the run: above the core count, other work shared it
            "loadavg": {"before": load_before, "after": _loadavg()}}})
        doc = results_document(env_block, [Record.from_dict(r) for r in records], created)
        if json_path:
            _keep_logs(logdir, Path(json_path).with_name(logs_name))
            write_results(json_path, doc)
            progress(f"wrote {json_path} (LoadGen logs in {logs_name}/)")
    return doc


WITHIN, EXCEEDS, UNRESOLVED = "within", "exceeds", "not resolved"


def against_noop(records: list[dict]) -> None:
    """Each SingleStream record's p90 against the closed loop's p90 of the same callable (``serve.vs_closed_loop``),
    judged on its pairs (``serve.pairs``: a closed loop as long as a LoadGen run, the row's LoadGen run, then the
    no-op SUT's, in the row's process).

    The rule. Per pair k, the excess e_k = (LoadGen's p90 - the closed loop's p90) - the no-op SUT's p90 in the same
    pair, taken as LoadGen's early-stopping estimate of it (an upper bound of the run's p90). With [lo, hi] the
    distribution-free interval of the median excess over the pairs (``stats.median_interval``; 6 pairs: [min, max],
    96.9 %): LoadGen's p90 is **within** the no-op overhead when hi <= 0, **exceeds** it when lo > 0, and is **not
    resolved** when the interval holds 0 or covers less than 95 % (5 pairs or fewer). The same interval of the model
    call's own p90 inside the SUT minus the closed loop's says how much is the call running slower under LoadGen.
    Pairs without a no-op run of their own (records from before) take the no-op row's SingleStream p90 (the median of
    its runs' estimates); without either there is no verdict."""
    from xbench.records import stats

    def lg(rec):
        return ((rec.get("serve") or {}).get("loadgen") or {})

    def runs(rec) -> list[dict]:  # a record from before pairs: its one run
        s = rec.get("serve") or {}
        return s.get("pairs") or [{"loadgen_p90_s": (lg(rec).get("latency_s") or {}).get("p90"),
                                   "loadgen_early_stopping_p90_s": (lg(rec).get("early_stopping") or {}).get("p90_s"),
                                   "closed_loop_p90_s": (s.get("closed_loop") or {}).get("p90_s")}]

    def interval(xs):
        lo, hi, coverage = stats.median_interval(xs)
        return {"median": statistics.median(xs), "interval": [lo, hi], "coverage": round(coverage, 4)}

    noop = next((r for r in records if r.get("runtime") == "noop" and r.get("variant") == "noop:single-stream"
                 and r.get("status") == "ok"), None)
    row_noop = None
    if noop is not None:
        ups = [u for u in (p.get("loadgen_early_stopping_p90_s") or p.get("loadgen_p90_s") for p in runs(noop))
               if u is not None]
        row_noop = statistics.median(ups) if ups else None
    for r in records:
        s = r.get("serve") or {}
        pairs = [p for p in runs(r) if p.get("loadgen_p90_s") is not None and p.get("closed_loop_p90_s") is not None]
        if s.get("scenario") != "single-stream" or r.get("runtime") == "noop" or not pairs:
            continue
        d = [p["loadgen_p90_s"] - p["closed_loop_p90_s"] for p in pairs]
        own = [p.get("noop_early_stopping_p90_s") or p.get("noop_p90_s") for p in pairs]
        allow = own if all(a is not None for a in own) else [row_noop] * len(pairs)
        calls = [p["sut_call_p90_s"] - p["closed_loop_p90_s"] for p in pairs if p.get("sut_call_p90_s") is not None]
        verdict = excess = None
        if None not in allow:
            excess = interval([x - a for x, a in zip(d, allow)])
            lo, hi = excess["interval"]
            verdict = (UNRESOLVED if excess["coverage"] < stats.CI_LEVEL else
                       WITHIN if hi <= 0 else EXCEEDS if lo > 0 else UNRESOLVED)
        s["vs_closed_loop"] = {
            "pairs": len(pairs), "loadgen_p90_s": statistics.median(p["loadgen_p90_s"] for p in pairs),
            "closed_loop_p90_s": statistics.median(p["closed_loop_p90_s"] for p in pairs),
            "difference_s": interval(d), "noop_p90_s": None if None in allow else statistics.median(allow),
            "noop": "paired" if allow is own else "the no-op row" if row_noop is not None else None,
            "excess_s": excess, "sut_call_minus_closed_loop_s": interval(calls) if calls else None,
            "verdict": verdict, "explained_by_noop": {WITHIN: True, EXCEEDS: False}.get(verdict),
            "rule": "per pair, (LoadGen's p90 - the closed loop's p90 just before it) - the no-op SUT's p90 just "
                    "after it (LoadGen's early-stopping estimate); within the no-op overhead when the interval of "
                    "the median over the pairs (>= 95 %) is <= 0, exceeds when it is > 0, not resolved otherwise"}


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _keep_logs(src: Path, dest: Path) -> None:
    """Move the run's logs into ``dest`` whole: a folder of the same name from an earlier run is replaced."""
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        for f in src.iterdir():
            shutil.move(str(f), staging / f.name)
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
