"""The report: tables (CSV, Markdown), figures (PNG) and the self-contained HTML page."""

from __future__ import annotations

import csv
import json
import re

import pytest

from speechmusic.cli import main
from speechmusic.errors import ConfigError
from speechmusic.evaluation import write_report


def _experiment(run, name, *, dataset, classes, model, kind, accs):
    d = run / "experiments" / name
    d.mkdir(parents=True)
    desc = {"name": name, "datasets": [dataset], "task": "binary" if len(classes) == 2 else "3class",
            "classes": classes, "model": model, "arch": model, "model_params": {},
            "features": "melspec" if kind == "logmel" else "mfcc", "feature_config": {"kind": kind}}
    n = len(classes)
    conf = [[5 if i == j else 1 for j in range(n)] for i in range(n)]
    level = {"accuracy": {"mean": sum(accs) / len(accs), "std": 0.01, "n": len(accs), "values": accs},
             "balanced_accuracy": {"mean": 0.9, "std": 0.0, "n": 2, "values": [0.9, 0.9]},
             "macro_f1": {"mean": 0.9, "std": 0.0, "n": 2, "values": [0.9, 0.9]},
             "per_class": {}, "confusion": conf}
    summary = {"n_folds": len(accs), "labels": classes, "frame": level, "file": level, "n_clips": 10}
    (d / "experiment.json").write_text(json.dumps(desc))
    (d / "summary.json").write_text(json.dumps(summary))


@pytest.fixture
def run_dir(tmp_path):
    run = tmp_path / "run"
    for ds in ("musan", "gtzan"):
        for model, kind in (("vgg", "logmel"), ("ina", "logmel"), ("ina", "mfcc")):
            _experiment(run, f"{ds}-binary-{model}-{kind}", dataset=ds, classes=["music", "speech"],
                        model=model, kind=kind, accs=[0.9, 0.95])
    _experiment(run, "musan-3class-vgg-logmel", dataset="musan", classes=["music", "speech", "noise"],
                model="vgg", kind="logmel", accs=[0.7, 0.8])
    (run / "skipped.csv").write_text("path,dataset,clip_id,stage,features,reason\n/x.wav,d,d/x,read,mel,broken\n")
    return run


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
