"""Turn xbench results files into tables (markdown, CSV), a self-contained HTML page and PNG plots.

Imports no ML framework: reports are rendered on machines (and in CI steps)
that never installed TensorFlow or PyTorch. matplotlib is imported only when
plots or HTML are asked for.
"""

from __future__ import annotations

import os
from pathlib import Path

from xbench.report.data import Run, load_runs

__all__ = ["Run", "load_runs", "render", "write_plots", "append_step_summary"]


def write_plots(runs: list[Run], folder: str | os.PathLike) -> list[Path]:
    from xbench.report.plots import write_plots as _write

    return _write(runs, Path(folder))


def render(runs: list[Run], fmt: str = "md", plots: list[Path] = (), relative_to: Path | None = None) -> str:
    """The report as text. ``plots`` (PNG files already written) are linked from markdown, inlined in HTML."""
    # imported here, not above: xbench.report.fmt (which explain and compare use) loads this package, and its
    # tables read explain's results
    from xbench.report.csv_rows import to_csv
    from xbench.report.doc import Image, to_markdown
    from xbench.report.tables import build

    if fmt == "csv":
        return to_csv(runs)
    if fmt == "html":
        from xbench.report.html import to_html

        if plots:  # already drawn: inline the files instead of drawing every figure again
            images = [Image(p.name, p.stem.replace("-", " "), p.read_bytes()) for p in plots]
        else:
            from xbench.report.plots import figures_png

            images = [Image(name, alt, png) for name, alt, png in figures_png(runs)]
        return to_html(build(runs, images))
    images = []
    for p in plots:
        shown = os.path.relpath(p, relative_to) if relative_to else str(p)
        images.append(Image(Path(shown).as_posix(), p.stem.replace("-", " ")))
    return to_markdown(build(runs, images))


def append_step_summary(runs: list[Run]) -> bool:
    """Append the markdown report to $GITHUB_STEP_SUMMARY when GitHub Actions provides one."""
    from xbench.report.doc import to_markdown
    from xbench.report.tables import build

    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return False
    with open(target, "a", encoding="utf-8") as f:
        f.write(to_markdown(build(runs)) + "\n")  # no image links: the summary cannot show local files
    return True
