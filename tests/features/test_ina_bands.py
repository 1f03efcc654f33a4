"""InaBands against golden numbers from inaSpeechSegmenter 0.6.8's own feature code.

The golden file is made by ``tools/golden/make_ina_golden.py`` in the side environment described
in ``tools/golden/README.md``. Tolerance: 1e-5 (natural-log units) on every finite value; the
same values are -inf (digital silence) on both sides.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from speechmusic.errors import ConfigError
from speechmusic.features import FeatureConfig, InaBands, build_frontend, compute_features
from speechmusic.features.ina import ina_filterbank

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"


@pytest.fixture(scope="module")
def golden():
    return np.load(GOLDEN / "ina_bands.npz")


def _pcm(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32) / 32768.0  # soundfile's float reading of 16-bit PCM


def test_filterbank_matches_sidekit(golden):
    np.testing.assert_allclose(ina_filterbank(), golden["fbank"], atol=1e-7)


def _assert_log_close(ours: np.ndarray, ref: np.ndarray) -> None:
    finite = np.isfinite(ref)
    np.testing.assert_array_equal(np.isfinite(ours), finite)
    np.testing.assert_array_equal(ours[~finite], ref[~finite])
    np.testing.assert_allclose(ours[finite], ref[finite], atol=1e-5, rtol=0)


def test_bands_and_energy_match_golden(golden):
    bands, loge = InaBands().with_energy(torch.from_numpy(_pcm(golden["audio_int16"])))
    assert bands.shape == (24, golden["mspec"].shape[0])
    _assert_log_close(bands.numpy(), golden["mspec"].T)
    _assert_log_close(loge.numpy(), golden["loge"])


def test_real_audio_decoded_like_ina_matches_golden():
    data = np.load(GOLDEN / "ina_decode.npz")
    bands = InaBands()(torch.from_numpy(_pcm(data["audio16k_int16"])))
    _assert_log_close(bands.numpy(), data["mspec"].T)


def test_short_signal_frames(golden):
    audio = _pcm(golden["short_audio_int16"])
    bands, loge = InaBands().with_energy(torch.from_numpy(audio))
    assert bands.shape[1] == len(golden["short_loge"]) == (len(audio) - 400) // 160 + 1
    _assert_log_close(loge.numpy(), golden["short_loge"])
    assert InaBands()(torch.zeros(399)).shape == (24, 0)


def test_keep_bands_and_frame_count():
    sm = FeatureConfig.preset("ina_sm")
    x = torch.randn(16000)
    out = build_frontend(sm)(x)
    assert out.shape == (21, sm.n_frames(16000)) == (21, 98)
    torch.testing.assert_close(out, InaBands()(x)[:21])


def test_batch_equals_one_by_one():
    x = torch.randn(3, 8000)
    batch = InaBands()(x)
    for i in range(3):
        torch.testing.assert_close(batch[i], InaBands()(x[i]))


def test_compute_features_uses_it():
    x = np.random.default_rng(0).standard_normal(4000).astype(np.float32)
    assert compute_features(x, FeatureConfig.preset("ina_sm")).shape == (21, 23)


def test_kind_mismatch():
    with pytest.raises(ConfigError, match="ina_bands"):
        InaBands(FeatureConfig.preset("melspec"))
