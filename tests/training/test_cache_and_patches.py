"""The feature cache (keys, memory maps) and patch sets (limits, padding, balancing)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf

from speechmusic.data import Clip
from speechmusic.errors import AudioError
from speechmusic.features import (
    FeatureConfig,
    FeatureNormalizer,
    PatchStandardizer,
    SlidingStandardizer,
)
from speechmusic.training import FeatureCache, FeatureRef, PatchSet

from ..conftest import music_like
from .conftest import TINY_FEATURES


def _clip(path, **kw) -> Clip:
    return Clip(id=str(path), path=str(path), label="music", group="g", **kw)


def test_cache_stores_once_and_memory_maps(tmp_path):
    wav = tmp_path / "a.wav"
    sf.write(wav, music_like(16000, 1.0), 16000)
    config = FeatureConfig.from_dict(TINY_FEATURES)
    cache = FeatureCache(tmp_path / "cache")
    first = cache.features(_clip(wav), config)
    assert cache.stats.extracted == 1 and first.shape[0] == 24
    again = FeatureCache(tmp_path / "cache").features(_clip(wav), config)
    assert isinstance(again, np.memmap)
    np.testing.assert_array_equal(first, again)
    entries = list((tmp_path / "cache").rglob("*.npy"))
    assert len(entries) == 1 and entries[0].parent.parent.name == config.key()


def test_cache_key_follows_file_config_and_segment(tmp_path):
    wav = tmp_path / "a.wav"
    sf.write(wav, music_like(16000, 1.0), 16000)
    config = FeatureConfig.from_dict(TINY_FEATURES)
    cache = FeatureCache(tmp_path / "cache")
    k = cache.key(_clip(wav), config)
    assert cache.key(_clip(wav, start=0.5), config) != k
    assert cache.key(_clip(wav), FeatureConfig.from_dict({**TINY_FEATURES, "n_mels": 20})) != k
    st = wav.stat()
    os.utime(wav, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert cache.key(_clip(wav), config) != k  # an edited file is a new entry
    seg = cache.features(_clip(wav, start=0.5, duration=0.25), config)
    assert seg.shape[1] == config.n_frames(4000)


def test_cache_raises_audio_errors_for_bad_files(tmp_path):
    config = FeatureConfig.from_dict(TINY_FEATURES)
    cache = FeatureCache(None)
    with pytest.raises(AudioError):
        cache.features(_clip(tmp_path / "missing.wav"), config)
    (tmp_path / "bad.wav").write_bytes(b"not audio at all")
    with pytest.raises(AudioError):
        cache.features(_clip(tmp_path / "bad.wav"), config)
    assert cache.stats.extracted == 0


def _refs():
    rng = np.random.default_rng(0)
    return [FeatureRef.of(rng.standard_normal((3, n)).astype(np.float32)) for n in (20, 7, 3, 50)]


def test_patchset_counts_limits_and_padding():
    refs = _refs()
    ps = PatchSet(refs, [0, 1, 1, 0], patch_frames=5, hop=5)
    assert len(ps) == 4 + 1 + 0 + 10
    assert ps.clips_without_patches() == [2]
    limited = PatchSet(refs, [0, 1, 1, 0], patch_frames=5, hop=5, max_patches_per_clip=3)
    assert np.bincount(limited.patch_clip).tolist() == [3, 1, 0, 3]
    assert limited.patch_start[limited.patch_clip == 3].tolist() == [0, 20, 45]  # evenly spaced
    padded = PatchSet(refs, [0, 1, 1, 0], patch_frames=5, hop=5, pad=True)
    assert np.bincount(padded.patch_clip).tolist() == [4, 1, 1, 10]
    x = padded.batch(np.flatnonzero(padded.patch_clip == 2))
    np.testing.assert_array_equal(x[0, :, 3:], np.repeat(refs[2].load()[:, -1:], 2, axis=1))


def test_patchset_batches_are_normalised_the_same_in_memory_and_lazily(tmp_path):
    arrays = [np.random.default_rng(i).standard_normal((3, 40)).astype(np.float32) for i in range(3)]
    refs = []
    for i, a in enumerate(arrays):
        np.save(tmp_path / f"{i}.npy", a)
        refs.append(FeatureRef(shape=a.shape, path=tmp_path / f"{i}.npy"))
    norm = FeatureNormalizer().fit(arrays)
    lazy = PatchSet(refs, [0, 1, 0], patch_frames=8, hop=4, normalizer=norm)
    eager = PatchSet(refs, [0, 1, 0], patch_frames=8, hop=4, normalizer=norm)
    assert eager.materialize() and not PatchSet(refs, [0, 1, 0], patch_frames=8, hop=4).materialize(max_bytes=10)
    idx = np.array([5, 0, 17, 9])
    np.testing.assert_allclose(lazy.batch(idx), eager.batch(idx), rtol=1e-6)
    s = lazy.patch_start[17]
    expected = norm.transform(arrays[lazy.patch_clip[17]][:, s:s + 8])
    np.testing.assert_allclose(lazy.batch([17])[0], expected, rtol=1e-6)


def test_a_sliding_standardisation_normalises_whole_clips_before_patches_are_cut(tmp_path):
    """Each frame of a patch is standardised by the window around it in its clip (its
    neighbours outside the patch included), in memory and lazily alike."""
    arrays = [np.random.default_rng(i).normal(3.0 * i, 1.0 + i, (3, 40)).astype(np.float32) for i in range(3)]
    refs = []
    for i, a in enumerate(arrays):
        np.save(tmp_path / f"{i}.npy", a)
        refs.append(FeatureRef(shape=a.shape, path=tmp_path / f"{i}.npy"))
    norm = SlidingStandardizer(8)
    lazy = PatchSet(refs, [0, 1, 0], patch_frames=8, hop=4, normalizer=norm)
    eager = PatchSet(refs, [0, 1, 0], patch_frames=8, hop=4, normalizer=norm)
    assert eager.materialize()
    for i in (5, 0, 17, 9):
        s = lazy.patch_start[i]
        expected = norm.transform(arrays[lazy.patch_clip[i]])[:, s:s + 8]
        np.testing.assert_allclose(lazy.batch([i])[0], expected, rtol=1e-6)
        np.testing.assert_allclose(eager.batch([i])[0], expected, rtol=1e-6)
        # not each patch standardised on its own
        assert not np.allclose(expected, PatchStandardizer().transform(arrays[lazy.patch_clip[i]][:, s:s + 8]),
                               atol=1e-3)


def test_patchset_balancing_and_subsets():
    refs = _refs()
    ps = PatchSet(refs, [0, 1, 1, 0], patch_frames=5, hop=5)
    bal = ps.balanced(rng=np.random.default_rng(0))
    assert np.bincount(bal.patch_label).tolist() == [1, 1]
    keyed = PatchSet(refs, [0, 1, 1, 0], patch_frames=2, hop=2, clip_keys=["a", "b", "c", "a"])
    bal = keyed.balanced(rng=np.random.default_rng(0))
    assert np.bincount(bal.patch_clip, minlength=4)[[1, 2]].tolist() == [1, 1]
    assert sum(np.bincount(bal.patch_clip, minlength=4)[[0, 3]]) == 1
    x, y = next(ps.iter_batches(4, rng=np.random.default_rng(0)))
    assert x.shape == (4, 3, 5) and y.shape == (4,)
