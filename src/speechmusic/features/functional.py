"""Pure feature functions on torch tensors ``[batch, samples]``.

Matches librosa's definitions (centred framing, constant padding, periodic Hann window, Slaney mel
scale and area normalisation, ``power_to_db``, orthonormal DCT-II) so that librosa serves as the
reference in the tests. Filterbanks are built in NumPy float64, then stored as float32 buffers.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = [
    "hz_to_mel",
    "mel_to_hz",
    "mel_filterbank",
    "dct_matrix",
    "power_spectrogram",
    "power_to_db",
    "mel_band_groups",
    "mel_power",
    "log_mel_spectrogram",
    "mfcc",
]

_F_SP = 200.0 / 3  # Slaney: linear spacing below 1 kHz
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel(freqs: np.ndarray | float, *, htk: bool = False) -> np.ndarray:
    """Frequencies in Hz to mels (Slaney's scale by default, HTK's with ``htk=True``)."""
    f = np.asarray(freqs, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    mels = f / _F_SP
    return np.where(f >= _MIN_LOG_HZ,
                    _MIN_LOG_MEL + np.log(np.maximum(f, 1e-10) / _MIN_LOG_HZ) / _LOGSTEP, mels)


def mel_to_hz(mels: np.ndarray | float, *, htk: bool = False) -> np.ndarray:
    """Mels to Hz, the inverse of :func:`hz_to_mel`."""
    m = np.asarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    return np.where(m >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (m - _MIN_LOG_MEL)), _F_SP * m)


def mel_filterbank(
    *, sr: int, n_fft: int, n_mels: int = 128, fmin: float = 0.0, fmax: float | None = None,
    htk: bool = False, slaney_norm: bool = True,
) -> np.ndarray:
    """Triangular mel filters, ``[n_mels, 1 + n_fft // 2]`` float64 (librosa's ``filters.mel``)."""
    fmax = sr / 2.0 if fmax is None else float(fmax)
    fft_freqs = np.linspace(0.0, sr / 2.0, 1 + n_fft // 2)
    mel_pts = mel_to_hz(np.linspace(hz_to_mel(fmin, htk=htk), hz_to_mel(fmax, htk=htk), n_mels + 2),
                        htk=htk)
    fdiff = np.diff(mel_pts)
    ramps = mel_pts[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if slaney_norm:
        weights *= (2.0 / (mel_pts[2: n_mels + 2] - mel_pts[:n_mels]))[:, None]
    return weights


def dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Orthonormal DCT-II as a matrix ``[n_out, n_in]`` (scipy's ``dct(norm='ortho')`` rows)."""
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * math.sqrt(2.0 / n_in)
    basis[0] /= math.sqrt(2.0)
    return basis


def _full_window(window: torch.Tensor, n_fft: int) -> torch.Tensor:
    """Zero-pad a window shorter than ``n_fft`` to centre it in the frame, as librosa does."""
    if window.numel() < n_fft:
        left = (n_fft - window.numel()) // 2
        window = torch.nn.functional.pad(window, (left, n_fft - window.numel() - left))
    return window


def power_spectrogram(
    x: torch.Tensor, *, n_fft: int, hop_length: int, window: torch.Tensor, center: bool = True,
) -> torch.Tensor:
    """``|STFT|^2`` of ``x`` ``[batch, samples]`` -> ``[batch, 1 + n_fft // 2, frames]``.

    ``window`` may be shorter than ``n_fft``; it is centred in the frame as librosa does. With
    ``center`` the signal is zero-padded by ``n_fft // 2`` on both sides (librosa's default).
    """
    spec = torch.stft(x, n_fft=n_fft, hop_length=hop_length, window=_full_window(window, n_fft),
                      center=center, pad_mode="constant", return_complex=True)
    return torch.view_as_real(spec).square().sum(-1)


def power_to_db(
    power: torch.Tensor, *, amin: float = 1e-10, top_db: float | None = None,
) -> torch.Tensor:
    """``10 log10(max(power, amin))``; with ``top_db``, floored at each item's max minus ``top_db``.

    The floor is taken per batch item over its feature and frame axes (the last two), so a batch
    gives the same numbers as its items one by one.
    """
    db = 10.0 * torch.log10(torch.clamp(power, min=amin))
    if top_db is not None:
        peak = db.amax(dim=(-2, -1), keepdim=True)
        db = torch.maximum(db, peak - top_db)
    return db


MelGroups = list[tuple[int, int, int, int, torch.Tensor]]


def mel_band_groups(mel_basis: torch.Tensor, *, group_size: int = 16) -> MelGroups:
    """Split a filterbank into dense blocks over the FFT bins each group of bands touches.

    A mel filterbank is ~90% zeros; projecting group by group onto only the bins the group
    covers does an eighth of the dense work. Each entry is ``(band_lo, band_hi, bin_lo, bin_hi,
    weights)`` with ``weights`` ``[2 * (bin_hi - bin_lo), bands]``, every bin's weight repeated
    for the real and the imaginary part, so the projection applies directly to squared
    interleaved STFT values.
    """
    groups: MelGroups = []
    for b0 in range(0, mel_basis.shape[0], group_size):
        sub = mel_basis[b0: b0 + group_size]
        cols = torch.nonzero(sub.abs().sum(0) > 0).flatten()
        lo, hi = (int(cols.min()), int(cols.max()) + 1) if cols.numel() else (0, 1)
        weights = sub[:, lo:hi].repeat_interleave(2, dim=1).T.contiguous()
        groups.append((b0, b0 + sub.shape[0], lo, hi, weights))
    return groups


def mel_power(
    x: torch.Tensor, *, mel_groups: MelGroups, n_fft: int, hop_length: int, window: torch.Tensor,
    center: bool = True, chunk_frames: int = 256, db_amin: float | None = None,
) -> torch.Tensor:
    """Mel-band power ``[batch, n_mels, frames]`` of ``x`` ``[batch, samples]``.

    Frames are processed in chunks that stay in cache (window, real FFT, squared interleaved
    real/imaginary parts, blocked projection), several times faster than ``torch.stft`` followed
    by a dense product, with the same numbers up to float round-off. With ``db_amin`` the chunks
    are converted to ``10 log10(max(power, db_amin))`` while still in cache.
    """
    n_samples = x.shape[-1]
    left = n_fft // 2 if center else 0
    # Frame t covers samples [t*hop - left, t*hop - left + n_fft) of x, zeros outside it. The
    # padding is applied per chunk, so only the first and last chunks ever copy the signal.
    n_frames = 1 + n_samples // hop_length if center else 1 + max(0, n_samples - n_fft) // hop_length
    window = _full_window(window, n_fft).to(x.dtype)
    n_mels = mel_groups[-1][1]
    out_dtype = mel_groups[0][4].dtype
    out = torch.empty(x.shape[0], n_frames, n_mels, dtype=out_dtype)
    def one_chunk(t0: int) -> None:
        t1 = min(n_frames, t0 + chunk_frames)
        lo, hi = t0 * hop_length - left, (t1 - 1) * hop_length - left + n_fft
        piece = x[:, max(lo, 0): min(hi, n_samples)]
        if lo < 0 or hi > n_samples:
            piece = torch.nn.functional.pad(piece, (max(0, -lo), max(0, hi - n_samples)))
        chunk = piece.unfold(-1, n_fft, hop_length) * window  # [batch, frames, n_fft]
        spec = torch.view_as_real(torch.fft.rfft(chunk, dim=-1)).flatten(-2)
        spec = spec.square_().to(out_dtype)
        dest = out[:, t0:t1]
        for b0, b1, f0, f1, weights in mel_groups:
            dest[..., b0:b1] = torch.matmul(spec[..., 2 * f0: 2 * f1], weights)
        if db_amin is not None:
            dest.clamp_(min=db_amin).log10_().mul_(10.0)

    starts = range(0, n_frames, chunk_frames)
    threads = torch.get_num_threads()
    if threads > 1 and len(starts) >= 2 * threads and not (torch.is_grad_enabled() and x.requires_grad):
        # Chunks are small: on a few cores, whole chunks on single-threaded workers beat the
        # intra-op pool (whose spin-waits also collapse when another process wants the cores).
        from concurrent.futures import ThreadPoolExecutor

        inference, grad = torch.is_inference_mode_enabled(), torch.is_grad_enabled()

        def in_caller_mode(t0: int) -> None:  # autograd modes are per thread: carry them over
            with torch.inference_mode(inference), torch.set_grad_enabled(grad):
                one_chunk(t0)

        from speechmusic.runtime import single_threaded_worker

        with ThreadPoolExecutor(threads, initializer=single_threaded_worker) as pool:
            list(pool.map(in_caller_mode, starts))
    else:
        for t0 in starts:
            one_chunk(t0)
    return out.transpose(1, 2)


def log_mel_spectrogram(
    x: torch.Tensor, *, mel_groups: MelGroups, n_fft: int, hop_length: int,
    window: torch.Tensor, center: bool = True, amin: float = 1e-10, top_db: float | None = None,
) -> torch.Tensor:
    """Log-mel spectrogram in dB: ``[batch, samples]`` -> ``[batch, n_mels, frames]``."""
    db = mel_power(x, mel_groups=mel_groups, n_fft=n_fft, hop_length=hop_length,
                   window=window, center=center, db_amin=amin)
    if top_db is not None:
        db = torch.maximum(db, db.amax(dim=(-2, -1), keepdim=True) - top_db)
    return db


def mfcc(log_mel_db: torch.Tensor, *, dct: torch.Tensor) -> torch.Tensor:
    """MFCCs from a dB log-mel ``[batch, n_mels, frames]`` with a ``[n_mfcc, n_mels]`` DCT."""
    return torch.matmul(dct, log_mel_db)
