"""Time to accuracy (the DAWNBench figure): train until test accuracy reaches a target, R times.

Built on ``xbench.train.train`` (same data order and seeds in every framework).
Each repeat trains from scratch with seed ``seed + r``; it stops at the first
evaluation whose test accuracy is >= the target, or after ``max_epochs``.

Clocks (see ``xbench/train.py``):

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

Unstable runs are flagged, never dropped: ``diverged`` (a NaN/inf training
loss; training stops there), ``unstable`` when test accuracy fell
>= ``COLLAPSE_DROP`` (one point) below its best so far, or never rose above ``NO_LEARNING``.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Callable

from xbench.errors import UserError
from xbench.records import Record
from xbench.train import check_hyperparameters, steps_per_epoch
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


def check_settings(target: float, batch_size: int, lr: float, max_epochs: int, repeats: int = 1,
                   eval_every: int | None = None) -> None:
    """One UserError per bad value, before anything is trained or written."""
    if not 0 < target <= 1:
        raise UserError(f"--target must be an accuracy in (0, 1], e.g. 0.98, got {target:g}")
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


def summarize(result, target: float, per_epoch: int) -> Run:
    """A ``Run`` from a ``TrainResult`` whose curve holds every evaluation (pure: no training here)."""
    curve = result.curve
    hit = next((p for p in curve if p["test_accuracy"] >= target), None)
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
        diverged=result.diverged, max_drop=drop, stability=label, instability=why, curve=curve)


def measure(framework: str, spec: ModelSpec, data, target: float, batch_size: int, lr: float, max_epochs: int,
            repeats: int = 1, seed: int = 0, eval_every: int | None = None, progress: bool = True,
            log: Callable[[str], None] | None = None) -> list[Run]:
    """Train ``repeats`` times (seeds seed, seed+1, ...) until ``target``; one ``Run`` each."""
    from xbench.train import train

    check_settings(target, batch_size, lr, max_epochs, repeats, eval_every)
    per_epoch = steps_per_epoch(len(data.x_train), batch_size)
    runs = []
    for r in range(repeats):
        result, _ = train(framework, spec, data, max_epochs, batch_size, lr, seed + r, progress=progress,
                          log=log, eval_every=eval_every, on_eval=lambda p: p.test_accuracy >= target)
        run = summarize(result, target, per_epoch)
        runs.append(run)
        if log:
            log(f"{framework} repeat {r + 1}/{repeats} (seed {run.seed}): {run_line(run)}")
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


def make_record(framework: str, spec: ModelSpec, data, runs: list[Run], batch_size: int,
                lr: float, max_epochs: int, eval_every: int | None) -> Record:
    """The results record for one framework x batch size x learning rate (see the module docstring)."""
    target = runs[0].target
    reached = [r for r in runs if r.reached]
    all_reached = len(reached) == len(runs)
    identity = dict(task=TASK, framework=framework, runtime=framework, provider="cpu", model=spec.name,
                    batch_size=batch_size, variant=f"lr{lr:g}")
    samples = [r.train_s_to_target for r in reached]
    if all_reached:
        rec = Record.measured(samples, 1, **identity)
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
        "steps_per_epoch": steps_per_epoch(len(data.x_train), batch_size),
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
        "runs": [r.to_dict() for r in runs],
    }
    return rec


def summary_line(rec: dict) -> str:
    """One line per record (a ``Record.to_dict()``), for terminals and reports."""
    head = f"{rec['task']} {rec['framework']} {rec['model']} batch {rec['batch_size']} lr {rec['learning_rate']:g}:"
    n, k = rec["repeats"], rec["reached_repeats"]
    if rec["reached"]:
        s = rec["stats"]
        text = (f"reached {rec['target']:g} in {k}/{n} repeats; median {rec['train_s_to_target']:.1f} s training "
                f"(min {s['min']:.1f}, max {s['max']:.1f}), {rec['eval_s_to_target']:.1f} s evaluation, "
                f"{rec['wall_s_to_target']:.1f} s wall; {rec['epochs_to_target']:.2f} epochs, "
                f"{rec['steps_to_target']:g} steps")
    else:
        text = (f"reached: false ({k}/{n} repeats reached {rec['target']:g} within {rec['max_epochs']} epochs); "
                f"best accuracy {rec['best_accuracy']:.4f}")
    text += f"; {rec['time_per_epoch_s']:.2f} s/epoch, {rec['steps_per_s']:.0f} steps/s"
    if rec["stability"] != "stable":
        bad = next(r for r in rec["runs"] if r["stability"] != "stable")
        text += f"; {rec['stability'].upper()}: {bad['instability']}"
    return f"{head} {text}"


def cell_text(rec: dict) -> str:
    """A sweep table cell: time to target, or why there is none."""
    flag = {"stable": "", "unstable": " ⚠ unstable", "diverged": " ✗ diverged"}[rec["stability"]]
    if rec["reached"]:
        return f"{rec['train_s_to_target']:.1f} s ({rec['epochs_to_target']:.2f} ep){flag}"
    return f"not reached (best {rec['best_accuracy'] * 100:.2f}%){flag}"


def markdown_table(records: list[dict], framework: str) -> str:
    """Batch size x learning rate -> training time to target, then s/epoch and steps/s, for one framework."""
    recs = [r for r in records if r["framework"] == framework and r["task"] == TASK]
    if not recs:
        return ""
    lrs = sorted({r["learning_rate"] for r in recs})
    batches = sorted({r["batch_size"] for r in recs})
    cell = {(r["batch_size"], r["learning_rate"]): r for r in recs}
    r0 = recs[0]
    head = "| batch \\ lr | " + " | ".join(f"{lr:g}" for lr in lrs) + " |"
    rule = "|---:|" + "---:|" * len(lrs)

    def table(fmt) -> list[str]:
        return [head, rule] + [f"| {b} | " + " | ".join(fmt(cell[b, lr]) if (b, lr) in cell else "–" for lr in lrs)
                               + " |" for b in batches]

    return "\n".join([
        f"**{framework}**: training time to {r0['target'] * 100:g}% test accuracy (median of {r0['repeats']} "
        f"repeat(s); epochs to target in brackets; capped at {r0['max_epochs']} epochs per cell; {r0['data']})",
        "", *table(cell_text), "",
        f"**{framework}**: seconds per epoch of training · optimizer steps per second · largest fall of test "
        f"accuracy below its best so far (points; >= {COLLAPSE_DROP * 100:g} is flagged unstable)", "",
        *table(lambda r: f"{r['time_per_epoch_s']:.1f} s · {r['steps_per_s']:.0f}/s · "
                         f"{max(x['max_drop'] for x in r['runs']) * 100:.2f}"), "",
    ])
