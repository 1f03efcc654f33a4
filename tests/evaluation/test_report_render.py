"""The one report renderer: sections, tables and figures as Markdown and as an HTML page, and
the pages of `speechmusic report` and `speechmusic transfer` as headless Chromium shows them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from speechmusic.evaluation import write_report
from speechmusic.evaluation.report import (
    Figure,
    Paragraph,
    Section,
    Table,
    render_html,
    render_markdown,
    study_report,
)
from tests.evaluation import browser
from tests.evaluation.runs import study_run, transfer_run


def _png() -> bytes:
    import io

    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(2, 1))
    fig.subplots().plot([0, 1], [1, 0])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _three_tables_in_a_row() -> list:
    return [Paragraph("Intro with `code` and a [link](other/page.html)."),
            Section("Figure 4").add(Table(["model", "acc [%]"], [["ina", "92.5 ± 2.5"], ["vgg", "90.0"]])),
            Section("Figure 5").add(Table(["dataset", "drop"], [["musan", "17.5"]]),
                                    Figure(_png(), "Figure 5: a caption", "figure5.png")),
            Section("Table 2").add(Section("frame-wise").add(
                Table(["model", "note"], [["a|b", "-"], ["c", "n/a"]])))]


def test_several_tables_in_a_row_each_under_its_heading_in_html():
    page = render_html("Report: x", _three_tables_in_a_row())
    assert page.count("<table>") == 3 and page.count("<thead>") == 3 and page.count("</table>") == 3
    assert "<td>---</td>" not in page and "---" not in page
    assert re.findall(r"<h(\d)>([^<]*)</h\d>", page) == [
        ("1", "Report: x"), ("2", "Figure 4"), ("2", "Figure 5"), ("2", "Table 2"), ("3", "frame-wise")]
    # Every table comes right after its section's heading, never glued to the one before.
    for title in ("Figure 4", "Figure 5", "frame-wise"):
        assert re.search(rf"<h\d>{title}</h\d>\s*<table><thead>", page), title
    assert page.count("<figure><img") == 1 and "<figcaption>Figure 5: a caption</figcaption>" in page
    assert '<code>code</code>' in page and '<a href="other/page.html">link</a>' in page
    assert "<td>a|b</td>" in page and '<td class="num">92.5 ± 2.5</td>' in page


def test_several_tables_in_a_row_as_markdown():
    md = render_markdown("Report: x", _three_tables_in_a_row())
    lines = md.splitlines()
    assert lines[0] == "# Report: x"
    assert [ln for ln in lines if ln.startswith("#")] == [
        "# Report: x", "## Figure 4", "## Figure 5", "## Table 2", "### frame-wise"]
    # Three tables, each a header, one separator and its rows, a blank line around it.
    blocks = [b for b in md.split("\n\n") if b.startswith("|")]
    assert len(blocks) == 3
    for block in blocks:
        rows = block.splitlines()
        assert re.fullmatch(r"\|(---\|)+", rows[1]) and all(r.startswith("| ") for r in rows[2:])
        n = rows[0].count(" | ")
        assert all(len(re.split(r"(?<!\\) \| ", r)) == n + 1 for r in rows[2:])
    assert r"| a\|b | - |" in md and "![Figure 5: a caption](figure5.png)" in md


def test_study_report_sections_and_context(tmp_path):
    report = study_report(study_run(tmp_path / "run"))
    page = render_html(report.title, report.sections)
    titles = re.findall(r"<h2>([^<]*)</h2>", page)
    assert titles[:4] == ["Figure 4: accuracy per architecture and input (binary tasks)",
                          "Figure 5: binary vs 3-class (frame-wise accuracy)",
                          "All experiments", "Folds: data and training"]
    assert "Per experiment" in titles and "Skipped clips (1)" in titles
    assert len(re.findall(r"<h3>", page)) == 7 + 1  # one per experiment, Figure 4 per dataset
    # The run's context: protocol and training from config.yaml, sizes and epochs per fold.
    assert "2-fold grouped cross-validation" in page and "at most 2 epochs" in page
    assert "at most 4 training patches per clip" in page
    assert '<td class="num">5 / 6</td>' in page  # test clips of fold 0 / fold 1
    assert '<td class="num">24 / 26</td>' in page  # test patches, binary: 2 classes × 12 / 13
    assert "2 (best 1) / 2 (best 2)" in page


def _check_in_browser(page_path: Path, tmp_path: Path, *, figures: int, min_tables: int) -> browser.Page:
    dom = browser.dump_dom(page_path, tmp_path)
    page = browser.check_report_page(dom, figures=figures, min_tables=min_tables)
    browser.check_not_blank(browser.screenshot(page_path, tmp_path))
    return page


def test_report_page_in_chromium(tmp_path):
    browser.chromium()
    run = study_run(tmp_path / "run")
    files = write_report(run)
    page = _check_in_browser(files["report.html"], tmp_path, figures=2 + 7, min_tables=5)
    headings = [h.text.strip() for h in page.headings()]
    assert headings[0] == "Report: run"
    assert any(h.startswith("Figure 4") for h in headings) and any(h.startswith("Figure 5") for h in headings)
    # results, 4 (and 4 per dataset), 5, folds; per experiment; skipped clips
    assert len(page.all("table")) == 5 + 7 + 1


def test_transfer_page_in_chromium(tmp_path):
    """Table 2 of a transfer run (two targets, some cells run) on its page."""
    browser.chromium()
    from speechmusic.transfer.report import table2_rows, write_transfer_report

    run, config = transfer_run(tmp_path)
    files = write_transfer_report(run, config, table2_rows(run, config))
    page = _check_in_browser(files["report.html"], tmp_path, figures=1, min_tables=4)  # table2.png
    headings = [h.text.strip() for h in page.headings()]
    assert headings[:3] == ["Transfer study: demo-transfer", "Table 2 (frame-wise accuracy)",
                            "Table 2 (file-wise accuracy)"]
    assert "Pre-training (source task, held-out test split)" in headings
    assert "Folds: data and training" in headings
    text = files["report.html"].read_text()
    assert "85.0 ± 1.0" in text and "(not run)" in text
    md_lines = (run / "table2.md").read_text().splitlines()
    assert sum(bool(re.fullmatch(r"\|(---\|)+", ln)) for ln in md_lines) == 1


@pytest.mark.parametrize("umask", [0o022])
def test_report_files_are_readable_by_others(tmp_path, umask):
    import os

    old = os.umask(umask)
    try:
        files = write_report(study_run(tmp_path / "run"))
    finally:
        os.umask(old)
    for name in ("report.html", "report.md", "results.csv", "figure4.png"):
        assert files[name].stat().st_mode & 0o777 == 0o644, name
