"""One measured thing, built in one place: every ONNX Runtime session is created in ``xbench/runtimes/`` and every
train step, predict function and epoch by the factory in ``xbench/bench/cases.py``; every timing outside pytest goes
through ``xbench.bench.timing`` with the suite's warm-up policy. Read from the source (AST), so a stray copy in
any module or script fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("xbench", "scripts")
SESSION_HOME = "xbench/runtimes/"
FACTORY = "xbench/bench/cases.py"
BUILDERS = ("make_train_step", "make_predict", "make_epoch")  # the framework interface's entry points


def _calls(path: Path):
    """(name, line) of every call whose callee ends in a plain name (``f(...)`` or ``x.f(...)``)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
            if name:
                yield name, node.lineno


def offenders(root: Path = ROOT) -> list[str]:
    """``path:line name`` of each session or builder call made outside its one home."""
    out = []
    for top in SCANNED:
        for path in sorted((root / top).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            for name, line in _calls(path):
                if name == "InferenceSession" and not rel.startswith(SESSION_HOME):
                    out.append(f"{rel}:{line} {name}")
                elif name in BUILDERS and rel != FACTORY:
                    out.append(f"{rel}:{line} {name}")
    return out


def test_sessions_and_builders_are_made_in_one_place():
    assert offenders() == []


@pytest.mark.parametrize("stray", ["import onnxruntime as ort\nort.InferenceSession('m.onnx')\n",
                                   "def f(fw, m, s):\n    return fw.make_train_step(m, s, 0.1)\n",
                                   "def f(fw, m, s):\n    return fw.make_predict(m, s)\n"])
def test_a_stray_copy_is_found(tmp_path, stray):
    for top in SCANNED:
        (tmp_path / top).mkdir()
    (tmp_path / FACTORY).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / FACTORY).write_text("def ok(fw, m, s):\n    return fw.make_predict(m, s)\n")
    (tmp_path / "scripts" / "stray.py").write_text(stray)
    assert [o.split(":")[0] for o in offenders(tmp_path)] == ["scripts/stray.py"]


def test_timing_follows_the_suites_warmup_policy():
    """The one loop outside pytest: the first call timed alone, then the suite's warm-ups, then the rounds."""
    from xbench.bench import timing
    from xbench.bench.plugin import WARMUP_CALLS

    calls = []
    t = timing.measure(lambda: calls.append(1), budget_s=0.0, min_rounds=4)
    assert timing.WARMUP_CALLS == WARMUP_CALLS
    assert len(t.samples) == 4 and t.first_call_s >= 0 and t.warmup_calls == WARMUP_CALLS
    assert len(calls) == 1 + WARMUP_CALLS + 4


def test_tools_record_the_sessions_settings_that_ran(tmp_path, seed_spec, mnist):
    """``open_session`` (explain, sweep, infer, scripts) runs the suite's settings for a provider, and
    ``session_record`` stores what ORT really runs with."""
    from xbench.export import export
    from xbench.runtimes import onnxruntime as ortx

    path = tmp_path / "m.onnx"
    export("torch", seed_spec, path, data=mnist)
    config = ortx.session_config("cpu", intra_op_threads=1)
    session = ortx.make_session(path, config)
    rec = ortx.session_record(session, config)
    assert rec["provider"] == "CPUExecutionProvider" and rec["intra_op_num_threads"] == 1
    assert "provider_options_effective" in rec
    assert ortx.session_config("cuda").provider_options["cudnn_conv_algo_search"] == "EXHAUSTIVE"
    assert ortx.open_session(path.read_bytes(), "cpu").get_providers() == ["CPUExecutionProvider"]


def test_the_factory_uses_the_specs_optimizer_unless_asked(seed_spec):
    from xbench.bench import cases as suite

    for name in ("torch", "keras"):
        _, step = suite.train_step(name, seed_spec, variant=None)
        assert step.optimizer_info["name"] == seed_spec.optimizer_name
        _, sgd = suite.train_step(name, seed_spec, optimizer="sgd", lr=0.1)
        assert sgd.optimizer_info["name"] == "sgd"
