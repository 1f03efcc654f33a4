"""Feature-wise normalisation (fitted on training data only) and patching."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from speechmusic.errors import ConfigError
from speechmusic.features import FeatureNormalizer, SlidingStandardizer, make_patches, patch_starts


def test_normaliser_maps_training_data_into_unit_range_with_zero_mean():
    rng = np.random.default_rng(0)
    clips = [rng.normal(loc=np.arange(5)[:, None] * 10, scale=3, size=(5, n)) for n in (50, 80, 7)]
    norm = FeatureNormalizer().fit(clips)
    out = np.concatenate([norm.transform(c) for c in clips], axis=1)
    np.testing.assert_allclose(out.mean(axis=1), 0, atol=1e-5)
    assert np.abs(out).max() <= 1 + 1e-6
    np.testing.assert_allclose(np.abs(out).max(axis=1), 1, atol=1e-6)


def test_normaliser_streaming_fit_equals_one_shot():
    rng = np.random.default_rng(1)
    clips = [rng.standard_normal((4, 30)) for _ in range(5)]
    a = FeatureNormalizer().fit(clips)
    b = FeatureNormalizer().fit([np.concatenate(clips, axis=1)])
    np.testing.assert_allclose(a.mean, b.mean, atol=1e-6)
    np.testing.assert_allclose(a.scale, b.scale, atol=1e-6)


def test_normaliser_serialises_through_json():
    norm = FeatureNormalizer().fit([np.random.default_rng(2).standard_normal((3, 20))])
    again = FeatureNormalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    x = np.random.default_rng(3).standard_normal((2, 3, 9))
    np.testing.assert_array_equal(again.transform(x), norm.transform(x))


def test_constant_feature_does_not_divide_by_zero():
    norm = FeatureNormalizer().fit([np.ones((2, 10))])
    assert np.isfinite(norm.transform(np.ones((2, 4)))).all()


def test_normaliser_errors():
    with pytest.raises(ConfigError, match="not fitted"):
        FeatureNormalizer().transform(np.zeros((2, 2)))
    with pytest.raises(ConfigError, match="no data"):
        FeatureNormalizer().fit([])
    with pytest.raises(ConfigError, match="non-finite"):
        FeatureNormalizer().fit([np.array([[np.nan, 1.0]])])
    norm = FeatureNormalizer().fit([np.zeros((3, 4))])
    with pytest.raises(ConfigError, match="3 features"):
        norm.transform(np.zeros((4, 4)))


@pytest.mark.parametrize("as_tensor", [False, True])
def test_patches_shape_and_content(as_tensor):
    feats = np.arange(3 * 25, dtype=np.float32).reshape(3, 25)
    x = torch.from_numpy(feats) if as_tensor else feats
    p = make_patches(x, patch_frames=10, hop=5)
    assert tuple(p.shape) == (4, 3, 10)
    np.testing.assert_array_equal(np.asarray(p[2]), feats[:, 10:20])
    np.testing.assert_array_equal(patch_starts(25, patch_frames=10, hop=5), [0, 5, 10, 15])


def test_patches_batched_and_short_clip_padding():
    feats = np.random.default_rng(0).standard_normal((2, 4, 12)).astype(np.float32)
    p = make_patches(feats, patch_frames=6, hop=3)
    assert p.shape == (2, 3, 4, 6)
    short = feats[0, :, :4]
    with pytest.raises(ConfigError, match="fewer than one patch"):
        make_patches(short, patch_frames=6, hop=3)
    padded = make_patches(short, patch_frames=6, hop=3, pad="edge")
    assert padded.shape == (1, 4, 6)
    np.testing.assert_array_equal(padded[0, :, 4:], np.repeat(short[:, -1:], 2, axis=1))
    t = make_patches(torch.from_numpy(short), patch_frames=6, hop=3, pad="edge")
    np.testing.assert_array_equal(t.numpy(), padded)


def test_sliding_standardisation_is_each_frame_by_the_window_around_it():
    """Mean and standard deviation over every finite value of the frames ``t - w // 2`` to
    ``t + w - w // 2 - 1`` (cut at the clip's edges), non-finite values kept as they are; a block
    with ``context`` frames on each side gives its middle as the whole clip does; a gain (a
    shift of log features) changes nothing."""
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(5, 90)) * 2 + np.linspace(0, 9, 90)).astype(np.float32)
    x[:, 40:43] = -np.inf
    norm = SlidingStandardizer(12)
    y = norm.transform(x)
    for t in range(90):
        w = x[:, max(0, t - 6): t + 6]
        w = w[np.isfinite(w)]
        if np.isfinite(x[0, t]):
            np.testing.assert_allclose(y[:, t], (x[:, t] - w.mean()) / w.std(), rtol=1e-4, atol=1e-5)
    assert np.isneginf(y[:, 40:43]).all()
    c = norm.context
    np.testing.assert_allclose(norm.transform(x[:, 50 - c: 70 + c])[:, c:-c], y[:, 50:70], atol=1e-5)
    np.testing.assert_allclose(norm.transform(x + 3.5), y, atol=1e-5)
    assert norm.transform(x[None])[0].shape == x.shape  # leading axes allowed
    with pytest.raises(ConfigError):
        SlidingStandardizer(1)
