"""pytest plugin: the suite's parametrisation, the ``xbench_bench`` fixture and the results file.

Registered only when a session asks for xbench (:mod:`xbench.bench.options`, the entry point, holds the
options and decides). ``pytest --benchmark-only`` times every case with pytest-benchmark and writes one
xbench results file (``--xbench-json``, default ``results/<host>-<UTC time>.json``),
rewritten atomically after every benchmark so an interrupted run keeps what
it finished. A plain ``pytest`` runs each benchmark once as a smoke test
(pytest-benchmark's disabled mode), one case per framework x task x runtime
family unless ``--xbench-smoke all``, offline and with its weights in the
session's temp folder, and writes no results file.

Blocks (``--xbench-blocks``, default 5): every benchmark is measured in that
many blocks spread across the run (all cases once, then all cases again, ...),
each block with its own freshly built model or session, first call and warm-up,
and a share (1/N) of ``--benchmark-max-time``. On a shared or virtual machine
the speed drifts over seconds to minutes; rounds timed back to back share one
moment's state, blocks minutes apart sample several. The record keeps every
round in ``samples_s`` (block after block) and each block's rounds and median
in ``blocks``, which is what ``xbench compare`` uses as its unit of noise.
"""

from __future__ import annotations

import math
import socket
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

try:
    import resource  # Unix only: page-fault counts
except ImportError:  # pragma: no cover - Windows
    resource = None

from xbench.bench import threads
from xbench.bench.options import DEFAULT_BLOCKS, DEFAULT_PROVIDERS, SUITE_DIR  # noqa: F401 (re-exported)
from xbench.bench.timing import WARMUP_CALLS  # the first call is timed apart, then these, then the rounds
from xbench.errors import UserError
from xbench.records import Record, results_document, write_results

ML_MODULES = ("tensorflow", "keras", "torch", "onnxruntime", "openvino", "jax")
MAX_ROUNDS = 100_000  # per block: a sub-microsecond call still ends


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def selection(config):
    """The run's ``suite.Selection`` from the --xbench-* options (checked in ``_validate``)."""
    from xbench.bench import cases as suite
    from xbench.precision import DTYPES

    rts, dtypes = config.getoption("xbench_runtimes"), config.getoption("xbench_dtypes")
    models = _csv(config.getoption("xbench_where_models"))
    return suite.Selection(runtimes=tuple(_csv(rts)) if rts else None,
                           dtypes=tuple(_csv(dtypes)) if dtypes else DTYPES,
                           where_models=None if models == ["all"] else tuple(models),
                           where_batches=tuple(int(b) for b in _csv(config.getoption("xbench_where_batches"))))


def _check_names(option: str, given: str | None, valid: list[str]) -> None:
    for name in _csv(given or ""):
        if name not in valid:
            raise UserError(f"{option}: unknown name {name!r}; valid: {', '.join(valid)}")


