"""Proof that Keras and PyTorch run the same CNN: parameters, outputs, loss, one SGD step, one Adam step.

Keras's backend is fixed per process: these tests check the Keras framework named by ``XBENCH_EQUIVALENCE_KERAS``
(default ``keras``, TensorFlow). tests/test_keras_backends.py runs this file again in one process per other
backend (``keras-jax`` with KERAS_BACKEND=jax, ``keras-torch`` with KERAS_BACKEND=torch)."""

import math
import os

import numpy as np
import pytest

from xbench import data as mnist
from xbench import frameworks

KERAS = os.environ.get("XBENCH_EQUIVALENCE_KERAS", "keras")  # the Keras framework (backend) under test


@pytest.fixture(scope="module")
def pair(seed_spec):
    keras_fw, torch_fw = frameworks.get(KERAS), frameworks.get("torch")
    km, tm = keras_fw.build(seed_spec, seed=1), torch_fw.build(seed_spec, seed=2)
    keras_fw.set_weights(km, seed_spec, torch_fw.get_weights(tm, seed_spec))  # NCHW flatten order mapped
    return keras_fw, km, torch_fw, tm


def test_parameter_counts_match(pair, seed_spec):
    keras_fw, km, torch_fw, tm = pair
    assert km.count_params() == sum(p.numel() for p in tm.parameters()) == seed_spec.num_params == 54_410


def test_weight_round_trip_is_exact(pair, seed_spec):
    keras_fw, km, torch_fw, tm = pair
    for a, b in zip(keras_fw.get_weights(km, seed_spec), torch_fw.get_weights(tm, seed_spec)):
        assert a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def _outputs(fw, model, spec, x, variant=None):
    predict = fw.make_predict(model, spec, variant)
    return fw.to_numpy(predict(fw.to_native(model, x, variant=variant)[0]))


def test_outputs_agree_on_real_images(pair, seed_spec, mnist):
    keras_fw, km, torch_fw, tm = pair
    x, _ = mnist_batch(mnist, seed_spec, 64)
    pk, pt = _outputs(keras_fw, km, seed_spec, x), _outputs(torch_fw, tm, seed_spec, x)
    assert pk.shape == pt.shape == (64, 10)
    np.testing.assert_allclose(pk.sum(axis=1), 1.0, atol=1e-5)  # softmax once, not twice
    assert np.abs(pk - pt).max() <= 1e-5


def mnist_batch(data, spec, n, split="test"):
    return mnist.batch(data, spec.input_shape, n, split=split)


def test_a_wrong_flatten_order_would_be_caught(seed_spec, mnist):
    """Copy the dense weights without the NHWC/NCHW permutation: the outputs must then differ."""
    keras_fw, torch_fw = frameworks.get(KERAS), frameworks.get("torch")
    tm = torch_fw.build(seed_spec, seed=3)
    km = keras_fw.build(seed_spec)
    w = [p.detach().numpy() for p in tm.parameters()]
    naive = [w[0].transpose(2, 3, 1, 0), w[1], w[2].T, w[3]]  # rows left in torch's C,H,W order
    keras_fw.set_weights(km, seed_spec, naive)
    x, _ = mnist_batch(mnist, seed_spec, 16)
    assert np.abs(_outputs(keras_fw, km, seed_spec, x) - _outputs(torch_fw, tm, seed_spec, x)).max() > 1e-3


def test_losses_are_equivalent(pair, seed_spec, mnist):
    """Keras softmax + sparse CE == torch logits + CrossEntropyLoss (softmax applied once)."""
    import keras
    import torch

    keras_fw, km, torch_fw, tm = pair
    x, y = mnist_batch(mnist, seed_spec, 32, split="train")
    k_loss = float(keras.losses.SparseCategoricalCrossentropy()(y, km(x, training=False)))
    xt, yt = torch_fw.to_native(tm, x, y)
    with torch.no_grad():
        t_loss = float(torch.nn.CrossEntropyLoss()(tm(xt), yt))
    assert abs(k_loss - t_loss) < 1e-5
    with torch.no_grad():  # the double-softmax mistake gives a visibly different loss
        wrong = float(torch.nn.CrossEntropyLoss()(torch.softmax(tm(xt), 1), yt))
    assert abs(wrong - t_loss) > 1e-3  # far outside the 1e-5 agreement above


def test_one_sgd_step_updates_weights_identically(seed_spec, mnist):
    keras_fw, torch_fw = frameworks.get(KERAS), frameworks.get("torch")
    tm = torch_fw.build(seed_spec, seed=4)
    km = keras_fw.build(seed_spec)
    keras_fw.set_weights(km, seed_spec, torch_fw.get_weights(tm, seed_spec))
    x, y = mnist_batch(mnist, seed_spec, 64, split="train")
    lr = 0.1
    k_step = keras_fw.make_train_step(km, seed_spec, lr, optimizer="sgd")
    t_step = torch_fw.make_train_step(tm, seed_spec, lr, optimizer="sgd")
    k_loss = k_step(*keras_fw.to_native(km, x, y))
    t_loss = t_step(*torch_fw.to_native(tm, x, y))
    assert abs(k_loss - t_loss) < 1e-5
    before = torch_fw.get_weights(torch_fw.build(seed_spec, seed=4), seed_spec)
    after_k, after_t = keras_fw.get_weights(km, seed_spec), torch_fw.get_weights(tm, seed_spec)
    grads = _torch_gradients(seed_spec, 4, x, y)
    for b, k, t, g in zip(before, after_k, after_t, grads):
        assert np.abs(k - b).max() > 0 and np.abs(t - b).max() > 0  # the step really moved both models' weights
        assert np.abs(k - t).max() <= 1e-4
        # and it was plain SGD in both (an Adam step would move each weight by about lr, whatever its gradient)
        np.testing.assert_allclose(t, b - lr * g, atol=1e-6)
        np.testing.assert_allclose(k, b - lr * g, atol=1e-4)


