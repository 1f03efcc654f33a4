"""Every segment format written is read back to the same segments."""

from __future__ import annotations

import pytest

from speechmusic.errors import ConfigError, SpeechMusicError
from speechmusic.segment import (
    EXTENSIONS,
    FORMATS,
    Segment,
    format_segments,
    parse_segments,
    read_segments,
    write_segments,
)
from speechmusic.segment.formats import merge_short_segments

SEGMENTS = [Segment("noEnergy", 0.0, 0.46), Segment("speech", 0.46, 8.2, 0.9664),
            Segment("music", 8.2, 12.58, 0.5), Segment("female", 12.58, 13.0, 0.75)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip(tmp_path, fmt):
    path = write_segments(SEGMENTS, tmp_path / f"clip.{fmt}", fmt=fmt)
    back = read_segments(path, fmt=fmt)
    expected = [s for s in SEGMENTS if not (fmt in ("rttm", "mirex") and s.label == "noEnergy")]
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


# ----------------------------------------------------------------------------- the 'ina' format
# Times as the segmenter (and inaSpeechSegmenter) compute them: frame index * 0.02.
GRID = [Segment("noEnergy", 0 * 0.02, 23 * 0.02), Segment("speech", 23 * 0.02, 357 * 0.02, 0.9),
        Segment("music", 357 * 0.02, 629 * 0.02, 0.8), Segment("female", 629 * 0.02, 650 * 0.02)]
# What inaSpeechSegmenter 0.6.8's seg2csv (pandas' to_csv, sep='\t', index=False) writes for them.
INA_BYTES = (b"labels\tstart\tstop\n"
             b"noEnergy\t0.0\t0.46\n"
             b"speech\t0.46\t7.140000000000001\n"
             b"music\t7.140000000000001\t12.58\n"
             b"female\t12.58\t13.0\n")


def test_ina_format_is_the_originals_bytes(tmp_path):
    path = write_segments(GRID, tmp_path / "clip.csv", fmt="ina")
    assert path.read_bytes() == INA_BYTES
    # Times already rounded (7.14) are put back on the original's grid: the same bytes.
    rounded = [Segment(s.label, round(s.start, 2), round(s.stop, 2)) for s in GRID]
    assert format_segments(rounded, "ina").encode() == INA_BYTES
    # A time off the 20 ms grid is written as it is, not moved.
    assert format_segments([Segment("speech", 0.013, 1.0)], "ina").splitlines()[1] == "speech\t0.013\t1.0"
    assert format_segments([], "ina") == "labels\tstart\tstop\n"


def test_ina_format_round_trips_and_is_recognised_by_its_header(tmp_path):
    path = tmp_path / "clip.csv"
    path.write_bytes(INA_BYTES)
    for back in (read_segments(path), read_segments(path, fmt="ina")):
        assert [(s.label, s.start, s.stop) for s in back] == [(s.label, s.start, s.stop) for s in GRID]
    assert EXTENSIONS["ina"] == ".csv"
    assert read_segments(write_segments(GRID, tmp_path / "ours.csv"))[1].probability == 0.9


def test_textgrid_tier_is_named_as_the_originals():
    text = format_segments(SEGMENTS, "textgrid", engine="smn")
    assert 'name = "inaSpeechSegmenter"' in text and 'name = "smn"' not in text


# ----------------------------------------------------------------------------- min_duration_on
def _lab(segs):
    return [(s.label, round(s.start, 6), round(s.stop, 6)) for s in segs]


def test_min_duration_on_merges_short_segments_into_the_longer_neighbour():
    segs = [Segment("speech", 0.0, 3.0, 0.9), Segment("music", 3.0, 3.2, 0.6),
            Segment("speech", 3.2, 5.0, 0.7), Segment("noise", 5.0, 5.1, 0.5),
            Segment("music", 5.1, 9.0, 0.8)]
    out = merge_short_segments(segs, 0.5)
    # Shortest first: noise 5.0-5.1 goes to its longer neighbour (music 3.9 s, not speech 1.8 s);
    # then music 3.0-3.2 goes to the speech before it (3.0 s), which joins the speech after it.
    assert _lab(out) == [("speech", 0.0, 5.0), ("music", 5.0, 9.0)]
    # Probabilities: the duration-weighted mean of the joined speech (the absorbed parts count
    # as their neighbour's).
    assert out[0].probability == pytest.approx((0.9 * 3.2 + 0.7 * 1.8) / 5.0)
    assert out[1].probability == 0.8
    assert merge_short_segments(segs, 0.0) == segs  # 0: unchanged
    assert merge_short_segments(segs, 0.1) == segs  # nothing shorter


def test_min_duration_on_leaves_noenergy_alone():
    segs = [Segment("noEnergy", 0.0, 0.1), Segment("speech", 0.1, 0.3, 0.9),
            Segment("noEnergy", 0.3, 0.35), Segment("music", 0.35, 2.0, 0.8),
            Segment("speech", 2.0, 2.2, 0.6), Segment("noEnergy", 2.2, 3.0)]
    out = merge_short_segments(segs, 0.5)
    # speech 0.1-0.3 has only pauses around it: kept; the pause 0.3-0.35 is never merged;
    # speech 2.0-2.2 goes into the music before it (a pause after it).
    assert _lab(out) == [("noEnergy", 0.0, 0.1), ("speech", 0.1, 0.3), ("noEnergy", 0.3, 0.35),
                         ("music", 0.35, 2.2), ("noEnergy", 2.2, 3.0)]


def test_min_duration_on_shortest_first_and_ties_to_the_earlier():
    segs = [Segment("speech", 0.0, 1.0), Segment("music", 1.0, 1.3), Segment("noise", 1.3, 1.4),
            Segment("speech", 1.4, 2.4)]
    # noise (0.1 s) first, into the speech after it (1.0 s, longer than the music's 0.3 s); then
    # the music, between two speech segments, joins them into one.
    assert _lab(merge_short_segments(segs, 0.5)) == [("speech", 0.0, 2.4)]
    # Below 0.2 s only the noise goes.
    assert _lab(merge_short_segments(segs, 0.2)) == [("speech", 0.0, 1.0), ("music", 1.0, 1.3),
                                                     ("speech", 1.3, 2.4)]
    # Neighbours of the same length: the earlier one takes it.
    tie = [Segment("speech", 0.0, 1.0), Segment("noise", 1.0, 1.1), Segment("music", 1.1, 2.1)]
    assert _lab(merge_short_segments(tie, 0.5)) == [("speech", 0.0, 1.1), ("music", 1.1, 2.1)]
    with pytest.raises(ConfigError):
        merge_short_segments(tie, -1)


def test_min_duration_on_on_random_segmentations():
    import random

    rng = random.Random(0)
    for _ in range(50):
        k, segs = 0, []
        for _ in range(rng.randint(1, 200)):
            length = rng.choice([1, 2, 3, 5, 10, 30, 100])
            label = rng.choice(["speech", "music", "noise", "noEnergy", "female"])
            if segs and segs[-1].label == label:
                continue
            segs.append(Segment(label, k * 0.02, (k + length) * 0.02, rng.random()))
            k += length
        minimum = rng.choice([0.05, 0.1, 0.5, 1.0])
        out = merge_short_segments(segs, minimum)
        # Same span, contiguous, pauses untouched, and no two neighbours with the same label.
        assert out[0].start == segs[0].start and out[-1].stop == segs[-1].stop
        assert all(abs(a.stop - b.start) < 1e-9 for a, b in zip(out, out[1:], strict=False))
        assert [s for s in out if s.label == "noEnergy"] == [s for s in segs if s.label == "noEnergy"]
        assert all(a.label != b.label for a, b in zip(out, out[1:], strict=False) if "noEnergy" not in (a.label, b.label))
        # Every short segment left has pauses (or nothing) on both sides.
        for i, s in enumerate(out):
            if s.label != "noEnergy" and s.duration < minimum - 1e-9:
                around = out[max(i - 1, 0): i] + out[i + 1: i + 2]
                assert all(n.label == "noEnergy" for n in around), (i, s, around)
