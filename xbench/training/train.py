"""One training loop for every framework: same data order, same seeds, same clock.

Each epoch visits the training set in the order of
``numpy.random.default_rng([seed, epoch]).permutation`` (the last batch may be
smaller), calls the framework's ``train_step`` per batch and then measures test
accuracy (and, with ``eval_every=K``, also after every K steps within an epoch).

Clocks (all ``time.perf_counter``; framework import, data loading and model
build are outside every clock):

- training clock (``epoch_seconds``, ``EvalPoint.train_s``): the optimizer
  steps only -- batch slicing, layout conversion and ``train_step`` (which
  ends in a host sync); the first step's graph tracing / warm-up is included,
  because a user pays it too. Evaluation is excluded.
- evaluation clock (``eval_seconds``, ``EvalPoint.eval_s``): test-set accuracy.
- ``EvalPoint.wall_s``: real time since the first step, i.e. both clocks plus
  the loop's own overhead (data order, progress bar, callbacks).

Checks (``check_every=K``): a cheap accuracy measurement every K steps on a fixed
slice of the test set (``CHECK_IMAGES`` images, chosen once by ``check_slice``); when
``confirm(slice_accuracy)`` says so, the whole test set is measured at that step too
(a point on ``curve``). Checks run on the evaluation clock, never the training clock;
each lands in ``checks``.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from xbench import data as mnist
from xbench.bench.accuracy import top1
from xbench import frameworks
from xbench.bench import threads
from xbench.errors import UserError
from xbench.spec import ModelSpec

CHECK_IMAGES = 2000  # the check slice: one standard error is 0.31 points at 98 % (0.14 on 10,000 images)


def check_slice(n_test: int) -> np.ndarray:
    """Indices of the fixed check slice: CHECK_IMAGES test images (half the test set when it is smaller),
    drawn once with a fixed seed, the same for every framework, seed and cell."""
    k = min(CHECK_IMAGES, n_test // 2)
    return np.sort(np.random.default_rng(20261129).choice(n_test, size=k, replace=False))


@dataclass
class EvalPoint:
    """One test-accuracy measurement: a point on the accuracy-vs-time curve."""
    epoch: float  # epochs of data seen (fractional for mid-epoch evaluations)
    step: int  # optimizer steps so far
    train_s: float  # training clock so far
    eval_s: float  # evaluation clock so far, this evaluation included
    wall_s: float  # real time since the first step
    test_accuracy: float
    loss: float  # mean training loss over the steps since the previous point (nan if a step diverged)

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("epoch", "train_s", "eval_s", "wall_s"):
            d[k] = round(d[k], 4)
        d["loss"] = d["loss"] if math.isfinite(d["loss"]) else None  # strict JSON has no NaN
        return d


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
    diverged: bool = False  # a training loss was NaN or infinite (training stopped there)
    eval_every: int | None = None  # steps between mid-epoch evaluations (None: after each epoch only)
    curve: list[dict] = field(default_factory=list)  # EvalPoint.to_dict() per evaluation
    init: str = "own"  # own | shared (xbench.training.shared_init)
    check_every: int | None = None  # steps between slice checks (None: no checks)
    check_images: int = 0
    checks: list[dict] = field(default_factory=list)  # {step, epoch, train_s, slice_accuracy, confirmed}

    def to_dict(self) -> dict:
        return asdict(self)


def check_hyperparameters(epochs: int | None = None, batch_size: int | None = None, lr: float | None = None,
                          eval_every: int | None = None) -> None:
    if epochs is not None and epochs <= 0:
        raise UserError(f"--epochs must be a positive integer, got {epochs}")
    if batch_size is not None and batch_size <= 0:
        raise UserError(f"--batch-size must be a positive integer, got {batch_size}")
    if lr is not None and not lr > 0:
        raise UserError(f"--lr must be a positive number, got {lr}")
    if eval_every is not None and eval_every <= 0:
        raise UserError(f"--eval-every must be a positive number of steps, got {eval_every}")


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimizer steps in one pass over n images (the last batch may be short)."""
    return -(-n // batch_size)


def evaluate(fw, model, predict, spec: ModelSpec, x_test: np.ndarray, y_test: np.ndarray) -> float:
    return top1(lambda xb: fw.to_numpy(predict(fw.to_native(model, xb)[0])), x_test, y_test)


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def train(framework: str, spec: ModelSpec, data: mnist.Mnist, epochs: int, batch_size: int, lr: float,
          seed: int = 0, progress: bool = True, log: Callable[[str], None] | None = None,
          eval_every: int | None = None,
          on_eval: Callable[[EvalPoint], bool] | None = None, init: str = "own",
          check_every: int | None = None,
          confirm: Callable[[float], bool] | None = None) -> tuple[TrainResult, object]:
    """Train from scratch; ``on_eval`` may return True to stop early. Returns (result, model).

    ``eval_every=K`` also measures test accuracy after every K steps within an epoch (the count restarts
    each epoch; the end of an epoch is always evaluated). ``check_every=K`` measures the check slice every K
    steps within an epoch and the whole test set where ``confirm(slice_accuracy)`` is true. ``init="shared"``
    starts from ``xbench.training.shared_init.shared_weights(spec, seed)``. A non-finite loss stops training at that step.
    """
    from tqdm import tqdm

    from xbench.training.shared_init import check_init, shared_weights
    from xbench.bench.cases import predict_fn, train_step

    check_hyperparameters(epochs, batch_size, lr, eval_every)
    check_hyperparameters(eval_every=check_every)
    check_init(init)
    if spec.num_classes is None:
        raise UserError(f"model {spec.name} has no classifier head (last layer softmax Dense); it cannot be trained")
    fw = frameworks.get(framework)
    model = fw.build(spec, seed)
    if init == "shared":
        fw.set_weights(model, spec, shared_weights(spec, seed))
    _, step = train_step(fw, spec, model=model, lr=lr)
    x_train = mnist.images(data.x_train, spec.input_shape)
    y_train = data.y_train.astype(np.int64)
    x_test = mnist.images(data.x_test, spec.input_shape)
    y_test = data.y_test.astype(np.int64)
    result = TrainResult(framework=fw.name, model=spec.name, epochs=epochs, batch_size=batch_size,
                         learning_rate=lr, seed=seed, data=data.label, data_source=data.file_name,
                         threads=threads.count(), eval_every=eval_every, init=init, check_every=check_every)
    picked = check_slice(len(x_test)) if check_every else np.arange(0)
    x_check, y_check = x_test[picked], y_test[picked]
    result.check_images = len(picked)
    predict = None
    n = len(x_train)
    per_epoch = steps_per_epoch(n, batch_size)
    train_s = eval_s = 0.0
    since_eval: list[float] = []  # losses since the previous evaluation
    t_start = time.perf_counter()

    def accuracy(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """(accuracy on x, y, seconds it took), on the evaluation clock; the training clock is paused."""
        nonlocal predict, eval_s
        t = time.perf_counter()
        predict = predict or predict_fn(fw, spec, model=model)[1]
        acc = evaluate(fw, model, predict, spec, x, y)
        seconds = time.perf_counter() - t
        eval_s += seconds
        return acc, seconds

    def measure() -> tuple[EvalPoint, float]:
        """Evaluate on the whole test set now and append the point to the curve."""
        acc, seconds = accuracy(x_test, y_test)
        point = EvalPoint(epoch=result.steps / per_epoch, step=result.steps, train_s=train_s, eval_s=eval_s,
                          wall_s=time.perf_counter() - t_start, test_accuracy=acc,
                          loss=float(np.mean(since_eval)) if since_eval else float("nan"))
        since_eval.clear()
        result.curve.append(point.to_dict())
        return point, seconds

    def check() -> tuple[float, float]:
        """Accuracy on the check slice now, recorded in ``checks``."""
        acc, seconds = accuracy(x_check, y_check)
        result.checks.append({"step": result.steps, "epoch": round(result.steps / per_epoch, 4),
                              "train_s": round(train_s, 4), "slice_accuracy": acc, "confirmed": False})
        return acc, seconds

    stop = False
    for epoch in range(1, epochs + 1):
        order = epoch_order(n, seed, epoch)
        losses = []
        bar = tqdm(range(per_epoch), desc=f"{fw.name} epoch {epoch}/{epochs}", unit="step",
                   disable=not progress or None, leave=False, file=sys.stderr, mininterval=0.5)
        seconds = epoch_eval_s = 0.0
        t0 = time.perf_counter()
        for i in bar:
            idx = order[i * batch_size:(i + 1) * batch_size]
            x, y = fw.to_native(model, x_train[idx], y_train[idx])
            loss = step(x, y)
            losses.append(loss)
            since_eval.append(loss)
            result.steps += 1
            if not math.isfinite(loss):  # diverged: every later step would be NaN too
                result.diverged = True
                break
            if i % 50 == 0:
                bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
            due_eval = bool(eval_every) and (i + 1) % eval_every == 0 and i + 1 < per_epoch
            due_check = bool(check_every) and (i + 1) % check_every == 0 and i + 1 < per_epoch
            if due_eval or due_check:
                dt = time.perf_counter() - t0
                seconds += dt
                train_s += dt
                if due_check and not due_eval:
                    sliced, es = check()
                    epoch_eval_s += es
                    due_eval = bool(confirm and confirm(sliced))
                    result.checks[-1]["confirmed"] = due_eval
                if due_eval:
                    point, es = measure()
                    epoch_eval_s += es
                    if log:
                        log(f"{fw.name:5s} epoch {point.epoch:.2f}  step {point.step}  test_accuracy "
                            f"{point.test_accuracy:.4f}  {train_s:.1f} s train + {eval_s:.1f} s eval")
                    if on_eval and on_eval(point):
                        stop = True
                        break
                t0 = time.perf_counter()
        if not stop:
            dt = time.perf_counter() - t0
            seconds += dt
            train_s += dt
        bar.close()
        if not stop:  # a mid-epoch stop already has its evaluation
            point, es = measure()
            epoch_eval_s += es
        loss = float(np.mean(losses))
        result.epoch_seconds.append(round(seconds, 4))
        result.eval_seconds.append(round(epoch_eval_s, 4))
        result.epoch_loss.append(loss)
        result.epoch_test_accuracy.append(point.test_accuracy)
        result.test_accuracy = point.test_accuracy
        if stop:
            break
        if log:
            log(f"{fw.name:5s} epoch {epoch}/{epochs}  loss {loss:.4f}  test_accuracy {point.test_accuracy:.4f}  "
                f"{seconds:.1f} s train + {epoch_eval_s:.1f} s eval  ({len(losses)} steps)")
        if result.diverged or (on_eval and on_eval(point)):
            break
    return result, model
