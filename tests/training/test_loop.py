"""The fit loop: determinism, early stopping with best weights, frozen parameters, pretrained models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from speechmusic.errors import ConfigError
from speechmusic.models import build_model
from speechmusic.training import FeatureRef, FoldContext, PatchSet, TrainConfig, cross_validate, fit
from speechmusic.training.config import ProtocolConfig


def _data(n_clips: int = 12, seed: int = 0) -> tuple[list[FeatureRef], list[int]]:
    """Two separable classes: class 1 has a raised first band."""
    rng = np.random.default_rng(seed)
    refs, labels = [], []
    for i in range(n_clips):
        y = i % 2
        a = rng.standard_normal((6, 40)).astype(np.float32)
        a[0] += 3.0 * y
        refs.append(FeatureRef.of(a))
        labels.append(y)
    return refs, labels


def _sets():
    refs, labels = _data()
    train = PatchSet(refs[:8], labels[:8], patch_frames=4, hop=4)
    val = PatchSet(refs[8:], labels[8:], patch_frames=4, hop=4)
    return train, val


def _model(seed: int = 0):
    torch.manual_seed(seed)
    return build_model("dnn", n_classes=2, input_shape=(6, 4), units=8)


def test_fit_is_deterministic_and_learns():
    train, val = _sets()
    cfg = TrainConfig(max_epochs=20, batch_size=16, num_threads=1)
    a, b = _model(), _model()
    ra = fit(a, train, val, config=cfg, seed=7)
    fit(b, train, val, config=cfg, seed=7)
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    assert ra.best_val_accuracy is not None and ra.best_val_accuracy > 0.9
    assert not a.training  # left in eval mode


def test_early_stopping_restores_the_best_weights():
    train, val = _sets()
    model = _model()
    seen = []
    snapshots = {}

    def on_epoch(e):
        seen.append(e.val_accuracy)
        snapshots[e.epoch] = {k: v.clone() for k, v in model.state_dict().items()}

    cfg = TrainConfig(max_epochs=60, patience=3, batch_size=16, learning_rate=0.05, num_threads=1)
    r = fit(model, train, val, config=cfg, seed=0, on_epoch=on_epoch)
    assert r.epochs_run < 60 and r.stopped_early
    best = int(np.argmax(seen)) + 1  # first epoch with the highest accuracy
    assert r.best_epoch == best and r.epochs_run == best + 3
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, snapshots[best][k])


def test_only_the_given_parameters_train():
    train, val = _sets()
    model = build_model("vgg", n_classes=2, input_shape=(6, 4), channels=2, fc_units=[4, 4])
    model.set_trainable("frozen")  # only the classifier trains
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fit(model, train, val, config=TrainConfig(max_epochs=2, batch_size=16, num_threads=1), seed=0)
    after = model.state_dict()
    for k in before:
        changed = not torch.equal(before[k], after[k])
        assert changed == k.startswith("classifier."), k  # incl. frozen batch-norm statistics
    # an explicit parameter list wins
    plain = nn.Sequential(nn.Flatten(), nn.Linear(24, 2))
    w0 = plain[1].weight.clone()
    fit(plain, train, None, config=TrainConfig(max_epochs=1, num_threads=1), parameters=[plain[1].bias])
    torch.testing.assert_close(plain[1].weight, w0)
    with pytest.raises(ConfigError, match="no trainable"):
        fit(plain, train, None, config=TrainConfig(max_epochs=1), parameters=[])


def test_cross_validate_with_a_caller_built_pretrained_model(tmp_path):
    """The transfer-learning path: a factory returning a pretrained body with a new head."""
    refs, labels = _data(n_clips=16)
    from speechmusic.data import Clip, Manifest
    from speechmusic.features import FeatureConfig
    from speechmusic.training.cv import PreparedData

    names = ["a", "b"]
    manifest = Manifest(Clip(id=f"c{i}", path=f"/x/c{i}.wav", label=names[y], group=f"g{i}")
                        for i, y in enumerate(labels))
    prepared = PreparedData(manifest=manifest, refs=refs)
    config = FeatureConfig(kind="logmel", n_mels=6, patch_frames=4)
    pretrained = build_model("vgg", n_classes=3, input_shape=(6, 4), channels=2, fc_units=[4, 4])
    frozen_weight = pretrained.body.lower[1].weight.detach().clone()
    built = []

    def factory(ctx: FoldContext):
        built.append(ctx)
        model = build_model("vgg", n_classes=3, input_shape=ctx.input_shape, channels=2, fc_units=[4, 4])
        model.load_state_dict(pretrained.state_dict())
        return model.replace_classifier(n_classes=len(ctx.labels)).set_trainable("intermediate")

    result = cross_validate(manifest, labels=names, feature_config=config, model_factory=factory,
                            out_dir=tmp_path / "tl", prepared=prepared,
                            protocol=ProtocolConfig(n_folds=2, test_fraction=0.25, val_fraction=0.25),
                            training=TrainConfig(max_epochs=2, batch_size=8, num_threads=1),
                            trainable=lambda m: m.trainable_parameters(), name="tl")
    assert [c.fold for c in built] == [0, 1] and built[0].labels == ("a", "b")
    assert result.summary["n_folds"] == 2
    from speechmusic.models import load_checkpoint

    ckpt = load_checkpoint(tmp_path / "tl" / "fold_0" / "model.pt")
    torch.testing.assert_close(ckpt.model.body.lower[1].weight, frozen_weight)  # below the green line
    assert ckpt.model.params["head_units"] == 128


@pytest.mark.parametrize("strategy", ["frozen", "intermediate"])
def test_frozen_layers_computed_once_train_like_recomputing_them(strategy, monkeypatch):
    """The fit loop passes patches through the frozen prefix once; the trained weights must be
    those of the plain loop, which recomputes the prefix every epoch (forced here by a zero
    memory budget for the encoded patches). Batch-norm layers in the prefix make the check real:
    they must stay in eval mode in both paths."""
    from speechmusic.training import loop

    refs, labels = _data()
    train = PatchSet(refs[:8], labels[:8], patch_frames=10, hop=5)
    val = PatchSet(refs[8:], labels[8:], patch_frames=10, hop=5)
    cfg = TrainConfig(max_epochs=4, batch_size=8, num_threads=1)

    def model():
        torch.manual_seed(3)
        m = build_model("vgg", n_classes=2, input_shape=(6, 10))
        return m.set_trainable(strategy)

    calls = []
    real = loop._encode_frozen

    def spy(*a, **k):
        out = real(*a, **k)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(loop, "_encode_frozen", spy)
    fast, slow = model(), model()
    before = {k: v.clone() for k, v in fast.state_dict().items()}
    r_fast = fit(fast, train, val, config=cfg, seed=5)
    r_slow = fit(slow, train, val, config=TrainConfig(**{**cfg.__dict__, "max_memory_mb": 0}), seed=5)
    assert calls == [True, False]  # encoded once, then the plain loop
    for (name, a), b in zip(fast.state_dict().items(), slow.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
    assert [h.val_accuracy for h in r_fast.history] == [h.val_accuracy for h in r_slow.history]
    prefix, _ = fast.frozen_split()
    frozen = {f"body.{n}" if strategy == "frozen" else f"body.lower.{n}"
              for n in prefix.state_dict()}
    moved = {k for k, v in fast.state_dict().items() if not torch.equal(v, before[k])}
    assert moved and not (moved & frozen)  # something trained, nothing frozen moved


def test_gain_direction_is_one_db_per_db_through_the_normaliser():
    from speechmusic.features import FeatureConfig, FeatureNormalizer
    from speechmusic.training import gain_direction

    fc = FeatureConfig.preset("melspec")
    norm = FeatureNormalizer(mean=np.zeros(128), scale=np.full(128, 4.0))
    np.testing.assert_allclose(gain_direction(fc, norm), 0.25)
    np.testing.assert_allclose(gain_direction(fc, None), 1.0)
    with pytest.raises(ConfigError, match="log-mel"):
        gain_direction(FeatureConfig.preset("mfcc_swishnet"), None)


def test_gain_direction_of_inas_bands_is_their_shift_per_db():
    """INA's bands are natural logs of band energies: g dB of gain adds g ln(10) / 10 to every
    band, measured on the front-end itself; per-patch standardisation leaves nothing to jitter."""
    from speechmusic.features import (
        FeatureConfig,
        FeatureNormalizer,
        PatchStandardizer,
        SlidingStandardizer,
        compute_features,
    )
    from speechmusic.training import gain_direction

    fc = FeatureConfig.preset("ina_sm")
    audio = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    shift = compute_features(audio * np.float32(10 ** (6 / 20)), fc) - compute_features(audio, fc)
    np.testing.assert_allclose(shift, np.broadcast_to(6 * gain_direction(fc, None)[:, None], shift.shape), atol=1e-3)
    norm = FeatureNormalizer(mean=np.zeros(21), scale=np.full(21, 2.0))
    np.testing.assert_allclose(gain_direction(fc, norm), np.log(10) / 20)
    with pytest.raises(ConfigError, match="per-patch"):
        gain_direction(fc, PatchStandardizer())
    with pytest.raises(ConfigError, match="sliding standardisation"):
        gain_direction(fc, SlidingStandardizer(68))


def test_gain_jitter_removes_a_loudness_cue():
    """Two classes that differ only in level (class 1 is 12 dB louder in every band): the plain
    loop learns the cue; with 40 dB of gain jitter the cue is drowned and validation accuracy
    falls towards chance, which shows the jitter moves patches along the gain axis."""
    rng = np.random.default_rng(0)
    refs, labels = [], []
    for i in range(24):
        y = i % 2
        refs.append(FeatureRef.of((rng.standard_normal((6, 40)) + 12.0 * y).astype(np.float32)))
        labels.append(y)
    train = PatchSet(refs[:16], labels[:16], patch_frames=4, hop=4)
    val = PatchSet(refs[16:], labels[16:], patch_frames=4, hop=4)
    direction = np.ones(6, dtype=np.float32)  # raw dB features, no normaliser
    base = TrainConfig(max_epochs=15, batch_size=16, num_threads=1)
    plain = fit(_model(), train, val, config=base, seed=1)
    jittered = TrainConfig(**{**base.__dict__, "gain_jitter_db": 40.0})
    a = fit(_model(), train, val, config=jittered, seed=1, gain_direction=direction)
    b_model = _model()
    b = fit(b_model, train, val, config=jittered, seed=1, gain_direction=direction)
    assert plain.best_val_accuracy > 0.95
    assert max(h.val_accuracy for h in a.history) < 0.8
    assert [h.train_loss for h in a.history] == [h.train_loss for h in b.history]  # deterministic
    with pytest.raises(ConfigError, match="gain direction"):
        fit(_model(), train, val, config=jittered, seed=1)
