"""Runs: a :class:`RunConfig` executed into a run directory, resumable.

Layout of a run directory::

    config.yaml                 the merged config (after --set and variables)
    run.log                     the log of every invocation, appended
    skipped.csv                 clips left out: path, dataset, clip id, stage, features, reason
    skipped_experiments.csv     experiments left out by this invocation, and why
    results.csv / results.json  one row per experiment: mean and std over folds
    experiments/<name>/         experiment.json, summary.json, fold_<k>/ (see training.cv)

An experiment whose data is missing (a dataset root unset or absent, a class the task needs
absent, too few independent groups for the protocol's folds, an optional embedder without its
weights) is skipped with its reason while the others run; only when every selected experiment
is skipped does the run stop, with all the reasons and nothing written.

Running the same config into the same directory again trains only what is missing; a directory
holding a different config (other than dataset roots, the experiment list, ``protocol.folds``,
the report's figure choices or thread counts) is refused, so results never mix settings.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from speechmusic.data.adapters import DatasetSpec, load_dataset
from speechmusic.data.files import atomic_write_json, atomic_write_text
from speechmusic.data.manifest import Manifest
from speechmusic.errors import ConfigError, SpeechMusicError
from speechmusic.evaluation.results import collect_results, write_results
from speechmusic.training.cache import CacheStats, FeatureCache, default_cache_dir
from speechmusic.training.config import (
    Experiment,
    RunConfig,
    config_to_yaml,
    expand_experiments,
    protocol_differences,
    training_differences,
    training_with,
    unresolved,
)
from speechmusic.training.cv import (
    AudioProtocol,
    CVResult,
    FoldContext,
    PreparedData,
    SkipRecord,
    check_splittable,
    cross_validate,
    extract_features,
    protocol_cache,
)

__all__ = ["RunResult", "SkippedExperiment", "run_config", "experiment_manifest",
           "registry_factory", "write_skipped_experiments", "SKIPPED_COLUMNS",
           "SKIPPED_EXPERIMENT_COLUMNS"]

log = logging.getLogger(__name__)

SKIPPED_COLUMNS = ("path", "dataset", "clip_id", "stage", "features", "reason")
SKIPPED_EXPERIMENT_COLUMNS = ("experiment", "datasets", "task", "model", "features", "reason")
# Keys whose change does not change results: allowed when resuming into an existing run dir.
_VOLATILE = {("roots",), ("cache_dir",), ("experiments",), ("name",), ("report",),
             ("protocol", "folds"), ("training", "num_threads"), ("training", "max_memory_mb")}


@dataclass(frozen=True)
class SkippedExperiment:
    """An experiment a run left out, and why (its data or its embedder is missing)."""

    experiment: str
    datasets: str
    task: str
    model: str
    features: str
    reason: str

    @classmethod
    def of(cls, exp: Experiment, reason: str) -> SkippedExperiment:
        return cls(experiment=exp.name, datasets="+".join(exp.dataset_names), task=exp.task_name,
                   model=exp.model_name, features=exp.features_name, reason=reason)


@dataclass
class RunResult:
    run_dir: Path
    experiments: dict[str, CVResult] = field(default_factory=dict)
    skipped: list[SkipRecord] = field(default_factory=list)
    cache_stats: CacheStats = field(default_factory=CacheStats)
    results: list[dict[str, Any]] = field(default_factory=list)
    skipped_experiments: list[SkippedExperiment] = field(default_factory=list)


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
    if isinstance(out.get("protocol"), dict):
        out["protocol"] = protocol_differences(out["protocol"])
    if isinstance(out.get("embedders"), dict):  # where the weights lie is not what they are
        out["embedders"] = {n: {k: v for k, v in (e or {}).items() if k != "weights"}
                            for n, e in out["embedders"].items()}
    if isinstance(out.get("models"), dict):  # written before a model named its normaliser or training
        out["models"] = {n: {k: v for k, v in (m or {}).items()
                             if not (k == "normalizer" and v == "fit") and not (k == "training" and not v)}
                         for n, m in out["models"].items()}
    # Sections that did not exist when older run directories were written, at their defaults.
    for key, default in (("embedders", {}), ("head_units", 128)):
        if out.get(key, default) == default:
            out.pop(key, None)
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


def experiment_manifest(experiment: Experiment, *, loaded: dict[str, Manifest] | None = None,
                        failed: dict[str, str] | None = None) -> Manifest:
    """The clips of an experiment: its datasets, task label map and classes, combined.

    ``loaded`` caches datasets by name across calls; ``failed`` remembers why a dataset could
    not be read, so that it is tried once. Raises :class:`ConfigError` naming the dataset and
    the reason (root unset or absent, a class missing)."""
    loaded = {} if loaded is None else loaded
    failed = {} if failed is None else failed
    parts = []
    for key, spec in zip(experiment.dataset_names, experiment.datasets, strict=True):
        if key in failed:
            raise ConfigError(failed[key])
        if key not in loaded:
            try:
                loaded[key] = _dataset(key, spec)
            except SpeechMusicError as exc:
                failed[key] = str(exc)
                raise
        m = loaded[key].map_labels(experiment.task.label_map).select_labels(experiment.task.classes)
        if len(m) == 0:
            raise ConfigError(f"dataset {key!r} has none of the classes {experiment.task.classes} "
                              f"of task {experiment.task_name!r} (it has {loaded[key].labels})")
        parts.append(m)
    manifest = Manifest([c for m in parts for c in m])
    missing = [c for c in experiment.task.classes if c not in set(manifest.labels)]
    if missing:
        which = "+".join(experiment.dataset_names)
        raise ConfigError(f"no clips of class(es) {missing} in {which}, which task "
                          f"{experiment.task_name!r} needs (it has {', '.join(manifest.labels)})")
    return manifest


def registry_factory(experiment: Experiment) -> Callable[[FoldContext], Any]:
    """A model factory building the experiment's registry architecture afresh for each fold."""
    from speechmusic.models import build_model

    def build(ctx: FoldContext):
        return build_model(experiment.model.name, n_classes=len(ctx.labels),
                           input_shape=ctx.input_shape, **experiment.model.params)

    return build


