"""Pool a machine's runs into its published baseline (``scripts/publish_baseline.sh`` calls this).

    python -m xbench.records.publish OUT.json.gz run1.json run2.json ...

The runs are pooled (``xbench.records.runs.pool``: every benchmark keeps each run's blocks), every string that names a
path of this machine (the checkout, the interpreter's prefix, the home and temp folders) is rewritten relative to
it (``<repo>/``, ``<python>/``, ``~/``, ``<tmp>/``): a published file says which data and libraries ran by kind
and file name, never where they lay here. A ``.gz`` name is written gzip-compressed; every reader accepts it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from xbench.machine import REPO


def machine_prefixes() -> list[tuple[str, str]]:
    """(absolute prefix, what it is replaced by), longest first so the checkout wins over the home folder."""
    pairs = {str(REPO): "<repo>", sys.prefix: "<python>", sys.base_prefix: "<python>",
             tempfile.gettempdir(): "<tmp>", str(Path.home()): "~"}
    return sorted(((p, name) for p, name in pairs.items() if p and p != "/"), key=lambda x: -len(x[0]))


def scrub(value, prefixes: list[tuple[str, str]]):
    """``value`` (any JSON value) with each machine prefix replaced; everything else unchanged."""
    if isinstance(value, str):
        for prefix, name in prefixes:
            value = value.replace(prefix + os.sep, name + "/").replace(prefix, name)
        return value
    if isinstance(value, list):
        return [scrub(v, prefixes) for v in value]
    if isinstance(value, dict):
        return {k: scrub(v, prefixes) for k, v in value.items()}
    return value


def publish(out: str | Path, runs: list[str | Path]) -> dict:
    from xbench.records import write_results
    from xbench.records.runs import pool
    from xbench.schema import read_results

    doc = scrub(pool([read_results(p) for p in runs]), machine_prefixes())
    write_results(out, doc)
    return doc


def main(argv: list[str]) -> int:
    from xbench.errors import UserError

    if len(argv) < 2:
        print("usage: python -m xbench.records.publish OUT.json[.gz] RUN.json [RUN.json ...]", file=sys.stderr)
        return 2
    try:
        doc = publish(argv[0], argv[1:])
    except UserError as exc:
        print(f"xbench.records.publish: error: {exc}", file=sys.stderr)
        return 2
    git = doc["env"].get("git") or {}
    print(f"pooled {len(argv) - 1} runs into {argv[0]} (commit {str(git.get('commit'))[:12]}, "
          f"dirty: {str(git.get('dirty')).lower()})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
