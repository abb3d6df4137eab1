"""Merge the sweep.json of several `xbench sweep-train` runs of the same settings (e.g. one process per framework,
run side by side) into OUT/sweep.json, with its tables (OUT/sweep_<framework>.md; no plots).

usage: python scripts/merge_sweeps.py OUT_DIR SWEEP.json [SWEEP.json ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

from xbench.paths import atomic_write_text
from xbench.records import write_results
from xbench.schema import read_results


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    out, paths = Path(argv[0]), [Path(p) for p in argv[1:]]
    docs = [read_results(p) for p in paths]
    settings = [d.get("sweep") for d in docs]
    if any(s != settings[0] for s in settings):
        print(f"merge_sweeps: the sweeps ran with different settings: {settings}", file=sys.stderr)
        return 2
    doc = dict(docs[0])
    doc["records"] = [r for d in docs for r in d["records"]]
    out.mkdir(parents=True, exist_ok=True)
    write_results(out / "sweep.json", doc)
    from xbench.report.tta import markdown_table

    for fw in dict.fromkeys(r["framework"] for r in doc["records"]):
        atomic_write_text(out / f"sweep_{fw}.md", markdown_table(doc["records"], fw))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