def _validate(config) -> None:
    from xbench import frameworks, spec
    from xbench.runtimes.onnxruntime import check_single_distribution, provider_option

    n = config.getoption("xbench_threads")
    if n is not None and n <= 0:
        raise UserError(f"--xbench-threads must be a positive integer, got {n}")
    if config.getoption("xbench_blocks") <= 0:
        raise UserError(f"--xbench-blocks must be a positive integer, got {config.getoption('xbench_blocks')}")
    for name in _csv(config.getoption("xbench_frameworks")):
        frameworks.get(name)
    from xbench import usermodel

    for name in _csv(config.getoption("xbench_models")):
        if usermodel.is_file_model(name):  # a user's model file, and the data it runs on: checked now, exit 2
            if not usermodel.runs_in(name, _csv(config.getoption("xbench_frameworks"))):
                continue
            usermodel.load_data(config.getoption("xbench_data"),
                                usermodel.resolve(name, config.getoption("xbench_input_shape")))
        else:
            spec.load_spec(name)
    from xbench.bench import cases as suite
    from xbench.precision import DTYPES

    _check_names("--xbench-runtimes", config.getoption("xbench_runtimes"), suite.runtime_names())
    _check_names("--xbench-dtypes", config.getoption("xbench_dtypes"), list(DTYPES))
    where = _csv(config.getoption("xbench_where_models"))
    if where != ["all"]:
        for name in where:
            spec.load_spec(name)
    for b in _csv(config.getoption("xbench_where_batches")):
        if not b.isdigit() or int(b) <= 0:
            raise UserError(f"--xbench-where-batches: {b!r} is not a positive batch size; give e.g. 1,32,128")
    if config.getoption("xbench_serve") is not None:  # its `xbench serve` options, checked before any case runs
        from xbench.bench import serve_stage

        serve_stage.serve_args("seed_cnn", None, config.getoption("xbench_serve"))
    clash = check_single_distribution()
    if clash:
        raise UserError(clash)
    if config.getoption("xbench_providers"):
        provider_option([config.getoption("xbench_providers")], option="--xbench-providers")
    out = config.getoption("xbench_json")
    if out:
        from xbench.paths import check_output_path

        check_output_path(out, "--xbench-json")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # Before anything imports TensorFlow, PyTorch or ONNX Runtime.
    threads.configure(config.getoption("xbench_threads"))
    config.addinivalue_line("markers", "xbench: an xbench benchmark case")
    from xbench.runtimes import onnxruntime as ortx

    fws = _csv(config.getoption("xbench_frameworks"))
    ortx.TORCH_IN_PROCESS = "torch" in fws or "keras-torch" in fws  # else never load torch
    try:
        _validate(config)
    except UserError as exc:
        pytest.exit(f"xbench: error: {exc}", returncode=2)
    opt = config.option
    if not getattr(opt, "benchmark_only", False) and not getattr(opt, "benchmark_enable", False):
        opt.benchmark_disable = True  # plain `pytest`: each benchmark runs once, as a smoke test
    config._xbench = Recorder(config)
    if config.getoption("xbench_serve") is not None and config._xbench.enabled:
        from xbench.bench import serve_stage

        serve_stage.share_weights(config._xbench)  # the stage's rows reuse the weights this session trains
    from xbench.bench import backends

    # Keras frameworks on another backend than this process's run in a child pytest each (xbench.bench.backends)
    config._xbench.children = backends.Children(config, config._xbench, backends.delegated(fws))


def n_blocks(config) -> int:
    """Blocks per benchmark: 1 for a plain `pytest` smoke run."""
    return 1 if config.option.benchmark_disable else config.getoption("xbench_blocks")


def pytest_generate_tests(metafunc):
    """Parametrise the suite's modules (those with a ``TASK``) from xbench's registries and the options."""
    task = getattr(metafunc.module, "TASK", None)
    if task is None or "case" not in metafunc.fixturenames:
        return
    from xbench.bench import cases as suite
    from xbench.runtimes.onnxruntime import long_name

    cfg = metafunc.config
    from xbench import usermodel

    names, fws = _csv(cfg.getoption("xbench_models")), _csv(cfg.getoption("xbench_frameworks"))
    models = [m for m in names if not usermodel.is_file_model(m)]
    users = [usermodel.resolve(m, cfg.getoption("xbench_input_shape")) for m in names
             if usermodel.is_file_model(m) and usermodel.runs_in(m, fws)]
    providers = [long_name(p) for p in _csv(cfg.getoption("xbench_providers"))]
    devices = ["cpu"] + (["cuda"] if "CUDAExecutionProvider" in providers else [])
    sel = selection(cfg)
    if task == "train_step":
        cases = suite.train_cases(models, fws, devices, sel=sel)
    elif task == "train_epoch":
        cases = suite.epoch_cases(models, fws, devices)
    else:
        cases = suite.inference_cases(models, fws, providers, sel=sel)
    cases += [c for u in users for c in suite.user_cases(task, u, providers, sel=sel)]
    if cfg.getoption("xbench_backend_rows") == "default":
        cases = [c for c in cases if not _opt_in_row(c)]
    if cfg.option.benchmark_disable and cfg.getoption("xbench_smoke") == "one":
        cases = smoke_cases(cases)
    metafunc.parametrize("case", cases, ids=[c.test_id for c in cases])
    n = n_blocks(cfg)
    if n > 1:  # blocks spread across the run; the plugin orders them block by block
        metafunc.parametrize("xbench_block", range(n), indirect=True, ids=[f"r{i}" for i in range(n)])


