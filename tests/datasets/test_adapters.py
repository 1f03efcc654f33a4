"""Every dataset adapter on a miniature replica of its layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechmusic.data import (
    DatasetSpec,
    build_manifest,
    list_layouts,
    load_dataset,
    normalize_label,
)
from speechmusic.errors import ConfigError

from ..conftest import shared_path


def _wav(path: Path, seconds: float = 0.1, sr: int = 8000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(int(sr * seconds), dtype=np.float32), sr)
    return path


def _labels(m) -> dict[str, int]:
    return dict(sorted(m.label_counts().items()))


def test_normalize_label():
    assert normalize_label("Solo Singing") == "solo_singing"
    assert normalize_label("A-Cappella") == "a_cappella"
    assert normalize_label("5+") == "5+"


def test_every_documented_layout_is_registered():
    assert {"folders", "musan", "gtzan", "marolt19", "acmusyt", "slaney_scheirer", "acmus_vf",
            "acmus_if", "table", "real_mix", "fsdd", "manifest"} <= set(list_layouts())


def test_folders_layout_and_grouping(tmp_path):
    for i in range(2):
        _wav(tmp_path / "Music" / "album1" / f"t{i}.wav")
        _wav(tmp_path / "Speech" / f"s{i}.flac")
    (tmp_path / "Speech" / "notes.txt").write_text("not audio")
    _wav(tmp_path / ".hidden" / "x.wav")
    m = load_dataset(DatasetSpec(layout="folders", root=str(tmp_path), name="toy"))
    assert _labels(m) == {"music": 2, "speech": 2}
    assert all(c.dataset == "toy" and c.id.startswith("toy/") for c in m)
    assert len(m.groups) == 4  # default: one group per file
    by_sub = load_dataset(DatasetSpec(layout="folders", root=str(tmp_path),
                                      options={"group_by": "subfolder"}))
    assert len(by_sub.select_labels(["music"]).groups) == 1
    with pytest.raises(ConfigError, match="group_by"):
        load_dataset(DatasetSpec(layout="folders", root=str(tmp_path), options={"group_by": "x"}))
    with pytest.raises(ConfigError, match="unexpected keyword"):
        load_dataset(DatasetSpec(layout="folders", root=str(tmp_path), options={"nope": 1}))


def test_musan_layout_groups_music_by_artist(tmp_path):
    root = tmp_path / "musan"
    for k in range(3):
        _wav(root / "music" / "fma" / f"music-fma-{k:04d}.wav")
    (root / "music" / "fma" / "ANNOTATIONS").write_text(
        "music-fma-0000 rock Y The Band\nmusic-fma-0001 rock N The Band\nmusic-fma-0002 jazz N Solo\n")
    for k in range(2):
        _wav(root / "speech" / "librivox" / f"speech-librivox-{k:04d}.wav")
        _wav(root / "noise" / "free-sound" / f"noise-free-sound-{k:04d}.wav")
    m = load_dataset(DatasetSpec(layout="musan", root=str(tmp_path)))  # finds musan/ below
    assert _labels(m) == {"music": 3, "noise": 2, "speech": 2}
    music = m.select_labels(["music"])
    assert len(music.groups) == 2  # "The Band" x2, "Solo"
    by_source = load_dataset(DatasetSpec(layout="musan", root=str(root), options={"group_by": "source"}))
    assert len(by_source.groups) == 3
    binary = load_dataset(DatasetSpec(layout="musan", root=str(root), classes=["music", "speech"]))
    assert _labels(binary) == {"music": 3, "speech": 2}


def test_gtzan_layout(tmp_path):
    root = tmp_path / "music_speech"
    for k in range(3):
        _wav(root / "music_wav" / f"m{k}.wav")
        _wav(root / "speech_wav" / f"s{k}.wav")
    m = load_dataset(DatasetSpec(layout="gtzan", root=str(tmp_path)))
    assert _labels(m) == {"music": 3, "speech": 3}
    with pytest.raises(ConfigError, match="speech_wav"):
        (root / "speech_wav" / "s0.wav").unlink()
        for p in (root / "speech_wav").iterdir():
            p.unlink()
        (root / "speech_wav").rmdir()
        load_dataset(DatasetSpec(layout="gtzan", root=str(root)))


def test_marolt19_maps_three_music_classes_and_groups_excerpts(tmp_path):
    for cls in ("Solo Singing", "Choir", "Instrumental", "Speech", "Noise"):
        for k in range(2):
            _wav(tmp_path / cls / f"{cls[:3].lower()}rec_{k:02d}.wav")
    m = load_dataset(DatasetSpec(layout="marolt19", root=str(tmp_path)))
    assert _labels(m) == {"music": 6, "noise": 2, "speech": 2}
    # the two excerpts of one recording share a group
    assert len(m.select_labels(["speech"]).groups) == 1
    binary = load_dataset(DatasetSpec(layout="marolt19", root=str(tmp_path), classes=["music", "speech"]))
    assert _labels(binary) == {"music": 6, "speech": 2}
    # the label map is configurable: keep the four original classes apart
    four = load_dataset(DatasetSpec(layout="marolt19", root=str(tmp_path),
                                    label_map={"solo_singing": "solo_singing", "choir": "choir",
                                               "instrumental": "instrumental", "noise": None}))
    assert _labels(four) == {"choir": 2, "instrumental": 2, "solo_singing": 2, "speech": 2}


def test_acmusyt_excludes_a_cappella_by_default(tmp_path):
    for cls in ("speech", "music", "a cappella"):
        for k in range(2):
            _wav(tmp_path / cls / f"vid{cls[0]}{k}.wav")
    m = load_dataset(DatasetSpec(layout="acmusyt", root=str(tmp_path)))
    assert _labels(m) == {"music": 2, "speech": 2}
    kept = load_dataset(DatasetSpec(layout="acmusyt", root=str(tmp_path),
                                    label_map={"a_cappella": "a_cappella"}))
    assert _labels(kept) == {"a_cappella": 2, "music": 2, "speech": 2}


def test_slaney_scheirer_excludes_noise_and_mixed(tmp_path):
    for cls, n in (("music", 3), ("speech", 2), ("noise", 1), ("mixed", 2)):
        for k in range(n):
            _wav(tmp_path / cls / f"{cls}{k}.wav")
    m = load_dataset(DatasetSpec(layout="sns", root=str(tmp_path)))
    assert _labels(m) == {"music": 3, "speech": 2}


def test_acmus_vocal_format_set_both_tasks(tmp_path):
    rows = ["file,Gender,Accompaniment,Recording"]
    for k, (g, a) in enumerate([("male", "yes"), ("female", "no"), ("Male", "No"), ("female", "yes")]):
        _wav(tmp_path / "audio" / f"vf{k}.wav")
        rows.append(f"audio/vf{k}.wav,{g},{a},rec{k // 2}")
    (tmp_path / "metadata.csv").write_text("\n".join(rows) + "\n")
    acc = load_dataset(DatasetSpec(layout="acmus_vf", root=str(tmp_path),
                                   options={"group_column": "recording"}))
    assert _labels(acc) == {"accompanied": 2, "vocal_only": 2}
    assert len(acc.groups) == 2
    gender = load_dataset(DatasetSpec(layout="acmus_vf", root=str(tmp_path), options={"task": "gender"}))
    assert _labels(gender) == {"female": 2, "male": 2}
    with pytest.raises(ConfigError, match="task"):
        load_dataset(DatasetSpec(layout="acmus_vf", root=str(tmp_path), options={"task": "x"}))


def test_acmus_instrumental_format_set_ensemble_sizes(tmp_path):
    rows = ["track\tensemble_size"]
    for k, size in enumerate([1, 2, 3, 4, 5, 7, 2]):
        _wav(tmp_path / f"if{k}.wav")
        rows.append(f"if{k}\t{size}")  # bare ids are found below the root
    (tmp_path / "sets.tsv").write_text("\n".join(rows) + "\n")
    m = load_dataset(DatasetSpec(layout="acmus_if", root=str(tmp_path),
                                 options={"file_column": "track"}))
    assert _labels(m) == {"1": 1, "2": 2, "3": 1, "4": 1, "5+": 2}
    assert all(Path(c.path).is_file() for c in m)


def test_table_layout_requires_one_table_or_a_name(tmp_path):
    _wav(tmp_path / "a.wav")
    (tmp_path / "one.csv").write_text("file,label\na.wav,speech\n")
    (tmp_path / "two.csv").write_text("file,label\na.wav,music\n")
    with pytest.raises(ConfigError, match="one metadata table"):
        build_manifest("table", tmp_path)
    m = build_manifest("table", tmp_path, metadata="two.csv")
    assert m[0].label == "music"


def test_fsdd_layout_groups_by_speaker(tmp_path):
    for name in ("0_george_0.wav", "1_george_1.wav", "2_theo_0.wav", "README.wav"):
        _wav(tmp_path / "recordings" / name)
    m = load_dataset(DatasetSpec(layout="fsdd", root=str(tmp_path)))
    assert _labels(m) == {"speech": 3}
    assert m.groups == ["fsdd:george", "fsdd:theo"]
    digits = load_dataset(DatasetSpec(layout="fsdd", root=str(tmp_path), options={"label_from": "digit"}))
    assert digits.labels == ["0", "1", "2"]


def test_real_mix_layout_on_a_replica(tmp_path):
    _wav(tmp_path / "speech" / "a.wav")
    _wav(tmp_path / "music" / "b.wav")
    (tmp_path / "manifest.csv").write_text(
        "path,label,source,original_path,licence,duration_s,group\n"
        "speech/a.wav,speech,s,o,l,0.1,spk1\nmusic/b.wav,music,s,o,\"CC, BY\",0.1,alb\n")
    m = load_dataset(DatasetSpec(layout="real-mix", root=str(tmp_path)))
    assert _labels(m) == {"music": 1, "speech": 1}
    assert set(m.groups) == {"real_mix:spk1", "real_mix:alb"}


def test_manifest_layout_and_missing_root(tmp_path):
    _wav(tmp_path / "a.wav")
    (tmp_path / "m.jsonl").write_text('{"path": "a.wav", "label": "speech"}\n')
    m = load_dataset(DatasetSpec(layout="manifest", root=str(tmp_path / "m.jsonl"), name="mine"))
    assert m[0].dataset == "mine"
    with pytest.raises(ConfigError, match="does not exist"):
        load_dataset(DatasetSpec(layout="gtzan", root=str(tmp_path / "nope")))
    with pytest.raises(ConfigError, match="unknown dataset layout"):
        load_dataset(DatasetSpec(layout="nope", root=str(tmp_path)))
    with pytest.raises(ConfigError, match="not found"):
        load_dataset(DatasetSpec(layout="manifest", root=str(tmp_path / "m.jsonl"), classes=["music"]))


def test_real_mix_shared_data():
    root = shared_path("real-mix")
    m = load_dataset(DatasetSpec(layout="real_mix", root=str(root)))
    assert _labels(m) == {"music": 64, "noise": 76, "speech": 119}


def test_max_clips_per_class_keeps_the_first_by_id(tmp_path):
    for k in range(5):
        _wav(tmp_path / "music" / f"m{k}.wav")
        _wav(tmp_path / "speech" / f"s{k}.wav")
    m = load_dataset(DatasetSpec(layout="folders", root=str(tmp_path), max_clips_per_class=2))
    assert _labels(m) == {"music": 2, "speech": 2}
    assert [c.id for c in m.select_labels(["music"])] == ["folders/music/m0.wav", "folders/music/m1.wav"]
