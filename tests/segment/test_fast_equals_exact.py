"""The fast path gives the exact path's labels, and its compiled networks follow their model.

The whole of real-mix is measured by ``bench/segment_fast_exact.py``; here a handful of its
recordings, among them those where the shared approximation alone changed a file's majority
label, keep the two modes from drifting apart."""

from __future__ import annotations

import gc
import weakref
from collections import Counter

import numpy as np
import pytest
import torch

from speechmusic.models import load_ina_pretrained
from speechmusic.segment import Segmenter, labels_on_grid
from speechmusic.segment.sliding import patch_logits
from tests.conftest import music_like, shared_path, speech_like

# Files where fast_margin=0 (shared convolutions alone) changed the majority label for 'sm',
# and a few of each class.
REAL_MIX = [
    "noise/lincity-ng-data__Harbor1.wav", "noise/lincity-ng-data__SportsCroud1.wav",
    "noise/tuxpaint-stamps-default__bison.wav",
]


def _files() -> list:
    root = shared_path("real-mix")
    picked = [root / f for f in REAL_MIX]
    for label in ("speech", "music", "noise"):
        picked += sorted((root / label).glob("*.wav"))[3:30:9]
    return [p for p in picked if p.exists()]


def _labels(segments, n):
    return labels_on_grid(segments, n)


@pytest.mark.parametrize("engine,gender", [("sm", False), ("smn", False),
                                           pytest.param("smn", True, marks=pytest.mark.slow)])
def test_fast_labels_equal_exact_labels_on_real_recordings(ina_weights, engine, gender):
    files = _files()
    fast, exact = Segmenter(engine, gender=gender), Segmenter(engine, gender=gender, mode="exact")
    same = total = 0
    for f in files:
        a, b = fast(f), exact(f)
        n = round(max(a[-1].stop, b[-1].stop) / 0.02)
        la, lb = _labels(a, n), _labels(b, n)
        same += int((la == lb).sum())
        total += n
        assert Counter(la).most_common(1)[0][0] == Counter(lb).most_common(1)[0][0], f.name
    assert same / total >= 0.999, f"{same / total:.4%} of 20 ms frames agree"


def _image(seconds: float = 6.0) -> torch.Tensor:
    from speechmusic.features import FeatureConfig
    from speechmusic.features.ina import InaBands

    audio = np.concatenate([speech_like(16000, seconds / 2, seed=3), music_like(16000, seconds / 2, seed=4)])
    with torch.inference_mode():
        bands, _ = InaBands(FeatureConfig.preset("ina_gender")).with_energy(torch.from_numpy(audio))
    return bands[:21].float()


def test_compiled_network_follows_weights_changed_in_place(ina_weights):
    feats = _image()
    model = load_ina_pretrained("sm")
    before, _ = patch_logits(model, feats)  # compiles and caches the network
    with torch.no_grad():
        model.body.lower[1].weight.mul_(0.5)  # e.g. an optimiser step or load_state_dict
    after, _ = patch_logits(model, feats)
    fresh = load_ina_pretrained("sm")
    with torch.no_grad():
        fresh.body.lower[1].weight.mul_(0.5)
    expected, _ = patch_logits(fresh, feats)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, expected)


def test_compiled_networks_go_with_their_model(ina_weights):
    from speechmusic.segment import sliding

    model = load_ina_pretrained("smn")
    n_before = len(sliding._COMPILED)
    patch_logits(model, _image())
    assert len(sliding._COMPILED) == n_before + 1
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None
    assert len(sliding._COMPILED) == n_before


def test_exact_logits_equal_the_plain_module(ina_weights):
    """The compiled exact path (folded batch norms, channels-last) against the module itself."""
    from speechmusic.segment.sliding import standardize

    feats = _image(3.0)
    for name in ("sm", "smn"):
        model = load_ina_pretrained(name).eval()
        got, finite = patch_logits(model, feats, mode="exact")
        with torch.inference_mode():
            ref = model(standardize(feats.unfold(1, 68, 2).permute(1, 0, 2)))
        assert finite.sum() > 30  # patches over digital silence get 0.5 in the original anyway
        torch.testing.assert_close(got[finite], ref[finite], atol=2e-4, rtol=1e-4)


def test_fast_margin_one_is_the_exact_path(ina_weights):
    feats = _image()
    model = load_ina_pretrained("smn")
    exact, _ = patch_logits(model, feats, mode="exact")
    everything, _ = patch_logits(model, feats, mode="fast", fast_margin=1.0)
    torch.testing.assert_close(everything, exact)
