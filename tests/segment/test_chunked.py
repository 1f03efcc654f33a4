"""Network probabilities by fixed chunks of patches (started during pass 1 or after it)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from speechmusic.features import FeatureConfig
from speechmusic.features.ina import InaBands
from speechmusic.models import load_ina_pretrained
from speechmusic.segment.chunked import PatchChunks
from speechmusic.segment.sliding import PatchGrid, patch_logits
from tests.conftest import music_like, speech_like


def _bands(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    front = InaBands(FeatureConfig.preset("ina_gender"))
    with torch.inference_mode():
        bands, loge = front.with_energy(torch.from_numpy(audio))
    return np.ascontiguousarray(bands.T.numpy()), loge.numpy()


@pytest.fixture(scope="module")
def programme():
    sr = 16000
    audio = np.concatenate([speech_like(sr, 7, seed=1), music_like(sr, 8, seed=2),
                            0.001 * speech_like(sr, 6, seed=3), speech_like(sr, 4, seed=4)])
    return _bands(audio)


def _whole(model, bands: np.ndarray, n_bands: int) -> np.ndarray:
    logits, finite = patch_logits(model, torch.from_numpy(np.ascontiguousarray(bands[:, :n_bands].T)))
    p = torch.softmax(logits, dim=-1)
    p[~finite] = 0.5
    return p.numpy()


@pytest.mark.parametrize("name,n_bands", [("sm", 21), ("smn", 21), ("gender", 24)])
@pytest.mark.parametrize("chunk_patches", [37, 160, 10_000])
def test_chunks_equal_one_pass_over_the_whole_file(ina_weights, programme, name, n_bands, chunk_patches):
    bands, _ = programme
    model = load_ina_pretrained(name)
    whole = _whole(model, bands, n_bands)
    with ThreadPoolExecutor(2) as pool:
        chunks = PatchChunks(model, n_bands=n_bands, n_classes=whole.shape[1], pool=pool,
                             chunk_patches=chunk_patches)
        got = chunks.probs(bands, np.arange(PatchGrid(len(bands)).n_patches))
    np.testing.assert_allclose(got, whole, atol=2e-5)


def test_feeding_starts_loud_chunks_early_and_changes_nothing(ina_weights, programme):
    bands, loge = programme
    model = load_ina_pretrained("smn")
    patches = np.arange(PatchGrid(len(bands)).n_patches)
    with ThreadPoolExecutor(2) as pool:
        late = PatchChunks(model, n_bands=21, n_classes=3, pool=pool, chunk_patches=100)
        expected = late.probs(bands, patches)
        early = PatchChunks(model, n_bands=21, n_classes=3, pool=pool, chunk_patches=100)
        early.start_feeding(energy_ratio=0.03)
        for a in range(0, len(bands), 333):  # pieces that do not line up with the chunks
            early.feed(bands[a: a + 333], loge[a: a + 333])
        started = early.computed()
        got = early.probs(bands, patches)
    n_chunks = -(-len(patches) // 100)
    # Every complete chunk but the quiet passage's (frames 1500-2100: patches 750-1050) is started.
    quiet = {c for c in range(n_chunks) if 800 <= c * 100 and (c + 1) * 100 <= 1000}
    assert quiet and not quiet & set(started)
    assert set(range(7)) <= set(started)
    np.testing.assert_array_equal(got, expected)
