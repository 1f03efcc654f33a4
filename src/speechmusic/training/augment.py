"""Augmented copies of training clips, made in the audio domain (``training.augment``).

A network trained on a few hundred recordings learns their recording conditions along with their
classes: a voice that is always clean, music that is never band-limited. Copies of each training
clip, mixed with the training split's own noise recordings at a drawn loudness difference,
reverberated, band-limited, codec-degraded or clipped (:class:`AugmentConfig`), put those
conditions on both sides of every class. The degradations are the speech-over-music mixer's
(:mod:`speechmusic.data.mixing`, audiomentations), the loudness difference is pyloudnorm's.

Each copy is a function of ``(seed, clip, copy index)`` and of the noise clip it was given, and
its features are cached like the clip's own (:meth:`FeatureCache.derived_ref`), so the folds of
a cross-validation and the final model share copies wherever they draw the same noise clip. The
noise clip comes from the fold's training clips (or from ``augment.noise``, recordings given for
nothing else), never from the clip's own group: a validation or test recording (or a
near-duplicate of the clip) is never heard through a copy.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from speechmusic.data.manifest import Clip, Manifest
from speechmusic.data.mixing import (
    band_limit,
    clip_distort,
    codec_degrade,
    reverberate,
    set_loudness_difference,
)
from speechmusic.errors import AudioError, ConfigError, SpeechMusicError
from speechmusic.features import FeatureConfig
from speechmusic.progress import progress
from speechmusic.training.cache import FeatureCache, FeatureRef
from speechmusic.training.config import AugmentConfig

__all__ = ["augment_signal", "augmented_refs", "noise_partner", "noise_recordings"]

log = logging.getLogger(__name__)


def _stable(text: str) -> int:
    """A seed from text, the same in every process (``hash`` is salted per process)."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:15], 16)


