"""The report of a run directory: CSV and Markdown tables, PNG figures, one self-contained HTML page.

``write_report(run_dir)`` writes into ``run_dir/report/``::

    results.csv       every experiment: frame- and file-wise accuracy (mean, std over folds), ...
    figure4.csv       the paper's Figure 4: accuracy per architecture and input representation,
                      binary tasks, pooled over datasets (mean and std over all their folds)
    figure5.csv       the paper's Figure 5: binary vs 3-class accuracy per dataset, architecture
                      and input (datasets with both tasks only)
    figure4.png, figure5.png      bar charts with standard-deviation error bars
    confusion/<experiment>.png    confusion matrices (frame and file level, summed over folds)
    report.md         all tables, linking the figures
    report.html       everything in one file (figures embedded as base64)
"""

from __future__ import annotations

import base64
import csv
import html
import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from speechmusic.data.files import atomic_write, atomic_write_text
from speechmusic.errors import ConfigError
from speechmusic.evaluation.metrics import mean_std
from speechmusic.evaluation.results import input_name, load_experiments, result_row

__all__ = ["write_report", "figure4_rows", "figure5_rows"]


def _values(summary: dict[str, Any], level: str, metric: str = "accuracy") -> list[float]:
    vals = ((summary.get(level) or {}).get(metric) or {}).get("values") or []
    return [math.nan if v is None else float(v) for v in vals]


def _fmt(mean: Any, std: Any, *, pct: bool = True) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "-"
    scale = 100.0 if pct else 1.0
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean * scale:.1f}"
    return f"{mean * scale:.1f} ± {std * scale:.1f}"


def figure4_rows(experiments: list[tuple[dict, dict]]) -> list[dict[str, Any]]:
    """Binary experiments grouped by (model, input): mean and std over all folds of all datasets."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for desc, summ in experiments:
        if len(desc["classes"]) != 2:
            continue
        key = (desc["model"], input_name(desc["feature_config"]["kind"]))
        g = groups.setdefault(key, {"datasets": set(), "frame": [], "file": []})
        g["datasets"].add("+".join(desc["datasets"]))
        g["frame"] += _values(summ, "frame")
        g["file"] += _values(summ, "file")
    rows = []
    for (model, inp), g in sorted(groups.items()):
        fr, fi = mean_std(g["frame"]), mean_std(g["file"])
        rows.append({"model": model, "input": inp, "datasets": " ".join(sorted(g["datasets"])),
                     "n_datasets": len(g["datasets"]), "n_folds": fr["n"],
                     "frame_accuracy_mean": fr["mean"], "frame_accuracy_std": fr["std"],
                     "file_accuracy_mean": fi["mean"], "file_accuracy_std": fi["std"]})
    return rows


def figure5_rows(experiments: list[tuple[dict, dict]]) -> list[dict[str, Any]]:
    """Per (dataset, model, input): frame accuracy of the binary and of the 3-class task."""
    cells: dict[tuple[str, str, str], dict[int, dict[str, Any]]] = {}
    for desc, summ in experiments:
        n = len(desc["classes"])
        if n not in (2, 3):
            continue
        key = ("+".join(desc["datasets"]), desc["model"], input_name(desc["feature_config"]["kind"]))
        cells.setdefault(key, {})[n] = mean_std(_values(summ, "frame"))
    rows = []
    for (dataset, model, inp), by_n in sorted(cells.items()):
        if 2 not in by_n or 3 not in by_n:
            continue
        b, t = by_n[2], by_n[3]
        rows.append({"dataset": dataset, "model": model, "input": inp,
                     "binary_mean": b["mean"], "binary_std": b["std"],
                     "three_class_mean": t["mean"], "three_class_std": t["std"],
                     "drop": b["mean"] - t["mean"]})
    return rows


def _csv(rows: list[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return ""
    columns = list(columns or rows[0])
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None or (isinstance(r.get(k), float) and math.isnan(r[k]))
                        else (f"{r[k]:.6f}" if isinstance(r.get(k), float) else r[k]))
                    for k in columns})
    return buf.getvalue()


def _table(headers: list[str], rows: list[list[str]]) -> tuple[str, str]:
    """The same table as Markdown and as HTML."""
    md = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    ht = ["<table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in headers) + "</tr></thead><tbody>"]
    ht += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows]
    ht.append("</tbody></table>")
    return "\n".join(md), "\n".join(ht)


# ----------------------------------------------------------------------------- figures


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def _figure(**kwargs):
    """A matplotlib figure of its own, outside pyplot: no backend chosen, nothing global kept."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _grouped_bars(ax, groups: list[str], series: dict[str, tuple[list[float], list[float]]],
                  ylabel: str) -> None:
    x = np.arange(len(groups))
    width = 0.8 / max(1, len(series))
    for i, (name, (means, stds)) in enumerate(series.items()):
        m = np.array([100 * v if v is not None else np.nan for v in means], dtype=float)
        s = np.array([100 * v if v is not None else np.nan for v in stds], dtype=float)
        ax.bar(x + (i - (len(series) - 1) / 2) * width, m, width, yerr=s, capsize=3, label=name)
    ax.set_xticks(x)
    ax.set_xticklabels(groups, rotation=30 if len(groups) > 4 else 0, ha="right" if len(groups) > 4 else "center")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 105)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")


