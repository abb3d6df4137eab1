"""Judge the seed article's claims on paired seeds and write results/claims.json; print the lines of docs/claims.md.

usage: python scripts/claims_numbers.py [--write] [--sweep results/sweep-train/sweep.json] [--tta results/tta]
                                        [--step-time 'results/sweep-train/step_time_*.json'] [--out results/claims.json]

Without --write it prints the lines rendered from the committed results/claims.json (what scripts/sync_docs.py
puts into docs/claims.md); with --write it first re-derives every verdict from the runs (xbench.verdicts.claims: exact
sign test on paired seeds, censoring, Holm across the page), validates and writes results/claims.json.

Measures: steps to a target come from the training runs (they do not depend on the machine's load); a time to
target is steps x the cell's time per step, measured apart in alternating blocks in one process per framework
(scripts/claims_step_time.py, results/sweep-train/step_time_*.json).
"""

from __future__ import annotations

import argparse
import glob
import json
import statistics
from pathlib import Path

from xbench.verdicts import claims
from xbench.records import stats as st
from xbench.schema import read_results
from xbench.training.tta import mean_sd

SWEEP = Path("results/sweep-train/sweep.json")
TTA = Path("results/tta")
STEP_TIME = "results/sweep-train/step_time_*.json"
MORE = [Path("results/sweep-train/seeds-3-8/sweep.json"), Path("results/sweep-train/seeds-6-8-lr0.001/sweep.json"),
        Path("results/sweep-train/seeds-9-32/sweep.json")]
OUT = Path("results/claims.json")
SCHEMA = Path(__file__).resolve().parents[1] / "xbench" / "schema" / "claims.schema.json"
TARGETS = ("0.97", "0.98")
FW = {"keras": "Keras", "torch": "PyTorch", "keras-jax": "Keras (JAX)", "keras-torch": "Keras (PyTorch)"}
BACKENDS = ("keras-jax", "keras-torch")  # Keras's other backends: ranked by steps (own init; no step-time files)


def load(path: Path) -> list[dict]:
    return read_results(path)["records"]


class Cell:
    """The runs of one framework x batch x lr (shared init unless stated) pooled over several files, one run per
    seed (the first file that holds a seed wins): the claim cells ran seeds 0-2 in one sweep and the further
    seeds later; with shared init a seed's steps do not depend on when it ran."""

    def __init__(self, sources: list[tuple[Path, list[dict]]], fw: str, batch: int, lr: float, init: str = "shared"):
        self.fw, self.batch, self.lr, self.init = fw, batch, lr, init
        self.runs: dict[int, dict] = {}
        self.files: list[str] = []
        for path, records in sources:
            for r in records:
                if (r["framework"], r["batch_size"], r["learning_rate"], r.get("init", "own")) != (fw, batch, lr, init):
                    continue
                new = {run["seed"]: run for run in r["runs"] if run["seed"] not in self.runs}
                if new:
                    self.runs.update(new)
                    self.files.append(str(path))
                self.per_epoch = r["steps_per_epoch"]
        self.runs = dict(sorted(self.runs.items()))

    @property
    def seeds(self) -> list[int]:
        return list(self.runs)

    def name(self) -> str:
        seeds = f", seeds {_ranges(self.seeds)}" if self.runs else ", not run"
        return f"{FW[self.fw]} batch {self.batch} lr {self.lr:g} init {self.init}{seeds}"

    def obs(self, key: str, seeds: list[int]) -> list[claims.Obs]:
        """Steps to target per seed; a seed that did not reach it is censored at the steps it ran."""
        out = []
        for s in seeds:
            run = self.runs[s]
            hit = run["crossings"].get(key)
            out.append(claims.Obs(hit["step"]) if hit else claims.Obs(None, run["steps"]))
        return out

    def full(self, seed: int, epochs: int = 3) -> bool:
        """The seed trained at least ``epochs`` epochs (did not stop at its last target)."""
        return self.runs[seed]["steps"] >= epochs * self.per_epoch

    def value(self, seed: int, field: str) -> float:
        return self.runs[seed][field] * 100


def _ranges(seeds: list[int]) -> str:
    return f"{seeds[0]}–{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else ", ".join(map(str, seeds))


