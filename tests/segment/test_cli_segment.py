"""``speechmusic segment``: batches with failures, skipping, formats, frame probabilities."""

from __future__ import annotations

import numpy as np
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