def _figure4(rows: list[dict[str, Any]]) -> bytes | None:
    if not rows:
        return None
    models = sorted({r["model"] for r in rows})
    inputs = sorted({r["input"] for r in rows}, key=lambda s: (s != "MelSpec", s))
    fig = _figure(figsize=(11, 4))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, level in zip(axes, ("frame", "file"), strict=True):
        series = {}
        for inp in inputs:
            by_model = {r["model"]: r for r in rows if r["input"] == inp}
            series[inp] = ([by_model[m][f"{level}_accuracy_mean"] if m in by_model else None for m in models],
                           [by_model[m][f"{level}_accuracy_std"] if m in by_model else None for m in models])
        _grouped_bars(ax, models, series, f"{level}-wise accuracy [%]")
        ax.set_title(f"{level}-wise accuracy, binary tasks, all datasets")
    return _png(fig)


def _figure5(rows: list[dict[str, Any]]) -> bytes | None:
    if not rows:
        return None
    datasets = sorted({r["dataset"] for r in rows})
    fig = _figure(figsize=(5.5 * len(datasets), 4))
    axes = fig.subplots(1, len(datasets), sharey=True, squeeze=False)
    for ax, ds in zip(axes[0], datasets, strict=True):
        sub = [r for r in rows if r["dataset"] == ds]
        groups = [f"{r['model']}\n{r['input']}" for r in sub]
        series = {"binary": ([r["binary_mean"] for r in sub], [r["binary_std"] for r in sub]),
                  "3-class": ([r["three_class_mean"] for r in sub], [r["three_class_std"] for r in sub])}
        _grouped_bars(ax, groups, series, "frame-wise accuracy [%]")
        ax.set_title(ds)
    return _png(fig)


def _confusion(desc: dict[str, Any], summ: dict[str, Any]) -> bytes | None:
    labels = summ.get("labels") or desc["classes"]
    mats = [(level, np.asarray((summ.get(level) or {}).get("confusion") or [], dtype=float))
            for level in ("frame", "file")]
    mats = [(lv, m) for lv, m in mats if m.size == len(labels) ** 2]
    if not mats:
        return None
    fig = _figure(figsize=(4.8 * len(mats), 3.8))
    axes = fig.subplots(1, len(mats), squeeze=False)
    for ax, (level, m) in zip(axes[0], mats, strict=True):
        m = m.reshape(len(labels), len(labels))
        rows = m.sum(axis=1, keepdims=True)
        norm = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
        ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(j, i, f"{int(m[i, j])}\n{100 * norm[i, j]:.0f}%", ha="center", va="center",
                        color="white" if norm[i, j] > 0.5 else "black", fontsize=8)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels)
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{level}-wise, {summ.get('n_folds', 0)} folds")
    fig.suptitle(desc["name"], fontsize=9)
    fig.tight_layout()
    return _png(fig)


# ----------------------------------------------------------------------------- the report


