"""`xbench ab`: the balanced order, the pairing, the paired rule, resume and bad input.

Most tests run `xbench ab` with a stand-in interpreter (tests/ab_fake_python.py) that writes a block's results
in milliseconds; one runs two real blocks of the suite.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from xbench.verdicts import ab
from xbench.records import stats
from xbench.verdicts.compare import IMPROVEMENT, INCONCLUSIVE, REGRESSION, UNCHANGED
from xbench.verdicts.paired import judge_paired, pairs_of, smallest_flagged
from xbench.schema import read_results

REPO = Path(__file__).resolve().parents[1]
FAKE = Path(__file__).with_name("ab_fake_python.py")
CEILING = {"what": "test", "cpu": {"device": "cpu", "matmul_gflops": 100.0, "bandwidth_gbs": 10.0}, "cuda": []}


# ---- the order ---------------------------------------------------------------------------------------------------

def test_order_alternates_in_balanced_pairs():
    assert "".join(ab.order(6)) == "ABBAABBAABBA"
    for n in (2, 4, 6, 8):
        o = ab.order(n)
        pairs = [o[i:i + 2] for i in range(0, 2 * n, 2)]
        assert all(sorted(p) == ["A", "B"] for p in pairs)  # every pair has one block of each side
        assert sum(p[0] == "A" for p in pairs) == n // 2  # each side goes first in half the pairs
        assert sum(i for i, s in enumerate(o) if s == "A") == sum(i for i, s in enumerate(o) if s == "B")


# ---- the paired statistics ---------------------------------------------------------------------------------------

def test_signed_rank_p_is_exact():
    assert stats.p_signed_rank([1, 2, 3, 4, 5, 6]) == 1 / 64  # every pair on one side
    assert stats.p_signed_rank([-1, 2, 3, 4, 5, 6]) == 2 / 64  # the smallest one swapped
    assert stats.p_signed_rank([1, -2, 3, 4, 5, 6]) == 3 / 64
    # W+ = 15 of 21: P(W+ >= 15) = P(the - ranks sum to <= 6) = 14 of the 64 subsets of {1..6}
    assert stats.p_signed_rank([-6, 1, 2, 3, 4, 5]) == 14 / 64
    assert stats.p_signed_rank([1, 1, -1]) == 0.5  # ties share a rank
    assert stats.p_signed_rank([]) == 1.0 and stats.min_p_paired(6) == 1 / 64


def _rec(medians: list[float], positions: list[int]) -> dict:
    samples = [m for m in medians for _ in range(3)]
    return {"samples_s": samples, "stats": {"median": 1.0},
            "blocks": [{"rounds": 3, "position": p} for p in positions]}


def test_pairing_takes_each_b_block_with_its_neighbouring_a_block():
    o = ab.order(3)  # A B B A A B
    a_pos = [i for i, s in enumerate(o) if s == "A"]  # 0, 3, 4
    b_pos = [i for i, s in enumerate(o) if s == "B"]  # 1, 2, 5
    a, b = _rec([1.0, 2.0, 3.0], a_pos), _rec([1.1, 2.2, 3.3], b_pos)
    assert pairs_of(a, b) == [(1.0, 1.1), (2.0, 2.2), (3.0, 3.3)]
    # A block missing (failed, or not run yet): its pair is left out, the others keep their partners
    assert pairs_of(_rec([1.0, 3.0], [0, 4]), b) == [(1.0, 1.1), (3.0, 3.3)]


DRIFT = [1.0, 1.6, 0.8, 2.2, 1.1, 1.4]  # a machine whose speed moves 2.75x between pairs


@pytest.mark.parametrize("factor,verdict", [(1.0, UNCHANGED), (1.2, REGRESSION), (1 / 1.2, IMPROVEMENT),
                                            (1.03, INCONCLUSIVE)])  # significant, inside the threshold
def test_pairs_cancel_the_machine_drift(factor, verdict):
    noise = [1.0, 1.01, 0.99, 1.02, 0.985, 1.005]
    pairs = [(d, d * factor * e) for d, e in zip(DRIFT, noise)]
    p = judge_paired(pairs)
    assert p.verdict == verdict
    assert math.isclose(p.change + 1, factor * 1.0025, rel_tol=0.01)
    assert p.ci[0] <= p.change <= p.ci[1] and p.paired and p.blocks == (6, 6)


def test_one_pair_against_the_others_is_inconclusive():
    pairs = [(d, d * 1.3) for d in DRIFT[:5]] + [(1.0, 1.02)]  # five pairs 30% slower, one pair not
    p = judge_paired(pairs)
    assert p.verdict == INCONCLUSIVE and "interval reaches inside" in p.note and p.p == 1 / 64  # all six above 1


def test_a_two_state_benchmark_needs_every_pair_beyond_the_threshold():
    # ORT at batch 1 here: 13 or 25 us per fresh session, whatever the side
    pairs = [(13, 25), (25, 25), (13, 25), (25, 13), (13, 25), (13, 25)]
    assert judge_paired(pairs).verdict == INCONCLUSIVE


def test_a_two_state_benchmark_slow_in_five_pairs_is_not_flagged_by_its_median():
    # all six pairs B-slow (p = 1/64) and a median of +92%, but one pair within 2%: the interval reaches inside
    pairs = [(13, 25)] * 5 + [(25, 25.5)]
    p = judge_paired(pairs)
    assert p.p == 1 / 64 and p.change > 0.9 and p.verdict == INCONCLUSIVE


def test_resolution_is_the_smallest_slowdown_these_pairs_flag():
    noise = [1.0, 1.04, 0.97, 1.02, 0.99, 1.06]
    pairs = [(d, d * e) for d, e in zip(DRIFT, noise)]
    res = judge_paired(pairs).resolution
    assert res == pytest.approx(smallest_flagged([b / a for a, b in pairs], 0.05, 0.05))
    assert 0.05 < res < 0.2
    for margin, verdict in ((0.002, REGRESSION), (-0.002, INCONCLUSIVE)):  # these very pairs, slowed x f
        f = (1 + res) * (1 + margin)
        assert judge_paired([(a, b * f) for a, b in pairs]).verdict == verdict, margin
    assert judge_paired(pairs[:4]).resolution is None  # 4 pairs: p >= 1/16, never below 0.05


# ---- the command, with a stand-in interpreter --------------------------------------------------------------------

@pytest.fixture
def fake(tmp_path):
    """A stand-in interpreter path; XBENCH_CEILING_FILE so no ceiling is measured."""
    exe = tmp_path / "fakepython"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    exe.chmod(0o755)
    ceiling = tmp_path / "ceiling.json"
    ceiling.write_text(json.dumps(CEILING))
    return exe, ceiling


def _ab(fake, *args, env=None, timeout=120, a_python=True):
    exe, ceiling = fake
    full = {**os.environ, "XBENCH_CEILING_FILE": str(ceiling), **(env or {})}
    side = ["--a-python", str(exe)] if a_python else []
    return subprocess.run([sys.executable, "-m", "xbench.cli", "ab", *side, *args],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout, env=full)


def test_ab_files_tag_every_block_and_a_slower_b_exits_1(fake, tmp_path):
    out = tmp_path / "run"
    proc = _ab(fake, "--b-python", str(fake[0]), "--b-env", "FAKE_FACTOR=1.25", "--b-env", "FAKE_SLOW=b32",
               "--out", str(out))
    assert proc.returncode == 1, proc.stderr
    a, b = read_results(out / "a.json"), read_results(out / "b.json")
    order = ab.order(6)
    for doc, side in ((a, "A"), (b, "B")):
        for rec in doc["records"]:
            assert [blk["side"] for blk in rec["blocks"]] == [side] * 6
            assert [blk["position"] for blk in rec["blocks"]] == [i for i, s in enumerate(order) if s == side]
            starts = [blk["started_at"] for blk in rec["blocks"]]
            assert starts == sorted(starts) and starts[0] >= 0
        assert doc["env"]["ab"]["side"] == side
        assert doc["env"]["ceiling"] == CEILING  # measured once (here: given) and handed to every block
    assert "REGRESSION  +25.0%" in proc.stdout and "/b32/" in proc.stdout.split("REGRESSION")[1].splitlines()[0]
    assert proc.stdout.count("REGRESSION") == 1  # b1 and b128 were not slowed
    assert proc.stdout.startswith("sees: this comparison can flag slowdowns of")
    assert len(re.findall(r"6 pairs, p=[0-9.]+, resolves \d+%", proc.stdout)) == 3  # what each row's pairs could see
    md = (out / "compare.md").read_text()
    assert md.startswith("**This comparison can flag slowdowns of") and "\n## xbench ab\n" in md and "| **REGRESSION** |" in md
    plan = json.loads((out / "ab.json").read_text())
    assert plan["order"] == order and sorted(map(int, plan["done"])) == list(range(12))
    assert "block 12/12: side A" in proc.stderr and "12/12" in proc.stderr  # the progress bar


def test_aa_run_warns_and_exits_0(fake, tmp_path):
    exe, _ = fake
    proc = _ab(fake, "--b-python", str(exe), "--out", str(tmp_path / "aa"), env={"FAKE_FACTOR": "1.25"})
    assert proc.returncode == 2 and "A and B are the same" in proc.stderr  # side options, and no difference
    proc = _ab(fake, "--b-python", str(exe), "--aa", "--out", str(tmp_path / "aa"), env={"FAKE_FACTOR": "1.25"})
    assert proc.returncode == 0, proc.stderr
    assert "warning: A and B are identical: an A/A run" in proc.stderr
    assert "0 regressions, 0 improvements" in proc.stdout


def test_interrupted_run_keeps_its_blocks_and_resume_finishes_it(fake, tmp_path):
    out = tmp_path / "run"
    args = ("--b-python", str(fake[0]), "--b-env", "FAKE_FACTOR=1.0", "--out", str(out))
    proc = _ab(fake, *args, env={"FAKE_INTERRUPT": "5"})
    assert proc.returncode == 130, proc.stderr
    assert "5 of 12 blocks kept" in proc.stderr and "--resume" in proc.stderr
    a, b = read_results(out / "a.json"), read_results(out / "b.json")  # finished blocks: 0 1 2 3 4
    assert [blk["position"] for blk in a["records"][0]["blocks"]] == [0, 3, 4]
    assert [blk["position"] for blk in b["records"][0]["blocks"]] == [1, 2]
    first = {p: v["started_at"] for p, v in json.loads((out / "ab.json").read_text())["done"].items()}
    proc = _ab(fake, "--out", str(out), "--resume", a_python=False)  # the plan in ab.json says the rest
    assert proc.returncode == 0, proc.stderr
    plan = json.loads((out / "ab.json").read_text())
    assert sorted(map(int, plan["done"])) == list(range(12))
    assert all(plan["done"][p]["started_at"] == s for p, s in first.items())  # finished blocks were not rerun
    ran = sorted(int(p.name[:2]) for p in (out / "logs").iterdir())
    assert ran == list(range(12))
    b = read_results(out / "b.json")
    assert [blk["position"] for blk in b["records"][0]["blocks"]] == [1, 2, 5, 6, 9, 10]
    assert "6 pairs" in proc.stdout
    proc = _ab(fake, *args, "--resume", "--threshold", "50")  # a finished run: judged again, nothing rerun
    assert proc.returncode == 0 and "above 1.50" in proc.stdout
    assert json.loads((out / "ab.json").read_text())["done"] == plan["done"]
    # the same folder again without --resume is refused; --resume with other options too
    proc = _ab(fake, *args)
    assert proc.returncode == 2 and "--resume" in proc.stderr
    proc = _ab(fake, "--b-python", str(fake[0]), "--b-env", "FAKE_FACTOR=2", "--out", str(out), "--resume")
    assert proc.returncode == 2 and "side B differ" in proc.stderr


def test_a_side_failing_in_every_block_is_reported_with_its_error(fake, tmp_path):
    out = tmp_path / "run"
    proc = _ab(fake, "--b-python", str(fake[0]), "--b-env", "FAKE_ERROR=RuntimeError: boom", "--out", str(out))
    assert proc.returncode == 1, proc.stderr
    b = read_results(out / "b.json")
    assert {r["status"] for r in b["records"]} == {"error"} and b["records"][0]["reason"] == "RuntimeError: boom"
    assert proc.stdout.count("NOW FAILING") == 3 and "RuntimeError: boom" in proc.stdout
    proc = _ab(fake, "--b-python", str(fake[0]), "--a-env", "FAKE_ERROR=RuntimeError: a broke",
               "--out", str(tmp_path / "run2"))
    assert proc.returncode == 2 and "side A measured nothing" in proc.stderr and "a broke" in proc.stderr


def _no_site_python(tmp_path: Path) -> Path:
    exe = tmp_path / "bare-python"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')  # no site-packages: no xbench, no pytest
    exe.chmod(0o755)
    return exe


@pytest.mark.parametrize("case", ["python-without-xbench", "missing-python", "not-a-checkout", "missing-dir",
                                  "same-args", "bad-env", "bad-env-name", "bad-args-quote", "too-few-blocks",
                                  "out-not-empty", "resume-without-run", "nothing-selected", "side-args-refused"])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(fake, tmp_path, case):
    exe = str(fake[0])
    out = tmp_path / "run"
    args, expected = {
        "python-without-xbench": (["--b-python", str(_no_site_python(tmp_path))],
                                  "cannot run xbench's benchmarks: xbench is not installed in this interpreter"),
        "missing-python": (["--b-python", str(tmp_path / "nope")], "no such file"),
        "not-a-checkout": (["--b-dir", str(tmp_path)], "not a checkout of xbench (no tests/benchmarks"),
        "missing-dir": (["--b-dir", str(tmp_path / "nope")], "no such directory"),
        "same-args": (["--b-python", exe, "--a-args=-q", "--b-args=-q"], "A and B are the same"),
        "bad-env": (["--b-env", "THREADS"], "--b-env 'THREADS': expected NAME=VALUE"),
        "bad-env-name": (["--a-env", "1X=2"], "--a-env '1X=2': expected NAME=VALUE"),
        "bad-args-quote": (["--b-args", '"unclosed'], "--b-args '\"unclosed': No closing quotation"),
        "too-few-blocks": (["--b-python", exe, "--b-env", "X=1", "--blocks", "4"],
                           "--blocks 4 gives 4 pairs, whose smallest p is 0.0625"),
        "out-not-empty": (["--b-python", exe, "--b-env", "X=1"], "exists and is not an empty folder"),
        "nothing-selected": (["--b-python", exe, "--b-env", "X=1", "--", "-k", "nothingmatches"],
                             "side A (--a-args): the benchmarks cannot run with these arguments: no benchmark selected"),
        "side-args-refused": (["--b-args", "--xbench-threads 0"],  # B: the real interpreter and plugin
                              "side B (--b-args): the benchmarks cannot run with these arguments: "
                              "Exit: xbench: error: --xbench-threads must be a positive integer, got 0"),
        "resume-without-run": (["--b-python", exe, "--b-env", "X=1", "--resume"], "holds no A/B run"),
    }[case]
    if case in ("out-not-empty", "resume-without-run"):
        out.mkdir()
        if case == "out-not-empty":
            (out / "keep.txt").write_text("x")
    before = sorted(p.name for p in out.iterdir()) if out.exists() else None
    proc = _ab(fake, "--out", str(out), *args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xbench ab: error: ") and expected in lines[0], proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert (sorted(p.name for p in out.iterdir()) if out.exists() else None) == before  # nothing written


# ---- two real blocks ---------------------------------------------------------------------------------------------

@pytest.mark.e2e
@pytest.mark.slow
def test_two_real_blocks_of_the_suite(tmp_path):
    """Two A and two B blocks of the real suite (PyTorch eager inference at batch 1: no export, so each block
    process costs its imports, not a conversion): the plumbing."""
    ceiling = tmp_path / "ceiling.json"
    ceiling.write_text(json.dumps(CEILING))
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "xbench.cli", "ab", "--blocks", "2", "--alpha", "0.3",
                           "--b-args", "--xbench-threads 1", "--out", str(out), "--",
                           "--xbench-models", "seed_cnn", "--xbench-frameworks", "torch", "--xbench-providers", "cpu",
                           "--xbench-dtypes", "float32", "-k", "torch-cpu-eager and b1 and not b128",
                           "--benchmark-min-rounds=3", "--benchmark-max-time=0.05"],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "XBENCH_CEILING_FILE": str(ceiling)})
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    a, b = read_results(out / "a.json"), read_results(out / "b.json")
    assert {r["status"] for r in a["records"] + b["records"]} == {"ok"} and len(a["records"]) == len(b["records"])
    assert a["records"][0]["blocks"][0]["position"] == 0 and b["records"][0]["blocks"][0]["position"] == 1
    assert b["env"]["threads"] != a["env"]["threads"]  # B's --xbench-threads 1 reached its process
    assert "2 pairs" in proc.stdout and "intra_op: " in proc.stdout, proc.stdout  # the env change is noted


def test_the_default_selection_is_the_21_benchmarks_it_was_sized_for():
    """The default selection (no `--`) is documented as 21 benchmarks, about 30 s a block; a row added to the
    suite (OpenVINO, int8, bf16 and train_epoch were) must not silently lengthen every A/B run and CI's ab job."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "xbench/bench/suite", "--collect-only", "-q",
                           "-p", "no:cacheprovider", *ab.BLOCK_ARGS, *ab.DEFAULT_SELECTION],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    assert len(ids) == 21, proc.stdout[-2000:]
    assert not any(w in i for i in ids for w in ("bfloat16", "int8", "openvino", "train_epoch", "compile", "xla"))


