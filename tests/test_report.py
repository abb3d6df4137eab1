"""`xbench report`: golden markdown and CSV, tables that parse as tables, plots, HTML, no ML imports.

The fixture tests/golden/results.json is a real run from a 2-core CPU VM, trimmed
to 20 samples per benchmark, with one failure added, its rounds split into 5 blocks
of 4 (schema 1.2 statistics recomputed from them). Regenerate the golden
files after an intended change with:  XBENCH_UPDATE_GOLDEN=1 pytest tests/test_report.py
"""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xbench.cli import main
from xbench.report import load_runs, render, write_plots

GOLDEN = Path(__file__).parent / "golden"
FIXTURE = GOLDEN / "results.json"
ML = ("tensorflow", "keras", "torch", "onnxruntime")


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("XBENCH_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; if intended, rerun with XBENCH_UPDATE_GOLDEN=1 and review the diff"


def _tables(md: str) -> list[list[list[str]]]:
    """Every GFM table in the text as rows of cells; asserts the structure GitHub needs."""
    tables, current = [], None
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").replace("\\|", "\0").split("|")]
            current = (current or []) + [[c.replace("\0", "|") for c in cells]]
        elif current:
            tables.append(current)
            current = None
    for t in tables:
        assert len(t) >= 3, t  # header, delimiter, at least one row
        assert all(set(c) <= set(":-") and "-" in c for c in t[1]), t[1]
        assert {len(r) for r in t} == {len(t[0])}, "ragged table"
    return tables


@pytest.fixture
def runs():
    return load_runs([FIXTURE])


def _doc() -> dict:
    return json.loads(FIXTURE.read_text())


def test_markdown_golden(runs):
    _check_golden("report.md", render(runs, "md"))


def test_csv_golden(runs):
    _check_golden("report.csv", render(runs, "csv"))


def test_markdown_tables_are_tables(runs):
    md = render(runs, "md")
    tables = _tables(md)
    train, infer = tables[0], tables[1]
    assert train[0] == ["Model", "Batch", "Keras CPU", "PyTorch CPU", "Keras ÷ PyTorch (CPU)"]
    assert infer[0][2:] == ["Keras CPU", "PyTorch CPU", "ORT CPU (Keras export)", "ORT CPU (PyTorch export)"]
    # The fastest per row is marked: exactly one bold cell among the timings of each row.
    for row in train[2:] + infer[2:]:
        assert sum(c.startswith("**") for c in row[2:]) == 1, row
    # Skipped and failed benchmarks are listed with their reasons, not dropped.
    missing = next(t for t in tables if t[0][-1] == "Reason")
    assert {r[-2] for r in missing[2:]} == {"skipped", "error"}
    assert any("sees no GPU" in r[-1] for r in missing[2:])
    assert any("C++ compiler" in r[-1] for r in missing[2:])
    assert "## Not measured (5)" in md
    # A markdown parser agrees these are tables (markdown-it-py comes with keras' rich).
    markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py not installed")
    html = markdown_it.MarkdownIt("commonmark").enable("table").render(md)
    assert html.count("<table>") == len(tables)
    assert "<th>Keras CPU</th>" in html.replace(' style="text-align:right"', "")


def test_variants_table_names_the_fastest(runs):
    tables = _tables(render(runs, "md"))
    torch_train = next(t for t in tables if t[0][2:5] == ["`eager`", "`channels_last`", "`compile`"])
    fastest = {r[1]: r[-2] for r in torch_train[2:]}
    assert fastest == {"32": "`eager`", "128": "`channels_last`"}


def test_csv_one_row_per_record(runs):
    rows = list(csv.DictReader(io.StringIO(render(runs, "csv"))))
    records = _doc()["records"]
    assert [r["id"] for r in rows] == [r["id"] for r in records]
    assert {r["status"] for r in rows} == {"ok", "skipped", "error"}
    assert all(float(r["median_s"]) > 0 for r in rows if r["status"] == "ok")
    assert "memory.peak_rss_mb" in rows[0]  # nested extras are flattened


def test_several_machines_side_by_side(tmp_path):
    """Columns are labelled by machine id (from the hardware), not by the hostname every VM shares."""
    paths = []
    for host, cpu, factor in (("laptop", "AMD EPYC", 1.0), ("server", "Intel(R) Xeon(R) Platinum 8488C", 0.5)):
        doc = _doc()
        doc["env"]["cpu"]["model"] = cpu  # both keep the hostname "vm"
        for r in doc["records"]:
            if r["status"] == "ok":
                r["stats"]["median"] *= factor
        paths.append(tmp_path / f"{host}.json")
        paths[-1].write_text(json.dumps(doc))
    md = render(load_runs(paths), "md")
    train = _tables(md)[0]
    assert "Keras CPU · amd-epyc-2c-nogpu" in train[0]
    assert "Keras CPU · intel-xeon-platinum-8488c-2c-nogpu" in train[0]
    env = _tables(md)[-1]
    assert env[0][1:] == ["amd-epyc-2c-nogpu", "intel-xeon-platinum-8488c-2c-nogpu"]
    assert [r[1:] for r in env if r[0] == "Host"] == [["vm", "vm"]]


def test_the_environment_table_tells_masked_cpus_apart(tmp_path):
    """Two VMs whose CPU name is masked alike: the table shows family, model and stepping, and the ISA flags."""
    paths = []
    for name, model, flags in (("a", 143, ["avx2", "avx512f"]), ("b", 207, ["amx_tile", "avx2", "avx512f"])):
        doc = _doc()
        doc["env"]["cpu"].update(model="Intel(R) Xeon(R) Processor", vendor="intel", family=6, model_number=model,
                                 stepping=2, flags=flags)
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(doc))
    env = _tables(render(load_runs(paths), "md"))[-1]
    rows = {r[0]: r[1:] for r in env}
    assert rows["CPU"] == [f"Intel(R) Xeon(R) Processor (family 6, model {m}, stepping 2)" for m in (143, 207)]
    assert rows["ISA flags"] == ["avx2, avx512f", "amx_tile, avx2, avx512f"]


