"""The demo's page, from generated stage folders (nothing trained): every stage under its own
headings, Figure 4 / Figure 5 / Table 2 as tables of their own, as headless Chromium shows it."""

from __future__ import annotations

import re

from speechmusic.demo.study import SETTINGS, _timeline_png, _write_report
from speechmusic.evaluation import write_report
from speechmusic.segment.formats import Segment
from speechmusic.transfer.report import table2_rows
from tests.evaluation import browser
from tests.evaluation.runs import study_run, transfer_run


def _demo_out(tmp_path):
    out = tmp_path / "demo"
    study_dir = study_run(out / "study")
    write_report(study_dir)  # as the demo does: the study's own report, linked from the page
    transfer_dir, transfer = transfer_run(out)
    truth = [Segment("speech", 0.0, 4.0), Segment("music", 4.0, 9.0), Segment("noEnergy", 9.0, 10.0)]
    found = [Segment("speech", 0.0, 4.4), Segment("music", 4.4, 10.0)]
    seg = {"scores": [{"engine": "demo-trained VGG-like (3 classes)", "accuracy": 0.9,
                       "accuracy_min_duration_off": 0.92, "seconds": 1.5},
                      {"engine": "INA published (smn)", "accuracy": None, "note": "weights missing"}],
           "timeline": _timeline_png([("truth", truth), ("demo", found)], 10.0), "duration": 10.0,
           "note": "The demo's own engine is the VGG-like network trained from scratch."}
    page = _write_report(out, study_dir=study_dir, transfer_dir=transfer_dir, transfer=transfer,
                         transfer_rows=table2_rows(transfer_dir, transfer), seg=seg,
                         settings=SETTINGS["quick"], timings={"corpus": 12.0, "stages one and two": 80.0})
    return out, page


def test_demo_page_sections_without_markdown_residue(tmp_path):
    out, page = _demo_out(tmp_path)
    text = page.read_text()
    assert "<td>---</td>" not in text and "---" not in text
    h2 = re.findall(r"<h2>([^<]*)</h2>", text)
    assert h2 == ["Stage one: speech/music (and noise) classification",
                  "Stage two: transfer learning (the paper's Table 2)",
                  "The tool: segmenting a generated programme"]
    h3 = re.findall(r"<h3>([^<]*)</h3>", text)
    for title in ("All experiments", "Figure 4: accuracy per architecture and input (binary tasks)",
                  "Figure 5: binary vs 3-class (frame-wise accuracy)", "Table 2 (frame-wise accuracy)",
                  "Table 2 (file-wise accuracy)", "Folds: data and training",
                  "Frame accuracy against the truth"):
        assert title in h3, title
    assert "report" not in [h.lower() for h in h2 + h3]
    # The run's context: settings of the quick demo and the sizes of every fold.
    assert "2-fold grouped cross-validation" in text and "at most 2 epochs" in text
    assert "at most 4 training patches per clip" in text and "5 / 6" in text
    # What the demo's own engine is, before its scores.
    note = text.index("own engine is the VGG-like network trained from scratch.")
    assert note < text.index("<h3>Frame accuracy against the truth</h3>")
    assert '<a href="study/report/report.html">' in text and (out / "study/report/report.html").is_file()


def test_demo_page_in_chromium(tmp_path):
    browser.chromium()
    _, page = _demo_out(tmp_path)
    dom = browser.dump_dom(page, tmp_path)
    parsed = browser.check_report_page(dom, figures=3, min_tables=8)  # Figures 4, 5, the timeline
    assert [h.text.strip() for h in parsed.all("h1")] == [
        "speechmusic demo: the study end to end on a rendered corpus"]
    captions = [c.text for c in parsed.all("figcaption")]
    assert captions[0].startswith("Figure 4") and captions[1].startswith("Figure 5")
    assert captions[2].startswith("Segmentation timeline")
    browser.check_not_blank(browser.screenshot(page, tmp_path))
