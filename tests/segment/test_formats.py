"""Every segment format written is read back to the same segments."""

from __future__ import annotations

import pytest

from speechmusic.errors import ConfigError, SpeechMusicError
from speechmusic.segment import FORMATS, Segment, parse_segments, read_segments, write_segments

SEGMENTS = [Segment("noEnergy", 0.0, 0.46), Segment("speech", 0.46, 8.2, 0.9664),
            Segment("music", 8.2, 12.58, 0.5), Segment("female", 12.58, 13.0, 0.75)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip(tmp_path, fmt):
    path = write_segments(SEGMENTS, tmp_path / f"clip.{fmt}", fmt=fmt)
    back = read_segments(path, fmt=fmt)
    expected = [s for s in SEGMENTS if not (fmt == "rttm" and s.label == "noEnergy")]
    assert [s.label for s in back] == [s.label for s in expected]
    for a, b in zip(back, expected, strict=True):
        assert a.start == pytest.approx(b.start, abs=1e-6) and a.stop == pytest.approx(b.stop, abs=1e-6)
    if fmt in ("csv", "json"):
        assert [s.probability for s in back] == [s.probability for s in expected]


def test_extension_picks_the_format(tmp_path):
    for name in ("a.csv", "a.TextGrid", "a.rttm", "a.json"):
        assert "speech" in [s.label for s in read_segments(write_segments(SEGMENTS, tmp_path / name))]
    with pytest.raises(ConfigError, match="extension"):
        write_segments(SEGMENTS, tmp_path / "a.xyz")


def test_textgrid_is_praat_long_format(tmp_path):
    text = (write_segments(SEGMENTS, tmp_path / "a.TextGrid")).read_text()
    assert text.startswith('File type = "ooTextFile"') and "intervals: size = 4" in text


def test_reads_inaspeechsegmenter_csv(tmp_path):
    path = tmp_path / "ina.csv"
    path.write_text("labels\tstart\tstop\nspeech\t0.0\t1.5\nmusic\t1.5\t3.0\n")
    assert [(s.label, s.stop) for s in read_segments(path)] == [("speech", 1.5), ("music", 3.0)]


def test_malformed_file_is_a_clear_error():
    with pytest.raises(SpeechMusicError, match="malformed csv"):
        parse_segments("label,start,stop\nspeech,zero,1\n", "csv")
