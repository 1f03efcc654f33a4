"""Thin ``nn.Module`` wrappers around :mod:`speechmusic.features.functional`.

Each holds its window and filterbank as buffers (so ``.to(device)`` moves them) and maps
``[batch, samples]`` float tensors to ``[batch, n_features, frames]``. A 1-D input ``[samples]``
gives ``[n_features, frames]``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from speechmusic.errors import ConfigError
from speechmusic.features import functional as F
from speechmusic.features.config import FeatureConfig

__all__ = ["LogMel", "MFCC", "build_frontend", "compute_features"]


def _as_batch(x: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, bool]:
    t = torch.as_tensor(x)
    if t.dtype not in (torch.float32, torch.float64):
        t = t.float()
    if t.ndim == 1:
        return t.unsqueeze(0), True
    if t.ndim != 2:
        raise ConfigError(f"features expect [batch, samples] or [samples], got shape {tuple(t.shape)}")
    return t, False


def _resolve(config: FeatureConfig | None, kind: str, overrides: dict) -> FeatureConfig:
    if config is None:
        config = FeatureConfig.preset("melspec" if kind == "logmel" else "mfcc_swishnet")
    if overrides:
        config = FeatureConfig.from_dict({**config.to_dict(), **overrides})
    if config.kind != kind:
        raise ConfigError(f"this front-end computes {kind!r} features, the config asks for {config.kind!r}")
    return config


class LogMel(nn.Module):
    """The paper's MelSpec: log-mel spectrogram in dB, frames centred as in librosa.

    ``LogMel()(x)`` with ``x`` ``[batch, samples]`` at 22050 Hz gives ``[batch, 128, frames]``,
    ``frames = 1 + samples // 512``. Keyword overrides change single fields of the config.
    """

    def __init__(self, config: FeatureConfig | None = None, **overrides) -> None:
        super().__init__()
        self.config = _resolve(config, "logmel", overrides)
        c = self.config
        self._fft_dtype = torch.float64 if c.precision == "float64" else torch.float32
        self.register_buffer("window", torch.hann_window(c.win_length or c.n_fft, periodic=True,
                                                         dtype=torch.float64), persistent=False)
        basis = F.mel_filterbank(sr=c.sample_rate, n_fft=c.n_fft, n_mels=c.n_mels, fmin=c.fmin,
                                 fmax=c.fmax)
        self.register_buffer("mel_basis", torch.from_numpy(basis).float(), persistent=False)
        self._groups: F.MelGroups | None = None

    def _apply(self, fn, recurse=True):  # keep the derived blocks in step with .to()/.double()
        self._groups = None
        return super()._apply(fn, recurse)

    @property
    def mel_groups(self) -> F.MelGroups:
        if self._groups is None:
            self._groups = F.mel_band_groups(self.mel_basis)
        return self._groups

    def log_mel(self, batch: torch.Tensor) -> torch.Tensor:
        """dB log-mel of ``[batch, samples]`` -> ``[batch, n_mels, frames]``."""
        c = self.config
        return F.log_mel_spectrogram(batch.to(self._fft_dtype), mel_groups=self.mel_groups,
                                     n_fft=c.n_fft, hop_length=c.hop_length,
                                     window=self.window.to(self._fft_dtype), center=c.center,
                                     amin=c.amin, top_db=c.top_db)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, squeeze = _as_batch(x)
        out = self.log_mel(batch)
        if self.config.keep_bands is not None:
            out = out[:, : self.config.keep_bands]
        return out[0] if squeeze else out


class MFCC(LogMel):
    """MFCCs (orthonormal DCT-II of the dB log-mel), librosa's definition.

    SwishNet's input is ``FeatureConfig.preset("mfcc_swishnet")`` (22 coefficients, 16 frames per
    second); INA's paper input is ``preset("mfcc_ina")`` (21 coefficients, fmax 4 kHz).
    """

    def __init__(self, config: FeatureConfig | None = None, **overrides) -> None:
        config = _resolve(config, "mfcc", overrides)
        super().__init__(FeatureConfig.from_dict({**config.to_dict(), "kind": "logmel",
                                                  "keep_bands": None}))
        self.config = config
        dct = F.dct_matrix(config.n_mfcc, config.n_mels)
        self.register_buffer("dct", torch.from_numpy(dct).float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, squeeze = _as_batch(x)
        out = F.mfcc(self.log_mel(batch), dct=self.dct)
        return out[0] if squeeze else out


def build_frontend(config: FeatureConfig) -> nn.Module:
    """The module that computes ``config``'s features."""
    if config.kind == "logmel":
        return LogMel(config)
    if config.kind == "mfcc":
        return MFCC(config)
    from speechmusic.features.ina import InaBands

    return InaBands(config)


@torch.inference_mode()
def compute_features(
    audio: np.ndarray | torch.Tensor, config: FeatureConfig, *, frontend: nn.Module | None = None,
    max_frames_per_call: int = 20000,
) -> np.ndarray:
    """Features of one mono signal at ``config.sample_rate`` as float32 ``[n_features, frames]``.

    Long signals are processed in chunks of at most ``max_frames_per_call`` frames (each chunk with
    the context its frames need), so memory stays bounded and the result equals one full pass.
    """
    frontend = frontend if frontend is not None else build_frontend(config)
    x = torch.as_tensor(np.asarray(audio, dtype=np.float32) if not torch.is_tensor(audio) else audio)
    if x.ndim != 1:
        raise ConfigError(f"compute_features expects one mono signal [samples], got {tuple(x.shape)}")
    n_frames = config.n_frames(x.numel())
    hop = config.hop_length
    chunkable = config.center and config.kind != "ina_bands" and config.top_db is None
    if n_frames <= max_frames_per_call or not chunkable:
        return frontend(x).numpy()
    # Centred framing: frame t covers samples [t*hop - n_fft/2, t*hop + n_fft/2). Pad once, then
    # run non-centred chunks over the padded signal; identical to the single pass.
    half = config.n_fft // 2
    padded = torch.nn.functional.pad(x, (half, half))
    uncentred = FeatureConfig.from_dict({**config.to_dict(), "center": False})
    chunk_frontend = build_frontend(uncentred)
    parts = []
    for start in range(0, n_frames, max_frames_per_call):
        stop = min(n_frames, start + max_frames_per_call)
        seg = padded[start * hop: (stop - 1) * hop + config.n_fft]
        parts.append(chunk_frontend(seg).numpy())
    return np.concatenate(parts, axis=-1)
