"""Experiment configuration: the YAML schema, ``--set`` overrides and ``${...}`` variables.

A run config names datasets, tasks (class sets), input representations and models, the protocol
and the training settings, and a list of experiment grids; see ``experiments/paper.yaml``::

    roots:    {musan: ${MUSAN_ROOT}}
    datasets: {musan: {layout: musan, root: ${roots.musan}}}
    tasks:    {binary: {classes: [music, speech]}}
    models:   {vgg: {name: vgg, features: [melspec]}}
    protocol: {n_folds: 5, test_fraction: 0.1, val_fraction: 0.1}
    training: {learning_rate: 0.001, batch_size: 64, max_epochs: 200, patience: 50}
    experiments:
      - {datasets: [musan], task: binary, models: [vgg]}

``${a.b}`` is the value at dotted key ``a.b`` of the config, ``${NAME}`` the environment variable
``NAME`` (``${NAME:-default}`` with a default). A variable nobody sets stays as written, and is an
error only when something needs its value (a dataset root, for instance), with a message saying
how to set it. ``--set key=value`` overrides go in before variables are resolved; values are
parsed as YAML (``--set training.max_epochs=1``, ``--set protocol.folds=[0]``).
"""

from __future__ import annotations

import copy
import fnmatch
import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from speechmusic.data.adapters import DatasetSpec
from speechmusic.errors import ConfigError
from speechmusic.features.config import PRESETS, FeatureConfig
from speechmusic.training.schema import from_dict, to_dict

__all__ = [
    "NORMALIZERS",
    "TaskSpec",
    "ModelSpec",
    "ProtocolConfig",
    "TrainConfig",
    "AugmentConfig",
    "ExperimentSpec",
    "EmbedderSpec",
    "EMBEDDER_SPEC_KINDS",
    "FigureSpec",
    "ReportSpec",
    "RunConfig",
    "Experiment",
    "load_config",
    "parse_overrides",
    "apply_overrides",
    "resolve_variables",
    "expand_experiments",
    "config_to_yaml",
    "protocol_differences",
]

#: The input normalisers a run may name (``training.cv.make_normalizer``): per feature into
#: [-1, 1] (the paper's), per feature into [0, 1], one mean and deviation for all features, and
#: INA's standardisation of every patch on its own, and of every frame by the patch-long window
#: centred on it (``sliding``: INA's, with exactly shared convolutions in the segmenter).
NORMALIZERS = ("fit", "minmax", "standard", "per_patch", "sliding")


