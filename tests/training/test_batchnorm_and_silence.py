"""Batch-norm statistics re-estimated after training (precise BN), INA's per-patch input
normalisation as a normaliser, and INA bands' digital silence in training data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from speechmusic.errors import AudioDecodeError, ConfigError
from speechmusic.features import FeatureConfig, PatchStandardizer
from speechmusic.models import build_model, standardize_patches
from speechmusic.training import FeatureRef, PatchSet, TrainConfig, fit
from speechmusic.training.cache import checked_features
from speechmusic.training.loop import recalibrate_batch_norm
from speechmusic.training.patches import EncodedPatches


def _shifted_sets(offset: float = 5.0) -> tuple[PatchSet, PatchSet]:
    """Two classes far from zero mean: class 1 has a raised first band."""
    rng = np.random.default_rng(0)
    refs, labels = [], []
    for i in range(16):
        a = offset + rng.standard_normal((6, 40)).astype(np.float32)
        a[0] += 3.0 * (i % 2)
        refs.append(FeatureRef.of(a))
        labels.append(i % 2)
    return (PatchSet(refs[:12], labels[:12], patch_frames=4, hop=4),
            PatchSet(refs[12:], labels[12:], patch_frames=4, hop=4))


def test_recalibration_gives_the_data_statistics() -> None:
    x = np.random.default_rng(1).normal(3.0, 2.0, (1024, 4)).astype(np.float32)
    data = EncodedPatches(x, np.zeros(1024, dtype=np.int64))
    bn = nn.BatchNorm1d(4, momentum=0.01)
    used = recalibrate_batch_norm(nn.Sequential(bn), data, n_patches=1024, batch_size=256)
    assert used == 1024
    np.testing.assert_allclose(bn.running_mean.numpy(), x.mean(0), atol=1e-4)
    # the mean of four unbiased variances of random batches of 256 patches
    np.testing.assert_allclose(bn.running_var.numpy(), x.var(0, ddof=1), rtol=0.02)
    assert bn.momentum == 0.01


def test_recalibration_leaves_frozen_batch_norms_alone() -> None:
    model = build_model("vgg", n_classes=2, input_shape=(6, 4))
    model.set_trainable("intermediate").eval()  # convolutions (and their batch norms) frozen
    frozen = [m for m in model.body.lower.modules() if isinstance(m, nn.BatchNorm2d)]
    before = [m.running_mean.clone() for m in frozen]
    train, _ = _shifted_sets()
    recalibrate_batch_norm(model, train, n_patches=64)
    for m, b in zip(frozen, before, strict=True):
        assert torch.equal(m.running_mean, b)
    assert not model.training  # the mode is restored


def test_fit_recalibrates_statistics_before_validation() -> None:
    # With Keras' momentum (0.99) and a dozen steps the running means stay near their initial
    # zeros, far from the inputs' mean of 5; re-estimated they match it.
    train, val = _shifted_sets(offset=5.0)
    stats = {}
    for n in (0, 4096):
        torch.manual_seed(0)
        model = build_model("vgg", n_classes=2, input_shape=(6, 4))
        fit(model, train, val, config=TrainConfig(max_epochs=2, patience=None, batch_size=16,
                                                  bn_recalibration=n))
        first = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
        stats[n] = float(first.running_mean.abs().mean())
    conv = next(m for m in build_model("vgg", n_classes=2, input_shape=(6, 4)).modules()
                if isinstance(m, nn.Conv2d))
    assert conv is not None
    assert stats[0] < 1.0 < stats[4096]


def test_negative_recalibration_is_refused() -> None:
    with pytest.raises(ConfigError, match="bn_recalibration"):
        TrainConfig(bn_recalibration=-1)


def test_patch_standardizer_is_ina_normalisation() -> None:
    patches = np.random.default_rng(2).normal(4.0, 3.0, (5, 21, 68)).astype(np.float32)
    np.testing.assert_allclose(PatchStandardizer().transform(patches), standardize_patches(patches),
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ConfigError):
        PatchStandardizer().transform(np.zeros(3))


def test_ina_bands_silence_allowed_and_its_patches_dropped() -> None:
    ina = FeatureConfig.preset("ina_sm")
    feats = np.random.default_rng(3).standard_normal((21, 30)).astype(np.float32)
    feats[:, 10:12] = -np.inf  # digital silence
    checked_features(feats, ina, path="a.wav")
    with pytest.raises(AudioDecodeError):
        checked_features(feats, FeatureConfig.preset("melspec"), path="a.wav")
    nan = feats.copy()
    nan[0, 0] = np.nan
    with pytest.raises(AudioDecodeError):
        checked_features(nan, ina, path="a.wav")

    data = PatchSet([FeatureRef.of(feats)], [0], patch_frames=4, hop=2, drop_nonfinite=True)
    starts = data.patch_start.tolist()
    assert starts == [0, 2, 4, 6, 12, 14, 16, 18, 20, 22, 24, 26]
    assert np.isfinite(data.batch(np.arange(len(data)))).all()
    limited = PatchSet([FeatureRef.of(feats)], [0], patch_frames=4, hop=2, drop_nonfinite=True,
                       max_patches_per_clip=3)
    assert set(limited.patch_start.tolist()) <= set(starts) and len(limited) == 3
