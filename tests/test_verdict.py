"""Fixed vs per-sample cost and the verdict rules: by hand, and on hand-built ONNX models whose answer is known.

The measured tests run real ONNX Runtime sessions on graphs built here (a chain of many tiny ops, a large
MatMul, a large element-wise op, ...) through ``explain_onnx`` exactly as ``xbench explain PATH.onnx`` does,
and check both the verdict and that it follows from the printed numbers by the stated rules.
"""

import numpy as np
import pytest

from xbench.explain import fit as fitmod
from xbench.explain import roofline
from xbench.explain import verdict as verdictmod

PEAK = {"matmul_gflops": 100.0, "bandwidth_gbs": 10.0}


# ---- the fit ------------------------------------------------------------------------------------------------------

def test_fit_recovers_a_line_and_the_fixed_fraction():
    pts = {b: 0.08e-3 + 0.067e-3 * b for b in (16, 32, 64, 128)}  # the PyTorch estimate
    f = fitmod.fit(pts, 128)
    assert f["available"] and f["r2"] == pytest.approx(1.0)
    assert f["fixed_s"] == pytest.approx(0.08e-3) and f["per_sample_s"] == pytest.approx(0.067e-3)
    assert f["fixed_fraction"] == pytest.approx(0.08 / (0.08 + 0.067 * 128), abs=1e-4)


def test_fit_needs_three_batch_sizes_and_says_why():
    f = fitmod.fit({32: 2.24e-3, 128: 8.74e-3}, 128)
    assert not f["available"] and "2 batch size(s) (32, 128)" in f["reason"] and "at least 3" in f["reason"]
    assert "fixed_s" not in f and "fixed_fraction" not in f
    assert "fit unavailable" in fitmod.describe(f)
    bad = fitmod.fit({1: 1e-3, 2: 0.0, 4: 2e-3}, 1)
    assert not bad["available"] and "batch size(s) 2" in bad["reason"]


def test_negative_intercept_is_no_fixed_cost():
    f = fitmod.fit({8: 0.7e-3, 16: 1.6e-3, 32: 3.4e-3}, 32)
    assert f["fixed_s"] < 0 and f["fixed_fraction"] < 0 and not f["fixed_share_resolved"] and "negative" in f["notes"][0]


# ---- the rules, on numbers ---------------------------------------------------------------------------------------

def judge(t_by_batch: dict, batch: int, flops: float, bytes_layers: float, **kw):
    return verdictmod.judge(median_s=t_by_batch[batch], batch=batch, flops=flops, bytes_layers=bytes_layers,
                            peak=PEAK, fit=fitmod.fit(t_by_batch, batch), **kw)


def test_rules_each_category_on_numbers():
    # 1 ms whatever the batch: fixed
    j = judge({1: 1e-3, 2: 1e-3, 4: 1e-3}, 4, flops=4e3, bytes_layers=4e3)
    assert j["verdict"] == "fixed-cost-bound" and "fixed_fraction 1.00 (point estimate" in j["rule"]
    # 1 GFLOP per sample (10 ms at 100 GFLOP/s), measured 12 ms per sample: compute
    t = {b: 1e-4 + 12e-3 * b for b in (1, 2, 4)}
    j = judge(t, 4, flops=4e9, bytes_layers=4e3)
    assert j["verdict"] == "compute-bound" and j["numbers"]["over_floor"] == pytest.approx(1.2)
    # 100 MB per sample (10 ms at 10 GB/s), measured 30 ms per sample: memory
    t = {b: 1e-4 + 30e-3 * b for b in (1, 2, 4)}
    j = judge(t, 4, flops=4e3, bytes_layers=4e8)
    assert j["verdict"] == "memory-bound" and "within 4x of the larger (memory)" in j["rule"]
    # the same bytes at 50 ms per sample: 5x its floor
    t = {b: 1e-4 + 50e-3 * b for b in (1, 2, 4)}
    layers = [{"name": "slow op", "time_s": 0.19, "flops": 0, "bytes": 1e6},
              {"name": "fine op", "time_s": 0.01, "flops": 0, "bytes": 1e8}]
    j = judge(t, 4, flops=4e3, bytes_layers=4e8, layers=layers)
    assert j["verdict"] == "below-roofline" and "5.0x the larger, beyond 4x" in j["rule"]
    assert j["responsible"][0]["name"] == "slow op" and "slow op" in j["rule"]


