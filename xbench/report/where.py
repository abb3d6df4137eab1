""""Where should it run": per model, every runtime x precision with its speed, cold start and accuracy, and the
fastest rows among those that keep the fp32 model's accuracy (within ``ACCURACY_POINTS``, MLPerf's 99 % rule).

Only results files that carry ``accuracy`` (schema 1.3 and later) get the table.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from xbench.precision import ACCURACY_POINTS
from xbench.report import fmt
from xbench.report.data import Run, column, median_s
from xbench.report.doc import Strong, Table
from xbench.serve import search as search_status

SMALL = 1  # the latency column's batch
NOOP = "noop"  # xbench serve's no-op SUT: LoadGen's and the Python SUT's own cost, stated beside the answer


def _groups(run: Run) -> dict[str, dict[tuple, dict[int, dict]]]:
    """model -> (runs on, dtype, variant) -> batch -> ok inference record."""
    out: dict = defaultdict(lambda: defaultdict(dict))
    for r in run.records:
        if r["task"] == "inference" and r["status"] == "ok":
            out[r["model"]][(column(r), r.get("dtype", "float32"), r["variant"])][r["batch_size"]] = r
    return out


def _serve_groups(run: Run) -> dict[str, dict[tuple, dict[str, dict]]]:
    """model -> (runs on, dtype, the row's variant) -> scenario -> ok serve record (``xbench serve``)."""
    out: dict = defaultdict(lambda: defaultdict(dict))
    for r in run.records:
        if r["task"] == "serve" and r["status"] == "ok" and ":" in r["variant"] and r["runtime"] != NOOP:
            variant, scenario = r["variant"].rsplit(":", 1)
            out[r["model"]][(column(r), r.get("dtype", "float32"), variant)][scenario] = r
    return out


def _searches(scenarios: dict[str, dict]) -> list[tuple[dict, str]]:
    """(search, scenario name) of each Server scenario of a row (with and without the batcher)."""
    return [((r.get("serve") or {}).get("search") or {}, name) for name, r in scenarios.items()
            if name.startswith("server")]


def _best_search(scenarios: dict[str, dict]) -> dict:
    """The Server search that gave a row its highest QPS within the bound ({} when none met the bound)."""
    return max((s for s, _ in _searches(scenarios) if s.get("qps")), key=lambda s: s["qps"], default={})


def _server_best(scenarios: dict[str, dict]) -> tuple[float | None, str]:
    """The highest Server QPS within the bound of a row (with or without the batcher), and its cell."""
    found = _searches(scenarios)
    best = max(((s["qps"], name, s.get("status")) for s, name in found if s.get("qps")), default=None)
    if best is None:
        return None, "bound missed at the lowest QPS" if found else "—"
    bound = next(s["latency_bound_s"] for s, _ in found)
    how = " (batcher)" if "batcher" in best[1] else ""
    return best[0], f"{qps_text(best[0], best[2])}{how} at p99 ≤ {fmt.duration(bound, **fmt.TABLE)}"


def _load_answer(busy: list[tuple]) -> str:
    """The under-load answer from the rows in the running, ``(-qps, label, cells, server cell, search)``: the row with
    the highest Server QPS, or every row the searches cannot separate from it, with their cells set in bold. A QPS
    the search stopped at without a failing probe is a lower bound, so every row reaching the best one, or stopped
    below it, is not separated from it; a found edge is known to within the search's tolerance (``rel_tol``, 10 %),
    so neither is a row whose QPS is within that of the best."""
    top = min(busy, key=lambda b: b[0])
    best = -top[0]

    def lower_bound(b):
        return b[4].get("status") in (search_status.CEILING, search_status.LIMIT)

    tied = [b for b in busy if b is top or lower_bound(b) or (-b[0]) * (1 + b[4].get("rel_tol", 0.1)) >= best]
    idx = len(top[2]) - 2  # the Server QPS cell
    for b in tied:
        b[2][idx] = Strong(b[2][idx])
    if len(tied) == 1:
        return f"{top[1]} ({top[3]})"
    return (f"not separated, {len(tied)} rows: " + ", ".join(f"{b[1]} ({b[3]})" for b in sorted(tied, key=lambda b: b[0]))
            + (" (the search's ceiling: a lower bound)" if lower_bound(top) else
               f" (within the search's {top[4].get('rel_tol', 0.1):.0%} tolerance)"))


def _no_server(serving: dict) -> str:
    """What the load answer says when no row has a Server QPS within the bound: whether any Server search ran."""
    ran = any(name.startswith("server") for scen in serving.values() for name in scen)
    return "none within the p99 bound" if ran else "no Server scenario in this file"


def qps_text(qps: float, status: str | None) -> str:
    """A search's answer in words: a search that never failed a probe (it stopped at its ceiling or its probe
    limit) found only a lower bound of the highest QPS within the bound: "≥ 32,000/s"."""
    return f"{'≥ ' if status in (search_status.CEILING, search_status.LIMIT) else ''}{fmt.rate(qps)}"


def _single_stream_cell(scenarios: dict[str, dict]) -> str:
    rec = scenarios.get("single-stream")
    if not rec:
        return "—"
    s = rec.get("serve") or {}
    p90 = ((s.get("loadgen") or {}).get("latency_s") or {}).get("p90")
    loop = (s.get("closed_loop") or {}).get("p90_s")
    pairs = s.get("pairs") or []  # SingleStream in pairs: the medians over them
    if all(p.get("loadgen_p90_s") is not None for p in pairs) and pairs:
        p90 = statistics.median(p["loadgen_p90_s"] for p in pairs)
        loops = [p["closed_loop_p90_s"] for p in pairs if p.get("closed_loop_p90_s") is not None]
        loop = statistics.median(loops) if loops else None
    if p90 is None:
        return "—"
    return fmt.duration(p90, **fmt.TABLE) + (f" (closed loop {fmt.duration(loop, **fmt.TABLE)})" if loop else "")


def _noop_note(run: Run, model: str) -> str:
    recs = {r["variant"].rsplit(":", 1)[1]: r for r in run.records if r["task"] == "serve" and r["status"] == "ok"
            and r["runtime"] == NOOP and r["model"] == model}
    if not recs:
        return ""
    qps, server = _server_best(recs)
    return f" The no-op SUT (LoadGen and the Python SUT alone): Server {server}, SingleStream p90 {_single_stream_cell(recs)}."


def _load_only(run: Run, model: str, serving: dict, heading: str) -> tuple[str, Table, str]:
    """A model with ``xbench serve`` records and no suite rows: accuracy and the load columns only."""
    recs = [r for scen in serving.values() for r in scen.values()]
    graded = any(r.get("accuracy") is not None for r in recs)
    body, busy = [], []
    for (col, dtype, variant), scen in serving.items():
        any_rec = next(iter(scen.values()))
        qps, server_cell = _server_best(scen)
        cells = [col.label, dtype, f"`{variant}`", *_accuracy_cells(any_rec), server_cell, _single_stream_cell(scen)]
        body.append((-(qps or 0), cells))
        if qps and (_within(any_rec) if graded else dtype == "float32"):
            busy.append((-qps, f"{col.label} {dtype} `{variant}`", cells, server_cell, _best_search(scen)))
    body.sort(key=lambda t: t[0])
    condition = f"within {ACCURACY_POINTS:g} point of fp32 accuracy" if graded else "in fp32"
    best = _load_answer(busy) if busy else _no_server(serving)
    headers = ["Runs on", "Precision", "Variant", "Accuracy", "Δ vs fp32", "Server QPS (LoadGen)",
               "SingleStream p90 (LoadGen)"]
    return heading, Table(headers, [c for _, c in body], "lll" + "r" * 4), (
        f"**{run.label}, {model}**: highest Server QPS {condition} — {best}." + _noop_note(run, model))


def _within(rec: dict) -> bool:
    delta = rec.get("accuracy_delta")
    return delta is not None and delta * 100 >= -ACCURACY_POINTS


def _accuracy_cells(rec: dict) -> list[str]:
    acc, delta = rec.get("accuracy"), rec.get("accuracy_delta")
    if acc is None:
        return ["—", "—"]
    mark = "" if _within(rec) else f" ✗ more than {ACCURACY_POINTS:g} pt below fp32"
    return [f"{acc:.2%}", f"{delta * 100:+.2f} pt{mark}"]


def where_tables(runs: list[Run]) -> list[tuple[str, Table, str]]:
    """(heading, table, one-line answer) per machine and model."""
    out = []
    for run in runs:
        if not any("accuracy" in r for r in run.records):
            continue
        served = _serve_groups(run)
        groups = _groups(run)
        for model in sorted(set(groups) | set(served)):
            heading = f"{model} · {run.label}" if len(runs) > 1 else model
            serving = served.get(model, {})
            if model not in groups:
                out.append(_load_only(run, model, serving, heading))
                continue
            rows = groups[model]
            for key in serving:
                rows.setdefault(key, {})
            big = max(b for batches in rows.values() for b in batches)
            body, fast, thru, busy = [], [], [], []
            recs = [r for batches in rows.values() for r in batches.values()]
            recs += [r for scen in serving.values() for r in scen.values()]
            # A model without accuracy (no classifier head) is ranked on speed among its fp32 rows only: nothing
            # vouches for a lower precision's answers, and "none" would read as if every row had failed the check.
            graded = any(r.get("accuracy") is not None for r in recs)
            why = next((r["accuracy_note"] for r in recs if r.get("accuracy_note")), "no accuracy was measured")
            for (col, dtype, variant), batches in rows.items():
                small, large = batches.get(SMALL), batches.get(big)
                scen = serving.get((col, dtype, variant), {})
                any_rec = small or large or next(iter(batches.values()), None) or next(iter(scen.values()))
                # a row served but absent from the suite's records has the suite's columns empty
                med = median_s(small) if small else None
                p90 = (small.get("stats") or {}).get("p90") if small else None
                rate = large.get("throughput") if large else None
                load = any_rec.get("load_s")
                cells = [col.label, dtype, f"`{variant}`", fmt.duration(med, **fmt.TABLE) if med else "—",
                         fmt.duration(p90, **fmt.TABLE) if p90 else "—", fmt.rate(rate) if rate else "—",
                         fmt.duration(load, **fmt.TABLE) if load else "—", *_accuracy_cells(any_rec)]
                qps = None
                if serving:
                    qps, server_cell = _server_best(scen)
                    cells += [server_cell, _single_stream_cell(scen)]
                body.append((med if med is not None else float("inf"), cells))
                label = f"{col.label} {dtype} `{variant}`"
                if _within(any_rec) if graded else dtype == "float32":
                    if med is not None:
                        fast.append((med, label, cells))
                    if rate:
                        thru.append((-rate, label, cells))
                    if qps:
                        busy.append((-qps, label, cells, server_cell, _best_search(scen)))
            for best, idx in ((min(fast, default=None), 3), (min(thru, default=None), 5)):
                if best:
                    best[2][idx] = Strong(best[2][idx])
            under_load = "" if not serving else "under load: " + (_load_answer(busy) if busy else _no_server(serving))
            body.sort(key=lambda t: t[0])
            headers = ["Runs on", "Precision", "Variant", f"Batch {SMALL} median", f"Batch {SMALL} p90",
                       f"Batch {big} throughput", "Load (file → first result)", "Accuracy", "Δ vs fp32"]
            if serving:  # xbench serve's records: the load answer (docs/serve.md)
                headers += ["Server QPS (LoadGen)", "SingleStream p90 (LoadGen)"]
            condition = (f"within {ACCURACY_POINTS:g} point of fp32 accuracy" if graded else
                         f"in fp32 ({why}, so lower precisions are not ranked)")
            answer = (f"**{run.label}, {model}**: fastest {condition} — "
                      f"batch {SMALL}: "
                      + (f"{fast and min(fast)[1]} ({fmt.duration(min(fast)[0], **fmt.TABLE)})" if fast else "none")
                      + f"; batch {big}: " + (f"{min(thru)[1]} ({fmt.rate(-min(thru)[0])})" if thru else "none")
                      + (f"; {under_load}" if under_load else "") + "." + (_noop_note(run, model) if serving else ""))
            out.append((heading, Table(headers, [c for _, c in body], "lll" + "r" * (len(headers) - 3)), answer))
    return out
