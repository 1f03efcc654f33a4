"""Run directories written by hand, as the training engine lays them out: reports are tested on
them without training anything."""

from __future__ import annotations

import json
from pathlib import Path


def _level(accs: list[float], n: int) -> dict:
    conf = [[5 if i == j else 1 for j in range(n)] for i in range(n)]
    return {"accuracy": {"mean": sum(accs) / len(accs), "std": 0.01, "n": len(accs), "values": accs},
            "balanced_accuracy": {"mean": 0.9, "std": 0.0, "n": 2, "values": [0.9, 0.9]},
            "macro_f1": {"mean": 0.9, "std": 0.0, "n": 2, "values": [0.9, 0.9]},
            "per_class": {}, "confusion": conf}


def experiment(run: Path, name: str, *, dataset: str, classes: list[str], model: str, kind: str,
               accs: list[float], folds: bool = False, extra: dict | None = None) -> Path:
    """``experiments/<name>/`` with ``experiment.json`` and ``summary.json`` (and, with
    ``folds``, a ``fold_<k>/metrics.json`` per accuracy, as ``cross_validate`` writes them)."""
    d = run / "experiments" / name
    d.mkdir(parents=True)
    desc = {"name": name, "datasets": [dataset], "task": "binary" if len(classes) == 2 else "3class",
            "classes": classes, "model": model, "arch": model, "model_params": {},
            "features": "melspec" if kind == "logmel" else "mfcc", "feature_config": {"kind": kind},
            **(extra or {})}
    level = _level(accs, len(classes))
    summary = {"n_folds": len(accs), "labels": classes, "frame": level, "file": level, "n_clips": 10,
               "folds": list(range(len(accs)))}
    (d / "experiment.json").write_text(json.dumps(desc))
    (d / "summary.json").write_text(json.dumps(summary))
    if folds:
        n = len(classes)
        for k, acc in enumerate(accs):
            f = d / f"fold_{k}"
            f.mkdir()
            (f / "metrics.json").write_text(json.dumps({
                "fold": k, "experiment": name, "labels": classes,
                "frame": {"accuracy": acc}, "file": {"accuracy": min(1.0, acc + 0.05)},
                "patches": {"train": [40] * n, "val": [10] * n, "test": [12 + k] * n},
                "clips": {"train": 16, "val": 4, "test": 5 + k},
                "fit": {"epochs_run": 2, "best_epoch": 1 + k, "stopped_early": False}}))
    return d


CONFIG_YAML = """\
name: generated
protocol:
  n_folds: 2
  test_fraction: 0.2
  val_fraction: 0.1
  balance: true
  max_patches_per_clip: 4
training:
  max_epochs: 2
  patience: 1
  batch_size: 64
  learning_rate: 0.001
"""


def study_run(run: Path, *, folds: bool = True) -> Path:
    """Six binary experiments (two datasets, three model/input pairs) and one 3-class one: every
    table and figure of the report has something to show. 7 confusion matrices."""
    for ds in ("musan", "gtzan"):
        for model, kind in (("vgg", "logmel"), ("ina", "logmel"), ("ina", "mfcc")):
            experiment(run, f"{ds}-binary-{model}-{kind}", dataset=ds, classes=["music", "speech"],
                       model=model, kind=kind, accs=[0.9, 0.95], folds=folds)
    experiment(run, "musan-3class-vgg-logmel", dataset="musan", classes=["music", "speech", "noise"],
               model="vgg", kind="logmel", accs=[0.7, 0.8], folds=folds)
    (run / "skipped.csv").write_text("path,dataset,clip_id,stage,features,reason\n"
                                     "/x.wav,d,d/x,read,mel,broken | truncated\n")
    if folds:
        (run / "config.yaml").write_text(CONFIG_YAML)
    return run


def transfer_run(root: Path):
    """A transfer run of the quick demo's config (two targets), three rows of each target run
    and one pre-trained network: ``(run_dir, TransferConfig)``."""
    from speechmusic.demo.study import SETTINGS, SOURCES, transfer_config
    from speechmusic.transfer import load_transfer_config

    settings = SETTINGS["quick"]
    manifests = {k: root / f"{k}.csv" for k in (*SOURCES, *settings.transfer_targets)}
    config = load_transfer_config(data=transfer_config(manifests, settings, root / "cache"))
    run = root / "transfer"
    for target in settings.transfer_targets:
        for row, column in (("ina-emb-frozen", "FZ"), ("vgg-orig", "FT"), ("dnn-baseline", "FT")):
            experiment(run, f"{target}-{row}", dataset=target, classes=["a", "b"], model=row,
                       kind="logmel", accs=[0.8, 0.9], folds=True,
                       extra={"target": target, "column": column})
    pre = experiment(root / "pre", "ina", dataset="all", classes=["music", "speech"], model="ina",
                     kind="logmel", accs=[0.95], folds=True)
    (run / "pretrain").mkdir()
    pre.rename(run / "pretrain" / "ina")
    return run, config