def test_same_host_twice_gets_distinct_columns(tmp_path):
    (tmp_path / "before.json").write_text(FIXTURE.read_text())
    (tmp_path / "after.json").write_text(FIXTURE.read_text())
    runs = load_runs([tmp_path / "before.json", tmp_path / "after.json"])
    assert [r.label for r in runs] == ["amd-epyc-2c-nogpu (before)", "amd-epyc-2c-nogpu (after)"]


def test_efficiency_shown_only_when_present(runs, tmp_path):
    assert "Efficiency" not in render(runs, "md")
    doc = _doc()
    doc["env"]["ceiling"] = {"gflops": 123.4, "method": "matmul"}
    for r in doc["records"]:
        if r["status"] == "ok":
            r.update(achieved_gflops=12.5, fraction_of_peak=0.101, verdict="below-roofline")
    path = tmp_path / "roofline.json"
    path.write_text(json.dumps(doc))
    md = render(load_runs([path]), "md")
    assert "## Efficiency" in md and "below-roofline" in md and "10.1%" in md
    assert "Machine peak (ceiling)" in md


def test_plots_are_nonempty_pngs(runs, tmp_path):
    paths = write_plots(runs, tmp_path / "plots")
    assert {p.name for p in paths} == {"inference-throughput-amd-epyc-2c-nogpu.png", "train-step-time-amd-epyc-2c-nogpu.png"}
    for p in paths:
        data = p.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000


def test_markdown_links_plots_relative_to_out(tmp_path):
    out = tmp_path / "README.md"
    assert main(["report", str(FIXTURE), "--out", str(out), "--plots", str(tmp_path / "plots")]) == 0
    text = out.read_text()
    name = "train-step-time-amd-epyc-2c-nogpu.png"
    assert f"(plots/{name})" in text and (tmp_path / "plots" / name).is_file()


