"""One self-contained HTML page: the report's blocks, with the plots inlined as base64 PNG.

No external stylesheet, script, font or image: the file opens from disk, from
an e-mail attachment or a CI artifact, without a server.
"""

from __future__ import annotations

import base64
import html
import re

from xbench.report.doc import Heading, Image, Para, Strong, Table

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; vertical-align: top; }
th { background: #f3f3f3; }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; }
code { background: #f3f3f3; padding: 0 0.2em; }
img { max-width: 100%; display: block; margin: 1em 0; }
"""


def _inline(text: str) -> str:
    """The two inline markdown forms the report uses: `code` and **bold**."""
    out = html.escape(str(text), quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)


def _table(t: Table) -> str:
    def cell(tag, i, value):
        cls = ' class="r"' if t.align[i:i + 1] == "r" else ""
        body = _inline(value)
        return f"<{tag}{cls}>{f'<strong>{body}</strong>' if isinstance(value, Strong) else body}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(t.headers))
    rows = "\n".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(r)) + "</tr>" for r in t.rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table>"


def to_html(blocks: list) -> str:
    title = next((b.text for b in blocks if isinstance(b, Heading)), "xbench results")
    parts = []
    for b in blocks:
        if isinstance(b, Heading):
            parts.append(f"<h{b.level}>{_inline(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            parts.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Table):
            parts.append(_table(b))
        elif isinstance(b, Image) and b.png:
            data = base64.b64encode(b.png).decode("ascii")
            parts.append(f'<img alt="{html.escape(b.alt)}" src="data:image/png;base64,{data}">')
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
            f"<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")
