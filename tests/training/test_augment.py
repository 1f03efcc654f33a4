"""Augmented copies of training clips (training.augment): the signal, the noise partners, the
cache, and the copies inside cross-validation and `speechmusic train`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechmusic.data.manifest import Clip, Manifest
from speechmusic.data.mixing import loudness
from speechmusic.errors import ConfigError
from speechmusic.features import FeatureConfig
from speechmusic.training.augment import (
    augment_signal,
    augmented_refs,
    noise_partner,
    noise_recordings,
)
from speechmusic.training.cache import FeatureCache
from speechmusic.training.config import AugmentConfig, TrainConfig, training_differences
from speechmusic.training.schema import from_dict, to_dict

from ..conftest import music_like, speech_like
from .conftest import SR, TINY_FEATURES

OFF = dict(p_reverb=0.0, p_band_limit=0.0, p_codec=0.0, p_clipping=0.0)


def _noise(seconds: float, seed: int) -> np.ndarray:
    return (0.3 * np.random.default_rng(seed).standard_normal(int(SR * seconds))).astype(np.float32)


def test_copies_are_deterministic_and_peak_normalised():
    x = speech_like(SR, 2.0, seed=1)
    cfg = AugmentConfig(copies=1, p_noise=1.0, p_reverb=1.0, p_band_limit=1.0, p_codec=1.0, p_clipping=1.0)
    a, fx = augment_signal(x, rate=SR, config=cfg, rng=np.random.default_rng([0, 1]), noise=_noise(1.0, 0))
    b, _ = augment_signal(x, rate=SR, config=cfg, rng=np.random.default_rng([0, 1]), noise=_noise(1.0, 0))
    c, _ = augment_signal(x, rate=SR, config=cfg, rng=np.random.default_rng([0, 2]), noise=_noise(1.0, 0))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.dtype == np.float32 and a.shape == x.shape
    assert np.max(np.abs(a)) == pytest.approx(1.0)
    assert fx[0].startswith("noise") and fx[1:] == ["reverb", fx[2], fx[3], "clipping"]
    # Nothing applied: the clip itself, peak-normalised.
    y, fx = augment_signal(0.5 * x, rate=SR, config=AugmentConfig(p_noise=0.0, **OFF),
                           rng=np.random.default_rng(0), noise=_noise(1.0, 0))
    assert fx == [] and np.allclose(y, x / np.max(np.abs(x)), atol=1e-6)


@pytest.mark.parametrize("difference", [-20.0, 0.0, 20.0])
def test_noise_is_mixed_at_the_drawn_loudness_difference(difference):
    x = music_like(SR, 3.0, seed=2)
    noise = _noise(5.0, 3)
    cfg = AugmentConfig(p_noise=1.0, snr_db=[difference, difference], **OFF)
    y, fx = augment_signal(x, rate=SR, config=cfg, rng=np.random.default_rng(5), noise=noise)
    assert fx == [f"noise {difference:+.1f} LU"]
    # The mix minus the clip's (scaled) share is the noise excerpt: least squares gives the scale.
    scale = float(np.dot(y, x) / np.dot(x, x))
    rest = y - scale * x
    measured = loudness(scale * x, sample_rate=SR) - loudness(rest, sample_rate=SR)
    assert measured == pytest.approx(difference, abs=0.6)


def _clips(tmp_path: Path) -> Manifest:
    clips = []
    for label, make in (("speech", speech_like), ("music", music_like), ("noise", None)):
        for i in range(4):
            path = tmp_path / f"{label}{i}.wav"
            audio = make(SR, 1.0, seed=i) if make else _noise(1.0, 10 + i)
            sf.write(path, audio, SR)
            clips.append(Clip(id=f"{label}{i}", path=str(path), label=label, group=f"{label}-{i // 2}"))
    return Manifest(clips)


def test_noise_partners_come_from_the_candidates_never_the_own_group(tmp_path):
    clips = _clips(tmp_path)
    noise = [c for c in clips if c.label == "noise"]
    cfg = AugmentConfig(copies=3)
    for clip in clips:
        for copy in range(3):
            got = noise_partner(clip, copy, candidates=noise, config=cfg)
            if clip.label == "noise":
                assert got is None
                continue
            assert got in noise
            # Without the first choice another one; with it among fewer candidates, the same
            # (a candidate's rank does not depend on the others).
            second = noise_partner(clip, copy, candidates=[n for n in noise if n is not got], config=cfg)
            assert second in noise and second is not got
            assert noise_partner(clip, copy, candidates=[got, second], config=cfg) is got
    # Never a recording of the clip's own group.
    mate = Clip(id="n", path=clips[8].path, label="noise", group=clips[0].group)
    assert noise_partner(clips[0], 0, candidates=[mate], config=cfg) is None
    assert noise_partner(clips[0], 0, candidates=[], config=cfg) is None


def test_noise_recordings_from_folders_and_files(tmp_path):
    (tmp_path / "n" / "sub").mkdir(parents=True)
    for name in ("n/a.wav", "n/sub/b.flac", "c.wav"):
        sf.write(tmp_path / name, _noise(0.5, 1), SR)
    (tmp_path / "n" / "notes.txt").write_text("not audio")
    got = noise_recordings([tmp_path / "n", tmp_path / "c.wav"], label="noise")
    assert [Path(c.path).name for c in got] == ["a.wav", "b.flac", "c.wav"]
    assert {c.label for c in got} == {"noise"} and len({c.group for c in got}) == 3
    with pytest.raises(ConfigError, match="neither a folder nor a file"):
        noise_recordings([tmp_path / "missing"], label="noise")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no audio file"):
        noise_recordings([tmp_path / "empty"], label="noise")


def test_a_speech_music_task_hears_the_noise_it_is_given(tmp_path):
    clips = _clips(tmp_path)
    speech_music = Manifest([c for c in clips if c.label != "noise"])
    fc = FeatureConfig.from_dict(TINY_FEATURES)
    heard: list[str] = []
    cache = FeatureCache(None)
    load = cache.load_signal
    cache.load_signal = lambda clip, config: heard.append(clip.id) or load(clip, config)  # type: ignore[method-assign]
    cfg = AugmentConfig(copies=1, p_noise=1.0, noise=[clips[8].path], **OFF)
    mixed, source = augmented_refs(speech_music, list(range(len(speech_music))), cache=cache,
                                   feature_config=fc, config=cfg)
    # Every copy hears it (p_noise 1, no other effect: a copy differs from its clip by the noise
    # alone), and it is decoded once for all of them.
    assert sum(h.startswith("augment-noise:") for h in heard) == 1
    assert len(mixed) == len(speech_music)
    assert all(not np.allclose(r.load(), cache.ref(speech_music[i], fc).load(), atol=1e-3)
               for r, i in zip(mixed, source, strict=True))
    # Without it there is nothing to mix: the copies are only degraded.
    heard.clear()
    refs, _ = augmented_refs(speech_music, [0, 1], cache=cache, feature_config=fc,
                             config=AugmentConfig(copies=1, p_noise=1.0))
    assert len(refs) == 2 and not any(h.startswith("augment-noise:") for h in heard)


def test_copies_are_cached_and_only_training_noise_is_heard(tmp_path):
    clips = _clips(tmp_path)
    fc = FeatureConfig.from_dict(TINY_FEATURES)
    cache = FeatureCache(tmp_path / "cache")
    train = [0, 1, 4, 5, 8, 9]  # the other noise clips (10, 11) are held out
    heard: list[str] = []
    load = cache.load_signal

    def spy(clip, config):
        heard.append(clip.id)
        return load(clip, config)

    cache.load_signal = spy  # type: ignore[method-assign]
    cfg = AugmentConfig(copies=2, p_noise=1.0)
    refs, source = augmented_refs(clips, train, cache=cache, feature_config=fc, config=cfg)
    assert source == [i for i in train for _ in range(2)]
    assert all(r.shape == cache.ref(clips[i], fc).shape for r, i in zip(refs, source, strict=True))
    noise_heard = {h for h in heard if h.startswith("noise")} - {clips[i].id for i in train}
    assert noise_heard == set()  # only as copied clips themselves or training partners
    extracted = cache.stats.extracted
    assert extracted >= len(refs)
    again, _ = augmented_refs(clips, train, cache=FeatureCache(tmp_path / "cache"), feature_config=fc,
                              config=cfg)
    assert [r.path for r in again] == [r.path for r in refs]
    assert all(np.array_equal(a.load(), b.load()) for a, b in zip(again, refs, strict=True))
    # Another setting is another copy; the number of copies is not part of a copy.
    other, _ = augmented_refs(clips, train, cache=cache, feature_config=fc,
                              config=AugmentConfig(copies=2, p_noise=1.0, seed=1))
    assert not any(a.path == b.path for a, b in zip(other, refs, strict=True))
    one, _ = augmented_refs(clips, train, cache=cache, feature_config=fc,
                            config=AugmentConfig(copies=1, p_noise=1.0))
    assert [r.path for r in one] == [r.path for r in refs[::2]]
    assert augmented_refs(clips, train, cache=cache, feature_config=fc, config=AugmentConfig()) == ([], [])


def test_augment_config_round_trips_and_is_checked():
    t = from_dict(TrainConfig, {"augment": {"copies": 2, "snr_db": [5, 10]}})
    assert t.augment.copies == 2 and t.augment.snr_db == [5.0, 10.0]
    assert from_dict(TrainConfig, to_dict(t)) == t
    # Off (the default) compares equal to run folders written before it existed.
    assert "augment" not in training_differences(to_dict(TrainConfig()))
    assert "augment" in training_differences(to_dict(t))
    for bad, match in (({"copies": -1}, "copies"), ({"p_noise": 1.5}, "p_noise"),
                       ({"snr_db": [10, 0]}, "snr_db"), ({"snr_db": [1]}, "snr_db"),
                       ({"reverb_rt60": [0, 1]}, "reverb_rt60"), ({"clipping_percent": [0, 150]}, "clipping"),
                       ({"copis": 1}, "unknown key")):
        with pytest.raises(ConfigError, match=match):
            from_dict(TrainConfig, {"augment": bad})


def test_cross_validation_trains_on_copies_and_tests_on_originals(tmp_path):
    from speechmusic.models import build_model
    from speechmusic.training.config import ProtocolConfig
    from speechmusic.training.cv import cross_validate

    clips = _clips(tmp_path)
    fc = FeatureConfig.from_dict(TINY_FEATURES)
    labels = ["music", "noise", "speech"]

    def factory(ctx):
        return build_model("dnn", n_classes=len(ctx.labels), input_shape=ctx.input_shape, units=8)

    runs = {}
    for copies in (0, 2):
        runs[copies] = cross_validate(
            clips, labels=labels, feature_config=fc, model_factory=factory,
            out_dir=tmp_path / f"cv{copies}", cache=FeatureCache(tmp_path / "cache"),
            protocol=ProtocolConfig(n_folds=2, test_fraction=0.25, val_fraction=0.25, balance=False),
            training=TrainConfig(max_epochs=1, batch_size=16, num_threads=1,
                                 augment=AugmentConfig(copies=copies)), name="aug")
    for plain, augmented in zip(runs[0].folds, runs[2].folds, strict=True):
        assert sum(augmented["patches"]["train"]) == 3 * sum(plain["patches"]["train"])
        assert augmented["patches"]["val"] == plain["patches"]["val"]
        assert augmented["patches"]["test"] == plain["patches"]["test"]
    split = json.loads((tmp_path / "cv2" / "fold_0" / "split.json").read_text())
    assert split  # the split itself is the clips' (copies are not clips)


def test_an_unreadable_noise_recording_leaves_its_copies_out_and_names_the_file(tmp_path, caplog):
    clips = _clips(tmp_path)
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really a wav")
    speech_music = Manifest([c for c in clips if c.label != "noise"])
    fc = FeatureConfig.from_dict(TINY_FEATURES)
    with caplog.at_level("WARNING"):
        refs, source = augmented_refs(speech_music, [0, 1], cache=FeatureCache(None), feature_config=fc,
                                      config=AugmentConfig(copies=1, p_noise=1.0, noise=[str(bad)]))
    assert refs == [] and source == []  # the batch went on past both copies
    assert sum(str(bad) in r.getMessage() for r in caplog.records) == 2
