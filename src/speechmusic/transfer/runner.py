"""The transfer study (paper section 4.4, Table 2): pre-train, then transfer to every target.

For every architecture of ``config.architectures``:

1. **pre-training** on the source datasets combined with balanced shares (one fold of the
   protocol; :func:`speechmusic.training.cross_validate` with that fold only), giving one
   checkpoint per architecture;
2. for every target task, cross-validated (the same folds for every row of a target):

   * ``<arch>-emb-<strategy>``: the pretrained network, its output layer replaced by the
     appended classifier (``head_units`` dense + output), trained ``frozen`` (Acc_FZ),
     ``intermediate`` (Acc_IN, from the green line on) or ``full`` (Acc_FT); inputs normalised
     with the pretrained checkpoint's normaliser;
   * ``<arch>-orig``: the same architecture trained from scratch on the target (Table 2's Orig);

and once per target:

   * ``<baseline>-baseline``: e.g. the DNN on MelSpec, trained from scratch;
   * ``<embedder>-emb``: a general embedding (OpenL3, YAMNet, INA) + the paper's classifier
     for OpenL3 (embeddings scaled to [0, 1] on the training split, a 128-unit dense layer,
     sigmoid outputs; see :mod:`speechmusic.transfer.baseline`), every embedding frame a
     training example.

A target or source dataset whose data is missing (root unset or absent, a class absent, too
few groups) is skipped with its reason (``skipped_experiments.csv``, the report) while the rest
runs; with ``pretrain.partial`` the networks pre-train on the source datasets that have data.

Everything goes through :func:`speechmusic.training.cross_validate` (the fit loop, early
stopping, folds, checkpoints, resume). The run directory::

    config.yaml
    pretrain/<arch>/fold_<k>/model.pt       the pretrained networks (and their source metrics)
    experiments/<target>-<row>/             experiment.json, summary.json, fold_<k>/
    skipped.csv                             clips left out, with the reason
    skipped_experiments.csv                 rows (and source datasets) left out, with the reason
    table2.csv, table2.md, report.html      the paper's Table 2 layout (+ details)

Running again into the same directory trains only what is missing.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from speechmusic.data.files import atomic_write_json, atomic_write_text
from speechmusic.data.manifest import Manifest
from speechmusic.errors import ConfigError, SpeechMusicError
from speechmusic.evaluation.report import MODEL_TITLES as _PAPER_TITLES
from speechmusic.features import FeatureConfig
from speechmusic.models import build_model, load_checkpoint
from speechmusic.training import (
    CVResult,
    Experiment,
    FeatureCache,
    FoldContext,
    ModelSpec,
    PreparedData,
    SkipRecord,
    cross_validate,
    default_cache_dir,
    experiment_manifest,
    extract_features,
)
from speechmusic.training.config import protocol_differences, training_differences, training_with
from speechmusic.training.cv import AudioProtocol, check_splittable, protocol_cache
from speechmusic.training.runner import (
    SkippedExperiment,
    write_skipped,
    write_skipped_experiments,
)
from speechmusic.transfer.baseline import (
    EmbeddingCache,
    build_spec_embedder,
    embedding_feature_config,
    open_baselines,
)
from speechmusic.transfer.config import TransferConfig

__all__ = ["EmbeddingCache", "TransferResult", "build_spec_embedder", "embedding_feature_config",
           "run_transfer", "transfer_model", "MODEL_TITLES"]

log = logging.getLogger(__name__)

#: How Table 2 names the architectures.
MODEL_TITLES = dict(_PAPER_TITLES)
_COLUMN = {"frozen": "FZ", "intermediate": "IN", "full": "FT"}


@dataclass
class TransferResult:
    """What a run produced: the Table 2 rows, every cross-validation, the skipped clips."""

    run_dir: Path
    table: list[dict[str, Any]] = field(default_factory=list)
    experiments: dict[str, CVResult] = field(default_factory=dict)
    pretrained: dict[str, Path] = field(default_factory=dict)
    skipped: list[SkipRecord] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    skipped_experiments: list[SkippedExperiment] = field(default_factory=list)


# ----------------------------------------------------------------------------- the run


def _check_same_config(run_dir: Path, config: TransferConfig) -> None:
    """Refuse to mix settings in one run directory (dataset roots and thread counts may change)."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        return

    def strip(d: dict[str, Any]) -> dict[str, Any]:
        d = {k: v for k, v in d.items() if k not in ("roots", "cache_dir", "name", "targets")}
        if isinstance(d.get("training"), dict):
            d["training"] = training_differences(
                {k: v for k, v in d["training"].items() if k != "num_threads"})
        if isinstance(d.get("protocol"), dict):
            d["protocol"] = protocol_differences(d["protocol"])
        if isinstance(d.get("pretrain"), dict) and d["pretrain"].get("partial", True) is True:
            d["pretrain"] = {k: v for k, v in d["pretrain"].items() if k != "partial"}
        if isinstance(d.get("datasets"), dict):
            d["datasets"] = {n: {k: v for k, v in (s or {}).items() if k != "root"}
                             for n, s in d["datasets"].items()}
        for spec in (d.get("embedders") or {}).values():
            if isinstance(spec, dict):
                spec.pop("weights", None)
        return d

    try:
        old = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        raise ConfigError(f"{path} is not valid YAML; use a new run directory") from None
    a, b = strip(old), strip(json.loads(json.dumps(config.to_dict())))
    if a != b:
        keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        raise ConfigError(f"{run_dir} holds a transfer run with different settings ({', '.join(keys)}); "
                          "resume it with the same config or write to a new directory")


