"""Verdict words that mean what they say, checked on the published baseline's own runs (real blocks, real noise).

The baseline pools three runs of one machine; split back into runs, run 0 against run 1 is an honest pair. The
rule under test: ``unchanged`` only when the change's interval lies inside ±threshold (an equivalence test);
``regression`` wherever the header line said the comparison could see the slowdown."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from xbench.cli import main
from xbench.verdicts.compare import REGRESSION, UNCHANGED, compare
from xbench.report.comparison import sees_line
from xbench.verdicts.paired import judge_paired
from xbench.records.runs import unpool
from xbench.schema import read_results

BASELINE = Path(__file__).resolve().parent.parent / "results" / "baselines" / "amd-epyc-2c-nogpu.json.gz"


@pytest.fixture(scope="module")
def runs() -> tuple[dict, list[dict]]:
    doc = read_results(str(BASELINE))
    return doc, unpool(doc)


def _slowed(doc: dict, factor: float, ids: set[str] | None = None) -> dict:
    out = copy.deepcopy(doc)
    for r in out["records"]:
        if r["status"] == "ok" and (ids is None or r["id"] in ids):
            r["samples_s"] = [s * factor for s in r["samples_s"]]
    return out


def _inside(interval, threshold: float) -> bool:
    return interval is not None and 1 / (1 + threshold) - 1 < interval[0] and interval[1] < threshold


@pytest.mark.parametrize("a,b", [(0, 1), (1, 2), (2, 0)])
def test_honest_pair_calls_nothing_unchanged_outside_the_threshold(runs, a, b):
    pooled, parts = runs
    for noise in (pooled, None):  # with the baseline's run-to-run noise, and without any
        c = compare(parts[a], parts[b], noise_doc=noise)
        for p in c.pairs:
            if p.verdict == UNCHANGED:
                assert _inside(p.ci, c.threshold) and _inside(p.equivalence, c.threshold), (p.id, p.ci, p.equivalence)


def test_one_benchmark_slowed_by_thirty_percent_is_never_unchanged(runs):
    """Every benchmark slowed x1.3 in turn (benchmarks are judged one by one, so slowing all at once is the same
    as slowing each alone): none may be called unchanged, in any honest pair."""
    pooled, parts = runs
    for a, b in ((0, 1), (1, 2), (2, 0)):
        for noise in (pooled, None):
            c = compare(parts[a], _slowed(parts[b], 1.3), noise_doc=noise)
            assert not [p.id for p in c.pairs if p.verdict == UNCHANGED]


def test_slowed_twice_everywhere_is_a_regression_wherever_the_header_said_it_could_see_it(runs):
    pooled, parts = runs
    for a, b in ((0, 1), (1, 2), (2, 0)):
        seen = compare(parts[a], parts[b], noise_doc=pooled)
        could = {p.id for p in seen.pairs if p.resolution is not None and p.resolution <= 1.0}
        assert could, sees_line(seen)
        slowed = compare(parts[a], _slowed(parts[b], 2.0), noise_doc=pooled)
        missed = [p.id for p in slowed.pairs if p.id in could and p.verdict != REGRESSION]
        assert not missed, missed


def test_paired_unchanged_needs_the_whole_interval_inside():
    """xbench ab's rule: six pairs whose median ratio is 0.97 but whose interval reaches +91 % are inconclusive,
    never unchanged (the A/A case from the issue); six tight pairs are unchanged."""
    wide = [(1.0, r) for r in (0.84, 0.95, 0.97, 0.975, 1.2, 1.91)]
    p = judge_paired(wide, threshold=0.05, alpha=0.05)
    assert p.verdict != UNCHANGED and "reaches beyond ±5%" in p.note
    tight = [(1.0, r) for r in (0.99, 1.0, 1.01, 1.02, 0.995, 1.005)]
    assert judge_paired(tight, threshold=0.05, alpha=0.05).verdict == UNCHANGED
    five = tight[:5]  # [min, max] of 5 pairs covers 93.8 %: it cannot show anything at 95 %
    p = judge_paired(five, threshold=0.05, alpha=0.05)
    assert p.verdict != UNCHANGED and not p.can_be_unchanged


def test_every_output_begins_with_what_it_can_see(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no published baseline here: the files are judged as given
    golden = str(Path(__file__).parent / "golden" / "results.json")
    for fmt, start in (("text", "sees: this comparison can flag slowdowns of"),
                       ("md", "**This comparison can flag slowdowns of")):
        main(["compare", golden, golden, "--format", fmt])
        out = capsys.readouterr().out
        assert out.splitlines()[0].startswith(start), out[:300]


@pytest.mark.parametrize("args,expect", [(["--threshold", "0"], "--threshold"), (["--threshold", "100"], "--threshold"),
                                         (["--threshold", "-5"], "--threshold"), (["--alpha", "0.5"], "--alpha"),
                                         (["--alpha", "0"], "--alpha"), (["--alpha", "x"], "--alpha")])
def test_bad_threshold_or_alpha_is_one_line_exit_2(tmp_path, capsys, args, expect):
    with pytest.raises(SystemExit) as exc:
        main(["compare", "a.json", "b.json", *args])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and expect in err and "Traceback" not in err