def _torch_gradients(spec, seed: int, x, y) -> list[np.ndarray]:
    """The loss gradient of the model built with ``seed`` on (x, y), in the canonical weight layout."""
    import torch

    torch_fw = frameworks.get("torch")
    model = torch_fw.build(spec, seed=seed)
    xt, yt = torch_fw.to_native(model, x, y)
    torch.nn.CrossEntropyLoss()(model(xt), yt).backward()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.grad)
    return [np.array(w, copy=True) for w in torch_fw.get_weights(model, spec)]


def _one_adam_step(seed_spec, mnist, torch_eps=None):
    """Both frameworks' Adam train step, once, from the same weights on the same batch: (before, Keras, PyTorch)."""
    keras_fw, torch_fw = frameworks.get(KERAS), frameworks.get("torch")
    tm = torch_fw.build(seed_spec, seed=6)
    km = keras_fw.build(seed_spec)
    before = [np.array(w, copy=True) for w in torch_fw.get_weights(tm, seed_spec)]  # biases come back as views
    keras_fw.set_weights(km, seed_spec, before)
    x, y = mnist_batch(mnist, seed_spec, 64, split="train")
    k_step = keras_fw.make_train_step(km, seed_spec, ADAM_LR, "adam")
    t_step = torch_fw.make_train_step(tm, seed_spec, ADAM_LR, "adam")
    if torch_eps is not None:
        t_step.optimizer.param_groups[0]["eps"] = torch_eps(k_step.optimizer)
    k_step(*keras_fw.to_native(km, x, y))
    t_step(*torch_fw.to_native(tm, x, y))
    return before, keras_fw.get_weights(km, seed_spec), torch_fw.get_weights(tm, seed_spec)


ADAM_LR = 1e-3  # seed_cnn's


def test_one_adam_step_is_the_same_update_with_epsilon_in_each_frameworks_terms(seed_spec, mnist):
    """Keras divides by sqrt(v) + eps with the bias correction folded into the step size ("epsilon hat");
    PyTorch divides by sqrt(v / (1 - beta2^t)) + eps. At step t Keras's eps is PyTorch's eps * sqrt(1 - beta2^t),
    so step 1 is the same update when PyTorch's eps is Keras's / sqrt(1 - beta2) (1e-7 -> 3.16e-6).

    Step 1 moves each weight by lr * g / (|g| + eps') in both, eps' the epsilon in PyTorch's terms. The suite gives
    both the same number (1e-7): Keras's eps' is then r = 1 / sqrt(1 - beta2) (31.6) times PyTorch's, and the two
    first updates differ by lr * |g| * (r - 1) * eps / ((|g| + r * eps) * (|g| + eps)), at most
    lr * (sqrt(r) - 1)^2 / (r - 1) (about 0.70 lr, at |g| = sqrt(r) * eps); the gap shrinks as beta2^t -> 0."""
    before, k, t = _one_adam_step(seed_spec, mnist, lambda opt: opt.epsilon / math.sqrt(1 - opt.beta_2))
    x, y = mnist_batch(mnist, seed_spec, 64, split="train")
    eps = 1e-7 / math.sqrt(1 - 0.999)  # Keras's defaults, in PyTorch's terms
    for b, kw, tw, g in zip(before, k, t, _torch_gradients(seed_spec, 6, x, y)):
        assert np.abs(kw - b).max() > 0.9 * ADAM_LR  # Adam's first step: about lr for every gradient well above eps
        assert np.abs(kw - tw).max() <= 1e-3 * ADAM_LR  # float rounding of near-zero gradients, nothing more
        np.testing.assert_allclose(tw, b - ADAM_LR * g / (np.abs(g) + eps), atol=1e-3 * ADAM_LR)  # Adam's formula
    _, k, t = _one_adam_step(seed_spec, mnist)  # the suite's settings: the same number means another epsilon
    r = 1 / math.sqrt(1 - 0.999)
    gap = max(np.abs(kw - tw).max() for kw, tw in zip(k, t))
    assert 0.1 * ADAM_LR < gap <= (math.sqrt(r) - 1) ** 2 / (r - 1) * ADAM_LR * 1.001  # the bound, not more


@pytest.mark.parametrize("framework, variant", [(KERAS, v) for v in list(frameworks.get(KERAS).variants)[1:]] +
                         [("torch", "channels_last"), ("torch", "compile")])
def test_tuned_variants_compute_the_same_function(framework, variant, seed_spec, mnist):
    fw = frameworks.get(framework)
    reason = fw.variant_reason(variant, "cpu")
    if reason:
        pytest.skip(reason)
    x, y = mnist_batch(mnist, seed_spec, 32)
    base, tuned = fw.build(seed_spec, seed=5), fw.build(seed_spec, seed=5)
    np.testing.assert_allclose(_outputs(fw, tuned, seed_spec, x, variant), _outputs(fw, base, seed_spec, x), atol=1e-5)
    # and one training step lands on the same weights
    fw.make_train_step(base, seed_spec, 0.1, "sgd")(*fw.to_native(base, x, y))
    fw.make_train_step(tuned, seed_spec, 0.1, "sgd", variant)(*fw.to_native(tuned, x, y, variant=variant))
    for a, b in zip(fw.get_weights(base, seed_spec), fw.get_weights(tuned, seed_spec)):
        assert np.abs(a - b).max() <= 1e-4
