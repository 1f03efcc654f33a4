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


# ---------------------------------------------------------------------------- inputs
def test_folders_and_globs_take_audio_files_only(tmp_path):
    from speechmusic.cli.segment import expand_inputs

    a = _write(tmp_path / "in" / "a.wav")
    b = _write(tmp_path / "in" / "sub" / "b.flac")
    (tmp_path / "in" / "a.txt").write_text("notes about a.wav\nhttps://example.org/licence\n")
    (tmp_path / "in" / "sub" / "cover.jpg").write_bytes(b"\xff\xd8")
    assert expand_inputs([str(tmp_path / "in")]) == [a, b]
    assert expand_inputs([str(tmp_path / "in" / "*")]) == [a, b]  # the folder it matches too
    assert expand_inputs([str(tmp_path / "in" / "*.*")]) == [a]


def test_a_list_file_needs_an_at(tmp_path):
    from speechmusic.cli.segment import expand_inputs

    a = _write(tmp_path / "a.wav")
    b = _write(tmp_path / "more" / "b.wav")
    notes = tmp_path / "notes.txt"
    notes.write_text(f"# my files\n{a}\n\n{tmp_path / 'more'}\n")
    assert expand_inputs([str(notes)]) == [notes]  # an input like any other, not a list
    assert expand_inputs([f"@{notes}"]) == [a, b]


def test_a_text_file_given_as_input_fails_as_not_audio(ina_weights, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("Sense and Sensibility / Chapter 18\nhttps://www.openslr.org/12\n")
    assert main(["segment", str(notes), "-o", str(tmp_path / "out"), "--engine", "sm"]) == 1
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("FAILED")]
    assert line.startswith(f"FAILED {notes}: not an audio file (a .txt file): ")
    assert line.count(str(notes)) == 1 and line.count("notes.txt") == 1


@pytest.mark.parametrize("url", ["https://example.org/a.mp3", "http://x/y.wav", "ftp://x/y.wav",
                                 "s3://bucket/key.flac"])
