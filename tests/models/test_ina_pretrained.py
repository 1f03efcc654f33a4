"""INA's published networks from the 0.6.8 wheel: layer lists, labels, and parity with Keras.

Needs the wheel (``ina_wheel`` fixture: cache, ``$SPEECHMUSIC_INA_WHEEL`` or a pip download) and
the golden Keras outputs under tests/data/golden; each test skips with the reason otherwise.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch

from speechmusic.features.config import FeatureConfig
from speechmusic.models import INA_LABELS, INA_VARIANTS, InaNet, load_checkpoint
from speechmusic.models.ina import ina_from_keras, read_keras_ina
from speechmusic.models.ina_weights import INA_NETWORKS, import_ina, load_ina_pretrained

NAMES = ["sm", "smn", "gender"]


def _keras_file(wheel, name) -> io.BytesIO:
    with zipfile.ZipFile(wheel) as zf:
        return io.BytesIO(zf.read(f"inaSpeechSegmenter/{INA_NETWORKS[name]['file']}"))


@pytest.fixture(scope="module")
def converted(ina_wheel, tmp_path_factory):
    """The three networks converted into checkpoints in a temporary directory."""
    out = tmp_path_factory.mktemp("ina")
    return dict(zip(NAMES, import_ina(names=NAMES, wheel=ina_wheel, out_dir=out), strict=True))


@pytest.mark.parametrize("name", NAMES)
def test_published_layers_equal_our_variants(ina_wheel, name):
    spec, _ = read_keras_ina(_keras_file(ina_wheel, name), name=name)
    variant = INA_VARIANTS[name]
    assert spec["layers"] == variant["layers"]
    assert spec["dense_units"] == variant["dense_units"]
    assert spec["dropouts"] == variant["dropouts"]
    assert spec["bn_eps"] == pytest.approx(1e-3)
    assert spec["n_classes"] == len(INA_LABELS[name])


@pytest.mark.parametrize("name", NAMES)
def test_keras_parity(converted, golden, name):
    """Our PyTorch outputs equal Keras' on the same inputs within 1e-4."""
    ref = golden(name)
    model = load_checkpoint(converted[name]).model
    assert list(ref["labels"]) == model.labels == INA_LABELS[name]
    x = torch.from_numpy(ref["x"])
    assert tuple(x.shape[1:]) == tuple(ref["input_shape"])
    with torch.no_grad():
        probs = model.forward_keras(x, probs=True).numpy()
        logits = model.forward_keras(x).numpy()
        ours = model.predict_proba(x.transpose(1, 2)).numpy()
        emb = model.embed(x.transpose(1, 2)).numpy()
    np.testing.assert_allclose(probs, ref["probs"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(ours, ref["probs"], atol=1e-4, rtol=0)
    if "logits" in ref:
        np.testing.assert_allclose(logits, ref["logits"], atol=1e-4, rtol=0)
    if "penultimate" in ref:
        np.testing.assert_allclose(emb, ref["penultimate"], atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_checkpoints_describe_themselves(converted, name):
    ckpt = load_checkpoint(converted[name])
    assert converted[name].name == f"ina-{name}.pt"
    assert isinstance(ckpt.model, InaNet) and not ckpt.model.training
    assert ckpt.labels == INA_LABELS[name]
    assert ckpt.feature_config == FeatureConfig.preset(INA_NETWORKS[name]["features"])
    assert ckpt.feature_config.patch_shape == ckpt.model.input_shape
    assert ckpt.normalizer is None and ckpt.extra["input_normalization"] == "per_patch"
    assert ckpt.extra["viterbi_arg"] == INA_NETWORKS[name]["segmenter"]["viterbi_arg"]
    assert ckpt.model.params["variant"] == name


def test_conversion_is_deterministic(ina_wheel, converted):
    direct = ina_from_keras(_keras_file(ina_wheel, "sm"), variant="sm")
    stored = load_checkpoint(converted["sm"]).model
    for (k, a), (k2, b) in zip(direct.state_dict().items(), stored.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b)


def test_load_ina_pretrained_uses_the_cache(ina_wheel, tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHMUSIC_CACHE", str(tmp_path))
    monkeypatch.setenv("SPEECHMUSIC_INA_WHEEL", str(ina_wheel))
    model = load_ina_pretrained("smn")
    assert (tmp_path / "ina" / "ina-smn.pt").is_file()
    assert not model.training and model.labels == ["speech", "music", "noise"]
    assert model.input_shape == (21, 68)
    # A damaged cached checkpoint is converted again.
    (tmp_path / "ina" / "ina-smn.pt").write_bytes(b"broken")
    again = load_ina_pretrained("smn")
    x = torch.randn(2, 68, 21)
    with torch.no_grad():
        torch.testing.assert_close(again.forward_keras(x), model.forward_keras(x))