def _manifest(config: TransferConfig, name: str, datasets: list[str], task: str,
              loaded: dict[str, Manifest], failed: dict[str, str] | None = None) -> Manifest:
    exp = Experiment(name=name, dataset_names=list(datasets),
                     datasets=[config.datasets[d] for d in datasets], task_name=task,
                     task=config.tasks[task], model_name="-", model=ModelSpec(name="-"),
                     features_name="-", features=FeatureConfig())
    return experiment_manifest(exp, loaded=loaded, failed=failed)


def _describe(*, name: str, target: Any, classes: list[str], model: str, arch: str, features: str,
              feature_config: dict[str, Any], row: str, column: str, strategy: str | None,
              source: Any) -> dict[str, Any]:
    return {"name": name, "datasets": list(target.datasets), "task": target.task, "classes": classes,
            "model": model, "arch": arch, "features": features, "feature_config": feature_config,
            "target": target.name, "target_title": target.title or target.name, "row": row,
            "column": column, "strategy": strategy, "source": source}


def run_transfer(config: TransferConfig, run_dir: str | os.PathLike, *,
                 only_targets: list[str] | None = None, cache: FeatureCache | None = None,
                 on_event: Callable[[str], None] | None = None) -> TransferResult:
    """Run (or resume) the study of ``config`` into ``run_dir``; returns the Table 2 rows.

    ``only_targets``: run these targets only (pre-training always runs). ``on_event`` receives
    one line per finished stage (for progress output).
    """
    from speechmusic.transfer.report import table2_rows, write_transfer_report

    config.check()
    run_dir = Path(run_dir)
    say = on_event or (lambda msg: log.info("%s", msg))
    targets = [t for t in config.targets if only_targets is None or t.name in only_targets]
    if not targets:
        raise ConfigError(f"no target matches {only_targets}; targets: {[t.name for t in config.targets]}")
    rc = config.run_config()
    # Every dataset is read and every embedder loaded before any training: what lacks its data
    # is known, and reported, before the first fold trains; the rest runs.
    loaded: dict[str, Manifest] = {}
    failed: dict[str, str] = {}
    result = TransferResult(run_dir=run_dir)
    skipped = result.skipped_experiments
    classes_of = {t.name: list(config.tasks[t.task].classes) for t in targets}
    source, sources = None, []
    if config.pretrain is not None and config.architectures:
        source, sources = _source_manifest(config, loaded, failed, skipped)
    target_manifests: dict[str, Manifest] = {}
    for t in targets:
        try:
            m = _manifest(config, t.name, t.datasets, t.task, loaded, failed)
            check_splittable(m, labels=classes_of[t.name], protocol=config.protocol)
            target_manifests[t.name] = m
        except SpeechMusicError as exc:
            skipped.extend(_skip(t, row, f"target {t.name}: {exc}", config)
                           for row in _row_names(config))
    if not target_manifests:
        raise ConfigError("no target has its data; nothing to run:\n"
                          + "\n".join(sorted({f"  {r.reason}" for r in skipped})))
    cache_root = config.cache_dir or default_cache_dir()
    baselines, unavailable = open_baselines(config.embedders, cache_root=cache_root,
                                            audio=AudioProtocol.of(config.protocol),
                                            head_units=config.head_units)
    for ename, reason in unavailable.items():
        result.unavailable[ename] = reason
        say(f"{reason}; its rows read n/a")
        skipped.extend(_skip(t, f"{ename}-emb", reason, config) for t in targets
                       if t.name in target_manifests)
    if source is None and config.architectures:
        why = "; ".join(r.reason for r in skipped if r.experiment.startswith("pretrain"))
        for t in targets:
            if t.name in target_manifests:
                skipped.extend(_skip(t, row, f"no pre-trained network ({why})", config)
                               for row in _row_names(config, pretrained_only=True))
    run_dir.mkdir(parents=True, exist_ok=True)
    _check_same_config(run_dir, config)
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False,
                                                               allow_unicode=True))
    write_skipped_experiments(run_dir, skipped)
    cache = protocol_cache(cache or FeatureCache(cache_root), config.protocol)
    prepared: dict[tuple[str, str], PreparedData] = {}
    skip_seen: set[tuple[str, str, str]] = set()

    def prepare(key: str, manifest: Manifest, fc: FeatureConfig, fcache: FeatureCache,
                features_name: str) -> PreparedData:
        k = (key, fc.key() if not isinstance(fcache, EmbeddingCache) else features_name)
        if k not in prepared:
            prepared[k] = extract_features(manifest, fc, fcache, desc=f"features {key}/{features_name}",
                                           features_name=features_name)
        return prepared[k]

    def record(name: str, cv: CVResult, seconds: float) -> None:
        result.experiments[name] = cv
        if cv.trained_folds:
            result.seconds[name] = seconds
        for rec in cv.skipped:
            k = (rec.path, rec.stage, rec.features)
            if k not in skip_seen:
                skip_seen.add(k)
                result.skipped.append(rec)

    # 1. pre-training
    for arch in config.architectures if source is not None else []:
        spec = rc.model_spec(arch)
        fname = spec.features[0]
        fc = rc.feature_config(fname)
        protocol = replace(config.protocol, folds=[config.pretrain.fold])
        if config.pretrain.max_patches_per_clip is not None:
            protocol = replace(protocol, max_patches_per_clip=config.pretrain.max_patches_per_clip)
        out = run_dir / "pretrain" / arch
        _check_same_sources(out, sources)
        atomic_write_json(out / "experiment.json", {
            "name": f"pretrain-{arch}", "datasets": sources, "task": config.pretrain.task,
            "classes": config.tasks[config.pretrain.task].classes, "model": arch, "arch": spec.name,
            "features": fname, "feature_config": fc.to_dict(),
            "left_out": {d: failed[d] for d in config.pretrain.datasets if d not in sources}})
        t0 = time.perf_counter()
        cv = cross_validate(
            source, labels=list(config.tasks[config.pretrain.task].classes), feature_config=fc,
            model_factory=_registry_factory(spec), out_dir=out, protocol=protocol,
            training=training_with(config.pretrain.training or config.training, spec.training), cache=cache,
            prepared=prepare("pretrain", source, fc, cache, fname), seed=config.seed,
            name=f"pretrain-{arch}", features_name=fname, normalizer=spec.normalizer,
            checkpoint_extra={"stage": "pretrain", "datasets": sources})
        record(f"pretrain-{arch}", cv, time.perf_counter() - t0)
        result.pretrained[arch] = out / f"fold_{config.pretrain.fold}" / "model.pt"
        acc = (cv.summary.get("frame") or {}).get("accuracy", {}).get("mean")
        say(f"pretrain {arch}: source frame accuracy {acc:.3f} ({time.perf_counter() - t0:.1f} s)"
            if acc is not None else f"pretrain {arch} done")

    # 2. every target
    for target in targets:
        if target.name not in target_manifests:
            continue
        manifest = target_manifests[target.name]
        classes = classes_of[target.name]

        def run_row(row: str, *, model_factory: Callable[[FoldContext], Any], fc: FeatureConfig,
                    fcache: FeatureCache, features_name: str, normalizer: Any, model: str, arch: str,
                    column: str, strategy: str | None, source_desc: Any, extra: dict[str, Any],
                    feature_desc: dict[str, Any] | None = None, training: dict[str, Any] | None = None,
                    target: Any = target,
                    manifest: Manifest = manifest, classes: list[str] = classes) -> None:
            name = f"{target.name}-{row}"
            out = run_dir / "experiments" / name
            data = prepare(target.name, manifest, fc, fcache, features_name)
            desc = _describe(name=name, target=target, classes=classes, model=model, arch=arch,
                             features=features_name, feature_config=feature_desc or fc.to_dict(),
                             row=row, column=column, strategy=strategy, source=source_desc)
            if training:
                desc["training"] = dict(training)
            old = out / "experiment.json"
            if old.is_file():
                desc["seconds"] = json.loads(old.read_text(encoding="utf-8")).get("seconds")
            atomic_write_json(old, desc)
            t0 = time.perf_counter()
            cv = cross_validate(
                data.manifest, labels=classes, feature_config=fc, model_factory=model_factory,
                out_dir=out, protocol=config.protocol, training=training_with(config.training, training),
                cache=fcache,
                prepared=data, normalizer=normalizer, seed=config.seed, name=name,
                features_name=features_name,
                checkpoint_extra={"stage": "transfer", "target": target.name, **extra})
            seconds = time.perf_counter() - t0
            record(name, cv, seconds)
            if cv.trained_folds:
                desc["seconds"] = round(seconds, 2)
                atomic_write_json(old, desc)
            level = (cv.summary.get(config.table_level) or {}).get("accuracy") or {}
            say(f"{target.name} {row}: {config.table_level} accuracy "
                f"{100 * (level.get('mean') or float('nan')):.1f} ± {100 * (level.get('std') or 0):.1f} "
                f"({seconds:.1f} s)")

        for arch in config.architectures:
            ckpt_path = result.pretrained.get(arch)  # none without pre-training (no source data)
            ckpt = load_checkpoint(ckpt_path) if ckpt_path is not None else None
            fname = rc.model_spec(arch).features[0]
            for strategy in config.strategies if ckpt is not None else []:
                fc = ckpt.feature_config
                run_row(f"{arch}-emb-{strategy}", model_factory=_transfer_factory(
                            ckpt_path, strategy=strategy, head_units=config.head_units),
                        fc=fc, fcache=cache, features_name=fname, normalizer=ckpt.input_normalizer(),
                        model=f"{arch}_emb", arch=ckpt.model.arch, column=_COLUMN[strategy],
                        strategy=strategy, source_desc=str(ckpt_path),
                        extra={"pretrained": str(ckpt_path), "strategy": strategy})
            spec = rc.model_spec(arch)
            run_row(f"{arch}-orig", model_factory=_registry_factory(spec),
                    fc=rc.feature_config(spec.features[0]), fcache=cache,
                    features_name=spec.features[0], normalizer=spec.normalizer, model=f"{arch}_orig",
                    arch=spec.name, column="FT", strategy=None, source_desc=None, extra={},
                    training=spec.training)
        for ename, base in baselines.items():
            run_row(f"{ename}-emb", model_factory=base.model_factory(),
                    fc=base.feature_config, fcache=base.cache, features_name=base.features_name,
                    normalizer=base.normalizer, model=f"{ename}_emb", arch="embedding_head",
                    column="FZ", strategy="frozen", source_desc=base.describe(),
                    extra={"input": "embeddings", "embedder": base.embedder.describe()},
                    feature_desc=base.feature_description())
        for base in config.baselines:
            spec = rc.model_spec(base)
            run_row(f"{base}-baseline", model_factory=_registry_factory(spec),
                    fc=rc.feature_config(spec.features[0]), fcache=cache,
                    features_name=spec.features[0], normalizer=spec.normalizer, model=f"{base}_baseline",
                    arch=spec.name, column="FT", strategy=None, source_desc=None, extra={},
                    training=spec.training)
        write_skipped(run_dir, result.skipped)

    result.table = table2_rows(run_dir, config, targets=[t.name for t in targets],
                               unavailable=result.unavailable,
                               skipped={r.experiment: r.reason for r in skipped})
    write_transfer_report(run_dir, config, result.table)
    return result


