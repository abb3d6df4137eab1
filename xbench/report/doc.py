"""The report's document: blocks (headings, paragraphs, tables, images) and their markdown rendering.

Builders (``xbench.report.tables``, ``xbench.report.where``) return these blocks; ``to_markdown`` here and
``xbench.report.html`` render them, so the page and the markdown always say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class Strong(str):
    """A table cell to emphasise (the fastest in its row)."""


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Para:
    text: str  # inline markdown: `code` and **bold** only (the HTML renderer understands those two)


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    align: str = ""  # one of l/r per column; missing ones are left-aligned


@dataclass
class Image:
    path: str  # as written in the markdown (relative to the report)
    alt: str
    png: bytes = field(default=b"", repr=False)


def _md_cell(cell: str) -> str:
    # Pipes would split the cell; "<" would start raw HTML on GitHub.
    text = str(cell).replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")
    return f"**{text}**" if isinstance(cell, Strong) else text


def _md_table(t: Table) -> str:
    def line(cells):
        return "| " + " | ".join(_md_cell(c) for c in cells) + " |"

    aligns = ["---:" if t.align[i:i + 1] == "r" else ":---" for i in range(len(t.headers))]
    return "\n".join([line(t.headers), "| " + " | ".join(aligns) + " |"] + [line(r) for r in t.rows])


def to_markdown(blocks: list) -> str:
    parts = []
    for b in blocks:
        if isinstance(b, Heading):
            parts.append("#" * b.level + " " + b.text)
        elif isinstance(b, Para):
            parts.append(b.text)
        elif isinstance(b, Table):
            parts.append(_md_table(b))
        elif isinstance(b, Image):
            parts.append(f"![{b.alt}]({b.path})")
    return "\n\n".join(parts) + "\n"
