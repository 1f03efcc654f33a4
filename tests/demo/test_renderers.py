"""The renderers one by one: eSpeak speech and singing, scores, noise, recording chains."""

from __future__ import annotations

import numpy as np
import pytest


def _f0(audio: np.ndarray, sr: int) -> float:
    """Median autocorrelation pitch of the voiced frames."""
    frame, out = 2048, []
    for start in range(0, audio.size - frame, frame // 2):
        seg = audio[start: start + frame].astype(np.float64)
        if np.sqrt(np.mean(seg ** 2)) < 0.01:
            continue
        ac = np.correlate(seg, seg, "full")[frame - 1:]
        lo, hi = sr // 1000, sr // 60
        out.append(sr / (lo + np.argmax(ac[lo:hi])))
    return float(np.median(out))


def test_speech_is_reproducible_after_reset(renderers):
    from speechmusic.demo import speech

    def say() -> np.ndarray:
        rng = np.random.default_rng(11)
        return speech.speak(rng, speaker=speech.random_speaker(rng), seconds=2.0)

    speech.reset()
    first = say()
    speech.reset()
    assert np.array_equal(first, say())
    assert first.size == 2 * speech.ESPEAK_SR and np.max(np.abs(first)) > 0.05


def test_voices_have_their_gender(renderers):
    from speechmusic.demo import speech

    rng = np.random.default_rng(0)
    for gender in ("male", "female"):
        s = speech.random_speaker(rng, gender=gender)
        assert s.gender == gender
    assert speech.Speaker("en", "f2", 170, 50, 50).voice == "en+f2"
    low = speech.synthesize("ah", voice="en+m3", pitch=50, pitch_range=0)
    high = speech.synthesize("ah", voice="en+f2", pitch=50, pitch_range=0)
    assert _f0(high, speech.ESPEAK_SR) > 1.5 * _f0(low, speech.ESPEAK_SR)


def test_sung_notes_hold_their_pitch(renderers):
    from speechmusic.demo import speech

    line = speech.sing([speech.SungNote(220.0, 0.1, 1.2, "la")], voice="es+f2", seconds=1.5)
    assert _f0(line, speech.ESPEAK_SR) == pytest.approx(220.0, rel=0.03)
    assert np.max(np.abs(line[: int(0.05 * speech.ESPEAK_SR)])) == 0.0  # nothing before the note


def test_sentences_come_from_the_word_lists(renderers):
    from speechmusic.demo.lexicon import LANGUAGES
    from speechmusic.demo.speech import sentence

    rng = np.random.default_rng(0)
    for language in LANGUAGES:
        text = sentence(rng, language=language)
        assert text[0].isupper() and text[-1] in ".?!" and len(text.split()) >= 4


@pytest.mark.parametrize("texture", ["solo", "chamber", "band", "orchestral", "choir"])
def test_scores_have_the_parts_asked_for(renderers, texture):
    from speechmusic.demo.music import INSTRUMENTS, SYNTH_SR, TEXTURES, compose, render

    rng = np.random.default_rng(5)
    lo, hi = TEXTURES[texture]
    for parts in range(lo, hi + 1):
        score = compose(rng, seconds=2.0, texture=texture, parts=parts)
        assert len(score.parts) == parts
        assert all(p.notes for p in score.parts)
        for p in score.parts:
            if not p.is_drum and p.singer is None:
                low, high = INSTRUMENTS[p.name][1:]
                assert all(low - 12 <= n.pitch <= high + 12 for n in p.notes), p.describe()
    audio = render(score)
    assert audio.size == 2 * SYNTH_SR and np.sqrt(np.mean(audio ** 2)) > 0.01


def test_a_voice_with_accompaniment(renderers):
    from speechmusic.demo.music import Vocal, compose

    rng = np.random.default_rng(2)
    score = compose(rng, seconds=2.0, texture="band", parts=4, vocal=Vocal("female", "espeak", "it"))
    assert score.vocal_genders == {"female"}
    assert sum(p.is_vocal for p in score.parts) == 1 and len(score.parts) == 4
    assert score.parts[0].singer.startswith("it+f")
    alone = compose(rng, seconds=2.0, texture="solo", parts=1, vocal=Vocal("male", "soundfont"))
    assert [p.is_vocal for p in alone.parts] == [True]


def test_compose_refuses_impossible_requests(renderers):
    from speechmusic.demo.music import compose
    from speechmusic.errors import ConfigError

    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError):
        compose(rng, seconds=2.0, texture="orchestral", parts=2)
    with pytest.raises(ConfigError):
        compose(rng, seconds=2.0, texture="disco", parts=2)


def test_every_noise_kind_renders(renderers):
    from speechmusic.demo.noise import NOISE_KINDS, render_noise

    for kind in NOISE_KINDS:
        audio = render_noise(np.random.default_rng(1), kind=kind, seconds=1.0, sr=16000)
        assert audio.shape == (16000,) and audio.dtype == np.float32, kind
        assert np.isfinite(audio).all() and np.sqrt(np.mean(audio ** 2)) > 1e-3, kind


def test_recording_chain_sets_rate_length_and_level():
    from speechmusic.demo.degrade import RecordingChain

    chain = RecordingChain(22050, band=(200.0, 4500.0), rt60=(0.3, 0.4), wet=(0.2, 0.3),
                           background=("pink",), snr_db=(20.0, 20.0), compression=(4.0, 4.0),
                           drive=(2.0, 2.0), codec=("MP3", "MPEG_LAYER_III", (0.8, 0.8)),
                           peak_db=(-6.0, -6.0))
    rng = np.random.default_rng(0)
    x = np.sin(2 * np.pi * 440 * np.arange(44100) / 44100).astype(np.float32)
    y = chain.apply(x, sr=44100, rng=rng)
    assert y.size == 22050 and y.dtype == np.float32
    assert 20 * np.log10(np.max(np.abs(y))) == pytest.approx(-6.0, abs=0.01)
    again = chain.apply(x, sr=44100, rng=np.random.default_rng(0))
    assert np.array_equal(y, again)


def test_missing_renderer_says_how_to_install():
    from speechmusic.demo._deps import DemoUnavailableError, require

    with pytest.raises(DemoUnavailableError, match=r"speechmusic\[demo\]"):
        require("no_such_renderer_module")