def _row_names(config: TransferConfig, *, pretrained_only: bool = False) -> list[str]:
    """The experiment rows of one target (``<target>-<row>`` name its folders)."""
    rows = [f"{a}-emb-{s}" for a in config.architectures for s in config.strategies]
    if pretrained_only:
        return rows
    rows += [f"{a}-orig" for a in config.architectures]
    rows += [f"{e}-emb" for e in config.embedders] + [f"{b}-baseline" for b in config.baselines]
    return rows


def _skip(target: Any, row: str, reason: str, config: TransferConfig) -> SkippedExperiment:
    features = "embedding" if row.endswith("-emb") else (config.models[row.split("-")[0]].features[0]
                                                         if row.split("-")[0] in config.models else "")
    return SkippedExperiment(experiment=f"{target.name}-{row}", datasets="+".join(target.datasets),
                             task=target.task, model=row, features=features, reason=reason)


def _source_manifest(config: TransferConfig, loaded: dict[str, Manifest], failed: dict[str, str],
                     skipped: list[SkippedExperiment]) -> tuple[Manifest | None, list[str]]:
    """The pre-training clips, and the source datasets they come from: those with their data
    when ``pretrain.partial`` (the others are reported), all of them or none otherwise."""
    pre = config.pretrain
    available, reasons = [], {}
    for d in pre.datasets:
        try:
            _manifest(config, f"pretrain-{d}", [d], pre.task, loaded, failed)
            available.append(d)
        except SpeechMusicError as exc:
            reasons[d] = str(exc)
            failed.setdefault(d, str(exc))
    if reasons and not (pre.partial and available):
        for d, why in reasons.items():
            skipped.append(SkippedExperiment(
                experiment=f"pretrain:{d}", datasets=d, task=pre.task, model="-", features="-",
                reason=f"source dataset missing, so nothing is pre-trained: {why}"))
        return None, []
    for d, why in reasons.items():
        skipped.append(SkippedExperiment(
            experiment=f"pretrain:{d}", datasets=d, task=pre.task, model="-", features="-",
            reason=f"left out of pre-training (the networks pre-train on "
                   f"{', '.join(available)}): {why}"))
    try:
        source = _manifest(config, "pretrain", available, pre.task, loaded, failed)
        check_splittable(source, labels=list(config.tasks[pre.task].classes), protocol=config.protocol)
    except SpeechMusicError as exc:
        skipped.append(SkippedExperiment(
            experiment="pretrain", datasets="+".join(available), task=pre.task, model="-",
            features="-", reason=f"nothing is pre-trained: {exc}"))
        return None, []
    return source, available