def test_html_is_self_contained(runs):
    page = render(runs, "html")
    assert page.startswith("<!DOCTYPE html>") and page.count("<table>") == len(_tables(render(runs, "md")))
    assert page.count('src="data:image/png;base64,') == 2
    for external in ('src="http', "href=", "<link", "<script", "url("):
        assert external not in page


def test_step_summary_appended(tmp_path, monkeypatch, capsys):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert main(["report", str(FIXTURE), "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("file,machine,")
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "## Training step" in text


@pytest.mark.parametrize("args,wants_matplotlib", [([], False), (["--format", "html", "--plots", "{tmp}"], True)])
def test_report_imports_no_ml_framework(tmp_path, args, wants_matplotlib):
    argv = ["report", str(FIXTURE), *[a.replace("{tmp}", str(tmp_path)) for a in args], "--out",
            str(tmp_path / "out")]
    code = (f"import sys; from xbench.cli import main; rc = main({argv!r}); "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {ML!r} + ('matplotlib',))); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = eval(proc.stdout.strip().splitlines()[-1])
    assert not [m for m in loaded if m.split(".")[0] in ML], loaded
    assert any(m.startswith("matplotlib") for m in loaded) == wants_matplotlib  # lazily, only when drawing


@pytest.mark.parametrize("content,message", [
    ("{not json", "malformed JSON at line 1"),
    ("", "empty file"),
])
def test_report_bad_input_is_one_line(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert main(["report", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("xbench report: error: ") and message in err[0] and "bad.json" in err[0]


def test_report_out_folder_must_exist(tmp_path, capsys):
    assert main(["report", str(FIXTURE), "--out", str(tmp_path / "nope" / "r.md")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_skipped_cells_are_named_in_main_table(tmp_path):
    doc = _doc()
    rec = next(r for r in doc["records"] if r["id"].startswith("train_step/seed_cnn/torch/torch/cpu/eager/b128"))
    rec.update(status="skipped", reason="out of memory", stats=None, samples_s=[], throughput=None)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(copy.deepcopy(doc)))
    md = render(load_runs([path]), "md")
    row = next(r for r in _tables(md)[0] if r[1] == "128")
    assert row[3] == "skipped" and row[4] == "—"
    assert "out of memory" in md


# -- Where should it run (schema 1.3: accuracy, accuracy_delta, load_s) ------------------------------------------------
# tests/golden/where-results.json: a real seed_cnn inference run (full MNIST, 3 blocks, shared 2-core CPU), batch 1
# and 128 only, 4 rounds per block kept (statistics recomputed), measurement extras the table does not read dropped.

WHERE = GOLDEN / "where-results.json"


def _where_section(md: str) -> str:
    start = md.index("## Where should it run")
    return md[start:md.index("\n## ", start + 1)] + "\n"


def test_where_table_golden():
    _check_golden("where-report.md", _where_section(render(load_runs([WHERE]), "md")))


def test_where_table_marks_rows_more_than_one_point_below_fp32(tmp_path):
    doc = json.loads(WHERE.read_text())
    for r in doc["records"]:  # pretend the fastest row lost 1.5 points
        if r["runtime"] == "onnxruntime" and r["framework"] == "torch" and r["dtype"] == "float32":
            r["accuracy"], r["accuracy_delta"] = r["accuracy"] - 0.015, -0.015
    path = tmp_path / "w.json"
    path.write_text(json.dumps(doc))
    md = _where_section(render(load_runs([path]), "md"))
    flagged = [line for line in md.splitlines() if "✗" in line and line.startswith("|")]
    assert len(flagged) == 1 and flagged[0].startswith("| ORT CPU (PyTorch export) | float32")
    answer = next(line for line in md.splitlines() if line.startswith("**amd-epyc-2c-nogpu, seed_cnn**"))
    assert "batch 1: ORT CPU (PyTorch export) int8 `qdq_static`" in answer and "PyTorch export) float32" not in answer
    _tables(md)


def test_where_answer_for_a_model_without_accuracy_ranks_its_fp32_rows_and_says_why(tmp_path):
    """A model with no classifier head has no accuracy: its answer line names the fastest fp32 rows and the
    reason, instead of "none" (which read as if every row had failed the accuracy check)."""
    doc = json.loads(WHERE.read_text())
    for r in [dict(r) for r in doc["records"]]:
        r["model"], r["id"] = "headless", r["id"].replace("seed_cnn", "headless")
        r["accuracy"] = r["accuracy_delta"] = None
        r["accuracy_note"] = "headless has no classifier head: no top-1 accuracy"
        doc["records"].append(r)
    path = tmp_path / "w.json"
    path.write_text(json.dumps(doc))
    md = _where_section(render(load_runs([path]), "md"))
    answer = next(line for line in md.splitlines() if line.startswith("**amd-epyc-2c-nogpu, headless**"))
    assert "headless has no classifier head" in answer and "none" not in answer, answer
    assert "batch 1: ORT CPU (PyTorch export) float32 `default`" in answer, answer
    graded = next(line for line in md.splitlines() if line.startswith("**amd-epyc-2c-nogpu, seed_cnn**"))
    assert "within 1 point of fp32 accuracy" in graded


def test_where_table_only_for_files_with_accuracy(runs):
    assert "Where should it run" not in render(runs, "md")  # the 1.2 golden: no accuracy recorded


def test_accuracy_out_of_range_is_refused(tmp_path, capsys):
    doc = json.loads(WHERE.read_text())
    doc["records"][0]["accuracy"] = 97.4  # a percentage where a fraction belongs
    path = tmp_path / "w.json"
    path.write_text(json.dumps(doc))
    assert main(["report", str(path)]) == 2
    assert "accuracy" in capsys.readouterr().err


def test_plots_draw_fp32_rows_only():
    """A plotted line is one configuration: bf16 and int8 rows (their own rows in the tables) stay out of it."""
    from xbench.report.data import Run
    from xbench.report.plots import _ok

    doc = json.loads((Path(__file__).parent / "golden" / "where-results.json").read_text())
    run = Run("where", doc, "where-results.json")
    dtypes = {r.get("dtype") for r in doc["records"] if r["task"] == "inference" and r["status"] == "ok"}
    assert dtypes > {"float32"}, dtypes  # the fixture has lower precisions to leave out
    assert {r["dtype"] for r in _ok(run, "inference")} == {"float32"}


def test_the_inference_plot_has_a_panel_per_model_and_one_style_per_line_across_them():
    """Readable with many runtimes: one panel per model; a line keeps its colour (the framework whose model or
    export it is) and its dash (the framework itself solid, ONNX Runtime dashed, others dotted) in every panel,
    and the one legend names each line once."""
    from xbench.report.data import Run
    from xbench.report.plots import inference_figure

    doc = json.loads((Path(__file__).parent / "golden" / "where-results.json").read_text())
    extra = [{**r, "model": "other"} for r in doc["records"] if r["task"] == "inference"]
    run = Run("where", {**doc, "records": doc["records"] + extra}, "where-results.json")
    fig = inference_figure(run)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert sorted(ax.get_title() for ax in panels) == sorted({r["model"] for r in run.records if r["task"] == "inference"})
    styles = [{ln.get_label(): (ln.get_color(), ln.get_linestyle()) for ln in ax.get_lines()} for ax in panels]
    assert styles[0] == styles[1] and len(set(styles[0].values())) == len(styles[0])
    for label, (_, dash) in styles[0].items():
        assert dash == ("--" if label.startswith("ORT") else ":" if "export" in label else "-"), label
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert sorted(legend) == sorted(styles[0])
