"""Music of the demo corpus: scores generated in code, rendered through a General MIDI soundfont.

:func:`compose` writes a :class:`Score` (melody, counter-melody, chords, arpeggios, pads, bass
line, drums, vocal lines) in a style, key, mode, metre and tempo drawn from the random generator,
for a texture (solo, chamber, band, orchestral, choir) and a number of simultaneous parts (1 to
6). :func:`render` turns each part into MIDI with ``pretty_midi`` and synthesises it with
``tinysoundfont`` through ``TimGM6mb.sf2``, the General MIDI soundfont that ships in the
``pretty_midi`` wheel. Vocal lines use the soundfont's voice programs (52 choir aahs, 53 voice
oohs, 54 synth voice) or eSpeak NG voices singing syllables on exact pitches
(:func:`speechmusic.demo.speech.sing`).

Parts are rendered one by one and mixed at chosen levels, so every part of an ensemble is heard
(the task "how many parts play" must be answerable from the audio).
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass, field

import numpy as np

from speechmusic.audio import resample
from speechmusic.demo._deps import require
from speechmusic.demo.lexicon import LANGUAGES, LEXICON
from speechmusic.errors import ConfigError

__all__ = ["SYNTH_SR", "INSTRUMENTS", "STYLES", "TEXTURES", "Note", "Part", "Score", "Vocal",
           "compose", "render", "soundfont_path", "render_sfx"]

#: Rate of the soundfont synthesiser (and of every mix in the demo corpus).
SYNTH_SR = 44100

#: name -> (General MIDI program, lowest, highest MIDI note); "drums" is the GM percussion kit.
INSTRUMENTS: dict[str, tuple[int, int, int]] = {
    "piano": (0, 36, 96), "bright piano": (1, 36, 96), "electric piano": (4, 36, 90),
    "harpsichord": (6, 41, 89), "celesta": (8, 60, 96), "music box": (10, 60, 96),
    "vibraphone": (11, 53, 89), "marimba": (12, 45, 96), "organ": (16, 36, 96),
    "church organ": (19, 36, 96), "accordion": (21, 53, 89), "harmonica": (22, 60, 84),
    "nylon guitar": (24, 40, 83), "steel guitar": (25, 40, 83), "jazz guitar": (26, 40, 83),
    "clean guitar": (27, 40, 83), "overdrive guitar": (29, 40, 83), "acoustic bass": (32, 28, 55),
    "electric bass": (33, 28, 60), "fretless bass": (35, 28, 60), "synth bass": (38, 24, 60),
    "violin": (40, 55, 96), "viola": (41, 48, 84), "cello": (42, 36, 76), "contrabass": (43, 28, 60),
    "pizzicato strings": (45, 36, 84), "harp": (46, 24, 96), "timpani": (47, 40, 55),
    "strings": (48, 36, 96), "slow strings": (49, 36, 96), "synth strings": (50, 36, 96),
    "choir aahs": (52, 40, 81), "voice oohs": (53, 40, 81), "synth voice": (54, 40, 81),
    "trumpet": (56, 55, 82), "trombone": (57, 40, 72), "tuba": (58, 28, 55),
    "french horn": (60, 41, 77), "brass section": (61, 40, 82), "soprano sax": (64, 56, 87),
    "alto sax": (65, 49, 81), "tenor sax": (66, 44, 76), "oboe": (68, 58, 91),
    "bassoon": (70, 34, 72), "clarinet": (71, 50, 91), "flute": (73, 60, 96),
    "recorder": (74, 60, 96), "pan flute": (75, 60, 96), "ocarina": (79, 60, 84),
    "square lead": (80, 48, 96), "saw lead": (81, 48, 96), "new age pad": (88, 36, 96),
    "warm pad": (89, 36, 96), "choir pad": (91, 48, 84), "banjo": (105, 48, 84),
    "fiddle": (110, 55, 96), "steel drums": (114, 52, 86), "drums": (0, 35, 81),
}
_VOICE_PROGRAMS = ("choir aahs", "voice oohs", "synth voice")
#: Sung ranges (MIDI notes) of the vocal parts.
_VOCAL_RANGE = {"male": (45, 64), "female": (57, 77)}
_CHOIR_RANGES = {"soprano": (60, 79), "alto": (53, 72), "tenor": (48, 67), "bass": (40, 60),
                 "baritone": (45, 64), "descant": (65, 84)}

_MODES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10),
          "harmonic minor": (0, 2, 3, 5, 7, 8, 11), "dorian": (0, 2, 3, 5, 7, 9, 10),
          "mixolydian": (0, 2, 4, 5, 7, 9, 10), "lydian": (0, 2, 4, 6, 7, 9, 11)}
# Chord progressions as scale degrees (0 = tonic), one chord a bar.
_PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 3, 4, 0), (0, 5, 3, 4), (1, 4, 0, 0), (0, 3, 0, 4), (5, 3, 0, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2)),
    "harmonic minor": ((0, 3, 4, 0), (0, 5, 3, 4)),
    "dorian": ((0, 3, 0, 3), (0, 6, 3, 0)),
    "mixolydian": ((0, 6, 3, 0), (0, 3, 6, 0)),
    "lydian": ((0, 1, 0, 1), (0, 1, 4, 0)),
}
_KEY_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


@dataclass(frozen=True)
class Style:
    """What a style draws from: tempo, metres, modes, drum groove and instrument pools by role."""

    tempo: tuple[int, int]
    meters: tuple[int, ...]
    modes: tuple[str, ...]
    drums: str | None
    melody: tuple[str, ...]
    chords: tuple[str, ...]
    bass: tuple[str, ...]
    pad: tuple[str, ...]
    arpeggio: tuple[str, ...]
    counter: tuple[str, ...]
    chord_pattern: str = "block"
    bass_pattern: str = "root"
    sevenths: bool = False
    swing: bool = False


STYLES: dict[str, Style] = {
    "pop": Style((88, 128), (4,), ("major", "minor"), "rock",
                 ("electric piano", "clean guitar", "saw lead", "alto sax", "trumpet", "flute"),
                 ("piano", "clean guitar", "steel guitar", "organ", "electric piano"),
                 ("electric bass", "synth bass", "fretless bass"),
                 ("warm pad", "strings", "new age pad"),
                 ("piano", "harp", "nylon guitar", "marimba"),
                 ("strings", "tenor sax", "french horn", "overdrive guitar"), "block", "eighths"),
    "jazz": Style((96, 176), (4,), ("major", "dorian"), "swing",
                  ("alto sax", "tenor sax", "trumpet", "vibraphone", "clarinet", "trombone"),
                  ("piano", "jazz guitar", "electric piano"), ("acoustic bass",),
                  ("organ", "brass section"), ("vibraphone", "jazz guitar", "piano"),
                  ("trombone", "tenor sax", "clarinet"), "comp", "walking", sevenths=True,
                  swing=True),
    "classical": Style((60, 120), (3, 4), ("major", "minor", "harmonic minor"), None,
                       ("violin", "flute", "oboe", "clarinet", "french horn", "trumpet"),
                       ("piano", "harpsichord", "harp", "strings"),
                       ("cello", "contrabass", "bassoon", "tuba"),
                       ("strings", "slow strings", "church organ"),
                       ("harp", "piano", "pizzicato strings"),
                       ("viola", "clarinet", "cello", "bassoon", "french horn"), "sustain", "half"),
    "folk": Style((84, 144), (3, 4), ("major", "mixolydian", "dorian", "minor"), "folk",
                  ("fiddle", "pan flute", "recorder", "accordion", "harmonica", "ocarina", "flute"),
                  ("steel guitar", "nylon guitar", "accordion", "banjo"),
                  ("acoustic bass", "contrabass"), ("accordion", "organ"),
                  ("nylon guitar", "harp", "banjo", "marimba"),
                  ("fiddle", "recorder", "viola", "harmonica"), "strum", "root"),
    "electronic": Style((110, 132), (4,), ("minor", "dorian"), "dance",
                        ("square lead", "saw lead", "electric piano"),
                        ("synth strings", "electric piano", "warm pad"), ("synth bass",),
                        ("warm pad", "new age pad", "synth strings"),
                        ("square lead", "saw lead", "celesta", "steel drums"),
                        ("saw lead", "synth strings"), "block", "eighths"),
    "ambient": Style((56, 80), (4,), ("major", "lydian", "minor"), None,
                     ("celesta", "music box", "flute", "vibraphone", "ocarina"),
                     ("warm pad", "new age pad", "electric piano"), ("fretless bass", "synth bass"),
                     ("warm pad", "new age pad", "choir pad", "slow strings"),
                     ("harp", "celesta", "music box", "marimba"),
                     ("flute", "slow strings", "vibraphone"), "sustain", "half"),
    "latin": Style((90, 128), (4,), ("minor", "major"), "latin",
                   ("trumpet", "flute", "alto sax", "nylon guitar", "marimba"),
                   ("piano", "nylon guitar"), ("acoustic bass", "electric bass"),
                   ("brass section", "strings"), ("nylon guitar", "piano", "marimba", "steel drums"),
                   ("trombone", "flute", "violin"), "strum", "root"),
}

#: Textures and the numbers of parts each allows.
TEXTURES: dict[str, tuple[int, int]] = {"solo": (1, 1), "chamber": (2, 4), "band": (2, 6),
                                        "orchestral": (4, 6), "choir": (1, 6)}
_TEXTURE_STYLES = {"solo": ("classical", "folk", "jazz", "ambient", "pop", "latin"),
                   "chamber": ("classical", "folk", "ambient", "jazz"),
                   "band": ("pop", "jazz", "folk", "electronic", "latin", "ambient"),
                   "orchestral": ("classical",),
                   "choir": ("classical", "folk", "ambient", "pop")}
_SOLO_POLY = ("piano", "harp", "nylon guitar", "steel guitar", "accordion", "vibraphone",
              "harpsichord", "marimba")
_SOLO_MONO = ("violin", "flute", "alto sax", "cello", "trumpet", "pan flute", "clarinet", "oboe",
              "fiddle", "harmonica")


@dataclass(frozen=True)
class Note:
    """A note in seconds; ``lyric`` is the syllable a sung note carries."""

    pitch: int
    start: float
    end: float
    velocity: int = 90
    lyric: str = ""


@dataclass
class Part:
    """One line of a score: an instrument (or voice) playing a role.

    ``singer`` names the eSpeak voice of a part sung by eSpeak (``None``: the soundfont plays
    it); ``gender`` is set on vocal parts; ``level_db`` is the part's level in the mix.
    """

    name: str
    role: str
    notes: list[Note] = field(default_factory=list)
    singer: str | None = None
    gender: str | None = None
    level_db: float = 0.0

    @property
    def is_drum(self) -> bool:
        return self.name == "drums"

    @property
    def is_vocal(self) -> bool:
        return self.gender is not None

    @property
    def program(self) -> int:
        return INSTRUMENTS[self.name][0]

    def describe(self) -> str:
        who = f"{self.singer} (eSpeak)" if self.singer else self.name
        return f"{self.role}:{who}"


@dataclass
class Score:
    """A generated piece: its key, tempo and parts."""

    style: str
    texture: str
    tonic: int
    mode: str
    tempo: float
    meter: int
    seconds: float
    parts: list[Part]

    @property
    def vocal_genders(self) -> set[str]:
        return {p.gender for p in self.parts if p.gender}

    def describe(self) -> str:
        key = f"{_KEY_NAMES[self.tonic]} {self.mode}"
        parts = "; ".join(p.describe() for p in self.parts)
        return (f"style={self.style} texture={self.texture} key={key} tempo={self.tempo:.0f} "
                f"meter={self.meter}/4 parts={len(self.parts)} [{parts}]")


@dataclass(frozen=True)
class Vocal:
    """A vocal line to add to a score: who sings (gender) and with what.

    ``engine`` ``"espeak"`` sings syllables with an eSpeak voice of that gender, ``"soundfont"``
    plays a soundfont voice program in that gender's range.
    """

    gender: str
    engine: str = "espeak"
    language: str | None = None


# ----------------------------------------------------------------------------- harmony helpers


class _Harmony:
    """Scale, chord per bar and the time grid of one piece."""

    def __init__(self, rng: np.random.Generator, *, tonic: int, mode: str, tempo: float, meter: int,
                 bars: int, sevenths: bool, swing: bool) -> None:
        self.tonic, self.mode, self.scale = tonic, mode, _MODES[mode]
        self.beat = 60.0 / tempo
        self.meter = meter
        self.bar = self.beat * meter
        self.bars = bars
        self.sevenths = sevenths
        self.swing = swing
        progression = _PROGRESSIONS[mode][int(rng.integers(len(_PROGRESSIONS[mode])))]
        # Slow tempi change chord every bar, fast ones every other bar.
        per = 2 if tempo > 150 else 1
        self.degrees = [progression[(b // per) % len(progression)] for b in range(bars)]

    def step_pitch(self, step: int) -> int:
        """MIDI pitch of scale step ``step`` (0 = the tonic above middle C)."""
        return 60 + self.tonic + 12 * (step // 7) + self.scale[step % 7]

    def chord_steps(self, bar: int) -> list[int]:
        d = self.degrees[min(bar, self.bars - 1)]
        return [d, d + 2, d + 4] + ([d + 6] if self.sevenths else [])

    def chord_classes(self, bar: int) -> set[int]:
        return {self.step_pitch(s) % 12 for s in self.chord_steps(bar)}

    def time(self, bar: int, beat: float) -> float:
        if self.swing and abs((beat % 1.0) - 0.5) < 1e-6:
            beat += 1.0 / 6.0  # swung eighths: the off-beat comes late
        return bar * self.bar + beat * self.beat

    def chord_pitches(self, bar: int, low: int, high: int) -> list[int]:
        """The bar's chord voiced upwards from the lowest chord tone at or above ``low``."""
        classes = self.chord_classes(bar)
        pitches = [p for p in range(low, high + 1) if p % 12 in classes]
        return pitches[: len(classes)] if len(pitches) >= len(classes) else pitches

    def root(self, bar: int, low: int, high: int) -> int:
        return _fit(self.step_pitch(self.degrees[min(bar, self.bars - 1)]), low, high)


