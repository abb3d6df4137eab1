"""Verdicts on the seed article's claims, shared initial weights, and the sweep's bad input."""

import numpy as np
import pytest

from xbench import cli, claims
from xbench.shared_init import shared_weights


# ---- verdicts -----------------------------------------------------------------------------------------------------

def test_separated_intervals_hold_or_do_not_hold():
    fast, slow = [5.1, 5.3, 4.9], [10.2, 10.8, 11.0]
    v = claims.judge(fast, slow)
    assert v.label == claims.HOLDS and (v.a.low, v.a.high, v.b.low) == (4.9, 5.3, 10.2) and v.a.level == 0.75
    assert claims.judge(slow, fast).label == claims.DOES_NOT_HOLD
    # a cell whose seeds never reached the target is slower than any that did
    assert claims.judge(fast, [None, None, None]).label == claims.HOLDS


def test_overlapping_intervals_are_inconclusive_with_the_seeds_it_would_take():
    v = claims.judge([5.1, 5.3, 12.0], [10.2, 10.8, 11.0])
    assert v.label == claims.INCONCLUSIVE
    # (1.96 * 1.2533 * (sd_a + sd_b) / |5.3 - 10.8|)^2 with sd_a = 3.90, sd_b = 0.42
    sd_a, sd_b = np.std([5.1, 5.3, 12.0], ddof=1), np.std([10.2, 10.8, 11.0], ddof=1)
    expect = int(np.ceil((1.959964 * 1.253314 * (sd_a + sd_b) / 5.5) ** 2))
    assert v.seeds_needed == max(6, expect) and f"about {v.seeds_needed} seeds" in v.why
    close = claims.judge([5.1, 5.3, 4.9], [5.0, 5.2, 5.4])
    assert close.label == claims.INCONCLUSIVE and close.seeds_needed > 50  # a 2 % difference needs many seeds
    assert claims.judge([5.0, 5.2], [5.2, 5.0]).seeds_needed is None  # equal medians: no count predicts separation
    censored = claims.judge([5.1, 5.3, 4.9], [3.0, None, None])
    assert censored.label == claims.INCONCLUSIVE and censored.seeds_needed is None and "infinite" in censored.why
    assert "neither cell reached" in claims.judge([None, None, 4.0], [None, None, 3.0]).why


def test_larger_is_judged_on_the_same_rule_and_sentences_carry_the_numbers():
    v = claims.judge_larger([0.981, 0.983, 0.982], [0.97, 0.968, 0.975])
    assert v.label == claims.HOLDS and (v.a.low, v.a.high) == (0.981, 0.983)
    text = claims.sentence(v, "lr 1e-3", "lr 3e-2", "%", 100, 2)
    assert text.startswith("**holds**: lr 1e-3 98.20 % [98.10, 98.30] (3 seeds, 75 %) vs lr 3e-2 97.00 %")
    assert claims.judge_larger([0.97, 0.968, 0.975], [0.981, 0.983, 0.982]).label == claims.DOES_NOT_HOLD


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
    from xbench.train import train

    x = images(mnist.x_test[:200], seed_spec.input_shape)

    def probs(fw_name, init):
        result, model = train(fw_name, seed_spec, mnist, 1, len(mnist.x_train), 1e-12, seed=3, progress=False,
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
