"""The ffmpeg / ffprobe subprocess fallbacks against a stand-in ffmpeg that logs a lot on stderr.

The stand-in is a small script found through ``shutil.which`` (as the real one is): it writes
more than a pipe buffer's worth to stderr before any audio, which stalls a reader that only reads
stdout. Each decode runs in a thread with a deadline, so a stall fails the test instead of
hanging it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from speechmusic import audio
from speechmusic.errors import AudioDecodeError

SR = 8000
SECONDS = 1.5
STDERR_BYTES = 256 * 1024  # four times Linux's 64 KiB pipe buffer

_FAKE_FFMPEG = r'''
import os, sys
import numpy as np
args = sys.argv[1:]
open(os.environ["FAKE_FFMPEG_PIDS"], "a").write(f"{os.getpid()}\n")
for _ in range(int(os.environ["FAKE_FFMPEG_STDERR"]) // 100):
    sys.stderr.write("w" * 99 + "\n")
sys.stderr.flush()
if os.environ.get("FAKE_FFMPEG_FAIL"):
    sys.stderr.write("fake.m4a: Invalid data found when processing input\n")
    sys.exit(1)
sr = int(args[args.index("-ar") + 1])
channels = int(args[args.index("-ac") + 1])
t = np.arange(int(sr * float(os.environ["FAKE_FFMPEG_SECONDS"]))) / sr
tone = 0.5 * np.sin(2 * np.pi * 440 * t)
frames = np.repeat(tone[:, None], channels, axis=1)
if args[args.index("-f") + 1] == "s16le":
    raw = (frames * 32767).astype("<i2").tobytes()
else:
    raw = frames.astype("<f4").tobytes()
sys.stdout.buffer.write(raw)
'''


@pytest.fixture
def fake_ffmpeg(tmp_path, monkeypatch):
    """Put a stand-in ``ffmpeg`` (and an ``ffprobe`` saying: 8 kHz stereo, 1.5 s) where
    ``shutil.which`` finds them; yields the file where the stand-in ffmpeg writes its pids."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ffmpeg = bin_dir / "ffmpeg"
    ffmpeg.write_text(f"#!{sys.executable}\n{_FAKE_FFMPEG}")
    probe = {"streams": [{"sample_rate": str(SR), "channels": 2, "duration": str(SECONDS)}]}
    ffprobe = bin_dir / "ffprobe"
    ffprobe.write_text(f"#!{sys.executable}\nprint({json.dumps(json.dumps(probe))})\n")
    for exe in (ffmpeg, ffprobe):
        exe.chmod(0o755)
    pids = tmp_path / "ffmpeg.pids"
    monkeypatch.setenv("FAKE_FFMPEG_PIDS", str(pids))
    monkeypatch.setenv("FAKE_FFMPEG_STDERR", str(STDERR_BYTES))
    monkeypatch.setenv("FAKE_FFMPEG_SECONDS", str(SECONDS))
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: str(bin_dir / name)
                        if name in ("ffmpeg", "ffprobe") else None)
    yield pids
    _kill_leftovers(pids)


def _kill_leftovers(pids: Path) -> None:
    """End the stand-in processes this test started that still run (a stalled decode)."""
    if not pids.exists():
        return
    for pid in map(int, pids.read_text().split()):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _within(seconds: float, fn, pids: Path):
    """``fn()``'s result, or a failure if it is not done within ``seconds`` (the stand-in is then
    killed, which unblocks the stalled reader)."""
    box: dict = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # re-raised in the test's thread
            box["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        _kill_leftovers(pids)
        worker.join(5)
        pytest.fail(f"decoding stalled: not done within {seconds} s (stderr pipe never drained)")
    if "error" in box:
        raise box["error"]
    return box["result"]


@pytest.fixture
def m4a(tmp_path) -> Path:
    """A file libsndfile cannot read, so that the ffmpeg fallback decodes it."""
    path = tmp_path / "fake.m4a"
    path.write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(64))
    return path


def test_streamed_ffmpeg_fallback_drains_a_chatty_stderr(fake_ffmpeg, m4a):
    blocks = _within(20, lambda: list(audio.iter_audio_blocks(m4a, sr=SR, block_seconds=0.25)),
                     fake_ffmpeg)
    assert sum(map(len, blocks)) == int(SR * SECONDS)
    assert np.max(np.abs(np.concatenate(blocks))) == pytest.approx(1.0, abs=1e-3)  # normalised


def test_ffmpeg_decoder_drains_a_chatty_stderr(fake_ffmpeg, write_wav):
    path = write_wav("x.wav", np.zeros(SR, np.float32), SR)
    blocks = _within(20, lambda: list(audio.iter_audio_blocks(path, sr=SR, block_seconds=0.25,
                                                              decoder="ffmpeg")), fake_ffmpeg)
    assert sum(map(len, blocks)) == int(SR * SECONDS)
    assert np.max(np.abs(np.concatenate(blocks))) == pytest.approx(0.5, abs=1e-3)


def test_whole_file_ffmpeg_fallback_with_a_chatty_stderr(fake_ffmpeg, m4a):
    samples = _within(20, lambda: audio.load_audio(m4a, sr=None), fake_ffmpeg)
    assert samples.shape == (int(SR * SECONDS),)


@pytest.mark.parametrize("decoder", ["auto", "ffmpeg"])
def test_ffmpeg_failure_reports_the_last_line_of_a_long_stderr(fake_ffmpeg, m4a, monkeypatch, decoder):
    monkeypatch.setenv("FAKE_FFMPEG_FAIL", "1")
    with pytest.raises(AudioDecodeError, match="ffmpeg failed: .*Invalid data found"):
        _within(20, lambda: list(audio.iter_audio_blocks(m4a, sr=SR, decoder=decoder)), fake_ffmpeg)


def test_one_decode_at_several_rates_by_the_ffmpeg_command(fake_ffmpeg, write_wav):
    path = write_wav("x.wav", np.zeros(SR, np.float32), SR)  # libsndfile could read it; ffmpeg is asked
    items = _within(20, lambda: list(audio.iter_audio_rates(path, (SR, 2 * SR), block_seconds=0.25,
                                                            decoder="ffmpeg")), fake_ffmpeg)
    at_sr, at_double = (np.concatenate(column) for column in zip(*items, strict=True))
    assert len(at_sr) == int(SR * SECONDS) and len(at_double) == 2 * len(at_sr)
    assert np.max(np.abs(at_sr)) == pytest.approx(0.5, abs=1e-3)  # the stand-in's tone, not the file's zeros