def _write_records(path: Path, columns: Sequence[str], records: Sequence[Any]) -> Path:
    """``path``: a CSV of ``columns``, a row per record (its attributes of those names)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in records:
        writer.writerow([getattr(r, c) for c in columns])
    return atomic_write_text(path, buf.getvalue())


def write_skipped(run_dir: Path, records: Sequence[SkipRecord]) -> None:
    """``run_dir/skipped.csv``: the inputs left out of a run and why (``SKIPPED_COLUMNS``)."""
    _write_records(Path(run_dir) / "skipped.csv", SKIPPED_COLUMNS, records)


def write_skipped_experiments(run_dir: Path, records: list[SkippedExperiment]) -> Path:
    """``skipped_experiments.csv``: one row per experiment left out (``SKIPPED_EXPERIMENT_COLUMNS``)."""
    return _write_records(Path(run_dir) / "skipped_experiments.csv", SKIPPED_EXPERIMENT_COLUMNS, records)


def _all_skipped(skipped: list[SkippedExperiment]) -> ConfigError:
    reasons: dict[str, list[str]] = {}
    for r in skipped:
        reasons.setdefault(r.reason, []).append(r.experiment)
    lines = [f"  {reason} ({len(names)} experiment{'s' if len(names) > 1 else ''}: "
             f"{', '.join(names[:3])}{', ...' if len(names) > 3 else ''})"
             for reason, names in reasons.items()]
    return ConfigError("every selected experiment lacks its data; nothing to run:\n" + "\n".join(lines))


def _embedding_baselines(config: RunConfig, experiments: list[Experiment], *,
                         cache_root: Path | None) -> tuple[dict[str, Any], dict[str, str]]:
    """The embedding baselines the experiments use (built once each), and the reasons of those
    that are optional and unavailable."""
    names = sorted({e.model_name for e in experiments if e.embedder is not None})
    if not names:
        return {}, {}
    from speechmusic.transfer.baseline import open_baselines  # the transfer layer builds embedders

    return open_baselines(config.embedders, cache_root=cache_root,
                          audio=AudioProtocol.of(config.protocol), head_units=config.head_units,
                          names=names)


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
    cache = protocol_cache(cache or FeatureCache(config.cache_dir or default_cache_dir()),
                           config.protocol)
    # Every dataset is read (and every embedder loaded) before anything is written: what lacks
    # its data is known, and said, before the first fold trains.
    loaded: dict[str, Manifest] = {}
    failed: dict[str, str] = {}
    manifests: dict[str, Manifest] = {}
    skipped_exps: list[SkippedExperiment] = []
    for exp in experiments:
        try:
            manifest = experiment_manifest(exp, loaded=loaded, failed=failed)
            check_splittable(manifest, labels=list(exp.task.classes), protocol=config.protocol)
        except SpeechMusicError as exc:
            skipped_exps.append(SkippedExperiment.of(exp, str(exc)))
            continue
        manifests[exp.name] = manifest
    baselines, unavailable = _embedding_baselines(config, [e for e in experiments if e.name in manifests],
                                                  cache_root=cache.root)
    for exp in experiments:
        if exp.embedder is not None and exp.model_name in unavailable and exp.name in manifests:
            del manifests[exp.name]
            skipped_exps.append(SkippedExperiment.of(exp, unavailable[exp.model_name]))
    if not manifests:
        raise _all_skipped(skipped_exps)
    run_dir.mkdir(parents=True, exist_ok=True)
    _check_same_config(run_dir, config)
    atomic_write_text(run_dir / "config.yaml", config_to_yaml(config))
    write_skipped_experiments(run_dir, skipped_exps)
    handler = logging.FileHandler(run_dir / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    pkg_log = logging.getLogger("speechmusic")
    old_level = pkg_log.level
    pkg_log.addHandler(handler)
    if pkg_log.getEffectiveLevel() > logging.INFO:
        pkg_log.setLevel(logging.INFO)
    result = RunResult(run_dir=run_dir, cache_stats=cache.stats, skipped_experiments=skipped_exps)
    for rec in skipped_exps:
        log.warning("skipping experiment %s: %s", rec.experiment, rec.reason)
    seen_skips: set[tuple[str, str, str]] = set()
    try:
        runnable = [e for e in experiments if e.name in manifests]
        log.info("run %s: %d experiment(s) into %s (%d skipped)", config.name, len(runnable),
                 run_dir, len(skipped_exps))
        prepared: dict[tuple, PreparedData] = {}
        for n, exp in enumerate(runnable, 1):
            log.info("experiment %d/%d: %s", n, len(runnable), exp.name)
            manifest = manifests[exp.name]
            baseline = baselines.get(exp.model_name) if exp.embedder is not None else None
            if baseline is not None:
                fc, fcache, features_name = baseline.feature_config, baseline.cache, baseline.features_name
                key = (tuple(exp.dataset_names), exp.task_name, features_name)
                factory, normalizer = baseline.model_factory(), baseline.normalizer
                desc = {**exp.describe(), "arch": "embedding_head",
                        "model_params": {"units": baseline.head_units, "output": baseline.spec.output},
                        "feature_config": baseline.feature_description(), "embedder": baseline.describe()}
                extra = {"input": "embeddings", "embedder": baseline.embedder.describe()}
            else:
                fc, fcache, features_name = exp.features, cache, exp.features_name
                key = (tuple(exp.dataset_names), exp.task_name, exp.features.key())
                factory, desc, extra = registry_factory(exp), exp.describe(), {}
                normalizer = exp.model.normalizer
            if key not in prepared:
                prepared[key] = extract_features(manifest, fc, fcache,
                                                 desc=f"features {'+'.join(exp.dataset_names)}/{exp.features_name}",
                                                 features_name=features_name)
            try:  # the readable clips may lack a class or groups the listed ones had
                check_splittable(prepared[key].manifest, labels=list(exp.task.classes),
                                 protocol=config.protocol)
            except SpeechMusicError as exc:
                reason = f"after unreadable clips were left out: {exc}"
                log.warning("skipping experiment %s: %s", exp.name, reason)
                skipped_exps.append(SkippedExperiment.of(exp, reason))
                write_skipped_experiments(run_dir, skipped_exps)
                continue
            out_dir = run_dir / "experiments" / exp.name
            atomic_write_json(out_dir / "experiment.json", desc)
            cv = cross_validate(
                manifest, labels=list(exp.task.classes), feature_config=fc,
                model_factory=factory, out_dir=out_dir, protocol=config.protocol,
                training=training_with(config.training, exp.model.training), cache=fcache,
                prepared=prepared[key], seed=config.seed,
                normalizer=normalizer, name=exp.name, features_name=features_name,
                checkpoint_extra={"datasets": exp.dataset_names, "task": exp.task_name, **extra},
                on_fold_end=(lambda fold, m, _n=exp.name: on_fold_end(_n, fold, m)) if on_fold_end else None)
            result.experiments[exp.name] = cv
            for rec in cv.skipped:
                k = (rec.path, rec.stage, rec.features if rec.stage == "short" else "")
                if k not in seen_skips:
                    seen_skips.add(k)
                    result.skipped.append(rec)
            write_skipped(run_dir, result.skipped)
            result.results = collect_results(run_dir)
            write_results(run_dir, result.results)
        log.info("run %s finished: features extracted %d, read from cache %d, skipped clips %d, "
                 "skipped experiments %d", config.name, cache.stats.extracted, cache.stats.hits,
                 len(result.skipped), len(skipped_exps))
    finally:
        pkg_log.removeHandler(handler)
        pkg_log.setLevel(old_level)
        handler.close()
    return result
