"""The paper's datasets as their archives unpack (replicas from :mod:`.replicas`): labels, groups,
counts, what is left out, and ``speechmusic datasets check`` next to Table 1."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechmusic.cli import main
from speechmusic.data import (
    PAPER_TABLE1,
    DatasetSpec,
    check_no_leak,
    load_dataset,
    make_folds,
    paper_dataset,
    survey_dataset,
)
from speechmusic.data.adapters import _count, _musan_music_fields
from speechmusic.errors import ConfigError

from .replicas import (
    groups,
    make_all_replicas,
    make_marolt19_replica,
    make_musan_replica,
    make_slaney_scheirer_replica,
)

PER_CLASS = 12


@pytest.fixture(scope="module")
def replicas(tmp_path_factory) -> dict[str, Path]:
    return make_all_replicas(tmp_path_factory.mktemp("replicas"), per_class=PER_CLASS)


def _counts(m) -> dict[str, int]:
    return dict(sorted(m.label_counts().items()))


def _groups_per_label(m) -> dict[str, int]:
    return {label: len(clips.groups) for label, clips in m.by_label().items()}


def _wav(path: Path, sr: int = 8000, seconds: float = 0.1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(int(sr * seconds), np.float32), sr, subtype="PCM_16")
    return path


# The datasets: entries of experiments/paper.yaml and paper-transfer.yaml, on the replicas.
EXPECTED = {
    ("musan", ()): {"music": 12, "noise": 12, "speech": 12},
    ("gtzan", ()): {"music": 12, "speech": 12},
    ("marolt19", ()): {"music": 36, "noise": 12, "speech": 12},
    ("acmusyt", ()): {"music": 12, "speech": 12},
    ("slaney_scheirer", ()): {"music": 12, "speech": 12},
    ("acmus_vf", (("task", "accompaniment"),)): {"accompanied": 12, "vocal_only": 12},
    ("acmus_vf", (("task", "gender"),)): {"female": 12, "male": 12},
    ("acmus_if", ()): {"1": 12, "2": 12, "3": 12, "4": 12, "5+": 12},
}


@pytest.mark.parametrize(("layout", "options"), list(EXPECTED), ids=lambda x: str(x))
def test_every_replica_loads_with_enough_groups_for_grouped_cv(replicas, layout, options):
    m = load_dataset(DatasetSpec(layout=layout, root=str(replicas[layout]), options=dict(options)))
    assert _counts(m) == EXPECTED[(layout, options)]
    for label, n in _groups_per_label(m).items():
        assert n >= 10, (label, n)  # the paper's 10 % blocks: every test block holds every class
    assert all(Path(c.path).is_file() for c in m)
    folds = make_folds(m, n_folds=5, test_fraction=0.1, val_fraction=0.1, seed=0)
    for split in folds:
        check_no_leak(m, split)
        assert {m[i].label for i in split.test} == set(m.labels)


def test_replica_group_count_helper():
    assert groups(12) == 10 and groups(7) == 5 and groups(4) == 4


# ----------------------------------------------------------------------------- Slaney & Scheirer


def test_slaney_scheirer_accepts_each_root_of_the_archive(replicas):
    top = replicas["slaney_scheirer"]
    for root in (top, top / "wavfile", top.parent):
        m = load_dataset(DatasetSpec(layout="sns", root=str(root)))
        # the old adapter gave 'wavfile' (root music-speech/) or 'train'/'test' (root wavfile/)
        assert _counts(m) == {"music": 12, "speech": 12}, root
        assert len(m.groups) == 24


def test_slaney_scheirer_leaves_out_mixed_and_other_and_says_why(replicas):
    s = survey_dataset(DatasetSpec(layout="slaney_scheirer", root=str(replicas["slaney_scheirer"])))
    assert _counts(s.raw) == {"m+s": 3, "music": 12, "other": 3, "speech": 12}
    assert s.kept_as == {"m+s": None, "music": "music", "other": None, "speech": "speech"}
    assert sorted(x.own_class for x in s.left_out) == ["m+s"] * 3 + ["other"] * 3
    assert all("64 noise and mixed" in x.reason for x in s.left_out)
    vocals = [s.attributes[c.id].get("vocals") for c in s.manifest if c.label == "music"]
    assert vocals.count("yes") == 3 and vocals.count("no") == 3
    kept = load_dataset(DatasetSpec(layout="sns", root=str(replicas["slaney_scheirer"]),
                                    label_map={"m+s": "mixed", "other": "other"}))
    assert _counts(kept) == {"mixed": 3, "music": 12, "other": 3, "speech": 12}


def test_slaney_scheirer_one_split_folder_reads_as_class_folders(replicas):
    test = replicas["slaney_scheirer"] / "wavfile" / "test"
    m = load_dataset(DatasetSpec(layout="sns", root=str(test)))
    assert _counts(m) == {"music": 6, "speech": 4}  # music/vocals and music/novocals are music


# ----------------------------------------------------------------------------- MUSAN


def test_musan_music_annotation_fields():
    assert _musan_music_fields(["pop,electronica", "Y", "Quiet_Music_for_Tiny_Robots"]) == (
        "pop,electronica", "yes", "Quiet_Music_for_Tiny_Robots")
    assert _musan_music_fields(["pop,", "rock", "N", "The", "Band"]) == ("pop,rock", "no", "The Band")
    assert _musan_music_fields(["N", "Solo"]) == ("", "no", "Solo")
    assert _musan_music_fields(["jazz"]) == ("jazz", None, None)
    assert _musan_music_fields([]) == ("", None, None)


def test_musan_groups_an_artist_across_spacing_and_sources(tmp_path):
    root = tmp_path / "musan"
    for source, k in (("fma", 0), ("fma", 1), ("jamendo", 0)):
        _wav(root / "music" / source / f"music-{source}-{k:04d}.wav")
    (root / "music" / "fma" / "ANNOTATIONS").write_text(
        "music-fma-0000 pop, rock Y The Band\nmusic-fma-0001 pop N The Band\n")
    (root / "music" / "jamendo" / "ANNOTATIONS").write_text("music-jamendo-0000 folk Y The_Band\n")
    _wav(root / "speech" / "us-gov" / "speech-us-gov-0000.wav")
    m = load_dataset(DatasetSpec(layout="musan", root=str(tmp_path)))
    # the old parser took "Y The Band" as the first file's artist: two groups for one artist
    assert m.select_labels(["music"]).groups == ["musan:music/artist/the_band"]
    assert _counts(m) == {"music": 3, "speech": 1}  # us-gov has no ANNOTATIONS: tolerated


def test_musan_replica_reads_annotations_and_tolerates_gaps(replicas, tmp_path):
    s = survey_dataset(DatasetSpec(layout="musan", root=str(replicas["musan"])))
    music = s.manifest.select_labels(["music"])
    assert len(music.groups) == groups(PER_CLASS)  # one per artist; rfm's unannotated file alone
    speech = [s.attributes[c.id] for c in s.manifest if c.label == "speech"]
    assert {a["gender"] for a in speech} == {"male", "female", "?"}
    assert {"english", "german", "spanish"} <= {a["language"] for a in speech}
    assert {a["source"] for a in speech} == {"librivox", "us-gov"}
    assert {s.attributes[c.id]["genres"] for c in music if c.id.endswith("jamendo-0000.wav")} == {"pop,rock"}
    assert not s.left_out
    copy = tmp_path / "musan"
    shutil.copytree(replicas["musan"], copy)
    for ann in (copy / "music").glob("*/ANNOTATIONS"):
        ann.unlink()
    m = load_dataset(DatasetSpec(layout="musan", root=str(copy)))
    assert _counts(m) == {"music": 12, "noise": 12, "speech": 12}
    assert len(m.select_labels(["music"]).groups) == 12  # no artists: one group per file


# ----------------------------------------------------------------------------- GTZAN


def test_gtzan_root_is_music_speech_or_its_parent(replicas):
    for root in (replicas["gtzan"], replicas["gtzan"].parent):
        assert _counts(load_dataset(DatasetSpec(layout="gtzan", root=str(root)))) == {"music": 12, "speech": 12}


# ----------------------------------------------------------------------------- ACMUS-MIR


def test_acmus_if_reads_the_acmus_mir_tree_at_either_root(replicas):
    top = replicas["acmus_if"]
    for root in (top, top / "Instrumental format set"):
        # the old adapter wanted columns 'file' and 'ensemble_size', absent from the real CSV
        m = load_dataset(DatasetSpec(layout="acmus_if", root=str(root)))
        assert _counts(m) == {"1": 12, "2": 12, "3": 12, "4": 12, "5+": 12}
        assert all(Path(c.path).name.startswith("if_") and Path(c.path).is_file() for c in m)
        assert set(_groups_per_label(m).values()) == {groups(PER_CLASS)}  # by 'Original file'
    four = load_dataset(DatasetSpec(layout="acmus_if", root=str(top), options={"max_size": 4}))
    assert _counts(four)["4+"] == 24


def test_acmus_if_file_names_sizes_and_odd_rows(tmp_path):
    folder = tmp_path / "ACMUS-MIR" / "Instrumental Format Set"
    for k in range(1, 8):
        _wav(folder / "Audio" / f"if_{k:04d}.wav")
    rows = ["FILE NAME;Title;Original File;Number Of Instruments;Number of guitars;Number of tiples;Bass",
            "if_0001.wav;Pasillo;a.wav;1;1;0;no",
            "0002;Bambuco;a.wav;2;1;1;no",       # same recording as the first: one group
            "3;Danza;b.wav;Estudiantina;;;",      # a number without prefix and padding; a name
            "0004.wav;Guabina;c.wav;;2;1;yes",    # no count: the instruments add up to 4
            "if_0005;Torbellino;d.wav;?;;;",      # no usable size: left out, said
            "0006.wav;Canción;;5+;;;",            # no original file: its own group
            ]
    # written as a Windows spreadsheet would: semicolons, cp1252
    (folder / "instrumental_format_set.csv").write_bytes(("\r\n".join(rows) + "\r\n").encode("cp1252"))
    s = survey_dataset(DatasetSpec(layout="acmus_if", root=str(tmp_path)))  # finds ACMUS-MIR below
    labels = {Path(c.path).name: c.label for c in s.manifest}
    assert labels == {"if_0001.wav": "1", "if_0002.wav": "2", "if_0003.wav": "5+",
                      "if_0004.wav": "4", "if_0006.wav": "5+"}
    groups_of = {Path(c.path).name: c.group for c in s.manifest}
    assert groups_of["if_0001.wav"] == groups_of["if_0002.wav"] != groups_of["if_0004.wav"]
    reasons = {Path(x.path).name: x.reason for x in s.left_out}
    assert "no ensemble size" in reasons["if_0005.wav"] and "'?'" in reasons["if_0005.wav"]
    assert reasons["if_0007.wav"] == "not listed in instrumental_format_set.csv"
    assert s.attributes[next(c.id for c in s.manifest if c.path.endswith("if_0004.wav"))]["size_from"] \
        == "instrument counts"


def test_ensemble_size_values():
    assert [_count(v) for v in ("3", "3.0", "5+", ">5", "Trio", "Estudiantina", "yes", "no", "", "?")] == \
        [3, 3, 5, 5, 3, 5, 1, 0, None, None]


def test_acmus_if_names_what_it_expected(tmp_path):
    (tmp_path / "Rhythm set").mkdir()
    with pytest.raises(ConfigError, match="Instrumental format set"):
        load_dataset(DatasetSpec(layout="acmus_if", root=str(tmp_path)))
    folder = tmp_path / "Instrumental format set"
    _wav(folder / "Audio" / "if_0001.wav")
    (folder / "instrumental_format_set.csv").write_text("File Name,Title\n0001.wav,x\n")
    with pytest.raises(ConfigError, match="Number of instruments"):
        load_dataset(DatasetSpec(layout="acmus_if", root=str(tmp_path)))


# ----------------------------------------------------------------------------- tables


def test_marolt19_table_maps_music_and_keeps_its_groups(replicas):
    s = survey_dataset(DatasetSpec(layout="marolt19", root=str(replicas["marolt19"])))
    assert _counts(s.raw) == {"choir": 12, "instrumental": 12, "noise": 12, "solo_singing": 12, "speech": 12}
    assert _counts(s.manifest) == {"music": 36, "noise": 12, "speech": 12}
    assert _groups_per_label(s.manifest) == {"music": 30, "noise": 10, "speech": 10}  # 'group' column
    binary = load_dataset(DatasetSpec(layout="marolt19", root=str(replicas["marolt19"] / "labels.csv"),
                                      classes=["music", "speech"]))
    assert _counts(binary) == {"music": 36, "speech": 12}


def test_marolt19_table_without_groups_and_with_odd_rows(tmp_path):
    for name in ("rec1_01", "rec1_02", "rec2_01"):
        _wav(tmp_path / "audio" / f"{name}.wav")
    _wav(tmp_path / "audio" / "stray.wav")
    (tmp_path / "notes.csv").write_text("what,ever\n1,2\n")  # not a label table: ignored
    (tmp_path / "marolt.csv").write_text(
        "Path,Label,Archive\naudio/rec1_01.wav,Solo Singing,BL\naudio/rec1_02.wav,solo singing,BL\n"
        "audio/rec2_01.wav,Choir,CNRS\naudio/rec1_01.wav,Choir,BL\n,speech,x\naudio/missing.wav,,x\n")
    s = survey_dataset(DatasetSpec(layout="marolt19", root=str(tmp_path),
                                   label_map={"solo_singing": "solo_singing", "choir": "choir"}))
    assert _counts(s.manifest) == {"choir": 1, "solo_singing": 2}
    assert len(s.manifest.select_labels(["solo_singing"]).groups) == 1  # rec1_01, rec1_02: rec1
    reasons = sorted(x.reason.split(": ", 1)[-1] for x in s.left_out)
    assert reasons == ["empty 'Label'", "listed again (first at line 2)", "no 'Path' value",
                       "not listed in marolt.csv"]


def test_acmusyt_table_drops_a_cappella_and_says_why(replicas):
    s = survey_dataset(DatasetSpec(layout="acmusyt", root=str(replicas["acmusyt"])))
    assert s.kept_as == {"a_cappella": None, "music": "music", "speech": "speech"}
    assert len(s.left_out) == 12 and all("a cappella" in x.reason for x in s.left_out)


def test_acmus_vf_table_groups_by_singer(replicas):
    m = load_dataset(DatasetSpec(layout="acmus_vf", root=str(replicas["acmus_vf"]), options={"task": "gender"}))
    assert all(c.group.split(":", 1)[1].startswith(c.label[0] + "singer") for c in m)


def test_label_tables_must_be_unambiguous(tmp_path):
    _wav(tmp_path / "a.wav")
    for name in ("one.csv", "two.csv"):
        (tmp_path / name).write_text("path,label\na.wav,speech\n")
    with pytest.raises(ConfigError, match="several label tables"):
        load_dataset(DatasetSpec(layout="acmusyt", root=str(tmp_path)))
    m = load_dataset(DatasetSpec(layout="acmusyt", root=str(tmp_path), options={"metadata": "two.csv"}))
    assert _counts(m) == {"speech": 1}


# ----------------------------------------------------------------------------- the check command


CHECK_LINES = {
    "musan": [r"music\s+music\s+12\s+660", r"speech\s+speech\s+12\s+426", r"noise\s+noise\s+12\s+764",
              r"930 noise files", r"left out: nothing", r"gender: speech: .*female 4"],
    "gtzan": [r"music\s+music\s+12\s+64", r"speech\s+speech\s+12\s+64", r"total kept\s+24\s+128"],
    "marolt19": [r"solo_singing\s+music\s+12\s+1512", r"choir\s+music\s+12\s+1618",
                 r"instrumental\s+music\s+12\s+2960", r"speech\s+speech\s+12\s+1284",
                 r"noise\s+noise\s+12\s+-", r"44100 Hz: 60"],
    "acmusyt": [r"speech\s+speech\s+12\s+40", r"music\s+music\s+12\s+35",
                r"a_cappella\s+\(left out\)\s+12\s+40", r"12  a_cappella: the paper leaves"],
    "slaney_scheirer": [r"music\s+music\s+12\s+101", r"speech\s+speech\s+12\s+80",
                        r"m\+s\s+\(left out\)\s+3\s+-", r"other\s+\(left out\)\s+3\s+-",
                        r"left out \(6 files or rows\)", r"vocals: music: no 3, yes 3"],
    "acmus_vf": [r"accompanied\s+accompanied\s+12\s+-", r"total kept\s+24\s+70", r"96000 Hz: 24"],
    "acmus_if": [r"1\s+1\s+12\s+43", r"2\s+2\s+12\s+42", r"3\s+3\s+12\s+43", r"4\s+4\s+12\s+21",
                 r"5\+\s+5\+\s+12\s+36", r"total kept\s+60\s+185", r"96000 Hz: 60", r"PCM_16: 60"],
}


@pytest.mark.parametrize("layout", list(CHECK_LINES))
def test_datasets_check_prints_found_against_table1(replicas, layout, capsys):
    rc = main(["datasets", "check", str(replicas[layout]), "--layout", layout])
    out = capsys.readouterr().out
    assert rc == 0, out
    for pattern in CHECK_LINES[layout]:
        assert re.search(pattern, out), (pattern, out)


def test_datasets_check_gender_json_and_paper_choice(replicas, capsys):
    root = str(replicas["acmus_vf"])
    assert main(["datasets", "check", root, "--layout", "acmus_vf", "--option", "task=gender"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"male\s+male\s+12\s+46", out) and re.search(r"female\s+female\s+12\s+24", out)
    assert main(["datasets", "check", str(replicas["marolt19"]), "--layout", "table", "--json",
                 "--name", "marolt19"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["paper"]["key"] == "marolt19"
    assert {r["class"]: r["paper"] for r in data["classes"]}["choir"] == 1618
    assert main(["datasets", "check", str(replicas["gtzan"]), "--layout", "gtzan", "--paper", "none"]) == 0
    assert "no row of the paper's Table 1" in capsys.readouterr().out
    assert main(["datasets", "check", str(replicas["gtzan"]), "--layout", "gtzan", "--paper", "nope"]) == 2
    assert "Table 1 has no such dataset" in capsys.readouterr().err


def test_table1_numbers():
    assert {k: d.n_files for k, d in PAPER_TABLE1.items()} == {
        "musan": 1850, "gtzan": 128, "marolt19": 7374, "acmusyt": 115, "slaney_scheirer": 181,
        "acmus_vf": 70, "acmus_vf_accompaniment": 70, "acmus_if": 185}
    assert paper_dataset("sns").title == "S&S" and paper_dataset("ACMus-IF").key == "acmus_if"
    assert paper_dataset("acmus_vf", task="accompaniment").classes == {}
    assert abs(paper_dataset("slaney_scheirer").mean_seconds - 14.9) < 0.1  # 15-s extracts
    assert paper_dataset("folders") is None


def test_replica_builders_take_per_class(tmp_path):
    m = load_dataset(DatasetSpec(layout="sns", root=str(make_slaney_scheirer_replica(tmp_path / "a", per_class=5))))
    assert _counts(m) == {"music": 5, "speech": 5}
    m = load_dataset(DatasetSpec(layout="musan", root=str(make_musan_replica(tmp_path / "b", per_class=5))))
    assert _counts(m) == {"music": 5, "noise": 5, "speech": 5}
    m = load_dataset(DatasetSpec(layout="marolt19", root=str(make_marolt19_replica(tmp_path / "d", per_class=5,
                                                                                   with_noise=False))))
    assert _counts(m) == {"music": 15, "speech": 5}
