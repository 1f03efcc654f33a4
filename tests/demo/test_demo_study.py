"""`speechmusic demo --quick`: the whole study on a tiny rendered corpus, and what its report says."""

from __future__ import annotations

import json
import re

import pytest

from speechmusic.cli import main

# The whole quick demo (rendering, both stages, the segmenter): minutes on 2 cores.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_demo(renderers, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo-quick")
    # Two workers, as `make demo` runs it: the units of both stages spread over a process pool.
    assert main(["demo", "--quick", "--out", str(out), "--workers", "2"]) == 0
    return out


def test_report_has_every_stage_with_numbers(quick_demo):
    text = (quick_demo / "report.html").read_text()
    # Stage one: a table per architecture and input, mean ± std.
    assert "Stage one" in text and re.search(r"\d+\.\d ± \d+\.\d", text)
    for arch in ("ina", "swishnet", "vgg", "dnn"):
        assert arch in text
    # Stage two: the Table 2 layout with the freezing strategies and baselines.
    table2 = (quick_demo / "transfer" / "table2.md").read_text()
    for row in ("INA_Emb", "INA_Orig", "VGG-like_Emb", "SwishNet_Emb", "DNN_baseline"):
        assert row in table2
    assert "Acc_FZ" in table2 and "Acc_IN" in table2 and "Acc_FT" in table2
    # The tool: both engines scored against the programme's truth, and the timeline picture.
    scores = json.loads((quick_demo / "segmentation" / "scores.json").read_text())
    assert scores[0]["engine"].startswith("demo") and 0.0 <= scores[0]["accuracy"] <= 1.0
    # The quick run fine-tunes INA's network where its weights are available (a network trained
    # from scratch on the quick corpus scores about 21 %), and the page says so.
    if scores[0]["engine"].startswith("demo fine-tuned INA"):
        assert scores[0]["accuracy"] >= 0.9
        assert (quick_demo / "segmenter-engine" / "model.pt").is_file()
        assert "cannot learn the task from the quick corpus" in text
        assert "with its dense blocks trained (the convolutions frozen)" in text
    else:
        assert "not available here" in text
    for s in scores:
        if s["accuracy"] is not None:
            assert 0.0 <= s["accuracy_min_duration_off"] <= 1.0
    assert (quick_demo / "segmentation" / "programme.demo.min-off.csv").is_file()
    assert "data:image/png;base64," in text and "frame accuracy" in text
    assert "min_duration_off" in text


def test_stage_one_trained_every_fold(quick_demo):
    results = json.loads((quick_demo / "study" / "results.json").read_text())
    rows = results if isinstance(results, list) else results.get("results", [])
    assert rows and all(r["n_folds"] == 2 for r in rows)
    # Units ran in separate processes; the final pass still tabulates every one of them.
    from speechmusic.demo.study import SETTINGS, study_config
    from speechmusic.training import load_config
    from speechmusic.training.config import expand_experiments

    manifests = {p.stem: p for p in (quick_demo / "manifests").glob("*.csv")}
    config = load_config(data=study_config(manifests, SETTINGS["quick"], quick_demo / "feature-cache"))
    expected = {e.name for e in expand_experiments(config)}
    assert {r["experiment"] for r in rows} == expected
    table2 = (quick_demo / "transfer" / "table2.md").read_text()
    for target in SETTINGS["quick"].transfer_targets:  # every target's rows, from both processes
        summary = quick_demo / "transfer" / "experiments" / f"{target}-dnn-baseline" / "summary.json"
        assert summary.is_file()
    assert "Gender" in table2 and "Speech Music" in table2


def test_rerun_resumes_without_training(quick_demo, capsys):
    assert main(["demo", "--quick", "--out", str(quick_demo), "--workers", "1"]) == 0
    log = (quick_demo / "study" / "run.log").read_text()
    assert "done earlier, not retrained" in log
