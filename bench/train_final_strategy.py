"""How should `speechmusic train`'s final model (trained on all the data) know when to stop?

Two ways, measured on the folds of a finished model folder (``speechmusic train ... -o DIR``):

* ``validation``: hold out a grouped share for early stopping, as within a fold. Each fold's own
  model *is* that: trained on its training clips, stopped on its validation clips; its test
  accuracy is in ``cv/experiments/engine/fold_<k>/metrics.json``.
* ``cv_epochs``: train on training + validation clips (nothing held out) for a fixed number of
  epochs: the median of the *other* folds' best epochs (what the engine does with the median of
  all folds, here without peeking at this fold).

Both are scored on the fold's test clips, which neither saw. Usage::

    .venv/bin/python bench/train_final_strategy.py /tmp/rm-engine [--cache-dir DIR] [--folds 0 1]

Prints one row per fold and the mean; writes DIR/final_strategy.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    from speechmusic.data.files import atomic_write_json
    from speechmusic.data.manifest import Manifest
    from speechmusic.evaluation.metrics import evaluate_predictions
    from speechmusic.training.cache import FeatureCache, default_cache_dir
    from speechmusic.training.config import RunConfig, expand_experiments
    from speechmusic.training.cv import PreparedData, extract_features, protocol_cache
    from speechmusic.training.engine import _final_model
    from speechmusic.training.loop import predict_proba
    from speechmusic.training.patches import PatchSet
    from speechmusic.training.recipe import Recipe
    from speechmusic.training.runner import registry_factory as factory_of
    from speechmusic.training.schema import from_dict

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--folds", type=int, nargs="*", default=None)
    args = ap.parse_args(argv)

    record = json.loads((args.model_dir / "train.json").read_text())
    recipe: Recipe = from_dict(Recipe, record["recipe"]["settings"])
    if recipe.init:
        print("pretrained initialisations are not handled here", file=sys.stderr)
        return 2
    labels = record["classes"]
    manifest = Manifest.load(args.model_dir / "manifest.csv")
    run_cfg = RunConfig.from_dict(__import__("yaml").safe_load(
        (args.model_dir / "cv" / "config.yaml").read_text()))
    (exp,) = expand_experiments(run_cfg)
    fc = exp.features
    cache = protocol_cache(FeatureCache(args.cache_dir or default_cache_dir()), recipe.protocol)
    prepared = extract_features(manifest, fc, cache, desc="features")
    by_id = {c.id: i for i, c in enumerate(prepared.manifest)}
    exp_dir = args.model_dir / "cv" / "experiments" / "engine"
    folds = sorted(int(p.name.split("_")[1]) for p in exp_dir.glob("fold_*") if (p / "metrics.json").is_file())
    metrics = {k: json.loads((exp_dir / f"fold_{k}" / "metrics.json").read_text()) for k in folds}
    best = {k: int(metrics[k]["fit"]["best_epoch"]) for k in folds}
    index = {lab: i for i, lab in enumerate(labels)}
    rows = []
    for k in args.folds if args.folds is not None else folds:
        split = json.loads((exp_dir / f"fold_{k}" / "split.json").read_text())
        fit_ids = [i for i in split["train"] + split["val"] if i in by_id]
        sub = PreparedData(manifest=prepared.manifest.subset([by_id[i] for i in fit_ids]),
                           refs=[prepared.refs[by_id[i]] for i in fit_ids])
        others = [best[j] for j in folds if j != k] or [best[k]]
        epochs = max(1, int(round(statistics.median(others))))
        t0 = time.perf_counter()
        model, norm, info = _final_model(prepared=sub, labels=labels, fc=fc, recipe=recipe,
                                         protocol=recipe.protocol, factory=factory_of(exp),
                                         normalizer="fit", strategy="cv_epochs", epochs=epochs,
                                         say=lambda s: None)
        seconds = time.perf_counter() - t0
        test = [by_id[i] for i in split["test"] if i in by_id]
        test = [i for i in test if prepared.refs[i].n_frames >= fc.patch_frames]
        y = np.array([index[prepared.manifest[i].label] for i in test], dtype=np.int64)
        data = PatchSet([prepared.refs[i] for i in test], y, patch_frames=fc.patch_frames, hop=fc.hop,
                        normalizer=norm)
        probs = predict_proba(model, data, batch_size=recipe.training.eval_batch_size)
        m = evaluate_predictions(probs, patch_labels=data.patch_label, patch_clip=data.patch_clip,
                                 clip_labels=y, labels=labels)
        row = {"fold": k, "budget_epochs": epochs, "fold_best_epoch": best[k],
               "validation_frame": metrics[k]["frame"]["accuracy"],
               "validation_file": metrics[k]["file"]["accuracy"],
               "cv_epochs_frame": m["frame"]["accuracy"], "cv_epochs_file": m["file"]["accuracy"],
               "cv_epochs_seconds": round(seconds, 1),
               "validation_seconds": metrics[k]["fit"]["seconds"]}
        rows.append(row)
        print(f"fold {k}: early stopping on validation {100 * row['validation_frame']:.1f} % frame "
              f"/ {100 * row['validation_file']:.1f} % file (best epoch {best[k]}); all of train+val "
              f"for {epochs} epochs {100 * row['cv_epochs_frame']:.1f} % / "
              f"{100 * row['cv_epochs_file']:.1f} %", flush=True)
    if rows:
        mean = {key: float(np.mean([r[key] for r in rows])) for key in
                ("validation_frame", "validation_file", "cv_epochs_frame", "cv_epochs_file")}
        print("mean: validation {validation_frame:.4f} / {validation_file:.4f}; cv_epochs "
              "{cv_epochs_frame:.4f} / {cv_epochs_file:.4f}".format(**mean))
        atomic_write_json(args.model_dir / "final_strategy.json", {"folds": rows, "mean": mean})
    return 0


if __name__ == "__main__":
    sys.exit(main())
