"""The command line: verbs are discovered, errors are one clear line with a non-zero status."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from speechmusic.cli import build_parser, main
from tests.conftest import chirp


def test_every_verb_is_registered():
    text = build_parser().format_help()
    for verb in ("info", "features", "segment", "models", "demo"):
        assert verb in text


def test_info_reports_bad_files_and_goes_on(tmp_path, capsys):
    good = tmp_path / "good.wav"
    sf.write(good, chirp(8000, 0.5), 8000)
    assert main(["info", str(good), str(tmp_path / "missing.wav")]) == 1
    out = capsys.readouterr().out
    assert "8000 Hz" in out and "missing.wav\tERROR\tno such file" in out


def test_features_writes_npy(tmp_path):
    src = tmp_path / "a.wav"
    sf.write(src, chirp(44100, 1.0), 44100)
    assert main(["features", str(src), "-o", str(tmp_path / "f.npy"), "--preset", "mfcc_swishnet"]) == 0
    assert np.load(tmp_path / "f.npy").shape == (22, 17)


def test_library_errors_become_one_line(tmp_path, capsys):
    assert main(["features", str(tmp_path / "nope.wav"), "-o", str(tmp_path / "x.npy")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("speechmusic: error:") and "nope.wav" in err and "Traceback" not in err


def test_unknown_verb_is_a_usage_error():
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
