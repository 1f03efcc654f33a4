"""Clips and manifests: validation, label maps, CSV/JSONL round trips."""

from __future__ import annotations

import pytest

from speechmusic.data import Clip, Manifest
from speechmusic.errors import ConfigError


def _clips() -> Manifest:
    return Manifest([
        Clip(id="a", path="/x/a.wav", label="music", group="g1", dataset="d"),
        Clip(id="b", path="/x/b.wav", label="speech", group="g2", dataset="d", start=1.5, duration=2.0),
        Clip(id="c", path="/x/c.wav", label="choir", group="g1", dataset="d"),
    ])


def test_clip_rejects_bad_values():
    with pytest.raises(ConfigError, match="label"):
        Clip(id="a", path="/a.wav", label="", group="g")
    with pytest.raises(ConfigError, match="duration"):
        Clip(id="a", path="/a.wav", label="x", group="g", duration=0)
    with pytest.raises(ConfigError, match="duplicate"):
        Manifest([Clip(id="a", path="/a", label="x", group="g")] * 2)


def test_label_map_renames_drops_and_selects():
    m = _clips().map_labels({"choir": "music", "speech": None})
    assert [c.label for c in m] == ["music", "music"]
    assert _clips().select_labels(["speech"]).ids() == ["b"]
    with pytest.raises(ConfigError, match="not in the label map"):
        _clips().map_labels({"music": "music"}, strict=True)
    assert _clips().label_counts() == {"music": 1, "speech": 1, "choir": 1}


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_round_trip(tmp_path, suffix):
    m = _clips()
    path = m.save(tmp_path / f"m{suffix}")
    back = Manifest.load(path)
    assert back == m
    assert back[1].start == 1.5 and back[1].duration == 2.0 and back[0].start is None


def test_relative_paths_resolve_against_the_manifest_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "m.csv").write_text("path,label\naudio/x.wav,speech\n")
    m = Manifest.load(tmp_path / "sub" / "m.csv")
    assert m[0].path == str((tmp_path / "sub" / "audio" / "x.wav").resolve())
    assert m[0].group == m[0].path  # no group: the file is its own group


def test_unknown_column_is_an_error(tmp_path):
    (tmp_path / "m.csv").write_text("path,label,speaker\na.wav,speech,x\n")
    with pytest.raises(ConfigError, match="speaker"):
        Manifest.load(tmp_path / "m.csv")


def test_with_dataset_prefixes_ids_and_groups_for_combination():
    a = _clips().with_dataset("one")
    b = _clips().with_dataset("two")
    both = a + b
    assert len(both) == 6 and both.datasets == ["one", "two"]
    assert "one:g1" in both.groups and "two:g1" in both.groups