def common(*cells: Cell) -> list[int]:
    """Seeds every cell ran: the pairs."""
    seeds = set(cells[0].seeds)
    for c in cells[1:]:
        seeds &= set(c.seeds)
    return sorted(seeds)


# ---- time per step ------------------------------------------------------------------------------------------------

def step_times(pattern: str) -> dict:
    """Per framework: the blocks of every step-time file, pooled; per batch size the median seconds per step with
    its interval, and the batch-32 / batch-128 ratio of every adjacent block pair."""
    out: dict = {}
    for path in sorted(glob.glob(pattern)):
        doc = json.loads(Path(path).read_text())
        f = out.setdefault(doc["framework"], {"files": [], "pairs": [], "loadavg": [], "threads": doc["threads"],
                                              "steps_per_block": doc["steps_per_block"]})
        f["files"].append(path)
        f["pairs"] += doc["pairs"]
        f["loadavg"] += [doc["loadavg_before"][0], doc["loadavg_after"][0]]
    for f in out.values():
        for b in (32, 128):
            x = [p[f"b{b}_s_per_step"] for p in f["pairs"]]
            low, high, level = st.median_interval(x)
            f[f"b{b}"] = {"s_per_step": statistics.median(x), "interval": [low, high], "level": round(level, 4),
                          "blocks": len(x)}
        r = [p["b32_s_per_step"] / p["b128_s_per_step"] for p in f["pairs"]]
        low, high, level = st.median_interval(r)
        f["ratio_32_128"] = {"estimate": statistics.median(r), "interval": [low, high], "level": round(level, 4)}
    return out


def scale_same_fw(t: dict | None) -> tuple[float, float, float]:
    r = t["ratio_32_128"]
    return r["estimate"], *r["interval"]


def scale_cross_fw(k: dict, p: dict, b: int = 32) -> tuple[float, float, float]:
    """Keras / PyTorch time per step: two processes, so the interval is the conservative [k_lo/p_hi, k_hi/p_lo]."""
    k, p = k[f"b{b}"], p[f"b{b}"]
    return k["s_per_step"] / p["s_per_step"], k["interval"][0] / p["interval"][1], k["interval"][1] / p["interval"][0]


# ---- the verdicts -------------------------------------------------------------------------------------------------

