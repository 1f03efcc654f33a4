"""YAMNet's second opinion for trained engines: the regression (segment/fusion.py)."""

from __future__ import annotations

import numpy as np
import pytest

from speechmusic.errors import CheckpointError, ConfigError
from speechmusic.segment.fusion import FusionExample, YamNetClassFusion

LABELS = ["music", "noise", "speech"]


def _examples(seed: int, n_clips: int = 30, n_points: int = 200) -> list[FusionExample]:
    """Clips whose network is right two times in three, and whose YAMNet scores tell speech and
    music apart (both low for noise)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_clips):
        label = i % 3
        guess = label if rng.random() < 2 / 3 else (label + 1) % 3
        probs = rng.dirichlet(np.ones(3), size=n_points) * 0.3
        probs[:, guess] += 0.7
        scores = rng.normal(-6, 1, size=(n_points, 2))
        if LABELS[label] == "speech":
            scores[:, 0] += 10
        if LABELS[label] == "music":
            scores[:, 1] += 10
        active = rng.random(n_points) > 0.1
        out.append(FusionExample(probs=probs, scores=scores, active=active, label=label))
    return out


def test_the_fusion_learns_what_each_opinion_tells_and_is_sklearns_softmax():
    from sklearn.linear_model import LogisticRegression

    train, test = _examples(0), _examples(1)
    fusion = YamNetClassFusion.fit(train, labels=LABELS, hop_seconds=0.48)
    right = [np.mean(fusion.apply(e.probs, e.scores)[e.active].argmax(1) == e.label) for e in test]
    alone = [np.mean(e.probs[e.active].argmax(1) == e.label) for e in test]
    assert np.mean(right) > 0.97 > 0.7 > np.mean(alone)
    # the same numbers as scikit-learn's own predict_proba of the same fit
    x = np.concatenate([fusion.features(e.probs, e.scores)[e.active] for e in train])
    y = np.concatenate([np.full(e.active.sum(), e.label) for e in train])
    w = np.concatenate([np.full(e.active.sum(), 1.0 / e.active.sum()) for e in train])
    ref = LogisticRegression(max_iter=5000).fit(x, y, sample_weight=w * len(w) / w.sum())
    e = test[0]
    np.testing.assert_allclose(fusion.apply(e.probs, e.scores), ref.predict_proba(fusion.features(e.probs, e.scores)),
                               atol=1e-5)


def test_two_classes_are_a_softmax_of_sklearns_binary_fit():
    from sklearn.linear_model import LogisticRegression

    two = [FusionExample(e.probs[:, [0, 2]] / e.probs[:, [0, 2]].sum(1, keepdims=True), e.scores, e.active,
                         0 if e.label == 0 else 1) for e in _examples(2) if e.label != 1]
    fusion = YamNetClassFusion.fit(two, labels=["music", "speech"], hop_seconds=0.48)
    x = np.concatenate([fusion.features(e.probs, e.scores)[e.active] for e in two])
    y = np.concatenate([np.full(e.active.sum(), e.label) for e in two])
    w = np.concatenate([np.full(e.active.sum(), 1.0 / e.active.sum()) for e in two])
    ref = LogisticRegression(max_iter=5000).fit(x, y, sample_weight=w * len(w) / w.sum())
    np.testing.assert_allclose(fusion.apply(two[0].probs, two[0].scores),
                               ref.predict_proba(fusion.features(two[0].probs, two[0].scores)), atol=1e-5)


def test_round_trip_nan_points_and_errors():
    fusion = YamNetClassFusion.fit(_examples(3), labels=LABELS, hop_seconds=0.48)
    again = YamNetClassFusion.from_dict(fusion.to_dict())
    assert again == fusion and YamNetClassFusion.from_dict(None) is None
    e = _examples(4, n_clips=1)[0]
    probs = e.probs.copy()
    probs[5] = np.nan  # a point the network did not classify stays unclassified
    out = again.apply(probs, e.scores)
    assert np.isnan(out[5]).all() and np.isfinite(np.delete(out, 5, axis=0)).all()
    np.testing.assert_allclose(np.delete(out, 5, axis=0).sum(1), 1.0, atol=1e-5)
    with pytest.raises(ConfigError, match="scores"):
        fusion.apply(e.probs, e.scores[:, :1])
    with pytest.raises(ConfigError, match="weights"):
        YamNetClassFusion(hop_seconds=0.48, labels=LABELS, weights=[[0.0] * 4] * 3, bias=[0.0] * 3)
    with pytest.raises(CheckpointError, match="unknown fusion"):
        YamNetClassFusion.from_dict({"kind": "other"})
    with pytest.raises(CheckpointError, match="damaged"):
        YamNetClassFusion.from_dict({**fusion.to_dict(), "weights": [[1.0]]})
    with pytest.raises(ConfigError, match="every class"):
        YamNetClassFusion.fit([x for x in _examples(5) if x.label != 1], labels=LABELS, hop_seconds=0.48)
