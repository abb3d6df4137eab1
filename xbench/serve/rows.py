"""One inference row of the suite served through LoadGen: prepared by the factory, then every scenario asked.

A row is a :class:`xbench.bench.cases.Case` of task ``inference`` (its batch is set per use). The factory
(``cases.prepare``) gives the row's prepared callable at each batch the SUT needs, with the trained weights and
the row's accuracy; nothing here builds a session or a predict function. SingleStream runs in ``pairs``: the same
process times the batch-1 callable with the suite's loop (``xbench.bench.timing``) for as long as a LoadGen run
lasts, then LoadGen runs the row, then the no-op SUT, ``pairs`` times over, so each closed-loop p90 has a LoadGen
p90 and a no-op p90 from the next moments of the same session beside it (``serve.pairs``;
``xbench.serve.launch.against_noop`` judges them).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xbench.bench import timing
from xbench.records import stats
from xbench.serve import loadgen, records, sut
from xbench.serve.search import Probe, search

EVAL_BATCH = 1000  # an accuracy run's batches (as the suite's accuracy)
CALIBRATE_S = 0.3  # closed-loop timing that sizes LoadGen's expected latency / QPS
PERFORMANCE_SAMPLES = 1024  # the QSL of a performance run (the prepared calls hold their own images)
MIN_EXPECTED_S = 5e-6  # LoadGen pre-generates min_duration / expected latency SingleStream queries
PAIR_LOOP_MAX_S = 10.0  # a SingleStream pair's closed loop: as long as LoadGen's min_duration, at most this


@dataclass(frozen=True)
class Options:
    scenarios: tuple[str, ...] = tuple(loadgen.CHOICES)
    settings: loadgen.Settings = loadgen.Settings()
    bound_s: float = 0.010  # Server: the p99 latency bound
    offline_batch: int = 128
    max_batch: int = 32  # the dynamic batcher's
    max_wait_s: float = 0.002
    batcher: bool = True  # Server also with the dynamic batcher
    start_qps: float = 500.0
    max_qps: float = 256_000.0  # the no-op SUT reaches it on the 2-core VM; the model rows' edges lie below
    rel_tol: float = 0.1
    max_probes: int = 16  # doubling from 500 to 256,000 takes 10, bisection to 10 % about 4 more
    pairs: int = 6  # SingleStream: closed loop, then LoadGen, this many times (the no-op: this many LoadGen runs)


def batcher_sizes(max_batch: int) -> list[int]:
    """The batch sizes the dynamic batcher has prepared calls for: ``max_batch`` alone, every batch padded to it,
    as a static-shape server does. One prepared callable per size is one session each, with its own thread pool:
    with a size per power of two, the pools' spinning threads starved LoadGen's issue thread and the batcher's
    (seen on the 2-core VM: the batcher missed the bound at a few hundred QPS; padded, one session, it did not)."""
    return [max_batch]


def closed_loop(fn, budget_s: float = CALIBRATE_S, max_rounds: int = 5000) -> dict:
    """The suite's loop (first call, warm-ups, rounds) on ``fn``: median and p90 seconds per call, and the p90's
    distribution-free 95 % interval over the rounds."""
    t = timing.measure(fn, budget_s=budget_s, min_rounds=20, max_rounds=max_rounds)
    s = t.samples
    ci = stats.quantile_interval(s, 0.9)
    return {"median_s": stats.rank_quantile(s, 0.5), "p90_s": stats.rank_quantile(s, 0.9), "p90_ci95": list(ci) if ci else None,
            "rounds": len(s),
            "loop": "xbench.bench.timing.measure (the suite's first call + warm-ups + rounds), same process"}


class Served:
    """Runs the scenarios of one row over ``RunBatch`` factories, and makes the records."""

    def __init__(self, identity: dict, opts: Options, logdir: Path, prefix: str, extra: dict):
        self.identity, self.opts, self.logdir, self.prefix, self.extra = identity, opts, logdir, prefix, extra

    def _record(self, scenario, batch, result, sut_obj, **serve) -> records.Record:
        return records.serve_record(self.identity, scenario, batch, result, sut_obj.call_s,
                                    {"sut": sut_obj.describe(), "settings": self.opts.settings.recorded(
                                        "offline" if scenario == loadgen.ACCURACY else scenario.split("+")[0]),
                                     **serve}, self.extra)

    def single_stream(self, run_b1, b1_fn) -> records.Record:
        """``pairs`` x (the closed loop on ``b1_fn`` for as long as a LoadGen run lasts, LoadGen's SingleStream run
        of the row, then the no-op SUT's under the same settings), all in this process; the record reports the pair
        with the median LoadGen p90 and lists every pair (``serve.pairs``). The no-op row itself (``b1_fn`` None)
        is LoadGen's runs alone."""
        window = min(self.opts.settings.min_duration_ms / 1e3, PAIR_LOOP_MAX_S)

        def one(run_batch, name, expected):
            s = sut.Inline(run_batch, 1)
            result, _ = loadgen.run(s.issue, s.flush, samples=PERFORMANCE_SAMPLES, scenario="single-stream",
                                    settings=self.opts.settings, logdir=self.logdir, prefix=name,
                                    expected_latency_s=max(expected, MIN_EXPECTED_S))
            return result, s

        runs, pairs = [], []
        for i in range(self.opts.pairs):
            name = f"{self.prefix}.single-stream.{i + 1}"
            loop = closed_loop(b1_fn, window, max_rounds=10**7) if b1_fn is not None else None
            result, s = one(run_b1, name, loop["median_s"] / 2 if loop else 0.0)
            noop, _ = one(sut.noop, name + ".noop", 0.0) if b1_fn is not None else (None, None)
            runs.append((result, s, loop))
            pairs.append({"pair": i + 1, "loadgen_p90_s": result.latency_s.get("p90"),
                          "loadgen_early_stopping_p90_s": result.early_stopping.get("p90_s"), "valid": result.valid,
                          "sut_call_p90_s": stats.rank_quantile(s.call_s, 0.9) if s.call_s else None,
                          "closed_loop_p90_s": loop["p90_s"] if loop else None,
                          "closed_loop_rounds": loop["rounds"] if loop else None, "logs": result.logs,
                          **({"noop_p90_s": noop.latency_s.get("p90"),
                              "noop_early_stopping_p90_s": noop.early_stopping.get("p90_s"),
                              "noop_logs": noop.logs} if noop else {})})
        order = sorted(range(len(runs)), key=lambda i: runs[i][0].latency_s.get("p90") or 0.0)
        result, s, loop = runs[order[(len(order) - 1) // 2]]  # the median pair (the lower middle of an even count)
        return self._record("single-stream", 1, result, s, closed_loop=loop, pairs=pairs)

    def offline(self, run_b, b_fn, batch) -> records.Record:
        loop = closed_loop(b_fn) if b_fn is not None else None
        expected = 2 * batch / loop["median_s"] if loop else 1e6
        s = sut.Inline(run_b, batch)
        result, _ = loadgen.run(s.issue, s.flush, samples=PERFORMANCE_SAMPLES, scenario="offline", settings=self.opts.settings,
                                logdir=self.logdir, prefix=f"{self.prefix}.offline", expected_qps=expected)
        return self._record("offline", batch, result, s, closed_loop=loop)

    def server(self, make_sut, label: str, batch: int) -> records.Record:
        o = self.opts
        kept: dict[float, tuple] = {}

        def run(qps: float) -> Probe:
            s = make_sut()
            try:
                result, _ = loadgen.run(s.issue, s.flush, samples=PERFORMANCE_SAMPLES, scenario="server", settings=o.settings,
                                        logdir=self.logdir, prefix=f"{self.prefix}.{label}.qps{qps:g}",
                                        target_qps=qps, bound_s=o.bound_s)
            finally:
                s.close()
            kept[qps] = (result, s)
            return Probe(qps, result.latency_s.get("p99"), result.valid, result.invalid_reason or "", result.qps,
                         result.logs, result.complete)

        found = search(run, o.bound_s, start_qps=o.start_qps, max_qps=o.max_qps, rel_tol=o.rel_tol,
                       max_probes=o.max_probes)
        shown = found.qps if found.qps is not None else found.probes[0].qps
        result, s = kept[shown]
        return self._record(label, batch, result, s, search=found.to_dict())

    def accuracy(self, run_acc, labels, suite_accuracy) -> records.Record:
        s = sut.Inline(run_acc, EVAL_BATCH)
        n = len(labels)
        result, _ = loadgen.run(s.issue, s.flush, samples=n, scenario=loadgen.ACCURACY, settings=self.opts.settings,
                                logdir=self.logdir, prefix=f"{self.prefix}.accuracy", accuracy=True,
                                expected_qps=1e9)
        entries = loadgen.accuracy_entries(self.logdir / result.logs["accuracy"])
        got = {idx: int(np.frombuffer(data, dtype=np.int32)[0]) for idx, data in entries}
        correct = sum(int(got.get(i, -1) == int(labels[i])) for i in range(n))
        acc = correct / n
        return self._record(loadgen.ACCURACY, EVAL_BATCH, result, s, accuracy={
            "loadgen_top1": acc, "responses": len(got), "images": n, "suite_top1": suite_accuracy,
            "equals_suite": suite_accuracy is not None and abs(acc - suite_accuracy) < 1e-12})


def serve_row(case, ctx, opts: Options, logdir: Path) -> list[records.Record]:
    """Every scenario of ``opts`` on one row; a row that cannot run here is one skipped / error record."""
    from xbench import data as mnist
    from xbench.bench import cases

    identity = {k: v for k, v in dataclasses.asdict(case).items() if k != "batch_size"}
    prefix = records.row_name(identity)
    need = {1}
    if "offline" in opts.scenarios:
        need.add(opts.offline_batch)
    if "server" in opts.scenarios and opts.batcher:
        need.update(batcher_sizes(opts.max_batch))
    prepared = {}
    try:
        for b in sorted(need):
            p = cases.prepare(dataclasses.replace(case, batch_size=b), ctx)
            p.check(p.fn())  # the factory's check of the first result
            prepared[b] = p
    except cases.Skip as exc:
        return [records.failed(identity, "skipped", str(exc))]
    except Exception as exc:  # a row that fails to load: its record says why, the others still run
        from xbench.errors import first_line

        return [records.failed(identity, "error", f"{type(exc).__name__}: {first_line(exc)}"[:500])]
    extra = {k: prepared[1].extra.get(k) for k in ("accuracy", "accuracy_delta", "accuracy_images")
             if k in prepared[1].extra}
    extra["row"] = {k: v for k, v in prepared[1].extra.items() if k in ("session", "math", "variant_info", "onnx_file")}
    served = Served(identity, opts, logdir, prefix, extra)
    fn = {b: p.fn for b, p in prepared.items()}
    out = []
    for scenario in opts.scenarios:
        if scenario == "single-stream":
            out.append(served.single_stream(sut.prepared_calls({1: fn[1]}), fn[1]))
        elif scenario == "offline":
            b = opts.offline_batch
            out.append(served.offline(sut.prepared_calls({b: fn[b]}), fn[b], b))
        elif scenario == "server":
            out.append(served.server(lambda: sut.Inline(sut.prepared_calls({1: fn[1]}), 1), "server", 1))
            if opts.batcher:
                calls = sut.prepared_calls({b: fn[b] for b in batcher_sizes(opts.max_batch)})
                out.append(served.server(lambda: sut.Batcher(calls, opts.max_batch, opts.max_wait_s),
                                         "server+batcher", opts.max_batch))
        elif scenario == loadgen.ACCURACY:
            spec = ctx.spec(case.model)
            images = mnist.images(ctx.data.x_test, spec.input_shape)
            run = sut.predicting(cases.predictor(dataclasses.replace(case, batch_size=1), ctx), images)
            out.append(served.accuracy(run, ctx.data.y_test, extra.get("accuracy")))
    return out


def serve_noop(opts: Options, logdir: Path, model: str) -> list[records.Record]:
    """The same scenarios on a SUT that answers at once: LoadGen's, its binding's and the SUT's own cost."""
    identity = {"task": "serve", "framework": None, "runtime": "noop", "provider": "cpu", "model": model,
                "variant": "noop", "dtype": "float32"}
    served = Served(identity, opts, logdir, records.row_name(identity), {})
    out = []
    for scenario in opts.scenarios:
        if scenario == "single-stream":
            out.append(served.single_stream(sut.noop, None))
        elif scenario == "offline":
            out.append(served.offline(sut.noop, None, opts.offline_batch))
        elif scenario == "server":
            out.append(served.server(lambda: sut.Inline(sut.noop, 1), "server", 1))
            if opts.batcher:
                out.append(served.server(lambda: sut.Batcher(sut.noop, opts.max_batch, opts.max_wait_s),
                                         "server+batcher", opts.max_batch))
    return out
