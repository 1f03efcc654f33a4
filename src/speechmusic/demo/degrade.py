"""Recording chains: what makes one demo "dataset" sound unlike another.

A :class:`RecordingChain` stands for how a collection was recorded and stored, in this order:
the room (reverberation), what else was in the room (background noise at a signal-to-noise
ratio), a compressor, an overdriven stage, the band of the microphone, tape or transmitter, the
stored sample rate, a lossy codec (a real one: MP3, Vorbis or Opus through libsndfile, encoded and decoded in memory), the
level and the bit depth. Every random choice comes from the generator passed in.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import numpy as np
import soundfile as sf
from scipy import signal

from speechmusic.audio import peak_normalize, resample
from speechmusic.demo._deps import DemoUnavailableError
from speechmusic.errors import ConfigError

__all__ = ["RecordingChain", "room_impulse", "reverberate", "band_limit", "compress", "saturate",
           "codec_roundtrip", "add_background"]


def room_impulse(rng: np.random.Generator, *, sr: int, rt60: float) -> np.ndarray:
    """A synthetic room impulse response: the direct sound, a few early reflections and an
    exponentially decaying, progressively darker diffuse tail reaching -60 dB after ``rt60`` s."""
    n = max(8, int(rt60 * 1.1 * sr))
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.908 * t / rt60)
    # Air and walls absorb highs first: low-pass the tail harder as it goes on.
    dark = signal.sosfilt(signal.butter(1, 2500.0, fs=sr, output="sos"), tail)
    mix = np.clip(t / max(rt60 * 0.5, 1e-3), 0.0, 1.0)
    ir = (1 - mix) * tail + mix * dark
    ir[: int(0.004 * sr)] *= np.linspace(0.0, 1.0, int(0.004 * sr))  # the tail builds up
    ir *= 0.3 / (np.sqrt(np.sum(ir ** 2)) + 1e-12)
    ir[0] = 1.0
    for _ in range(int(rng.integers(3, 8))):
        ir[min(n - 1, int(rng.uniform(0.002, 0.03) * sr))] += rng.uniform(-0.6, 0.6)
    return ir.astype(np.float32)


def reverberate(audio: np.ndarray, *, sr: int, rng: np.random.Generator, rt60: float,
                wet: float) -> np.ndarray:
    """``audio`` in a room of reverberation time ``rt60``; ``wet`` is the reverberant share."""
    ir = room_impulse(rng, sr=sr, rt60=rt60)
    rev = signal.fftconvolve(audio, ir)[: audio.size]
    rev *= np.sqrt(np.mean(audio ** 2) / (np.mean(rev ** 2) + 1e-20))
    return ((1 - wet) * audio + wet * rev).astype(np.float32)


def band_limit(audio: np.ndarray, *, sr: int, low: float, high: float, order: int = 4) -> np.ndarray:
    """Band-pass between ``low`` and ``high`` Hz (a high-pass alone where ``high`` is past Nyquist)."""
    high = min(high, 0.45 * sr)
    sos = signal.butter(order, [low, high], btype="bandpass", fs=sr, output="sos")
    return signal.sosfilt(sos, audio).astype(np.float32)


def compress(audio: np.ndarray, *, sr: int, ratio: float, threshold_db: float = -18.0,
             window: float = 0.02) -> np.ndarray:
    """A broadcast-style compressor: above ``threshold_db`` (relative to the loudest moment) the
    level grows ``ratio`` times slower; the envelope is the RMS over ``window`` seconds."""
    if ratio <= 1.0:
        return audio
    env = np.sqrt(signal.lfilter([1.0 / (window * sr)], [1.0, -(1.0 - 1.0 / (window * sr))],
                                 audio.astype(np.float64) ** 2) + 1e-12)
    thr = env.max() * 10 ** (threshold_db / 20)
    gain = np.where(env > thr, (env / thr) ** (1.0 / ratio - 1.0), 1.0)
    return (audio * gain).astype(np.float32)


def saturate(audio: np.ndarray, *, drive: float) -> np.ndarray:
    """A soft-clipping stage (tanh) driven ``drive`` times into saturation at the peak."""
    peak = float(np.max(np.abs(audio))) or 1.0
    return (np.tanh(drive * audio / peak) / np.tanh(drive) * peak).astype(np.float32)


def codec_roundtrip(audio: np.ndarray, *, sr: int, fmt: str, subtype: str, level: float) -> np.ndarray:
    """Encode with a real lossy codec in memory and decode again (same length as ``audio``).

    ``level`` is libsndfile's compression level, 0 (best) to 1 (smallest file).
    """
    if subtype not in sf.available_subtypes(fmt):
        raise DemoUnavailableError(
            f"this libsndfile ({sf.__libsndfile_version__}) cannot write {fmt}/{subtype}; the "
            "soundfile wheels from 0.12 on bundle one that can")
    peak = float(np.max(np.abs(audio))) or 1.0
    buf = io.BytesIO()
    sf.write(buf, audio / (peak * 1.05), sr, format=fmt, subtype=subtype,
             compression_level=float(np.clip(level, 0.0, 1.0)))
    buf.seek(0)
    decoded, _ = sf.read(buf, dtype="float32")
    decoded = decoded if decoded.ndim == 1 else decoded.mean(axis=1)
    decoded = np.pad(decoded, (0, max(0, audio.size - decoded.size)))[: audio.size]
    return (decoded * np.float32(peak * 1.05)).astype(np.float32)


def add_background(audio: np.ndarray, noise: np.ndarray, *, snr_db: float) -> np.ndarray:
    """Mix ``noise`` under ``audio`` at ``snr_db`` (RMS over the whole clip)."""
    s = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    b = float(np.sqrt(np.mean(noise.astype(np.float64) ** 2)))
    if s == 0.0 or b == 0.0:
        return audio + noise * np.float32(10 ** (-snr_db / 20))
    return (audio + noise * np.float32(s / b * 10 ** (-snr_db / 20))).astype(np.float32)


@dataclass(frozen=True)
class RecordingChain:
    """How a demo dataset was recorded and stored. Ranges ``(lo, hi)`` are drawn per clip.

    Attributes:
        sample_rate: the stored rate of the WAV files.
        subtype: their sample format (``PCM_16``, ``PCM_24``).
        band: pass band (Hz) of the microphone, line or tape, or ``None``.
        rt60: reverberation time range (s), or ``None`` for a dry recording; ``wet`` its share.
        background: noise kinds (:data:`speechmusic.demo.noise.NOISE_KINDS`) one of which lies
            under every clip at ``snr_db``; empty for none.
        compression: compressor ratio range, or ``None``.
        drive: saturation drive range, or ``None``.
        codec: ``(format, subtype, (level_lo, level_hi))`` of a lossy codec, or ``None``.
        peak_db: peak level range of the stored clip (dBFS).
    """

    sample_rate: int
    subtype: str = "PCM_16"
    band: tuple[float, float] | None = None
    rt60: tuple[float, float] | None = None
    wet: tuple[float, float] = (0.0, 0.0)
    background: tuple[str, ...] = ()
    snr_db: tuple[float, float] = (40.0, 60.0)
    compression: tuple[float, float] | None = None
    drive: tuple[float, float] | None = None
    codec: tuple[str, str, tuple[float, float]] | None = None
    peak_db: tuple[float, float] = (-6.0, -1.0)

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ConfigError(f"sample_rate must be positive, got {self.sample_rate}")
        if self.peak_db[1] > -0.1:
            raise ConfigError(f"peak_db must stay below -0.1 dBFS (no clipping), got {self.peak_db}")

    def describe(self) -> dict:
        return asdict(self)

    def apply(self, audio: np.ndarray, *, sr: int, rng: np.random.Generator) -> np.ndarray:
        """Record ``audio`` (mono float32 at ``sr``) through the chain: float32 at
        :attr:`sample_rate`, peak within :attr:`peak_db`."""
        from speechmusic.demo.noise import render_noise

        x = audio.astype(np.float32, copy=True)
        if self.rt60 is not None:
            x = reverberate(x, sr=sr, rng=rng, rt60=float(rng.uniform(*self.rt60)),
                            wet=float(rng.uniform(*self.wet)))
        if self.background:
            kind = str(rng.choice(list(self.background)))
            bg = render_noise(rng, kind=kind, seconds=x.size / sr, sr=sr)[: x.size]
            x = add_background(x, bg, snr_db=float(rng.uniform(*self.snr_db)))
        if self.compression is not None:
            x = compress(x, sr=sr, ratio=float(rng.uniform(*self.compression)))
        if self.drive is not None:
            x = saturate(x, drive=float(rng.uniform(*self.drive)))
        if self.band is not None:  # last of the analogue stages: it also bounds the distortion
            x = band_limit(x, sr=sr, low=self.band[0], high=self.band[1])
        x = resample(x, orig_sr=sr, target_sr=self.sample_rate)
        if self.codec is not None:
            fmt, subtype, level = self.codec
            x = codec_roundtrip(x, sr=self.sample_rate, fmt=fmt, subtype=subtype,
                                level=float(rng.uniform(*level)))
        x = peak_normalize(x)
        return (x * np.float32(10 ** (rng.uniform(*self.peak_db) / 20))).astype(np.float32)
