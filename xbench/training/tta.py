"""Time to accuracy (the DAWNBench figure): train until test accuracy reaches a target, R times.

Built on ``xbench.training.train.train`` (same data order and seeds in every framework).
Each repeat trains from scratch with seed ``seed + r``; it stops at the first
evaluation whose test accuracy is >= the target, or after ``max_epochs``.

Clocks (see ``xbench/training/train.py``):

- ``train_s_to_target`` -- the *training clock*: optimizer steps only (batch
  slicing, layout conversion, ``train_step`` ending in a host sync; the first
  step's tracing/warm-up included); evaluation excluded. This is the figure in
  ``samples_s``: it does not depend on how often accuracy is measured.
- ``eval_s_to_target`` -- the *evaluation clock*: test-set accuracy measurements.
- ``wall_s_to_target`` -- real time from the first step to the end of the
  evaluation that saw the target: both clocks plus the loop's overhead.

Imports, data loading and model build are outside every clock. Accuracy is
measured only at evaluation points (each epoch end, and every ``eval_every``
steps), so a time to target is the first *measured* crossing: it overstates the
true crossing by up to one evaluation interval.

One results record per framework x batch size x learning rate (task
``time_to_accuracy``). Status:

- ``ok``: every repeat reached the target; ``samples_s`` holds the per-repeat
  training-clock times to target and ``stats`` their median and spread.
- ``skipped`` (with ``reason`` starting "target ... not reached"): at least one
  repeat did not reach it within ``max_epochs``. That is a result, not an
  error: ``reached`` is false, ``best_accuracy`` and the curves are kept,
  ``samples_s`` lists only the repeats that did reach it and ``stats`` is null
  (a median over the survivors alone would flatter the configuration).

Several targets (``targets``, e.g. 0.97 and 0.975 below the primary 0.98) are read off the same runs;
``all_epochs`` keeps training to ``max_epochs`` after the last target so the plateau (test accuracy at
each epoch end) is measured too. Per target the record holds ``targets[...]``: the median training time
to it over seeds with ``median_ci95`` -- the order-statistic interval of ``xbench.records.stats.median_interval``,
the same as the benchmark records' (``ci_level`` states its real coverage: 75 % for 3 seeds, 93.8 % for
5, >= 95 % from 6) -- and the fraction of seeds that reached it. A seed that never reached a target
counts as an infinite time (a censored observation), so the median and the interval stay honest; they are
written as null where infinite.

With ``check_every=K`` accuracy is checked every K steps on a fixed 2,000-image slice of the test set and
confirmed on the full test set when the slice comes within one of its standard errors (0.31 points
at 98 %) of the lowest target not yet reached; a time to target is always a full-test-set measurement.

Unstable runs are flagged, never dropped: ``diverged`` (a NaN/inf training
loss; training stops there), ``unstable`` when test accuracy fell
>= ``COLLAPSE_DROP`` (one point) below its best so far, or never rose above ``NO_LEARNING``.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Callable

from xbench.records import stats as st
from xbench.errors import UserError
from xbench.records import Record
from xbench.training.shared_init import check_init
from xbench.training.train import check_hyperparameters, steps_per_epoch
from xbench.spec import ModelSpec

TASK = "time_to_accuracy"
# Stable runs of the seed recipe (Adam 1e-3, batch 32) dip up to ~0.5 points below their best on the
# 10,000-image test set (measured over 10 epochs; one standard error at 98% is 0.14 points), so a fall
# of a full point is instability, not noise. Every record keeps max_drop, so smaller wobbles stay visible.
COLLAPSE_DROP = 0.01
NO_LEARNING = 0.5  # best accuracy below this: the run never really trained (chance is 0.1)
CLOCK = ("samples_s = per-repeat training clock to target: optimizer steps only (batch slicing, layout conversion, "
         "train_step with its host sync; first-step warm-up included), evaluation excluded; eval_s_to_target = "
         "evaluation clock; wall_s_to_target = real time from the first step (both clocks + loop overhead). "
         "Imports, data loading and model build are outside every clock.")
CI_METHOD = ("order statistic: the narrowest symmetric pair of sorted per-seed times whose binomial coverage of the "
             "median is >= 95 %, or [min, max] with its real coverage (ci_level) when there are too few seeds; "
             "a seed that never reached the target counts as infinite (null)")


def check_settings(target: float, batch_size: int, lr: float, max_epochs: int, repeats: int = 1,
                   eval_every: int | None = None, targets: tuple[float, ...] = (), init: str = "own",
                   check_every: int | None = None) -> None:
    """One UserError per bad value, before anything is trained or written."""
    if not 0 < target <= 1:
        raise UserError(f"--target must be an accuracy in (0, 1], e.g. 0.98, got {target:g}")
    for t in targets:
        if not 0 < t <= 1:
            raise UserError(f"--also-targets must be accuracies in (0, 1], e.g. 0.97,0.975, got {t:g}")
    check_init(init)
    if check_every is not None and check_every <= 0:
        raise UserError(f"--check-every must be a positive number of steps, got {check_every}")
    check_hyperparameters(batch_size=batch_size, lr=lr, eval_every=eval_every)
    if max_epochs <= 0:
        raise UserError(f"--max-epochs must be a positive integer, got {max_epochs}")
    if repeats <= 0:
        raise UserError(f"--repeats must be a positive integer, got {repeats}")


@dataclass
class Run:
    """One repeat: whether and when it reached the target, and its whole curve."""
    seed: int
    target: float
    reached: bool
    steps: int  # optimizer steps run (up to the target, or all of max_epochs)
    epochs: float
    train_s: float
    eval_s: float
    wall_s: float
    best_accuracy: float
    final_accuracy: float
    steps_to_target: int | None
    epochs_to_target: float | None
    train_s_to_target: float | None
    eval_s_to_target: float | None
    wall_s_to_target: float | None
    time_per_epoch_s: float  # training clock per full pass over the training set (mean rate of this run)
    steps_per_s: float
    diverged: bool
    max_drop: float  # largest fall of accuracy below its best so far
    stability: str  # stable | unstable | diverged
    instability: str | None
    curve: list[dict] = field(default_factory=list)
    init: str = "own"
    crossings: dict = field(default_factory=dict)  # "0.97" -> first full-test-set point >= 0.97, or None
    epoch_accuracy: list[float] = field(default_factory=list)  # full test set at each completed epoch's end
    check_every: int | None = None
    check_images: int = 0
    checks: list[dict] = field(default_factory=list)  # slice checks (xbench.training.train)

    def to_dict(self) -> dict:
        return asdict(self)


def stability(curve: list[dict], diverged: bool) -> tuple[str, str | None, float]:
    """(label, why, max_drop) for one accuracy curve."""
    best, max_drop = 0.0, 0.0
    for p in curve:
        max_drop = max(max_drop, best - p["test_accuracy"])
        best = max(best, p["test_accuracy"])
    if diverged:
        step = curve[-1]["step"] if curve else "?"
        return "diverged", f"training loss became NaN/inf by step {step}", round(max_drop, 4)
    if max_drop >= COLLAPSE_DROP:
        return "unstable", f"test accuracy fell {max_drop * 100:.2f} points below its best so far", round(max_drop, 4)
    if curve and best < NO_LEARNING:
        return "unstable", f"never learned: best test accuracy {best:.3f}", round(max_drop, 4)
    return "stable", None, round(max_drop, 4)


def target_key(target: float) -> str:
    return f"{target:g}"


def first_crossing(curve: list[dict], target: float) -> dict | None:
    return next((p for p in curve if p["test_accuracy"] >= target), None)


def summarize(result, target: float, per_epoch: int, targets: tuple[float, ...] = ()) -> Run:
    """A ``Run`` from a ``TrainResult`` whose curve holds every evaluation (pure: no training here)."""
    curve = result.curve
    crossings = {}
    for t in sorted({target, *targets}):
        p = first_crossing(curve, t)
        crossings[target_key(t)] = p and {k: p[k] for k in ("step", "epoch", "train_s", "eval_s", "wall_s")}
    hit = crossings[target_key(target)]
    last = curve[-1]
    label, why, drop = stability(curve, result.diverged)
    return Run(
        seed=result.seed, target=target, reached=hit is not None, steps=result.steps,
        epochs=round(result.steps / per_epoch, 4), train_s=last["train_s"], eval_s=last["eval_s"],
        wall_s=last["wall_s"], best_accuracy=max(p["test_accuracy"] for p in curve),
        final_accuracy=last["test_accuracy"],
        steps_to_target=hit and hit["step"], epochs_to_target=hit and hit["epoch"],
        train_s_to_target=hit and hit["train_s"], eval_s_to_target=hit and hit["eval_s"],
        wall_s_to_target=hit and hit["wall_s"],
        time_per_epoch_s=round(last["train_s"] / result.steps * per_epoch, 4) if result.steps else 0.0,
        steps_per_s=round(result.steps / last["train_s"], 2) if last["train_s"] > 0 else 0.0,
        diverged=result.diverged, max_drop=drop, stability=label, instability=why, curve=curve,
        init=result.init, crossings=crossings,
        epoch_accuracy=[p["test_accuracy"] for p in curve if p["step"] and p["step"] % per_epoch == 0],
        check_every=result.check_every, check_images=result.check_images, checks=result.checks)


class _Targets:
    """Which targets a run still has to reach: decides when to confirm a slice check and when to stop."""

    def __init__(self, targets: list[float], check_images: int, all_epochs: bool):
        self.pending = sorted(targets)
        self.check_images = check_images
        self.all_epochs = all_epochs

    def on_eval(self, point) -> bool:
        self.pending = [t for t in self.pending if point.test_accuracy < t]
        return not self.pending and not self.all_epochs

    def confirm(self, slice_accuracy: float) -> bool:
        """True when the slice is within one of its standard errors of the lowest target not yet reached."""
        if not self.pending:
            return False
        t = self.pending[0]
        return slice_accuracy >= t - math.sqrt(t * (1 - t) / max(1, self.check_images))


def measure(framework: str, spec: ModelSpec, data, target: float, batch_size: int, lr: float, max_epochs: int,
            repeats: int = 1, seed: int = 0, eval_every: int | None = None, progress: bool = True,
            log: Callable[[str], None] | None = None, *, targets: tuple[float, ...] = (),
            check_every: int | None = None, init: str = "own", all_epochs: bool = False) -> list[Run]:
    """Train ``repeats`` times (seeds seed, seed+1, ...) until every target is reached (or, with
    ``all_epochs``, for ``max_epochs``); one ``Run`` each."""
    from xbench.training.train import check_slice, train

    check_settings(target, batch_size, lr, max_epochs, repeats, eval_every, targets, init, check_every)
    per_epoch = steps_per_epoch(len(data.x_train), batch_size)
    check_images = len(check_slice(len(data.x_test))) if check_every else 0
    runs = []
    for r in range(repeats):
        pending = _Targets([target, *targets], check_images, all_epochs)
        result, _ = train(framework, spec, data, max_epochs, batch_size, lr, seed + r, progress=progress,
                          log=log, eval_every=eval_every, on_eval=pending.on_eval, init=init,
                          check_every=check_every, confirm=pending.confirm)
        run = summarize(result, target, per_epoch, targets)
        runs.append(run)
        if log:
            log(f"{framework} repeat {r + 1}/{repeats} (seed {run.seed}, init {init}): {run_line(run)}")
    return runs


def run_line(run: Run) -> str:
    if run.reached:
        text = (f"reached {run.target:g} at epoch {run.epochs_to_target:.2f} (step {run.steps_to_target}): "
                f"{run.train_s_to_target:.1f} s training + {run.eval_s_to_target:.1f} s eval, "
                f"{run.wall_s_to_target:.1f} s wall")
    else:
        text = (f"NOT reached {run.target:g} in {run.epochs:.2f} epochs ({run.train_s:.1f} s training); "
                f"best {run.best_accuracy:.4f}, final {run.final_accuracy:.4f}")
    return text + ("" if run.stability == "stable" else f"  [{run.stability.upper()}: {run.instability}]")


def _median(values: list) -> float | None:
    return round(statistics.median(values), 4) if values else None


def _finite(x: float) -> float | None:
    return round(x, 4) if math.isfinite(x) else None


def target_summary(runs: list[Run], key: str) -> dict:
    """Time to one target over seeds: median with its order-statistic interval, and how many seeds got there.

    A seed that did not reach the target counts as infinitely slow, so a cell where most seeds failed has an
    infinite (null) median, and one failure widens the interval instead of vanishing from it."""
    hits = [r.crossings.get(key) for r in runs]
    times = [h["train_s"] if h else math.inf for h in hits]
    low, high, level = st.median_interval(times)
    reached = sum(h is not None for h in hits)
    return {
        "target": float(key),
        "seeds": len(runs),
        "reached": reached,
        "reached_fraction": round(reached / len(runs), 4),
        "median_s": _finite(statistics.median(times)),
        "median_ci95": [_finite(low), _finite(high)],
        "ci_level": round(level, 4),
        "train_s": [_finite(t) for t in times],
        "epochs": [h and h["epoch"] for h in hits],
        "steps": [h and h["step"] for h in hits],
    }


def mean_sd(values: list[float]) -> dict:
    return {"mean": round(statistics.mean(values), 5), "sd": round(statistics.stdev(values), 5) if len(values) > 1
            else 0.0, "min": min(values), "max": max(values), "seeds": len(values)}


def plateau(runs: list[Run]) -> list[dict]:
    """Full-test-set accuracy at each epoch end, mean and standard deviation over the seeds that got there."""
    longest = max(len(r.epoch_accuracy) for r in runs)
    return [{"epoch": e + 1, **mean_sd([r.epoch_accuracy[e] for r in runs if len(r.epoch_accuracy) > e])}
            for e in range(longest)]


def variant(lr: float, init: str) -> str:
    return f"lr{lr:g}" + ("" if init == "own" else f"-init_{init}")


def make_record(framework: str, spec: ModelSpec, data, runs: list[Run], batch_size: int,
                lr: float, max_epochs: int, eval_every: int | None, all_epochs: bool = False) -> Record:
    """The results record for one framework x batch size x learning rate (see the module docstring)."""
    target = runs[0].target
    init = runs[0].init
    reached = [r for r in runs if r.reached]
    all_reached = len(reached) == len(runs)
    identity = dict(task=TASK, framework=framework, runtime=framework, provider="cpu", model=spec.name,
                    batch_size=batch_size, variant=variant(lr, init))
    samples = [r.train_s_to_target for r in reached]
    per_epoch = steps_per_epoch(len(data.x_train), batch_size)
    if all_reached:
        rec = Record.measured([[s] for s in samples], 1, **identity)  # one block per seed: the interval is over seeds
        rec.throughput = None  # batch / time-to-target means nothing; samples_per_s is in the record
    else:
        worst = [r for r in runs if r.stability != "stable"]
        why = f"; {worst[0].stability}: {worst[0].instability}" if worst else ""
        rec = Record(status="skipped", samples_s=samples,
                     reason=(f"target {target:g} not reached in {len(runs) - len(reached)} of {len(runs)} repeats "
                             f"within {max_epochs} epochs; best test accuracy "
                             f"{max(r.best_accuracy for r in runs):.4f}{why}"), **identity)
    flags = [r.stability for r in runs]
    steps_per_s = _median([r.steps_per_s for r in runs])
    rec.extra = {
        "target": target,
        "reached": all_reached,
        "reached_repeats": len(reached),
        "repeats": len(runs),
        "learning_rate": lr,
        "optimizer": "adam",
        "max_epochs": max_epochs,
        "eval_every_steps": eval_every,
        "steps_per_epoch": per_epoch,
        "data": data.label,
        "data_kind": data.kind,
        "data_source": data.file_name,
        "seeds": [r.seed for r in runs],
        "clock": CLOCK,
        # medians over repeats; the *_to_target ones only when every repeat reached the target
        "train_s_to_target": _median(samples) if all_reached else None,
        "eval_s_to_target": _median([r.eval_s_to_target for r in runs]) if all_reached else None,
        "wall_s_to_target": _median([r.wall_s_to_target for r in runs]) if all_reached else None,
        "epochs_to_target": _median([r.epochs_to_target for r in runs]) if all_reached else None,
        "steps_to_target": _median([r.steps_to_target for r in runs]) if all_reached else None,
        "best_accuracy": max(r.best_accuracy for r in runs),
        "time_per_epoch_s": _median([r.time_per_epoch_s for r in runs]),
        "steps_per_s": steps_per_s,
        "samples_per_s": round(steps_per_s * batch_size, 1),
        "diverged": any(r.diverged for r in runs),
        "unstable": any(f != "stable" for f in flags),
        "stability": "diverged" if "diverged" in flags else "unstable" if "unstable" in flags else "stable",
        "init": init,
        "all_epochs": all_epochs,
        "targets": {k: target_summary(runs, k) for k in runs[0].crossings},
        "ci_method": CI_METHOD,
        "best_accuracy_over_seeds": mean_sd([r.best_accuracy for r in runs]),
        "plateau": plateau(runs),
        "resolution": resolution(runs, eval_every, steps_per_s, per_epoch),
        "runs": [r.to_dict() for r in runs],
    }
    return rec


def resolution(runs: list[Run], eval_every: int | None, steps_per_s: float | None, per_epoch: int) -> dict:
    """How finely a time to target is resolved: training seconds between two accuracy measurements."""
    check_every = runs[0].check_every
    every = min(k for k in (check_every, eval_every, per_epoch) if k)
    return {
        "check_every_steps": check_every,
        "check_images": runs[0].check_images,
        "eval_every_steps": eval_every,
        "steps_between_measurements": every,
        "train_s_between_measurements": round(every / steps_per_s, 3) if steps_per_s else None,
        "full_test_evaluations": _median([len(r.curve) for r in runs]),
        "slice_checks": _median([len(r.checks) for r in runs]),
        "rule": (f"a check every {check_every} steps on a fixed {runs[0].check_images}-image test slice; the full "
                 "test set at each epoch end and whenever the slice came within one standard error of the lowest "
                 "target not yet reached" if check_every else "the full test set at each measurement"),
    }
