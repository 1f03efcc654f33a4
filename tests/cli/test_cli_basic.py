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


def test_console_keeps_its_level_when_a_run_lowers_the_package_logger(monkeypatch, capsys) -> None:
    # A run lowers the package logger to INFO for its run.log; without -v the console must still
    # show warnings only (before: every INFO line of the run reached the console).
    import logging

    import speechmusic.cli.datasets as verb

    def noisy(args) -> int:
        logging.getLogger("speechmusic").setLevel(logging.INFO)
        logging.getLogger("speechmusic.training.runner").info("fold 0: patches ...")
        logging.getLogger("speechmusic.training.runner").warning("a warning")
        return 0

    monkeypatch.setattr(verb, "run", noisy)
    root_handlers = list(logging.getLogger().handlers)
    assert main(["datasets", "layouts"]) == 0
    err = capsys.readouterr().err
    assert "a warning" in err and "fold 0" not in err
    assert logging.getLogger().handlers == root_handlers  # the host's root logger untouched
    assert logging.getLogger("speechmusic").propagate
