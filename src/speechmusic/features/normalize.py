"""Input normalisation: feature-wise maps fitted on training data only (zero mean, scaled into
[-1, 1]), INA's per-patch standardisation, and its sliding-window form."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from speechmusic.errors import ConfigError

__all__ = ["FeatureNormalizer", "PatchStandardizer", "SlidingStandardizer"]


class FeatureNormalizer:
    """Per-feature (per band or coefficient) ``(x - mean) / max|x - mean|``.

    Fitted in one streaming pass over ``[n_features, frames]`` matrices (sum, count, min, max per
    feature), so it never holds the training set in memory. After fitting, training data lies in
    [-1, 1] with zero mean per feature; unseen data may exceed the range slightly, as it should.
    """

    def __init__(self, mean: np.ndarray | None = None, scale: np.ndarray | None = None) -> None:
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float32)
        self.scale = None if scale is None else np.asarray(scale, dtype=np.float32)

    @property
    def fitted(self) -> bool:
        return self.mean is not None and self.scale is not None

    def fit(self, features: Iterable[np.ndarray]) -> FeatureNormalizer:
        """Fit on training clips, each ``[n_features, frames]`` (or patches ``[..., F, T]``)."""
        total = sq_min = sq_max = None
        count = 0
        for feats in features:
            a = np.asarray(feats, dtype=np.float64)
            if a.ndim < 2:
                raise ConfigError(f"expected [..., n_features, frames], got shape {a.shape}")
            a = np.moveaxis(a, -2, 0).reshape(a.shape[-2], -1)
            if not np.isfinite(a).all():
                raise ConfigError("non-finite feature values in the training data")
            if total is None:
                total, sq_min, sq_max = a.sum(1), a.min(1), a.max(1)
            else:
                if a.shape[0] != total.shape[0]:
                    raise ConfigError(f"feature count changed from {total.shape[0]} to {a.shape[0]}")
                total += a.sum(1)
                sq_min = np.minimum(sq_min, a.min(1))
                sq_max = np.maximum(sq_max, a.max(1))
            count += a.shape[1]
        if total is None or count == 0:
            raise ConfigError("cannot fit a normaliser on no data")
        mean = total / count
        scale = np.maximum(sq_max - mean, mean - sq_min)
        scale[scale <= 0] = 1.0  # a constant feature stays at zero rather than dividing by zero
        self.mean, self.scale = mean.astype(np.float32), scale.astype(np.float32)
        return self

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Normalise ``[..., n_features, frames]``; the feature axis is second to last."""
        if not self.fitted:
            raise ConfigError("the normaliser is not fitted; call fit() on training data first")
        a = np.asarray(features, dtype=np.float32)
        if a.shape[-2] != self.mean.shape[0]:
            raise ConfigError(f"normaliser fitted on {self.mean.shape[0]} features, got {a.shape[-2]}")
        return (a - self.mean[:, None]) / self.scale[:, None]

    def to_dict(self) -> dict[str, Any]:
        if not self.fitted:
            return {"mean": None, "scale": None}
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureNormalizer:
        return cls(data.get("mean"), data.get("scale"))

    def __repr__(self) -> str:
        n = None if self.mean is None else self.mean.shape[0]
        return f"FeatureNormalizer(n_features={n}, fitted={self.fitted})"


class PatchStandardizer:
    """inaSpeechSegmenter's input normalisation as a normaliser: each patch ``[..., F, T]`` minus
    its mean, divided by its (population) standard deviation, both over the whole patch.

    Nothing to fit (``fitted`` is always true). Unlike :class:`FeatureNormalizer` it must be
    applied to patches, never to a whole clip's features. A checkpoint trained with it carries no
    normaliser and ``extra["input_normalization"] == "per_patch"`` (as INA's imported networks do).
    """

    fitted = True
    kind = "per_patch"

    def transform(self, patches: np.ndarray) -> np.ndarray:
        """Standardise ``[..., n_features, patch_frames]`` patch by patch (float32)."""
        a = np.asarray(patches, dtype=np.float32)
        if a.ndim < 2:
            raise ConfigError(f"expected patches [..., n_features, frames], got shape {a.shape}")
        mean = a.mean(axis=(-2, -1), keepdims=True)
        std = a.std(axis=(-2, -1), keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (a - mean) / std

    def checkpoint_extra(self) -> dict[str, Any]:
        """How a checkpoint records it (it stores no fitted normaliser)."""
        return {"input_normalization": self.kind}

    def __repr__(self) -> str:
        return "PatchStandardizer()"


class SlidingStandardizer:
    """INA's standardisation, frame by frame: each frame of a clip's features ``[..., F, T]``
    minus the mean, divided by the (population) standard deviation, of every finite value of
    the ``window`` frames centred on it (frames ``t - window // 2`` to
    ``t + window - window // 2 - 1``; fewer at the clip's edges, where the window is cut).

    Like :class:`PatchStandardizer` it removes the recording's level (a gain is a constant shift
    of log features) and keeps each patch's values in the range INA's networks were trained
    on; unlike it, a frame's value does not depend on which patch it sits in, so a segmenter
    can normalise a file once and share the convolutions of neighbouring patches exactly
    (:mod:`speechmusic.models.patchwise`), with nothing recomputed. Applied to whole clips
    (``per_clip``), never to patches cut from them. Non-finite values (INA's bands on digital
    silence) stay as they are and are left out of the statistics. A checkpoint trained with
    it carries no fitted normaliser, ``input_normalization: sliding`` and ``sliding_window``.
    """

    fitted = True
    kind = "sliding"
    per_clip = True

    def __init__(self, window: int = 68) -> None:
        if int(window) < 2:
            raise ConfigError(f"the sliding standardisation window must hold at least 2 frames, got {window}")
        self.window = int(window)

    @property
    def context(self) -> int:
        """Frames a block needs on each side of the frames it normalises, so that it normalises
        them as the whole clip would."""
        return self.window // 2

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Standardise ``[..., n_features, frames]`` frame by frame (float32, a new array)."""
        a = np.asarray(features, dtype=np.float32)
        if a.ndim < 2:
            raise ConfigError(f"expected [..., n_features, frames], got shape {a.shape}")
        ok = np.isfinite(a)
        vals = np.where(ok, a, 0.0).astype(np.float64)
        per_frame = np.stack([ok.sum(axis=-2, dtype=np.float64), vals.sum(axis=-2),
                              np.square(vals).sum(axis=-2)])  # [3, ..., T]
        half, n = self.window // 2, a.shape[-1]
        csum = np.concatenate([np.zeros(per_frame.shape[:-1] + (1,)), np.cumsum(per_frame, axis=-1)], axis=-1)
        t = np.arange(n)
        lo, hi = np.clip(t - half, 0, n), np.clip(t - half + self.window, 0, n)
        count, s1, s2 = csum[..., hi] - csum[..., lo]
        count = np.maximum(count, 1e-12)
        mean = s1 / count
        std = np.sqrt(np.maximum(s2 / count - np.square(mean), 1e-12))
        out = (a - mean[..., None, :].astype(np.float32)) / std[..., None, :].astype(np.float32)
        return np.where(ok, out, a)

    def checkpoint_extra(self) -> dict[str, Any]:
        """How a checkpoint records it (it stores no fitted normaliser)."""
        return {"input_normalization": self.kind, "sliding_window": self.window}

    def __repr__(self) -> str:
        return f"SlidingStandardizer(window={self.window})"