def _opt_in_row(case) -> bool:
    """A native row beyond the default of a framework whose other rows are opt-in (``ROWS_OPT_IN``: Keras's JAX
    and PyTorch backends, to keep a default run within its time): a tuned variant, a lower precision or an epoch of
    ``model.fit``; --xbench-backend-rows all runs them. Their ONNX runtime rows always run."""
    from xbench import frameworks
    from xbench.precision import FLOAT32

    if case.framework is None or case.runtime != case.framework:
        return False
    fw = frameworks.get(case.framework)
    if not getattr(fw, "ROWS_OPT_IN", False):
        return False
    return case.task == "train_epoch" or case.dtype != FLOAT32 or case.variant != next(iter(fw.variants))


def smoke_cases(cases: list) -> list:
    """One case per framework x task x runtime family (runtime and device): a plain `pytest` proves each family
    runs; `--benchmark-only` (and .ci/run's benchmark stage) runs every case, every precision included. Within a
    family the cheapest case: fp32 where the family has it, the first model and variant, the smallest batch (an
    epoch: the largest, fewest steps)."""
    from xbench.precision import FLOAT32

    def family(c):
        return c.framework, c.task, c.runtime, c.device

    def cost(c):
        return c.dtype != FLOAT32, -c.batch_size if c.task == "train_epoch" else c.batch_size

    chosen: dict = {}
    for c in cases:
        if family(c) not in chosen or cost(c) < cost(chosen[family(c)]):
            chosen[family(c)] = c
    return [c for c in cases if chosen[family(c)] is c]


