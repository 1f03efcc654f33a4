"""Fixtures: tiny trained checkpoints (16 kHz, 16 mel bands, 10-frame patches) and audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from speechmusic.features import FeatureConfig, FeatureNormalizer, compute_features
from speechmusic.models import build_model, save_checkpoint
from tests.conftest import music_like, speech_like

#: A small input representation: quick to compute, HEAR-compatible rate.
TINY = FeatureConfig(kind="logmel", sample_rate=16000, n_fft=512, hop_length=256, n_mels=16,
                     patch_frames=10, patch_hop=5)


def tiny_checkpoint(path: Path, *, arch: str = "vgg", seed: int = 0, steps: int = 3,
                    params: dict | None = None) -> Path:
    """Train ``arch`` for a few steps on speech-like vs music-like patches and save it."""
    torch.manual_seed(seed)
    feats = [compute_features(f(16000, 2.0, seed=k), TINY) for k, f in enumerate((speech_like, music_like))]
    norm = FeatureNormalizer().fit(feats)
    xs, ys = [], []
    for label, f in enumerate(feats):
        z = norm.transform(f)
        for s in range(0, z.shape[1] - 10, 5):
            xs.append(z[:, s:s + 10])
            ys.append(label)
    x = torch.from_numpy(np.stack(xs)).float()
    y = torch.tensor(ys)
    model = build_model(arch, n_classes=2, input_shape=TINY.patch_shape, **(params or {}))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return save_checkpoint(path, model=model.eval(), labels=["speech", "music"], feature_config=TINY,
                           normalizer=norm)


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "vgg.pt")
