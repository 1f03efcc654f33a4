"""A generated broadcast-like programme with known speech, music, noise and silence: the ground
truth the segmenter is scored against.

:func:`render_programme` strings together announcements (eSpeak NG), pieces of music (soundfont),
noise (field sounds, applause, traffic) and short silences, each item recorded through a light
broadcast chain and set to a broadcast level, and returns the audio with its segments. Pauses
inside an announcement (under 0.7 s) belong to the speech segment, as a human annotator would
mark them; a silence segment (at least 1 s) is dead air: only the transmission's noise floor,
70 dB down, which lies under the whole programme (the segmenter's ``noEnergy``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from speechmusic.demo.degrade import RecordingChain
from speechmusic.errors import ConfigError

__all__ = ["render_programme", "write_programme", "PROGRAMME_LABELS"]

#: Segment labels of the truth (``noEnergy`` is the segmenter's silence label).
PROGRAMME_LABELS = ("speech", "music", "noise", "noEnergy")

_DURATIONS = {"speech": (8.0, 30.0), "music": (10.0, 40.0), "noise": (4.0, 12.0),
              "silence": (1.0, 3.0)}
# A silence shorter than a second would pass for a pause (the segmenter smooths those over).
_MINIMUM = {"speech": 2.0, "music": 2.0, "noise": 1.5, "silence": 1.0}
_NEXT_WEIGHTS = {"speech": 0.4, "music": 0.35, "noise": 0.12, "silence": 0.13}
_LEVEL_DB = {"speech": (-21.0, -18.0), "music": (-20.0, -15.0), "noise": (-30.0, -22.0)}
_NOISE_KINDS = ("applause", "babble", "rain", "wind", "engine", "helicopter", "seashore", "fan",
                "impulses", "pink")
_CHAIN = RecordingChain(22050, band=(50.0, 12000.0), rt60=(0.1, 0.3), wet=(0.03, 0.1),
                        compression=(2.0, 4.0), peak_db=(-3.0, -1.0))


@dataclass(frozen=True)
class _Item:
    label: str
    seconds: float
    seed: tuple[int, ...]
    sr: int


def _schedule(rng: np.random.Generator, seconds: float) -> list[tuple[str, float]]:
    """Labels and lengths adding up to ``seconds``; the first four items hold every class."""
    scale = min(1.0, seconds / 300.0)
    order = list(rng.permutation(["speech", "noise", "silence"]))
    labels = ["music", *order]  # a programme opens on a jingle
    plan: list[tuple[str, float]] = []
    total = 0.0
    while total < seconds:
        if len(plan) >= len(labels):
            prev = plan[-1][0]
            options = [k for k in _NEXT_WEIGHTS if k != prev]
            p = np.array([_NEXT_WEIGHTS[k] for k in options])
            labels.append(str(rng.choice(options, p=p / p.sum())))
        label = labels[len(plan)]
        lo, hi = _DURATIONS[label]
        length = max(_MINIMUM[label], float(rng.uniform(lo, hi)) * scale)
        plan.append((label, length))
        total += length
    # Cut the last item to the programme's end; a stub too short to stand is given to the
    # item before it.
    label, length = plan[-1]
    length -= total - seconds
    if length < _MINIMUM[label] and len(plan) > 1:
        plan.pop()
        prev_label, prev_length = plan[-1]
        plan[-1] = (prev_label, prev_length + length)
    else:
        plan[-1] = (label, length)
    return plan


def _render_item(item: _Item) -> np.ndarray:
    """One item recorded through the programme chain and set to its level."""
    from speechmusic.demo.music import SYNTH_SR, Vocal, compose, render
    from speechmusic.demo.speech import reset

    reset()  # eSpeak as in a fresh process: the item depends on its seed alone
    rng = np.random.default_rng(list(item.seed))
    if item.label == "speech":
        from speechmusic.demo.speech import ESPEAK_SR, random_speaker, speak

        speaker = random_speaker(rng, languages=("en", "de", "fr", "es"), rate=(150, 190))
        audio, sr = speak(rng, speaker=speaker, seconds=item.seconds, lead=(0.0, 0.05)), ESPEAK_SR
    elif item.label == "noise":
        from speechmusic.demo.noise import render_noise

        sr = SYNTH_SR
        audio = render_noise(rng, kind=str(rng.choice(_NOISE_KINDS)), seconds=item.seconds, sr=sr)
    else:
        texture = str(rng.choice(["band", "band", "orchestral", "solo", "chamber", "choir"]))
        from speechmusic.demo.music import TEXTURES

        lo, hi = TEXTURES[texture]
        vocal = None
        if texture in ("band", "chamber") and rng.random() < 0.4:
            vocal = Vocal("female" if rng.random() < 0.5 else "male",
                          "espeak" if rng.random() < 0.5 else "soundfont")
        parts = int(rng.integers(lo, hi + 1)) + (1 if vocal else 0)
        score = compose(rng, seconds=item.seconds, texture=texture, parts=parts, vocal=vocal)
        audio, sr = render(score), SYNTH_SR
    chain = replace(_CHAIN, sample_rate=item.sr)
    audio = chain.apply(audio, sr=sr, rng=rng)
    n = int(round(item.seconds * item.sr))
    audio = np.pad(audio, (0, max(0, n - audio.size)))[:n]
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    if rms > 0:
        audio = audio * np.float32(10 ** (rng.uniform(*_LEVEL_DB[item.label]) / 20) / rms)
    return audio.astype(np.float32)


def render_programme(*, seed: int = 0, seconds: float = 300.0, sr: int = 22050,
                     workers: int = 1, progress: bool = False):
    """A broadcast-like recording and its ground truth.

    Args:
        seed: the programme is a function of the seed.
        seconds: its length (at least 10 s; 300 s by default).
        sr: its sample rate.
        workers: processes rendering items at once (the result does not depend on it; with
            more than one, a calling script needs the ``if __name__ == "__main__":`` guard).
        progress: show a progress bar.

    Returns:
        ``(audio, segments)``: mono float32 at ``sr`` and a list of
        :class:`speechmusic.segment.formats.Segment` (labels in :data:`PROGRAMME_LABELS`) that
        covers ``[0, len(audio) / sr]`` without gaps or overlaps, every label at least once.
    """
    from speechmusic.demo._deps import require
    from speechmusic.demo._pool import run_jobs
    from speechmusic.segment.formats import SILENCE, Segment

    if seconds < 10.0:
        raise ConfigError(f"a programme must be at least 10 s long to hold every class, got {seconds}")
    if sr < 8000:
        raise ConfigError(f"sr must be at least 8000 Hz, got {sr}")
    for module in ("pretty_midi", "tinysoundfont", "espeakng_loader"):
        require(module)
    rng = np.random.default_rng([int(seed), 424242])
    plan = _schedule(rng, float(seconds))
    # Sample boundaries first, so that the items tile the programme exactly.
    edges = np.round(np.cumsum([0.0] + [length for _, length in plan]) * sr).astype(np.int64)
    edges[-1] = int(round(seconds * sr))
    items = [_Item(label, (edges[i + 1] - edges[i]) / sr, (int(seed), 424242, i), sr)
             for i, (label, _) in enumerate(plan)]
    jobs = [it for it in items if it.label != "silence"]
    rendered = iter(run_jobs(_render_item, jobs, workers=workers, desc="programme",
                             show_progress=progress))
    audio = np.zeros(int(edges[-1]), dtype=np.float32)
    fade = max(1, int(0.01 * sr))
    segments = []
    for i, item in enumerate(items):
        a, b = int(edges[i]), int(edges[i + 1])
        if item.label != "silence":
            piece = next(rendered)[: b - a]
            k = min(fade, piece.size // 2)
            if k:
                piece[:k] *= np.linspace(0.0, 1.0, k, dtype=np.float32)
                piece[piece.size - k:] *= np.linspace(1.0, 0.0, k, dtype=np.float32)
            audio[a:a + piece.size] = piece
        segments.append(Segment(SILENCE if item.label == "silence" else item.label, a / sr, b / sr))
    # The transmission's noise floor, 70 dB down, under everything: a silence is dead air, not
    # digital zero, and the pauses inside speech sink to the same floor.
    floor = np.random.default_rng([int(seed), 424242, 1]).standard_normal(audio.size)
    audio += (floor * 10 ** (-70 / 20)).astype(np.float32)
    peak = float(np.max(np.abs(audio)))
    if peak > 0.98:
        audio *= np.float32(0.98 / peak)
    return audio, segments


def write_programme(out_dir: str | os.PathLike, *, seed: int = 0, seconds: float = 300.0,
                    sr: int = 22050, workers: int = 1,
                    progress: bool = False) -> tuple[Path, Path]:
    """Render a programme into ``out_dir`` as ``programme.wav`` (16 bit) and its truth as
    ``programme.truth.csv`` (the segmenter's csv format); return both paths."""
    import soundfile as sf

    from speechmusic.data.files import atomic_write
    from speechmusic.segment.formats import write_segments

    audio, segments = render_programme(seed=seed, seconds=seconds, sr=sr, workers=workers,
                                       progress=progress)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wav = atomic_write(out / "programme.wav",
                       lambda fh: sf.write(fh, audio, sr, format="WAV", subtype="PCM_16"))
    truth = write_segments(segments, out / "programme.truth.csv", fmt="csv", name="programme",
                           engine="truth")
    return wav, truth