def _fit(pitch: int, low: int, high: int) -> int:
    """Move ``pitch`` by octaves into [low, high] (or as near as the range allows)."""
    while pitch < low:
        pitch += 12
    while pitch > high and pitch - 12 >= low:
        pitch -= 12
    return pitch


def _nearest(pitch: float, candidates: list[int]) -> int:
    return min(candidates, key=lambda p: (abs(p - pitch), p))


def _velocity(rng: np.random.Generator, base: int) -> int:
    return int(np.clip(base + rng.integers(-8, 9), 20, 127))


_RHYTHMS = {4: ((1, 1, 1, 1), (2, 1, 1), (1, 0.5, 0.5, 1, 1), (0.5,) * 8, (1.5, 0.5, 2),
                (1, 1, 2), (0.5, 0.5, 1, 0.5, 0.5, 1), (3, 1), (0.75, 0.25, 1, 1, 1)),
            3: ((1, 1, 1), (2, 1), (1, 0.5, 0.5, 1), (0.5,) * 6, (3,), (1.5, 0.5, 1))}
_VOCAL_RHYTHMS = {4: ((2, 2), (1, 1, 2), (3, 1), (1, 1, 1, 1), (4,), (1.5, 0.5, 2)),
                  3: ((3,), (2, 1), (1, 1, 1))}


