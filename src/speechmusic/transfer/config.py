"""The transfer study's configuration (paper section 4.4, Table 2), read from YAML.

It has the sections of a run config (``roots``, ``datasets``, ``tasks``, ``features``,
``models``, ``protocol``, ``training``; see :mod:`speechmusic.training.config`) and these::

    pretrain:        {datasets: [musan, gtzan, marolt19, acmusyt], task: binary, fold: 0}
    architectures:   [ina, vgg, swishnet]        # pretrained, then transferred to every target
    strategies:      [frozen, intermediate, full]
    baselines:       [dnn]                       # trained from scratch on every target
    embedders:       {openl3: {kind: openl3, params: {input_repr: mel256, embedding_size: 512}}}
    head_units:      128                         # the appended classifier / the MLP on embeddings
    table_level:     frame                       # which accuracy Table 2 shows: frame or file
    targets:
      - {name: sns, title: "Speech Music on S&S", datasets: [sns], task: speech_music}

``${...}`` variables and ``--set`` overrides work as in run configs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any

from speechmusic.data.adapters import DatasetSpec
from speechmusic.errors import ConfigError
from speechmusic.models import TRAINABLE_STRATEGIES
from speechmusic.training.config import (
    EMBEDDER_SPEC_KINDS,
    EmbedderSpec,
    ModelSpec,
    ProtocolConfig,
    RunConfig,
    TaskSpec,
    TrainConfig,
    read_config_mapping,
    unresolved,
)
from speechmusic.training.schema import from_dict, to_dict

__all__ = ["PretrainSpec", "TargetSpec", "EmbedderSpec", "TransferConfig", "load_transfer_config",
           "EMBEDDER_SPEC_KINDS"]


@dataclass
class PretrainSpec:
    """Pre-training: each architecture learns ``task`` on ``datasets`` combined with balanced
    shares (one cross-validation fold, ``fold``; its validation split drives early stopping and
    its test split gives the source accuracy). ``training`` / ``max_patches_per_clip`` override
    the run's settings for this stage only. ``partial``: a source dataset whose data is missing
    (root unset, folder absent, class absent) is left out, with its reason in the report, and
    the networks pre-train on the others; off, it skips every row built on pre-training."""

    datasets: list[str]
    task: str
    fold: int = 0
    training: TrainConfig | None = None
    max_patches_per_clip: int | None = None
    partial: bool = True


@dataclass
class TargetSpec:
    """A target task: ``datasets`` (usually one) and the ``task`` (classes) to learn."""

    name: str
    datasets: list[str]
    task: str
    title: str = ""


@dataclass
class TransferConfig:
    """A whole transfer study (see the module docstring)."""

    name: str = "transfer"
    seed: int = 0
    roots: dict[str, str | None] = field(default_factory=dict)
    cache_dir: str | None = None
    datasets: dict[str, DatasetSpec] = field(default_factory=dict)
    tasks: dict[str, TaskSpec] = field(default_factory=dict)
    features: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: dict[str, ModelSpec] = field(default_factory=dict)
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    training: TrainConfig = field(default_factory=TrainConfig)
    pretrain: PretrainSpec | None = None
    architectures: list[str] = field(default_factory=list)
    strategies: list[str] = field(default_factory=lambda: list(TRAINABLE_STRATEGIES))
    baselines: list[str] = field(default_factory=lambda: ["dnn"])
    embedders: dict[str, EmbedderSpec] = field(default_factory=dict)
    head_units: int = 128
    table_level: str = "frame"
    targets: list[TargetSpec] = field(default_factory=list)

    def __post_init__(self) -> None:
        bad = sorted(set(self.strategies) - set(TRAINABLE_STRATEGIES))
        if bad:
            raise ConfigError(f"strategies {bad} unknown; choose from {list(TRAINABLE_STRATEGIES)}")
        if self.table_level not in ("frame", "file"):
            raise ConfigError(f"table_level must be 'frame' or 'file', got {self.table_level!r}")
        if self.head_units <= 0:
            raise ConfigError(f"head_units must be positive, got {self.head_units}")
        names = [t.name for t in self.targets]
        if len(set(names)) != len(names):
            raise ConfigError(f"target names must be unique, got {names}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TransferConfig:
        return from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    def run_config(self) -> RunConfig:
        """The shared sections as a :class:`RunConfig` (for its dataset, feature and model lookups)."""
        shared = ({f.name for f in fields(RunConfig)} & {f.name for f in fields(self)}) - {"experiments"}
        return RunConfig(**{k: getattr(self, k) for k in shared})

    def check(self) -> None:
        """Cross-references: datasets, tasks, models named anywhere must be defined."""
        rc = self.run_config()
        if self.architectures and self.pretrain is None:
            raise ConfigError("architectures are transferred from a pretrain stage: add 'pretrain'")
        if not self.targets:
            raise ConfigError("no targets: add at least one target task")
        where = [("pretrain", self.pretrain.datasets, self.pretrain.task)] if self.pretrain else []
        where += [(f"targets.{t.name}", t.datasets, t.task) for t in self.targets]
        for label, dsets, task in where:
            for d in dsets:
                if d not in self.datasets:
                    raise ConfigError(f"{label}: unknown dataset {d!r}; defined: {sorted(self.datasets)}")
            if task not in self.tasks:
                raise ConfigError(f"{label}: unknown task {task!r}; defined: {sorted(self.tasks)}")
        for m in [*self.architectures, *self.baselines]:
            spec = rc.model_spec(m)
            if not spec.features:
                raise ConfigError(f"model {m!r} lists no input representation")
            rc.feature_config(spec.features[0])
        if self.pretrain is not None and not 0 <= self.pretrain.fold < self.protocol.n_folds:
            raise ConfigError(f"pretrain.fold must lie in 0..{self.protocol.n_folds - 1}")


def load_transfer_config(path: str | os.PathLike | None = None, *, data: dict[str, Any] | None = None,
                         overrides: list[str] | list[tuple[str, Any]] | None = None,
                         env: dict[str, str] | None = None) -> TransferConfig:
    """Read a transfer YAML (or take ``data``), apply ``--set`` overrides, resolve variables."""
    raw = read_config_mapping(path, data=data, overrides=overrides, env=env, what="transfer")
    config = TransferConfig.from_dict(raw)
    for spec in config.embedders.values():
        if unresolved(spec.weights):  # an unset ${VAR}: the embedder's default location
            spec.weights = None
    config.check()
    return config
