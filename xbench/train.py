"""One training loop for every framework: same data order, same seeds, same clock.

Each epoch visits the training set in the order of
``numpy.random.default_rng([seed, epoch]).permutation`` (the last batch may be
smaller), calls the framework's ``train_step`` per batch and then measures test
accuracy. ``epoch_seconds`` counts the optimizer steps only (batch slicing and
layout conversion included, evaluation excluded); ``eval_seconds`` is the
evaluation.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from xbench import data as mnist
from xbench import frameworks, threads
from xbench.errors import UserError
from xbench.spec import ModelSpec

EVAL_BATCH = 1000


@dataclass
class EpochResult:
    epoch: int
    loss: float  # mean training loss over the epoch's steps
    test_accuracy: float
    seconds: float  # training steps only
    eval_seconds: float
    steps: int


@dataclass
class TrainResult:
    framework: str
    model: str
    epochs: int
    batch_size: int
    learning_rate: float
    seed: int
    data: str
    data_source: str
    threads: int
    test_accuracy: float = 0.0
    epoch_seconds: list[float] = field(default_factory=list)
    eval_seconds: list[float] = field(default_factory=list)
    epoch_loss: list[float] = field(default_factory=list)
    epoch_test_accuracy: list[float] = field(default_factory=list)
    steps: int = 0
    weights_path: str | None = None
    diverged: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def check_hyperparameters(epochs: int | None = None, batch_size: int | None = None, lr: float | None = None) -> None:
    if epochs is not None and epochs <= 0:
        raise UserError(f"--epochs must be a positive integer, got {epochs}")
    if batch_size is not None and batch_size <= 0:
        raise UserError(f"--batch-size must be a positive integer, got {batch_size}")
    if lr is not None and not lr > 0:
        raise UserError(f"--lr must be a positive number, got {lr}")


def evaluate(fw, model, predict, spec: ModelSpec, x_test: np.ndarray, y_test: np.ndarray) -> float:
    correct = 0
    for i in range(0, len(x_test), EVAL_BATCH):
        xb = x_test[i:i + EVAL_BATCH]
        probs = fw.to_numpy(predict(fw.to_native(model, xb)[0]))
        correct += int((probs.argmax(axis=1) == y_test[i:i + EVAL_BATCH]).sum())
    return correct / len(x_test)


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def train(framework: str, spec: ModelSpec, data: mnist.Mnist, epochs: int, batch_size: int, lr: float,
          seed: int = 0, progress: bool = True, on_epoch: Callable[[EpochResult], bool] | None = None,
          log: Callable[[str], None] | None = None) -> tuple[TrainResult, object]:
    """Train from scratch; ``on_epoch`` may return True to stop early. Returns (result, model)."""
    from tqdm import tqdm

    check_hyperparameters(epochs, batch_size, lr)
    if spec.num_classes is None:
        raise UserError(f"model {spec.name} has no classifier head (last layer softmax Dense); it cannot be trained")
    fw = frameworks.get(framework)
    model = fw.build(spec, seed)
    step = fw.make_train_step(model, spec, lr)
    x_train = mnist.images(data.x_train, spec.input_shape)
    y_train = data.y_train.astype(np.int64)
    x_test = mnist.images(data.x_test, spec.input_shape)
    y_test = data.y_test.astype(np.int64)
    result = TrainResult(framework=fw.name, model=spec.name, epochs=epochs, batch_size=batch_size,
                         learning_rate=lr, seed=seed, data=data.label, data_source=data.source,
                         threads=threads.count())
    predict = None
    n = len(x_train)
    steps_per_epoch = -(-n // batch_size)
    for epoch in range(1, epochs + 1):
        order = epoch_order(n, seed, epoch)
        losses = []
        bar = tqdm(range(steps_per_epoch), desc=f"{fw.name} epoch {epoch}/{epochs}", unit="step",
                   disable=not progress or None, leave=False, file=sys.stderr, mininterval=0.5)
        t0 = time.perf_counter()
        for i in bar:
            idx = order[i * batch_size:(i + 1) * batch_size]
            x, y = fw.to_native(model, x_train[idx], y_train[idx])
            losses.append(step(x, y))
            if i % 50 == 0:
                bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
        seconds = time.perf_counter() - t0
        bar.close()
        t1 = time.perf_counter()
        predict = predict or fw.make_predict(model, spec)
        acc = evaluate(fw, model, predict, spec, x_test, y_test)
        ep = EpochResult(epoch, float(np.mean(losses)), acc, seconds, time.perf_counter() - t1, len(losses))
        result.steps += ep.steps
        result.epoch_seconds.append(round(ep.seconds, 4))
        result.eval_seconds.append(round(ep.eval_seconds, 4))
        result.epoch_loss.append(ep.loss)
        result.epoch_test_accuracy.append(acc)
        result.test_accuracy = acc
        if log:
            log(f"{fw.name:5s} epoch {epoch}/{epochs}  loss {ep.loss:.4f}  test_accuracy {acc:.4f}  "
                f"{ep.seconds:.1f} s train + {ep.eval_seconds:.1f} s eval  ({ep.steps} steps)")
        if not np.isfinite(ep.loss):
            result.diverged = True
            break
        if on_epoch and on_epoch(ep):
            break
    return result, model