def _melody(rng: np.random.Generator, h: _Harmony, *, low: int, high: int, vocal: bool,
            rest_p: float, base_velocity: int, lyrics: tuple[str, ...] = ()) -> list[Note]:
    """A stepwise line in [low, high] landing on chord tones on strong beats."""
    rhythms = (_VOCAL_RHYTHMS if vocal else _RHYTHMS)[h.meter]
    in_range = [p for p in range(low, high + 1) if (p - h.tonic) % 12 in h.scale]
    current = float(rng.uniform(low + (high - low) * 0.3, low + (high - low) * 0.7))
    notes = []
    for bar in range(h.bars):
        beat = 0.0
        durations = rhythms[int(rng.integers(len(rhythms)))]
        phrase_end = vocal and bar % 2 == 1
        for i, dur in enumerate(durations):
            strong = beat == 0.0 or (h.meter == 4 and beat == 2.0)
            if strong:
                tones = [p for p in in_range if p % 12 in h.chord_classes(bar)] or in_range
                pitch = _nearest(current + rng.normal(0.0, 2.0), tones)
            else:
                idx = in_range.index(_nearest(current, in_range))
                idx = int(np.clip(idx + rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3]), 0, len(in_range) - 1))
                pitch = in_range[idx]
            current = 0.8 * pitch + 0.2 * (low + high) / 2  # drift back towards the middle
            length = dur * (0.6 if phrase_end and i == len(durations) - 1 else 0.92)
            # Rests fall on weak positions only: every bar opens with a note, so no excerpt of
            # a line is silent for long.
            if i == 0 or rng.random() >= rest_p:
                lyric = str(rng.choice(lyrics)) if lyrics else ""
                notes.append(Note(pitch, h.time(bar, beat), h.time(bar, beat) + length * h.beat,
                                  _velocity(rng, base_velocity), lyric))
            beat += dur
    return notes


