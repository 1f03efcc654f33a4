"""Embedders: shapes, centred evenly spaced timestamps, agreement with the model's red line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from speechmusic.errors import ConfigError, EmptyAudioError, NonFiniteAudioError
from speechmusic.features import compute_features
from speechmusic.models import load_checkpoint
from speechmusic.transfer import CheckpointEmbedder, InaEmbedder, load_embedder
from tests.conftest import music_like, speech_like
from tests.transfer.conftest import TINY


def test_checkpoint_embedder_is_the_red_line(tiny_ckpt):
    emb = CheckpointEmbedder(tiny_ckpt)
    audio = speech_like(16000, 1.37, seed=3)
    e, ts = emb.embed(audio)
    ckpt = load_checkpoint(tiny_ckpt)
    n_frames = TINY.n_frames(audio.size)
    assert e.dtype == np.float32 and ts.dtype == np.float64
    assert e.shape == ((n_frames - 1) // TINY.hop + 1, ckpt.model.embedding_size)
    assert emb.hop_seconds == pytest.approx(TINY.hop * TINY.hop_length / TINY.sample_rate)
    # Centred: patch i is centred on frame i * hop (minus half a frame for an even patch).
    np.testing.assert_allclose(np.diff(ts), emb.hop_seconds)
    assert ts[0] == pytest.approx(-0.5 * TINY.hop_length / TINY.sample_rate)
    assert ts[-1] <= audio.size / 16000
    # An interior patch equals model.embed of the normalised features by hand.
    feats = ckpt.normalizer.transform(compute_features(audio, TINY))
    i = 3  # centred on frame 15: frames 10..19
    patch = torch.from_numpy(feats[None, :, 10:20].copy())
    with torch.no_grad():
        ref = ckpt.model.embed(patch).numpy()[0]
    np.testing.assert_allclose(e[i], ref, rtol=1e-5, atol=1e-5)
    assert emb.scene(audio).shape == (ckpt.model.embedding_size,)


def test_checkpoint_embedder_hop_and_short_audio(tiny_ckpt):
    emb = CheckpointEmbedder(tiny_ckpt, hop_frames=1)
    e, ts = emb.embed(np.zeros(300, dtype=np.float32))  # shorter than one patch: edge-padded
    assert e.shape[0] == TINY.n_frames(300) and np.isfinite(e).all()
    with pytest.raises(EmptyAudioError):
        emb.embed(np.zeros(0, dtype=np.float32))
    with pytest.raises(NonFiniteAudioError):
        emb.embed(np.array([0.0, np.nan], dtype=np.float32))
    with pytest.raises(ConfigError):
        emb.embed(np.zeros((2, 100), dtype=np.float32))


def test_embed_file_and_load_embedder(tiny_ckpt, write_wav):
    path = write_wav("a.wav", music_like(22050, 1.0), 22050)  # resampled to 16 kHz on reading
    emb = load_embedder(tiny_ckpt)
    e, ts = emb.embed_file(path)
    assert e.shape[1] == emb.embedding_size and len(ts) == len(e)
    with pytest.raises(ConfigError, match="unknown embedder"):
        load_embedder("no-such-thing")


def test_ina_embedder_fast_matches_exact(ina_weights):
    audio = speech_like(16000, 2.0, seed=1) + 0.3 * music_like(16000, 2.0, seed=2)
    fast, exact = InaEmbedder(), InaEmbedder(mode="exact")
    assert fast.fast and not exact.fast
    a, ta = fast.embed(audio)
    b, tb = exact.embed(audio)
    assert a.shape == b.shape == (99, 512)  # 198 frames of 10 ms, one patch every 2
    np.testing.assert_allclose(ta, tb)
    np.testing.assert_allclose(np.diff(ta), 0.02)
    assert ta[0] == pytest.approx(0.0075)
    # The fast path normalises by centred statistics instead of each patch's own: close, not equal.
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9
    # Digital silence gives finite embeddings.
    assert np.isfinite(fast.embed(np.zeros(8000, dtype=np.float32))[0]).all()