def _in_suite(item) -> bool:
    path = Path(str(item.path)).resolve()
    return SUITE_DIR in path.parents


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Block 0 of every case, then block 1 of every case, ...: each benchmark's blocks lie minutes apart.

    Before any deselection (-k, -m): a session that activated xbench with an option but collected none of
    its suite ends here, with one line."""
    if getattr(config, "_xbench_activated_by", None) == "option" and not any(_in_suite(i) for i in items):
        pytest.exit("xbench: the xbench suite was not collected: run `xbench bench` or "
                    "`pytest --pyargs xbench.bench.suite` (an --xbench-* option was given)", returncode=2)
    items.sort(key=lambda item: getattr(getattr(item, "callspec", None), "params", {}).get("xbench_block", 0))
    children = getattr(getattr(config, "_xbench", None), "children", None)
    if children is not None and children.backends:  # their processes start after every case of this one
        def handed_over(item):
            case = getattr(getattr(item, "callspec", None), "params", {}).get("case")
            return getattr(case, "framework", None) in children.backends

        items.sort(key=handed_over)


def pytest_collection_finish(session):
    rec = getattr(session.config, "_xbench", None)
    if rec is not None and rec.enabled and not session.config.option.collectonly and \
            any("xbench_bench" in getattr(item, "fixturenames", ()) for item in session.items):
        rec.measure_ceiling()


@dataclass(frozen=True)
class Plan:
    """Rounds x iterations for every block of one benchmark, fixed by its first block."""
    rounds: int
    iterations: int


class Recorder:
    """Collects records, fixes each benchmark's rounds per block, and keeps the results file up to date."""

    def __init__(self, config):
        self.config = config
        self.enabled = not config.option.benchmark_disable
        self.records: list[Record] = []
        self.created_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.t0 = time.time()
        out = config.getoption("xbench_json")
        if out:
            self.path = Path(out)
        else:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            self.path = Path(config.rootpath) / "results" / f"{socket.gethostname()}-{stamp}.json"
        self._env = None
        self._blocks: dict[str, list[dict]] = {}  # record id -> its measured blocks so far
        self._failed: set[str] = set()
        self._plans: dict[str, Plan] = {}
        self.ceiling: dict | None = None
        self._processes: list[dict] = []  # other processes' results merged in (xbench.bench.backends)
        self._serve: dict[str, dict] = {}  # model -> env.serve of the serve stage (xbench.bench.serve_stage)
        self.serve_lines: list[str] = []
        self.serve_weights: str | None = None  # the serve stage's temporary weights folder (serve_stage.share_weights)
        self.children = None

    def measure_ceiling(self) -> None:
        """The machine's ceiling, once, before the first benchmark and outside this process (``xbench run``
        measures it once for all its processes and passes it in ``XBENCH_CEILING_FILE``)."""
        import json
        import os

        from xbench.explain import roofline

        path = os.environ.get("XBENCH_CEILING_FILE")
        try:
            self.ceiling = json.loads(Path(path).read_text()) if path else None
        except (OSError, ValueError):
            self.ceiling = None
        if self.ceiling is None:
            self.ceiling = roofline.measure_in_subprocess()
        roofline.use(self.ceiling)

    def plan(self, key: str, call_s: float) -> Plan:
        """Every block of a benchmark gets the same rounds, so each block weighs the same in its statistics.

        Fixed on the first block from its warm-up calls (``call_s``): iterations per round so a round lasts at
        least --benchmark-min-time, rounds so the block lasts about --benchmark-max-time / blocks (at least
        --benchmark-min-rounds). A later block in a slower machine state takes longer, not fewer rounds.
        """
        if key not in self._plans:
            opt = self.config.getoption
            budget = float(opt("benchmark_max_time")) / n_blocks(self.config)
            call_s = max(call_s, 1e-9)
            iterations = max(1, math.ceil(float(opt("benchmark_min_time")) / call_s))
            rounds = max(int(opt("benchmark_min_rounds")), math.ceil(budget / (call_s * iterations)))
            self._plans[key] = Plan(min(rounds, MAX_ROUNDS), iterations)
        return self._plans[key]

    def add(self, record: Record) -> None:
        """Add a record, or replace the one with the same identity (a later block of the same benchmark)."""
        if not self.enabled:
            return
        if record.status == "error":
            self._failed.add(record.id)  # a failed block fails the benchmark, whatever the other blocks did
        self.records = [r for r in self.records if r.id != record.id] + [record]
        self.write(record)

    def add_block(self, identity: dict, block: dict, extra: dict, annotate) -> None:
        """One block's rounds; the record is rebuilt from all blocks of its benchmark so far.

        ``block``: samples (s), iterations, first_call_s, memory; ``annotate(median)``: roofline fields.
        """
        key = Record(**identity).id
        if key in self._failed:
            return
        blocks = self._blocks.setdefault(key, [])
        blocks.append(block)
        record = Record.measured([b["samples"] for b in blocks], blocks[0]["iterations"], **identity)
        record.first_call_s = blocks[0]["first_call_s"]  # the cold start; later blocks' first calls are in blocks
        record.extra = {**record.extra, **extra, **block_fields(blocks)}
        record.extra.update(annotate(record.stats.median))
        self.add(record)

    def merge_process(self, doc: dict, framework: str, backend: str) -> None:
        """Another process's results (``framework`` on Keras's ``backend``, ``xbench.bench.backends``) join this
        session's file; validated when read."""
        merged = [Record.from_dict(r) for r in doc["records"]]
        ids = {r.id for r in merged}
        self.records = [r for r in self.records if r.id not in ids] + merged
        self._processes.append({**doc, "keras_backend": backend})
        self.write(None)

    def merge_serve(self, doc: dict, model: str) -> None:
        """The serve stage's records of ``model`` (``xbench.bench.serve_stage``) join this session's file; its
        ``env.serve`` (LoadGen's version, settings, logs folder, load average) is kept per model."""
        self.records += [Record.from_dict(r) for r in doc["records"]]
        self._serve[model] = doc["env"]["serve"]
        self.write(None)

    def write(self, new: Record | None) -> None:
        """Rewrite the whole file atomically; only ``new`` is validated (the others were when they came in),
        which keeps a run of hundreds of blocks from re-checking hundreds of thousands of samples each time."""
        from xbench import machine
        from xbench.schema import validate

        if self._env is None:
            self._env = machine.collect({"data": getattr(self, "data_label", None), "ceiling": self.ceiling})
        context = getattr(self, "context", None)
        if context is not None and context.weights_info():
            self._env["weights"] = context.weights_info()
        # What this process has loaded so far: a benchmark process loads only the frameworks it benchmarks.
        self._env["imported"] = sorted(m for m in ML_MODULES if m in sys.modules)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if new is not None:
            validate(results_document(self._env, [new], self.created_at), source=str(self.path))
        for doc in self._processes:  # a Keras backend's child process: its weights and its own env
            for fw, models in (doc["env"].get("weights") or {}).items():
                self._env.setdefault("weights", {})[fw] = models
        if self._processes:
            own = sorted({r.framework for r in self.records if r.framework} -
                         {r["framework"] for d in self._processes for r in d["records"]})
            self._env["processes"] = [{"frameworks": own, "created_at": self.created_at,
                                       "threads": self._env.get("threads"), "imported": self._env["imported"]}] + [
                {"frameworks": sorted({r["framework"] for r in d["records"] if r["framework"]}),
                 "created_at": d["created_at"], "threads": d["env"].get("threads"), "imported": d["env"].get("imported"),
                 "keras_backend": d["keras_backend"]} for d in self._processes]
        if self._serve:
            self._env["serve"] = {"stage": "pytest --xbench-serve (xbench.bench.serve_stage)", "models": self._serve}
        write_results(self.path, results_document(self._env, self.records, self.created_at), check=False)


