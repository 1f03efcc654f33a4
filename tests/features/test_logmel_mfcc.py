"""LogMel and MFCC against librosa (the reference), batching, chunking, and shapes.

Tolerances: with ``precision="float64"`` our dB values match librosa's to 1e-3 dB everywhere.
With the default float32 FFT they match to 5e-3 dB in every band within 100 dB of its frame's
loudest band; below that, both are at float32 round-off (~120 dB down) and differ by up to ~0.2 dB.
"""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from speechmusic.errors import ConfigError
from speechmusic.features import MFCC, FeatureConfig, LogMel, build_frontend, compute_features
from speechmusic.features.functional import dct_matrix, mel_filterbank
from tests.conftest import chirp, music_like, shared_path, speech_like


def _librosa_logmel(y, c: FeatureConfig) -> np.ndarray:
    mel = librosa.feature.melspectrogram(y=y, sr=c.sample_rate, n_fft=c.n_fft, hop_length=c.hop_length,
                                         n_mels=c.n_mels, fmin=c.fmin, fmax=c.fmax)
    return librosa.power_to_db(mel, top_db=None)


def _real_clip(seconds: float = 20.0) -> np.ndarray:
    path = shared_path("librosa-data", "audio", "Kevin_MacLeod_-_Vibe_Ace.ogg")
    y, _ = librosa.load(path, sr=22050, duration=seconds)
    return y


@pytest.mark.parametrize("n_fft,n_mels,fmax", [(2048, 128, None), (1024, 40, 4000.0), (512, 64, 8000.0)])
def test_mel_filterbank_matches_librosa(n_fft, n_mels, fmax):
    ours = mel_filterbank(sr=22050, n_fft=n_fft, n_mels=n_mels, fmax=fmax)
    ref = librosa.filters.mel(sr=22050, n_fft=n_fft, n_mels=n_mels, fmax=fmax, dtype=np.float64)
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)


def test_dct_matches_scipy_ortho():
    from scipy.fft import dct

    x = np.random.default_rng(0).standard_normal((40, 7))
    np.testing.assert_allclose(dct_matrix(13, 40) @ x, dct(x, axis=0, norm="ortho")[:13], atol=1e-12)


def test_logmel_float64_matches_librosa_on_real_audio():
    y = _real_clip()
    c = FeatureConfig.preset("melspec")
    ours = LogMel(c, precision="float64")(torch.from_numpy(y)).numpy()
    ref = _librosa_logmel(y, c)
    assert ours.shape == ref.shape == (128, 1 + len(y) // 512)
    assert np.abs(ours - ref).max() < 1e-3


def test_logmel_float32_matches_librosa_above_roundoff_floor():
    y = _real_clip()
    c = FeatureConfig.preset("melspec")
    ours = LogMel(c)(torch.from_numpy(y)).numpy()
    ref = _librosa_logmel(y, c)
    audible = ref >= ref.max(axis=0, keepdims=True) - 100.0
    assert audible.mean() > 0.95
    assert np.abs(ours - ref)[audible].max() < 5e-3
    assert np.abs(ours - ref).max() < 0.5


@pytest.mark.parametrize("preset", ["mfcc_swishnet", "mfcc_ina"])
def test_mfcc_matches_librosa(preset):
    y = _real_clip(10.0)
    c = FeatureConfig.preset(preset)
    ours = MFCC(c, precision="float64")(torch.from_numpy(y)).numpy()
    S = _librosa_logmel(y, c)
    ref = librosa.feature.mfcc(S=S, n_mfcc=c.n_mfcc)
    assert ours.shape == ref.shape == (c.n_mfcc, 1 + len(y) // c.hop_length)
    assert np.abs(ours - ref).max() < 5e-3


def test_swishnet_mfcc_gives_16_frames_per_second():
    c = FeatureConfig.preset("mfcc_swishnet")
    feats = MFCC(c)(torch.from_numpy(chirp(22050, 1.0)))
    assert feats.shape == (22, 17)  # 16 hops in one second, centred framing adds one
    assert c.patch_shape == (22, 16)


@pytest.mark.parametrize("module", [LogMel, MFCC])
def test_batch_equals_one_by_one(module):
    signals = [chirp(22050, 1.5), music_like(22050, 1.5, seed=1), speech_like(22050, 1.5, seed=2)]
    front = module()
    batch = front(torch.from_numpy(np.stack(signals)))
    for i, s in enumerate(signals):
        single = front(torch.from_numpy(s))
        torch.testing.assert_close(batch[i], single, atol=1e-4, rtol=0)


def test_top_db_is_per_item():
    signals = np.stack([chirp(22050, 1.0), 0.001 * music_like(22050, 1.0)])
    front = LogMel(top_db=80.0)
    batch = front(torch.from_numpy(signals))
    for i in range(2):
        torch.testing.assert_close(batch[i], front(torch.from_numpy(signals[i])), atol=1e-4, rtol=0)
        assert batch[i].max() - batch[i].min() <= 80.0 + 1e-3


def test_chunked_features_equal_one_pass():
    y = music_like(22050, 6.0)
    c = FeatureConfig.preset("melspec")
    whole = LogMel(c)(torch.from_numpy(y)).numpy()
    chunked = compute_features(y, c, max_frames_per_call=37)
    np.testing.assert_allclose(chunked, whole, atol=1e-4)


@pytest.mark.filterwarnings("ignore:n_fft=2048 is too large")
@pytest.mark.parametrize("n", [1, 100, 2047, 2048, 2049])
def test_shorter_than_one_window_gives_centred_frames(n):
    y = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    c = FeatureConfig.preset("melspec")
    ours = LogMel(c, precision="float64")(torch.from_numpy(y)).numpy()
    ref = _librosa_logmel(y, c)
    assert ours.shape == ref.shape == (128, 1 + n // 512)
    assert np.isfinite(ours).all()
    assert np.abs(ours - ref).max() < 1e-2


def test_silence_is_finite_and_floored():
    feats = LogMel()(torch.zeros(22050))
    assert torch.isfinite(feats).all()
    assert feats.max().item() == pytest.approx(-100.0)


def test_frontend_dispatch_and_kind_mismatch():
    assert isinstance(build_frontend(FeatureConfig.preset("melspec")), LogMel)
    assert isinstance(build_frontend(FeatureConfig.preset("mfcc_ina")), MFCC)
    with pytest.raises(ConfigError, match="logmel"):
        MFCC(FeatureConfig.preset("melspec"))


def test_bad_shapes_are_config_errors():
    with pytest.raises(ConfigError, match="batch, samples"):
        LogMel()(torch.zeros(1, 2, 3))


def test_buffers_follow_the_module():
    front = LogMel()
    names = {n for n, _ in front.named_buffers()}
    assert {"window", "mel_basis"} <= names
    assert front.double().mel_basis.dtype == torch.float64
