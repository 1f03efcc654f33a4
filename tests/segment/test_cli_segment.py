"""``speechmusic segment``: batches with failures, skipping, formats, frame probabilities."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf

from speechmusic.cli import main
from speechmusic.segment import read_segments
from tests.conftest import music_like, speech_like


def test_batch_goes_on_past_a_bad_file(ina_weights, tmp_path, capsys):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    sf.write(src / "a.wav", speech_like(16000, 3, seed=1), 16000)
    sf.write(src / "sub" / "b.flac", music_like(16000, 3, seed=2), 16000)
    (src / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
    out = tmp_path / "out"
    rc = main(["segment", str(src), "-o", str(out), "--format", "textgrid", "--frame-probs"])
    assert rc == 1
    assert "broken.wav" in (out / "failed.tsv").read_text()
    assert {p.name for p in out.glob("*.TextGrid")} == {"a.TextGrid", "b.TextGrid"}
    assert read_segments(out / "a.TextGrid")[-1].stop > 2.5
    header = (out / "a.frames.csv").read_text().splitlines()[0]
    assert header == "start,active,p_speech,p_music,p_noise"

    # Existing outputs are skipped, the list-file input works, and success gives status 0.
    listing = tmp_path / "files.txt"
    listing.write_text(f"{src / 'a.wav'}\n")
    mtime = (out / "a.TextGrid").stat().st_mtime_ns
    assert main(["segment", f"@{listing}", "-o", str(out), "--format", "textgrid"]) == 0
    assert (out / "a.TextGrid").stat().st_mtime_ns == mtime
    assert "skipped 1" in capsys.readouterr().out


def test_csv_rows_are_label_start_stop(ina_weights, tmp_path):
    path = tmp_path / "x.wav"
    sf.write(path, np.concatenate([np.zeros(8000, np.float32), speech_like(16000, 3)]), 16000)
    assert main(["segment", str(path), "-o", str(tmp_path / "o"), "--engine", "sm"]) == 0
    lines = (tmp_path / "o" / "x.csv").read_text().splitlines()
    assert lines[0] == "label,start,stop,probability" and lines[1].startswith("noEnergy,0.00,")


# ---------------------------------------------------------------------------- batch reliability
def _write(path, seconds: float = 2.0, seed: int = 0):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, speech_like(16000, seconds, seed=seed), 16000)
    return path


def _outputs(out) -> set[str]:
    """The visible files of an output folder (hidden records and temporaries left out)."""
    return {p.name for p in out.iterdir() if not p.name.startswith(".")}


def test_same_stems_get_unique_names_whatever_the_order(ina_weights, tmp_path, capsys):
    src = tmp_path / "in"
    a = _write(src / "a" / "x" / "s.wav", 2.0, seed=1)
    b = _write(src / "b" / "x" / "s.wav", 2.5, seed=2)
    c = _write(src / "c" / "x" / "s.wav", 3.0, seed=3)
    d = _write(src / "d" / "s.flac", 2.0, seed=4)
    e = _write(src / "d" / "s.wav", 2.0, seed=5)
    u = _write(src / "c" / "u.wav", 2.0, seed=6)
    inputs = [a, b, c, d, e, u]
    names = {}
    for run, order in enumerate((inputs, inputs[::-1])):
        out = tmp_path / f"out{run}"
        assert main(["segment", *map(str, order), "-o", str(out), "--engine", "sm"]) == 0
        assert "segmented 6 file(s)" in capsys.readouterr().out
        names[run] = {p.name: read_segments(p)[-1].stop for p in out.glob("*.csv")}
    assert names[0] == names[1]
    assert len(names[0]) == 6
    assert {"a_x_s.csv", "b_x_s.csv", "c_x_s.csv", "u.csv"} <= set(names[0])
    assert [round(names[0][f"{k}_x_s.csv"], 1) for k in "abc"] == [2.0, 2.5, 3.0]


def test_output_of_another_input_is_not_taken_as_done(ina_weights, tmp_path, capsys):
    first = _write(tmp_path / "p" / "s.wav", 2.0, seed=1)
    second = _write(tmp_path / "q" / "s.wav", 3.0, seed=2)
    out = tmp_path / "out"
    assert main(["segment", str(first), "-o", str(out), "--engine", "sm"]) == 0
    capsys.readouterr()
    assert main(["segment", str(second), "-o", str(out), "--engine", "sm"]) == 0
    assert "skipped 0" in capsys.readouterr().out
    assert round(read_segments(out / "s.csv")[-1].stop, 1) == 3.0


def test_rerun_with_other_settings_is_not_skipped(ina_weights, tmp_path, capsys):
    src = _write(tmp_path / "a.wav", 3.0)
    out = tmp_path / "out"
    base = ["segment", str(src), "-o", str(out), "--engine", "sm"]
    assert main(base) == 0
    assert main(base) == 0
    assert "skipped 1" in capsys.readouterr().out
    assert main(base + ["--gender"]) == 0
    assert "segmented 1" in capsys.readouterr().out
    assert main(base + ["--frame-probs"]) == 0
    assert "segmented 1" in capsys.readouterr().out and (out / "a.frames.csv").is_file()
    assert main(base + ["--frame-probs"]) == 0
    assert "skipped 1" in capsys.readouterr().out
    sf.write(src, speech_like(16000, 4.0), 16000)  # the input changed
    assert main(base) == 0
    assert "segmented 1" in capsys.readouterr().out
    assert round(read_segments(out / "a.csv")[-1].stop, 1) == 4.0
    assert main(base + ["--overwrite"]) == 0
    assert "segmented 1" in capsys.readouterr().out


def test_batch_goes_on_past_an_unexpected_error(ina_weights, tmp_path, capsys, monkeypatch):
    from speechmusic.segment import Segmenter

    bad, good = _write(tmp_path / "bad.wav"), _write(tmp_path / "good.wav")
    real = Segmenter.analyse

    def analyse(self, source, **kw):
        if "bad" in str(source):
            raise RuntimeError("boom")
        return real(self, source, **kw)

    monkeypatch.setattr(Segmenter, "analyse", analyse)
    out = tmp_path / "out"
    assert main(["segment", str(bad), str(good), "-o", str(out), "--engine", "sm"]) == 1
    assert (out / "good.csv").is_file()
    assert f"FAILED {bad}: RuntimeError: boom" in capsys.readouterr().err.splitlines()


def test_failures_are_logged_at_once_with_the_path_said_once(ina_weights, tmp_path, capsys,
                                                             monkeypatch):
    from speechmusic.errors import AudioDecodeError
    from speechmusic.segment import Segmenter

    one, two = _write(tmp_path / "one.wav"), _write(tmp_path / "two.wav")
    out = tmp_path / "out"
    out.mkdir()
    (out / "failed.tsv").write_text("path\treason\nstale.wav\tfrom an earlier run\n")
    seen = []

    def analyse(self, source, **kw):
        log = out / "failed.tsv"
        seen.append(log.read_text() if log.exists() else "")
        raise AudioDecodeError(source, "cannot decode")

    monkeypatch.setattr(Segmenter, "analyse", analyse)
    assert main(["segment", str(one), str(two), "-o", str(out), "--engine", "sm"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert f"FAILED {one}: cannot decode" in err and f"FAILED {two}: cannot decode" in err
    assert seen == ["", f"path\treason\n{one}\tcannot decode\n"]
    assert (out / "failed.tsv").read_text() == (f"path\treason\n{one}\tcannot decode\n"
                                                f"{two}\tcannot decode\n")


def test_interrupted_write_leaves_nothing_taken_as_done(ina_weights, tmp_path, capsys,
                                                        monkeypatch):
    import signal

    src = _write(tmp_path / "a.wav", 3.0)
    out = tmp_path / "out"
    args = ["segment", str(src), "-o", str(out), "--engine", "sm", "--frame-probs"]
    real = np.savetxt

    def savetxt(fname, *a, **kw):
        if hasattr(fname, "write"):
            fname.write("start,act")
        else:
            with open(fname, "w") as fh:
                fh.write("start,act")
        raise KeyboardInterrupt

    handler = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(np, "savetxt", savetxt)
    assert main(args) == 130
    assert signal.getsignal(signal.SIGTERM) is handler
    assert list(out.iterdir()) == []  # no output, no temporary, no done-record
    monkeypatch.setattr(np, "savetxt", real)
    assert main(args) == 0
    assert "segmented 1" in capsys.readouterr().out
    assert (out / "a.frames.csv").read_text().startswith("start,active,")


_SLOW_WRITER = """
import sys, time
import os

