"""The segmentation stage's own engine: the full demo trains the VGG-like network from scratch,
the quick demo fine-tunes INA's published network (its corpus is too small to train one), and
the page says which, and why."""

from __future__ import annotations

from dataclasses import replace

import pytest

from speechmusic.demo import study
from speechmusic.demo.study import (
    QUICK_ENGINE_REASON,
    SETTINGS,
    _engine_summary,
    _fine_tuned_text,
    _own_checkpoint,
    _own_engine_plan,
)


def _manifests(tmp_path):
    return {ds: tmp_path / f"{ds}.csv" for ds in study.SOURCES}


def test_full_demo_trains_its_network_from_scratch(tmp_path):
    assert SETTINGS["full"].segmenter_init is None
    engine, note = _own_engine_plan(tmp_path, _manifests(tmp_path), SETTINGS["full"], tmp_path)
    assert engine is None
    assert "VGG-like network trained from scratch" in note and "at most 12 epochs" in note


def test_quick_demo_fine_tunes_inas_network(ina_weights, tmp_path):
    assert SETTINGS["quick"].segmenter_init == "ina:smn"
    engine, note = _own_engine_plan(tmp_path, _manifests(tmp_path), SETTINGS["quick"],
                                    tmp_path / "cache")
    args, folder = engine
    assert folder == tmp_path / "segmenter-engine"
    assert args == {"manifests": [str(tmp_path / f"{ds}.csv") for ds in study.SOURCES],
                    "init": "ina:smn", "max_epochs": SETTINGS["quick"].max_epochs,
                    "cache_dir": str(tmp_path / "cache")}
    assert note == QUICK_ENGINE_REASON
    assert "69.0 %" in note and "cannot learn the task" in note and "without `--quick`" in note


def test_quick_demo_without_inas_weights_says_its_score_means_little(tmp_path, monkeypatch):
    from speechmusic.errors import WeightsUnavailableError
    from speechmusic.training import engine as training_engine

    def unavailable(spec, **kw):
        raise WeightsUnavailableError("no network here")

    monkeypatch.setattr(training_engine, "resolve_init", unavailable)
    engine, note = _own_engine_plan(tmp_path, _manifests(tmp_path), SETTINGS["quick"], tmp_path)
    assert engine is None
    assert "not available here (no network here)" in note
    assert "shows only the pipeline, not the tool" in note


def test_the_fine_tuned_engine_described_from_its_record(tmp_path):
    import json

    (tmp_path / "model.pt").write_bytes(b"")
    (tmp_path / "train.json").write_text(json.dumps({
        "model": {"init": "ina:smn", "trainable": "intermediate"},
        "final": {"clips": 43, "validation_clips": 5, "best_epoch": 1, "epochs_run": 2},
        "timings": {"total": 31.4}}))
    summary = _engine_summary(tmp_path)
    text = _fine_tuned_text(summary)
    assert text == (" This engine: `ina:smn` with its dense blocks trained (the convolutions "
                    "frozen) on 43 clips (5 more held out to keep the best epoch), 2 epoch(s) "
                    "run, epoch 1 kept, in 31 s (features included); its model folder "
                    "(`segmenter-engine/`) holds its own report.")
    assert _own_checkpoint(tmp_path) == tmp_path / "model.pt"
    assert _engine_summary(tmp_path / "missing") == {} and _fine_tuned_text({}) == ""


def test_a_segmenter_run_without_checkpoint_is_an_error(tmp_path):
    from speechmusic.errors import SpeechMusicError

    with pytest.raises(SpeechMusicError, match="no checkpoint"):
        _own_checkpoint(tmp_path)
    run = tmp_path / "experiments" / "segmenter-3class" / "fold_0"
    run.mkdir(parents=True)
    (run / "model.pt").write_bytes(b"")
    assert _own_checkpoint(tmp_path) == run / "model.pt"


@pytest.mark.slow
def test_fine_tuned_engine_segments_the_quick_programme(ina_weights, quick_corpus, tmp_path):
    """The quick demo's engine on the quick programme: at least 90 % of its frames right
    (measured 93.3 %; about a minute on 2 busy cores)."""
    from speechmusic.demo.programme import write_programme
    from speechmusic.demo.study import _write_manifests, fine_tune_engine, score_segments
    from speechmusic.segment import Segmenter, read_segments

    settings = SETTINGS["quick"]
    manifests = _write_manifests(quick_corpus, tmp_path / "manifests",
                                 replace(settings, transfer_targets=()))
    model = fine_tune_engine([str(manifests[ds]) for ds in study.SOURCES], tmp_path / "engine",
                             init="ina:smn", max_epochs=settings.max_epochs,
                             cache_dir=tmp_path / "cache")
    wav, truth = write_programme(tmp_path / "seg", seed=7, seconds=settings.programme_seconds)
    assert score_segments(Segmenter(str(model))(wav), read_segments(truth)) >= 0.9