def _chords(rng: np.random.Generator, h: _Harmony, *, low: int, high: int, pattern: str,
            base_velocity: int) -> list[Note]:
    notes = []
    lo = max(low, 48)
    for bar in range(h.bars):
        pitches = h.chord_pitches(bar, lo + int(rng.integers(0, 5)), min(high, lo + 24))
        if pattern == "sustain":
            hits = [(0.0, float(h.meter))]
        elif pattern == "comp":  # syncopated jazz comping
            choices = [0.0, 1.5, 2.5, 3.5, 1.0, 3.0][: 2 + int(rng.integers(0, 3))]
            hits = [(b, 0.6) for b in sorted(choices) if b < h.meter]
        elif pattern == "strum":
            grid = (0, 1, 1.5, 2.5, 3, 3.5) if h.meter == 4 else (0, 1, 1.5, 2)
            hits = [(b, 0.45) for b in grid if rng.random() < 0.85 or b == 0]
        elif h.meter == 3:  # waltz: chord on 2 and 3
            hits = [(1.0, 0.8), (2.0, 0.8)]
        else:
            hits = [(float(b), 0.85) for b in range(h.meter)]
        for beat, dur in hits:
            t0 = h.time(bar, beat)
            for k, p in enumerate(pitches):
                spread = 0.012 * k if pattern == "strum" else 0.0  # a strum sweeps the strings
                notes.append(Note(p, t0 + spread, t0 + dur * h.beat, _velocity(rng, base_velocity)))
    return notes


def _arpeggio(rng: np.random.Generator, h: _Harmony, *, low: int, high: int,
              base_velocity: int) -> list[Note]:
    step = 0.5 if rng.random() < 0.6 else 0.25
    notes = []
    for bar in range(h.bars):
        pitches = h.chord_pitches(bar, max(low, 52), min(high, 88))
        pitches = pitches + [p + 12 for p in pitches if p + 12 <= high]
        order = pitches if rng.random() < 0.5 else pitches + pitches[-2:0:-1]
        n = int(round(h.meter / step))
        for i in range(n):
            t0 = h.time(bar, i * step)
            notes.append(Note(order[i % len(order)], t0, t0 + step * h.beat * 0.95,
                              _velocity(rng, base_velocity)))
    return notes


