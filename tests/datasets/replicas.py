"""Small replicas of the paper's datasets as their archives unpack, from generated audio.

Each ``make_<layout>_replica(root, *, per_class=12) -> Path`` writes one dataset below ``root``
and returns the path to give ``--layout <layout>`` (or a ``datasets:`` entry's ``root``). Every
class gets ``per_class`` clips (16-bit PCM WAV, mono, ``seconds`` = 1.5 s each, at the dataset's
own sample rate) in ``groups(per_class)`` groups (10 for the default 12: two groups hold two clips),
enough for the paper's 5-fold grouped CV with 10 % test and 10 % validation blocks. The audio is
class-typed so that a model can learn something: music = harmonic notes, speech = a voiced,
syllable-modulated source, noise = filtered noise; ensembles sound as many simultaneous
instruments as their size; male and female singers differ in pitch.

What is known of the real archives, and what is assumed here:

* S&S (LabROSA ``music-speech``): ``music-speech/wavfile/train/{music,speech,m+s,other}`` and
  ``test/{music/vocals,music/novocals,speech}``, 22050 Hz, 15-s extracts (file names invented).
* MUSAN (OpenSLR 17): ``musan/{music,speech,noise}/<source>/<class>-<source>-NNNN.wav`` at 16 kHz,
  ``ANNOTATIONS`` per music source (``<utt> <genres> <Y|N> <artist>``) and for
  ``speech/librivox`` (``<utt> <m|f> <language>``); ``speech/us-gov`` and noise have none.
* GTZAN music/speech: ``music_speech/{music_wav,speech_wav}/*.wav`` at 22050 Hz.
* ACMUS-MIR (Zenodo 3268961): ``ACMUS-MIR/{Rhythm set, Instrumental format set, Scale set}/`` with
  ``Audio/<set id>_NNNN.wav`` at 96 kHz and a CSV per set; the CSV header follows the dataset's
  description (File Name, Title, Genre, Composer, Collection, Original file, Sampling rate, Bits,
  Duration, Channels, Number of instruments, instrument counts, Noise at 64Hz, Tempo); the File
  Name is written without the set prefix (``0015.wav``), the case the adapter must resolve.
* Marolt19, ACMusYT, ACMus VF: no public layout; a ``labels.csv`` (``path,label,group`` plus an
  ignored column) next to ``audio/`` is the documented way.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

__all__ = [
    "REPLICAS",
    "groups",
    "make_acmus_if_replica",
    "make_acmus_vf_replica",
    "make_acmusyt_replica",
    "make_all_replicas",
    "make_gtzan_replica",
    "make_marolt19_replica",
    "make_musan_replica",
    "make_slaney_scheirer_replica",
]

SECONDS = 1.5


def groups(per_class: int) -> int:
    """Groups per class: ``per_class - 2`` (two groups hold two clips) where that leaves at least
    5, else one group per clip."""
    return per_class - 2 if per_class - 2 >= 5 else max(1, per_class)


def _group_of(k: int, per_class: int) -> int:
    return k % groups(per_class)


# ----------------------------------------------------------------------------- signals


def _t(sr: int, seconds: float) -> np.ndarray:
    return np.arange(int(round(sr * seconds))) / sr


def _rate(sr: int) -> int:
    return min(sr, _SYNTH_RATE)


def _normalise(x: np.ndarray, peak: float = 0.5) -> np.ndarray:
    m = float(np.max(np.abs(x))) or 1.0
    return (peak * x / m).astype(np.float32)


def _music(sr: int, seconds: float, seed: int, *, voices: int = 1, f_lo: float = 110.0) -> np.ndarray:
    """Harmonic notes (0.25 s each, decaying) from ``voices`` simultaneous instruments."""
    sr = _rate(sr)
    rng = np.random.default_rng(seed)
    t = _t(sr, seconds)
    out = np.zeros_like(t)
    note = max(1, int(0.25 * sr))
    for v in range(voices):
        for start in range(0, len(t), note):
            seg = slice(start, min(len(t), start + note))
            f = f_lo * 2 ** ((rng.integers(0, 24) + 3 * v) / 12)
            env = np.exp(-4.0 * (t[seg] - t[start]))
            for h in range(1, 5):
                if f * h < sr / 2:
                    out[seg] += env * np.sin(2 * np.pi * f * h * t[seg] + v) / h
    return _normalise(out)


def _speech(sr: int, seconds: float, seed: int, *, f0: float = 120.0) -> np.ndarray:
    """A voiced source with moving pitch, gated by a 4 Hz syllable rhythm, plus breath noise."""
    sr = _rate(sr)
    rng = np.random.default_rng(seed)
    t = _t(sr, seconds)
    pitch = f0 * (1 + 0.15 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    voiced = sum(np.sin(h * phase) / h for h in range(1, 12) if f0 * h < sr / 2)
    syllables = np.clip(np.sin(2 * np.pi * 4 * t + rng.uniform(0, 6)), 0, None) ** 2
    return _normalise(voiced * syllables + 0.05 * rng.standard_normal(len(t)) * syllables)


def _noise(sr: int, seconds: float, seed: int) -> np.ndarray:
    sr = _rate(sr)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(len(_t(sr, seconds)))
    return _normalise(np.convolve(x, np.ones(4) / 4, mode="same"))


def _singing(sr: int, seconds: float, seed: int, *, f0: float, accompanied: bool) -> np.ndarray:
    """A sung line (vibrato, sustained notes), with or without a plucked accompaniment."""
    sr = _rate(sr)
    rng = np.random.default_rng(seed)
    t = _t(sr, seconds)
    notes = f0 * 2 ** (rng.integers(0, 7, size=int(np.ceil(seconds / 0.5)) + 1) / 12)
    pitch = notes[(t / 0.5).astype(int)] * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    voice = sum(np.sin(h * phase) / h for h in range(1, 8))
    if accompanied:
        voice = _normalise(voice) + 0.6 * _music(sr, seconds, seed + 1, voices=2, f_lo=82.0)
    return _normalise(voice)


def _choir(sr: int, seconds: float, seed: int) -> np.ndarray:
    return _normalise(sum(_singing(sr, seconds, seed + i, f0=f, accompanied=False)
                          for i, f in enumerate((130.0, 165.0, 196.0, 262.0))))


_SYNTH_RATE = 16000  # signals are made at most at this rate and interpolated up (fast at 96 kHz)


def _write(path: Path, x: np.ndarray, sr: int) -> Path:
    """Write ``x`` (made at ``min(sr, 16000)`` Hz) as 16-bit PCM at ``sr``."""
    made = min(sr, _SYNTH_RATE)
    if made != sr:
        n = int(round(len(x) * sr / made))
        x = np.interp(np.arange(n) * (made / sr), np.arange(len(x)), x).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, sr, subtype="PCM_16")
    return path


def _write_csv(path: Path, header: list[str], rows: list[list[object]], *, delimiter: str = ",") -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- S&S


def make_slaney_scheirer_replica(root: Path, *, per_class: int = 12, seconds: float = SECONDS,
                                 per_excluded: int = 3) -> Path:
    """LabROSA's ``music-speech`` tree at 22050 Hz; returns ``root/music-speech``.

    music: half in ``train/music``, the rest split between ``test/music/vocals`` and
    ``test/music/novocals``; speech: two thirds in ``train/speech``, the rest in
    ``test/speech``; ``per_excluded`` files each in ``train/m+s`` and ``train/other``.
    """
    sr = 22050
    top = Path(root) / "music-speech"
    wav = top / "wavfile"
    (top / "README").parent.mkdir(parents=True, exist_ok=True)
    (top / "README").write_text("Scheirer & Slaney music/speech corpus (replica)\n", encoding="utf-8")
    n_train = (per_class + 1) // 2
    for k in range(per_class):
        if k < n_train:
            folder = wav / "train" / "music"
        else:
            folder = wav / "test" / "music" / ("vocals" if (k - n_train) % 2 == 0 else "novocals")
        _write(folder / f"mu{k + 1}.wav", _music(sr, seconds, 100 + k, voices=1 + k % 3), sr)
    n_train = (2 * per_class + 2) // 3
    for k in range(per_class):
        folder = wav / ("train" if k < n_train else "test") / "speech"
        _write(folder / f"sp{k + 1}.wav", _speech(sr, seconds, 200 + k, f0=100 + 10 * (k % 6)), sr)
    for k in range(per_excluded):
        mix = 0.5 * _speech(sr, seconds, 300 + k) + 0.5 * _music(sr, seconds, 310 + k)
        _write(wav / "train" / "m+s" / f"ms{k + 1}.wav", _normalise(mix), sr)
        _write(wav / "train" / "other" / f"ot{k + 1}.wav", _noise(sr, seconds, 320 + k), sr)
    return top


# ----------------------------------------------------------------------------- MUSAN

MUSAN_MUSIC_SOURCES = ("fma", "fma-western-art", "hd-classical", "jamendo", "rfm")
MUSAN_SPEECH_SOURCES = ("librivox", "us-gov")
MUSAN_NOISE_SOURCES = ("free-sound", "sound-bible")
_ARTISTS = ("Cullah", "Quiet_Music_for_Tiny_Robots", "Kevin MacLeod", "Bach", "Jahzzar",
            "The Polish Ambassador", "Chris_Zabriskie", "Podington Bear", "Dee Yan-Key", "Lobo Loco")
_GENRES = ("blues", "pop,electronica", "classical", "rock", "jazz,swing", "folk", "hip-hop")


def make_musan_replica(root: Path, *, per_class: int = 12, seconds: float = SECONDS) -> Path:
    """The MUSAN tree at 16 kHz; returns ``root/musan``.

    Music is dealt over the five music sources with one ``ANNOTATIONS`` file each; artists are
    ``groups(per_class)`` names (some with spaces, some with underscores, one shared by two
    sources); ``rfm``'s ANNOTATIONS lacks one file's row and one row's genres are written
    ``pop, rock`` (space after the comma). Speech: ``librivox`` (ANNOTATIONS with gender and
    language) and ``us-gov`` (none). Noise: ``free-sound`` and ``sound-bible``.
    """
    sr = 16000
    top = Path(root) / "musan"
    (top / "README").parent.mkdir(parents=True, exist_ok=True)
    (top / "README").write_text("MUSAN (replica)\n", encoding="utf-8")
    rows: dict[str, list[str]] = {s: [] for s in MUSAN_MUSIC_SOURCES}
    counters = dict.fromkeys(MUSAN_MUSIC_SOURCES + MUSAN_SPEECH_SOURCES + MUSAN_NOISE_SOURCES, 0)
    for k in range(per_class):
        source = MUSAN_MUSIC_SOURCES[k % len(MUSAN_MUSIC_SOURCES)]
        utt = f"music-{source}-{counters[source]:04d}"
        counters[source] += 1
        _write(top / "music" / source / f"{utt}.wav", _music(sr, seconds, 400 + k, voices=1 + k % 2), sr)
        artist = _ARTISTS[_group_of(k, per_class) % len(_ARTISTS)]
        genres = _GENRES[k % len(_GENRES)]
        if source == "rfm" and counters[source] == 1:
            continue  # a file without an ANNOTATIONS row
        if source == "jamendo" and counters[source] == 1:
            genres = "pop, rock"
        rows[source].append(f"{utt} {genres} {'Y' if k % 2 else 'N'} {artist}")
    for source, lines in rows.items():
        if (top / "music" / source).is_dir():
            (top / "music" / source / "ANNOTATIONS").write_text("\n".join(lines) + "\n", encoding="utf-8")
    librivox = []
    for k in range(per_class):
        source = MUSAN_SPEECH_SOURCES[0 if k < (2 * per_class) // 3 else 1]
        utt = f"speech-{source}-{counters[source]:04d}"
        counters[source] += 1
        female = k % 2 == 1
        _write(top / "speech" / source / f"{utt}.wav",
               _speech(sr, seconds, 500 + k, f0=210.0 if female else 110.0), sr)
        if source == "librivox":
            librivox.append(f"{utt} {'f' if female else 'm'} {('english', 'german', 'spanish')[k % 3]}")
    (top / "speech" / "librivox" / "ANNOTATIONS").write_text("\n".join(librivox) + "\n", encoding="utf-8")
    for k in range(per_class):
        source = MUSAN_NOISE_SOURCES[k % 2]
        utt = f"noise-{source}-{counters[source]:04d}"
        counters[source] += 1
        _write(top / "noise" / source / f"{utt}.wav", _noise(sr, seconds, 600 + k), sr)
    return top


# ----------------------------------------------------------------------------- GTZAN


def make_gtzan_replica(root: Path, *, per_class: int = 12, seconds: float = SECONDS) -> Path:
    """GTZAN music/speech at 22050 Hz; returns ``root/music_speech``."""
    sr = 22050
    top = Path(root) / "music_speech"
    for k in range(per_class):
        _write(top / "music_wav" / f"music{k:02d}.wav", _music(sr, seconds, 700 + k, voices=1 + k % 3), sr)
        _write(top / "speech_wav" / f"speech{k:02d}.wav", _speech(sr, seconds, 800 + k), sr)
    (top / "music_speech.mf").write_text(
        "".join(f"music_wav/music{k:02d}.wav\tmusic\n" for k in range(per_class))
        + "".join(f"speech_wav/speech{k:02d}.wav\tspeech\n" for k in range(per_class)), encoding="utf-8")
    return top


# ----------------------------------------------------------------------------- ACMUS-MIR

ACMUS_IF_HEADER = ["File Name", "Title", "Genre", "Composer", "Collection", "Original file",
                   "Sampling rate", "Bits", "Duration", "Channels", "Number of instruments",
                   "Number of guitars", "Number of bandolas", "Number of tiples", "Bass", "Percussion",
                   "Noise at 64Hz", "Tempo"]
#: Ensemble size of each replica class, with the instruments that make it.
_IF_FORMATS = {"1": (1, (1, 0, 0, "no", "no")), "2": (2, (1, 0, 1, "no", "no")),
               "3": (3, (1, 1, 1, "no", "no")), "4": (4, (1, 2, 1, "no", "no")),
               "5+": (6, (1, 3, 1, "yes", "no"))}
_IF_GENRES = ("Bambuco", "Pasillo", "Danza", "Guabina", "Torbellino")


def make_acmus_if_replica(root: Path, *, per_class: int = 12, seconds: float = SECONDS) -> Path:
    """The ACMUS-MIR tree at 96 kHz; returns ``root/ACMUS-MIR``.

    ``Instrumental format set/`` holds ``per_class`` segments of each ensemble size (1, 2, 3, 4 and
    a large ensemble of 6) as ``Audio/if_NNNN.wav`` and ``instrumental_format_set.csv`` (UTF-8,
    Spanish titles); segments of one ``Original file`` share it (``groups(per_class)`` recordings
    per size). The rhythm and scale sets get one short file and CSV each (not read by
    ``acmus_if``).
    """
    sr = 96000
    top = Path(root) / "ACMUS-MIR"
    folder = top / "Instrumental format set"
    rows: list[list[object]] = []
    n = 0
    for label, (size, (guitars, bandolas, tiples, bass, percussion)) in _IF_FORMATS.items():
        for k in range(per_class):
            n += 1
            stem = f"{n:04d}"
            x = _music(sr, seconds, 900 + n, voices=size, f_lo=98.0)
            _write(folder / "Audio" / f"if_{stem}.wav", x, sr)
            recording = f"MR-{label.rstrip('+')}-{_group_of(k, per_class):02d}.wav"
            rows.append([f"{stem}.wav", f"Canción {label} nº {k}", _IF_GENRES[k % len(_IF_GENRES)],
                         "José A. Morales" if k % 2 else "Anónimo", "Músicas Regionales", recording,
                         sr, 24, f"00:00:{int(seconds):02d}", 1, size, guitars, bandolas, tiples, bass,
                         percussion, "no", 120 + k])
    _write_csv(folder / "instrumental_format_set.csv", ACMUS_IF_HEADER, rows)
    for name, prefix, csv_name in (("Rhythm set", "rh", "rhythm_set.csv"), ("Scale set", "sc", "scale_set.csv")):
        _write(top / name / "Audio" / f"{prefix}_0001.wav", _music(sr, 0.25, 990), sr)
        _write_csv(top / name / csv_name, ["File Name", "Title", "Genre"], [["0001.wav", "Pieza", "Bambuco"]])
    return top


# ----------------------------------------------------------------------------- tables


def _table_replica(top: Path, *, sr: int, per_class: int,
                   classes: dict[str, Callable[[int, int], np.ndarray]]) -> Path:
    """``top/audio/<class>/<recording>_<k>.wav`` and ``top/labels.csv`` (path,label,group,source)."""
    rows: list[list[object]] = []
    for label, make in classes.items():
        slug = label.lower().replace(" ", "")
        for k in range(per_class):
            recording = f"{slug}rec{_group_of(k, per_class):02d}"
            rel = f"audio/{slug}/{recording}_{k:02d}.wav"
            _write(top / rel, make(sr, k), sr)
            rows.append([rel, label, recording, "replica"])
    _write_csv(top / "labels.csv", ["path", "label", "group", "source"], rows)
    return top


def make_marolt19_replica(root: Path, *, per_class: int = 12, seconds: float = SECONDS,
                          with_noise: bool = True) -> Path:
    """Marolt19 as a table at 44100 Hz; returns ``root/marolt19`` (holding ``labels.csv``).

    Labels as Table 1 writes them (``Solo Singing``, ``Choir``, ``Instrumental``, ``Speech``) and,
    with ``with_noise``, ``Noise`` (Table 1 lists none; the paper's 3-class runs use it).
    """
    classes: dict[str, Callable[[int, int], np.ndarray]] = {
        "Solo Singing": lambda sr, k: _singing(sr, seconds, 1000 + k, f0=140 + 10 * (k % 5), accompanied=False),
        "Choir": lambda sr, k: _choir(sr, seconds, 1100 + k),
        "Instrumental": lambda sr, k: _music(sr, seconds, 1200 + k, voices=1 + k % 3),
        "Speech": lambda sr, k: _speech(sr, seconds, 1300 + k, f0=100 + 15 * (k % 6)),
    }
    if with_noise:
        classes["Noise"] = lambda sr, k: _noise(sr, seconds, 1400 + k)
    return _table_replica(Path(root) / "marolt19", sr=44100, per_class=per_class, classes=classes)


def make_acmusyt_replica(root: Path, *, per_class: int = 12, seconds: float = SECONDS) -> Path:
    """ACMusYT as a table at 48 kHz; returns ``root/acmusyt``: ``Speech``, ``Music`` and
    ``A Cappella`` (left out by default)."""
    classes: dict[str, Callable[[int, int], np.ndarray]] = {
        "Speech": lambda sr, k: _speech(sr, seconds, 1500 + k, f0=110 + 12 * (k % 6)),
        "Music": lambda sr, k: _singing(sr, seconds, 1600 + k, f0=180, accompanied=True),
        "A Cappella": lambda sr, k: _singing(sr, seconds, 1700 + k, f0=180, accompanied=False),
    }
    return _table_replica(Path(root) / "acmusyt", sr=48000, per_class=per_class, classes=classes)


def make_acmus_vf_replica(root: Path, *, per_class: int = 12, seconds: float = SECONDS) -> Path:
    """ACMus VF as a table at 96 kHz; returns ``root/acmus_vf``.

    ``labels.csv`` has ``path,gender,accompaniment,group,title``: ``per_class`` male and
    ``per_class`` female singers' files (``groups(per_class)`` singers each), half of each
    accompanied, so both tasks (gender; accompanied vs vocal only) have ``per_class`` clips per
    class.
    """
    sr = 96000
    top = Path(root) / "acmus_vf"
    rows: list[list[object]] = []
    for gender, f0 in (("male", 120.0), ("female", 240.0)):
        for k in range(per_class):
            accompanied = k % 2 == 0
            singer = f"{gender[0]}singer{_group_of(k, per_class):02d}"
            rel = f"audio/vf_{gender[0]}{k:02d}.wav"
            _write(top / rel, _singing(sr, seconds, 1800 + k + (50 if gender == "female" else 0),
                                       f0=f0, accompanied=accompanied), sr)
            rows.append([rel, gender, "yes" if accompanied else "no", singer, f"Canción {k}"])
    _write_csv(top / "labels.csv", ["path", "gender", "accompaniment", "group", "title"], rows)
    return top


#: Layout name -> replica builder.
REPLICAS: dict[str, Callable[..., Path]] = {
    "musan": make_musan_replica,
    "gtzan": make_gtzan_replica,
    "marolt19": make_marolt19_replica,
    "acmusyt": make_acmusyt_replica,
    "slaney_scheirer": make_slaney_scheirer_replica,
    "acmus_vf": make_acmus_vf_replica,
    "acmus_if": make_acmus_if_replica,
}


def make_all_replicas(root: Path, *, per_class: int = 12) -> dict[str, Path]:
    """Every replica below ``root``; layout name -> the root to pass (for experiments/paper.yaml's
    ``roots``: musan, gtzan, marolt19, acmusyt; paper-transfer.yaml also sns = slaney_scheirer,
    acmus_vf, acmus_if)."""
    return {layout: make(Path(root), per_class=per_class) for layout, make in REPLICAS.items()}
