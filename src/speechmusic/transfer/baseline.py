"""Embedding baselines: a general embedding (OpenL3, YAMNet, INA's published network, a
checkpoint's red line) and the trainable classifier on its frames, ready for
:func:`speechmusic.training.cross_validate`. Both stages use it: ``speechmusic run`` puts the
baselines beside the networks in Figures 4 and 5, ``speechmusic transfer`` in Table 2.

The classifier is the paper's for OpenL3 (section 4.1): "These vectors are normalized between 0
and 1 and used as input for a trainable neural classifier consisting of a 128 unit dense layer
followed by the final classifier with Sigmoid activation." Here:

* scaling (``EmbedderSpec.scaling``): ``minmax`` maps each embedding dimension to [0, 1] by its
  minimum and maximum over the fold's training split (:func:`speechmusic.training.cv.fit_minmax`);
  ``zero_mean`` is the networks' own normaliser (zero mean, into [-1, 1]);
* output (``EmbedderSpec.output``): ``sigmoid`` gives one sigmoid unit per class
  (:class:`EmbeddingHead`); ``softmax`` a softmax layer (the ``mlp_head`` architecture).

Every embedding frame is a training example (one "patch" of one frame); a clip's file-wise
decision averages its frames' probabilities like any other model's.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from speechmusic.audio import load_audio
from speechmusic.data.manifest import Clip
from speechmusic.errors import (
    AudioTooShortError,
    ConfigError,
    EmptyAudioError,
    WeightsUnavailableError,
)
from speechmusic.features import FeatureConfig
from speechmusic.models.dense import EmbeddingHead
from speechmusic.models.registry import build_model
from speechmusic.training.cache import FeatureCache
from speechmusic.training.config import EmbedderSpec
from speechmusic.training.cv import AudioProtocol, FoldContext
from speechmusic.transfer.embedders import Embedder

__all__ = ["EmbeddingHead", "EmbeddingCache", "EmbeddingBaseline", "build_spec_embedder",
           "embedding_feature_config", "open_baselines"]


def embedding_feature_config(embedder: Embedder) -> FeatureConfig:
    """The shape of an embedder's output as a :class:`FeatureConfig`, so that the training engine
    treats embedding matrices ``[dim, frames]`` like features: ``n_features = dim``, one frame per
    patch, ``hop_length`` the embedding hop in samples. It describes no front-end (``kind`` is
    nominal); checkpoints trained on it carry ``extra.input = "embeddings"`` and the embedder."""
    hop = max(1, round(embedder.hop_seconds * embedder.sample_rate))
    return FeatureConfig(kind="logmel", sample_rate=int(embedder.sample_rate), n_fft=hop,
                         hop_length=hop, n_mels=int(embedder.embedding_size), patch_frames=1,
                         patch_hop=1)


class EmbeddingCache(FeatureCache):
    """A :class:`FeatureCache` whose "features" are an embedder's output, transposed to
    ``[dim, frames]``; entries are keyed by the clip, the embedder's :meth:`describe` and the
    audio preparation (``audio``: the protocol's unified rate and bit depth, if any)."""

    def __init__(self, root: str | os.PathLike | None, embedder: Embedder, *,
                 audio: AudioProtocol | None = None) -> None:
        super().__init__(root)
        self.embedder = embedder
        self.audio = audio if audio is not None and audio.active else None
        identity: dict[str, Any] = dict(embedder.describe())
        if self.audio is not None:
            identity["audio"] = self.audio.describe()
        self._identity = json.dumps(identity, sort_keys=True)
        self.config = embedding_feature_config(embedder)

    def key(self, clip: Clip, config: FeatureConfig) -> str:
        base = super().key(clip, config)
        return hashlib.sha256((base + self._identity).encode()).hexdigest()[:32]

    def signal_rate(self, config: FeatureConfig) -> int:
        return int(self.embedder.sample_rate)

    def load_signal(self, clip: Clip, config: FeatureConfig) -> np.ndarray:
        if self.audio is not None:
            return self.audio.load(clip, self.embedder.sample_rate)
        return load_audio(clip.path, sr=self.embedder.sample_rate, offset=clip.start or 0.0,
                          duration=clip.duration)

    def extract(self, clip: Clip, config: FeatureConfig,
                transform: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        if self.audio is None and transform is None:
            emb, _ = self.embedder.embed_file(clip.path, offset=clip.start or 0.0,
                                              duration=clip.duration)
        else:
            audio = self.load_signal(clip, config)
            if transform is not None:
                audio = transform(audio)
            try:
                emb, _ = self.embedder.embed(audio)
            except (EmptyAudioError, AudioTooShortError) as exc:
                raise type(exc)(clip.path, exc.reason) from None
        return np.ascontiguousarray(emb.T, dtype=np.float32)


def build_spec_embedder(spec: EmbedderSpec) -> Embedder:
    """The embedder an :class:`EmbedderSpec` describes."""
    params = dict(spec.params)
    if spec.kind == "ina":
        from speechmusic.transfer.embedders import InaEmbedder

        return InaEmbedder(params.pop("variant", "sm"), model_file=spec.weights, **params)
    if spec.kind == "yamnet":
        from speechmusic.transfer.yamnet import YamNetEmbedder

        return YamNetEmbedder(model_path=spec.weights, **params)
    if spec.kind == "openl3":
        from speechmusic.transfer.openl3 import OpenL3Embedder

        return OpenL3Embedder(weights=spec.weights, **params)
    from speechmusic.transfer.embedders import CheckpointEmbedder

    path = params.pop("path", None) or spec.weights
    if not path:
        raise ConfigError("a checkpoint embedder needs params.path (or weights)")
    return CheckpointEmbedder(path, **params)


@dataclass
class EmbeddingBaseline:
    """One embedder and its classifier, as :func:`~speechmusic.training.cross_validate` takes
    them: ``cache`` (features = embeddings), ``feature_config``, ``normalizer``,
    ``model_factory()``."""

    name: str
    spec: EmbedderSpec
    embedder: Embedder
    cache: EmbeddingCache
    head_units: int = 128

    @property
    def feature_config(self) -> FeatureConfig:
        return self.cache.config

    @property
    def normalizer(self) -> str:
        """``"minmax"`` ([0, 1], the paper's) or ``"fit"`` (zero mean in [-1, 1])."""
        return "minmax" if self.spec.scaling == "minmax" else "fit"

    @property
    def features_name(self) -> str:
        return f"embedding:{self.name}"

    def model_factory(self) -> Callable[[FoldContext], nn.Module]:
        units, output = self.head_units, self.spec.output

        def build(ctx: FoldContext) -> nn.Module:
            return build_model("embedding_head", n_classes=len(ctx.labels),
                               input_shape=ctx.input_shape, units=units, output=output)

        return build

    def feature_description(self) -> dict[str, Any]:
        """What ``experiment.json`` records as the input representation."""
        return {"kind": f"embedding:{self.embedder.name}", "sample_rate": self.embedder.sample_rate,
                "embedding_size": self.embedder.embedding_size,
                "hop_seconds": self.embedder.hop_seconds, "scaling": self.spec.scaling}

    def describe(self) -> dict[str, Any]:
        """The embedder (as its spec, less the weights' location) and its classifier."""
        return {"name": self.name, "kind": self.spec.kind, "title": self.spec.title,
                "stand_in": self.spec.stand_in, "scaling": self.spec.scaling,
                "output": self.spec.output, "head_units": self.head_units,
                "embedder": self.embedder.describe()}


def open_baselines(specs: dict[str, EmbedderSpec], *, cache_root: str | os.PathLike | None,
                   audio: AudioProtocol | None = None, head_units: int = 128,
                   names: Sequence[str] | None = None,
                   ) -> tuple[dict[str, EmbeddingBaseline], dict[str, str]]:
    """Build the embedders of ``specs`` (those in ``names``, default all): ``(available,
    unavailable)``, the latter the reason per optional embedder whose weights or packages are
    missing. A missing non-optional one raises."""
    available: dict[str, EmbeddingBaseline] = {}
    unavailable: dict[str, str] = {}
    for name, spec in specs.items():
        if names is not None and name not in names:
            continue
        try:
            embedder = build_spec_embedder(spec)
        except (WeightsUnavailableError, ImportError) as exc:
            if not spec.optional:
                raise
            unavailable[name] = f"embedder {name} unavailable: {exc}"
            continue
        available[name] = EmbeddingBaseline(
            name=name, spec=spec, embedder=embedder,
            cache=EmbeddingCache(cache_root, embedder, audio=audio), head_units=head_units)
    return available, unavailable
