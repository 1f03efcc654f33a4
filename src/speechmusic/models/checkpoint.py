"""Self-describing checkpoints: everything needed to use a trained model, in one file.

A checkpoint is ``torch.save`` of a plain dict (strings, numbers, lists, dicts, tensors only, so it
loads with ``torch.load(..., weights_only=True)``)::

    format          "speechmusic-checkpoint"
    format_version  1
    package_version speechmusic version that wrote it
    model           {"name", "n_classes", "input_shape", "params"}  (build_model's arguments)
    feature_config  FeatureConfig.to_dict() or None
    normalizer      FeatureNormalizer.to_dict() or None
    labels          class names, in output order
    state_dict      the weights and batch-norm statistics
    extra           free metadata (JSON-like), e.g. where imported weights came from
    temperature     optional: the calibration temperature T (> 0); probabilities are
                    softmax(logits / T). Absent in older checkpoints, which read as T = 1.
"""

from __future__ import annotations

import math
import os
import pickle
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from speechmusic.errors import CheckpointError, ConfigError, SpeechMusicError
from speechmusic.features.config import FeatureConfig
from speechmusic.features.normalize import FeatureNormalizer
from speechmusic.models.base import SpeechMusicModel, plain
from speechmusic.models.registry import build_model

__all__ = ["Checkpoint", "save_checkpoint", "load_checkpoint", "package_version", "FORMAT_VERSION"]

FORMAT = "speechmusic-checkpoint"
FORMAT_VERSION = 1


def package_version() -> str:
    """The installed speechmusic version (``"0+unknown"`` when run from an uninstalled tree)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("speechmusic")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model (eval mode, on ``map_location``) and what describes it."""

    path: Path
    model: SpeechMusicModel
    labels: list[str]
    feature_config: FeatureConfig | None = None
    normalizer: FeatureNormalizer | None = None
    package_version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: Calibration: class probabilities are ``softmax(logits / temperature)`` (1: as trained).
    temperature: float = 1.0

    @property
    def fitted_normalizer(self) -> FeatureNormalizer | None:
        """The normaliser, where one was fitted (else None)."""
        return self.normalizer if self.normalizer is not None and self.normalizer.fitted else None

    @property
    def per_patch(self) -> bool:
        """Whether each patch is standardised on its own (INA's normalisation, kept by networks
        fine-tuned from INA's): no fitted normaliser and ``input_normalization: per_patch``."""
        return self.fitted_normalizer is None and self.extra.get("input_normalization") == "per_patch"

    @property
    def sliding_window(self) -> int | None:
        """Frames of the window each frame is standardised over, for a model trained with
        :class:`~speechmusic.features.SlidingStandardizer` (``input_normalization: sliding``);
        else None."""
        if self.fitted_normalizer is not None or self.extra.get("input_normalization") != "sliding":
            return None
        return int(self.extra.get("sliding_window") or self.model.input_shape[-1])

    def input_normalizer(self) -> Any:
        """What the model's inputs were normalised with, as patch sets and
        ``training.cross_validate`` take it: a :class:`~speechmusic.features.SlidingStandardizer`,
        a :class:`~speechmusic.features.PatchStandardizer`, the fitted normaliser, or None."""
        from speechmusic.features.normalize import PatchStandardizer, SlidingStandardizer

        if self.sliding_window is not None:
            return SlidingStandardizer(self.sliding_window)
        return PatchStandardizer() if self.per_patch else self.fitted_normalizer