def _pad(rng: np.random.Generator, h: _Harmony, *, low: int, high: int, base_velocity: int) -> list[Note]:
    notes = []
    for bar in range(h.bars):
        for p in h.chord_pitches(bar, max(low, 48), min(high, 79)):
            notes.append(Note(p, h.time(bar, 0.0), h.time(bar, 0.0) + h.bar * 0.98,
                              _velocity(rng, base_velocity)))
    return notes


def _bass(rng: np.random.Generator, h: _Harmony, *, low: int, high: int, pattern: str,
          base_velocity: int) -> list[Note]:
    hi = min(high, low + 24)
    notes = []
    for bar in range(h.bars):
        root = h.root(bar, low, hi)
        nxt = h.root(bar + 1, low, hi)
        if pattern == "walking":
            line = [root, _fit(root + (4 if 4 in h.scale else 3), low, hi), _fit(root + 7, low, hi),
                    nxt + (1 if nxt < hi else -1)]
            beats = [(float(b), 0.9, line[b % 4]) for b in range(h.meter)]
        elif pattern == "eighths":
            beats = [(b * 0.5, 0.42, root if b % 4 else root) for b in range(h.meter * 2)]
        elif pattern == "half":
            beats = [(0.0, h.meter * 0.48, root), (h.meter / 2, h.meter * 0.45, _fit(root + 7, low, hi))]
        elif h.meter == 3:
            beats = [(0.0, 0.9, root)]
        else:
            beats = [(0.0, 1.4, root), (2.0, 0.9, _fit(root + 7, low, hi)), (3.5, 0.45, root)]
        for beat, dur, pitch in beats:
            t0 = h.time(bar, beat)
            notes.append(Note(pitch, t0, t0 + dur * h.beat, _velocity(rng, base_velocity)))
    return notes


# GM percussion keys.
_KICK, _SNARE, _CLAP, _HAT, _PEDAL_HAT, _OPEN_HAT, _CRASH, _RIDE = 36, 38, 39, 42, 44, 46, 49, 51
_TAMBOURINE, _HI_BONGO, _LO_BONGO, _MUTE_CONGA, _HI_CONGA, _LO_CONGA = 54, 60, 61, 62, 63, 64
_SHAKER, _CLAVES, _TIMBALE = 70, 75, 65


def _drums(rng: np.random.Generator, h: _Harmony, *, groove: str, base_velocity: int) -> list[Note]:
    """A groove on a sixteenth-note grid (positions 0..4*meter-1)."""
    per_bar = 4 * h.meter
    if groove == "rock":
        hits = {_KICK: [0, 8] + ([10] if rng.random() < 0.5 else []), _SNARE: [4, 12],
                _HAT: list(range(0, per_bar, 2))}
    elif groove == "dance":
        hits = {_KICK: [0, 4, 8, 12], _CLAP: [4, 12], _OPEN_HAT: [2, 6, 10, 14],
                _HAT: list(range(per_bar))}
    elif groove == "swing":
        hits = {_RIDE: [0, 4, 7, 8, 12, 15], _PEDAL_HAT: [4, 12], _KICK: [0],
                _SNARE: [int(rng.integers(0, per_bar))]}
    elif groove == "latin":
        hits = {_CLAVES: [0, 3, 6, 10, 12], _SHAKER: list(range(per_bar)),
                _MUTE_CONGA: [2, 10], _HI_CONGA: [6, 7, 14, 15], _LO_CONGA: [4, 12], _KICK: [0, 8]}
    else:  # folk: tambourine and bongos
        hits = {_TAMBOURINE: list(range(0, per_bar, 2)), _HI_BONGO: [0, 6, 8],
                _LO_BONGO: [3, 11] + ([14] if rng.random() < 0.5 else [])}
    if h.meter == 3 and groove in ("rock", "dance", "swing"):
        hits = {_KICK: [0], _HAT: [4, 8], _SNARE: [8]}
    notes = []
    for bar in range(h.bars):
        for key, positions in hits.items():
            for pos in positions:
                if pos >= per_bar or (key in (_HAT, _SHAKER) and rng.random() < 0.08):
                    continue
                t0 = h.time(bar, pos / 4.0)
                accent = 12 if pos % 4 == 0 else 0
                notes.append(Note(key, t0, t0 + 0.1, _velocity(rng, base_velocity - 10 + accent)))
        if bar == 0 and groove in ("rock", "dance"):
            notes.append(Note(_CRASH, 0.0, 0.5, _velocity(rng, base_velocity)))
    return notes


def _timpani(rng: np.random.Generator, h: _Harmony, *, base_velocity: int) -> list[Note]:
    notes = []
    for bar in range(h.bars):
        root = h.root(bar, 40, 55)
        notes.append(Note(root, h.time(bar, 0.0), h.time(bar, 0.0) + h.beat, _velocity(rng, base_velocity)))
        if rng.random() < 0.3:  # a short roll into the next bar
            for i in range(8):
                t0 = h.time(bar, h.meter - 1 + i / 8)
                notes.append(Note(_fit(root + 7, 40, 55), t0, t0 + h.beat / 8,
                                  _velocity(rng, base_velocity - 20 + 2 * i)))
    return notes


