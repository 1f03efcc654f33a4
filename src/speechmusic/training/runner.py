"""Runs: a :class:`RunConfig` executed into a run directory, resumable.

Layout of a run directory::

    config.yaml                 the merged config (after --set and variables)
    run.log                     the log of every invocation, appended
    skipped.csv                 clips left out: path, dataset, clip id, stage, features, reason
    results.csv / results.json  one row per experiment: mean and std over folds
    experiments/<name>/         experiment.json, summary.json, fold_<k>/ (see training.cv)

Running the same config into the same directory again trains only what is missing; a directory
holding a different config (other than dataset roots, the experiment list, ``protocol.folds``
or thread counts) is refused, so results never mix settings.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from speechmusic.data.adapters import DatasetSpec, load_dataset
from speechmusic.data.files import atomic_write_json, atomic_write_text
from speechmusic.data.manifest import Manifest
from speechmusic.errors import ConfigError
from speechmusic.evaluation.results import collect_results, write_results
from speechmusic.training.cache import CacheStats, FeatureCache, default_cache_dir
from speechmusic.training.config import (
    Experiment,
    RunConfig,
    config_to_yaml,
    expand_experiments,
    training_differences,
    unresolved,
)
from speechmusic.training.cv import (
    CVResult,
    FoldContext,
    PreparedData,
    SkipRecord,
    cross_validate,
    extract_features,
)

__all__ = ["RunResult", "run_config", "experiment_manifest", "registry_factory", "SKIPPED_COLUMNS"]

log = logging.getLogger(__name__)

SKIPPED_COLUMNS = ("path", "dataset", "clip_id", "stage", "features", "reason")
# Keys whose change does not change results: allowed when resuming into an existing run dir.
_VOLATILE = {("roots",), ("cache_dir",), ("experiments",), ("name",), ("protocol", "folds"),
             ("training", "num_threads"), ("training", "max_memory_mb")}


@dataclass
class RunResult:
    run_dir: Path
    experiments: dict[str, CVResult] = field(default_factory=dict)
    skipped: list[SkipRecord] = field(default_factory=list)
    cache_stats: CacheStats = field(default_factory=CacheStats)
    results: list[dict[str, Any]] = field(default_factory=list)


def _strip_volatile(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if (k,) not in _VOLATILE}
    for section, key in (p for p in _VOLATILE if len(p) == 2):
        if isinstance(out.get(section), dict):
            out[section] = {k: v for k, v in out[section].items() if k != key}
    if isinstance(out.get("datasets"), dict):
        out["datasets"] = {name: {k: v for k, v in (spec or {}).items() if k != "root"}
                           for name, spec in out["datasets"].items()}
    if isinstance(out.get("training"), dict):
        out["training"] = training_differences(out["training"])
    return out


def _check_same_config(run_dir: Path, config: RunConfig) -> None:
    path = run_dir / "config.yaml"
    if not path.is_file():
        return
    try:
        old = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        raise ConfigError(f"{path} is not valid YAML; use a new run directory") from None
    a, b = _strip_volatile(old), _strip_volatile(config.to_dict())
    if a != b:
        keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        raise ConfigError(f"{run_dir} holds a run with different settings ({', '.join(keys)}); "
                          "resume it with the same config or write to a new directory")


def _dataset(name: str, spec: DatasetSpec) -> Manifest:
    for what, value in (("root", spec.root),):
        var = unresolved(value)
        if var:
            hint = var[2:-1].split(":-")[0]
            raise ConfigError(
                f"dataset {name!r}: {what} {value!r} is not set; set the environment variable "
                f"{hint} or pass --set roots.{name}=PATH (or datasets.{name}.root=PATH)")
    return load_dataset(replace(spec, name=spec.name or name))


def experiment_manifest(experiment: Experiment, *, loaded: dict[str, Manifest] | None = None) -> Manifest:
    """The clips of an experiment: its datasets, task label map and classes, combined."""
    loaded = {} if loaded is None else loaded
    parts = []
    for key, spec in zip(experiment.dataset_names, experiment.datasets, strict=True):
        if key not in loaded:
            loaded[key] = _dataset(key, spec)
        m = loaded[key].map_labels(experiment.task.label_map).select_labels(experiment.task.classes)
        if len(m) == 0:
            raise ConfigError(f"{experiment.name}: dataset {key!r} has none of the classes "
                              f"{experiment.task.classes} (it has {loaded[key].labels})")
        parts.append(m)
    manifest = Manifest([c for m in parts for c in m])
    missing = sorted(set(experiment.task.classes) - set(manifest.labels))
    if missing:
        raise ConfigError(f"{experiment.name}: no clips of class(es) {missing}")
    return manifest


def registry_factory(experiment: Experiment) -> Callable[[FoldContext], Any]:
    """A model factory building the experiment's registry architecture afresh for each fold."""
    from speechmusic.models import build_model

    def build(ctx: FoldContext):
        return build_model(experiment.model.name, n_classes=len(ctx.labels),
                           input_shape=ctx.input_shape, **experiment.model.params)

    return build


