"""The scaling table: data-parallel records (``train_step_dp``, ``xbench scale``) as one row each.

Pure: reads record dicts, imports no ML framework; ``xbench report`` and ``xbench scale`` render it.
"""

from __future__ import annotations

from xbench.report import fmt
from xbench.report.doc import Table

HEADERS = ["Framework", "Model", "Scaling", "Workers × threads", "Global batch", "Step (median)",
           "Throughput", "All-reduce share", "Scaling efficiency"]
EXPLAIN = ("Data-parallel training (`xbench scale`, docs/scaling.md): W worker processes, each on global batch ÷ W, "
           "gradients averaged by the framework's all-reduce. Step: median of block medians of the synchronised "
           "step. All-reduce share: 1 − (the same step without synchronisation ÷ the synchronised step). Scaling "
           "efficiency: throughput ÷ that of 1 worker with the same total threads (1 = no loss). In brackets: 95 % "
           "bootstrap intervals over blocks.")


def _with_ci(text: str, ci, of, **options) -> str:
    return f"{text} [{fmt.interval(ci[0], ci[1], of=of, sep=', ', **options)}]" if ci else text


def _row(rec: dict) -> list[str]:
    ok = rec.get("status") == "ok"
    step = fmt.duration(rec["stats"]["median"], digits=3) if ok else rec.get("status", "?")
    return [rec["framework"], rec["model"], rec.get("scaling", "?"),
            f"{rec.get('world_size', '?')} × {rec.get('threads_per_worker', '?')}", str(rec["batch_size"]), step,
            fmt.rate(rec.get("throughput")) if ok else "—",
            _with_ci(fmt.percent(rec.get("allreduce_share"), digits=1), rec.get("allreduce_share_ci95"),
                     fmt.percent, digits=1) if ok else "—",
            _with_ci(fmt.number(rec["scaling_efficiency"], decimals=2), rec.get("scaling_efficiency_ci95"),
                     fmt.number, decimals=2)
            if ok and rec.get("scaling_efficiency") is not None else "—"]


def scaling_table(records: list[dict]) -> Table | None:
    rows = sorted((r for r in records if r.get("task") == "train_step_dp"),
                  key=lambda r: (r["framework"], r["model"], r.get("scaling", ""), r.get("world_size", 0),
                                 r.get("threads_per_worker", 0)))
    if not rows:
        return None
    return Table(HEADERS, [_row(r) for r in rows], "lllrrrrrr")