def test_ab_check_predicts_what_a_slowed_copy_flags(fake, tmp_path):
    """scripts/ab_check.py: a copy of B slowed x1.1 / x1.2 flags exactly the benchmarks whose run median ratio
    times the factor reaches 1 + their resolution (exit 0), and --by-blocks predicts the resolution for more
    blocks from the A/A pairs."""
    exe, _ = fake
    out = tmp_path / "aa"
    proc = _ab(fake, "--b-python", str(exe), "--aa", "--out", str(out), env={"FAKE_FACTOR": "1.0"})
    assert proc.returncode == 0, proc.stderr
    check = subprocess.run([sys.executable, "scripts/ab_check.py", "--resample", "200", "--by-blocks", "6,9",
                            "--medians", str(tmp_path / "m.json"), str(out)],
                           cwd=REPO, capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stdout + check.stderr
    rows = [line for line in check.stdout.splitlines() if line.startswith("| aa | x1.")]
    assert len(rows) == 2 and all(line.rstrip().endswith("| — |") for line in rows), rows
    by_blocks = [line for line in check.stdout.splitlines() if re.match(r"\| (6|9) \| ", line)]
    assert len(by_blocks) == 2, check.stdout
    assert set(json.loads((tmp_path / "m.json").read_text())["aa"]) == {r["id"] for r in read_results(out / "a.json")["records"]}
