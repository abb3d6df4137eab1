"""A record's block-derived fields pool every block, not the last one (issue 21: runtime_latency was the last
block's only)."""

from xbench.bench.plugin import block_fields


def _block(i: int, own: float, call: float, load: float, rss: float) -> dict:
    return {"samples": [0.001 * (i + 1)] * (i + 2), "iterations": 1, "first_call_s": 0.01, "started_at": 10.0 * i,
            "memory": {"peak_rss_mb": rss, "minor_page_faults_per_call": float(i)}, "load_s": load,
            "runtime_latency": {"median_s": own, "call_median_s": call, "calls": 5 + i}}


def test_runtime_latency_load_and_memory_pool_every_block():
    blocks = [_block(0, 1e-4, 2e-4, 0.5, 100.0), _block(1, 2e-4, 3e-4, 0.7, 300.0), _block(2, 9e-4, 9.5e-4, 0.6, 200.0)]
    out = block_fields(blocks)
    assert out["runtime_latency"] == {"median_s": 2e-4, "call_median_s": 3e-4, "calls": 18, "blocks": 3}
    assert out["load_s"] == 0.6 and out["memory"]["peak_rss_mb"] == 300.0
    # page faults per call weighted by each block's rounds (2, 3, 4): (0*2 + 1*3 + 2*4) / 9
    assert out["memory"]["minor_page_faults_per_call"] == round(11 / 9, 1)
    assert [b["rounds"] for b in out["blocks"]] == [2, 3, 4]
    assert [b["runtime_latency_s"] for b in out["blocks"]] == [1e-4, 2e-4, 9e-4]


def test_a_field_some_block_lacks_is_not_pooled():
    blocks = [_block(0, 1e-4, 2e-4, 0.5, 100.0), _block(1, 2e-4, 3e-4, 0.7, 300.0)]
    del blocks[0]["runtime_latency"], blocks[1]["load_s"]
    out = block_fields(blocks)
    assert "runtime_latency" not in out and "load_s" not in out
    assert "runtime_latency_s" not in out["blocks"][0] and out["blocks"][1]["runtime_latency_s"] == 2e-4
