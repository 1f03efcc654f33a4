"""Calibration of class probabilities: a softmax temperature fitted on held-out predictions.

A network trained with cross-entropy and early stopping is usually over-confident: of the patches
it calls speech with probability 0.99, fewer than 99 % are speech. Temperature scaling (Guo et al.,
"On calibration of modern neural networks", 2017) divides the logits by one number ``T`` fitted
to minimise the negative log-likelihood of held-out data: the arg-max, hence every accuracy,
is unchanged; only the confidence moves. ``speechmusic train`` fits ``T`` on the held-out test
predictions of its cross-validation folds (``predictions.npz``) and stores it in the engine's
checkpoint, where the segmenter applies it.

Temperature scaling works on probabilities as well as on logits: ``softmax(log p / T)`` equals
``softmax(z / T)`` for ``p = softmax(z)``, the normalising constant cancelling.

The expected calibration error (ECE) is the weighted mean gap between confidence and accuracy
over ``n_bins`` equal-width bins of the top-class probability (15, as Guo et al.), here on
frames (patches), the level at which the segmenter uses the probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from speechmusic.errors import ConfigError

__all__ = ["expected_calibration_error", "reliability_bins", "fit_temperature",
           "apply_temperature", "negative_log_likelihood", "isotonic_cross_fitted",
           "calibrate_folds", "FOLD_PREDICTIONS"]

#: A fold's held-out predictions, as :func:`speechmusic.training.cross_validate` writes them.
FOLD_PREDICTIONS = "predictions.npz"
_FLOOR = 1e-30  # probabilities that underflowed to 0 in float32


def _check(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if p.ndim != 2 or y.ndim != 1 or len(p) != len(y):
        raise ConfigError(f"expected probabilities [n, classes] and labels [n], got {p.shape}, "
                          f"{y.shape}")
    if len(y) and (y.min() < 0 or y.max() >= p.shape[1]):
        raise ConfigError(f"labels must lie in 0..{p.shape[1] - 1}")
    return p, y


def reliability_bins(probs: np.ndarray, labels: np.ndarray, *,
                     n_bins: int = 15) -> dict[str, list[float]]:
    """Per equal-width confidence bin: ``count``, mean ``confidence`` and ``accuracy`` of the
    top-class predictions (NaN for empty bins)."""
    p, y = _check(probs, labels)
    conf = p.max(axis=1) if len(p) else np.zeros(0)
    correct = (p.argmax(axis=1) == y) if len(p) else np.zeros(0, dtype=bool)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins).astype(float)
    with np.errstate(invalid="ignore"):
        mean_conf = np.bincount(which, weights=conf, minlength=n_bins) / count
        acc = np.bincount(which, weights=correct.astype(float), minlength=n_bins) / count
    return {"edges": edges.tolist(), "count": count.tolist(), "confidence": mean_conf.tolist(),
            "accuracy": acc.tolist()}


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, *, n_bins: int = 15) -> float:
    """The ECE of top-class probabilities: ``sum_b |B_b|/n * |acc(B_b) - conf(B_b)|``."""
    bins = reliability_bins(probs, labels, n_bins=n_bins)
    count = np.asarray(bins["count"])
    if count.sum() == 0:
        return math.nan
    acc, conf = (np.nan_to_num(np.asarray(bins[k])) for k in ("accuracy", "confidence"))
    gap = np.abs(acc - conf)
    return float((count * gap).sum() / count.sum())


def _log_probs(probs: np.ndarray) -> np.ndarray:
    return np.log(np.clip(probs, _FLOOR, 1.0))


def _nll(z: np.ndarray, y: np.ndarray, beta: float) -> float:
    s = beta * z
    m = s.max(axis=1, keepdims=True)
    lse = (m[:, 0] + np.log(np.exp(s - m).sum(axis=1)))
    return float(np.mean(lse - s[np.arange(len(y)), y]))


def negative_log_likelihood(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the true class."""
    p, y = _check(probs, labels)
    return _nll(_log_probs(p), y, 1.0) if len(y) else math.nan


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log probs / temperature)``: what dividing the logits by ``temperature`` gives."""
    if not temperature > 0:
        raise ConfigError(f"temperature must be > 0, got {temperature}")
    s = _log_probs(np.asarray(probs, dtype=np.float64)) / float(temperature)
    s -= s.max(axis=1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(probs: np.ndarray, labels: np.ndarray, *,
                    bounds: tuple[float, float] = (0.05, 20.0), iterations: int = 100) -> float:
    """The temperature ``T`` in ``bounds`` minimising the held-out negative log-likelihood of
    ``softmax(log probs / T)``. The likelihood is convex in ``1 / T``, so a golden-section search
    over ``log(1 / T)`` finds the optimum. Returns 1.0 when there is nothing to fit."""
    p, y = _check(probs, labels)
    if len(y) == 0 or p.shape[1] < 2:
        return 1.0
    z = _log_probs(p)
    lo, hi = math.log(1.0 / bounds[1]), math.log(1.0 / bounds[0])
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = lo, hi
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = _nll(z, y, math.exp(c)), _nll(z, y, math.exp(d))
    for _ in range(iterations):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = _nll(z, y, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = _nll(z, y, math.exp(d))
        if b - a < 1e-7:
            break
    return float(1.0 / math.exp((a + b) / 2.0))


def isotonic_cross_fitted(probs: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """One-vs-rest isotonic regression of each class's probability (scikit-learn), renormalised,
    fitted on every group but one and applied to that one: held-out calibrated probabilities, to
    compare with temperature scaling (isotonic maps can change the arg-max, and a checkpoint
    cannot carry them as one number)."""
    from sklearn.isotonic import IsotonicRegression

    p, y = _check(probs, labels)
    out = np.empty_like(p)
    for g in np.unique(groups):
        test = groups == g
        for k in range(p.shape[1]):
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            iso.fit(p[~test, k], (y[~test] == k).astype(float))
            out[test, k] = iso.predict(p[test, k])
    total = out.sum(axis=1, keepdims=True)
    return np.where(total > 0, out / np.where(total > 0, total, 1.0), 1.0 / p.shape[1])


def _load_fold(path: Path, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        probs, y = data["probs"], data["patch_label"]
        names = [str(x) for x in data["labels"]] if "labels" in data else list(labels)
    if names != list(labels):
        raise ConfigError(f"{path}: predictions for classes {names}, expected {list(labels)}")
    return np.asarray(probs, dtype=np.float64), np.asarray(y, dtype=np.int64)


def calibrate_folds(fold_dirs: Sequence[Path], labels: Sequence[str], *,
                    n_bins: int = 15) -> dict[str, Any]:
    """Fit a temperature on the held-out predictions of ``fold_dirs`` (pooled) and say what it
    does, at the frame level:

    ``temperature``; ``ece_before`` / ``ece_after`` (in-sample: the temperature fitted on the same
    predictions) and ``ece_after_cross_fitted`` (each fold scaled by the temperature fitted on the
    other folds: an honest estimate; ``None`` with one fold); ``applied`` and
    ``temperature_used``: the temperature is used only where it lowers the cross-fitted ECE (the
    in-sample one with one fold), else 1; the same for the negative log-likelihood (``nll_*``);
    ``accuracy`` (unchanged by the temperature); ``n_frames``, ``folds``;
    ``isotonic_ece_cross_fitted`` (one-vs-rest isotonic regression, fold-wise cross-fitted, for
    comparison); ``reliability_before`` / ``reliability_after`` (bins).
    """
    parts = []
    for d in fold_dirs:
        path = Path(d) / FOLD_PREDICTIONS
        if path.is_file():
            parts.append(_load_fold(path, labels))
    parts = [(p, y) for p, y in parts if len(y)]
    if not parts:
        raise ConfigError("no held-out predictions to calibrate on (no finished fold with test "
                          "data)")
    probs = np.concatenate([p for p, _ in parts])
    y = np.concatenate([t for _, t in parts])
    fold_of = np.concatenate([np.full(len(t), i) for i, (_, t) in enumerate(parts)])
    temperature = fit_temperature(probs, y)
    after = apply_temperature(probs, temperature)
    out: dict[str, Any] = {
        "method": "temperature", "temperature": temperature, "n_frames": int(len(y)),
        "folds": len(parts), "n_bins": n_bins,
        "accuracy": float(np.mean(probs.argmax(axis=1) == y)),
        "ece_before": expected_calibration_error(probs, y, n_bins=n_bins),
        "ece_after": expected_calibration_error(after, y, n_bins=n_bins),
        "nll_before": negative_log_likelihood(probs, y),
        "nll_after": negative_log_likelihood(after, y),
        "ece_after_cross_fitted": None, "nll_after_cross_fitted": None,
        "fold_temperatures": None, "isotonic_ece_cross_fitted": None,
        "reliability_before": reliability_bins(probs, y, n_bins=n_bins),
        "reliability_after": reliability_bins(after, y, n_bins=n_bins),
    }
    if len(parts) > 1:
        crossed = np.empty_like(probs)
        temps = []
        for i in range(len(parts)):
            t = fit_temperature(probs[fold_of != i], y[fold_of != i])
            temps.append(t)
            crossed[fold_of == i] = apply_temperature(probs[fold_of == i], t)
        out["fold_temperatures"] = temps
        out["ece_after_cross_fitted"] = expected_calibration_error(crossed, y, n_bins=n_bins)
        out["nll_after_cross_fitted"] = negative_log_likelihood(crossed, y)
        iso = isotonic_cross_fitted(probs, y, fold_of)
        out["isotonic_ece_cross_fitted"] = expected_calibration_error(iso, y, n_bins=n_bins)
        out["isotonic_accuracy_cross_fitted"] = float(np.mean(iso.argmax(axis=1) == y))
    # The temperature is kept only where it helps on data it was not fitted on (in-sample with
    # a single fold): a fit on few or degenerate predictions can make calibration worse.
    judged = out["ece_after_cross_fitted"]
    if judged is None:
        judged = out["ece_after"]
    out["applied"] = bool(judged < out["ece_before"])
    out["temperature_used"] = temperature if out["applied"] else 1.0
    return out