def _check_same_sources(out: Path, sources: list[str]) -> None:
    """Refuse to resume a pre-training whose source datasets were others (a dataset found since,
    or lost): its checkpoint would stand for data it was not trained on."""
    path = out / "experiment.json"
    if not path.is_file():
        return
    try:
        before = json.loads(path.read_text(encoding="utf-8")).get("datasets")
    except (OSError, ValueError):
        return
    if before is not None and list(before) != list(sources):
        raise ConfigError(f"{out} was pre-trained on {', '.join(before)}; the sources with data are "
                          f"now {', '.join(sources)}: write to a new run directory")


def _registry_factory(spec: ModelSpec) -> Callable[[FoldContext], Any]:
    def build(ctx: FoldContext):
        return build_model(spec.name, n_classes=len(ctx.labels), input_shape=ctx.input_shape, **spec.params)

    return build


def transfer_model(path: str | os.PathLike, *, n_classes: int, strategy: str, head_units: int = 128,
                   input_shape: tuple[int, ...] | None = None) -> Any:
    """A pretrained checkpoint made ready for a target task (paper section 4.4): its output
    layer replaced by the appended classifier (``head_units`` dense + ``n_classes`` output) and
    ``strategy`` (``frozen``, ``intermediate``, ``full``) deciding what trains; in train mode."""
    model = load_checkpoint(path).model
    if input_shape is not None and tuple(model.input_shape) != tuple(input_shape):
        raise SpeechMusicError(f"{path}: the pretrained model takes {model.input_shape}, the "
                               f"target's patches are {tuple(input_shape)}")
    model.replace_classifier(n_classes=n_classes, head_units=head_units)
    return model.set_trainable(strategy).train()


def _transfer_factory(path: Path, *, strategy: str, head_units: int) -> Callable[[FoldContext], Any]:
    def build(ctx: FoldContext):
        return transfer_model(path, n_classes=len(ctx.labels), strategy=strategy,
                              head_units=head_units, input_shape=ctx.input_shape)

    return build


