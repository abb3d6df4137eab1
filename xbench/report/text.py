"""Plain text for the terminal: aligned tables (``xbench explain``, ``infer``, ``sweep``), the counted graph's node
table. Builds on ``xbench.report.fmt``; imports nothing else."""

from __future__ import annotations

from xbench.report import fmt


def node_table(cost, groups: list[dict], limit: int | None = 40, times: dict[str, float] | None = None) -> str:
    """The counted graph (``xbench.explain.cost.ModelCost``) by its fused groups (``fused_groups(cost)``): one
    row per group that computes (MACs or element ops) or holds an unknown operator, in graph order; beyond
    ``limit`` rows only the biggest (by time when measured, else by MACs) are shown."""
    for g in groups:
        g["time"] = sum(times.get(name, 0.0) for name in g["nodes"]) if times is not None else None
    shown = [g for g in groups if g["macs"] or g["elem_ops"] or g["unknown"] or (g["time"] or 0) > 0]
    hidden = len(groups) - len(shown)
    ordered, cut = shown, 0
    if limit is not None and len(shown) > limit:
        rank = sorted(shown, key=lambda g: (not g["unknown"], -(g["time"] or 0), -g["macs"], -g["elem_ops"]))
        keep = {id(g) for g in rank[:limit]}
        ordered = [g for g in shown if id(g) in keep]
        cut = len(shown) - len(ordered)
    total = cost.macs or 1
    total_t = sum(g["time"] or 0 for g in groups) or 1.0
    head = ["node", "ops", "output", "MACs", "% MACs", "elem ops", "bytes", "bwd MACs"]
    if times is not None:
        head += ["time", "% time"]
    rows = []
    for g in ordered:
        row = [g["name"][:38], g["ops"][:60], "x".join(map(str, g["out_shape"])) or "?", fmt.human(g["macs"]),
               f"{100 * g['macs'] / total:.1f}", fmt.human(g["elem_ops"]), fmt.human_bytes(g["bytes"]),
               fmt.human(g["bwd_macs"])]
        if times is not None:
            row += [fmt.duration(g["time"], decimals=3) if g["time"] else "-",
                    f"{100 * (g['time'] or 0) / total_t:.1f}"]
        rows.append(row)
    text = render_table(head, rows)
    notes = []
    if cut:
        notes.append(f"({cut} smaller computing groups not shown)")
    if hidden:
        notes.append(f"({hidden} data-movement/shape groups with no arithmetic not shown)")
    if cost.folded_constant_nodes:
        folded = ", ".join(f"{op} x{k}" for op, k in sorted(cost.folded_constant_nodes.items()))
        notes.append(f"(constant subgraphs, computed once and not counted: {folded})")
    for w in cost.warnings:
        notes.append(f"WARNING: {w}")
    return text + ("\n" + "\n".join(notes) if notes else "")


def render_table(head: list[str], rows: list[list[str]]) -> str:
    """Columns aligned with two spaces between them; a column of numbers (or "-") right-aligned."""
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows)] if rows else [len(h) for h in head]
    numeric = [all(_numeric(r[i]) for r in rows) and i > 0 for i in range(len(head))]

    def line(row):
        return "  ".join(str(c).rjust(w) if num else str(c).ljust(w) for c, w, num in zip(row, widths, numeric))

    return "\n".join([line(head), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


def _numeric(text: str) -> bool:
    s = str(text).strip().split(" ")[0].rstrip("%x")
    try:
        float(s)
        return True
    except ValueError:
        return s == "-"
