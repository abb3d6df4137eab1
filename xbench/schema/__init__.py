"""The results-file JSON Schema, checked on every write and every read.

``schema_version`` is semver: readers accept any 1.x file and refuse another
major version with a clear message.
"""

from __future__ import annotations

import json
import math
import zlib
from functools import cache
from pathlib import Path

from xbench.errors import UserError

SCHEMA_PATH = Path(__file__).with_name("results.schema.json")
MAJOR = 1


@cache
def _validator():
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))


_SAMPLE = {"type": "number", "exclusiveMinimum": 0}


@cache
def _samples_shortcut() -> bool:
    """Whether a record's ``samples_s`` is valid exactly when each sample is a number above 0 and (status ok) one
    at least: true while every rule the schema gives ``samples_s`` says only that. Then ``validate`` checks the
    samples here and hands JSON Schema one of them, not all: a baseline holds a million, and JSON Schema takes
    seconds over them."""
    rules = []

    def find(node) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("samples_s"), dict):
                rules.append(node["samples_s"])
            for v in node.values():
                find(v)
        elif isinstance(node, list):
            for v in node:
                find(v)

    find(json.loads(SCHEMA_PATH.read_text())["$defs"]["record"])
    return bool(rules) and all(set(r) <= {"type", "items", "minItems", "description"} and r.get("minItems", 1) <= 1
                               and r.get("type", "array") == "array"
                               and r.get("items", _SAMPLE) == _SAMPLE for r in rules)


def _one_sample_each(doc: dict) -> dict:
    """``doc`` with each record's ``samples_s`` cut to its first sample where every sample is a number above 0 (the
    schema's rule, checked here); any other list is kept whole for JSON Schema to judge. The copy is shallow."""
    records = doc.get("records")
    if not isinstance(records, list):
        return doc
    out = []
    for rec in records:
        s = rec.get("samples_s") if isinstance(rec, dict) else None
        if isinstance(s, list) and len(s) > 1 and all(type(x) in (int, float) for x in s) and min(s) > 0:
            rec = {**rec, "samples_s": s[:1]}
        out.append(rec)
    return {**doc, "records": out}


def validate(doc, source: str = "<results>") -> None:
    if not isinstance(doc, dict):
        raise UserError(f"{source}: not an xbench results file (top level is {type(doc).__name__}, expected an object)")
    if "benchmarks" in doc and "machine_info" in doc and "records" not in doc:
        raise UserError(f"{source}: this is a pytest-benchmark JSON file, not an xbench results file "
                        "(xbench writes its own with --xbench-json)")
    version = doc.get("schema_version")
    if not isinstance(version, str):
        raise UserError(f"{source}: missing field 'schema_version'; not an xbench results file")
    major = version.split(".")[0]
    if major != str(MAJOR):
        raise UserError(f"{source}: schema_version {version} has major version {major}; "
                        f"this xbench reads {MAJOR}.x files only")
    if _samples_shortcut() and not any(True for _ in _validator().iter_errors(_one_sample_each(doc))):
        check_values(doc, source)  # valid: the samples cut away were checked in _one_sample_each
        return
    # Report the first problem in document order; the key keeps ints and strings from being compared.
    errors = sorted(_validator().iter_errors(doc),
                    key=lambda e: [(isinstance(p, str), p) for p in e.absolute_path])
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise UserError(f"{source}: field {where}: {err.message}{more}")
    check_values(doc, source)


def check_values(doc: dict, source: str) -> None:
    """What JSON Schema cannot say: finite samples and statistics, unique ids, blocks that add up."""
    seen: dict[str, int] = {}
    for i, rec in enumerate(doc["records"]):
        rid = rec.get("id")
        where = f"{source}: record {i} ({rid})"
        if rid in seen:
            raise UserError(f"{where}: duplicate id (also record {seen[rid]}); each benchmark must appear once")
        seen[rid] = i
        for j, x in enumerate(rec.get("samples_s") or []):
            if not (math.isfinite(x) and x > 0):
                raise UserError(f"{where}: field samples_s[{j}] is {x}; samples must be finite positive seconds")
        for k, x in (rec.get("stats") or {}).items():
            if isinstance(x, float) and not math.isfinite(x):
                raise UserError(f"{where}: field stats.{k} is {x}; statistics must be finite")
        entries = rec.get("blocks") or []
        if rec.get("status") == "ok" and entries and sum(b.get("rounds", 0) for b in entries) != len(rec.get("samples_s") or []):
            raise UserError(f"{where}: field blocks: its rounds add up to {sum(b.get('rounds', 0) for b in entries)}"
                            f" but samples_s has {len(rec.get('samples_s') or [])}; they must match")


def read_results(path: str | Path) -> dict:
    """Load and validate one results file (plain or gzip-compressed JSON, e.g. ``results/baselines/*.json.gz``);
    every defect is one UserError naming the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
            import gzip

            raw = gzip.decompress(raw)
        text = raw.decode()
    except (OSError, EOFError, zlib.error) as exc:
        raise UserError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not a text JSON file ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        raise UserError(f"{path}: empty file; expected an xbench results JSON")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    validate(doc, source=str(path))
    return doc