def build(sweeps: list[Path], tta: Path = TTA, step_pattern: str = STEP_TIME) -> dict:
    shared = [(p, load(p)) for p in [*sweeps, *(tta / f"{fw}-b32-lr0.001-shared.json" for fw in ("keras", "torch"))]
              if p.is_file()]
    steps = step_times(step_pattern)
    st_files = {fw: steps[fw]["files"] for fw in steps}
    tests: list[tuple[claims.Paired, dict]] = []

    def add(section: str, test: claims.Paired, a: str, b: str, measure: str, sources: list[str], scale=None):
        tests.append((test, {"section": section, "cells": {"a": a, "b": b}, "measure": measure,
                             "sources": sorted({str(s) for s in sources}, key=[str(s) for s in sources].index),
                             **({"step_time_ratio": {"estimate": scale[0], "interval": [scale[1], scale[2]]}}
                                if scale else {})}))

    for fw in ("keras", "torch"):
        b32, b128 = Cell(shared, fw, 32, 1e-3), Cell(shared, fw, 128, 1e-3)
        seeds = common(b32, b128)
        t = steps.get(fw)
        for key in TARGETS:
            pct = f"{float(key) * 100:g} %"
            claim = f"{FW[fw]}: batch 32 reaches {pct} sooner than batch 128"
            if t is None:
                add("claim 2", claims.paired_ratio(claim, [], [], 1.0), b32.name(), b128.name(),
                    "time to target: no step-time measurement", [*b32.files, *b128.files])
                continue
            scale = scale_same_fw(t)
            test = claims.paired_ratio(claim, b32.obs(key, seeds), b128.obs(key, seeds), 1.0, scale=scale)
            add("claim 2", test, b32.name(), b128.name(), f"time to {pct} = steps x time per step (ratio A / B; "
                "a seed that did not reach it is censored at the steps it ran)",
                [*b32.files, *b128.files, *st_files[fw]], scale)
        if t is not None:
            spe = {b: -(-60000 // b) for b in (32, 128)}
            a = [claims.Obs(p["b32_s_per_step"] * spe[32]) for p in t["pairs"]]
            b = [claims.Obs(p["b128_s_per_step"] * spe[128]) for p in t["pairs"]]
            test = claims.paired_ratio(f"{FW[fw]}: an epoch costs more at batch 32 than at 128 (per-step overhead)",
                                       a, b, 1.0, claims.ABOVE, unit="block pair")
            add("claim 2", test, f"{FW[fw]} batch 32 ({spe[32]} steps/epoch)",
                f"{FW[fw]} batch 128 ({spe[128]} steps/epoch)",
                "training time of an epoch = steps per epoch x time per step, per adjacent block pair (ratio A / B)",
                st_files[fw])

    for fw in ("keras", "torch"):
        base, fast, high = (Cell(shared, fw, 32, lr) for lr in (1e-3, 3e-3, 3e-2))
        seeds = common(base, fast)
        note = "the same time per step: the learning rate does not change a step's work"
        test = claims.paired_ratio(f"{FW[fw]}: lr 3e-3 reaches 98 % sooner than lr 1e-3 (batch 32)",
                                   fast.obs("0.98", seeds), base.obs("0.98", seeds), 1.0)
        add("claim 3", test, fast.name(), base.name(), f"steps to 98 % (ratio A / B; {note})",
            [*fast.files, *base.files])
        test = claims.paired_ratio(f"{FW[fw]}: lr 3e-3 at least halves the time to 98 % (batch 32)",
                                   fast.obs("0.98", seeds), base.obs("0.98", seeds), 0.5)
        add("claim 3", test, fast.name(), base.name(), f"steps to 98 % (ratio A / B against 0.5; {note})",
            [*fast.files, *base.files])
        seeds = common(base, high)
        test = claims.paired_difference(
            f"{FW[fw]}: lr 3e-2 ends lower (best test accuracy below lr 1e-3's)",
            [base.value(s, "best_accuracy") for s in seeds], [high.value(s, "best_accuracy") for s in seeds],
            a_at_least=[not base.full(s) for s in seeds])
        add("claim 3", test, base.name(), high.name(), "best full-test accuracy of the run (difference A - B, "
            "points; an lr-1e-3 seed that stopped at 98 % before 3 epochs gives a lower bound of its 3-epoch best)",
            [*base.files, *high.files])
        seeds = [s for s in common(base, high) if base.full(s) and high.full(s)]
        test = claims.paired_difference(f"{FW[fw]}: lr 3e-2 falls further below its best than lr 1e-3",
                                        [high.value(s, "max_drop") for s in seeds],
                                        [base.value(s, "max_drop") for s in seeds])
        add("claim 3", test, high.name(), base.name(), "largest fall of full-test accuracy below its best so far, "
            f"seeds that trained all 3 epochs in both cells ({_ranges(seeds) if seeds else 'none'}; difference "
            "A - B, points)", [*high.files, *base.files])

    if "keras" in steps and "torch" in steps:
        scale = scale_cross_fw(steps["keras"], steps["torch"])
        k, p = Cell(shared, "keras", 32, 1e-3), Cell(shared, "torch", 32, 1e-3)
        seeds = common(k, p)
        test = claims.paired_ratio("init shared: Keras reaches 98 % sooner than PyTorch (batch 32, lr 1e-3)",
                                   k.obs("0.98", seeds), p.obs("0.98", seeds), 1.0, scale=scale)
        add("ranking", test, k.name(), p.name(), "time to 98 % = steps x time per step (ratio A / B; the two "
            "frameworks' step times come from separate processes)",
            [*k.files, *p.files, *st_files["keras"], *st_files["torch"]], scale)
        paths = [tta / f"{fw}-b32-lr0.001-own.json" for fw in ("keras", "torch")]
        own = [(path, load(path)) for path in paths]
        k, p = Cell(own, "keras", 32, 1e-3, "own"), Cell(own, "torch", 32, 1e-3, "own")
        seeds = common(k, p)
        test = claims.paired_ratio("init own: Keras reaches 98 % sooner than PyTorch (batch 32, lr 1e-3)",
                                   k.obs("0.98", seeds), p.obs("0.98", seeds), 1.0, scale=scale)
        add("ranking", test, k.name(), p.name(), "time to 98 % = steps x time per step (ratio A / B)",
            [*paths, *st_files["keras"], *st_files["torch"]], scale)
        test = claims.paired_ratio("init own: Keras needs fewer steps to 98 % than PyTorch (batch 32, lr 1e-3)",
                                   k.obs("0.98", seeds), p.obs("0.98", seeds), 1.0)
        add("ranking", test, k.name(), p.name(), "steps to 98 % (ratio A / B; own initial weights: the frameworks "
            "start from different weights and see the same data order)", paths)
        for fw in BACKENDS:  # the same Keras model on another backend, against PyTorch (issue 23)
            path = tta / f"{fw}-b32-lr0.001-own.json"
            if not path.is_file():
                continue
            b = Cell([(path, load(path))], fw, 32, 1e-3, "own")
            seeds = common(b, p)
            test = claims.paired_ratio(f"init own: {FW[fw]} needs fewer steps to 98 % than PyTorch (batch 32, lr 1e-3)",
                                       b.obs("0.98", seeds), p.obs("0.98", seeds), 1.0)
            add("ranking", test, b.name(), p.name(), "steps to 98 % (ratio A / B; own initial weights: the frameworks "
                "start from different weights and see the same data order)", [str(path), str(paths[1])])

    claims.decide([t for t, _ in tests])
    return {
        "what": "verdicts on the seed article's claims from paired seeds (docs/claims.md)",
        "test": claims.TEST,
        "alpha": claims.ALPHA,
        "correction": f"Holm across all {len(tests)} verdicts",
        "min_seeds": claims.MIN_SEEDS,
        "rule": "xbench.verdicts.claims",
        "verdicts": [entry(t, meta) for t, meta in tests],
        "step_time": _r({fw: {k: v for k, v in f.items() if k != "pairs"} for fw, f in steps.items()}),
        "time_to_target": _r(times_to_target(shared, steps)),
    }


def _r(x, digits: int = 4):
    """Round for the file: numbers to 4 significant digits, lists and dicts throughout; None and ints unchanged."""
    if isinstance(x, dict):
        return {k: _r(v, digits) for k, v in x.items()}
    if isinstance(x, list):
        return [_r(v, digits) for v in x]
    if isinstance(x, float) and x not in (float("inf"), float("-inf")):
        return float(f"{x:.{digits}g}")
    return x


def entry(t: claims.Paired, meta: dict) -> dict:
    return _r({
        "claim": t.claim,
        **meta,
        "unit": t.unit,
        "tested": {"kind": t.kind, "direction": t.direction, "value": t.c},
        "test": t.test,
        "effect": t.effect(),
        "p_raw": t.p,
        "p_holm": t.p_holm,
        "pairs": {"total": t.seeds, "decided": t.decided, "for": t.toward, "against": t.away,
                  "ties": t.counts["tie"], "undecided": t.counts["unknown"]},
        "verdict": t.verdict,
        "why": t.why,
    })


def times_to_target(shared: list[tuple[Path, list[dict]]], steps: dict) -> list[dict]:
    """Median steps to each target x the cell's time per step (its interval), for the cells of claim 2 and the
    ranking: the time to target the page states."""
    out = []
    for fw in ("keras", "torch"):
        if fw not in steps:
            continue
        for b in (32, 128):
            c = Cell(shared, fw, b, 1e-3)
            if not c.runs:
                continue
            tau = steps[fw][f"b{b}"]
            for key in ("0.97", "0.975", "0.98"):
                s = [o.value if o.value is not None else float("inf") for o in c.obs(key, c.seeds)]
                med = statistics.median(s)
                finite = med != float("inf")
                out.append({"cell": c.name(), "target": float(key), "reached": sum(v != float("inf") for v in s),
                            "seeds": len(s), "median_steps": med if finite else None,
                            "s_per_step": tau["s_per_step"], "s_per_step_interval": tau["interval"],
                            "time_s": med * tau["s_per_step"] if finite else None,
                            "time_interval": [med * tau["interval"][0], med * tau["interval"][1]] if finite
                            else [None, None],
                            "sources": [*c.files, *steps[fw]["files"]]})
    return out


# ---- rendering ----------------------------------------------------------------------------------------------------

def _num(v: float | None, kind: str) -> str:
    if v is None:
        return "–"
    return f"{v:.2f}" if kind == "ratio" else f"{v:+.2f} pt"


def _p(p: float) -> str:
    return f"{p:.2g}" if p >= 0.001 else f"{p:.1e}"


def verdict_line(v: dict) -> str:
    e, n = v["effect"], v["pairs"]
    kind = v["tested"]["kind"]
    op = "<" if v["tested"]["direction"] == claims.BELOW else ">"
    what = "A / B" if kind == "ratio" else "A − B"
    c = f"{v['tested']['value']:g}" + ("" if kind == "ratio" else " pt")
    effect = (f"median {_num(e['estimate'], kind)} [{_num(e['interval'][0], kind)}, {_num(e['interval'][1], kind)}]"
              f" ({e['level'] * 100:.1f} %, {e['pairs']} {v['unit']}s observed on both sides)" if e["pairs"]
              else "no pair observed on both sides")
    scale = v.get("step_time_ratio")
    tau = (f"; time-per-step ratio {scale['estimate']:.3f} [{scale['interval'][0]:.3f}, {scale['interval'][1]:.3f}]"
           if scale else "")
    return (f"- {v['claim']} — tested {what} {op} {c}: **{v['verdict']}**; {v['test']}, Holm p {_p(v['p_holm'])} "
            f"(raw {_p(v['p_raw'])}); {v['unit']}s decided {n['decided']}/{n['total']} ({n['for']} for, "
            f"{n['against']} against, {n['ties']} tied); effect {effect}{tau}; {v['why']}. A: {v['cells']['a']}; "
            f"B: {v['cells']['b']}; measure: {v['measure']} ({', '.join(f'`{s}`' for s in v['sources'])})")


def render(doc: dict, source: str = str(OUT)) -> list[str]:
    titles = {"claim 2": "Claim 2: smaller batches reach the target sooner; an epoch at batch 32 costs more",
              "claim 3": "Claim 3: a higher learning rate converges faster at first but is less stable",
              "ranking": "Framework ranking: Keras (on TensorFlow, JAX and PyTorch) vs PyTorch to 98 %, shared and own "
                         "initial weights"}
    out = [f"Every verdict below is one entry of `{source}` ({doc['test']}; {doc['correction']}; "
           f"holds / does not hold need a Holm-adjusted p < {doc['alpha']:g} and at least {doc['min_seeds']} seeds "
           "per cell).", ""]
    counts = {}
    for v in doc["verdicts"]:
        counts[v["verdict"]] = counts.get(v["verdict"], 0) + 1
    out += ["Verdicts: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + ".", "",
            "| claim | verdict | Holm p | effect: median [interval] | pairs for / against / undecided |",
            "|---|---|---:|---|---:|"]
    for v in doc["verdicts"]:
        e, kind = v["effect"], v["tested"]["kind"]
        effect = (f"{_num(e['estimate'], kind)} [{_num(e['interval'][0], kind)}, {_num(e['interval'][1], kind)}]"
                  if e["pairs"] else "–")
        n = v["pairs"]
        out.append(f"| {v['claim']} | {v['verdict']} | {_p(v['p_holm'])} | {effect} | "
                   f"{n['for']} / {n['against']} / {n['undecided']} |")
    out.append("")
    for section, title in titles.items():
        out += [f"### {title}", ""]
        out += [verdict_line(v) for v in doc["verdicts"] if v["section"] == section]
        out.append("")
    out += ["### Time per step, and time to target = steps x time per step", ""]
    for fw, f in doc["step_time"].items():
        parts = [f"batch {b} {f[f'b{b}']['s_per_step'] * 1e3:.3f} ms [{f[f'b{b}']['interval'][0] * 1e3:.3f}, "
                 f"{f[f'b{b}']['interval'][1] * 1e3:.3f}] ({f[f'b{b}']['blocks']} blocks, "
                 f"{f[f'b{b}']['level'] * 100:.1f} %)" for b in (32, 128)]
        r = f["ratio_32_128"]
        out.append(f"- {FW[fw]}, {f['threads']} thread: {'; '.join(parts)}; batch 32 / batch 128 per adjacent pair "
                   f"{r['estimate']:.3f} [{r['interval'][0]:.3f}, {r['interval'][1]:.3f}]; load average "
                   f"{min(f['loadavg']):.1f}–{max(f['loadavg']):.1f} on 2 cores while measured "
                   f"({', '.join(f'`{s}`' for s in f['files'])})")
    for t in doc["time_to_target"]:
        files = ", ".join(f"`{s}`" for s in t["sources"])
        if t["time_s"] is None:
            out.append(f"- {t['cell']}, {t['target'] * 100:g} %: reached by {t['reached']}/{t['seeds']} seeds, "
                       f"median not reached ({files})")
            continue
        out.append(f"- {t['cell']}, {t['target'] * 100:g} %: median {t['median_steps']:g} steps x "
                   f"{t['s_per_step'] * 1e3:.3f} ms = {t['time_s']:.1f} s [{t['time_interval'][0]:.1f}, "
                   f"{t['time_interval'][1]:.1f}] (interval of the time per step; reached by "
                   f"{t['reached']}/{t['seeds']} seeds) ({files})")
    return out + [""]


# ---- descriptive sections (no verdicts) ---------------------------------------------------------------------------

def _epoch_points(rec: dict) -> dict[int, dict]:
    if "plateau" in rec:
        return {p["epoch"]: p for p in rec["plateau"]}
    # older files (results/tta/*-0.99.json): one full-test evaluation per epoch in runs[].curve
    curves = [[p["test_accuracy"] for p in run["curve"]] for run in rec["runs"]]
    return {e + 1: mean_sd([c[e] for c in curves if len(c) > e]) for e in range(max(map(len, curves)))}


def plateau(tta: Path, sweep: Path, records: list[dict]) -> list[str]:
    out = ["### The plateau: full-test-set accuracy at the end of epoch 3, 5 and 10 (mean ± sd over seeds)", ""]
    sources = [(sweep, r) for r in records if r["batch_size"] == 32 and r["learning_rate"] == 1e-3]
    sources += [(p, load(p)[0]) for p in (tta / "keras-0.99.json", tta / "torch-0.99.json") if p.is_file()]
    for path, rec in sources:
        points = _epoch_points(rec)
        cells = [f"epoch {e}: {points[e]['mean'] * 100:.2f} ± {points[e]['sd'] * 100:.2f} % "
                 f"({points[e]['seeds']} seeds)" for e in (3, 5, 10) if e in points]
        out.append(f"- {rec['framework']}, init {rec.get('init', 'own')}, batch {rec['batch_size']} lr "
                   f"{rec['learning_rate']:g}, seeds {rec['seeds'][0]}–{rec['seeds'][-1]}: {'; '.join(cells)} "
                   f"(`{path}`)")
    return out + [""]


def resolution(records: list[dict], src: str) -> list[str]:
    out = ["### Resolution of the steps to target", ""]
    for r in records:
        res = r["resolution"]
        out.append(f"- {r['framework']} batch {r['batch_size']} lr {r['learning_rate']:g}: a measurement every "
                   f"{res['steps_between_measurements']} steps; full-test evaluations per seed (median) "
                   f"{res['full_test_evaluations']}, slice checks {res['slice_checks']} (`{src}`)")
    return out + [""]


def text(out: Path = OUT, sweep: Path = SWEEP, tta: Path = TTA) -> str:
    """The block of docs/claims.md: the verdicts rendered from results/claims.json, then the plateau and the
    resolution from the runs (scripts/sync_docs.py writes it)."""
    doc = json.loads(Path(out).read_text())
    records = load(sweep)
    return "\n".join([*render(doc, str(out)), *plateau(tta, sweep, records), *resolution(records, str(sweep))])


def validate(doc: dict) -> None:
    import jsonschema

    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))


def write(doc: dict, out: Path) -> None:
    from xbench.paths import atomic_write_text

    validate(doc)
    atomic_write_text(out, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="re-derive the verdicts and write --out")
    ap.add_argument("--sweep", type=Path, default=SWEEP, help="the first sweep (seeds 0-2, all epochs)")
    ap.add_argument("--more", type=Path, nargs="*", default=MORE, help="further sweeps of the same cells (more seeds)")
    ap.add_argument("--tta", type=Path, default=TTA)
    ap.add_argument("--step-time", default=STEP_TIME, help="glob of scripts/claims_step_time.py outputs")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    if args.write:
        write(build([args.sweep, *args.more], args.tta, args.step_time), args.out)
    print(text(args.out, args.sweep, args.tta))


if __name__ == "__main__":
    main()
