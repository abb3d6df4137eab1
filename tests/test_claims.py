"""Verdicts on the seed article's claims, shared initial weights, and the sweep's bad input."""

import dataclasses
import math

import numpy as np
import pytest

from xbench import cli
from xbench.records import stats as st
from xbench.verdicts import claims
from xbench.training.shared_init import shared_weights


# ---- verdicts on paired seeds -------------------------------------------------------------------------------------

def _steps(values):
    return [claims.Obs(v) for v in values]


def test_a_consistent_ratio_of_055_is_sooner_but_does_not_halve():
    """Six seeds, lr 3e-3 needing 0.55x lr 1e-3's steps in every one: "sooner" holds, "halves" does not, each
    with a Holm-adjusted p < 0.05 over the two verdicts (one-sided sign test: 2^-6 each)."""
    base = [4000, 3600, 5200, 3800, 4400, 4800]
    fast = [0.55 * s for s in base]
    sooner = claims.paired_ratio("sooner", _steps(fast), _steps(base), 1.0)
    halves = claims.paired_ratio("halves", _steps(fast), _steps(base), 0.5)
    claims.decide([sooner, halves])
    assert sooner.verdict == claims.HOLDS and halves.verdict == claims.DOES_NOT_HOLD
    assert sooner.p == halves.p == 0.5 ** 6 and sooner.p_holm == halves.p_holm == 2 * 0.5 ** 6 < 0.05
    assert (sooner.toward, sooner.away, halves.toward, halves.away) == (6, 0, 0, 6)
    e = sooner.effect()
    assert abs(e["estimate"] - 0.55) < 1e-9 and e["pairs"] == 6


def test_fewer_than_six_seeds_or_a_mixed_sign_is_inconclusive():
    five = claims.paired_ratio("five", _steps([1, 1, 1, 1, 1]), _steps([2, 2, 2, 2, 2]), 1.0)
    mixed = claims.paired_ratio("mixed", _steps([1, 1, 1, 3, 3, 3]), _steps([2] * 6), 1.0)
    claims.decide([five, mixed])
    assert five.verdict == claims.INCONCLUSIVE and "fewer than the 6" in five.why
    # every pair observed: the signed-rank test on log(A / B): three pairs at 0.5, three at 1.5 (nearer 1)
    assert mixed.test == claims.SIGNED_RANK and mixed.leans == claims.BELOW
    assert mixed.verdict == claims.INCONCLUSIVE and mixed.p == st.p_signed_rank([math.log(2)] * 3 + [math.log(1 / 1.5)] * 3)


def test_censored_pairs_are_undecided_unless_the_order_is_known():
    c = claims.Obs
    # A reached at 300 steps, B stopped unreached at 500: A < B is known
    assert claims.side(claims.ratio_bounds(c(300), c(None, 500)), 1.0) == claims.BELOW
    # both censored, or A censored at fewer steps than B's: unknown
    assert claims.side(claims.ratio_bounds(c(None, 500), c(None, 500)), 1.0) == "unknown"
    assert claims.side(claims.ratio_bounds(c(None, 300), c(500)), 1.0) == "unknown"
    # A censored beyond B's steps: A > B is known
    assert claims.side(claims.ratio_bounds(c(None, 600), c(500)), 1.0) == claims.ABOVE
    # a time-per-step factor with an interval: known only when the whole interval is on one side
    assert claims.side(claims.ratio_bounds(c(300), c(None, 500), (1.5, 1.8)), 1.0) == "unknown"
    a = [c(300)] * 4 + [c(None, 500)] * 2
    b = [c(None, 500)] * 4 + [c(None, 500), c(400)]
    t = claims.paired_ratio("censored", a, b, 1.0)
    assert t.counts == {claims.BELOW: 4, claims.ABOVE: 1, "tie": 0, "unknown": 1} and t.decided == 5
    assert t.p == claims.sign_p(4, 5) and t.points == []
    claims.decide([t])
    assert t.verdict == claims.INCONCLUSIVE and "1 undecided (censored" in t.why


def test_holm_adjustment():
    assert claims.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert claims.holm([0.5, 0.001]) == pytest.approx([0.5, 0.002])
    assert claims.holm([0.6, 0.6]) == [1.0, 1.0]
    assert claims.sign_p(6, 6) == 0.5 ** 6 and claims.sign_p(0, 0) == 1.0
    # a verdict that passes alone fails among many: 2^-6 x 4 > 0.05
    tests = [claims.paired_ratio(str(i), _steps([1] * 6), _steps([2] * 6), 1.0) for i in range(4)]
    claims.decide(tests)
    assert all(t.verdict == claims.INCONCLUSIVE and t.p_holm == 4 * 0.5 ** 6 for t in tests)
    assert claims.seeds_for(4) == 7 and claims.seeds_for(19) == 9


def test_differences_and_ties():
    hi = [98.1, 98.2, 98.0, 98.3, 98.1, 98.2]
    lo = [96.7, 96.9, 96.5, 97.0, 96.8, 96.6]
    t = claims.paired_difference("ends lower", hi, lo)
    tie = claims.paired_ratio("equal steps", _steps([3675] * 6), _steps([3675] * 6), 1.0)
    claims.decide([t, tie])
    assert t.verdict == claims.HOLDS and t.effect()["estimate"] == pytest.approx(1.35)
    assert tie.counts["tie"] == 6 and tie.decided == 6 and tie.verdict == claims.INCONCLUSIVE


