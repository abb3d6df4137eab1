"""xbench run: one process per framework, merged into one valid results file."""

import subprocess
import sys
from pathlib import Path

import pytest

from xbench.commands.run import merge
from xbench.schema import read_results, validate

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.e2e
def test_run_merges_one_process_per_framework_and_pools_runs(tmp_path):
    out = tmp_path / "merged.json"
    proc = subprocess.run([sys.executable, "-m", "xbench.cli", "run", "--runs", "2", "--json", str(out), "--",
                           "-q", "--xbench-models", "seed_cnn", "--xbench-dtypes", "float32",
                           "-k", "(keras-cpu-default or torch-cpu-eager) and b1 and not b128 and not onnxruntime and not openvino", "--benchmark-max-time=0.05",
                           "--benchmark-min-rounds=3", "--xbench-blocks", "2"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = read_results(out)
    assert {r["framework"] for r in doc["records"]} == {"keras", "torch"}
    assert all(r["status"] == "ok" for r in doc["records"])
    assert [p["frameworks"] for p in doc["env"]["processes"]] == [["keras"], ["torch"]]
    keras_proc, torch_proc = doc["env"]["processes"][:2]
    assert "torch" not in keras_proc["imported"] and "tensorflow" not in torch_proc["imported"]
    assert {p["ceiling_measured_in"] for p in doc["env"]["processes"]} == {"subprocess before the run"}
    assert len(doc["env"]["runs"]) == 2 and len({r["id"] for r in doc["records"]}) == len(doc["records"])
    for r in doc["records"]:  # two runs of two blocks each, every round kept
        assert [b["run"] for b in r["blocks"]] == [0, 0, 1, 1]
        assert sum(b["rounds"] for b in r["blocks"]) == len(r["samples_s"]) == r["stats"]["rounds"]


def test_merge_keeps_every_record_and_validates():
    env = {"python": "3.11", "os": "Linux", "cpu": {}, "threads": {}, "versions": {}}
    rec = {"id": "x", "task": "inference", "framework": "keras", "runtime": "keras", "provider": "cpu",
           "model": "seed_cnn", "batch_size": 1, "dtype": "float32", "variant": "default", "status": "skipped",
           "reason": "because", "stats": None, "samples_s": [], "throughput": None}
    a = {"schema_version": "1.0.0", "created_at": "t1", "env": env, "records": [rec]}
    b = {"schema_version": "1.0.0", "created_at": "t2", "env": env, "records": [{**rec, "id": "y", "framework": "torch"}]}
    merged = merge([a, b])
    validate(merged)
    assert len(merged["records"]) == 2 and merged["created_at"] == "t1"


def test_run_refuses_unknown_framework():
    proc = subprocess.run([sys.executable, "-m", "xbench.cli", "run", "--frameworks", "keras,caffe"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "unknown framework 'caffe'" in proc.stderr and "Traceback" not in proc.stderr
