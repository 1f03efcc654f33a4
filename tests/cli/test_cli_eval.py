"""`speechmusic eval REF EST`: Markdown on stdout, MIREX 2018's keys in --json, the library's
numbers; missing files are one clear error."""

from __future__ import annotations

import json
import math

from speechmusic.cli import main
from speechmusic.evaluation.detection import DetectionSettings, score_detection
from speechmusic.segment.formats import Segment, write_segments

REF = {"a": [Segment("speech", 0, 4), Segment("speech+music", 4, 6), Segment("music", 6, 10)],
       "b": [Segment("music", 0, 5), Segment("noEnergy", 5, 6), Segment("male", 6, 9)],
       "c": []}
EST = {"a": [Segment("female", 0, 4.2), Segment("music", 4.2, 10)],
       "b": [Segment("music", 0, 6), Segment("speech", 6.3, 9)],
       "c": [Segment("speech", 1, 2)]}


def _folders(tmp_path):
    ref, est = tmp_path / "ref", tmp_path / "est"
    ref.mkdir(), est.mkdir()
    for name, segs in REF.items():  # MIREX's text files
        (ref / f"{name}.txt").write_text("".join(f"{s.start}\t{s.stop}\t{s.label}\n" for s in segs),
                                         encoding="utf-8")
    for name, segs in EST.items():  # the segmenter's
        write_segments(segs, est / f"{name}.TextGrid")
    return ref, est


def _same(a, b):
    if isinstance(b, dict):
        assert set(a) == set(b)
        for k in b:
            _same(a[k], b[k])
    elif isinstance(b, list):
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif b is None or (isinstance(b, float) and math.isnan(b)):
        assert a is None
    else:
        assert abs(a - b) <= 1e-12


def test_eval_prints_markdown_and_writes_mirex_json(tmp_path, capsys):
    ref, est = _folders(tmp_path)
    out = tmp_path / "scores.json"
    assert main(["eval", str(ref), str(est), "--json", str(out), "--bootstrap", "30",
                 "--seed", "3", "--collar", "1.0"]) == 0
    text = capsys.readouterr().out
    assert "## Speech/music detection: 3 files" in text
    assert "| speech |" in text and "| music |" in text and "| overall |" in text
    assert "Overall accuracy [%]" in text and "onsets within 1 s" in text and "| b |" in text
    got = json.loads(out.read_text(encoding="utf-8"))
    want = score_detection({n: (REF[n], EST[n]) for n in REF}, n_boot=30, seed=3,
                           settings=DetectionSettings(collar=1.0)).to_dict()
    for key in ("segment", "event", "ci95", "files"):
        _same(got[key], want[key])
    assert set(got["segment"]["speech"]) == {"precision", "recall", "f_measure"}
    assert set(got["segment"]["overall"]) == {"accuracy"}
    assert {"deletion_rate", "insertion_rate", "error_rate"} <= set(got["event"]["overall"])
    assert got["files"]["c"]["event"]["speech"]["recall"] is None  # no reference event
    assert got["settings"]["collar"] == 1.0


def test_eval_single_files_music_only_and_mapping(tmp_path, capsys):
    ref, est = _folders(tmp_path)
    assert main(["eval", str(ref / "a.txt"), str(est / "a.TextGrid"), "--classes", "music",
                 "--no-files"]) == 0
    text = capsys.readouterr().out
    assert "1 file," in text and "| speech |" not in text and "Per file" not in text
    assert "Brackets" not in text  # one file: no interval
    (ref / "a.txt").write_text("0\t4\tjingle\n", encoding="utf-8")
    assert main(["eval", str(ref / "a.txt"), str(est / "a.TextGrid")]) == 2
    assert "'jingle'" in capsys.readouterr().err
    assert main(["eval", str(ref / "a.txt"), str(est / "a.TextGrid"), "--map", "jingle=speech",
                 "--bootstrap", "0"]) == 0


def test_eval_missing_files_are_an_error_unless_intersection(tmp_path, capsys):
    ref, est = _folders(tmp_path)
    (est / "c.TextGrid").unlink()
    assert main(["eval", str(ref), str(est)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("speechmusic: error:") and "without an estimate" in err and ": c" in err
    assert "Traceback" not in err
    assert main(["eval", str(ref), str(est), "--intersection", "--bootstrap", "10"]) == 0
    assert "2 files" in capsys.readouterr().out