def test_not_what_the_naive_rule_says_on_numbers():
    """The old rule judged the whole time against the compulsory traffic (inputs, weights, outputs once) and
    called anything beyond 4x of it overhead-bound. Eight element-wise layers in a row move eight times that
    traffic: 2 MiB per sample through each layer at 10 GB/s is about 1.7 ms per sample, measured 2 ms."""
    per_sample_layers = 8 * 2 * 2**20 * 1.04  # bytes every layer reads and writes, per sample
    compulsory = per_sample_layers / 8        # input and output once
    t = {b: 2e-5 + 2e-3 * b for b in (8, 16, 32)}
    j = judge(t, 32, flops=32 * 1e3, bytes_layers=32 * per_sample_layers)
    naive_floor = 32 * compulsory / (PEAK["bandwidth_gbs"] * 1e9)
    assert t[32] > 4 * naive_floor  # the old rule: "overhead-bound"
    assert j["verdict"] == "memory-bound", j["rule"]  # the fixed cost is 0.03 %; the layers' traffic explains it
    # and a matrix-vector product at batch 1: the old rule saw the weights' read as memory-bound; the batch
    # scaling shows it is paid once per call
    t = {b: 1e-3 + 1e-6 * b for b in (1, 2, 4)}
    j = judge(t, 1, flops=2e6, bytes_layers=4 * 2**20)
    assert j["verdict"] == "fixed-cost-bound", j["rule"]


def test_the_fixed_cost_verdict_reads_the_interval_over_blocks_not_the_point():
    """Issue 21: a fixed share of 0.55 whose blocks scatter from about 0.3 to 0.75 is not fixed-cost-bound; the same
    share with tight blocks is."""
    def fitted(spread):
        pts = {b: 1e-3 + 1e-3 * b / 4 * 0.82 for b in (1, 2, 4)}  # a = 1 ms; at batch 4 the share is 0.55
        blocks = {b: [t * (1 + d) for d in (-spread, -spread / 2, 0.0, spread / 2, spread)] for b, t in pts.items()}
        blocks[1] = [pts[1] * (1 - d) for d in (-spread, -spread / 2, 0.0, spread / 2, spread)]  # unrelated noise
        return pts, verdictmod.judge(median_s=pts[4], batch=4, flops=4e3, bytes_layers=4e3, peak=PEAK,
                                     fit=fitmod.fit(pts, 4, blocks=blocks))
    pts, tight = fitted(0.001)
    assert tight["verdict"] == "fixed-cost-bound" and "over its whole interval" in tight["rule"], tight["rule"]
    pts, loose = fitted(0.5)
    low, high = loose["numbers"]["fixed_fraction_ci95"]
    assert low < 0.5 <= high and loose["numbers"]["fixed_fraction"] >= 0.5
    assert loose["verdict"] == "unresolved" and "straddles 0.5" in loose["rule"], loose["rule"]


def test_rules_boundaries():
    # fixed fraction exactly 0.5 is fixed-cost-bound; just below is not
    t = {1: 1.5e-3, 2: 2e-3, 4: 3e-3}  # a = 1 ms, b = 0.5 ms: at batch 2 the fixed share is 0.5
    assert judge(t, 2, flops=1e3, bytes_layers=1e3)["verdict"] == "fixed-cost-bound"
    assert judge(t, 4, flops=1e3, bytes_layers=1e3)["verdict"] != "fixed-cost-bound"
    # per-sample just under 4x the floor (10 ms) is still bound; just above it is not
    t = {b: 39.9e-3 * b for b in (1, 2, 4)}
    assert judge(t, 4, flops=4e9, bytes_layers=1e3)["verdict"] == "compute-bound"
    t = {b: 40.4e-3 * b for b in (1, 2, 4)}
    assert judge(t, 4, flops=4e9, bytes_layers=1e3)["verdict"] == "below-roofline"


def test_no_fit_judges_the_whole_time_and_never_guesses():
    f = fitmod.fit({128: 8.74e-3}, 128)
    j = verdictmod.judge(median_s=8.74e-3, batch=128, flops=141e6, bytes_layers=5e6, peak=PEAK, fit=f)
    assert j["verdict"] == "unresolved" and "cannot be told" in j["rule"] and "no fit" in j["rule"]
    j = verdictmod.judge(median_s=2e-3, batch=128, flops=141e6, bytes_layers=1e6, peak=PEAK, fit=f)
    assert j["verdict"] == "compute-bound"


def test_unknown_ops_still_get_a_verdict_marked_incomplete():
    j = judge({1: 1e-3, 2: 1e-3, 4: 1e-3}, 4, flops=0, bytes_layers=0, complete=False, unknown_ops=["Einsum"])
    assert j["verdict"] == "fixed-cost-bound" and "Einsum" in j["incomplete"]


