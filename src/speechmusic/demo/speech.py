"""Speech, babble and sung vowels from eSpeak NG, called through ctypes.

The library and its voice data come from the ``espeakng-loader`` wheel. Synthesis is synchronous
(``AUDIO_OUTPUT_SYNCHRONOUS``): eSpeak hands its 22050 Hz int16 samples to a callback while
``espeak_Synth`` runs, so nothing plays and nothing is written to disk.

eSpeak keeps state from one utterance to the next (static variables such as its pitch-flutter
phase), so the same call twice in one process gives slightly different samples. :func:`reset`
unloads and reloads the library, which brings it back to the state of a fresh process; every
clip and programme item of the demo corpus starts with it, so that each is a function of its own
seed alone, whatever was rendered before it.

Voices are ``<language>+<variant>``: the ``m1``..``m7`` variants are male, ``f1``..``f5``
female. Singing uses ``espeak_ng_SetConstF0``, which holds the voice on one exact pitch.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np

from speechmusic.demo._deps import DemoUnavailableError, require
from speechmusic.demo.lexicon import LANGUAGES, LEXICON
from speechmusic.errors import ConfigError

__all__ = ["ESPEAK_SR", "MALE_VARIANTS", "FEMALE_VARIANTS", "Speaker", "SungNote", "random_speaker",
           "sentence", "synthesize", "speak", "babble", "sing", "reset"]

#: eSpeak NG's output rate.
ESPEAK_SR = 22050
MALE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7")
FEMALE_VARIANTS = ("f1", "f2", "f3", "f4", "f5")

# espeak_AUDIO_OUTPUT, espeak_PARAMETER, flags (speak_lib.h)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_RATE, _VOLUME, _PITCH, _RANGE, _WORDGAP = 1, 2, 3, 4, 7
_POS_CHARACTER = 1
_CHARS_UTF8, _SSML = 0x1, 0x10
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.c_void_p)


class _Engine:
    """libespeak-ng loaded and initialised; :meth:`close` unloads it again."""

    def __init__(self) -> None:
        loader = require("espeakng_loader")
        try:
            lib = ctypes.CDLL(loader.get_library_path())
        except OSError as exc:
            raise DemoUnavailableError(f"cannot load libespeak-ng from espeakng-loader: {exc}") from None
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_ng_SetConstF0.argtypes = [ctypes.c_int]
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, loader.get_data_path().encode(),
                                     _INITIALIZE_DONT_EXIT)
        if rate != ESPEAK_SR:
            raise DemoUnavailableError(f"eSpeak NG failed to initialise (returned {rate})")
        # Both random generators eSpeak may draw from start from a fixed seed.
        lib.espeak_ng_SetRandSeed(1)
        self._rand = _PrivateLibcRand(seed=1)
        self.lib = lib
        self.used = False
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)  # kept referenced: C holds only the pointer
        lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, n: int, _events) -> int:
        if n > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0  # 0: go on synthesising

    def synth(self, text: str, *, voice: str, rate: int, pitch: int, pitch_range: int,
              volume: int, word_gap: int, const_f0: int, ssml: bool) -> np.ndarray:
        self.used = True
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ConfigError(f"eSpeak NG has no voice {voice!r}")
        for param, value in ((_RATE, rate), (_PITCH, pitch), (_RANGE, pitch_range),
                             (_VOLUME, volume), (_WORDGAP, word_gap)):
            self.lib.espeak_SetParameter(param, int(value), 0)
        self.lib.espeak_ng_SetConstF0(int(const_f0))
        data = text.encode("utf-8")
        self._chunks = []
        flags = _CHARS_UTF8 | (_SSML if ssml else 0)
        with self._rand.active():
            err = self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, flags, None, None)
            self.lib.espeak_Synchronize()
        if err != 0:
            raise DemoUnavailableError(f"eSpeak NG failed on {text!r} (error {err})")
        if not self._chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(self._chunks)

    def close(self) -> None:
        """Terminate eSpeak and unload the library, so that the next load starts afresh."""
        self.lib.espeak_Terminate()
        handle = self.lib._handle
        del self.lib
        _dlclose(handle)


class _PrivateLibcRand:
    """A state of the C library's ``rand()`` of our own, seeded once: eSpeak draws from
    ``rand()``, and with this state swapped in around each synthesis its draws are a function of
    our seed, while the host process's own ``rand()`` sequence is neither reseeded nor advanced
    (glibc's ``initstate``/``setstate``; a no-op where the C library has none)."""

    def __init__(self, *, seed: int) -> None:
        self._buf = ctypes.create_string_buffer(128)  # 128 bytes: glibc's default generator
        try:
            libc = ctypes.CDLL(None)
            libc.initstate.argtypes = [ctypes.c_uint, ctypes.c_char_p, ctypes.c_size_t]
            libc.initstate.restype = ctypes.c_void_p
            libc.setstate.argtypes = [ctypes.c_void_p]
            libc.setstate.restype = ctypes.c_void_p
        except (OSError, AttributeError, TypeError):  # no C library in the global namespace
            self._libc = None
            return
        self._libc = libc
        libc.setstate(libc.initstate(seed, self._buf, len(self._buf)))

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        if self._libc is None:
            yield
            return
        previous = self._libc.setstate(ctypes.addressof(self._buf))
        try:
            yield
        finally:
            self._libc.setstate(previous)


def _dlclose(handle: int) -> None:
    import _ctypes

    closer = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary", None)
    if closer is not None:
        closer(handle)


_ENGINE: _Engine | None = None
_ENGINE_PID = -1
_CANARY: str | None = None  # what a fresh library says first, in this process
_WARNED = False


def _engine() -> _Engine:
    global _ENGINE, _ENGINE_PID, _CANARY, _WARNED
    if _ENGINE is not None and _ENGINE_PID != os.getpid():
        _ENGINE.close()  # inherited through fork: unload it, or the new load would share its state
        _ENGINE = None
    if _ENGINE is None:
        _ENGINE, _ENGINE_PID = _Engine(), os.getpid()
        # The same short utterance from every fresh load: if the reload did not reset the
        # library (someone else holds it loaded), say so once.
        canary = _ENGINE.synth("ah", voice="en", rate=175, pitch=50, pitch_range=50, volume=70,
                               word_gap=0, const_f0=0, ssml=False).tobytes().hex()
        _ENGINE.used = False
        if _CANARY is None:
            _CANARY = canary
        elif canary != _CANARY and not _WARNED:
            import warnings

            warnings.warn("eSpeak NG could not be reloaded to a fresh state (is libespeak-ng "
                          "loaded by another module?): speech may differ between builds",
                          RuntimeWarning, stacklevel=2)
            _WARNED = True
    return _ENGINE


def reset() -> None:
    """Bring eSpeak back to the state of a fresh process (if it was used since the last reset)."""
    global _ENGINE
    if _ENGINE is not None and _ENGINE_PID == os.getpid() and _ENGINE.used:
        _ENGINE.close()
        _ENGINE = None


def synthesize(text: str, *, voice: str = "en", rate: int = 175, pitch: int = 50,
               pitch_range: int = 50, volume: int = 70, word_gap: int = 0, const_f0: int = 0,
               ssml: bool = False) -> np.ndarray:
    """One utterance as float32 samples at :data:`ESPEAK_SR`.

    ``rate`` is in words per minute (80..450), ``pitch`` and ``pitch_range`` 0..100,
    ``const_f0`` (Hz, 0: off) holds the whole utterance on one pitch. ``volume`` 70 keeps loud
    voices clear of eSpeak's own clipping at 100.
    """
    raw = _engine().synth(text, voice=voice, rate=rate, pitch=pitch, pitch_range=pitch_range,
                          volume=volume, word_gap=word_gap, const_f0=const_f0, ssml=ssml)
    return raw.astype(np.float32) / np.float32(32768.0)


def _trim(audio: np.ndarray, *, threshold: float = 2e-3) -> np.ndarray:
    """Cut eSpeak's leading and trailing silence."""
    loud = np.flatnonzero(np.abs(audio) > threshold)
    return audio[loud[0]: loud[-1] + 1] if loud.size else audio[:0]


def _fade(audio: np.ndarray, *, sr: int, fade_in: float = 0.005, fade_out: float = 0.02) -> np.ndarray:
    out = audio.copy()
    n_in, n_out = min(len(out), int(fade_in * sr)), min(len(out), int(fade_out * sr))
    if n_in:
        out[:n_in] *= np.linspace(0.0, 1.0, n_in, dtype=np.float32)
    if n_out:
        out[len(out) - n_out:] *= np.linspace(1.0, 0.0, n_out, dtype=np.float32)
    return out


# ----------------------------------------------------------------------------- speakers, text


@dataclass(frozen=True)
class Speaker:
    """An eSpeak voice with its speaking habits: the demo corpus's notion of a speaker."""

    language: str
    variant: str
    rate: int
    pitch: int
    pitch_range: int
    word_gap: int = 0

    @property
    def voice(self) -> str:
        return f"{self.language}+{self.variant}"

    @property
    def gender(self) -> str:
        return "female" if self.variant.startswith("f") else "male"

    def describe(self) -> str:
        return f"voice={self.voice} rate={self.rate} pitch={self.pitch} range={self.pitch_range}"


def random_speaker(rng: np.random.Generator, *, gender: str | None = None,
                   languages: Sequence[str] = LANGUAGES,
                   rate: tuple[int, int] = (140, 195)) -> Speaker:
    """A random speaker; ``gender`` ``"male"``/``"female"`` or ``None`` for either."""
    if gender is None:
        gender = "female" if rng.random() < 0.5 else "male"
    if gender not in ("male", "female"):
        raise ConfigError(f"gender must be 'male' or 'female', got {gender!r}")
    variants = FEMALE_VARIANTS if gender == "female" else MALE_VARIANTS
    return Speaker(language=str(rng.choice(list(languages))), variant=str(rng.choice(variants)),
                   rate=int(rng.integers(rate[0], rate[1] + 1)), pitch=int(rng.integers(30, 71)),
                   pitch_range=int(rng.integers(35, 91)), word_gap=int(rng.integers(0, 3)))


def sentence(rng: np.random.Generator, *, language: str) -> str:
    """A sentence put together from the word lists of ``language``."""
    try:
        words = LEXICON[language]
    except KeyError:
        raise ConfigError(f"no word list for language {language!r}; have {list(LEXICON)}") from None

    def pick(key: str) -> str:
        return str(rng.choice(words[key]))

    kind = int(rng.integers(0, 5))
    if kind == 0:
        text = f"{pick('subjects')} {pick('verbs')} {pick('objects')} {pick('places')}"
    elif kind == 1:
        text = f"{pick('times')}, {pick('subjects')} {pick('verbs')} {pick('objects')}"
    elif kind == 2:
        text = (f"{pick('subjects')} {pick('verbs')} {pick('objects')}, {pick('conjunctions')} "
                f"{pick('subjects')} {pick('verbs')} {pick('objects')} {pick('places')}")
    elif kind == 3:
        text = f"{pick('phrases')}. {pick('subjects')} {pick('verbs')} {pick('objects')}"
    else:
        text = f"{pick('subjects')} {pick('places')} {pick('verbs')} {pick('objects')} {pick('times')}"
    mark = "?" if rng.random() < 0.15 else ("!" if rng.random() < 0.1 else ".")
    return text[0].upper() + text[1:] + mark


# ----------------------------------------------------------------------------- speech


def speak(rng: np.random.Generator, *, speaker: Speaker, seconds: float,
          pause: tuple[float, float] = (0.12, 0.7), lead: tuple[float, float] = (0.03, 0.3)) -> np.ndarray:
    """``seconds`` of ``speaker`` reading generated sentences, as float32 at :data:`ESPEAK_SR`.

    Rate and pitch wander a little from sentence to sentence, and a pause drawn from ``pause``
    separates sentences, as in read speech.
    """
    target = int(round(seconds * ESPEAK_SR))
    pieces = [np.zeros(int(rng.uniform(*lead) * ESPEAK_SR), dtype=np.float32)]
    total = pieces[0].size
    while total < target:
        text = sentence(rng, language=speaker.language)
        audio = _trim(synthesize(
            text, voice=speaker.voice, rate=int(np.clip(speaker.rate + rng.integers(-12, 13), 80, 400)),
            pitch=int(np.clip(speaker.pitch + rng.integers(-5, 6), 0, 100)),
            pitch_range=speaker.pitch_range, word_gap=speaker.word_gap))
        gap = np.zeros(int(rng.uniform(*pause) * ESPEAK_SR), dtype=np.float32)
        pieces += [audio, gap]
        total += audio.size + gap.size
    out = np.concatenate(pieces)[:target]
    return _fade(out, sr=ESPEAK_SR, fade_in=0.0)


def babble(rng: np.random.Generator, *, seconds: float, talkers: int = 10) -> np.ndarray:
    """Crowd babble: ``talkers`` quiet speakers of mixed languages and genders, overlapped."""
    if talkers < 1:
        raise ConfigError(f"talkers must be >= 1, got {talkers}")
    n = int(round(seconds * ESPEAK_SR))
    mix = np.zeros(n, dtype=np.float32)
    for _ in range(talkers):
        voice = speak(rng, speaker=random_speaker(rng), seconds=seconds + 1.5, pause=(0.05, 0.4))
        start = int(rng.integers(0, voice.size - n + 1))
        part = voice[start: start + n]
        rms = float(np.sqrt(np.mean(part ** 2))) + 1e-9
        mix += part * np.float32(10 ** (rng.uniform(-4.0, 2.0) / 20) / rms)
    return mix / np.float32(np.sqrt(talkers))


# ----------------------------------------------------------------------------- singing


@dataclass(frozen=True)
class SungNote:
    """One sung syllable: a pitch in Hz held from ``start`` to ``end`` seconds."""

    hz: float
    start: float
    end: float
    lyric: str


_VOWELS = "aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüœ"


def _held(lyric: str, seconds: float) -> str:
    """``lyric`` with its last vowel repeated so that eSpeak holds it about ``seconds`` long
    (each repeat adds roughly 0.1 s at the slowest rate): "love" -> "loooove"."""
    extra = int(np.clip(np.ceil((seconds - 0.55) / 0.1), 0, 40))
    idx = max((i for i, ch in enumerate(lyric.lower()) if ch in _VOWELS), default=-1)
    if extra == 0 or idx < 0:
        return lyric
    return lyric[: idx + 1] + lyric[idx] * extra + lyric[idx + 1:]


def sing(notes: Sequence[SungNote], *, voice: str, seconds: float, volume: int = 70) -> np.ndarray:
    """A vocal line sung by an eSpeak voice, as float32 at :data:`ESPEAK_SR`.

    Every note is one syllable spoken as slowly as eSpeak goes, its vowel drawn out to the
    note's length, held on the note's exact pitch (``espeak_ng_SetConstF0``), trimmed of its
    silences and cut to the note's length with a short fade: a plain, vibrato-less but clearly
    pitched voice.
    """
    n = int(round(seconds * ESPEAK_SR))
    out = np.zeros(n, dtype=np.float32)
    for note in notes:
        start = int(round(note.start * ESPEAK_SR))
        if start >= n or note.end <= note.start:
            continue
        ssml = f"<speak><prosody rate='x-slow'>{escape(_held(note.lyric, note.end - note.start))}</prosody></speak>"
        audio = _trim(synthesize(ssml, voice=voice, rate=80, pitch_range=0, volume=volume,
                                 const_f0=max(1, int(round(note.hz))), ssml=True))
        length = min(audio.size, int(round((note.end - note.start) * ESPEAK_SR)), n - start)
        if length > 0:
            out[start: start + length] += _fade(audio[:length], sr=ESPEAK_SR, fade_out=0.04)
    return out
