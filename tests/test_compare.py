"""`xbench compare`: the regression rule (threshold AND Mann-Whitney U), exit codes, bad input."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from xbench.cli import main
from xbench.compare import IMPROVEMENT, REGRESSION, UNCHANGED, judge

FIXTURE = Path(__file__).parent / "golden" / "results.json"


def _doc() -> dict:
    return json.loads(FIXTURE.read_text())


def _write(tmp_path: Path, name: str, doc) -> str:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def _scaled(doc: dict, factor, ids=None) -> dict:
    """Every ok record's samples (and stats) multiplied by factor (a number, or a per-sample function)."""
    for r in doc["records"]:
        if r["status"] != "ok" or (ids and r["id"] not in ids):
            continue
        r["samples_s"] = [s * (factor() if callable(factor) else factor) for s in r["samples_s"]]
        s = sorted(r["samples_s"])
        r["stats"].update(min=s[0], max=s[-1], median=(s[len(s) // 2] + s[(len(s) - 1) // 2]) / 2)
    return doc


def _compare(tmp_path, capsys, base, new, *args):
    rc = main(["compare", _write(tmp_path, "base.json", base), _write(tmp_path, "new.json", new), *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_identical_files_pass(tmp_path, capsys):
    rc, out, _ = _compare(tmp_path, capsys, _doc(), _doc())
    assert rc == 0
    assert "0 regressions" in out and "REGRESSION" not in out


def test_fifty_percent_slower_fails(tmp_path, capsys):
    rc, out, _ = _compare(tmp_path, capsys, _doc(), _scaled(_doc(), 1.5))
    assert rc == 1
    assert out.count("REGRESSION") >= 15  # 20 rounds each: nearly every benchmark is confirmed
    assert "+50.0%" in out


def test_one_slower_benchmark_is_named(tmp_path, capsys):
    target = "inference/seed_cnn/torch/onnxruntime/CPUExecutionProvider/default/b32/float32"
    rc, out, _ = _compare(tmp_path, capsys, _doc(), _scaled(_doc(), 1.5, {target}))
    assert rc == 1
    regressions = [line for line in out.splitlines() if line.startswith("REGRESSION")]
    assert len(regressions) == 1 and target in regressions[0]


def test_noise_only_change_passes(tmp_path, capsys):
    rng = random.Random(0)
    new = _scaled(_doc(), lambda: rng.lognormvariate(0, 0.05))  # +-5% jitter on every round
    for r in new["records"]:
        rng.shuffle(r["samples_s"])
    rc, out, _ = _compare(tmp_path, capsys, _doc(), new)
    assert rc == 0, out
    assert "0 regressions" in out


def test_faster_is_listed_as_improvement(tmp_path, capsys):
    rc, out, _ = _compare(tmp_path, capsys, _doc(), _scaled(_doc(), 0.5))
    assert rc == 0
    assert "improvement  -50.0%" in out


def test_now_failing_counts_against_new(tmp_path, capsys):
    new = _doc()
    rec = next(r for r in new["records"] if r["status"] == "ok")
    rec.update(status="error", reason="RuntimeError: boom", stats=None, samples_s=[], throughput=None)
    rc, out, _ = _compare(tmp_path, capsys, _doc(), new)
    assert rc == 1 and "NOW FAILING" in out and "boom" in out


def test_unmatched_and_status_changes_are_listed(tmp_path, capsys):
    new = _doc()
    gone = new["records"].pop(0)
    added = dict(new["records"][0], model="wide_cnn")
    added["id"] = added["id"].replace("seed_cnn", "wide_cnn")
    new["records"].append(added)
    skip = next(r for r in new["records"] if r["status"] == "ok" and r["task"] == "train_step")
    skip.update(status="skipped", reason="no GPU today", stats=None, samples_s=[], throughput=None)
    rc, out, _ = _compare(tmp_path, capsys, _doc(), new)
    assert rc == 0
    assert f"only in BASE (1):\n  {gone['id']}" in out
    assert f"only in NEW (1):\n  {added['id']}" in out
    assert "ok -> skipped (no GPU today)" in out


def test_markdown_format_is_a_table(tmp_path, capsys):
    rc, out, _ = _compare(tmp_path, capsys, _doc(), _scaled(_doc(), 1.5), "--format", "md")
    assert rc == 1
    lines = [line for line in out.splitlines() if line.startswith("|")]
    assert lines[0].startswith("| verdict | change |") and set(lines[1]) <= set("|:- ")
    assert {line.count("|") for line in lines} == {7}


def test_threshold_option(tmp_path, capsys):
    slower = _scaled(_doc(), 1.5)
    assert _compare(tmp_path, capsys, _doc(), slower, "--threshold", "60")[0] == 0
    assert _compare(tmp_path, capsys, _doc(), slower, "--threshold", "40")[0] == 1


# ---- the rule itself, on synthetic samples


def test_tiny_shift_with_many_rounds_is_not_a_regression():
    rng = random.Random(1)
    base = [rng.gauss(1.0, 0.01) for _ in range(5000)]
    new = [rng.gauss(1.03, 0.01) for _ in range(5000)]  # 3% slower: overwhelmingly "significant"
    pair = judge(base, new, threshold=0.10, alpha=0.01)
    assert pair.p < 1e-100 and pair.verdict == UNCHANGED


def test_big_change_without_evidence_is_not_a_regression():
    base = [1.0, 3.0, 1.0, 3.0, 2.0]
    new = [1.2, 3.2, 1.2, 3.2, 2.5]  # median +25%, but the rounds overlap completely
    pair = judge(base, new, threshold=0.10, alpha=0.01)
    assert pair.change > 0.10 and pair.p > 0.01 and pair.verdict == UNCHANGED
    assert "not significant" in pair.note


def test_both_conditions_give_regression_and_improvement():
    rng = random.Random(2)
    base = [rng.gauss(1.0, 0.05) for _ in range(50)]
    assert judge(base, [x * 1.3 for x in base], 0.10, 0.01).verdict == REGRESSION
    assert judge(base, [x * 0.7 for x in base], 0.10, 0.01).verdict == IMPROVEMENT


# ---- exit 2: nothing to compare, or not a results file


def test_no_common_benchmark_exits_2(tmp_path, capsys):
    other = _doc()
    for r in other["records"]:
        r["model"] = "other_cnn"
    rc, out, err = _compare(tmp_path, capsys, _doc(), other)
    assert rc == 2 and out == ""
    assert "no benchmark in common" in err


def _pytest_benchmark_json() -> str:
    return json.dumps({"machine_info": {"node": "vm"}, "commit_info": {}, "benchmarks": [{"name": "test_x"}],
                       "datetime": "2026-01-01T00:00:00", "version": "5.1.0"})


def _other_major() -> str:
    doc = _doc()
    doc["schema_version"] = "2.0.0"
    return json.dumps(doc)


def _missing_field() -> str:
    doc = _doc()
    del doc["records"][3]["stats"]
    return json.dumps(doc)


def _bad_block() -> str:
    doc = _doc()
    rec = next(r for r in doc["records"] if r["status"] == "ok")
    rec["blocks"] = [{"rounds": 0}]
    return json.dumps(doc)


@pytest.mark.parametrize("content,expected", [
    ('{"schema_version": "1.0.0", "records": [', "malformed JSON at line 1"),
    ("", "empty file"),
    (_other_major(), "schema_version 2.0.0 has major version 2"),
    (_missing_field(), "field records/3: 'stats' is a required property"),
    (_pytest_benchmark_json(), "pytest-benchmark JSON file, not an xbench results file"),
    (_bad_block(), "/blocks/0/rounds: 0 is less than the minimum of 1"),
], ids=["malformed", "empty", "major-version", "missing-field", "pytest-benchmark", "bad-block"])
def test_bad_input_is_one_line_exit_2(tmp_path, content, expected):
    bad = _write(tmp_path, "bad.json", content)
    proc = subprocess.run([sys.executable, "-m", "xbench.cli", "compare", str(FIXTURE), bad],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("xbench compare: error: ") and bad in lines[0] and expected in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_environment_and_machine_changes_are_noted(tmp_path, capsys):
    new = _doc()
    new["env"]["versions"]["torch"] = "2.14.0"
    new["env"]["hostname"] = "runner"
    rc, out, _ = _compare(tmp_path, capsys, _doc(), new)
    assert rc == 0
    assert "environment changed: torch: 2.13.0+cpu -> 2.14.0" in out
    assert "different machines (vm / AMD EPYC vs runner / AMD EPYC)" in out


def _per_benchmark_factors(doc: dict, factors: dict) -> dict:
    """Scale each ok record by its own factor: a run whose whole process landed faster or slower."""
    for r in doc["records"]:
        if r["status"] == "ok" and r["id"] in factors:
            _scaled({"records": [r]}, factors[r["id"]])
    return doc


def test_between_run_noise_is_not_a_regression_but_a_real_one_still_is(tmp_path, capsys):
    """Back-to-back runs on a VM move whole benchmarks by tens of percent both ways (rule 3)."""
    ok_ids = [r["id"] for r in _doc()["records"] if r["status"] == "ok"]
    rng = random.Random(7)
    noise = {i: rng.choice([0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.35]) for i in ok_ids}
    rc, out, _ = _compare(tmp_path, capsys, _doc(), _per_benchmark_factors(_doc(), noise))
    assert rc == 0, out
    assert "within run-to-run noise" in out
    # the same noise plus one benchmark 3x slower: named, exit 1
    noisy_and_slow = {**noise, ok_ids[0]: 3.0}
    rc, out, _ = _compare(tmp_path, capsys, _doc(), _per_benchmark_factors(_doc(), noisy_and_slow))
    assert rc == 1 and f"REGRESSION" in out and ok_ids[0] in out.split("REGRESSION", 1)[1].splitlines()[0]


def test_noise_check_is_off_with_too_few_benchmarks():
    from xbench.compare import run_to_run_noise

    assert run_to_run_noise([(1.0, 1.2)] * 3) is None
    assert run_to_run_noise([(1.0, 1.0)] * 10) == 0.0


def test_several_runs_per_side_pool_their_blocks(tmp_path, capsys):
    """A benchmark slow in one NEW process but not in the other is noise; slow in both is real."""
    target = next(r["id"] for r in _doc()["records"] if r["status"] == "ok")
    slow = _per_benchmark_factors(_doc(), {target: 2.0})
    base = _write(tmp_path, "b1.json", _doc())
    base2 = _write(tmp_path, "b2.json", _per_benchmark_factors(_doc(), {target: 1.05}))
    a, b = _write(tmp_path, "n1.json", slow), _write(tmp_path, "n2.json", _doc())
    assert main(["compare", f"{base},{base2}", f"{a},{b}"]) == 0
    assert main(["compare", base, a]) == 1
    c = _write(tmp_path, "n3.json", _per_benchmark_factors(_doc(), {target: 2.0}))
    assert main(["compare", f"{base},{base2}", f"{a},{c}"]) == 1
    out = capsys.readouterr().out
    assert "2v2 blocks" in out


def _with_blocks(doc: dict, factors: list[float], ids=None) -> dict:
    """Every ok record as len(factors) blocks: its rounds repeated, block i scaled by factors[i]."""
    for r in doc["records"]:
        if r["status"] != "ok" or (ids and r["id"] not in ids):
            continue
        rounds = r["samples_s"]
        r["samples_s"] = [x * f for f in factors for x in rounds]
        r["blocks"] = [{"rounds": len(rounds), "iterations": 1, "median_s": 0, "first_call_s": 0,
                         "started_at": float(i)} for i in range(len(factors))]
    return doc


def test_blocks_are_split_from_the_raw_rounds():
    from xbench.compare import blocks

    rec = {"samples_s": [1, 2, 3, 4, 5], "blocks": [{"rounds": 2}, {"rounds": 3}]}
    assert blocks(rec) == [[1, 2], [3, 4, 5]]
    assert blocks({"samples_s": [1, 2]}) == [[1, 2]]
    assert blocks({"samples_s": [1, 2], "blocks": [{"rounds": 5}, {"rounds": 1}]}) == [[1, 2]]  # inconsistent: one


def test_a_machine_drifting_between_blocks_is_not_a_regression(tmp_path, capsys):
    """The drift measured on this project's VM: one benchmark's blocks 0.38, 1.34, 0.91 ms in one run."""
    base = _with_blocks(_doc(), [1.0, 1.35, 1.1])
    new = _with_blocks(_doc(), [1.3, 1.6, 1.25])  # medians +20-30%, but inside BASE's own drift
    rc, out, _ = _compare(tmp_path, capsys, base, new)
    assert rc == 0, out
    assert "blocks overlap" in out and "3v3 blocks" in out
    rc, out, _ = _compare(tmp_path, capsys, base, _with_blocks(_doc(), [1.45, 1.5, 1.43]))  # apart, by < 10%
    assert rc == 0 and "blocks only 6% apart" in out, out


def test_every_block_slower_beyond_the_threshold_is_a_regression(tmp_path, capsys):
    base = _with_blocks(_doc(), [1.0, 1.05, 0.98])
    rc, out, _ = _compare(tmp_path, capsys, base, _scaled(_with_blocks(_doc(), [1.0, 1.05, 0.98]), 1.5))
    assert rc == 1 and "REGRESSION" in out and "gap +40%" in out, out
    rc, out, _ = _compare(tmp_path, capsys, base, _scaled(_with_blocks(_doc(), [1.0, 1.05, 0.98]), 0.6))
    assert rc == 0 and "improvement" in out


def test_block_rule_on_synthetic_blocks():
    base = [[1.0] * 20, [1.3] * 20, [1.1] * 20]
    assert judge(sum(base, []), [1.5] * 60, 0.10, 0.01, 0.0, base, [[1.5] * 20] * 3).verdict == REGRESSION
    pair = judge(sum(base, []), [1.35] * 60, 0.10, 0.01, 0.0, base, [[1.35] * 20] * 3)
    assert pair.verdict == UNCHANGED and pair.gap is not None and 0 < pair.gap < 0.10
    assert pair.p == pytest.approx(1 / 20)  # exact chance of complete separation, 3 v 3 exchangeable blocks


def test_resolution_is_the_smallest_uniform_slowdown_the_blocks_flag():
    base = [[1.0] * 10, [1.2] * 10, [1.1] * 10]
    pair = judge(sum(base, []), sum(base, []), 0.10, 0.01, 0.0, base, base)
    assert pair.resolution == pytest.approx(1.1 * 1.2 / 1.0 - 1)
    for margin, verdict in ((0.01, REGRESSION), (-0.01, UNCHANGED)):
        f = 1 + pair.resolution + margin
        new = [[x * f for x in b] for b in base]
        assert judge(sum(base, []), sum(new, []), 0.10, 0.01, 0.0, base, new).verdict == verdict


def test_compare_reports_its_resolution(tmp_path, capsys):
    base = _with_blocks(_doc(), [1.0, 1.6, 1.1])  # every benchmark spreads 1.6x: 76% needed, 50% not resolvable
    rc, out, _ = _compare(tmp_path, capsys, base, _scaled(_with_blocks(_doc(), [1.0, 1.6, 1.1]), 1.5))
    assert rc == 0 and "can flag a slowdown of at least 76%" in out and "0 of" in out, out
