"""Print the verdicts and numbers behind docs/claims.md from the committed results files (issue 15).

usage: python scripts/claims_numbers.py [--sweep results/sweep-train/sweep.json] [--tta results/tta]

Every line names the file its numbers come from. Verdicts come from xbench.claims.judge (order-statistic
intervals of the median over seeds; a seed that never reached a target counts as infinite).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from xbench import claims
from xbench.schema import read_results
from xbench.tta import mean_sd

TARGETS = ("0.97", "0.975", "0.98")


def load(path: Path) -> list[dict]:
    return read_results(path)["records"]


def cell(records: list[dict], fw: str, batch: int, lr: float) -> dict:
    return next(r for r in records if r["framework"] == fw and r["batch_size"] == batch and r["learning_rate"] == lr)


def times(rec: dict, key: str) -> list[float | None]:
    return rec["targets"][key]["train_s"]


def per_seed(rec: dict, field: str) -> list[float]:
    return [run[field] for run in rec["runs"]]


def reached(rec: dict, key: str) -> str:
    t = rec["targets"][key]
    return f"{t['reached']}/{t['seeds']}"


def line(claim: str, v: claims.Verdict, a: str, b: str, source: str, **fmt) -> str:
    return f"- {claim}: {claims.sentence(v, a, b, **fmt)} (`{source}`)"


def batch_size(records: list[dict], src: str) -> list[str]:
    out = ["### Claim 2: smaller batches reach the target sooner (batch 32 vs 128, Adam lr 1e-3)", ""]
    for fw in ("keras", "torch"):
        b32, b128 = cell(records, fw, 32, 1e-3), cell(records, fw, 128, 1e-3)
        for key in TARGETS:
            v = claims.judge(times(b32, key), times(b128, key))
            out.append(line(f"{fw}, time to {float(key) * 100:g} % (reached {reached(b32, key)} vs "
                            f"{reached(b128, key)} seeds)", v, "batch 32", "batch 128", src))
        v = claims.judge_larger(per_seed(b32, "time_per_epoch_s"), per_seed(b128, "time_per_epoch_s"))
        out.append(line(f"{fw}, an epoch costs more at batch 32 (per-step overhead)", v, "batch 32", "batch 128",
                        src, unit="s/epoch", digits=2))
    return out + [""]


def learning_rate(records: list[dict], src: str) -> list[str]:
    out = ["### Claim 3: a higher learning rate converges faster at first but is less stable (batch 32)", ""]
    for fw in ("keras", "torch"):
        base, fast, high = (cell(records, fw, 32, lr) for lr in (1e-3, 3e-3, 3e-2))
        for key in TARGETS:
            v = claims.judge(times(fast, key), times(base, key))
            out.append(line(f"{fw}, lr 3e-3 reaches {float(key) * 100:g} % sooner than lr 1e-3 (reached "
                            f"{reached(fast, key)} vs {reached(base, key)})", v, "lr 3e-3", "lr 1e-3", src))
        key = "0.98"
        halved = [None if t is None else 2 * t for t in times(fast, key)]
        v = claims.judge(halved, times(base, key))
        out.append(line(f"{fw}, lr 3e-3 at least halves the time to 98 % (twice its time vs lr 1e-3's)", v,
                        "2 x lr 3e-3", "lr 1e-3", src))
        v = claims.judge_larger(per_seed(base, "best_accuracy"), per_seed(high, "best_accuracy"))
        out.append(line(f"{fw}, lr 3e-2 ends lower: best test accuracy of lr 1e-3 above lr 3e-2's", v, "lr 1e-3",
                        "lr 3e-2", src, unit="%", scale=100, digits=2))
        v = claims.judge_larger(per_seed(high, "max_drop"), per_seed(base, "max_drop"))
        out.append(line(f"{fw}, lr 3e-2 falls further below its best (largest fall, points)", v, "lr 3e-2",
                        "lr 1e-3", src, unit="pt", scale=100, digits=2))
        flags = [r["stability"] for r in high["runs"]]
        out.append(f"- {fw}, lr 3e-2 seeds flagged: {', '.join(flags)} (`{src}`)")
    return out + [""]


def ranking(tta: Path) -> list[str]:
    out = ["### Framework ranking: Keras vs PyTorch to the same target, own vs shared initial weights "
           "(batch 32, lr 1e-3)", ""]
    for init in ("own", "shared"):
        paths = {fw: tta / f"{fw}-b32-lr0.001-{init}.json" for fw in ("keras", "torch")}
        k, t = (load(paths[fw])[0] for fw in ("keras", "torch"))
        src = f"{paths['keras']}, {paths['torch']}"
        for key in TARGETS:
            v = claims.judge(times(k, key), times(t, key))
            out.append(line(f"init {init}: Keras reaches {float(key) * 100:g} % sooner in training time (reached "
                            f"{reached(k, key)} vs {reached(t, key)})", v, "Keras", "PyTorch", src))
            v = claims.judge(k["targets"][key]["steps"], t["targets"][key]["steps"])
            out.append(line(f"init {init}: Keras needs fewer steps to {float(key) * 100:g} %", v, "Keras", "PyTorch",
                            src, unit="steps", digits=0))
        v = claims.judge(per_seed(k, "time_per_epoch_s"), per_seed(t, "time_per_epoch_s"))
        out.append(line(f"init {init}: a Keras epoch takes less training time", v, "Keras", "PyTorch", src,
                        unit="s/epoch", digits=2))
    return out + [""]


def _epoch_points(rec: dict) -> dict[int, dict]:
    if "plateau" in rec:
        return {p["epoch"]: p for p in rec["plateau"]}
    # older files (results/tta/*-0.99.json): one full-test evaluation per epoch in runs[].curve
    curves = [[p["test_accuracy"] for p in run["curve"]] for run in rec["runs"]]
    return {e + 1: mean_sd([c[e] for c in curves if len(c) > e]) for e in range(max(map(len, curves)))}


def plateau(tta: Path, sweep: Path, records: list[dict]) -> list[str]:
    """``records``: the sweep's (``sweep``'s, already read)."""
    out = ["### The plateau: full-test-set accuracy at the end of epoch 3, 5 and 10 (mean ± sd over seeds)", ""]
    sources = [(sweep, r) for r in records if r["batch_size"] == 32 and r["learning_rate"] == 1e-3]
    sources += [(p, load(p)[0]) for p in (tta / "keras-0.99.json", tta / "torch-0.99.json") if p.is_file()]
    for path, rec in sources:
        points = _epoch_points(rec)
        cells = [f"epoch {e}: {points[e]['mean'] * 100:.2f} ± {points[e]['sd'] * 100:.2f} % "
                 f"({points[e]['seeds']} seeds)" for e in (3, 5, 10) if e in points]
        out.append(f"- {rec['framework']}, init {rec.get('init', 'own')}, batch {rec['batch_size']} lr "
                   f"{rec['learning_rate']:g}, seeds {rec['seeds']}: {'; '.join(cells)} (`{path}`)")
    return out + [""]


def resolution(records: list[dict], src: str) -> list[str]:
    out = ["### Resolution of the time to target vs its spread over seeds", ""]
    for r in records:
        res, t = r["resolution"], r["targets"]["0.98"]
        lo, hi = t["median_ci95"]
        width = f"{hi - lo:.1f} s" if lo is not None and hi is not None else "open"
        out.append(f"- {r['framework']} batch {r['batch_size']} lr {r['learning_rate']:g}: a measurement every "
                   f"{res['steps_between_measurements']} steps = {res['train_s_between_measurements']} s of training; "
                   f"interval of the median time to 98 %: {width}; full-test evaluations per seed (median) "
                   f"{res['full_test_evaluations']}, slice checks {res['slice_checks']} (`{src}`)")
    return out + [""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sweep", type=Path, default=Path("results/sweep-train/sweep.json"))
    ap.add_argument("--tta", type=Path, default=Path("results/tta"))
    args = ap.parse_args()
    print(text(args.sweep, args.tta))


def text(sweep: Path = Path("results/sweep-train/sweep.json"), tta: Path = Path("results/tta")) -> str:
    """Every verdict line, each naming its file (scripts/sync_docs.py writes it into docs/claims.md)."""
    records = load(sweep)
    src = str(sweep)
    return "\n".join([*batch_size(records, src), *learning_rate(records, src), *ranking(tta),
                      *plateau(tta, sweep, records), *resolution(records, src)])


if __name__ == "__main__":
    main()