def write_report(run_dir: str | os.PathLike, *, out_dir: str | os.PathLike | None = None,
                 confusion: bool = True) -> dict[str, Path]:
    """Write the report of ``run_dir`` (see the module docstring); returns the files by role."""
    run_dir = Path(run_dir)
    if not (run_dir / "experiments").is_dir():
        raise ConfigError(f"{run_dir} is not a run directory (no experiments/ folder)")
    experiments = load_experiments(run_dir)
    if not experiments:
        raise ConfigError(f"{run_dir}: no finished experiment (no summary.json) to report")
    out = Path(out_dir) if out_dir is not None else run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    rows = [result_row(d, s) for d, s in experiments]
    f4, f5 = figure4_rows(experiments), figure5_rows(experiments)
    files["results.csv"] = atomic_write_text(out / "results.csv", _csv(rows))
    files["figure4.csv"] = atomic_write_text(out / "figure4.csv", _csv(f4))
    files["figure5.csv"] = atomic_write_text(out / "figure5.csv", _csv(f5))

    images: dict[str, bytes] = {}
    for name, data in (("figure4.png", _figure4(f4)), ("figure5.png", _figure5(f5))):
        if data is not None:
            images[name] = data
    if confusion:
        for desc, summ in experiments:
            data = _confusion(desc, summ)
            if data is not None:
                images[f"confusion/{desc['name']}.png"] = data
    for name, data in images.items():
        files[name] = atomic_write(out / name, lambda fh, d=data: fh.write(d))

    md: list[str] = [f"# Report: {run_dir.name}", ""]
    ht: list[str] = []

    def section(title: str, headers: list[str], table_rows: list[list[str]], note: str = "") -> None:
        m, h = _table(headers, table_rows)
        md.extend([f"## {title}", "", *([note, ""] if note else []), m, ""])
        ht.append(f"<h2>{html.escape(title)}</h2>" + (f"<p>{html.escape(note)}</p>" if note else "") + h)

    def image(name: str, alt: str) -> None:
        if name in images:
            md.extend([f"![{alt}]({name})", ""])
            b64 = base64.b64encode(images[name]).decode("ascii")
            ht.append(f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'
                      f"<figcaption>{html.escape(alt)}</figcaption></figure>")

    section("All experiments",
            ["experiment", "datasets", "task", "model", "input", "folds", "frame acc [%]",
             "file acc [%]", "frame bal. acc [%]"],
            [[r["experiment"], r["datasets"], r["task"], r["model"], r["features"], str(r["n_folds"]),
              _fmt(r["frame_accuracy_mean"], r["frame_accuracy_std"]),
              _fmt(r["file_accuracy_mean"], r["file_accuracy_std"]),
              _fmt(r["frame_balanced_accuracy_mean"], r["frame_balanced_accuracy_std"])] for r in rows],
            "Mean ± standard deviation over cross-validation folds.")
    if f4:
        section("Figure 4: accuracy per architecture and input (binary tasks)",
                ["model", "input", "datasets", "folds", "frame acc [%]", "file acc [%]"],
                [[r["model"], r["input"], r["datasets"], str(r["n_folds"]),
                  _fmt(r["frame_accuracy_mean"], r["frame_accuracy_std"]),
                  _fmt(r["file_accuracy_mean"], r["file_accuracy_std"])] for r in f4],
                "Mean ± standard deviation over all folds of all datasets of the binary task.")
        image("figure4.png", "Figure 4: frame- and file-wise accuracy per architecture and input")
    if f5:
        section("Figure 5: binary vs 3-class (frame-wise accuracy)",
                ["dataset", "model", "input", "binary [%]", "3-class [%]", "drop [points]"],
                [[r["dataset"], r["model"], r["input"], _fmt(r["binary_mean"], r["binary_std"]),
                  _fmt(r["three_class_mean"], r["three_class_std"]), f"{100 * r['drop']:.1f}"]
                 for r in f5])
        image("figure5.png", "Figure 5: binary vs 3-class frame-wise accuracy")
    conf = [n for n in images if n.startswith("confusion/")]
    if conf:
        md.extend(["## Confusion matrices", ""])
        ht.append("<h2>Confusion matrices</h2>")
        for name in conf:
            image(name, name[len("confusion/"):-4])
    skipped = run_dir / "skipped.csv"
    if skipped.is_file():
        recs = list(csv.DictReader(io.StringIO(skipped.read_text(encoding="utf-8"))))
        if recs:
            section(f"Skipped clips ({len(recs)})", ["path", "stage", "features", "reason"],
                    [[r["path"], r["stage"], r["features"], r["reason"]] for r in recs])
    files["report.md"] = atomic_write_text(out / "report.md", "\n".join(md))
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:1em 0;font-size:90%}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f0f0f0}"
             "img{max-width:100%}figure{margin:1em 0}")
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(run_dir.name)}</title>"
            f"<style>{style}</style></head><body><h1>Report: {html.escape(run_dir.name)}</h1>"
            + "\n".join(ht) + "</body></html>\n")
    files["report.html"] = atomic_write_text(out / "report.html", page)
    return files
