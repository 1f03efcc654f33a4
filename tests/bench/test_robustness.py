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
