"""The report: tables (CSV, Markdown), figures (PNG) and the self-contained HTML page."""

from __future__ import annotations

import csv
import re

import pytest

from speechmusic.cli import main
from speechmusic.errors import ConfigError
from speechmusic.evaluation import write_report
from tests.evaluation.runs import study_run


@pytest.fixture
def run_dir(tmp_path):
    return study_run(tmp_path / "run", folds=False)


def test_report_writes_tables_figures_and_one_html_page(run_dir):
    files = write_report(run_dir)
    out = run_dir / "report"
    for name in ("results.csv", "figure4.csv", "figure5.csv", "figure4.png", "figure5.png",
                 "report.md", "report.html"):
        assert (out / name).is_file(), name
    assert (out / "figure4.png").read_bytes()[:4] == b"\x89PNG"
    assert len([k for k in files if k.startswith("confusion/")]) == 7
    f4 = list(csv.DictReader((out / "figure4.csv").read_text().splitlines()))
    assert {(r["model"], r["input"]) for r in f4} == {("vgg", "MelSpec"), ("ina", "MelSpec"), ("ina", "MFCC")}
    vgg = next(r for r in f4 if r["model"] == "vgg")
    assert vgg["n_datasets"] == "2" and vgg["n_folds"] == "4"
    assert float(vgg["frame_accuracy_mean"]) == pytest.approx(0.925)
    f5 = list(csv.DictReader((out / "figure5.csv").read_text().splitlines()))
    assert len(f5) == 1 and f5[0]["dataset"] == "musan" and f5[0]["model"] == "vgg"
    assert float(f5[0]["drop"]) == pytest.approx(0.925 - 0.75)
    md = (out / "report.md").read_text()
    assert "Figure 4" in md and "92.5 ± 2.5" in md and "![" in md and "broken" in md
    page = (out / "report.html").read_text()
    srcs = re.findall(r'src="([^"]+)"', page)
    assert len(srcs) == 2 + 7 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "<table>" in page and "Figure 5" in page


def test_report_command_and_errors(run_dir, tmp_path, capsys):
    assert main(["report", str(run_dir), "-o", str(tmp_path / "out"), "--no-confusion"]) == 0
    assert (tmp_path / "out" / "report.html").is_file()
    assert not (tmp_path / "out" / "confusion").exists()
    with pytest.raises(ConfigError, match="not a run directory"):
        write_report(tmp_path / "nothing")
    assert main(["report", str(tmp_path / "nothing")]) == 2


def test_protocol_sentence_names_augmented_copies():
    from speechmusic.evaluation.report import protocol_text

    base = {"protocol": {"n_folds": 5, "test_fraction": 0.1, "val_fraction": 0.1},
            "training": {"max_epochs": 10, "patience": 3, "batch_size": 64, "learning_rate": 0.001}}
    assert "augmented" not in protocol_text(base)
    assert "augmented" not in protocol_text({**base, "training": {**base["training"],
                                                                  "augment": {"copies": 0}}})
    text = protocol_text({**base, "training": {**base["training"], "augment": {
        "copies": 2, "p_noise": 0.5, "p_reverb": 0.2, "p_band_limit": 0.0, "p_codec": 0.15,
        "p_clipping": 0.1}}})
    assert ("2 augmented copies of every training clip (probability of each effect: noise 0.5, "
            "reverberation 0.2, codec 0.15, clipping 0.1)") in text
