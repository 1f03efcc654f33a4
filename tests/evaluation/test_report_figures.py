"""The paper's Figures 4 and 5 and Table 2 as the report writes them: which experiments each
averages, the embedding baselines beside the networks, skipped experiments, both stages on one
page (Markdown, CSV, PNG, HTML as Chromium shows it)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
import yaml

from speechmusic.cli import main
from speechmusic.evaluation import write_report
from speechmusic.evaluation.report import figure4_rows, figure5_rows, study_report
from speechmusic.evaluation.results import load_experiments
from tests.evaluation import browser
from tests.evaluation.runs import experiment, transfer_run

DATASETS = ["musan", "gtzan", "marolt19", "acmusyt"]
CONFIG = {
    "name": "paper",
    "datasets": {d: {"layout": d, "root": f"/data/{d}"} for d in DATASETS},
    "tasks": {"binary": {"classes": ["music", "speech"]}, "3class": {"classes": ["music", "speech", "noise"]}},
    "features": {"melspec": {"preset": "melspec"}, "mfcc_ina": {"preset": "mfcc_ina"}},
    "models": {"ina": {"name": "ina", "features": ["melspec", "mfcc_ina"]},
               "dnn": {"name": "dnn", "features": ["melspec"]}},
    "embedders": {"openl3": {"kind": "openl3"},
                  "yamnet": {"kind": "yamnet", "title": "YAMNet", "stand_in": True}},
    "protocol": {"n_folds": 2, "test_fraction": 0.1, "val_fraction": 0.1, "balance": True,
                 "balance_test": True, "unify_sample_rate": 22050, "bit_depth": 16},
    "training": {"max_epochs": 1, "patience": 1, "batch_size": 64, "learning_rate": 0.001},
    "report": {"figure4": {"datasets": DATASETS, "tasks": ["binary"]},
               "figure5": {"datasets": ["musan", "marolt19"], "tasks": ["binary", "3class"]}},
}
SPEC4, SPEC5 = CONFIG["report"]["figure4"], CONFIG["report"]["figure5"]


def _emb(run: Path, name: str, *, dataset: str, classes: list[str], accs: list[float], model: str,
         kind: str, stand_in: bool = False) -> None:
    experiment(run, name, dataset=dataset, classes=classes, model=model, kind=f"embedding:{kind}",
               accs=accs, extra={"features": "embedding", "arch": "embedding_head",
                                 "embedder": {"name": model, "kind": kind, "stand_in": stand_in,
                                              "title": "YAMNet" if kind == "yamnet" else ""}})


def paper_like_run(run: Path, *, marolt_noise: bool = True) -> Path:
    """Every single-dataset experiment of a reduced paper.yaml (INA on two inputs, the DNN,
    OpenL3 and a stand-in), the all-four pre-training for INA only, Marolt19's 3-class ones
    skipped unless ``marolt_noise``."""
    binary, three = ["music", "speech"], ["music", "speech", "noise"]
    acc = {d: 0.6 + 0.1 * i for i, d in enumerate(DATASETS)}  # 0.6, 0.7, 0.8, 0.9
    skipped = []
    for task, classes, datasets in (("binary", binary, DATASETS), ("3class", three, ["musan", "marolt19"])):
        for d in datasets:
            a = acc[d] - (0.2 if task == "3class" else 0.0)
            rows = [("ina", "logmel", "melspec"), ("ina", "mfcc", "mfcc_ina"), ("dnn", "logmel", "melspec")]
            names = [f"{d}-{task}-{m}-{f}" for m, _, f in rows] + [f"{d}-{task}-{e}-embedding"
                                                                     for e in ("openl3", "yamnet")]
            if task == "3class" and d == "marolt19" and not marolt_noise:
                for n, (m, f) in zip(names, [(m, f) for m, _, f in rows] + [("openl3", "embedding"),
                                                                            ("yamnet", "embedding")],
                                     strict=True):
                    skipped.append([n, d, task, m, f, "no clips of class(es) ['noise'] in marolt19"])
                continue
            for (m, k, f), n in zip(rows, names, strict=False):
                experiment(run, n, dataset=d, classes=classes, model=m, kind=k, accs=[a, a + 0.02],
                           extra={"features": f})
            _emb(run, names[3], dataset=d, classes=classes, accs=[a + 0.05] * 2, model="openl3", kind="openl3")
            _emb(run, names[4], dataset=d, classes=classes, accs=[a - 0.05] * 2, model="yamnet",
                 kind="yamnet", stand_in=True)
    # The pre-training on all four: never in a figure.
    d = experiment(run, "all4-binary-ina-melspec", dataset="musan", classes=binary, model="ina",
                   kind="logmel", accs=[0.1, 0.1], extra={"features": "melspec"})
    desc = json.loads((d / "experiment.json").read_text())
    desc["datasets"] = DATASETS
    (d / "experiment.json").write_text(json.dumps(desc))
    (run / "config.yaml").write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["experiment", "datasets", "task", "model", "features", "reason"])
    w.writerows(skipped)
    (run / "skipped_experiments.csv").write_text(buf.getvalue())
    return run


def transfer_dir(root: Path) -> Path:
    """A transfer run directory as ``speechmusic transfer`` leaves it (with its config.yaml)."""
    run, config = transfer_run(root)
    (run / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    return run


def test_figure4_averages_the_four_datasets_and_nothing_else(tmp_path):
    """The all-four pre-training run was pooled into the rows that had one (INA, SwishNet, VGG
    MelSpec: five "datasets") but not into the others (DNN, MFCC rows). Figure 4 averages the
    four datasets, for every row alike."""
    run = paper_like_run(tmp_path / "run")
    experiments = load_experiments(run)
    for rows in (figure4_rows(experiments), figure4_rows(experiments, spec=SPEC4, config=CONFIG)):
        by = {(r["model"], r["features"]): r for r in rows}
        assert set(by) == {("ina", "melspec"), ("ina", "mfcc_ina"), ("dnn", "melspec"),
                           ("openl3", "embedding"), ("yamnet", "embedding")}
        for r in rows:
            assert r["n_datasets"] == 4 and r["n_folds"] == 8, r
            assert sorted(r["datasets"].split()) == sorted(DATASETS) and r["missing"] == ""
        # mean of the four datasets' folds (0.6..0.9 and +0.02): 0.76, the all-four 0.1 not in it
        assert by[("ina", "melspec")]["frame_accuracy_mean"] == pytest.approx(0.76)
        assert by[("ina", "melspec")]["frame_accuracy_mean"] == pytest.approx(
            by[("dnn", "melspec")]["frame_accuracy_mean"])
        assert by[("openl3", "embedding")]["frame_accuracy_mean"] == pytest.approx(0.80)
    rows = figure4_rows(experiments, spec=SPEC4, config=CONFIG)
    # the paper's names, in the config's order: networks with their inputs, then embeddings
    assert [(r["title"], r["input"]) for r in rows] == [
        ("INA", "MelSpec"), ("INA", "MFCC"), ("DNN", "MelSpec"), ("OpenL3", "Embedding"),
        ("YAMNet (stand-in)", "Embedding")]
    assert rows[0]["per_dataset"]["gtzan"]["frame"]["mean"] == pytest.approx(0.71)


def test_figure5_binary_beside_3class_on_musan_and_marolt19(tmp_path):
    run = paper_like_run(tmp_path / "run")
    rows = figure5_rows(load_experiments(run), spec=SPEC5, config=CONFIG)
    assert [r["dataset"] for r in rows] == ["musan"] * 5 + ["marolt19"] * 5
    ina = rows[0]
    assert (ina["title"], ina["input"]) == ("INA", "MelSpec")
    assert ina["binary_mean"] == pytest.approx(0.61) and ina["three_class_mean"] == pytest.approx(0.41)
    assert ina["drop"] == pytest.approx(0.2)
    assert all(r["binary_status"] == r["three_class_status"] == "ok" for r in rows)


def test_skipped_experiments_show_in_the_figures_with_their_reason(tmp_path):
    run = paper_like_run(tmp_path / "run", marolt_noise=False)
    report = study_report(run, confusion=False)
    marolt = [r for r in report.figure5 if r["dataset"] == "marolt19"]
    assert len(marolt) == 5 and all(r["three_class_status"] == "skipped" for r in marolt)
    assert all(r["binary_status"] == "ok" and "['noise']" in r["note"] for r in marolt)
    files = write_report(run, confusion=False)
    md5 = files["figure5.md"].read_text()
    assert "| INA | MelSpec | 61.0 ± 1.0 | 41.0 ± 1.0 | 20.0 | 81.0 ± 1.0 | skipped | - |" in md5
    page = files["report.html"].read_text()
    assert "Skipped experiments (5)" in page and "no clips of class(es) [&#x27;noise&#x27;]" not in page
    assert "no clips of class(es) ['noise'] in marolt19" in page


def test_report_writes_each_figure_as_markdown_csv_and_png(tmp_path):
    run = paper_like_run(tmp_path / "run")
    files = write_report(run, out_dir=tmp_path / "out", confusion=False)
    for name in ("figure4.md", "figure4.csv", "figure4.png", "figure5.md", "figure5.csv",
                 "figure5.png", "results.csv", "report.md", "report.html"):
        assert files[name].is_file(), name
    assert files["figure4.png"].read_bytes()[:4] == b"\x89PNG"
    md4 = files["figure4.md"].read_text()
    assert md4.startswith("# Figure 4: accuracy per architecture and input (binary tasks)")
    assert "| Model | Input | Frame-wise acc [%] | File-wise acc [%] | Datasets | Folds |" in md4
    assert "| INA | MelSpec | 76.0 ± 11.2 | 76.0 ± 11.2 | 4 of 4 | 8 |" in md4
    assert "| YAMNet (stand-in) | Embedding |" in md4 and "![Figure 4" in md4
    assert "| Model | Input | MUSAN | GTZAN | Marolt19 | ACMusYT |" in md4
    f4 = list(csv.DictReader(files["figure4.csv"].read_text().splitlines()))
    assert [r["title"] for r in f4] == ["INA", "INA", "DNN", "OpenL3", "YAMNet (stand-in)"]
    assert float(f4[0]["frame_accuracy_marolt19"]) == pytest.approx(0.81)
    md5 = files["figure5.md"].read_text()
    assert ("| Model | Input | MUSAN binary [%] | MUSAN 3-class [%] | MUSAN drop [points] | "
            "Marolt19 binary [%] | Marolt19 3-class [%] | Marolt19 drop [points] |") in md5
    assert "Protocol: 2-fold" in files["report.md"].read_text()
    assert "test patches balanced" in files["report.md"].read_text()
    assert "22050 Hz and 16 bits" in files["report.md"].read_text()


def test_both_stages_on_one_page(tmp_path, capsys):
    run = paper_like_run(tmp_path / "run")
    transfer = transfer_dir(tmp_path)
    out = tmp_path / "report"
    assert main(["report", str(run), str(transfer), "-o", str(out), "--no-confusion"]) == 0
    printed = capsys.readouterr().out
    for name in ("figure4.md", "figure5.md", "table2.md", "table2.csv", "table2.png", "report.html"):
        assert str(out / name) in printed, name
    md = (out / "report.md").read_text()
    heads = [ln for ln in md.splitlines() if ln.startswith("## ")]
    assert heads == ["## Report: run", "## Transfer study: demo-transfer"]
    assert "### Figure 4: accuracy per architecture and input (binary tasks)" in md
    assert "### Table 2 (frame-wise accuracy)" in md
    t2 = (out / "table2.md").read_text()
    assert t2.startswith("| Task-Set-Combination | Model | Acc_FZ [%] | Acc_IN [%] | Acc_FT [%] |")
    # Two run directories of the same kind would overwrite each other's files: refused.
    assert main(["report", str(run), str(run), "-o", str(tmp_path / "x")]) == 2


def test_both_stages_page_in_chromium(tmp_path):
    browser.chromium()
    run = paper_like_run(tmp_path / "run", marolt_noise=False)
    transfer = transfer_dir(tmp_path)
    files = write_report([run, transfer], out_dir=tmp_path / "out", confusion=False)
    dom = browser.dump_dom(files["report.html"], tmp_path)
    page = browser.check_report_page(dom, figures=3, min_tables=8)
    headings = [h.text.strip() for h in page.headings()]
    assert headings[:2] == ["Report: run + transfer", "Report: run"]
    assert "Figure 4: accuracy per architecture and input (binary tasks)" in headings
    assert "Figure 5: binary vs 3-class (frame-wise accuracy)" in headings
    assert "Table 2 (frame-wise accuracy)" in headings and "Skipped experiments (5)" in headings
    shot = browser.screenshot(files["report.html"], tmp_path, size=(1280, 3000))
    browser.check_not_blank(shot)
    assert re.search(r"<td class=\"num\">skipped</td>", files["report.html"].read_text())