import numpy as np
import pytest
real = np.savetxt
def savetxt(*a, **kw):
    real(*a, **kw)
    print("WRITING", flush=True)
    time.sleep(120)
np.savetxt = savetxt
from speechmusic.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_killed_batch_is_redone(ina_weights, tmp_path, capsys, sig):
    import signal
    import subprocess
    import sys

    src = _write(tmp_path / "a.wav", 3.0)
    out = tmp_path / "out"
    args = ["segment", str(src), "-o", str(out), "--engine", "sm", "--frame-probs"]
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "WRITING", proc.stderr.read()
        proc.send_signal(getattr(signal, sig))
        rc = proc.wait(timeout=60)
    finally:
        proc.kill()
    assert rc == (143 if sig == "SIGTERM" else -signal.SIGKILL)
    assert _outputs(out) == set()
    if sig == "SIGTERM":
        assert list(out.iterdir()) == []  # temporaries removed too
    assert main(args) == 0
    assert "segmented 1" in capsys.readouterr().out
    assert _outputs(out) == {"a.csv", "a.frames.csv"}


def test_output_folder_is_checked_before_any_work(ina_weights, tmp_path, capsys, monkeypatch):
    from speechmusic.segment import Segmenter

    src = _write(tmp_path / "a.wav")
    calls = []
    monkeypatch.setattr(Segmenter, "analyse", lambda self, source, **kw: calls.append(source))
    a_file = tmp_path / "taken.txt"
    a_file.write_text("not a folder")
    for out in (a_file, a_file / "sub"):
        assert main(["segment", str(src), "-o", str(out), "--engine", "sm"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("speechmusic: error:") and str(a_file) in err
        assert len(err.splitlines()) == 1
    assert calls == [] and a_file.read_text() == "not a folder"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs a POSIX user for whom folder permissions apply (not root)")
def test_unwritable_output_folder_is_refused(tmp_path, capsys):
    src = _write(tmp_path / "a.wav")
    out = tmp_path / "locked"
    out.mkdir()
    out.chmod(0o555)
    try:
        assert main(["segment", str(src), "-o", str(out), "--engine", "sm"]) == 2
    finally:
        out.chmod(0o755)
    assert capsys.readouterr().err.startswith("speechmusic: error:")


def test_outputs_follow_the_umask(ina_weights, tmp_path):
    good = _write(tmp_path / "a.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    out = tmp_path / "out"
    old = os.umask(0o022)
    try:
        main(["segment", str(good), str(bad), "-o", str(out), "--engine", "sm", "--frame-probs"])
    finally:
        os.umask(old)
    files = sorted(out.iterdir())
    assert {p.name for p in files} >= {"a.csv", "a.frames.csv", "failed.tsv"}
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in files} == {p.name: "0o644" for p in files}
