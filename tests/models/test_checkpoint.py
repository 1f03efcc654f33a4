"""Self-describing checkpoints: what they hold, and how bad files fail."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from speechmusic.errors import CheckpointError, ConfigError
from speechmusic.features.config import FeatureConfig
from speechmusic.features.normalize import FeatureNormalizer
from speechmusic.models import build_model, load_checkpoint, save_checkpoint
from speechmusic.models.checkpoint import FORMAT_VERSION, package_version

FC = FeatureConfig.preset("mfcc_swishnet")


@pytest.fixture
def model():
    return build_model("swishnet", n_classes=2, input_shape=FC.patch_shape).eval()


@pytest.fixture
def saved(model, tmp_path):
    norm = FeatureNormalizer().fit([np.random.default_rng(0).normal(size=(22, 40))])
    return save_checkpoint(tmp_path / "sub" / "model.pt", model=model, labels=["speech", "music"],
                           feature_config=FC, normalizer=norm, extra={"fold": 3, "note": "x"})


def test_everything_comes_back(model, saved):
    ckpt = load_checkpoint(saved)
    assert ckpt.path == saved
    assert ckpt.labels == ["speech", "music"] and ckpt.model.labels == ["speech", "music"]
    assert ckpt.feature_config == FC
    assert ckpt.normalizer.fitted and ckpt.normalizer.mean.shape == (22,)
    assert ckpt.extra == {"fold": 3, "note": "x"}
    assert ckpt.package_version == package_version()
    assert ckpt.model.spec() == model.spec()
    x = torch.randn(2, *FC.patch_shape)
    assert torch.equal(ckpt.model(x), model(x))


def test_plain_weights_only_contents(saved):
    data = torch.load(saved, weights_only=True)
    assert data["format"] == "speechmusic-checkpoint" and data["format_version"] == FORMAT_VERSION
    assert data["model"]["name"] == "swishnet" and data["model"]["input_shape"] == [22, 16]
    assert set(data) >= {"package_version", "feature_config", "normalizer", "labels", "state_dict"}


def test_labels_default_to_the_model(model, tmp_path):
    model.labels = ["a", "b"]
    assert load_checkpoint(save_checkpoint(tmp_path / "m.pt", model=model)).labels == ["a", "b"]


def test_save_checks_its_arguments(model, tmp_path):
    with pytest.raises(ConfigError, match="2 label"):
        save_checkpoint(tmp_path / "m.pt", model=model, labels=["only one"])
    with pytest.raises(ConfigError, match="patches"):
        save_checkpoint(tmp_path / "m.pt", model=model, labels=["a", "b"],
                        feature_config=FeatureConfig.preset("melspec"))
    with pytest.raises(ConfigError, match="speechmusic model"):
        save_checkpoint(tmp_path / "m.pt", model=torch.nn.Linear(2, 2), labels=["a", "b"])
    assert not list(tmp_path.iterdir())


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="nothing.pt"):
        load_checkpoint(tmp_path / "nothing.pt")


def test_corrupt_files(saved, tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(junk)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(saved.read_bytes()[:2000])
    with pytest.raises(CheckpointError, match="truncated.pt"):
        load_checkpoint(truncated)


def test_foreign_torch_files(tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(CheckpointError, match="other.pt: not a speechmusic checkpoint"):
        load_checkpoint(other)
    pickled = tmp_path / "pickled.pt"
    torch.save(torch.nn.Linear(2, 2), pickled)  # a whole module: refused by weights_only loading
    with pytest.raises(CheckpointError, match="pickled.pt") as info:
        load_checkpoint(pickled)
    assert "weights_only" not in str(info.value)  # torch's advice to load it unsafely is not ours


def test_a_text_file_given_as_checkpoint(tmp_path):
    page = tmp_path / "report.html"
    page.write_text("<html><body>an engine's report, not the engine</body></html>\n")
    with pytest.raises(CheckpointError, match="report.html: not a speechmusic checkpoint") as info:
        load_checkpoint(page)
    assert "weights_only" not in str(info.value)


def _tamper(path, out, edit):
    data = torch.load(path, weights_only=True)
    edit(data)
    torch.save(data, out)
    return out


def test_mismatched_contents(saved, tmp_path):
    def wrong_shape(d):
        d["model"]["input_shape"] = [40, 16]

    def unknown_model(d):
        d["model"]["name"] = "resnet"

    def missing_weight(d):
        d["state_dict"].pop(next(iter(d["state_dict"])))

    def bad_labels(d):
        d["labels"] = ["a", "b", "c"]

    def newer(d):
        d["format_version"] = FORMAT_VERSION + 1

    def bad_features(d):
        d["feature_config"]["kind"] = "wavelets"

    def bad_params(d):
        d["model"]["params"]["depth"] = 3

    cases = {"shape": (wrong_shape, "weights do not fit"), "name": (unknown_model, "unknown model 'resnet'"),
             "missing": (missing_weight, "weights do not fit"), "labels": (bad_labels, "3 labels"),
             "newer": (newer, "newer"), "features": (bad_features, "feature"),
             "params": (bad_params, "depth")}
    for key, (edit, message) in cases.items():
        path = _tamper(saved, tmp_path / f"{key}.pt", edit)
        with pytest.raises(CheckpointError, match=message) as info:
            load_checkpoint(path)
        assert f"{key}.pt" in str(info.value)


def test_the_input_normalizer_is_the_one_the_model_was_trained_with(model, saved, tmp_path):
    from speechmusic.features.normalize import PatchStandardizer, SlidingStandardizer

    fitted = load_checkpoint(saved).input_normalizer()
    assert isinstance(fitted, FeatureNormalizer) and fitted.mean.shape == (22,)
    sliding = save_checkpoint(tmp_path / "s.pt", model=model, feature_config=FC, labels=["a", "b"],
                              extra={"input_normalization": "sliding", "sliding_window": 12})
    norm = load_checkpoint(sliding).input_normalizer()
    assert isinstance(norm, SlidingStandardizer) and norm.window == 12
    patchwise = save_checkpoint(tmp_path / "p.pt", model=model, feature_config=FC, labels=["a", "b"],
                                extra={"input_normalization": "per_patch"})
    assert isinstance(load_checkpoint(patchwise).input_normalizer(), PatchStandardizer)
    bare = save_checkpoint(tmp_path / "b.pt", model=model, feature_config=FC, labels=["a", "b"])
    assert load_checkpoint(bare).input_normalizer() is None