def test_committed_claims_json_validates_against_its_schema():
    import json
    from pathlib import Path

    import jsonschema

    root = Path(__file__).resolve().parents[1]
    schema = json.loads((root / "xbench" / "schema" / "claims.schema.json").read_text())
    doc = json.loads((root / "results" / "claims.json").read_text())
    jsonschema.validate(doc, schema)
    for v in doc["verdicts"]:
        if v["verdict"] in (claims.HOLDS, claims.DOES_NOT_HOLD):
            assert v["p_holm"] < 0.05 and (v["unit"] != "seed" or v["pairs"]["total"] >= 6), v["claim"]
    halves = [v for v in doc["verdicts"] if "halves" in v["claim"]]
    assert halves and all(v["unit"] == "seed" for v in halves)
    # the schema refuses a "holds" without a significant adjusted p
    bad = json.loads(json.dumps(doc))
    bad["verdicts"][0].update(verdict=claims.HOLDS, p_holm=0.2)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


# ---- shared initial weights ---------------------------------------------------------------------------------------

def test_shared_weights_are_canonical_and_seeded(seed_spec):
    w = shared_weights(seed_spec, 0)
    assert [a.shape for a in w] == [(3, 3, 1, 32), (32,), (5408, 10), (10,)]
    assert all(a.dtype == np.float32 for a in w) and not w[1].any()
    limit = np.sqrt(6 / (9 + 9 * 32))  # Glorot uniform: fan_in 9, fan_out 288
    assert np.abs(w[0]).max() <= limit and np.abs(w[0]).max() > 0.9 * limit
    assert all((a == b).all() for a, b in zip(w, shared_weights(seed_spec, 0)))
    assert not (shared_weights(seed_spec, 1)[0] == w[0]).all()


@pytest.mark.slow
def test_shared_init_starts_both_frameworks_from_the_same_weights(seed_spec, mnist):
    """One step at a learning rate too small to move the weights: with shared init, Keras and PyTorch predict the
    same probabilities; with their own initialisers they do not."""

    from xbench import frameworks
    from xbench.data import images
    from xbench.training.train import train

    x = images(mnist.x_test[:200], seed_spec.input_shape)
    # one step over 256 real training digits (not the subset's 5,000): the step, not the data, is under test
    data = dataclasses.replace(mnist, x_train=mnist.x_train[:256], y_train=mnist.y_train[:256],
                               x_test=mnist.x_test[:200], y_test=mnist.y_test[:200])

    def probs(fw_name, init):
        result, model = train(fw_name, seed_spec, data, 1, len(data.x_train), 1e-12, seed=3, progress=False,
                              init=init)
        assert result.init == init and result.steps == 1
        fw = frameworks.get(fw_name)
        predict = fw.make_predict(model, seed_spec)
        return fw.to_numpy(predict(fw.to_native(model, x)[0]))

    shared = np.abs(probs("keras", "shared") - probs("torch", "shared")).max()
    own = np.abs(probs("keras", "own") - probs("torch", "own")).max()
    assert shared < 1e-4 and own > 0.05, (shared, own)


# ---- bad input ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["sweep-train", "--repeats", "0"], "--repeats must be a positive integer"),
    (["sweep-train", "--init", "keras"], "--init must be one of own, shared, got 'keras'"),
    (["tta", "--framework", "torch", "--target", "0.9", "--init", "xavier"], "--init must be one of own, shared"),
    (["sweep-train", "--cells", ","], "--cells: the grid has no cells"),
    (["sweep-train", "--cells", "32"], "--cells: expected BATCH:LR pairs"),
    (["sweep-train", "--batch-sizes", ""], "--batch-sizes: empty list, so the grid has no cells"),
    (["sweep-train", "--frameworks", ","], "--frameworks: empty list, so the grid has no cells"),
    (["sweep-train", "--also-targets", "0.97,1.5"], "--also-targets must be accuracies in (0, 1]"),
    (["sweep-train", "--check-every", "0"], "--check-every must be a positive number of steps"),
])
def test_bad_sweep_and_tta_input_is_one_line_and_exit_2(args, message, tmp_path, capsys):
    out = ["--out", str(tmp_path)] if args[0] == "sweep-train" else ["--json", str(tmp_path / "t.json")]
    assert cli.main([*args, *out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"xbench {args[0]}: error:") and message in err[0], err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_signed_ranks_use_distances_where_every_pair_is_observed_and_signs_where_censored():
    """Issue 21: "halves" with 6 of 9 pairs well above 0.5 and 3 just below: the signs alone (p = 0.25) cannot
    decide; the distances from 0.5 can. One censored pair leaves only sides: the sign test again."""
    base = [4000] * 9
    fast = [0.49 * 4000] * 3 + [r * 4000 for r in (0.7, 0.75, 0.8, 0.7, 0.65, 0.9)]
    halves = claims.paired_ratio("halves", _steps(fast), _steps(base), 0.5)
    claims.decide([halves])
    assert halves.test == claims.SIGNED_RANK and halves.leans == claims.ABOVE
    assert halves.p < 0.05 < claims.sign_p(6, 9) and halves.verdict == claims.DOES_NOT_HOLD
    assert "3 pairs on the claimed side, 6 on the other" in halves.why
    censored = claims.paired_ratio("halves", _steps(fast[:-1]) + [claims.Obs(None, 5000)], _steps(base), 0.5)
    assert censored.test == claims.SIGN_TEST and censored.p == claims.sign_p(6, 9)
