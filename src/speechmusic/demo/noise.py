"""Noise of the demo corpus: coloured noise, rain, wind, crowd babble, impulses, machines and the
soundfont's sound effects.

Babble is many quiet eSpeak talkers overlapped (:func:`speechmusic.demo.speech.babble`);
seashore, helicopter, applause and gun shots come from the General MIDI effects bank of
the soundfont (:func:`speechmusic.demo.music.render_sfx`). The rest is shaped random noise: the
kind of signal that has no better renderer than a random generator and a filter.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from speechmusic.errors import ConfigError

__all__ = ["NOISE_KINDS", "coloured", "render_noise"]

#: Every kind :func:`render_noise` makes.
NOISE_KINDS = ("white", "pink", "brown", "blue", "rain", "wind", "babble", "applause",
               "seashore", "helicopter", "impulses", "gunshots", "hum", "fan", "engine")

_COLOUR_EXPONENT = {"white": 0.0, "pink": -1.0, "brown": -2.0, "blue": 1.0, "violet": 2.0}


def coloured(rng: np.random.Generator, n: int, *, colour: str = "pink") -> np.ndarray:
    """Gaussian noise whose power falls (or rises) as ``f**exponent``: white 0, pink -1, brown -2,
    blue +1, violet +2. Unit RMS, float32."""
    if colour not in _COLOUR_EXPONENT:
        raise ConfigError(f"colour must be one of {sorted(_COLOUR_EXPONENT)}, got {colour!r}")
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0
    spec *= f ** (_COLOUR_EXPONENT[colour] / 2.0)
    spec[0] = 0.0
    out = np.fft.irfft(spec, n)
    return (out / (np.sqrt(np.mean(out ** 2)) + 1e-12)).astype(np.float32)


def _bandpass(x: np.ndarray, sr: int, low: float, high: float, order: int = 2) -> np.ndarray:
    sos = signal.butter(order, [low, min(high, sr * 0.45)], btype="bandpass", fs=sr, output="sos")
    return signal.sosfilt(sos, x).astype(np.float32)


def _slow_envelope(rng: np.random.Generator, n: int, sr: int, *, rate: float, depth: float) -> np.ndarray:
    """A smooth random gain curve around 1 (gusts, swells) changing about ``rate`` times a second."""
    points = max(4, int(n / sr * rate) + 3)
    knots = rng.uniform(1.0 - depth, 1.0 + depth, points)
    return np.interp(np.linspace(0, points - 1, n), np.arange(points), knots).astype(np.float32)


def _rain(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """A hiss bed plus thousands of drops: short decaying bubble resonances at random times."""
    bed = _bandpass(coloured(rng, n, colour="pink"), sr, 300.0, 9000.0) * 0.3
    drops = np.zeros(n, dtype=np.float32)
    count = int(rng.uniform(150, 600) * n / sr)
    for t0 in rng.integers(0, n, count):
        freq = rng.uniform(800.0, 5000.0)
        length = int(sr * rng.uniform(0.004, 0.02))
        t = np.arange(min(length, n - t0)) / sr
        drops[t0: t0 + t.size] += (rng.uniform(0.1, 1.0) * np.exp(-t * rng.uniform(150, 600))
                                   * np.sin(2 * np.pi * freq * (1 + 30 * t) * t)).astype(np.float32)
    return bed + drops


def _impulses(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Knocks, clicks and clatter at irregular (Poisson) times over a faint room tone."""
    out = coloured(rng, n, colour="brown") * 0.01
    t = 0.0
    while True:
        t += rng.exponential(1.0 / rng.uniform(1.0, 6.0))
        t0 = int(t * sr)
        if t0 >= n:
            return out
        length = min(int(sr * rng.uniform(0.02, 0.25)), n - t0)
        burst = rng.standard_normal(length) * np.exp(-np.arange(length) / (sr * rng.uniform(0.005, 0.06)))
        low = rng.uniform(80.0, 2000.0)
        burst = _bandpass(burst.astype(np.float32), sr, low, low * rng.uniform(1.5, 8.0))
        out[t0: t0 + length] += burst * np.float32(rng.uniform(0.3, 1.0) / (np.abs(burst).max() + 1e-9))


