"""Measurement without analysis: a record's FLOPs and bytes come from the spec's counted ONNX graph, and
annotating a train step trains nothing (weights do not change the count)."""

import pytest

CEILING = {"what": "test", "cuda": [],
           "cpu": {"device": "cpu", "matmul_gflops": 100.0, "bandwidth_gbs": 10.0}}


@pytest.fixture
def context(tmp_path, mnist, monkeypatch):
    from xbench.explain import roofline
    from xbench.suite import Context

    monkeypatch.setattr(roofline, "_CEILING", CEILING)  # no 4 s ceiling measurement in a unit test
    return Context(mnist, tmp_path)


def test_a_train_step_is_annotated_without_training(context, seed_spec, tmp_path):
    from xbench.bench.annotate import record_fields
    from xbench.explain.cost import count_file
    from xbench.export import export
    from xbench.suite import Case, fresh_model

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
    from xbench.suite import Case

    path = context.workdir / "seed_cnn.torch.onnx"
    context._exports[("torch", "seed_cnn", None)] = (path, {})  # as onnx_entry leaves it
    from xbench.export import export
    from xbench.suite import fresh_model

    export("torch", seed_spec, path, model=fresh_model("torch", seed_spec), data=context.data)
    fields = record_fields(Case("inference", "torch", "onnxruntime", "CPUExecutionProvider", "seed_cnn", 1, "default"),
                           context, 0.001)
    assert fields["cost"]["counted_from"] == path.name
    assert not (context.workdir / "untrained").exists()
