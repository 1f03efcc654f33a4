"""The overlap detector's training settings (``speechmusic.training.overlap``)."""

from __future__ import annotations

import pytest
import torch

from speechmusic.errors import ConfigError
from speechmusic.training.overlap import OverlapTrainConfig, _pool_key, build_detector_model


def test_normalizer_setting_round_trips_and_is_checked(tmp_path):
    config = OverlapTrainConfig(normalizer="standard", sources=["overlap"])
    path = tmp_path / "c.yaml"
    path.write_text(config.to_yaml())
    again = OverlapTrainConfig.from_yaml(path)
    assert again.normalizer == "standard" and again.sources == ["overlap"]
    with pytest.raises(ConfigError, match="normalizer"):
        OverlapTrainConfig(normalizer="zscore")
    with pytest.raises(ConfigError, match="source network"):
        OverlapTrainConfig(sources=["vgg"])


def test_pools_of_each_normalisation_are_kept_apart_and_old_keys_stay():
    """Per-patch pools (the shipped detector's) keep the key they had before the setting
    existed; standardised-later pools hold other patches, so another key."""
    from pathlib import Path

    shipped = OverlapTrainConfig.from_yaml(Path(__file__).resolve().parents[2] / "experiments" / "overlap.yaml")
    assert shipped.normalizer == "per_patch"
    assert _pool_key(shipped) == "7751dfd82dc3e91f"  # the key of the shipped weights' run
    standard = OverlapTrainConfig.from_dict({**shipped.to_dict(), "normalizer": "standard"})
    sliding = OverlapTrainConfig.from_dict({**shipped.to_dict(), "normalizer": "sliding"})
    assert len({_pool_key(standard), _pool_key(shipped), _pool_key(sliding)}) == 3


def test_the_shipped_detector_as_a_starting_point_keeps_its_classifier():
    from speechmusic.segment.overlap import OverlapDetector

    shipped = OverlapDetector.load().model
    model = build_detector_model("overlap", strategy="intermediate", head_units=128, seed=0)
    assert model is not shipped and model.n_classes == 2 and model.labels == ["speech", "music"]
    for key, value in shipped.classifier.state_dict().items():
        assert torch.equal(model.classifier.state_dict()[key], value)
    assert not any(p.requires_grad for p in model.body.lower.parameters())
    assert all(p.requires_grad for p in model.classifier.parameters())


def test_select_names_the_detector_or_takes_the_best_validation_f1(tmp_path):
    from speechmusic.training.overlap import choose_row

    rows = [{"source": "smn", "strategy": "frozen", "val_f1": 0.85},
            {"source": "smn", "strategy": "intermediate", "val_f1": 0.89},
            {"source": "sm", "strategy": "full", "val_f1": 0.87}]
    assert choose_row(rows)["strategy"] == "intermediate"
    assert choose_row(rows, "smn/frozen") is rows[0]
    with pytest.raises(ConfigError, match="no such trained pair"):
        choose_row(rows, "sm/frozen")
    config = OverlapTrainConfig(sources=["smn"], strategies=["frozen", "full"], select="smn/frozen")
    path = tmp_path / "c.yaml"
    path.write_text(config.to_yaml())
    assert OverlapTrainConfig.from_yaml(path).select == "smn/frozen"
    for bad in ("sm/frozen", "smn/intermediate", "frozen"):
        with pytest.raises(ConfigError, match="select must be"):
            OverlapTrainConfig(sources=["smn"], strategies=["frozen", "full"], select=bad)


@pytest.mark.parametrize("engine", ["overlap", "overlap-fast", "overlap-yamnet"])
def test_the_shipped_configs_select_the_frozen_smn_detector(engine):
    """The frozen strategy heard unseen music better than the best-by-validation one (README)."""
    from pathlib import Path

    from speechmusic.segment.overlap import SHIPPED_WEIGHTS, OverlapDetector

    config = Path(__file__).resolve().parents[2] / "experiments" / f"{engine}.yaml"
    assert OverlapTrainConfig.from_yaml(config).select == "smn/frozen"
    info = OverlapDetector.load(SHIPPED_WEIGHTS[engine]).info
    assert (info["source"], info["strategy"]) == ("smn", "frozen")
    assert info["config"]["select"] == "smn/frozen"