def save_checkpoint(path: str | os.PathLike, *, model: SpeechMusicModel,
                    labels: list[str] | None = None, feature_config: FeatureConfig | None = None,
                    normalizer: FeatureNormalizer | None = None,
                    extra: dict[str, Any] | None = None, temperature: float = 1.0) -> Path:
    """Write ``model`` and its description to ``path`` (atomically); returns the path.

    ``labels`` defaults to ``model.labels``; there must be one per output class. A patch-shaped
    ``feature_config`` must give the model's input shape. ``temperature``: the calibration
    temperature users of the checkpoint divide the logits by before the softmax.
    """
    path = Path(path)
    if not isinstance(model, SpeechMusicModel):
        raise ConfigError(f"save_checkpoint needs a speechmusic model, got {type(model).__name__}")
    labels = list(model.labels if labels is None else labels)
    if len(labels) != model.n_classes or not all(isinstance(s, str) for s in labels):
        raise ConfigError(f"need {model.n_classes} label names (strings) for this model, got {labels!r}")
    if feature_config is not None:
        if not isinstance(feature_config, FeatureConfig):
            raise ConfigError(f"feature_config must be a FeatureConfig, got {type(feature_config).__name__}")
        if len(model.input_shape) == 2 and feature_config.patch_shape != model.input_shape:
            raise ConfigError(f"feature config gives patches {feature_config.patch_shape}, the model "
                              f"takes {model.input_shape}")
    if normalizer is not None and not isinstance(normalizer, FeatureNormalizer):
        raise ConfigError(f"normalizer must be a FeatureNormalizer, got {type(normalizer).__name__}")
    if not _valid_temperature(temperature):
        raise ConfigError(f"temperature must be a finite number > 0, got {temperature!r}")
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": package_version(),
        "model": model.spec(),
        "feature_config": None if feature_config is None else plain(feature_config.to_dict()),
        "normalizer": None if normalizer is None else plain(normalizer.to_dict()),
        "labels": labels,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "extra": plain(extra or {}),
        "temperature": float(temperature),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write next to the target and rename, so a crash never leaves a half-written checkpoint.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as fh:  # plain open: the file gets the user's umask, unlike mkstemp
            torch.save(payload, fh)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`; the model comes back in eval mode.

    A missing, unreadable, foreign or inconsistent file raises :class:`CheckpointError` naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        # Not a PyTorch file, or one holding code objects: torch's message advises loading it
        # with weights_only=False, which a checkpoint of ours never needs.
        raise CheckpointError(f"{path}: not a speechmusic checkpoint (not a PyTorch file of "
                              "weights and settings)") from None
    except Exception as exc:  # torch raises many kinds for corrupt or foreign files
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a speechmusic checkpoint")
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format {version!r} is newer than this speechmusic "
                              f"({package_version()}) reads; upgrade speechmusic")
    try:
        spec = data["model"]
        labels = list(data["labels"])
        state = data["state_dict"]
        name, n_classes, input_shape = spec["name"], spec["n_classes"], spec["input_shape"]
        params = dict(spec.get("params") or {})
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: checkpoint lacks {exc}") from None
    try:
        model = build_model(name, n_classes=n_classes, input_shape=input_shape, **params)
    except SpeechMusicError as exc:
        raise CheckpointError(f"{path}: cannot rebuild the model: {exc}") from None
    if len(labels) != model.n_classes:
        raise CheckpointError(f"{path}: {len(labels)} labels for {model.n_classes} classes")
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: state_dict is not a mapping")
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, ValueError) as exc:
        first = str(exc).strip().splitlines()
        raise CheckpointError(f"{path}: weights do not fit the model {name!r}: "
                              f"{' '.join(s.strip() for s in first[:3])}") from None
    try:
        feature_config = (None if data.get("feature_config") is None
                          else FeatureConfig.from_dict(data["feature_config"]))
        normalizer = (None if data.get("normalizer") is None
                      else FeatureNormalizer.from_dict(data["normalizer"]))
    except (SpeechMusicError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad feature description: {exc}") from None
    temperature = data.get("temperature", 1.0)
    if not _valid_temperature(temperature):
        raise CheckpointError(f"{path}: temperature must be a finite number > 0, got {temperature!r}")
    model.labels = labels
    model.to(map_location).eval()
    return Checkpoint(path=path, model=model, labels=labels, feature_config=feature_config,
                      normalizer=normalizer, package_version=str(data.get("package_version", "")),
                      extra=dict(data.get("extra") or {}), temperature=float(temperature))


def _valid_temperature(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)
