"""Results of a run directory as rows: one per experiment, mean and std over folds.

Reads ``experiments/<name>/experiment.json`` and ``summary.json`` (written by the training
engine); knows nothing of how the numbers were made.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from speechmusic.data.files import atomic_write_json, atomic_write_text

__all__ = ["result_row", "collect_results", "write_results", "load_experiments", "input_name"]


def load_experiments(run_dir: str | os.PathLike) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``(experiment.json, summary.json)`` of every finished experiment in ``run_dir``, by name."""
    out = []
    for exp_dir in sorted((Path(run_dir) / "experiments").glob("*")):
        desc, summ = exp_dir / "experiment.json", exp_dir / "summary.json"
        if desc.is_file() and summ.is_file():
            out.append((json.loads(desc.read_text(encoding="utf-8")),
                        json.loads(summ.read_text(encoding="utf-8"))))
    return out


_INPUT_NAMES = {"logmel": "MelSpec", "mfcc": "MFCC", "ina_bands": "InaBands"}


def input_name(kind: str) -> str:
    """The paper's name of an input representation kind (``logmel`` -> ``MelSpec``; an
    embedder's output, ``embedding:<embedder>``, -> ``Embedding``)."""
    if kind and kind.startswith("embedding"):
        return "Embedding"
    return _INPUT_NAMES.get(kind, kind or "?")


def result_row(description: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """One results row from an experiment's ``experiment.json`` and ``summary.json``."""
    row: dict[str, Any] = {
        "experiment": description["name"], "datasets": "+".join(description["datasets"]),
        "task": description["task"], "n_classes": len(description["classes"]),
        "classes": " ".join(description["classes"]), "model": description["model"],
        "arch": description["arch"], "features": description["features"],
        "input": input_name((description.get("feature_config") or {}).get("kind", "")),
        "n_folds": summary.get("n_folds", 0), "n_clips": summary.get("n_clips", 0),
    }
    for level in ("frame", "file"):
        for metric in ("accuracy", "balanced_accuracy", "macro_f1"):
            stats = summary.get(level, {}).get(metric) or {}
            row[f"{level}_{metric}_mean"] = stats.get("mean")
            row[f"{level}_{metric}_std"] = stats.get("std")
    return row


def collect_results(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of every experiment in ``run_dir`` that has a summary, sorted by name."""
    return [result_row(d, s) for d, s in load_experiments(run_dir)]


def write_results(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    """``results.csv`` and ``results.json``: one row per experiment."""
    atomic_write_json(run_dir / "results.json", rows)
    if not rows:
        atomic_write_text(run_dir / "results.csv", "")
        return
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "" if v is None else (f"{v:.6f}" if isinstance(v, float) else v)
                         for k, v in r.items()})
    atomic_write_text(run_dir / "results.csv", buf.getvalue())
