"""The generated programme: its truth tiles the audio, holds every class and matches the sound."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def programme(renderers):
    from speechmusic.demo import render_programme

    return render_programme(seed=3, seconds=40.0, sr=16000)


def test_truth_covers_the_audio(programme):
    audio, segments = programme
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert audio.size == 40 * 16000
    assert segments[0].start == 0.0
    assert segments[-1].stop == pytest.approx(audio.size / 16000)
    for a, b in zip(segments[:-1], segments[1:], strict=True):
        assert a.stop == b.start and a.label != b.label
    assert all(s.stop > s.start for s in segments)


def test_every_class_appears(programme):
    from speechmusic.demo import PROGRAMME_LABELS

    _, segments = programme
    assert {s.label for s in segments} == set(PROGRAMME_LABELS)


def test_truth_matches_the_sound(programme):
    audio, segments = programme
    assert np.isfinite(audio).all() and np.max(np.abs(audio)) <= 0.99
    for s in segments:
        part = audio[int(round(s.start * 16000)): int(round(s.stop * 16000))].astype(np.float64)
        level = 10 * np.log10(np.mean(part ** 2))
        if s.label == "noEnergy":
            assert level < -65, s
        else:
            assert level > -40, s


def test_same_seed_same_programme(programme, renderers):
    from speechmusic.demo import render_programme

    audio, segments = render_programme(seed=3, seconds=40.0, sr=16000)
    assert np.array_equal(audio, programme[0])
    assert segments == programme[1]


def test_write_programme_round_trips(renderers, tmp_path):
    import soundfile as sf

    from speechmusic.demo import write_programme
    from speechmusic.segment.formats import read_segments

    wav, truth = write_programme(tmp_path, seed=0, seconds=12.0, sr=22050)
    info = sf.info(str(wav))
    assert info.samplerate == 22050 and info.frames == 12 * 22050
    segments = read_segments(truth)
    assert segments[0].start == 0.0 and segments[-1].stop == pytest.approx(12.0)


def test_too_short_a_programme_is_refused(renderers):
    from speechmusic.demo import render_programme
    from speechmusic.errors import ConfigError

    with pytest.raises(ConfigError, match="at least 10 s"):
        render_programme(seconds=5.0)