def test_fraction_of_peak_never_exceeds_one_and_the_raise_is_said():
    out = roofline.annotate(2e9, 1e6, 0.01, PEAK, bytes_layers=2e6, batch=1)  # 200 GFLOP/s on a 100 ceiling
    assert out["fraction_of_peak"] == 1.0 and out["ceiling_raised"]["to_gflops"] == 200.0
    assert out["roofline"]["peak_gflops"] == 200.0
    peak, note = roofline.raise_peak(PEAK, [50.0, 80.0])
    assert peak is PEAK and note is None


# ---- measured, on hand-built models --------------------------------------------------------------------------------

def _save(tmp_path, name, nodes, x_shape, y_shape, inits=(), out="y"):
    from onnx import TensorProto, helper, numpy_helper, save

    f = TensorProto.FLOAT
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", f, x_shape)],
                              [helper.make_tensor_value_info(out, f, y_shape)],
                              initializer=[numpy_helper.from_array(a, n) for n, a in inits])
    path = tmp_path / f"{name}.onnx"
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return path


def tiny_chain(tmp_path, n=200):
    from onnx import helper

    nodes = [helper.make_node("Tanh", ["x" if i == 0 else f"t{i}"], [f"t{i + 1}" if i < n - 1 else "y"])
             for i in range(n)]
    return _save(tmp_path, "tiny_chain", nodes, ["N", 8], ["N", 8])


def matmul(tmp_path, k=1024):
    from onnx import helper

    w = np.random.default_rng(0).random((k, k), dtype=np.float32)
    return _save(tmp_path, "matmul", [helper.make_node("MatMul", ["x", "w"], ["y"])], ["N", k], ["N", k],
                 [("w", w)])


def relu_chain(tmp_path, n=1, width=262_144):
    from onnx import helper

    nodes = [helper.make_node("Relu", ["x" if i == 0 else f"r{i}"], [f"r{i + 1}" if i < n - 1 else "y"])
             for i in range(n)]
    return _save(tmp_path, f"relu{n}", nodes, ["N", width], ["N", width])


def topk_sort(tmp_path, width=16_384):
    """TopK with k = the whole row: a full sort of every row, far more work per byte than any copy."""
    from onnx import TensorProto, helper, numpy_helper, save

    f = TensorProto.FLOAT
    graph = helper.make_graph(
        [helper.make_node("TopK", ["x", "k"], ["y", "idx"], axis=-1, name="sort")], "topk",
        [helper.make_tensor_value_info("x", f, ["N", width])],
        [helper.make_tensor_value_info("y", f, ["N", width]),
         helper.make_tensor_value_info("idx", TensorProto.INT64, ["N", width])],
        initializer=[numpy_helper.from_array(np.array([width], np.int64), "k")])
    path = tmp_path / "topk.onnx"
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return path


def explain(path, batch, budget=0.5):
    from xbench.explain import explain_onnx

    report = explain_onnx(path, batch, budget_s=budget, blocks=2)
    (m,) = report["measurements"]
    check_rules(m)
    return report, m


def check_rules(m: dict) -> None:
    """The verdict must follow from the numbers it prints, by the documented rules (re-derived here)."""
    f = m["fit"]
    assert m["fraction_of_peak"] is None or m["fraction_of_peak"] <= 1.0
    if not f["available"]:
        assert m["verdict"] in ("compute-bound", "memory-bound", "unresolved")
        return
    assert m["fixed_s"] == f["fixed_s"] and m["per_sample_s"] == f["per_sample_s"]
    assert m["fixed_fraction"] == pytest.approx(f["fixed_s"] / m["median_s"], abs=1e-3)  # raw, never clamped
    low, high = f.get("fixed_fraction_ci95") or (m["fixed_fraction"],) * 2
    if low >= 0.5:
        assert m["verdict"] == "fixed-cost-bound", m["verdict_rule"]
        return
    if high >= 0.5:  # the interval straddles half: not resolved either way
        assert m["verdict"] == "unresolved" and "straddles" in m["verdict_rule"], m["verdict_rule"]
        return
    rl = m["roofline"]
    b = m["batch_size"]
    compute = m["flops_per_batch"] / b / (rl["peak_gflops"] * 1e9)
    memory = m["bytes_layers_per_batch"] / b / (rl["bandwidth_gbs"] * 1e9)
    ps = f["per_sample_s"] if f["per_sample_s"] > 0 else m["median_s"] / b
    if ps <= 4 * max(compute, memory):
        assert m["verdict"] == ("compute-bound" if compute >= memory else "memory-bound"), m["verdict_rule"]
    else:
        assert m["verdict"] == "below-roofline", m["verdict_rule"]