@pytest.fixture(scope="session")
def xbench_smoke_isolation(request, tmp_path_factory):
    """A plain `pytest` smoke run is a test: offline, its weights and caches in the session's temp folder (the
    folder tests/conftest.py gives tests/), never the user's cache. A timed run uses the user's settings."""
    if request.config._xbench.enabled:
        yield
        return
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XBENCH_OFFLINE", "1")
        mp.setenv("XBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "xbench-cache"))
        mp.delenv("XBENCH_MNIST", raising=False)
        yield


@pytest.fixture(scope="session")
def xbench_context(request, tmp_path_factory, xbench_smoke_isolation):
    from xbench.data import load_mnist
    from xbench.bench.cases import Context

    from xbench.usermodel import is_file_model

    # With a user's model file, --xbench-data is that model's data; spec models then read MNIST as found.
    given = request.config.getoption("xbench_data")
    user = any(is_file_model(m) for m in _csv(request.config.getoption("xbench_models")))
    data = load_mnist(None if user else given, allow_download=False)
    label = f"{data.label} ({data.file_name})"  # no absolute path
    if user:
        label = (f"model files: {Path(given).name if given else 'random inputs (no --xbench-data)'}"
                 + (f"; specs: {label}" if any(not is_file_model(m) for m in _csv(request.config.getoption("xbench_models"))) else ""))
    request.config._xbench.data_label = label
    request.config._xbench.context = context = Context(data, tmp_path_factory.mktemp("onnx"),
                                                       user_data=given if user else None)
    return context


class Bench:
    def __init__(self, benchmark, recorder: Recorder, context, node, block: int = 0):
        self.benchmark = benchmark
        self.recorder = recorder
        self.context = context
        self.node = node
        self.block = block

    def run(self, case) -> None:
        from xbench.bench.cases import Skip, prepare

        identity = case.identity()
        self.node._xbench_identity = identity
        children = self.recorder.children
        if children is not None and case.framework in children.backends:  # Keras on another backend
            self._handed_over(children, case, identity)
            return
        self.benchmark.group = f"{case.task} {case.model} batch {case.batch_size}"
        self.benchmark.extra_info.update(identity)
        try:
            prepared = prepare(case, self.context)
        except Skip as exc:
            if self.block == 0:  # the same reason in every block: recorded once
                self.recorder.add(Record(status="skipped", reason=str(exc), **identity))
            self.node._xbench_recorded = True
            pytest.skip(str(exc))
        fn = prepared.fn
        t0 = time.perf_counter()
        result = fn()  # first call: tracing, graph building, compilation, allocator warm-up
        first_call = time.perf_counter() - t0
        prepared.check(result)
        if self.benchmark.disabled:
            self.benchmark.pedantic(fn)  # plain `pytest`: one more call, nothing recorded
            return
        warm = []
        for _ in range(WARMUP_CALLS):
            t0 = time.perf_counter()
            fn()
            warm.append(time.perf_counter() - t0)
        plan = self.recorder.plan(Record(**identity).id, statistics.median(warm))
        peak = _PeakRss(case)
        faults0 = _minor_faults()
        started_at = time.time() - self.recorder.t0
        self.benchmark.pedantic(fn, rounds=plan.rounds, iterations=plan.iterations)
        faults = _minor_faults() - faults0
        samples = list(self.benchmark.stats.stats.data)
        iterations = self.benchmark.stats.iterations
        memory = peak.read(case)
        # Fresh pages per call: allocators returning big buffers to the OS and mapping them again
        # (glibc's adaptive mmap threshold) show up here and explain bimodal timings.
        calls = len(samples) * iterations + 1  # pytest-benchmark's calibration call included
        if resource is not None:
            memory["minor_page_faults_per_call"] = round(faults / calls, 1)
        self.benchmark.extra_info["first_call_s"] = first_call
        from xbench.bench.annotate import record_fields

        block = {"samples": samples, "iterations": iterations, "first_call_s": first_call, "memory": memory,
                 "started_at": round(started_at, 1)}
        if prepared.load_s is not None:  # file on disk -> first result: session creation or compile + first call
            block["load_s"] = prepared.load_s + first_call
        extra = {**prepared.extra, "warmup_calls": WARMUP_CALLS}
        if prepared.runtime_latency is not None:  # the runtime's own time, paired with the call's, after the rounds
            block["runtime_latency"] = prepared.runtime_latency()
        self.recorder.add_block(identity, block, extra,
                                lambda median: record_fields(case, self.context, median))
        self.node._xbench_recorded = True


    def _handed_over(self, children, case, identity) -> None:
        """A case of a Keras framework on another backend: its child process measures it (``xbench.bench.backends``);
        a plain `pytest` starts no such process."""
        from xbench.bench import backends

        self.node._xbench_recorded = True  # the child's record (or the failure below) speaks for it
        if not self.recorder.enabled:
            pytest.skip(f"{case.framework} runs in its own process (KERAS_BACKEND={children.backends[case.framework]}), "
                        "started only by a timed run (--benchmark-only); tests/test_keras_backends.py -m e2e proves it")
        backends.outcome(children, case, identity, self.node)


def block_fields(blocks: list[dict]) -> dict:
    """A record's fields that come from its blocks so far: memory (peaks over blocks, page faults per call
    weighted by rounds), one summary per block, and medians over blocks of ``load_s`` and of the runtime's own
    latency (each block's calls paired after its rounds), where every block has them."""
    memory = dict(blocks[-1]["memory"])
    for k in ("peak_rss_mb", "peak_device_mb"):
        if any(k in b["memory"] for b in blocks):
            memory[k] = max(b["memory"].get(k, 0) for b in blocks)
    if all("minor_page_faults_per_call" in b["memory"] for b in blocks):
        n = sum(len(b["samples"]) for b in blocks)
        memory["minor_page_faults_per_call"] = round(
            sum(b["memory"]["minor_page_faults_per_call"] * len(b["samples"]) for b in blocks) / n, 1)
    out = {"memory": memory,
           "blocks": [{"rounds": len(b["samples"]), "iterations": b["iterations"],
                       "median_s": statistics.median(b["samples"]), "first_call_s": b["first_call_s"],
                       "started_at": b["started_at"], **({"load_s": b["load_s"]} if "load_s" in b else {}),
                       **({"runtime_latency_s": b["runtime_latency"]["median_s"]} if "runtime_latency" in b else {})}
                      for b in blocks]}
    if all("load_s" in b for b in blocks):
        out["load_s"] = statistics.median(b["load_s"] for b in blocks)
    if all("runtime_latency" in b for b in blocks):
        lat = [b["runtime_latency"] for b in blocks]
        out["runtime_latency"] = {"median_s": statistics.median(x["median_s"] for x in lat),
                                  "call_median_s": statistics.median(x["call_median_s"] for x in lat),
                                  "calls": sum(x["calls"] for x in lat), "blocks": len(lat)}
    return out


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt if resource is not None else 0


class _PeakRss:
    """Peak resident memory during the timed rounds (Linux resets VmHWM via clear_refs), and device memory.

    PyTorch's allocator counts every live tensor of the process, so the record also keeps what was
    allocated when the rounds began (``device_baseline_mb``): the rounds' own share is the difference.
    ONNX Runtime's CUDA arena has no counter of its own: its rows record the device-wide use
    (cudaMemGetInfo through torch) before and after the rounds.
    """

    def __init__(self, case):
        self.reset = False
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.reset = True
        except OSError:
            pass
        self.device = {}
        if case.device == "cuda" and case.runtime == "torch":
            import gc

            import torch

            gc.collect()  # earlier cases' tensors held only by reference cycles
            torch.cuda.reset_peak_memory_stats()
            self.device["device_baseline_mb"] = round(torch.cuda.memory_allocated() / 2**20, 1)
        elif case.device == "cuda" and case.runtime == "keras":
            import tensorflow as tf

            tf.config.experimental.reset_memory_stats("GPU:0")
        elif case.device == "cuda" and case.runtime == "onnxruntime":
            self.device["device_used_before_mb"] = _device_used_mb()

    def read(self, case) -> dict:
        import psutil

        out = {"rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1)}
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    out["peak_rss_mb"] = round(int(line.split()[1]) / 1024, 1)
                    out["peak_scope"] = "timed rounds" if self.reset else "process lifetime"
        except OSError:
            pass
        out.update(self.device)
        if case.device == "cuda" and case.runtime == "torch":
            import torch

            out["peak_device_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
            out["device_scope"] = "torch allocator, whole process (device_baseline_mb: live when the rounds began)"
        elif case.device == "cuda" and case.runtime == "keras":
            import tensorflow as tf

            out["peak_device_mb"] = round(tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20, 1)
        elif case.device == "cuda" and case.runtime == "onnxruntime":
            out["device_used_after_mb"] = _device_used_mb()
            out["device_scope"] = "whole GPU (cudaMemGetInfo): every process and allocator, ORT's arena included"
        return out


def _device_used_mb() -> float | None:
    """Memory in use on GPU 0, all processes together; None without a CUDA-capable torch."""
    try:
        import torch

        free, total = torch.cuda.mem_get_info(0)
    except Exception:  # no torch, or no CUDA: the record says nothing rather than something wrong
        return None
    return round((total - free) / 2**20, 1)


@pytest.fixture
def xbench_block(request):
    """Which block of its benchmark this test is (parametrised by ``pytest_generate_tests``)."""
    return getattr(request, "param", 0)


@pytest.fixture
def xbench_bench(benchmark, request, xbench_context, xbench_block):
    return Bench(benchmark, request.config._xbench, xbench_context, request.node, xbench_block)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    identity = getattr(item, "_xbench_identity", None)
    if identity and report.failed and not getattr(item, "_xbench_recorded", False):
        message = str(call.excinfo.value).strip().splitlines() if call.excinfo else ["failed"]
        reason = f"{call.excinfo.typename}: {message[0] if message else ''}" if call.excinfo else "failed"
        item.config._xbench.add(Record(status="error", reason=reason[:500], **identity))
        item._xbench_recorded = True


def pytest_sessionfinish(session, exitstatus):
    """--xbench-serve: the serve stage after every case of a timed run that was not interrupted."""
    rec = getattr(session.config, "_xbench", None)
    if rec is None or not rec.enabled or session.config.getoption("xbench_serve") is None:
        return
    from xbench import usermodel
    from xbench.bench import serve_stage

    cfg = session.config
    where = _csv(cfg.getoption("xbench_where_models"))
    models = [m for m in _csv(cfg.getoption("xbench_models"))
              if not usermodel.is_file_model(m) and (where == ["all"] or m in where)]
    try:
        if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            rec.serve_lines = serve_stage.run(rec, models, cfg.getoption("xbench_data"), cfg.getoption("xbench_serve"),
                                              say=lambda line: print(line, flush=True))
    finally:
        serve_stage.unshare_weights(rec)


def pytest_terminal_summary(terminalreporter, config):
    rec = getattr(config, "_xbench", None)
    if rec is None or not rec.enabled or not rec.records:
        return
    counts = {s: sum(r.status == s for r in rec.records) for s in ("ok", "skipped", "error")}
    if rec.children is not None and rec.children.records:
        from xbench.bench import backends

        table = backends.summary_table(rec.children)
        if table:
            terminalreporter.write_sep("-", "Keras backends run in their own processes")
            for line in table:
                terminalreporter.write_line(line)
    terminalreporter.write_sep("-", "xbench")
    for line in [*(rec.children.ended.values() if rec.children is not None else ()), *rec.serve_lines]:
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"xbench results: {rec.path} ({counts['ok']} ok, {counts['skipped']} skipped, "
                                f"{counts['error']} error); render with: xbench report {rec.path}")