@dataclass
class TaskSpec:
    """The classes a model learns, in output order; ``label_map`` renames before selecting."""

    classes: list[str]
    label_map: dict[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise ConfigError(f"a task needs at least two distinct classes, got {self.classes}")


@dataclass
class ModelSpec:
    """An architecture of the model registry, its keyword arguments, the input representations
    (names in ``features`` or presets) it is run with, and how its input is normalised
    (``normalizer``, one of :data:`NORMALIZERS`; ``fit``, the paper's: per feature, zero mean,
    into [-1, 1], fitted on each fold's training clips). ``training``: overrides of the run's
    ``training`` section for this model's experiments (``augment`` merged key by key), for an
    architecture that needs another budget or recipe than the others in the same run; empty: the
    run's settings."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    features: list[str] = field(default_factory=lambda: ["melspec"])
    normalizer: str = "fit"
    training: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.normalizer not in NORMALIZERS:
            raise ConfigError(f"model {self.name!r}: normalizer must be one of {list(NORMALIZERS)}, "
                              f"got {self.normalizer!r}")
        training_with(TrainConfig(), self.training, where=f"model {self.name!r}: training")


def training_differences(section: dict[str, Any] | None) -> dict[str, Any]:
    """A ``training`` mapping without the keys at their :class:`TrainConfig` defaults, so that
    run directories written before a setting existed compare equal to ones that leave it be."""
    defaults = asdict(TrainConfig())
    return {k: v for k, v in (section or {}).items() if k not in defaults or defaults[k] != v}


def protocol_differences(section: dict[str, Any] | None) -> dict[str, Any]:
    """A ``protocol`` mapping without the keys at their :class:`ProtocolConfig` defaults (see
    :func:`training_differences`)."""
    defaults = asdict(ProtocolConfig())
    return {k: v for k, v in (section or {}).items() if k not in defaults or defaults[k] != v}


@dataclass
class ProtocolConfig:
    """The evaluation protocol (paper section 4.3).

    ``n_folds`` repetitions, each testing on ``test_fraction`` and validating on ``val_fraction``
    of the clips (grouped and stratified; ``test_fraction: null`` is classic k-fold).
    ``balance``: random down-sampling of training and validation patches to the rarest class (of
    each dataset, when several are combined, so every dataset has an equal share);
    ``balance_test`` does the same to test patches: the paper's reading ("All data is balanced by
    random down-sampling", section 4.3), where frame-wise accuracy is that of a balanced test set
    and file-wise accuracy votes over each test file's remaining patches (a file left without any
    is not scored). Off (the default), every patch of every test file is scored.
    ``short_clips``: ``skip`` clips shorter than one patch (listed in ``skipped.csv``) or ``pad``
    them to one patch. ``max_patches_per_clip``: cap on training patches taken from one clip
    (evenly spaced), to bound long files' weight and the run time (validation and test use every
    patch). ``folds``: run only these.

    Audio (paper section 4.2: "All datasets were normalized in a range of [-1, 1] in time domain
    and unified to a sampling rate of 22050 Hz and 16 bits"): every clip is decoded and peak
    normalised; ``unify_sample_rate`` resamples it to that rate first (``null``: straight to the
    rate of the input representation or embedder); ``bit_depth`` then rounds it to that many bits
    (16: 65535 levels in [-1, 1], as 16-bit PCM files hold it; ``null``: kept as float). An
    input representation or embedder at another rate resamples the unified signal (OpenL3 takes
    48 kHz, YAMNet and INA's front-end 16 kHz).
    """

    n_folds: int = 5
    test_fraction: float | None = 0.1
    val_fraction: float = 0.1
    seed: int = 0
    balance: bool = True
    balance_test: bool = False
    short_clips: str = "skip"
    max_patches_per_clip: int | None = None
    folds: list[int] | None = None
    unify_sample_rate: int | None = None
    bit_depth: int | None = None

    def __post_init__(self) -> None:
        if self.unify_sample_rate is not None and self.unify_sample_rate <= 0:
            raise ConfigError(f"unify_sample_rate must be positive or null, got {self.unify_sample_rate}")
        if self.bit_depth is not None and not 2 <= self.bit_depth <= 32:
            raise ConfigError(f"bit_depth must lie in 2..32 or be null, got {self.bit_depth}")
        if self.short_clips not in ("skip", "pad"):
            raise ConfigError(f"short_clips must be 'skip' or 'pad', got {self.short_clips!r}")
        if self.max_patches_per_clip is not None and self.max_patches_per_clip <= 0:
            raise ConfigError(f"max_patches_per_clip must be positive, got {self.max_patches_per_clip}")
        if self.n_folds < 1:
            raise ConfigError(f"n_folds must be positive, got {self.n_folds}")
        if self.folds is not None and any(not 0 <= f < self.n_folds for f in self.folds):
            raise ConfigError(f"folds {self.folds} must lie in 0..{self.n_folds - 1}")


@dataclass
class AugmentConfig:
    """Augmented copies of the training clips, made in the audio domain
    (:mod:`speechmusic.training.augment`); off by default (``copies: 0``, the paper's protocol).

    Each training clip gets ``copies`` copies beside itself, each a function of ``(seed, clip,
    copy)`` and cached like features. In a copy, each with its own probability: a clip of class
    ``noise_label`` from the same training split (never validation or test, never the clip's own
    group; ``noise`` adds recordings used for nothing else: folders searched recursively for
    audio, or audio files, for example noise for a speech/music task) mixed under it at a loudness
    difference (clip minus noise, LU, pyloudnorm) drawn from ``snr_db``; reverberation (a synthetic room response, decay time from ``reverb_rt60``);
    band-limiting; a codec-like degradation (the speech-over-music mixer's, audiomentations);
    hard clipping of ``clipping_percent`` of the samples. Then it is peak-normalised as the clips
    are. Validation and test clips are never augmented."""

    copies: int = 0
    p_noise: float = 0.5
    noise_label: str = "noise"
    noise: list[str] = field(default_factory=list)
    snr_db: list[float] = field(default_factory=lambda: [0.0, 20.0])
    p_reverb: float = 0.2
    reverb_rt60: list[float] = field(default_factory=lambda: [0.2, 0.9])
    p_band_limit: float = 0.25
    p_codec: float = 0.15
    p_clipping: float = 0.1
    clipping_percent: list[float] = field(default_factory=lambda: [2.0, 20.0])
    seed: int = 0

    def __post_init__(self) -> None:
        if self.copies < 0:
            raise ConfigError(f"augment.copies must be >= 0, got {self.copies}")
        for name in ("p_noise", "p_reverb", "p_band_limit", "p_codec", "p_clipping"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ConfigError(f"augment.{name} must be a probability in [0, 1], got {p}")
        for name in ("snr_db", "reverb_rt60", "clipping_percent"):
            pair = [float(v) for v in getattr(self, name)]
            if len(pair) != 2 or not all(math.isfinite(v) for v in pair) or pair[0] > pair[1]:
                raise ConfigError(f"augment.{name} must be a range [low, high] with low <= high, "
                                  f"got {getattr(self, name)!r}")
            setattr(self, name, pair)
        if self.reverb_rt60[0] <= 0:
            raise ConfigError(f"augment.reverb_rt60 must be > 0 seconds, got {self.reverb_rt60}")
        if not 0 <= self.clipping_percent[0] <= self.clipping_percent[1] <= 100:
            raise ConfigError(f"augment.clipping_percent must lie in [0, 100], got {self.clipping_percent}")

    def recipe(self) -> dict[str, Any]:
        """The settings a copy's content depends on besides its clip, index and noise recording
        (everything but the number of copies and where noise recordings are looked for)."""
        return {k: v for k, v in asdict(self).items() if k not in ("copies", "noise")}


def training_with(base: TrainConfig, overrides: dict[str, Any] | None, *, where: str = "training") -> TrainConfig:
    """``base`` with ``overrides`` (a partial ``training`` mapping, as :attr:`ModelSpec.training`
    holds; a nested mapping such as ``augment`` is merged key by key), validated as a whole."""
    if not overrides:
        return base
    data = to_dict(base)
    for key, value in overrides.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and isinstance(data.get(key), dict) else value
    return from_dict(TrainConfig, data, path=where)


@dataclass
class TrainConfig:
    """The fit loop (paper section 4.3): Adam, learning rate 1e-3, batches of 64, at most 200
    epochs, early stopping after ``patience`` epochs without a validation-accuracy gain (``null``:
    never), best weights restored. ``weight_decay`` is Adam's L2 term. ``num_threads`` sets
    torch's CPU threads during training (``null``: leave as is). ``deterministic`` asks torch for
    deterministic kernels. ``max_memory_mb``: patch sets up to this size are copied into RAM
    (faster batches); larger ones are read from the memory-mapped feature cache per batch.
    ``gain_jitter_db``: each training patch is played back quieter by a random 0 to this many
    dB (log-mel inputs only; 0, the paper's protocol: off). Clips are peak-normalised, so without
    it a network may learn loudness as a cue and fail on quiet passages of long recordings.
    ``bn_recalibration``: before every validation, the batch-norm statistics of the trainable
    layers are re-estimated on up to this many training patches with the current weights
    (precise BN; 0: off, the running averages alone as in Keras). The paper's Keras layers keep
    running averages with momentum 0.99; over the few hundred steps a small dataset gives, those
    averages still lean on their initial values, so validation, early stopping and the saved
    model all see statistics of weights long gone (on real-mix: VGG 83.8 % frame-wise with the
    running averages, 94.3 % with re-estimated statistics and the same weights)."""

    learning_rate: float = 1e-3
    batch_size: int = 64
    max_epochs: int = 200
    patience: int | None = 50
    weight_decay: float = 0.0
    eval_batch_size: int = 512
    num_threads: int | None = None
    deterministic: bool = True
    max_memory_mb: int = 1024
    gain_jitter_db: float = 0.0
    bn_recalibration: int = 4096
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        if self.bn_recalibration < 0:
            raise ConfigError(f"bn_recalibration must be >= 0, got {self.bn_recalibration}")
        if not self.gain_jitter_db >= 0:
            raise ConfigError(f"gain_jitter_db must be >= 0, got {self.gain_jitter_db}")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate}")
        for name in ("batch_size", "max_epochs", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.patience is not None and self.patience < 1:
            raise ConfigError(f"patience must be positive or null, got {self.patience}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay}")


EMBEDDER_SPEC_KINDS = ("ina", "yamnet", "openl3", "checkpoint")


@dataclass
class EmbedderSpec:
    """A general pretrained embedding evaluated as a baseline: its frames feed a trainable
    classifier (the embedding itself never trains).

    ``kind``: ``ina``, ``yamnet``, ``openl3`` or ``checkpoint``; ``params`` go to the embedder
    (e.g. ``{input_repr: mel256, embedding_size: 512, hop_seconds: 0.1}``; ``variant`` for INA,
    ``path`` for a checkpoint); ``weights`` is its weight file or folder (``null``: the default
    location). ``title`` names its rows in figures and tables; ``stand_in`` marks an embedding the
    paper does not have, run in the place of one it has (YAMNet and INA's published network
    where OpenL3's weights are absent): its rows say so. ``optional``: when its weights or
    packages are missing, its experiments are skipped with the reason instead of stopping the run.

    The classifier is the paper's for OpenL3 (section 4.1: "These vectors are normalized between
    0 and 1 and used as input for a trainable neural classifier consisting of a 128 unit dense
    layer followed by the final classifier with Sigmoid activation"): ``scaling: minmax`` maps
    each embedding dimension to [0, 1] by its minimum and maximum over the training split
    (``zero_mean``: the networks' own normaliser, zero mean in [-1, 1]); ``output: sigmoid``
    ends in sigmoid units (``softmax``: a softmax layer).
    """

    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    weights: str | None = None
    title: str = ""
    optional: bool = False
    stand_in: bool = False
    scaling: str = "minmax"
    output: str = "sigmoid"

    def __post_init__(self) -> None:
        if self.kind not in EMBEDDER_SPEC_KINDS:
            raise ConfigError(f"embedder kind must be one of {EMBEDDER_SPEC_KINDS}, got {self.kind!r}")
        if self.scaling not in ("minmax", "zero_mean"):
            raise ConfigError(f"embedder scaling must be 'minmax' or 'zero_mean', got {self.scaling!r}")
        if self.output not in ("sigmoid", "softmax"):
            raise ConfigError(f"embedder output must be 'sigmoid' or 'softmax', got {self.output!r}")


@dataclass
class ExperimentSpec:
    """A grid: every model x each of its input representations, and every embedder of
    ``embedders`` (a baseline on its embeddings, input name ``embedding``), on ``datasets``
    (several are combined with balanced shares) for ``task``. ``features`` overrides the models'
    own lists. ``name`` is a template with ``{datasets}``, ``{task}``, ``{model}`` (the model's or
    embedder's name), ``{features}``."""

    datasets: list[str]
    task: str
    models: list[str] = field(default_factory=list)
    features: list[str] | None = None
    name: str = "{datasets}-{task}-{model}-{features}"
    embedders: list[str] = field(default_factory=list)


@dataclass
class FigureSpec:
    """Which experiments a figure of the report shows: single-dataset experiments on
    ``datasets`` (``null``: every dataset that has one) for ``tasks`` (``null``: by class count,
    see :mod:`speechmusic.evaluation.report`)."""

    datasets: list[str] | None = None
    tasks: list[str] | None = None


@dataclass
class ReportSpec:
    """The paper's figures from a run (``speechmusic report``): ``figure4`` averages the first
    task of ``tasks`` over ``datasets``; ``figure5`` puts the tasks of ``tasks`` side by side per
    dataset of ``datasets``. Changing it changes no result: it may differ on resume."""

    figure4: FigureSpec = field(default_factory=FigureSpec)
    figure5: FigureSpec = field(default_factory=FigureSpec)


@dataclass
class RunConfig:
    """A whole run: see the module docstring. ``cache_dir``: the feature cache (default
    ``$SPEECHMUSIC_CACHE`` or ``~/.cache/speechmusic/features``). ``embedders``: general
    embeddings that grids may evaluate beside the networks (see :class:`EmbedderSpec`), each with
    a classifier of ``head_units`` hidden units. ``report``: what the paper's figures show."""

    name: str = "run"
    seed: int = 0
    roots: dict[str, str | None] = field(default_factory=dict)
    cache_dir: str | None = None
    datasets: dict[str, DatasetSpec] = field(default_factory=dict)
    tasks: dict[str, TaskSpec] = field(default_factory=dict)
    features: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: dict[str, ModelSpec] = field(default_factory=dict)
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    training: TrainConfig = field(default_factory=TrainConfig)
    experiments: list[ExperimentSpec] = field(default_factory=list)
    embedders: dict[str, EmbedderSpec] = field(default_factory=dict)
    head_units: int = 128
    report: ReportSpec = field(default_factory=ReportSpec)

    def __post_init__(self) -> None:
        if self.head_units <= 0:
            raise ConfigError(f"head_units must be positive, got {self.head_units}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        return from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    def feature_config(self, name: str) -> FeatureConfig:
        """The input representation ``name``: from ``features`` or a preset."""
        if name in self.features:
            try:
                return FeatureConfig.from_dict(self.features[name])
            except ConfigError as exc:
                raise ConfigError(f"features.{name}: {exc}") from None
        if name in PRESETS:
            return FeatureConfig.preset(name)
        raise ConfigError(f"unknown input representation {name!r}: not in features "
                          f"({sorted(self.features)}) nor a preset ({sorted(PRESETS)})")

    def model_spec(self, name: str) -> ModelSpec:
        """Model ``name`` from ``models``, or the registry architecture of that name."""
        if name in self.models:
            return self.models[name]
        from speechmusic.models import list_models

        if name in list_models():
            return ModelSpec(name=name)
        raise ConfigError(f"unknown model {name!r}: not in models ({sorted(self.models)}) nor the "
                          f"registry ({list_models()})")


@dataclass
class Experiment:
    """One cell of a grid, fully resolved: what :func:`speechmusic.training.cross_validate` runs."""

    name: str
    dataset_names: list[str]
    datasets: list[DatasetSpec]
    task_name: str
    task: TaskSpec
    model_name: str
    model: ModelSpec
    features_name: str
    features: FeatureConfig
    embedder: EmbedderSpec | None = None

    def describe(self) -> dict[str, Any]:
        out = {"name": self.name, "datasets": self.dataset_names, "task": self.task_name,
               "classes": self.task.classes, "model": self.model_name, "arch": self.model.name,
               "model_params": self.model.params, "normalizer": self.model.normalizer,
               "features": self.features_name, "feature_config": self.features.to_dict()}
        if self.model.training:
            out["training"] = dict(self.model.training)
        if self.embedder is not None:
            out["embedder"] = {k: v for k, v in to_dict(self.embedder).items() if k != "weights"}
        return out


# ----------------------------------------------------------------------------- variables


_VAR = re.compile(r"\$\{([^}]+)\}")


def _lookup(data: Any, dotted: str) -> tuple[bool, Any]:
    node = data
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def resolve_variables(data: Any, *, env: dict[str, str] | None = None) -> Any:
    """Replace ``${dotted.key}`` (config values) and ``${NAME}`` / ``${NAME:-default}``
    (environment) in every string; unresolved ones stay as written. Returns a new tree."""
    env = dict(os.environ) if env is None else env
    root = copy.deepcopy(data)

    def sub(value: str) -> Any:
        def one(expr: str) -> tuple[bool, Any]:
            name, _, default = expr.partition(":-")
            found, val = _lookup(root, name) if "." in name or name in root else (False, None)
            if found:
                return True, val
            if name in env and env[name] != "":
                return True, env[name]
            if ":-" in expr:
                return True, default
            return False, None

        whole = _VAR.fullmatch(value)
        if whole:  # a whole-string variable keeps the type of what it refers to
            found, val = one(whole.group(1))
            return val if found else value
        return _VAR.sub(lambda m: str(one(m.group(1))[1]) if one(m.group(1))[0] else m.group(0), value)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, str) and "${" in node:
            return sub(node)
        return node

    for _ in range(10):  # variables may refer to variables: iterate to a fixed point
        new = walk(root)
        if new == root:
            break
        root = new
    return root


def unresolved(value: Any) -> str | None:
    """The first ``${...}`` left in a string, or ``None``."""
    if isinstance(value, str):
        m = _VAR.search(value)
        return m.group(0) if m else None
    return None


# ----------------------------------------------------------------------------- overrides


def parse_overrides(items: list[str] | None) -> list[tuple[str, Any]]:
    """``["a.b=1", "c=[x, y]"]`` -> ``[("a.b", 1), ("c", ["x", "y"])]`` (values parsed as YAML)."""
    out = []
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        out.append((key, value))
    return out


def apply_overrides(data: dict[str, Any], overrides: list[tuple[str, Any]]) -> dict[str, Any]:
    """Set dotted keys in a copy of ``data``, creating mappings on the way."""
    data = copy.deepcopy(data)
    for key, value in overrides:
        node: Any = data
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            where = ".".join(parts[: i + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"--set {key}: {where} is not an index of a {len(node)}-item list")
                node = node[int(part)]
                continue
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {'.'.join(parts[:i])} is not a mapping")
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
        last = parts[-1]
        if isinstance(node, list):
            if not last.isdigit() or int(last) >= len(node):
                raise ConfigError(f"--set {key}: {last} is not an index of a {len(node)}-item list")
            node[int(last)] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise ConfigError(f"--set {key}: {'.'.join(parts[:-1])} is not a mapping")
    return data


def read_config_mapping(path: str | os.PathLike | None = None, *, data: dict[str, Any] | None = None,
                        overrides: list[str] | list[tuple[str, Any]] | None = None,
                        env: dict[str, str] | None = None, what: str = "run") -> dict[str, Any]:
    """A YAML config file (or ``data``) as a mapping, ``--set`` overrides applied and variables
    resolved; shared by every kind of config (run, transfer)."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: no such config file")
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    else:
        raw = data
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"a {what} config must be a mapping, got {type(raw).__name__}")
    pairs = [o if isinstance(o, tuple) else parse_overrides([o])[0] for o in overrides or []]
    return resolve_variables(apply_overrides(raw, pairs), env=env)


def load_config(path: str | os.PathLike | None = None, *, data: dict[str, Any] | None = None,
                overrides: list[str] | list[tuple[str, Any]] | None = None,
                env: dict[str, str] | None = None) -> RunConfig:
    """Read a YAML run config (or take ``data``), apply overrides, resolve variables, validate.

    An embedder's ``weights`` left as an unset ``${VAR}`` means its default location."""
    config = RunConfig.from_dict(read_config_mapping(path, data=data, overrides=overrides, env=env))
    for spec in config.embedders.values():
        if unresolved(spec.weights):
            spec.weights = None
    return config


def config_to_yaml(config: RunConfig) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True)


# ----------------------------------------------------------------------------- grids

#: The input name of experiments on an embedder's output (``{features}`` in experiment names).
EMBEDDING_FEATURES = "embedding"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+=-]+", "_", name).strip("_") or "experiment"


def expand_experiments(config: RunConfig, *, only: list[str] | None = None) -> list[Experiment]:
    """Every experiment of the config's grids, in order; ``only``: keep names matching any of
    these glob patterns. Names must be unique."""
    out: list[Experiment] = []
    seen: set[str] = set()
    for i, grid in enumerate(config.experiments):
        where = f"experiments.{i}"
        for d in grid.datasets:
            if d not in config.datasets:
                raise ConfigError(f"{where}.datasets: unknown dataset {d!r}; defined: {sorted(config.datasets)}")
        if grid.task not in config.tasks:
            raise ConfigError(f"{where}.task: unknown task {grid.task!r}; defined: {sorted(config.tasks)}")
        if not grid.datasets or not (grid.models or grid.embedders):
            raise ConfigError(f"{where}: needs at least one dataset and one model or embedder")

        def add(model_name: str, spec: ModelSpec, feat: str, fc: FeatureConfig,
                embedder: EmbedderSpec | None = None, grid: ExperimentSpec = grid,
                where: str = where) -> None:
            try:
                name = grid.name.format(datasets="+".join(grid.datasets), task=grid.task,
                                        model=model_name, features=feat)
            except (KeyError, IndexError) as exc:
                raise ConfigError(f"{where}.name: unknown placeholder {exc} in {grid.name!r}") from None
            name = _safe(name)
            if name in seen:
                raise ConfigError(f"{where}: experiment name {name!r} occurs twice; make the "
                                  "name template distinguish them")
            seen.add(name)
            out.append(Experiment(
                name=name, dataset_names=list(grid.datasets),
                datasets=[config.datasets[d] for d in grid.datasets], task_name=grid.task,
                task=config.tasks[grid.task], model_name=model_name, model=spec,
                features_name=feat, features=fc, embedder=embedder))

        for model_name in grid.models:
            spec = config.model_spec(model_name)
            for feat in grid.features if grid.features is not None else spec.features:
                add(model_name, spec, feat, config.feature_config(feat))
        for emb_name in grid.embedders:
            if emb_name not in config.embedders:
                raise ConfigError(f"{where}.embedders: unknown embedder {emb_name!r}; defined: "
                                  f"{sorted(config.embedders)}")
            # The classifier on the embeddings; its input shape comes from the embedder at run time.
            add(emb_name, ModelSpec(name="embedding_head", params={}, features=[EMBEDDING_FEATURES]),
                EMBEDDING_FEATURES, FeatureConfig(), config.embedders[emb_name])
    if only:
        out = [e for e in out if any(fnmatch.fnmatch(e.name, pat) for pat in only)]
    return out