def test_urls_are_refused_in_one_line(tmp_path, capsys, url):
    assert main(["segment", url, "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err == f"speechmusic: error: {url}: URLs are not supported: download the file first\n"
    listing = tmp_path / "list.txt"
    listing.write_text(f"{_write(tmp_path / 'a.wav')}\n{url}\n")
    assert main(["segment", f"@{listing}", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count(url) == 1 and f"listed in {listing}, line 2" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()  # refused before any work


# ---------------------------------------------------------------------------- options and formats
def _fake_analysis(monkeypatch, segments, seen=None):
    """Segmenter.analyse returns ``segments`` (recording the segmenter and the log level)."""
    import logging

    from speechmusic.segment import Analysis, Segmenter

    def analyse(self, source, **kw):
        if seen is not None:
            seen.append((self, logging.getLogger("speechmusic.segment").getEffectiveLevel()))
        return Analysis(segments=list(segments), labels=["speech", "music"],
                        probs=np.zeros((0, 2)), active=np.zeros(0, bool),
                        duration=segments[-1].stop)

    monkeypatch.setattr(Segmenter, "analyse", analyse)


def test_new_options_reach_the_segmenter_and_count_for_skipping(ina_weights, tmp_path, capsys,
                                                                monkeypatch):
    from speechmusic.segment import Segment

    seen = []
    _fake_analysis(monkeypatch, [Segment("speech", 0.0, 2.0, 0.9), Segment("music", 2.0, 2.1, 0.6),
                                 Segment("speech", 2.1, 4.0, 0.7)], seen)
    src = _write(tmp_path / "a.wav", 4.0)
    out = tmp_path / "out"
    base = ["segment", str(src), "-o", str(out), "--engine", "sm"]
    assert main(base + ["--energy-ratio", "0.1", "--threads", "1"]) == 0
    assert (seen[-1][0].energy_ratio, seen[-1][0].threads) == (0.1, 1)
    assert [r.split(",")[0] for r in (out / "a.csv").read_text().splitlines()] == \
        ["label", "speech", "music", "speech"]
    capsys.readouterr()
    for extra, did in ((["--energy-ratio", "0.1", "--threads", "2"], "skipped 1"),  # same output
                       (["--energy-ratio", "0.05"], "segmented 1"),
                       (["--energy-ratio", "0.05", "--min-duration-on", "0.5"], "segmented 1"),
                       (["--energy-ratio", "0.05", "--min-duration-on", "0.5"], "skipped 1")):
        assert main(base + extra) == 0
        assert did in capsys.readouterr().out, extra
    # --min-duration-on 0.5: the 0.1 s of music went into the speech around it (probability:
    # (0.9 * 2.1 + 0.7 * 1.9) / 4, the speech parts weighted by duration).
    assert (out / "a.csv").read_text().splitlines()[1:] == ["speech,0.00,4.00,0.8050"]
    for bad in (["--energy-ratio", "0"], ["--threads", "0"], ["--min-duration-on", "-1"]):
        with pytest.raises(SystemExit):
            main(base + bad)


def test_ina_format_from_the_command(ina_weights, tmp_path, monkeypatch):
    from speechmusic.segment import Segment

    _fake_analysis(monkeypatch, [Segment("noEnergy", 0 * 0.02, 23 * 0.02),
                                 Segment("male", 23 * 0.02, 357 * 0.02, 0.8)])
    src = _write(tmp_path / "a.wav", 7.2)
    assert main(["segment", str(src), "-o", str(tmp_path / "out"), "--engine", "sm",
                 "--format", "ina"]) == 0
    assert (tmp_path / "out" / "a.csv").read_bytes() == (
        b"labels\tstart\tstop\nnoEnergy\t0.0\t0.46\nmale\t0.46\t7.140000000000001\n")
    assert read_segments(tmp_path / "out" / "a.csv")[1].label == "male"


# ---------------------------------------------------------------------------- progress, -q
def test_progress_says_files_audio_speed_and_current_file(ina_weights, tmp_path, capsys,
                                                          monkeypatch):
    import re

    from speechmusic.segment import Segment

    monkeypatch.setenv("SPEECHMUSIC_PROGRESS", "1")
    _fake_analysis(monkeypatch, [Segment("speech", 0.0, 9.72)])
    srcs = [_write(tmp_path / f"{name}.wav", 9.72) for name in ("first", "second")]
    assert main(["segment", *map(str, srcs), "-o", str(tmp_path / "out"), "--engine", "sm"]) == 0
    captured = capsys.readouterr()
    bar = captured.err
    assert "segment 0/2 files" in bar and "segment 2/2 files" in bar
    assert "now: first.wav (10 s of audio" in bar and "now: second.wav" in bar
    assert "/19 s audio" in bar and "x real time" in bar
    assert "s/h" not in bar and not re.search(r"\d\.\d{4,}", bar)  # no float noise
    assert re.search(r"segmented 2 file\(s\) \(19 s of audio, [\d.]+x real time\)", captured.out)


def test_quiet_hides_the_bar_and_lowers_logging(ina_weights, tmp_path, capsys, monkeypatch):
    import logging

    from speechmusic.segment import Segment

    monkeypatch.setenv("SPEECHMUSIC_PROGRESS", "1")
    seen = []
    _fake_analysis(monkeypatch, [Segment("speech", 0.0, 2.0)], seen)
    src = _write(tmp_path / "a.wav")
    assert main(["segment", str(src), "-o", str(tmp_path / "out"), "--engine", "sm", "-q"]) == 0
    assert "files" not in capsys.readouterr().err
    assert seen[-1][1] == logging.ERROR
    assert main(["-q", "segment", str(src), "-o", str(tmp_path / "o2"), "--engine", "sm"]) == 0
    assert "files" not in capsys.readouterr().err


def test_patterns_and_folders_without_audio_are_warned_about(tmp_path, caplog):
    from speechmusic.cli.segment import expand_inputs

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.txt").write_text("no audio here")
    assert expand_inputs([str(tmp_path / "docs"), str(tmp_path / "docs" / "*.txt")]) == []
    warned = [r.getMessage() for r in caplog.records]
    assert f"{tmp_path / 'docs'}: no audio file in this folder" in warned
    assert f"{tmp_path / 'docs' / '*.txt'}: no audio file matches" in warned


def test_progress_within_a_long_file(ina_weights, tmp_path, capsys, monkeypatch):
    from speechmusic.segment import Analysis, Segment, Segmenter

    monkeypatch.setenv("SPEECHMUSIC_PROGRESS", "1")
    positions = []

    def analyse(self, source, *, progress=None, **kw):
        for seconds in (600.0, 1200.0, 1800.0):  # as the segmenter calls it, block by block
            progress(seconds, "analysing")
            positions.append(bar_n())
        progress(900.0, "checking")  # then fast mode's check of close calls
        return Analysis(segments=[Segment("speech", 0.0, 1800.0)], labels=["speech", "music"],
                        probs=np.zeros((0, 2)), active=np.zeros(0, bool), duration=1800.0)

    monkeypatch.setattr(Segmenter, "analyse", analyse)
    from speechmusic.cli import segment as cli_segment

    monkeypatch.setattr(cli_segment, "_duration", lambda path: 1800.0)  # a 30-minute file
    monkeypatch.setattr(cli_segment.SegmentProgress, "redraw_every", 0.0)
    bars = []
    original_init = cli_segment.SegmentProgress.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        bars.append(self)

    monkeypatch.setattr(cli_segment.SegmentProgress, "__init__", init)

    def bar_n():
        return bars[-1].bar.n

    src = _write(tmp_path / "long.wav", 1.0)
    assert main(["segment", str(src), "-o", str(tmp_path / "out"), "--engine", "sm"]) == 0
    err = capsys.readouterr().err
    # The bar moves within the file, and says how far into it the segmenter is.
    assert positions == [600.0, 1200.0, 1800.0]
    assert "now: long.wav (10.0/30.0 min analysed" in err
    assert "now: long.wav (20.0/30.0 min analysed" in err
    assert "now: long.wav (30.0/30.0 min analysed, 15.0 min checked, running" in err
    assert bars[-1].bar.n == 1800.0  # the file counted once when it ends
    assert "segment 1/1 files" in err


def test_analyse_reports_the_seconds_analysed(ina_weights, tmp_path):
    from speechmusic.segment import Segmenter

    src = _write(tmp_path / "a.wav", 3.5)
    calls = []
    analysis = Segmenter("sm", block_seconds=1.0, decoder="soxr").analyse(
        src, progress=lambda seconds, stage: calls.append((stage, seconds)))
    seen = [seconds for stage, seconds in calls if stage == "analysing"]
    assert len(seen) == 4 and seen == sorted(seen)
    assert seen[-1] == pytest.approx(analysis.duration) and seen[-1] == pytest.approx(3.5)
    checked = [seconds for stage, seconds in calls if stage == "checking"]
    assert checked == sorted(checked) and {stage for stage, _ in calls} <= {"analysing", "checking"}
    assert calls[:4] == [("analysing", s) for s in seen]  # the checks come after the network


def test_progress_waits_for_the_networks_chunks():
    """Decoded seconds whose network chunks (10 s each) still wait or run are not reported."""
    from concurrent.futures import Future
    from types import SimpleNamespace

    from speechmusic.segment.segmenter import _AnalysedSeconds

    done, running = Future(), Future()
    done.set_result(None)
    chunks = SimpleNamespace(size=500, futures={0: [done], 1: [running, done]})
    seen = []
    report = _AnalysedSeconds(lambda seconds, stage: seen.append(seconds), chunks)
    report(25.0)  # chunk 1 (10-20 s) still running
    assert seen == [15.0]
    report(24.0)  # never backwards
    assert seen == [15.0]
    running.set_result(None)
    report(30.0)
    report.done(31.5)
    assert seen == [15.0, 30.0, 31.5]
