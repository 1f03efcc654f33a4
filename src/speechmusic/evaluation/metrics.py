"""Frame-wise and file-wise metrics, and their mean and standard deviation over folds.

*Frame-wise* scores every patch (the paper's "frame": one model input); *file-wise* averages the
patch probabilities of each clip and scores the clip's arg-max (paper section 5.1). Both give
accuracy, balanced accuracy, per-class precision / recall / F1 / support and a confusion matrix
(rows: true class, columns: predicted, in label order).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from speechmusic.errors import ConfigError

__all__ = [
    "confusion_matrix",
    "classification_metrics",
    "file_probabilities",
    "evaluate_predictions",
    "aggregate_folds",
    "mean_std",
]


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts ``[n_classes, n_classes]``: row = true class, column = predicted class."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ConfigError(f"{y_true.shape} true labels but {y_pred.shape} predictions")
    if y_true.size and (min(y_true.min(), y_pred.min()) < 0
                        or max(y_true.max(), y_pred.max()) >= n_classes):
        raise ConfigError(f"class indices must lie in 0..{n_classes - 1}")
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def _safe_div(a: float, b: float) -> float:
    return float(a / b) if b else math.nan


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, balanced accuracy (mean recall over the true classes), macro F1, per-class
    precision, recall, F1 and support, and the confusion matrix (as nested lists).

    As scikit-learn's ``precision_recall_fscore_support(labels=seen, zero_division=0)``, ``seen``
    being every class in the truth or the predictions: a class never predicted has precision 0
    and one that never occurs recall 0, and both count in the macro F1. A class neither true nor
    predicted has NaN scores (``null`` in JSON) and is left out of the mean.
    """
    from sklearn.metrics import precision_recall_fscore_support

    n = len(labels)
    cm = confusion_matrix(y_true, y_pred, n)
    total = int(cm.sum())
    support = cm.sum(axis=1)
    seen = np.flatnonzero(support + cm.sum(axis=0))
    scores = np.full((3, n), math.nan)
    if seen.size:
        p, r, f, _ = precision_recall_fscore_support(np.asarray(y_true), np.asarray(y_pred),
                                                     labels=seen, zero_division=0)
        scores[:, seen] = p, r, f
    per_class = {name: {"precision": float(scores[0, k]), "recall": float(scores[1, k]),
                        "f1": float(scores[2, k]), "support": int(support[k])}
                 for k, name in enumerate(labels)}
    return {
        "accuracy": _safe_div(float(np.trace(cm)), total),
        "balanced_accuracy": float(scores[1, support > 0].mean()) if total else math.nan,
        "macro_f1": float(scores[2, seen].mean()) if seen.size else math.nan,
        "n": total,
        "per_class": per_class,
        "confusion": cm.tolist(),
    }


def file_probabilities(probs: np.ndarray, patch_clip: np.ndarray, n_clips: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean patch probabilities per clip.

    Args:
        probs: ``[n_patches, n_classes]``.
        patch_clip: clip index per patch ``[n_patches]``.
        n_clips: number of clips.

    Returns:
        ``(clip_probs [n_clips, n_classes], has_patches [n_clips] bool)``; clips without patches
        have zero rows and ``False``.
    """
    probs = np.asarray(probs, dtype=np.float64)
    patch_clip = np.asarray(patch_clip, dtype=np.int64)
    n_classes = probs.shape[1] if probs.ndim == 2 else 0
    sums = np.zeros((n_clips, n_classes), dtype=np.float64)
    np.add.at(sums, patch_clip, probs)
    counts = np.bincount(patch_clip, minlength=n_clips).astype(np.float64)
    has = counts > 0
    sums[has] /= counts[has, None]
    return sums, has


def evaluate_predictions(probs: np.ndarray, *, patch_labels: np.ndarray, patch_clip: np.ndarray,
                         clip_labels: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Frame-wise and file-wise metrics of one test set.

    Args:
        probs: patch probabilities ``[n_patches, n_classes]``.
        patch_labels: true class per patch ``[n_patches]``.
        patch_clip: clip index per patch ``[n_patches]`` (into ``clip_labels``).
        clip_labels: true class per clip ``[n_clips]``; clips without patches are not scored.
        labels: class names in output order.

    Returns:
        ``{"frame": classification_metrics, "file": classification_metrics}``.
    """
    probs = np.asarray(probs)
    if probs.ndim != 2 or (len(probs) and probs.shape[1] != len(labels)):
        raise ConfigError(f"probabilities {probs.shape} do not match {len(labels)} labels")
    if len(probs) != len(patch_labels) or len(probs) != len(patch_clip):
        raise ConfigError(f"{len(probs)} predictions for {len(patch_labels)} patches")
    clip_labels = np.asarray(clip_labels, dtype=np.int64)
    frame = classification_metrics(patch_labels, probs.argmax(axis=1) if len(probs) else
                                   np.zeros(0, dtype=np.int64), labels)
    clip_probs, has = file_probabilities(probs, patch_clip, len(clip_labels))
    file = classification_metrics(clip_labels[has], clip_probs[has].argmax(axis=1) if has.any()
                                  else np.zeros(0, dtype=np.int64), labels)
    return {"frame": frame, "file": file}


def mean_std(values: Sequence[float]) -> dict[str, Any]:
    """``{"mean", "std", "n", "values"}`` ignoring NaN; ``std`` is the population standard
    deviation (numpy's default, ``ddof=0``)."""
    arr = np.asarray([v for v in values if v is not None], dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return {"mean": math.nan, "std": math.nan, "n": 0, "values": list(values)}
    return {"mean": float(arr.mean()), "std": float(arr.std()), "n": int(arr.size),
            "values": [float(v) if v is not None else math.nan for v in values]}


def aggregate_folds(fold_metrics: Sequence[dict[str, Any]], labels: Sequence[str]) -> dict[str, Any]:
    """Mean and standard deviation over folds of every scalar metric (per level ``frame`` /
    ``file`` and per class), and the confusion matrices summed over folds."""
    out: dict[str, Any] = {"n_folds": len(fold_metrics), "labels": list(labels)}
    for level in ("frame", "file"):
        rows = [m[level] for m in fold_metrics if level in m]
        agg: dict[str, Any] = {}
        for key in ("accuracy", "balanced_accuracy", "macro_f1"):
            agg[key] = mean_std([r.get(key, math.nan) for r in rows])
        agg["per_class"] = {
            name: {stat: mean_std([r["per_class"].get(name, {}).get(stat, math.nan) for r in rows])
                   for stat in ("precision", "recall", "f1")}
            for name in labels}
        n = len(labels)
        total = np.zeros((n, n), dtype=np.int64)
        for r in rows:
            total += np.asarray(r["confusion"], dtype=np.int64).reshape(n, n)
        agg["confusion"] = total.tolist()
        out[level] = agg
    return out
