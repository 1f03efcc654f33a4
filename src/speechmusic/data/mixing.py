"""Training and test examples mixed on the fly from real recordings, at controlled loudness.

An example is speech alone, music alone, noise alone, speech over music or speech over noise
(:data:`KINDS`). Where two sources are mixed, the speech is scaled so that its integrated
loudness (ITU-R BS.1770-4, :mod:`pyloudnorm`) minus the background's equals a difference drawn
uniformly from ``MixConfig.loudness_difference_db`` (e.g. -20 to +20 dB: speech 20 dB below the
music to 20 dB above it). Then, each with its own probability: reverberation of the speech
(a synthetic exponentially decaying impulse response), band-limiting of the mix
(audiomentations' low-, high- or band-pass filters) and a codec-like degradation (audiomentations'
``Aliasing`` or ``BitCrush`` after a low-pass), and finally the mix's loudness is set to a level
drawn from ``MixConfig.level_lufs`` (gain), peaks kept below full scale.

Sources (:class:`MixSource`) come from ``../shared/data``'s layouts (:func:`collect_sources`):
``real-mix`` (its manifest's label, licence and ``group``), ``fsdd`` (speech, grouped by speaker)
and ``librosa-data`` (grouped by file). :func:`split_sources` assigns whole groups to splits, so
that no speaker, album or source sits on both sides of a split.

Everything is deterministic given a seed: example ``i`` of a :class:`Mixer` depends on
``(seed, i)`` alone (NumPy generators of the mixer's own; audiomentations' transforms get their
parameters from that generator, frozen, so the process-wide ``random`` state is neither read nor
changed).

Needs the ``train`` extra (``pyloudnorm``, ``audiomentations``).
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from speechmusic.errors import ConfigError, SpeechMusicError

__all__ = ["KINDS", "SOURCE_LABELS", "MixConfig", "MixSource", "MixExample", "Mixer",
           "collect_sources", "split_sources", "loudness", "set_loudness_difference",
           "redistributable", "LIBROSA_LABELS", "EXTRA_MUSIC", "collect_extra", "attach_extra",
           "apply_frozen", "reverberate", "band_limit", "codec_degrade", "clip_distort"]

#: What an example can hold.
KINDS = ("speech", "music", "noise", "speech+music", "speech+noise")
SOURCE_LABELS = ("speech", "music", "noise")
#: librosa-data's recordings by class (../shared/data/README.md).
LIBROSA_LABELS = {
    "198-209-0000": "speech", "3436-172162-0000": "speech", "5703-47212-0000": "speech",
    "147793__setuniman__sweet-waltz-0i-22mi": "music",
    "442789__lena-orsa__happy-music-pistachio-ice-cream-ragtime": "music",
    "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra)": "music",
    "Karissa_Hobbs_-_Lets_Go_Fishin": "music",
    "Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy": "music",
    "Kevin_MacLeod_-_Vibe_Ace": "music", "admiralbob77_-_Choice_-_Drum-bass": "music",
    "sorohanro_-_solo-trumpet-06": "music",
    "456440__inspectorj__bird-whistling-robin-single-13": "noise", "glacier-bay-humpback": "noise",
    "pibble": "noise",
}
#: Extra music installable from Debian (../shared/data/README.md): name -> (folder, licence, the
#: real-mix group that holds excerpts of the same album). Each track is a group of its own, and all
#: of them join the split of that album's real-mix group (:func:`attach_extra`).
EXTRA_MUSIC = {
    "wesnoth-1.16-music": ("/usr/share/games/wesnoth/1.16/data/core/music",
                           "GPL-2+ (Battle for Wesnoth music, wesnoth-1.16-music)",
                           "real-mix:wesnoth-1.16-music"),
}
_NON_COMMERCIAL = re.compile(r"\bNC\b|-NC-|-NC\b|NonCommercial|non-commercial", re.IGNORECASE)


def _pair(value: Any, name: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a pair [low, high] of numbers, got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise ConfigError(f"{name} must be finite with low <= high, got {value!r}")
    return lo, hi


@dataclass
class MixConfig:
    """How examples are drawn (see the module docstring); round-trips YAML.

    ``kinds`` weighs each of :data:`KINDS` (0 leaves it out); ``loudness_difference_db`` is the
    range of speech loudness minus background loudness (LU); ``level_lufs`` the range of the mix's
    loudness; ``p_reverb``, ``p_band_limit``, ``p_codec`` the probability of each degradation;
    ``trim_db``: each source's leading and trailing frames more than this below its loudest frame
    are cut when it is loaded (the clips' own silences are not speech or music)."""

    sample_rate: int = 16000
    seconds: float = 4.0
    kinds: dict[str, float] = field(default_factory=lambda: {
        "speech": 1.0, "music": 1.0, "noise": 0.5, "speech+music": 2.0, "speech+noise": 1.0})
    loudness_difference_db: tuple[float, float] = (-20.0, 20.0)
    level_lufs: tuple[float, float] = (-38.0, -16.0)
    p_reverb: float = 0.2
    reverb_rt60: tuple[float, float] = (0.2, 0.9)
    p_band_limit: float = 0.25
    p_codec: float = 0.15
    trim_db: float = 40.0

    def __post_init__(self) -> None:
        if not (isinstance(self.sample_rate, int) and self.sample_rate >= 8000):
            raise ConfigError(f"sample_rate must be an integer >= 8000, got {self.sample_rate!r}")
        if not (isinstance(self.seconds, int | float) and 0.5 <= self.seconds <= 600):
            raise ConfigError(f"seconds must lie in [0.5, 600], got {self.seconds!r}")
        self.seconds = float(self.seconds)
        if not isinstance(self.kinds, Mapping) or not self.kinds:
            raise ConfigError(f"kinds must map some of {KINDS} to weights, got {self.kinds!r}")
        kinds = {}
        for k, w in self.kinds.items():
            if k not in KINDS:
                raise ConfigError(f"unknown kind {k!r}; choose among {KINDS}")
            if not (isinstance(w, int | float) and w >= 0 and math.isfinite(w)):
                raise ConfigError(f"kinds[{k!r}] must be a weight >= 0, got {w!r}")
            kinds[k] = float(w)
        if sum(kinds.values()) <= 0:
            raise ConfigError("kinds: at least one weight must be > 0")
        self.kinds = kinds
        self.loudness_difference_db = _pair(self.loudness_difference_db, "loudness_difference_db")
        self.level_lufs = _pair(self.level_lufs, "level_lufs")
        self.reverb_rt60 = _pair(self.reverb_rt60, "reverb_rt60")
        if self.reverb_rt60[0] <= 0:
            raise ConfigError("reverb_rt60 must be > 0 seconds")
        for name in ("p_reverb", "p_band_limit", "p_codec"):
            p = getattr(self, name)
            if not (isinstance(p, int | float) and 0.0 <= p <= 1.0):
                raise ConfigError(f"{name} must be a probability in [0, 1], got {p!r}")
            setattr(self, name, float(p))
        if not (isinstance(self.trim_db, int | float) and self.trim_db > 0):
            raise ConfigError(f"trim_db must be > 0, got {self.trim_db!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> MixConfig:
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"mix config: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**data)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text_or_path: str | os.PathLike) -> MixConfig:
        """From YAML text, or from a file when given a path that exists."""
        p = Path(text_or_path)
        text = p.read_text(encoding="utf-8") if isinstance(text_or_path, os.PathLike) or (
            "\n" not in str(text_or_path) and p.is_file()) else str(text_or_path)
        data = yaml.safe_load(text)
        if data is not None and not isinstance(data, Mapping):
            raise ConfigError("mix config: the YAML must be a mapping")
        return cls.from_dict(data)


@dataclass(frozen=True)
class MixSource:
    """One recording: its path, class (speech, music or noise), group (speaker, album, source:
    never split), licence and dataset."""

    path: str
    label: str
    group: str
    licence: str = ""
    dataset: str = ""
    duration: float = 0.0

    @property
    def key(self) -> str:
        """The group as split unit, unique across datasets."""
        return f"{self.dataset}:{self.group}"


def redistributable(licence: str) -> bool:
    """Whether a licence text allows redistributing weights derived from the recording: not a
    non-commercial (NC) licence, and not empty."""
    return bool(licence.strip()) and not _NON_COMMERCIAL.search(licence)


def collect_sources(root: str | os.PathLike, *, datasets: Sequence[str] = ("real-mix", "fsdd", "librosa-data"),
                    redistributable_only: bool = False) -> list[MixSource]:
    """The recordings of ``root``'s datasets (``../shared/data`` layout) as :class:`MixSource`.
    ``redistributable_only`` leaves out those whose licence is non-commercial
    (:func:`redistributable`)."""
    import soundfile as sf

    root = Path(root)
    out: list[MixSource] = []
    for name in datasets:
        base = root / name
        if not base.is_dir():
            raise ConfigError(f"{base}: no such dataset folder")
        if name == "real-mix":
            with open(base / "manifest.csv", encoding="utf-8", newline="") as fh:
                for row in csv.DictReader(fh):
                    out.append(MixSource(str(base / row["path"]), row["label"], row["group"],
                                         row.get("licence", ""), name, float(row.get("duration_s") or 0)))
        elif name == "fsdd":
            licence = "CC-BY-SA-4.0 (Free Spoken Digit Dataset)"
            for p in sorted((base / "recordings").glob("*.wav")):
                parts = p.stem.split("_")
                if len(parts) == 3:
                    out.append(MixSource(str(p), "speech", parts[1], licence, name, sf.info(str(p)).duration))
        elif name == "librosa-data":
            for p in sorted((base / "audio").glob("*.ogg")):
                label = LIBROSA_LABELS.get(p.stem)
                if label is None:
                    continue
                txt = p.with_suffix(".txt")
                licence = " ".join(txt.read_text(encoding="utf-8").split()) if txt.is_file() else ""
                out.append(MixSource(str(p), label, p.stem, licence, name, sf.info(str(p)).duration))
        else:
            raise ConfigError(f"unknown dataset {name!r}: use real-mix, fsdd or librosa-data")
    if redistributable_only:
        out = [s for s in out if redistributable(s.licence)]
    return out


def collect_extra(name: str, *, folder: str | os.PathLike | None = None) -> list[MixSource]:
    """The tracks of an :data:`EXTRA_MUSIC` package (``folder``: where its OGGs are, default the
    package's install path), one group per track; its ``silence`` track left out."""
    import soundfile as sf

    if name not in EXTRA_MUSIC:
        raise ConfigError(f"unknown extra music {name!r}; choose among {sorted(EXTRA_MUSIC)}")
    default, licence, _ = EXTRA_MUSIC[name]
    base = Path(folder or default)
    tracks = sorted(p for p in base.glob("*.ogg") if p.stem != "silence") if base.is_dir() else []
    if not tracks:
        raise ConfigError(f"{base}: no OGG tracks of {name} (apt-get install -y {name})")
    return [MixSource(str(p), "music", p.stem, licence, name, sf.info(str(p)).duration) for p in tracks]


def attach_extra(splits: Mapping[str, list[MixSource]], extra: Sequence[MixSource], *, album_key: str,
                 default: str = "train") -> dict[str, list[MixSource]]:
    """``splits`` with ``extra`` added to the split that holds ``album_key`` (the real-mix group
    of the same album: the album never straddles splits), or to ``default`` where none does.
    The splits of the other sources are left as they were."""
    out = {k: list(v) for k, v in splits.items()}
    home = next((k for k, v in out.items() if any(s.key == album_key for s in v)), default)
    if home not in out:
        raise ConfigError(f"no split {home!r} for the extra music")
    out[home].extend(extra)
    return out


def split_sources(sources: Sequence[MixSource], *, fractions: Mapping[str, float],
                  seed: int = 0) -> dict[str, list[MixSource]]:
    """Whole groups to splits: per class (a group's majority class), groups in a seeded random
    order, each to the split furthest below its share of that class's duration. Every split of
    ``fractions`` gets at least one group of a class that has as many groups as splits."""
    names = list(fractions)
    weights = np.array([float(fractions[n]) for n in names])
    if not names or (weights < 0).any() or weights.sum() <= 0:
        raise ConfigError(f"split fractions must be >= 0 with a positive sum, got {dict(fractions)}")
    weights = weights / weights.sum()
    groups: dict[str, list[MixSource]] = defaultdict(list)
    for s in sources:
        groups[s.key].append(s)
    by_label: dict[str, list[str]] = defaultdict(list)
    for key, members in sorted(groups.items()):
        labels = [m.label for m in members]
        by_label[max(sorted(set(labels)), key=labels.count)].append(key)
    out: dict[str, list[MixSource]] = {n: [] for n in names}
    rng = np.random.default_rng(seed)
    for label in sorted(by_label):
        keys = list(by_label[label])
        rng.shuffle(keys)
        dur = {k: sum(max(m.duration, 0.1) for m in groups[k]) for k in keys}
        total = sum(dur.values())
        got = np.zeros(len(names))
        order = [i for i in np.argsort(-weights, kind="stable") if weights[i] > 0]
        for j, k in enumerate(keys):
            if j < len(order) and len(keys) >= len(order):
                i = order[j]  # one group for each split first
            else:
                i = int(np.argmax(weights * total - got))
            got[i] += dur[k]
            out[names[i]].extend(groups[k])
    return out


# --------------------------------------------------------------------------------- loudness
def _meter(rate: int):
    try:
        import pyloudnorm
    except ImportError:
        raise SpeechMusicError("loudness needs pyloudnorm: pip install 'speechmusic[train]'") from None
    return pyloudnorm.Meter(rate)


def loudness(audio: np.ndarray, *, sample_rate: int) -> float:
    """Integrated loudness (LUFS, ITU-R BS.1770-4, pyloudnorm); -inf for silence. Signals
    shorter than one 400 ms gating block are measured on themselves repeated."""
    x = np.asarray(audio, dtype=np.float64)
    block = int(0.4 * sample_rate) + 1
    if len(x) == 0:
        return -math.inf
    if len(x) < block:
        x = np.tile(x, block // len(x) + 1)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(_meter(sample_rate).integrated_loudness(x))


def set_loudness_difference(speech: np.ndarray, background: np.ndarray, *, difference_db: float,
                            sample_rate: int) -> tuple[np.ndarray, float, float]:
    """``speech`` scaled so that its loudness minus ``background``'s is ``difference_db``;
    returns ``(scaled speech, its loudness, the background's loudness)``."""
    ls, lb = loudness(speech, sample_rate=sample_rate), loudness(background, sample_rate=sample_rate)
    if not (math.isfinite(ls) and math.isfinite(lb)):
        raise SpeechMusicError("cannot set a loudness difference: a component is silent")
    gain = 10 ** ((lb + difference_db - ls) / 20)
    scaled = (np.asarray(speech, dtype=np.float32) * np.float32(gain)).astype(np.float32)
    return scaled, loudness(scaled, sample_rate=sample_rate), lb


# --------------------------------------------------------------------------------- examples
@dataclass
class MixExample:
    """One mixed example: the audio, which classes it holds, and how it was made."""

    audio: np.ndarray
    sample_rate: int
    kind: str
    speech: bool
    music: bool
    noise: bool
    loudness_difference: float | None = None
    speech_lufs: float | None = None
    background_lufs: float | None = None
    sources: tuple[str, ...] = ()
    effects: tuple[str, ...] = ()


def _trim(x: np.ndarray, *, rate: int, top_db: float) -> np.ndarray:
    """``x`` without leading and trailing 20 ms frames more than ``top_db`` below its loudest."""
    hop = max(1, rate // 50)
    n = len(x) // hop
    if n < 2:
        return x
    rms = np.sqrt(np.mean(x[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1) + 1e-20)
    db = 20 * np.log10(rms)
    on = np.flatnonzero(db > db.max() - top_db)
    return x[on[0] * hop: (on[-1] + 1) * hop] if len(on) else x


def synthetic_impulse_response(*, rt60: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A room-like impulse response: a direct path, then noise decaying by 60 dB in ``rt60`` s."""
    n = max(2, int(rt60 * rate))
    t = np.arange(n) / rate
    ir = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)
    ir[: int(0.002 * rate)] = 0.0
    ir[0] = 1.0 + abs(float(ir[0]))
    ir /= np.sqrt(np.sum(ir ** 2))
    return ir.astype(np.float32)


class Mixer:
    """Examples mixed from ``sources`` (:class:`MixSource`) per ``config``; ``mixer[i]`` (or
    :meth:`example`) is example ``i``, a function of ``(seed, i)`` alone. Decoded sources are
    kept in memory (16 kHz float32: about 4 MB a minute)."""

    def __init__(self, sources: Sequence[MixSource], *, config: MixConfig | None = None, seed: int = 0) -> None:
        self.config = config or MixConfig()
        self.seed = int(seed)
        self.by_label: dict[str, list[MixSource]] = {lab: [] for lab in SOURCE_LABELS}
        self.by_group: dict[str, list[MixSource]] = defaultdict(list)
        for s in sources:
            if s.label not in self.by_label:
                raise ConfigError(f"{s.path}: label {s.label!r} is none of {SOURCE_LABELS}")
            self.by_label[s.label].append(s)
            self.by_group[s.key].append(s)
        needed = {part for kind, w in self.config.kinds.items() if w > 0 for part in kind.split("+")}
        missing = sorted(lab for lab in needed if not self.by_label[lab])
        if missing:
            raise ConfigError(f"no {', '.join(missing)} source for the configured kinds")
        self._kinds = [k for k, w in self.config.kinds.items() if w > 0]
        w = np.array([self.config.kinds[k] for k in self._kinds])
        self._kind_p = w / w.sum()
        self._audio: dict[str, np.ndarray] = {}
        # Groups are drawn uniformly, then a recording of the group: a speaker with 500 clips
        # weighs as much as one with a single clip.
        self._groups = {lab: sorted({s.key for s in self.by_label[lab]}) for lab in SOURCE_LABELS}

    def __len__(self) -> int:  # an endless stream; len() is meaningless
        raise TypeError("a Mixer is an endless stream of examples")

    def __getitem__(self, index: int) -> MixExample:
        return self.example(index)

    # ------------------------------------------------------------------ sources
    def audio_of(self, source: MixSource) -> np.ndarray:
        """The source's samples at the config's rate, mono, trimmed (cached)."""
        got = self._audio.get(source.path)
        if got is None:
            from speechmusic.audio import load_audio

            x = load_audio(source.path, sr=self.config.sample_rate, normalize=False)
            got = _trim(np.asarray(x, dtype=np.float32), rate=self.config.sample_rate, top_db=self.config.trim_db)
            self._audio[source.path] = got
        return got

    def excerpt(self, label: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, tuple[str, ...]]:
        """``n`` samples of class ``label``: a random group, a random source of it, from a random
        offset; sources
        shorter than that are followed by others of the same group (then repeated)."""
        keys = self._groups[label]
        for _ in range(20):
            group = self.by_group[keys[int(rng.integers(len(keys)))]]
            first = group[int(rng.integers(len(group)))]
            others = [group[i] for i in rng.permutation(len(group)) if group[i] is not first]
            pieces, used, total = [], [], 0
            for s in [first, *others]:
                x = self.audio_of(s)
                if len(x) == 0:
                    continue
                pieces.append(x)
                used.append(Path(s.path).name)
                total += len(x)
                if total >= n:
                    break
            if not pieces:
                continue
            x = np.concatenate(pieces)
            if len(x) < n:
                x = np.tile(x, n // len(x) + 1)
            start = int(rng.integers(0, len(x) - n + 1))
            out = x[start: start + n]
            if np.any(out != 0) and math.isfinite(loudness(out, sample_rate=self.config.sample_rate)):
                return out.astype(np.float32, copy=True), tuple(used)
        raise SpeechMusicError(f"no audible {label} excerpt of {n} samples found in 20 draws")

    # ------------------------------------------------------------------ examples
    def example(self, index: int) -> MixExample:
        """Example ``index`` (see the class docstring)."""
        cfg = self.config
        rng = np.random.default_rng([self.seed, int(index)])
        rate = cfg.sample_rate
        n = int(round(cfg.seconds * rate))
        kind = self._kinds[int(rng.choice(len(self._kinds), p=self._kind_p))]
        parts = kind.split("+")
        effects: list[str] = []
        diff = ls = lb = None
        if len(parts) == 1:
            mix, names = self.excerpt(parts[0], n, rng)
            if parts[0] == "speech" and rng.random() < cfg.p_reverb:
                mix = self._reverb(mix, rng)
                effects.append("reverb")
        else:
            speech, n1 = self.excerpt("speech", n, rng)
            background, n2 = self.excerpt(parts[1], n, rng)
            names = n1 + n2
            if rng.random() < cfg.p_reverb:
                speech = self._reverb(speech, rng)
                effects.append("reverb")
            diff = float(rng.uniform(*cfg.loudness_difference_db))
            speech, ls, lb = set_loudness_difference(speech, background, difference_db=diff, sample_rate=rate)
            mix = speech + background
        if rng.random() < cfg.p_band_limit:
            mix, name = self._band_limit(mix, rng)
            effects.append(name)
        if rng.random() < cfg.p_codec:
            mix, name = self._codec(mix, rng)
            effects.append(name)
        mix = self._level(mix, rng)
        return MixExample(audio=mix, sample_rate=rate, kind=kind, speech="speech" in parts,
                          music="music" in parts, noise="noise" in parts, loudness_difference=diff,
                          speech_lufs=ls, background_lufs=lb, sources=names, effects=tuple(effects))

    def _level(self, mix: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        target = float(rng.uniform(*self.config.level_lufs))
        now = loudness(mix, sample_rate=self.config.sample_rate)
        gain = 10 ** ((target - now) / 20) if math.isfinite(now) else 1.0
        mix = mix * np.float32(gain)
        peak = float(np.max(np.abs(mix))) if len(mix) else 0.0
        if peak > 0.99:
            mix = mix * np.float32(0.99 / peak)
        return mix.astype(np.float32)

    def _reverb(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return reverberate(x, rate=self.config.sample_rate, rt60=self.config.reverb_rt60, rng=rng)

    def _band_limit(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        return band_limit(x, rate=self.config.sample_rate, rng=rng)

    def _codec(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        return codec_degrade(x, rate=self.config.sample_rate, rng=rng)


# ----------------------------------------------------------------------------- degradations
# Functions of the signal and a generator alone: the mixer's and the training augmentation's
# (:mod:`speechmusic.training.augment`) degradations are the same code.


def apply_frozen(transform: Any, params: dict[str, Any], x: np.ndarray, *, rate: int) -> np.ndarray:
    """An audiomentations transform with parameters we drew (frozen: it draws none, so Python's
    ``random`` state is neither read nor changed)."""
    transform.parameters = {"should_apply": True, **params}
    transform.freeze_parameters()
    return np.asarray(transform(samples=x, sample_rate=rate), dtype=np.float32)


def reverberate(x: np.ndarray, *, rate: int, rt60: tuple[float, float],
                rng: np.random.Generator) -> np.ndarray:
    """``x`` through a :func:`synthetic_impulse_response` whose decay time is drawn from ``rt60``
    (seconds), cut to its length."""
    from scipy.signal import fftconvolve

    ir = synthetic_impulse_response(rt60=float(rng.uniform(*rt60)), rate=rate, rng=rng)
    return fftconvolve(x, ir)[: len(x)].astype(np.float32)


def band_limit(x: np.ndarray, *, rate: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A low-pass (2.5-7 kHz), high-pass (80-600 Hz) or telephone-like band-pass filter
    (audiomentations), one of the three drawn; returns ``(signal, filter name)``."""
    import audiomentations as A

    nyq = rate / 2
    which = int(rng.integers(3))
    rolloff = int(rng.choice([12, 18, 24]))
    if which == 0:
        cut = float(np.exp(rng.uniform(np.log(2500), np.log(min(7000, nyq - 500)))))
        return apply_frozen(A.LowPassFilter(p=1.0), {"cutoff_freq": cut, "rolloff": rolloff}, x,
                            rate=rate), "lowpass"
    if which == 1:
        cut = float(np.exp(rng.uniform(np.log(80), np.log(600))))
        return apply_frozen(A.HighPassFilter(p=1.0), {"cutoff_freq": cut, "rolloff": rolloff}, x,
                            rate=rate), "highpass"
    # telephone-like band: from 200-400 Hz to 3.2-4.5 kHz
    low, high = float(rng.uniform(200, 400)), float(rng.uniform(3200, 4500))
    return apply_frozen(A.BandPassFilter(p=1.0), {"center_freq": (low + high) / 2, "bandwidth": high - low,
                                                   "rolloff": rolloff}, x, rate=rate), "bandpass"


def codec_degrade(x: np.ndarray, *, rate: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A codec-like degradation: a low-pass (3.4-7 kHz), then audiomentations' ``Aliasing``
    (resampled to 6-12 kHz without a filter) or ``BitCrush`` (6-10 bits); returns
    ``(signal, name)``."""
    import audiomentations as A

    x = apply_frozen(A.LowPassFilter(p=1.0), {"cutoff_freq": float(rng.uniform(3400, 7000)),
                                               "rolloff": 24}, x, rate=rate)
    if rng.random() < 0.5:
        new_rate = float(rng.uniform(6000, 12000))
        return apply_frozen(A.Aliasing(p=1.0), {"new_sample_rate": new_rate}, x, rate=rate), "aliasing"
    peak = float(np.max(np.abs(x))) or 1.0
    y = apply_frozen(A.BitCrush(p=1.0), {"bit_depth": int(rng.integers(6, 11))}, x / peak, rate=rate) * peak
    return y.astype(np.float32), "bitcrush"


def clip_distort(x: np.ndarray, *, rate: int, rng: np.random.Generator,
                 percent: tuple[float, float] = (2.0, 20.0)) -> np.ndarray:
    """Hard clipping of the loudest ``percent`` (drawn from the range) of the samples, half at
    each extreme (audiomentations' ``ClippingDistortion``), as an overdriven recording."""
    import audiomentations as A

    return apply_frozen(A.ClippingDistortion(p=1.0),
                        {"percentile_threshold": int(round(rng.uniform(*percent)))}, x, rate=rate)
