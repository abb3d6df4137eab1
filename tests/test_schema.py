"""xbench.schema.validate's shortcut for ``samples_s``: the samples are checked in Python and JSON Schema sees one of
them, which must give exactly what validating every sample gives (a baseline holds a million samples)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from xbench import schema
from xbench.errors import UserError

FIXTURE = Path(__file__).parent / "golden" / "results.json"


def _verdict(doc: dict) -> str:
    try:
        schema.validate(doc, "x")
        return "valid"
    except UserError as exc:
        return str(exc)


def _full(doc: dict, monkeypatch) -> str:
    with monkeypatch.context() as mp:
        mp.setattr(schema, "_samples_shortcut", lambda: False)
        return _verdict(doc)


def _ok_record(doc: dict) -> dict:
    return next(r for r in doc["records"] if r["status"] == "ok" and len(r["samples_s"]) > 6)


@pytest.mark.parametrize("sample", [-1.0, 0, "0.1", True, None, float("nan"), float("inf")])
def test_a_bad_sample_past_the_first_is_named_as_full_validation_names_it(sample, monkeypatch):
    assert schema._samples_shortcut()  # on for the committed schema, else baselines take seconds to read
    doc = json.loads(FIXTURE.read_text())
    assert _verdict(doc) == _full(doc, monkeypatch) == "valid"
    bad = copy.deepcopy(doc)
    _ok_record(bad)["samples_s"][5] = sample
    got = _verdict(bad)
    assert got != "valid" and got == _full(bad, monkeypatch)
    assert "samples_s/5" in got or "samples_s[5]" in got


def test_the_shortcut_is_off_when_the_schema_counts_samples(tmp_path, monkeypatch):
    """A rule on samples_s beyond "numbers above 0, at least one" (here at most 3) turns the shortcut off."""
    spec = json.loads(schema.SCHEMA_PATH.read_text())
    spec["$defs"]["record"]["properties"]["samples_s"]["maxItems"] = 3
    path = tmp_path / "results.schema.json"
    path.write_text(json.dumps(spec))
    monkeypatch.setattr(schema, "SCHEMA_PATH", path)
    schema._samples_shortcut.cache_clear()
    schema._validator.cache_clear()
    try:
        assert not schema._samples_shortcut()
        assert "samples_s: [" in (got := _verdict(json.loads(FIXTURE.read_text()))) and "is too long" in got
    finally:
        monkeypatch.undo()
        schema._samples_shortcut.cache_clear()
        schema._validator.cache_clear()