# ----------------------------------------------------------------------------- composition


def _pick(rng: np.random.Generator, pool: tuple[str, ...], used: set[str]) -> str:
    free = [x for x in pool if x not in used] or [x for x in INSTRUMENTS if x not in used
                                                   and x not in _VOICE_PROGRAMS and x != "drums"]
    name = str(rng.choice(free))
    used.add(name)
    return name


def _roles(texture: str, n: int, *, drums: bool, melody: bool) -> list[str]:
    """The roles of ``n`` instrumental parts; without ``melody`` a voice carries the tune."""
    if texture == "solo":
        return ["solo" if melody else "accompaniment"][:n]
    if texture == "chamber":
        order = ["melody", "bass", "chords", "counter"]
    elif texture == "orchestral":
        order = ["pad", "melody", "bass", "counter", "arpeggio", "timpani"]
    else:  # band
        order = ["chords", "melody", "bass", "drums", "arpeggio", "pad"] if drums else \
            ["chords", "melody", "bass", "arpeggio", "pad", "counter"]
    if not melody:  # the voice sings the tune; a harmony instrument backs it first
        order = [r for r in order if r != "melody"] + ["counter"]
        if "chords" in order:
            order.remove("chords")
            order.insert(0, "chords")
    return order[:n]


def _instrument_part(rng: np.random.Generator, h: _Harmony, style: Style, role: str,
                     used: set[str], groove: str | None) -> Part:
    """One instrumental part of ``role``."""
    if role == "drums":
        used.add("drums")
        return Part("drums", role, _drums(rng, h, groove=groove or "rock", base_velocity=90),
                    level_db=float(rng.uniform(-4.0, -1.0)))
    if role == "timpani":
        used.add("timpani")
        return Part("timpani", role, _timpani(rng, h, base_velocity=85), level_db=-4.0)
    pool = {"melody": style.melody, "counter": style.counter, "chords": style.chords,
            "bass": style.bass, "pad": style.pad, "arpeggio": style.arpeggio}
    if role == "accompaniment":  # one player backing a voice: chords and a bass line
        name = _pick(rng, _SOLO_POLY, used)
        _, low, high = INSTRUMENTS[name]
        notes = _chords(rng, h, low=max(low, 48), high=72, pattern=style.chord_pattern,
                        base_velocity=72)
        notes += _bass(rng, h, low=max(low, 36), high=55, pattern="root", base_velocity=75)
        return Part(name, role, notes, level_db=float(rng.uniform(-4.0, -1.0)))
    if role == "solo":
        poly = rng.random() < 0.5
        name = _pick(rng, _SOLO_POLY if poly else _SOLO_MONO, used)
        _, low, high = INSTRUMENTS[name]
        notes = _melody(rng, h, low=max(low, 60), high=min(high, 88), vocal=False, rest_p=0.05,
                        base_velocity=92)
        if poly:  # one player, two hands: melody over chords and a bass
            notes += _chords(rng, h, low=max(low, 48), high=64, pattern=style.chord_pattern,
                             base_velocity=70)
            notes += _bass(rng, h, low=max(low, 36), high=55, pattern="root", base_velocity=75)
        return Part(name, role, notes)
    name = _pick(rng, pool[role], used)
    _, low, high = INSTRUMENTS[name]
    if role == "melody":
        notes = _melody(rng, h, low=max(low, 58), high=min(high, 86), vocal=False, rest_p=0.08,
                        base_velocity=96)
        level = 0.0
    elif role == "counter":
        notes = _melody(rng, h, low=max(low, 48), high=min(high, 72), vocal=True, rest_p=0.15,
                        base_velocity=80)
        level = -3.0
    elif role == "chords":
        notes = _chords(rng, h, low=low, high=high, pattern=style.chord_pattern, base_velocity=72)
        level = -4.0
    elif role == "arpeggio":
        notes = _arpeggio(rng, h, low=low, high=high, base_velocity=74)
        level = -5.0
    elif role == "pad":
        notes = _pad(rng, h, low=low, high=high, base_velocity=66)
        level = -6.0
    else:
        notes = _bass(rng, h, low=low, high=high, pattern=style.bass_pattern, base_velocity=92)
        level = -2.0
    return Part(name, role, notes, level_db=level + float(rng.uniform(-1.5, 1.5)))


def _vocal_part(rng: np.random.Generator, h: _Harmony, vocal: Vocal, *, role: str = "vocal",
                rng_range: tuple[int, int] | None = None) -> Part:
    low, high = rng_range or _VOCAL_RANGE[vocal.gender]
    language = vocal.language or str(rng.choice(LANGUAGES))
    lyrics = LEXICON[language]["lyrics"]
    notes = _melody(rng, h, low=low, high=high, vocal=True, rest_p=0.06, base_velocity=95,
                    lyrics=lyrics)
    if vocal.engine == "espeak":
        from speechmusic.demo.speech import FEMALE_VARIANTS, MALE_VARIANTS

        variants = FEMALE_VARIANTS if vocal.gender == "female" else MALE_VARIANTS
        singer = f"{language}+{rng.choice(variants)}"
        return Part("eSpeak voice", role, notes, singer=singer, gender=vocal.gender, level_db=1.0)
    if vocal.engine != "soundfont":
        raise ConfigError(f"vocal engine must be 'espeak' or 'soundfont', got {vocal.engine!r}")
    name = str(rng.choice(_VOICE_PROGRAMS[:2] if rng.random() < 0.85 else _VOICE_PROGRAMS))
    return Part(name, role, notes, gender=vocal.gender, level_db=1.0)


