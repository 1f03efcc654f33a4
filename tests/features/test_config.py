"""FeatureConfig: YAML round trip, exact identity, validation."""

from __future__ import annotations

import pytest

from speechmusic.errors import ConfigError
from speechmusic.features import PRESETS, FeatureConfig


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_yaml_round_trip(name):
    c = FeatureConfig.preset(name)
    again = FeatureConfig.from_yaml(c.to_yaml())
    assert again == c and again.key() == c.key()


def test_key_changes_with_any_field():
    base = FeatureConfig.preset("melspec")
    keys = {base.key(), base.key()}
    for change in [dict(n_mels=64), dict(hop_length=256), dict(fmax=8000.0), dict(patch_frames=20),
                   dict(precision="float64"), dict(top_db=80.0)]:
        keys.add(FeatureConfig.from_dict({**base.to_dict(), **change}).key())
    assert len(keys) == 7


def test_preset_key_in_mapping():
    c = FeatureConfig.from_dict({"preset": "mfcc_ina", "patch_frames": 32})
    assert c.kind == "mfcc" and c.n_mfcc == 21 and c.patch_frames == 32


@pytest.mark.parametrize("bad", [
    {"kind": "cqt"}, {"n_mels": 0}, {"hop_length": -1}, {"fmax": 20000.0}, {"kind": "mfcc", "n_mfcc": 500},
    {"precision": "half"}, {"nonsense": 1}, {"patch_hop": 0}, {"win_length": 4096},
])
def test_invalid_values_are_config_errors(bad):
    with pytest.raises(ConfigError):
        FeatureConfig.from_dict({**FeatureConfig().to_dict(), **bad})


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(ConfigError, match="melspec"):
        FeatureConfig.preset("nope")


def test_derived_shapes():
    c = FeatureConfig.preset("melspec")
    assert c.patch_shape == (128, 10) and c.n_frames(22050) == 44
    assert c.frame_rate == pytest.approx(22050 / 512)
    assert FeatureConfig.preset("ina_sm").patch_shape == (21, 68)