def _hum(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Mains hum with harmonics and a buzz, slowly wavering."""
    base = float(rng.choice([50.0, 60.0])) * (1 + rng.uniform(-0.003, 0.003))
    t = np.arange(n) / sr
    out = np.zeros(n)
    for k in range(1, 12):
        out += rng.uniform(0.1, 1.0) / k * np.sin(2 * np.pi * base * k * t + rng.uniform(0, 2 * np.pi))
    out = np.tanh(2.0 * out)  # a saturated transformer buzz
    return (out * _slow_envelope(rng, n, sr, rate=0.5, depth=0.1)
            + coloured(rng, n, colour="pink") * 0.05).astype(np.float32)


def _fan(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Broadband air noise modulated at the blade rate, with a motor whine."""
    blade = rng.uniform(20.0, 90.0)
    t = np.arange(n) / sr
    air = _bandpass(coloured(rng, n, colour="pink"), sr, 100.0, rng.uniform(3000.0, 8000.0))
    air *= (1 + 0.3 * np.sin(2 * np.pi * blade * t)).astype(np.float32)
    whine = 0.05 * np.sin(2 * np.pi * blade * rng.integers(5, 12) * t)
    return (air + whine).astype(np.float32)


def _engine(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Firing pulses of an engine through a resonant body, its speed drifting."""
    rate = rng.uniform(15.0, 60.0) * _slow_envelope(rng, n, sr, rate=0.3, depth=0.15)
    phase = np.cumsum(rate) / sr
    pulses = (np.diff(np.floor(phase), prepend=0.0) > 0).astype(np.float32)
    pulses *= rng.uniform(0.6, 1.0, n).astype(np.float32)
    body = _bandpass(pulses, sr, 40.0, rng.uniform(300.0, 1200.0), order=2)
    rumble = _bandpass(coloured(rng, n, colour="brown"), sr, 30.0, 400.0) * 0.3
    return (body / (np.abs(body).max() + 1e-9) + rumble).astype(np.float32)


def render_noise(rng: np.random.Generator, *, kind: str, seconds: float, sr: int) -> np.ndarray:
    """``seconds`` of noise of ``kind`` (one of :data:`NOISE_KINDS`), mono float32 at ``sr``
    (the soundfont and eSpeak kinds are resampled from their own rates)."""
    n = int(round(seconds * sr))
    if kind in _COLOUR_EXPONENT:
        return coloured(rng, n, colour=kind)
    if kind == "rain":
        return _rain(rng, n, sr)
    if kind == "wind":
        gusts = _slow_envelope(rng, n, sr, rate=rng.uniform(0.5, 2.0), depth=0.8)
        return _bandpass(coloured(rng, n, colour="brown"), sr, 40.0, rng.uniform(400.0, 1500.0)) * gusts
    if kind == "impulses":
        return _impulses(rng, n, sr)
    if kind == "hum":
        return _hum(rng, n, sr)
    if kind == "fan":
        return _fan(rng, n, sr)
    if kind == "engine":
        return _engine(rng, n, sr)
    from speechmusic.audio import resample

    if kind == "babble":
        from speechmusic.demo.speech import ESPEAK_SR, babble

        talkers = int(rng.integers(8, 17))  # enough talkers that no single voice stands out
        return _fit_length(resample(babble(rng, seconds=seconds, talkers=talkers),
                                    orig_sr=ESPEAK_SR, target_sr=sr), n)
    from speechmusic.demo.music import SYNTH_SR, render_sfx

    # (program, events a second, event length); the effects bank's breath (121) is left out: in
    # this soundfont it is a pitched, flute-like sound.
    sfx = {"seashore": (122, 0.6, (2.0, 5.0)),
           "helicopter": (125, 0.4, (2.0, 6.0)), "applause": (126, 0.8, (1.5, 4.0)),
           "gunshots": (127, 1.2, (0.2, 1.0))}
    if kind not in sfx:
        raise ConfigError(f"noise kind must be one of {NOISE_KINDS}, got {kind!r}")
    program, density, length = sfx[kind]
    audio = render_sfx(rng, program=program, seconds=seconds, density=density * rng.uniform(0.7, 1.5),
                       length=length)
    audio = _fit_length(resample(audio, orig_sr=SYNTH_SR, target_sr=sr), n)
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))) + 1e-9
    # A room tone 30 dB down fills the gaps between effects.
    return audio + coloured(rng, n, colour="pink") * np.float32(rms * 10 ** (-30 / 20))


def _fit_length(audio: np.ndarray, n: int) -> np.ndarray:
    return np.pad(audio, (0, max(0, n - audio.size)))[:n].astype(np.float32, copy=False)