def _choir(rng: np.random.Generator, h: _Harmony, n: int, *, gender: str | None,
           engine: str) -> list[Part]:
    """``n`` homophonic voices: the top voice sings the tune, the others chord tones below it."""
    if gender == "female":
        names = ["soprano", "alto", "descant", "soprano", "alto", "descant"][:n]
    elif gender == "male":
        names = ["tenor", "bass", "baritone", "tenor", "bass", "baritone"][:n]
    else:
        names = ["soprano", "alto", "tenor", "bass", "baritone", "descant"][:n]
    language = str(rng.choice(LANGUAGES))
    top_range = _CHOIR_RANGES[names[0]]
    lead_gender = "male" if names[0] in ("tenor", "bass", "baritone") else "female"
    lead = _vocal_part(rng, h, Vocal(lead_gender, engine, language), role="choir",
                       rng_range=top_range)
    parts = [lead]
    for name in names[1:]:
        low, high = _CHOIR_RANGES[name]
        voice_gender = "male" if name in ("tenor", "bass", "baritone") else "female"
        notes, prev = [], (low + high) / 2
        for note in lead.notes:
            bar = min(int(note.start // h.bar), h.bars - 1)
            tones = [p for p in range(low, high + 1) if p % 12 in h.chord_classes(bar)]
            pitch = _nearest(prev, tones) if tones else _fit(note.pitch, low, high)
            prev = pitch
            notes.append(Note(pitch, note.start, note.end, _velocity(rng, 85), note.lyric))
        template = _vocal_part(rng, h, Vocal(voice_gender, engine, language), role="choir",
                               rng_range=(low, high))
        template.notes = notes
        template.level_db = -2.0
        parts.append(template)
    return parts


def compose(rng: np.random.Generator, *, seconds: float, texture: str, parts: int,
            style: str | None = None, vocal: Vocal | None = None, drums: bool = True,
            choir_gender: str | None = None, choir_engine: str | None = None) -> Score:
    """Write a piece of ``seconds`` seconds.

    Args:
        rng: the only source of randomness.
        texture: one of :data:`TEXTURES`; ``parts`` must lie in its range.
        parts: simultaneous parts, vocal ones included (a drum kit counts as one part).
        style: one of :data:`STYLES` (``None``: drawn from those that suit the texture).
        vocal: add a vocal line (it counts as one of ``parts``); with ``parts=1`` it sings alone.
        drums: allow a drum part (band texture).
        choir_gender / choir_engine: for the choir texture, all voices of one gender
            (``None``: mixed SATB) and the engine ("espeak" or "soundfont"; ``None``: drawn).
    """
    if texture not in TEXTURES:
        raise ConfigError(f"texture must be one of {sorted(TEXTURES)}, got {texture!r}")
    lo, hi = TEXTURES[texture]
    instrumental = parts - (1 if vocal is not None else 0)
    if texture == "choir" or vocal is None:
        if not lo <= parts <= hi:
            raise ConfigError(f"texture {texture!r} takes {lo}..{hi} parts, got {parts}")
    elif not 0 <= instrumental <= hi:
        raise ConfigError(f"texture {texture!r} with a voice takes 0..{hi} instruments, got {instrumental}")
    style = style or str(rng.choice(_TEXTURE_STYLES[texture]))
    if style not in STYLES:
        raise ConfigError(f"style must be one of {sorted(STYLES)}, got {style!r}")
    st = STYLES[style]
    meter = int(rng.choice(st.meters))
    tempo = float(rng.integers(st.tempo[0], st.tempo[1] + 1))
    bars = int(math.ceil(seconds / (meter * 60.0 / tempo))) + 1
    h = _Harmony(rng, tonic=int(rng.integers(0, 12)), mode=str(rng.choice(st.modes)), tempo=tempo,
                 meter=meter, bars=bars, sevenths=st.sevenths, swing=st.swing)
    out: list[Part] = []
    if texture == "choir":
        engine = choir_engine or ("espeak" if rng.random() < 0.4 else "soundfont")
        out = _choir(rng, h, parts, gender=choir_gender, engine=engine)
    else:
        if vocal is not None:
            out.append(_vocal_part(rng, h, vocal))
        used: set[str] = set()
        roles = _roles(texture, instrumental, drums=drums and st.drums is not None,
                       melody=vocal is None)
        for role in roles:
            out.append(_instrument_part(rng, h, st, role, used, st.drums))
    return Score(style=style, texture=texture, tonic=h.tonic, mode=h.mode, tempo=tempo,
                 meter=meter, seconds=seconds, parts=out)


# ----------------------------------------------------------------------------- rendering

_SF2_BYTES: bytes | None = None


def soundfont_path() -> str:
    """The General MIDI soundfont shipped in the pretty_midi wheel."""
    pretty_midi = require("pretty_midi")
    path = os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2")
    if not os.path.isfile(path):
        from speechmusic.demo._deps import DemoUnavailableError

        raise DemoUnavailableError(f"the pretty_midi install has no TimGM6mb.sf2 ({path})")
    return path


def _soundfont() -> bytes:
    global _SF2_BYTES
    if _SF2_BYTES is None:
        with open(soundfont_path(), "rb") as fh:
            _SF2_BYTES = fh.read()
    return _SF2_BYTES


def _synthesize_midi(midi: bytes, n: int) -> np.ndarray:
    """Play a Standard MIDI File through the soundfont: ``n`` mono float32 samples."""
    tsf = require("tinysoundfont")
    synth = tsf.Synth(samplerate=SYNTH_SR)  # a fresh synth per part: no state carried over
    synth.sfload(_soundfont())
    seq = tsf.Sequencer(synth)
    seq.add(tsf.midi.load_memory(midi))
    stereo = np.frombuffer(synth.generate(n), dtype=np.float32).reshape(-1, 2)
    return stereo.mean(axis=1).astype(np.float32)


def _part_midi(part: Part, tempo: float) -> bytes:
    pretty_midi = require("pretty_midi")
    pm = pretty_midi.PrettyMIDI(resolution=960, initial_tempo=tempo)
    inst = pretty_midi.Instrument(program=part.program, is_drum=part.is_drum, name=part.name)
    for note in part.notes:
        inst.notes.append(pretty_midi.Note(velocity=note.velocity, pitch=note.pitch,
                                           start=max(0.0, note.start), end=max(note.end, note.start + 0.02)))
    pm.instruments.append(inst)
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


def _render_part(part: Part, *, tempo: float, n: int) -> np.ndarray:
    if part.singer is not None:
        from speechmusic.demo.speech import ESPEAK_SR, SungNote, sing

        sung = [SungNote(440.0 * 2 ** ((nt.pitch - 69) / 12), nt.start, nt.end, nt.lyric or "la")
                for nt in part.notes]
        audio = sing(sung, voice=part.singer, seconds=n / SYNTH_SR + 0.05)
        audio = resample(audio, orig_sr=ESPEAK_SR, target_sr=SYNTH_SR)
        return np.pad(audio, (0, max(0, n - audio.size)))[:n]
    return _synthesize_midi(_part_midi(part, tempo), n)


def render(score: Score, *, offset: float = 0.0, tail: float = 0.0) -> np.ndarray:
    """The mix of ``score`` as mono float32 at :data:`SYNTH_SR`, ``score.seconds`` long from ``offset``.

    Each part is rendered alone, brought to -20 dBFS RMS plus its ``level_db`` and mixed, so no
    part drowns. The mix is not normalised (a recording chain does that).
    """
    start = int(round(offset * SYNTH_SR))
    n = start + int(round((score.seconds + tail) * SYNTH_SR))
    mix = np.zeros(n - start, dtype=np.float32)
    for part in score.parts:
        if not part.notes:
            continue
        stem = _render_part(part, tempo=score.tempo, n=n)[start:]
        rms = float(np.sqrt(np.mean(stem.astype(np.float64) ** 2)))
        if rms < 1e-6:
            continue
        mix += stem * np.float32(10 ** ((-20.0 + part.level_db) / 20) / rms)
    return mix


def render_sfx(rng: np.random.Generator, *, program: int, seconds: float, density: float,
               pitch: tuple[int, int] = (40, 80), length: tuple[float, float] = (0.3, 2.0)) -> np.ndarray:
    """Sound effects from the soundfont's GM effects bank (programs 120..127: seashore, helicopter,
    applause, gun shot, ...), ``density`` events a second, the first at 0 and the rest at random
    times, each held ``length`` seconds; mono float32 at :data:`SYNTH_SR`."""
    pretty_midi = require("pretty_midi")
    pm = pretty_midi.PrettyMIDI(resolution=960)
    inst = pretty_midi.Instrument(program=program)
    for i in range(max(1, int(round(density * seconds)))):
        # The first event starts the clip, so that the clip never opens on digital silence.
        t0 = 0.0 if i == 0 else float(rng.uniform(-length[1] * 0.5, seconds))
        end = max(0.05, t0 + float(rng.uniform(*length)))
        inst.notes.append(pretty_midi.Note(velocity=_velocity(rng, 90),
                                           pitch=int(rng.integers(pitch[0], pitch[1] + 1)),
                                           start=max(0.0, t0), end=end))
    pm.instruments.append(inst)
    buf = io.BytesIO()
    pm.write(buf)
    return _synthesize_midi(buf.getvalue(), int(round(seconds * SYNTH_SR)))