def augment_signal(x: np.ndarray, *, rate: int, config: AugmentConfig, rng: np.random.Generator,
                   noise: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """One augmented copy of the signal ``x`` (``[samples]`` at ``rate``).

    Args:
        x: the clip's samples.
        rate: their sample rate.
        config: which effects, how likely, how strong.
        rng: the copy's generator (every parameter is drawn from it).
        noise: samples of a noise recording to mix under ``x`` (with probability
            ``config.p_noise``; a random excerpt, repeated if shorter); ``None``: no mixing.

    Returns:
        ``(samples [samples] float32, peak-normalised; the effects applied, in order)``.
    """
    y = np.asarray(x, dtype=np.float32)
    effects: list[str] = []
    if noise is not None and len(noise) and len(y) and rng.random() < config.p_noise:
        n = len(y)
        bg = np.asarray(noise, dtype=np.float32)
        if len(bg) < n:
            bg = np.tile(bg, n // len(bg) + 1)
        start = int(rng.integers(0, len(bg) - n + 1))
        bg = bg[start: start + n]
        difference = float(rng.uniform(*config.snr_db))
        try:
            fg, _, _ = set_loudness_difference(y, bg, difference_db=difference, sample_rate=rate)
            y = fg + bg
            effects.append(f"noise {difference:+.1f} LU")
        except SpeechMusicError:  # the clip or the excerpt is silent: nothing to balance
            pass
    if rng.random() < config.p_reverb:
        y = reverberate(y, rate=rate, rt60=tuple(config.reverb_rt60), rng=rng)
        effects.append("reverb")
    if rng.random() < config.p_band_limit:
        y, name = band_limit(y, rate=rate, rng=rng)
        effects.append(name)
    if rng.random() < config.p_codec:
        y, name = codec_degrade(y, rate=rate, rng=rng)
        effects.append(name)
    if rng.random() < config.p_clipping:
        y = clip_distort(y, rate=rate, rng=rng, percent=tuple(config.clipping_percent))
        effects.append("clipping")
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > 0:  # as every clip is loaded (the paper's peak normalisation)
        y = y / np.float32(peak)
    return np.ascontiguousarray(y, dtype=np.float32), effects


def noise_partner(clip: Clip, copy: int, *, candidates: Sequence[Clip],
                  config: AugmentConfig) -> Clip | None:
    """The noise recording mixed under copy ``copy`` of ``clip``: of ``candidates`` (the noise
    recordings it may hear), ranked by a hash of (seed, clip, copy, candidate), the first not of
    the clip's own group. ``None`` for a clip of the noise class itself (noise under noise is
    still noise) or when there is none. A candidate's rank does not depend on the others: splits
    that both allow a clip's first choice give it the same one (and share the cached copy)."""
    if clip.label == config.noise_label:
        return None
    allowed = [n for n in candidates if n.group != clip.group]
    return min(allowed, key=lambda n: _stable(f"{config.seed}|{clip.id}|{copy}|{n.id}"), default=None)


def noise_recordings(paths: Sequence[str | os.PathLike], *, label: str) -> list[Clip]:
    """The recordings ``augment.noise`` names (folders searched recursively for audio files,
    sorted; audio files as they are), as clips of class ``label``, each its own group."""
    from speechmusic.audio import AUDIO_EXTENSIONS

    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS)
        elif p.is_file():
            found.append(p)
        else:
            raise ConfigError(f"training.augment.noise: {p} is neither a folder nor a file")
    if paths and not found:
        raise ConfigError(f"training.augment.noise: no audio file under {', '.join(map(str, paths))}")
    return [Clip(id=f"augment-noise:{f.resolve()}", path=str(f), label=label,
                 group=f"augment-noise:{f.resolve()}") for f in found]


def augmented_refs(clips: Manifest, train: Sequence[int], *, cache: FeatureCache,
                   feature_config: FeatureConfig, config: AugmentConfig,
                   desc: str = "augmented copies") -> tuple[list[FeatureRef], list[int]]:
    """Features of ``config.copies`` augmented copies of every clip in ``train``.

    Args:
        clips: the data (``train`` indexes it).
        train: the training clips: the ones copied, and (with ``config.noise``'s recordings)
            the only ones whose noise is mixed in.
        cache: computes and stores the copies' features (as it does the clips').
        feature_config: the input representation.
        config: the augmentation.
        desc: the progress bar's label.

    Returns:
        ``(refs, source)``: one :class:`FeatureRef` per copy, and the index in ``clips`` of the
        clip each copies. A copy that cannot be made (its noise recording unreadable) is left out
        with a warning.
    """
    if config.copies <= 0 or not train:
        return [], []
    train = list(train)
    # The noise a copy may hear: the training clips of the noise class, and augment.noise's.
    candidates = [clips[i] for i in train if clips[i].label == config.noise_label]
    candidates += noise_recordings(config.noise, label=config.noise_label)
    if not candidates and config.p_noise > 0:
        log.info("%s: no %r clip among the training clips and no augment.noise: copies are not "
                 "mixed with noise", desc, config.noise_label)
    rate = cache.signal_rate(feature_config)
    recipe = json.dumps(config.recipe(), sort_keys=True)
    refs: list[FeatureRef] = []
    source: list[int] = []
    decoded: dict[str, np.ndarray] = {}  # noise recordings heard by several copies: decoded once

    def noise_signal(noise_clip: Clip) -> np.ndarray:
        if noise_clip.id not in decoded:
            decoded[noise_clip.id] = cache.load_signal(noise_clip, feature_config)
        return decoded[noise_clip.id]

    for i in progress(train, desc=desc, unit="clip", total=len(train)):
        clip = clips[i]
        for copy in range(config.copies):
            noise_clip = noise_partner(clip, copy, candidates=candidates, config=config)
            try:
                tag = json.dumps({"augment": recipe, "clip": clip.id, "copy": copy,
                                  "noise": None if noise_clip is None else cache.key(noise_clip, feature_config)},
                                 sort_keys=True)

                def transform(x: np.ndarray, clip_id: str = clip.id, copy: int = copy,
                              noise_clip=noise_clip) -> np.ndarray:
                    noise = None if noise_clip is None else noise_signal(noise_clip)
                    rng = np.random.default_rng([config.seed, _stable(clip_id), copy])
                    return augment_signal(x, rate=rate, config=config, rng=rng, noise=noise)[0]

                refs.append(cache.derived_ref(clip, feature_config, tag=tag, transform=transform))
                source.append(i)
            except AudioError as exc:
                # str(exc) names the file that failed: the clip or its noise recording
                log.warning("%s: copy %d of %s left out: %s", desc, copy, clip.path, exc)
    return refs, source
