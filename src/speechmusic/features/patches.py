"""Cutting feature matrices into fixed-length patches (the models' input windows)."""

from __future__ import annotations

import numpy as np
import torch

from speechmusic.errors import ConfigError

__all__ = ["make_patches", "patch_starts"]


def patch_starts(n_frames: int, *, patch_frames: int, hop: int) -> np.ndarray:
    """Start frame of every full patch: ``0, hop, 2*hop, ...`` while the patch fits."""
    if n_frames < patch_frames:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, n_frames - patch_frames + 1, hop, dtype=np.int64)


def make_patches(
    features: np.ndarray | torch.Tensor, *, patch_frames: int, hop: int, pad: str = "none",
) -> np.ndarray | torch.Tensor:
    """Cut ``[..., n_features, frames]`` into ``[..., n_patches, n_features, patch_frames]``.

    A view where possible (no copy). ``pad="edge"`` repeats the last frame so that a clip shorter
    than one patch still gives one patch; ``pad="none"`` raises for such a clip.
    """
    if patch_frames <= 0 or hop <= 0:
        raise ConfigError(f"patch_frames and hop must be positive, got {patch_frames}, {hop}")
    if pad not in ("none", "edge"):
        raise ConfigError(f"pad must be 'none' or 'edge', got {pad!r}")
    n_frames = features.shape[-1]
    if n_frames == 0:
        raise ConfigError("no frames to cut into patches")
    if n_frames < patch_frames:
        if pad == "none":
            raise ConfigError(f"{n_frames} frames are fewer than one patch of {patch_frames}")
        missing = patch_frames - n_frames
        if torch.is_tensor(features):
            last = features[..., -1:].expand(*features.shape[:-1], missing)
            features = torch.cat([features, last], dim=-1)
        else:
            widths = [(0, 0)] * (features.ndim - 1) + [(0, missing)]
            features = np.pad(features, widths, mode="edge")
    if torch.is_tensor(features):
        return features.unfold(-1, patch_frames, hop).movedim(-2, -3)
    windows = np.lib.stride_tricks.sliding_window_view(features, patch_frames, axis=-1)[..., ::hop, :]
    return np.moveaxis(windows, -2, -3)
