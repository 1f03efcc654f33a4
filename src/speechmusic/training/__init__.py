"""The study's engine: configs, the feature cache, patch sets, the fit loop, cross-validation, runs.

    from speechmusic.training import load_config, run_config
    run_config(load_config("experiments/paper.yaml", overrides=["roots.musan=/data/musan"]), "runs/paper")

For transfer learning, :func:`cross_validate` takes any model factory and a ``trainable``
callable, and :func:`fit` trains an already built model on the parameters it is given.
"""

from speechmusic.training.cache import CacheStats, FeatureCache, FeatureRef, default_cache_dir
from speechmusic.training.config import (
    Experiment,
    ExperimentSpec,
    ModelSpec,
    ProtocolConfig,
    RunConfig,
    TaskSpec,
    TrainConfig,
    apply_overrides,
    config_to_yaml,
    expand_experiments,
    load_config,
    parse_overrides,
    resolve_variables,
)
from speechmusic.training.cv import (
    CVResult,
    FoldContext,
    PreparedData,
    SkipRecord,
    cross_validate,
    extract_features,
    fold_done,
    fold_seed,
)
from speechmusic.training.loop import (
    EpochLog,
    FitResult,
    fit,
    gain_direction,
    predict_proba,
    seed_everything,
)
from speechmusic.training.patches import PatchSet
from speechmusic.training.runner import (
    RunResult,
    experiment_manifest,
    registry_factory,
    run_config,
)

__all__ = [
    "CVResult",
    "CacheStats",
    "EpochLog",
    "Experiment",
    "ExperimentSpec",
    "FeatureCache",
    "FeatureRef",
    "FitResult",
    "FoldContext",
    "ModelSpec",
    "PatchSet",
    "PreparedData",
    "ProtocolConfig",
    "RunConfig",
    "RunResult",
    "SkipRecord",
    "TaskSpec",
    "TrainConfig",
    "apply_overrides",
    "config_to_yaml",
    "cross_validate",
    "default_cache_dir",
    "expand_experiments",
    "experiment_manifest",
    "extract_features",
    "fit",
    "gain_direction",
    "fold_done",
    "fold_seed",
    "load_config",
    "parse_overrides",
    "predict_proba",
    "registry_factory",
    "resolve_variables",
    "run_config",
    "seed_everything",
]
