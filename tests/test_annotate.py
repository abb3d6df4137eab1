"""Measurement without analysis: a record's FLOPs and bytes come from the spec's counted ONNX graph, and
annotating a train step trains nothing (weights do not change the count)."""

import pytest

CEILING = {"what": "test", "cuda": [],
           "cpu": {"device": "cpu", "matmul_gflops": 100.0, "bandwidth_gbs": 10.0}}


@pytest.fixture
def context(tmp_path, mnist, monkeypatch):
    from xbench.explain import roofline
    from xbench.bench.cases import Context

    monkeypatch.setattr(roofline, "_CEILING", CEILING)  # no 4 s ceiling measurement in a unit test
    return Context(mnist, tmp_path)


def test_a_train_step_is_annotated_without_training(context, seed_spec, tmp_path):
    from xbench.bench.annotate import record_fields
    from xbench.explain.cost import count_file
    from xbench.export import export
    from xbench.bench.cases import Case, fresh_model

    case = Case("train_step", "torch", "torch", "cpu", "seed_cnn", 32, "eager")
    fields = record_fields(case, context, 0.01)
    assert "roofline_error" not in fields, fields
    assert context._weights == {}, "annotating a record trained weights"
    assert fields["cost"]["counted_from"] == "seed_cnn.torch.onnx"  # the name the run's export has
    other = tmp_path / "other.onnx"  # other weights, same graph: the same count
    export("torch", seed_spec, other, model=fresh_model("torch", seed_spec, seed=1), data=context.data)
    flops, bytes_min, _ = count_file(other, batch_size=32).task_cost("train_step")
    assert fields["cost"]["flops_per_batch"] == flops and fields["cost"]["bytes_min_per_batch"] == bytes_min
    assert fields["achieved_gflops"] == pytest.approx(flops / 0.01 / 1e9, rel=1e-3)


def test_the_runs_own_export_is_counted_when_it_has_one(context, seed_spec):
    """An inference run already exported the trained model: that file is counted, no second export."""
    from xbench.bench.annotate import record_fields
    from xbench.bench.cases import Case

    path = context.workdir / "seed_cnn.torch.onnx"
    context._exports[("torch", "seed_cnn", None)] = (path, {})  # as onnx_entry leaves it
    from xbench.export import export
    from xbench.bench.cases import fresh_model

    export("torch", seed_spec, path, model=fresh_model("torch", seed_spec), data=context.data)
    fields = record_fields(Case("inference", "torch", "onnxruntime", "CPUExecutionProvider", "seed_cnn", 1, "default"),
                           context, 0.001)
    assert fields["cost"]["counted_from"] == path.name
    assert not (context.workdir / "untrained").exists()


def test_pooling_a_run_with_itself_keeps_its_roofline_fields(request):
    """Pooling re-places the pooled median through the same function the writer used (``annotate.place``): a
    committed run pooled with a copy of itself has the same medians, so every roofline field stays as written."""
    import copy

    from xbench.records.runs import pool
    from xbench.schema import read_results

    doc = read_results(request.config.rootpath / "results/runs/main-run-20261129T1941Z.json")
    pooled = {r["id"]: r for r in pool([doc, copy.deepcopy(doc)])["records"]}
    fields = ("achieved_gflops", "fraction_of_peak", "arithmetic_intensity", "arithmetic_intensity_layers", "verdict")
    checked = 0
    for r in doc["records"]:
        if r["status"] == "ok" and "achieved_gflops" in r:
            checked += 1
            assert {f: pooled[r["id"]].get(f) for f in fields} == {f: r.get(f) for f in fields}, r["id"]
    assert checked > 10


def test_pooled_roofline_fields_follow_the_pooled_median(request):
    """With a slower second run the pooled median moves, and the achieved rate moves with it (not the first
    run's figure kept)."""
    import copy
    import statistics

    from xbench.verdicts.compare import blocks
    from xbench.records.runs import pool
    from xbench.schema import read_results

    doc = read_results(request.config.rootpath / "results/runs/main-run-20261129T1941Z.json")
    slow = copy.deepcopy(doc)
    for r in slow["records"]:
        r["samples_s"] = [s * 3 for s in r.get("samples_s") or []]
    for r in pool([doc, slow])["records"]:
        if r["status"] == "ok" and "achieved_gflops" in r:
            median = statistics.median(statistics.median(x) for x in blocks(r))
            assert r["achieved_gflops"] == pytest.approx(r["cost"]["flops_per_batch"] / median / 1e9, rel=1e-3), r["id"]


def test_the_ceiling_times_every_kernel_even_when_start_up_spent_the_budget():
    """On a busy machine, imports and session creation can spend the whole matmul budget before the first timed
    call; the ceiling still times every kernel once instead of failing (no record then had a verdict)."""
    from xbench.explain.roofline import _cpu_ceiling

    cpu = _cpu_ceiling(0.0)
    assert cpu["matmul"] and cpu["matmul_gflops"] > 0 and cpu["bandwidth_gbs"] > 0
