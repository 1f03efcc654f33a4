"""inaSpeechSegmenter's front-end (sidekit's ``mfcc(..., get_mspec=True)``), in torch.

INA's published networks were trained on it, so running their weights needs it exactly:

* 16 kHz mono in [-1, 1]; frames of 400 samples (25 ms) every 160 (10 ms), no padding, so a
  signal of ``n`` samples gives ``(n - 400) // 160 + 1`` frames (0 if shorter than 400);
* per-frame pre-emphasis ``y[i] = x[i] - 0.97 x[i-1]`` with ``x[-1] = x[0]`` inside each frame;
* log energy ``log(sum(y^2))`` of the pre-emphasised frame (before the window);
* a symmetric Hann window (``numpy.hanning(400)``), zero-padded at the end to a 512-point FFT;
* 24 triangular filters equally spaced on the HTK mel scale from 100 Hz to 8 kHz, each of area
  one (height ``2 / (hi - lo)``), on sidekit's bin grid; natural log of the filter energies.

Silence gives ``-inf``, as in the original; callers mask it (the segmenter's energy detector does).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from speechmusic.errors import ConfigError
from speechmusic.features.config import FeatureConfig
from speechmusic.features.functional import hz_to_mel, mel_to_hz

__all__ = ["InaBands", "ina_filterbank", "PRE_EMPHASIS"]

PRE_EMPHASIS = 0.97


def ina_filterbank(*, sr: int = 16000, n_fft: int = 512, n_bands: int = 24, fmin: float = 100.0,
                   fmax: float = 8000.0) -> np.ndarray:
    """sidekit's log-spaced triangular filterbank, ``[n_bands, 1 + n_fft // 2]`` float64.

    Band edges are ``n_bands + 2`` points equally spaced in HTK mels; bin ``k`` sits at
    ``k * sr / n_fft``. Each filter covers the bins strictly above its lower edge up to its upper
    edge, its last bin left out, as sidekit's ``trfbank`` does.
    """
    mels = hz_to_mel(fmin, htk=True) + np.arange(n_bands + 2) * (
        (hz_to_mel(fmax, htk=True) - hz_to_mel(fmin, htk=True)) / (n_bands + 1))
    edges = mel_to_hz(mels, htk=True)
    heights = 2.0 / (edges[2:] - edges[:-2])
    bin_freqs = np.arange(n_fft) / n_fft * sr
    bank = np.zeros((n_bands, n_fft // 2 + 1))
    for i in range(n_bands):
        lo, cen, hi = edges[i], edges[i + 1], edges[i + 2]
        rising = np.arange(math.floor(lo * n_fft / sr) + 1, math.floor(cen * n_fft / sr) + 1)
        falling = np.arange(math.floor(cen * n_fft / sr) + 1,
                            min(math.floor(hi * n_fft / sr) + 1, n_fft))[:-1]
        bank[i, rising] = heights[i] / (cen - lo) * (bin_freqs[rising] - lo)
        bank[i, falling] = heights[i] / (hi - cen) * (hi - bin_freqs[falling])
    return bank


class InaBands(nn.Module):
    """inaSpeechSegmenter's 24-band log-mel at 16 kHz with a 10 ms hop.

    ``InaBands()(x)`` maps ``[batch, samples]`` (16 kHz, in [-1, 1]) to ``[batch, bands, frames]``
    (natural log; ``bands`` is ``keep_bands`` of the config, 21 for the speech/music networks).
    :meth:`with_energy` also returns the per-frame log energy ``[batch, frames]`` that the
    energy-based activity detector uses.
    """

    def __init__(self, config: FeatureConfig | None = None, **overrides) -> None:
        super().__init__()
        config = config or FeatureConfig.preset("ina_gender")
        if overrides:
            config = FeatureConfig.from_dict({**config.to_dict(), **overrides})
        if config.kind != "ina_bands":
            raise ConfigError(f"InaBands computes 'ina_bands' features, the config asks for {config.kind!r}")
        self.config = config
        win = config.win_length or config.n_fft
        self.register_buffer("window", torch.from_numpy(np.hanning(win)), persistent=False)
        bank = ina_filterbank(sr=config.sample_rate, n_fft=config.n_fft, n_bands=config.n_mels,
                              fmin=config.fmin, fmax=config.fmax or config.sample_rate / 2)
        self.register_buffer("filterbank", torch.from_numpy(bank.T.copy()).float(), persistent=False)

    def with_energy(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``([batch, bands, frames], [batch, frames])``: log band energies and log frame energy."""
        t = torch.as_tensor(x)
        squeeze = t.ndim == 1
        if squeeze:
            t = t.unsqueeze(0)
        if t.ndim != 2:
            raise ConfigError(f"InaBands expects [batch, samples] or [samples], got {tuple(t.shape)}")
        c = self.config
        win = self.window.numel()
        # The precision of each step follows sidekit's NumPy code (float32 frames and
        # pre-emphasis, float64 window and FFT, float32 power and filterbank): bands ~100 dB below
        # a frame's peak are at float32 round-off there, and this reproduces that round-off.
        t = t.to(torch.float32)
        if t.shape[-1] < win:
            empty = t.new_zeros(t.shape[0], c.n_features, 0)
            out = (empty, t.new_zeros(t.shape[0], 0))
            return (out[0][0], out[1][0]) if squeeze else out
        frames = t.unfold(-1, win, c.hop_length)  # [batch, frames, win]
        previous = torch.cat([frames[..., :1], frames[..., :-1]], dim=-1)
        emphasised = frames - PRE_EMPHASIS * previous
        log_energy = torch.log(emphasised.square().sum(-1))
        spec = torch.fft.rfft(emphasised.double() * self.window, n=c.n_fft, dim=-1)
        power = (spec.real.square() + spec.imag.square()).float()
        bands = torch.log(power @ self.filterbank)  # -inf on digital silence, as in sidekit
        bands = bands[..., : c.n_features].transpose(-1, -2)
        return (bands[0], log_energy[0]) if squeeze else (bands, log_energy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.with_energy(x)[0]