def test_fusion_and_bridge_settings_round_trip_and_are_checked(tmp_path):
    config = OverlapTrainConfig(fusion={"hop_seconds": 0.24}, bridge_grid=[0.0, 0.5])
    path = tmp_path / "c.yaml"
    path.write_text(config.to_yaml())
    back = OverlapTrainConfig.from_yaml(path)
    assert back.fusion == {"hop_seconds": 0.24} and back.bridge_grid == [0.0, 0.5]
    assert OverlapTrainConfig().fusion is None and OverlapTrainConfig().bridge_grid == [0.0]
    for bad in ({"hop": 0.24}, {"hop_seconds": 0}):
        with pytest.raises(ConfigError, match="fusion must be"):
            OverlapTrainConfig(fusion=bad)
    with pytest.raises(ConfigError, match="bridge_grid"):
        OverlapTrainConfig(bridge_grid=[-1.0])
    level = {"envelope_seconds": 0.2, "window_seconds": 3.0, "free_db": 10.0}
    path.write_text(OverlapTrainConfig(fusion={"hop_seconds": 0.24, "level": level}).to_yaml())
    assert OverlapTrainConfig.from_yaml(path).fusion["level"] == level
    with pytest.raises(ConfigError, match="fusion.level needs"):
        OverlapTrainConfig(fusion={"hop_seconds": 0.24, "level": {"window_seconds": 3.0}})
    with pytest.raises(ConfigError, match="level drop"):
        OverlapTrainConfig(fusion={"hop_seconds": 0.24, "level": {**level, "free_db": -1.0}})


def test_fit_fusion_leans_on_the_score_that_tells_the_classes():
    """Programmes where YAMNet's speech score tells speech and the network's probability is
    noise: the regression's speech weight goes to YAMNet's score, and the fused probability
    separates what the network's alone cannot."""
    import numpy as np

    from speechmusic.segment.formats import Segment
    from speechmusic.training.overlap import fit_fusion, programme_labels

    rng = np.random.default_rng(0)
    computed, scores = [], []
    for i in range(4):
        n = 500
        ref = [Segment("speech", 2.0 + i, 6.0 + i), Segment("music", 0.0, 8.0)]
        lab = programme_labels(ref, n)
        probs = rng.uniform(0.05, 0.95, size=(n, 2)).astype(np.float32)
        sc = np.column_stack([np.where(lab[:, 0], 3.0, -3.0) + rng.normal(0, 1, n), rng.normal(0, 1, n)])
        active = np.ones(n, dtype=bool)
        active[-20:] = False
        computed.append((probs, active, n * 0.02, ref))
        scores.append(sc.astype(np.float32))
    lines = []
    fusion = fit_fusion(computed, scores, hop_seconds=0.24, log=lines.append)
    w = fusion.weights["speech"]
    assert abs(w[2]) > 5 * max(abs(w[0]), abs(w[1]), abs(w[3])) and w[2] > 0
    fused = fusion.apply(*[computed[0][0], scores[0]])
    lab = programme_labels(computed[0][3], 500)
    assert ((fused[:, 0] > 0.5) == lab[:, 0]).mean() > 0.97  # the network's probability alone: chance
    assert len(lines) == 2 and "YAMNet" in lines[0]
    # With a level drop, the speech weight goes to it where the level is what tells speech: speech
    # 20 dB above everything else, the network's and YAMNet's scores noise.
    from speechmusic.segment.overlap import LevelDrop

    level = LevelDrop(envelope_seconds=0.1, window_seconds=10.0, free_db=6.0)  # the whole programme
    energies = [np.where(programme_labels(c[3], 500)[:, 0], 0.0, -20 * np.log(10) / 10) + rng.normal(0, 0.05, 500)
                for c in computed]
    noise = [rng.normal(0, 1, (500, 2)).astype(np.float32) for _ in computed]
    lines = []
    fusion = fit_fusion(computed, noise, hop_seconds=0.24, level=level, energies=energies, log=lines.append)
    w = fusion.weights["speech"]
    assert fusion.level == level and len(w) == 5 and w[4] > 3 * max(map(abs, w[:4]))
    assert "level drop" in lines[0]
    fused = fusion.apply(computed[1][0], noise[1], energy=energies[1])
    lab = programme_labels(computed[1][3], 500)
    assert ((fused[:, 0] > 0.5) == lab[:, 0]).mean() > 0.9
    # Music holds everywhere but the inactive tail: a class that never changes cannot be fitted.
    with pytest.raises(ConfigError, match="need points with and without music"):
        fit_fusion([(c[0], c[1], c[2], [Segment("music", 0.0, 20.0), c[3][0]]) for c in computed], scores,
                   hop_seconds=0.24)