def naive(m: dict) -> str:
    """The old rule: the whole time against the compulsory traffic, anything beyond 4x 'overhead-bound'."""
    rl = m["roofline"]
    if m["median_s"] > 4 * rl["ideal_s"]:
        return "overhead-bound"
    return "compute-bound" if rl["compute_s"] >= rl["memory_s"] else "memory-bound"


@pytest.fixture
def session_ceiling(ceiling_env):
    """The ceiling measured once per test session (tests/conftest.py, in a subprocess as ``explain_onnx`` measures
    it), not ~5 s again here; it is this machine's, so the verdicts judge against the same peak."""
    import json
    from pathlib import Path

    if roofline._CEILING is None and ceiling_env:
        roofline.use(json.loads(Path(ceiling_env["XBENCH_CEILING_FILE"]).read_text()))


@pytest.mark.slow
def test_measured_categories_on_hand_built_models(tmp_path, session_ceiling):
    failures = []

    def expect(name, path, batch, want, budget=0.5, naive_says=None):
        report, m = explain(path, batch, budget)
        got = (m["verdict"], naive(m)) if naive_says else m["verdict"]
        # The new verdict must hold; what the old rule says depends on how fast this machine ran the model
        # against its 4x-of-compulsory-traffic line (seen to flip on an idle machine), so it is reported only.
        ok = (got[0] if naive_says else got) in ((want,) if isinstance(want, str) else want)
        if not ok:
            failures.append(f"{name}: got {got}, want {want} (naive: {naive_says}); {m['verdict_rule']}; "
                            f"fit {fitmod.describe(m['fit'])}")
        return m

    # a chain of 200 tiny ops at batch 1: almost all of the call is fixed
    m = expect("tiny chain, batch 1", tiny_chain(tmp_path), 1, "fixed-cost-bound")
    # a large MatMul: 2 GFLOP per 1,000 rows, the per-sample time near the matmul rate
    expect("large MatMul, batch 512", matmul(tmp_path), 512, "compute-bound", budget=0.8)
    # a large element-wise op: 2 MiB read and written per sample, no arithmetic
    expect("large Relu, batch 32", relu_chain(tmp_path, 1), 32, "memory-bound")
    # not what a naive rule says:
    # - eight Relus in a row: the compulsory traffic (input and output once) is an eighth of what runs, so
    #   the old rule calls it overhead-bound; counted layer by layer it is memory-bound
    expect("eight Relus, batch 32", relu_chain(tmp_path, 8), 32, "memory-bound", naive_says="overhead-bound")
    # - a matrix-vector product at batch 1: the whole time sits near the time to read the 4 MiB of weights,
    #   so the old rule calls it memory-bound; but that read is paid once per call whatever the batch
    #   (two short blocks on a busy machine may leave the share's interval straddling 0.5: then "unresolved",
    #   never the naive memory-bound)
    expect("MatMul at batch 1", matmul(tmp_path), 1, ("fixed-cost-bound", "unresolved"), naive_says="memory-bound")
    # - a full sort of every row (TopK with k = the row): far more work per byte than the bytes need, and it
    #   grows with the batch; the old rule calls that overhead-bound, yet the fixed cost is small: the kernel
    #   itself runs below the roofline, and the profile names it
    m = expect("TopK sort, batch 16", topk_sort(tmp_path), 16, "below-roofline", naive_says="overhead-bound")
    if m["verdict"] == "below-roofline":
        assert any("TopK" in r["name"] for r in m["responsible_layers"]), m["responsible_layers"]
    assert not failures, "\n".join(failures)


def test_fixed_batch_onnx_file_reports_the_fit_unavailable(tmp_path):
    from onnx import helper

    path = _save(tmp_path, "fixed", [helper.make_node("Relu", ["x"], ["y"])], [4, 16], [4, 16])
    report, m = explain(path, None, budget=0.05)
    assert report["batch_size"] == 4 and report["fit_batches"] == [4]
    assert not m["fit"]["available"] and "fixed batch of 4" in m["fit"]["reason"]
    assert m["fixed_s"] is None and m["fixed_fraction"] is None and m["verdict"] in ("memory-bound", "unresolved")


def test_unknown_operator_still_gets_a_measured_verdict(tmp_path):
    from onnx import helper

    path = _save(tmp_path, "einsum", [helper.make_node("Einsum", ["x", "x"], ["y"], equation="ij,ij->ij")],
                 ["N", 64], ["N", 64])
    report, m = explain(path, 1, budget=0.05)
    assert report["complete"] is False and report["unknown_ops"] == ["Einsum"]
    assert m["verdict"] in verdictmod.CATEGORIES and "Einsum" in m["verdict_note"]
