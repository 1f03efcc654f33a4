"""Cross-validation of one experiment: features, grouped folds, fit, test, one folder per fold.

:func:`cross_validate` is the protocol of paper section 4.3 for any model a caller can build:
the run engine passes a factory for registry architectures, a transfer-learning stage passes one
that loads a pretrained checkpoint, replaces its classifier and freezes layers (``trainable``
picks the parameters the optimiser sees). Per fold it writes into ``out_dir/fold_<k>/``::

    split.json        clip ids of train / val / test
    history.json      the fit history (loss and accuracy per epoch, best epoch)
    train.log         one line per epoch
    model.pt          checkpoint (model, labels, FeatureConfig, the fold's normaliser)
    predictions.npz   test patch probabilities, patch -> clip index, labels, clip ids
    metrics.json      frame- and file-wise metrics; written last: its presence marks the fold done

A fold whose ``metrics.json`` exists is never trained again, so an interrupted run resumes where
it stopped and gives the same numbers (every fold is seeded on its own).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from speechmusic.audio import load_audio, resample
from speechmusic.data.files import atomic_write, atomic_write_json
from speechmusic.data.manifest import Clip, Manifest
from speechmusic.data.splits import Split, check_no_leak, make_folds
from speechmusic.errors import AudioError, ConfigError
from speechmusic.evaluation.metrics import aggregate_folds, evaluate_predictions
from speechmusic.features import FeatureConfig, FeatureNormalizer
from speechmusic.features.normalize import PatchStandardizer, SlidingStandardizer
from speechmusic.progress import progress
from speechmusic.training.augment import augmented_refs
from speechmusic.training.cache import FeatureCache, FeatureRef
from speechmusic.training.config import NORMALIZERS, AugmentConfig, ProtocolConfig, TrainConfig
from speechmusic.training.loop import (
    EpochLog,
    FitResult,
    fit,
    gain_direction,
    predict_proba,
    seed_everything,
)
from speechmusic.training.patches import PatchSet

__all__ = [
    "AudioProtocol",
    "UnifiedAudioCache",
    "protocol_cache",
    "quantize",
    "fit_minmax",
    "fit_standard",
    "make_normalizer",
    "stored_normalizer",
    "check_splittable",
    "SkipRecord",
    "PreparedData",
    "FoldContext",
    "CVResult",
    "extract_features",
    "fold_seed",
    "cross_validate",
    "fold_done",
    "collecting_results",
]

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"


@dataclass(frozen=True)
class SkipRecord:
    """A clip left out, and why. ``stage``: ``read`` (cannot be decoded) or ``short``."""

    path: str
    clip_id: str
    dataset: str
    reason: str
    stage: str = "read"
    features: str = ""


@dataclass
class PreparedData:
    """The readable clips of a manifest and their features (aligned), plus what was skipped."""

    manifest: Manifest
    refs: list[FeatureRef]
    skipped: list[SkipRecord] = field(default_factory=list)


@dataclass(frozen=True)
class FoldContext:
    """What a model factory gets: build a model for ``labels`` taking ``input_shape`` patches."""

    fold: int
    labels: tuple[str, ...]
    input_shape: tuple[int, int]
    feature_config: FeatureConfig
    seed: int


@dataclass
class CVResult:
    out_dir: Path
    labels: list[str]
    folds: list[dict[str, Any]]
    summary: dict[str, Any]
    skipped: list[SkipRecord]
    trained_folds: list[int]


def quantize(audio: np.ndarray, bits: int) -> np.ndarray:
    """``audio`` in [-1, 1] rounded to ``bits``-bit PCM levels (``2 ** (bits - 1) - 1`` steps
    each side of zero, as a float-to-PCM conversion writes them; samples beyond ±1 clip)."""
    levels = float(2 ** (int(bits) - 1) - 1)
    return (np.round(np.clip(np.asarray(audio, dtype=np.float64), -1.0, 1.0) * levels)
            / levels).astype(np.float32)


@dataclass(frozen=True)
class AudioProtocol:
    """How a clip's signal is prepared before features or embeddings (paper section 4.2): decoded,
    peak-normalised into [-1, 1], resampled to ``unify_sample_rate`` (``None``: straight to the
    consumer's rate), rounded to ``bit_depth`` bits (``None``: float), then resampled to the
    rate of whoever reads it (an input representation or an embedder)."""

    unify_sample_rate: int | None = None
    bit_depth: int | None = None

    @classmethod
    def of(cls, protocol: ProtocolConfig) -> AudioProtocol:
        return cls(unify_sample_rate=protocol.unify_sample_rate, bit_depth=protocol.bit_depth)

    @property
    def active(self) -> bool:
        """Whether it differs from plain decoding at the consumer's rate."""
        return self.unify_sample_rate is not None or self.bit_depth is not None

    def describe(self) -> dict[str, Any]:
        return {"unify_sample_rate": self.unify_sample_rate, "bit_depth": self.bit_depth}

    def load(self, clip: Clip, sample_rate: int) -> np.ndarray:
        """The clip's signal at ``sample_rate``, prepared as described; raises ``AudioError``."""
        rate = self.unify_sample_rate or int(sample_rate)
        audio = load_audio(clip.path, sr=rate, offset=clip.start or 0.0, duration=clip.duration)
        if self.bit_depth is not None:
            audio = quantize(audio, self.bit_depth)
        if rate != sample_rate:
            audio = resample(audio, orig_sr=rate, target_sr=int(sample_rate))
        return np.ascontiguousarray(audio, dtype=np.float32)


class UnifiedAudioCache(FeatureCache):
    """A :class:`FeatureCache` whose features are computed from audio prepared by an
    :class:`AudioProtocol` (its settings enter every entry's key). ``stats`` may be shared with
    the cache it stands in for."""

    def __init__(self, root: str | Path | None, audio: AudioProtocol, *, stats: Any = None) -> None:
        super().__init__(root)
        self.audio = audio
        if stats is not None:
            self.stats = stats
        self._identity = json.dumps(audio.describe(), sort_keys=True)

    def key(self, clip: Clip, config: FeatureConfig) -> str:
        base = super().key(clip, config)
        return hashlib.sha256((base + self._identity).encode()).hexdigest()[:32]

    def load_signal(self, clip: Clip, config: FeatureConfig) -> np.ndarray:
        return self.audio.load(clip, config.sample_rate)


def protocol_cache(cache: FeatureCache, protocol: ProtocolConfig) -> FeatureCache:
    """``cache`` itself, or a :class:`UnifiedAudioCache` on the same folder (and counters) when
    the protocol asks for a unified sample rate or bit depth."""
    audio = AudioProtocol.of(protocol)
    if not audio.active or isinstance(cache, UnifiedAudioCache):
        return cache
    return UnifiedAudioCache(cache.root, audio, stats=cache.stats)


def fit_standard(features: Iterable[np.ndarray]) -> FeatureNormalizer:
    """One mean and one standard deviation over every finite value of ``features`` (each
    ``[n_features, frames]``; the training split), the same for all features, as a
    :class:`FeatureNormalizer`: ``(x - mean) / std``. INA's per-patch standardisation made fixed:
    the input keeps its loudness and the shape across bands, and one affine map for the whole
    file lets a convolutional network share its convolutions between patches exactly
    (:mod:`speechmusic.models.patchwise`). Non-finite values (INA's bands on digital silence)
    are left out of the statistics."""
    total = total_sq = 0.0
    count, n = 0, None
    for feats in features:
        a = np.asarray(feats, dtype=np.float64)
        if a.ndim < 2:
            raise ConfigError(f"expected [..., n_features, frames], got shape {a.shape}")
        if n is not None and a.shape[-2] != n:
            raise ConfigError(f"feature count changed from {n} to {a.shape[-2]}")
        n = a.shape[-2]
        a = a[np.isfinite(a)]
        total += float(a.sum())
        total_sq += float(np.square(a).sum())
        count += a.size
    if n is None or count == 0:
        raise ConfigError("cannot fit a normaliser on no data")
    mean = total / count
    std = float(np.sqrt(max(total_sq / count - mean * mean, 0.0))) or 1.0
    return FeatureNormalizer(np.full(n, mean, dtype=np.float32), np.full(n, std, dtype=np.float32))


def make_normalizer(normalizer: str | FeatureNormalizer | None,
                    training_features: Callable[[], Iterable[np.ndarray]], *, window: int = 68) -> Any:
    """The normaliser a name asks for, fitted on ``training_features()`` (the training clips'
    ``[n_features, frames]`` matrices) where it needs fitting: ``"fit"`` (per feature, zero mean,
    into [-1, 1]), ``"minmax"`` (:func:`fit_minmax`), ``"standard"`` (:func:`fit_standard`),
    ``"per_patch"`` (a :class:`PatchStandardizer`, INA's), ``"sliding"`` (a
    :class:`SlidingStandardizer` over ``window`` frames, the model's patch length); a normaliser
    object (or ``None``) is returned as it is."""
    if normalizer == "fit":
        return FeatureNormalizer().fit(training_features())
    if normalizer == "minmax":
        return fit_minmax(training_features())
    if normalizer == "standard":
        return fit_standard(training_features())
    if normalizer == "per_patch":
        return PatchStandardizer()
    if normalizer == "sliding":
        return SlidingStandardizer(window)
    if isinstance(normalizer, str):
        raise ConfigError(f"normalizer must be one of {list(NORMALIZERS)}, a FeatureNormalizer or "
                          f"None, got {normalizer!r}")
    return normalizer


def stored_normalizer(norm: Any, extra: dict[str, Any]) -> tuple[FeatureNormalizer | None, dict[str, Any]]:
    """What a checkpoint stores of the normaliser ``norm`` it was trained with: a fitted one as
    it is; INA's standardisations (per patch, sliding), which have nothing fitted, as marks in
    ``extra`` (as INA's imported checkpoints mark theirs)."""
    if isinstance(norm, (PatchStandardizer, SlidingStandardizer)):
        return None, {**extra, **norm.checkpoint_extra()}
    return norm, extra


def fit_minmax(features: Iterable[np.ndarray]) -> FeatureNormalizer:
    """A normaliser mapping each feature (row of ``[n_features, frames]``) to [0, 1] by its
    minimum and maximum over ``features`` (the training split): ``(x - min) / (max - min)``, as a
    :class:`FeatureNormalizer` (mean = min, scale = range), so checkpoints store it as any other."""
    lo = hi = None
    for feats in features:
        a = np.asarray(feats, dtype=np.float64)
        if a.ndim < 2:
            raise ConfigError(f"expected [..., n_features, frames], got shape {a.shape}")
        a = np.moveaxis(a, -2, 0).reshape(a.shape[-2], -1)
        if a.shape[1] == 0:
            continue
        if not np.isfinite(a).all():
            raise ConfigError("non-finite feature values in the training data")
        if lo is None:
            lo, hi = a.min(1), a.max(1)
        else:
            if a.shape[0] != lo.shape[0]:
                raise ConfigError(f"feature count changed from {lo.shape[0]} to {a.shape[0]}")
            lo, hi = np.minimum(lo, a.min(1)), np.maximum(hi, a.max(1))
    if lo is None:
        raise ConfigError("cannot fit a normaliser on no data")
    scale = hi - lo
    scale[scale <= 0] = 1.0  # a constant feature maps to zero
    return FeatureNormalizer(lo.astype(np.float32), scale.astype(np.float32))


def extract_features(manifest: Manifest, config: FeatureConfig, cache: FeatureCache, *,
                     desc: str = "features", features_name: str = "") -> PreparedData:
    """Features of every clip (from the cache where present); unreadable clips are skipped with
    their reason rather than stopping the run."""
    clips, refs, skipped = [], [], []
    for clip in progress(manifest, desc=desc, unit="clip", total=len(manifest)):
        try:
            refs.append(cache.ref(clip, config))
            clips.append(clip)
        except AudioError as exc:
            log.warning("skipping %s: %s", clip.path, exc.reason)
            skipped.append(SkipRecord(path=clip.path, clip_id=clip.id, dataset=clip.dataset,
                                      reason=exc.reason, stage="read", features=features_name))
    return PreparedData(manifest=Manifest(clips), refs=refs, skipped=skipped)


def fold_seed(seed: int, name: str, fold: int) -> int:
    """A stable per-fold seed (independent of which folds ran before in this process)."""
    digest = hashlib.sha256(f"{seed}:{name}:{fold}".encode()).hexdigest()
    return int(digest[:8], 16) & 0x7FFFFFFF


def fold_done(fold_dir: Path) -> bool:
    return (fold_dir / METRICS_FILE).is_file()


_COLLECTING: contextvars.ContextVar[bool] = contextvars.ContextVar("collecting_results", default=False)


@contextlib.contextmanager
def collecting_results() -> Iterator[None]:
    """Within it, folds found finished are not announced as "done earlier": for a pass that
    only gathers results the same session has just trained elsewhere (the demo's final pass
    over units its worker processes ran), where they were not done by an earlier run."""
    token = _COLLECTING.set(True)
    try:
        yield
    finally:
        _COLLECTING.reset(token)


def _stratify_keys(manifest: Manifest) -> list[Any] | None:
    return [(c.dataset, c.label) for c in manifest] if len(manifest.datasets) > 1 else None


def check_splittable(manifest: Manifest, *, labels: list[str], protocol: ProtocolConfig) -> None:
    """Raise :class:`ConfigError` with the reason when :func:`cross_validate` could not split
    ``manifest`` by ``protocol`` (too few independent groups for its blocks) or when a class of
    ``labels`` has no clip: what a run reports as a skipped experiment before training."""
    missing = [lab for lab in labels if lab not in set(manifest.labels)]
    if missing:
        have = ", ".join(sorted(set(manifest.labels))) or "nothing"
        raise ConfigError(f"no clips of class(es) {missing} (the data has {have})")
    make_folds(manifest, n_folds=protocol.n_folds, test_fraction=protocol.test_fraction,
               val_fraction=protocol.val_fraction, seed=protocol.seed,
               stratify=_stratify_keys(manifest))


def _save_model(path: Path, model: nn.Module, *, labels: list[str], feature_config: FeatureConfig,
                normalizer: FeatureNormalizer | None, extra: dict[str, Any]) -> None:
    from speechmusic.models import SpeechMusicModel, save_checkpoint

    if isinstance(model, SpeechMusicModel):
        save_checkpoint(path, model=model, labels=labels, feature_config=feature_config,
                        normalizer=normalizer, extra=extra)
    else:  # a caller's own module: its weights and what describes them
        payload = {"state_dict": model.state_dict(), "labels": labels,
                   "feature_config": feature_config.to_dict(),
                   "normalizer": None if normalizer is None else normalizer.to_dict(), "extra": extra}
        atomic_write(path, lambda fh: torch.save(payload, fh))


def cross_validate(
    manifest: Manifest,
    *,
    labels: list[str],
    feature_config: FeatureConfig,
    model_factory: Callable[[FoldContext], nn.Module],
    out_dir: str | Path,
    protocol: ProtocolConfig | None = None,
    training: TrainConfig | None = None,
    cache: FeatureCache | None = None,
    prepared: PreparedData | None = None,
    trainable: Callable[[nn.Module], Iterable[nn.Parameter]] | None = None,
    normalizer: str | FeatureNormalizer | None = "fit",
    seed: int = 0,
    name: str = "",
    features_name: str = "",
    checkpoint_extra: dict[str, Any] | None = None,
    on_fold_end: Callable[[int, dict[str, Any]], None] | None = None,
    on_epoch: Callable[[int, EpochLog], None] | None = None,
) -> CVResult:
    """Run (or resume) k-fold cross-validation of one model on one manifest.

    Args:
        manifest: clips whose labels are all in ``labels``.
        labels: class names in model output order.
        feature_config: the input representation; patches are ``feature_config.patch_shape``.
        model_factory: ``FoldContext -> nn.Module`` returning a model for ``len(labels)`` classes
            (called after seeding torch with the fold's seed, so random inits are reproducible).
        out_dir: the experiment's folder (``fold_<k>/`` below it).
        protocol, training: defaults are the paper's.
        cache: the feature cache (default: in memory only).
        prepared: features already extracted for ``manifest`` (skips extraction).
        trainable: ``model -> parameters`` the optimiser updates (default: the model's
            ``trainable_parameters()``, i.e. what is not frozen).
        normalizer: ``"fit"`` fits a :class:`FeatureNormalizer` on each fold's training clips
            (zero mean, into [-1, 1]); ``"minmax"`` scales each feature to [0, 1] by its range
            on the training clips (:func:`fit_minmax`); ``"standard"`` one mean and standard
            deviation for all features (:func:`fit_standard`); ``"per_patch"`` INA's
            standardisation of every patch on its own; a fitted normaliser is used as is (e.g.
            a pretrained checkpoint's); ``None``: none.
        seed: base seed of weights, shuffling and dropout (splits use ``protocol.seed``).
        name: the experiment's name (enters the fold seeds and the logs).
        features_name: the representation's name, for ``skipped`` records.
        checkpoint_extra: merged into every checkpoint's ``extra``.
        on_fold_end: called with ``(fold, metrics)`` after each newly trained fold.
        on_epoch: called with ``(fold, EpochLog)`` after every training epoch (progress).

    Returns:
        :class:`CVResult`: per-fold metrics (also those of earlier, resumed runs), their summary
        (mean and std over folds, also in ``out_dir/summary.json``) and the skipped clips.
    """
    protocol = protocol or ProtocolConfig()
    training = training or TrainConfig()
    cache = cache or FeatureCache(None)
    out_dir = Path(out_dir)
    labels = list(labels)
    if isinstance(normalizer, str) and normalizer not in NORMALIZERS:
        raise ConfigError(f"normalizer must be one of {list(NORMALIZERS)}, a FeatureNormalizer "
                          f"or None, got {normalizer!r}")
    if prepared is None:
        prepared = extract_features(manifest, feature_config, cache, desc=f"features {name}".strip(),
                                    features_name=features_name)
    clips, refs = prepared.manifest, prepared.refs
    skipped = list(prepared.skipped)
    unknown = sorted(set(clips.labels) - set(labels))
    if unknown:
        raise ConfigError(f"{name or 'experiment'}: clips labelled {unknown} are not among the "
                          f"classes {labels}")
    if len(clips) == 0:
        raise ConfigError(f"{name or 'experiment'}: no readable clips")
    label_index = {lab: i for i, lab in enumerate(labels)}
    clip_y = np.array([label_index[c.label] for c in clips], dtype=np.int64)
    pf = feature_config.patch_frames
    pad = protocol.short_clips == "pad"
    short = [i for i, r in enumerate(refs) if r.n_frames < pf and not (pad and r.n_frames > 0)]
    for i in short:
        c = clips[i]
        seconds = refs[i].n_frames / feature_config.frame_rate
        skipped.append(SkipRecord(
            path=c.path, clip_id=c.id, dataset=c.dataset, stage="short", features=features_name,
            reason=f"shorter than one patch ({refs[i].n_frames} < {pf} frames, {seconds:.2f} s)"))
    combined = len(clips.datasets) > 1
    balance_keys = [(c.dataset, c.label) for c in clips] if combined else [c.label for c in clips]

    # Splits depend on the clips and protocol.seed only: every model and input representation
    # of the same data sees the same folds.
    splits = make_folds(clips, n_folds=protocol.n_folds, test_fraction=protocol.test_fraction,
                        val_fraction=protocol.val_fraction, seed=protocol.seed,
                        stratify=_stratify_keys(clips))
    wanted = protocol.folds if protocol.folds is not None else list(range(protocol.n_folds))
    earlier = [s.fold for s in splits if s.fold in wanted and fold_done(out_dir / f"fold_{s.fold}")]
    if earlier:
        # One line per experiment, and none in a pass that only collects what this same session
        # trained (see collecting_results).
        log.log(logging.DEBUG if _COLLECTING.get() else logging.INFO,
                "%s: fold%s %s done earlier, not retrained", name or out_dir.name,
                "s" if len(earlier) > 1 else "", ", ".join(map(str, earlier)))
    fold_metrics: list[dict[str, Any]] = []
    trained: list[int] = []
    for split in splits:
        if split.fold not in wanted:
            continue
        fold_dir = out_dir / f"fold_{split.fold}"
        if fold_done(fold_dir):
            fold_metrics.append(json.loads((fold_dir / METRICS_FILE).read_text(encoding="utf-8")))
            continue
        metrics = _run_fold(
            split=split, clips=clips, refs=refs, clip_y=clip_y, labels=labels, short=set(short),
            balance_keys=balance_keys, feature_config=feature_config, model_factory=model_factory,
            fold_dir=fold_dir, protocol=protocol, training=training, trainable=trainable,
            normalizer=normalizer, seed=fold_seed(seed, name, split.fold), name=name,
            checkpoint_extra=checkpoint_extra or {}, on_epoch_end=on_epoch, cache=cache)
        fold_metrics.append(metrics)
        trained.append(split.fold)
        if on_fold_end is not None:
            on_fold_end(split.fold, metrics)
    summary = aggregate_folds(fold_metrics, labels)
    summary.update({"name": name, "folds": [m["fold"] for m in fold_metrics],
                    "n_clips": len(clips), "n_skipped": len(skipped)})
    atomic_write_json(out_dir / "summary.json", summary)
    return CVResult(out_dir=out_dir, labels=labels, folds=fold_metrics, summary=summary,
                    skipped=skipped, trained_folds=trained)


def with_augmented_copies(train: Sequence[int], *, clips: Manifest, refs: list[FeatureRef],
                          clip_y: np.ndarray, balance_keys: list[Any], cache: FeatureCache,
                          feature_config: FeatureConfig, config: AugmentConfig,
                          desc: str) -> tuple[list[FeatureRef], np.ndarray, list[Any], list[int],
                                              dict[str, Any]]:
    """The training clips ``train`` and their augmented copies (:mod:`.augment`), as
    ``(refs, clip_y, balance_keys, training indices, info)`` over ``refs`` extended by the
    copies (a copy has its clip's label and balancing key); ``info``: how many copies, how many
    computed rather than read from the cache, in how many seconds."""
    start, computed = time.perf_counter(), cache.stats.extracted
    extra, source = augmented_refs(clips, train, cache=cache, feature_config=feature_config,
                                   config=config, desc=desc)
    info = {"copies": len(extra), "computed": cache.stats.extracted - computed,
            "seconds": round(time.perf_counter() - start, 2)}
    n = len(refs)
    return ([*refs, *extra], np.concatenate([clip_y, clip_y[np.asarray(source, dtype=np.int64)]]),
            [*balance_keys, *(balance_keys[i] for i in source)],
            [*train, *range(n, n + len(extra))], info)


def _patchset(indices: Iterable[int], *, refs: list[FeatureRef], clip_y: np.ndarray,
              balance_keys: list[Any], short: set[int], feature_config: FeatureConfig,
              normalizer: FeatureNormalizer | None, limit: int | None, pad: bool) -> tuple[PatchSet, list[int]]:
    keep = [i for i in indices if i not in short]
    data = PatchSet([refs[i] for i in keep], clip_y[keep], patch_frames=feature_config.patch_frames,
                    hop=feature_config.hop, normalizer=normalizer, max_patches_per_clip=limit,
                    pad=pad, clip_keys=[balance_keys[i] for i in keep],
                    drop_nonfinite=feature_config.kind == "ina_bands")
    return data, keep


def _run_fold(*, split: Split, clips: Manifest, refs: list[FeatureRef], clip_y: np.ndarray,
              labels: list[str], short: set[int], balance_keys: list[Any],
              feature_config: FeatureConfig, model_factory: Callable[[FoldContext], nn.Module],
              fold_dir: Path, protocol: ProtocolConfig, training: TrainConfig,
              trainable: Callable[[nn.Module], Iterable[nn.Parameter]] | None,
              normalizer: str | FeatureNormalizer | None, seed: int, name: str,
              checkpoint_extra: dict[str, Any],
              on_epoch_end: Callable[[int, EpochLog], None] | None = None,
              cache: FeatureCache | None = None) -> dict[str, Any]:
    check_no_leak(clips, split)
    fold_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(fold_dir / "split.json", split.to_dict(clips))
    rng = np.random.default_rng(seed)
    train_idx = [i for i in split.train if i not in short]
    if not train_idx:
        raise ConfigError(f"{name} fold {split.fold}: no usable training clips")
    # Fitted on the training split only.
    norm = make_normalizer(normalizer, lambda: (refs[i].load() for i in train_idx),
                           window=feature_config.patch_frames)
    pad = protocol.short_clips == "pad"
    common = dict(refs=refs, clip_y=clip_y, balance_keys=balance_keys, short=short,
                  feature_config=feature_config, normalizer=norm, pad=pad)
    val, _ = _patchset(split.val, limit=None, **common)  # all of them: a steadier stopping signal
    test, test_clips = _patchset(split.test, limit=None, **common)
    if training.augment.copies:
        train_refs, train_y, train_keys, train_sel, augmented = with_augmented_copies(
            train_idx, clips=clips, refs=refs, clip_y=clip_y, balance_keys=balance_keys,
            cache=cache or FeatureCache(None), feature_config=feature_config,
            config=training.augment, desc=f"{name} fold {split.fold}: augmented copies".strip())
        common.update(refs=train_refs, clip_y=train_y, balance_keys=train_keys)
    else:
        train_sel, augmented = split.train, None
    train, _ = _patchset(train_sel, limit=protocol.max_patches_per_clip, **common)
    if protocol.balance:
        train = train.balanced(rng=rng)
        val = val.balanced(rng=rng)
    if protocol.balance_test:
        test = test.balanced(rng=rng)
    budget = training.max_memory_mb * 2**20
    for part in (train, val, test):  # in memory while they fit the budget, in that order
        budget -= part.nbytes if part.materialize(max_bytes=budget) else 0
    counts = {part: np.bincount(data.patch_label, minlength=len(labels)).tolist()
              for part, data in (("train", train), ("val", val), ("test", test))}
    # Training patches per balancing key: per label, or per (dataset, label) when combined.
    shares: dict[str, int] = {}
    for key in train.patch_keys():
        k = "/".join(key) if isinstance(key, tuple) else str(key)
        shares[k] = shares.get(k, 0) + 1
    log.info("%s fold %d: patches train %s, val %s, test %s", name, split.fold, counts["train"],
             counts["val"], counts["test"])

    seed_everything(seed)
    ctx = FoldContext(fold=split.fold, labels=tuple(labels), input_shape=feature_config.patch_shape,
                      feature_config=feature_config, seed=seed)
    model = model_factory(ctx)
    params = trainable(model) if trainable is not None else None
    train_log = fold_dir / "train.log"
    train_log.write_text(f"{name} fold {split.fold}: seed {seed}, patches {counts}\n", encoding="utf-8")

    def on_epoch(e: EpochLog) -> None:
        val_part = (f" val_loss {e.val_loss:.4f} val_acc {e.val_accuracy:.4f}"
                    if e.val_accuracy is not None else "")
        with train_log.open("a", encoding="utf-8") as fh:  # a live log: appended per epoch
            fh.write(f"epoch {e.epoch:4d} loss {e.train_loss:.4f} acc {e.train_accuracy:.4f}"
                     f"{val_part} ({e.seconds:.1f} s)\n")
        if on_epoch_end is not None:
            on_epoch_end(split.fold, e)

    direction = gain_direction(feature_config, norm) if training.gain_jitter_db else None
    result: FitResult = fit(model, train, val, config=training, parameters=params, seed=seed,
                            desc=f"{name} fold {split.fold}".strip(), on_epoch=on_epoch,
                            gain_direction=direction)
    with train_log.open("a", encoding="utf-8") as fh:
        fh.write(f"best epoch {result.best_epoch} (val_acc {result.best_val_accuracy}), "
                 f"{result.epochs_run} epochs, early stop: {result.stopped_early}\n")
    atomic_write_json(fold_dir / "history.json", result.to_dict())

    probs = predict_proba(model, test, batch_size=training.eval_batch_size)
    if len(test) == 0:
        probs = np.zeros((0, len(labels)), dtype=np.float32)
    test_clip_y = clip_y[test_clips] if test_clips else np.zeros(0, dtype=np.int64)
    metrics = evaluate_predictions(probs, patch_labels=test.patch_label, patch_clip=test.patch_clip,
                                   clip_labels=test_clip_y, labels=labels)
    atomic_write(fold_dir / "predictions.npz", lambda fh: np.savez_compressed(
        fh, probs=probs, patch_clip=test.patch_clip, patch_label=test.patch_label,
        clip_label=test_clip_y, clip_id=np.array([clips[i].id for i in test_clips], dtype=str),
        labels=np.array(labels, dtype=str)))
    extra = {"experiment": name, "fold": split.fold, "seed": seed, "best_epoch": result.best_epoch,
             **checkpoint_extra}
    norm, extra = stored_normalizer(norm, extra)
    _save_model(fold_dir / "model.pt", model, labels=labels, feature_config=feature_config,
                normalizer=norm, extra=extra)
    metrics.update({
        "fold": split.fold, "experiment": name, "labels": labels, "seed": seed,
        "patches": counts,
        "train_shares": dict(sorted(shares.items())),
        "clips": {"train": len(split.train), "val": len(split.val), "test": len(split.test)},
        "fit": {k: v for k, v in result.to_dict().items() if k != "history"},
        **({"augmented": augmented} if augmented is not None else {}),
    })
    atomic_write_json(fold_dir / METRICS_FILE, metrics)  # last: marks the fold as done
    log.info("%s fold %d: frame acc %.4f, file acc %.4f (%d epochs, best %d)", name, split.fold,
             metrics["frame"]["accuracy"], metrics["file"]["accuracy"], result.epochs_run,
             result.best_epoch)
    return metrics