def _write_skipped(run_dir: Path, records: list[SkipRecord]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(SKIPPED_COLUMNS)
    for r in records:
        writer.writerow([getattr(r, c) if c != "clip_id" else r.clip_id for c in SKIPPED_COLUMNS])
    atomic_write_text(run_dir / "skipped.csv", buf.getvalue())


def run_config(config: RunConfig, run_dir: str | os.PathLike, *, only: list[str] | None = None,
               cache: FeatureCache | None = None,
               on_fold_end: Callable[[str, int, dict[str, Any]], None] | None = None) -> RunResult:
    """Run every experiment of ``config`` (or those whose names match ``only``) into ``run_dir``.

    Finished folds are kept; missing ones are trained. ``on_fold_end(experiment, fold, metrics)``
    is called after each newly trained fold.
    """
    run_dir = Path(run_dir)
    experiments = expand_experiments(config, only=only)
    if not experiments:
        raise ConfigError("the config selects no experiments" + (f" matching {only}" if only else ""))
    # Every dataset is read before anything is written: a missing root fails fast and cleanly.
    loaded: dict[str, Manifest] = {}
    manifests = {exp.name: experiment_manifest(exp, loaded=loaded) for exp in experiments}
    run_dir.mkdir(parents=True, exist_ok=True)
    _check_same_config(run_dir, config)
    atomic_write_text(run_dir / "config.yaml", config_to_yaml(config))
    cache = cache or FeatureCache(config.cache_dir or default_cache_dir())
    handler = logging.FileHandler(run_dir / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    pkg_log = logging.getLogger("speechmusic")
    old_level = pkg_log.level
    pkg_log.addHandler(handler)
    if pkg_log.getEffectiveLevel() > logging.INFO:
        pkg_log.setLevel(logging.INFO)
    result = RunResult(run_dir=run_dir, cache_stats=cache.stats)
    seen_skips: set[tuple[str, str, str]] = set()
    try:
        log.info("run %s: %d experiment(s) into %s", config.name, len(experiments), run_dir)
        prepared: dict[tuple, PreparedData] = {}
        for n, exp in enumerate(experiments, 1):
            log.info("experiment %d/%d: %s", n, len(experiments), exp.name)
            manifest = manifests[exp.name]
            key = (tuple(exp.dataset_names), exp.task_name, exp.features.key())
            if key not in prepared:
                prepared[key] = extract_features(manifest, exp.features, cache,
                                                 desc=f"features {'+'.join(exp.dataset_names)}/{exp.features_name}",
                                                 features_name=exp.features_name)
            out_dir = run_dir / "experiments" / exp.name
            atomic_write_json(out_dir / "experiment.json", exp.describe())
            cv = cross_validate(
                manifest, labels=list(exp.task.classes), feature_config=exp.features,
                model_factory=registry_factory(exp), out_dir=out_dir, protocol=config.protocol,
                training=config.training, cache=cache, prepared=prepared[key], seed=config.seed,
                name=exp.name, features_name=exp.features_name,
                checkpoint_extra={"datasets": exp.dataset_names, "task": exp.task_name},
                on_fold_end=(lambda fold, m, _n=exp.name: on_fold_end(_n, fold, m)) if on_fold_end else None)
            result.experiments[exp.name] = cv
            for rec in cv.skipped:
                k = (rec.path, rec.stage, rec.features if rec.stage == "short" else "")
                if k not in seen_skips:
                    seen_skips.add(k)
                    result.skipped.append(rec)
            _write_skipped(run_dir, result.skipped)
            result.results = collect_results(run_dir)
            write_results(run_dir, result.results)
        log.info("run %s finished: features extracted %d, read from cache %d, skipped clips %d",
                 config.name, cache.stats.extracted, cache.stats.hits, len(result.skipped))
    finally:
        pkg_log.removeHandler(handler)
        pkg_log.setLevel(old_level)
        handler.close()
    return result
