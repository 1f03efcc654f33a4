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

This module is also the one renderer of every report of the package (``speechmusic report``,
``speechmusic transfer``'s Table 2, ``speechmusic demo``'s page): a report is a list of
:class:`Section` (nested), :class:`Paragraph`, :class:`Table` and :class:`Figure` blocks, and
:func:`render_html` / :func:`render_markdown` turn the same blocks into a page with a heading per
section, one ``<table>`` (with ``<thead>``) per table and ``<figure>``/``<figcaption>`` per figure.
Figures are drawn on :class:`matplotlib.figure.Figure` directly: the host's pyplot backend is
never touched.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from speechmusic.data.files import atomic_write, atomic_write_text
from speechmusic.errors import ConfigError
from speechmusic.evaluation.metrics import mean_std
from speechmusic.evaluation.results import input_name, load_experiments, result_row

__all__ = ["write_report", "study_report", "StudyReport", "figure4_rows", "figure5_rows", "Section",
           "Paragraph", "Table", "Figure", "render_html", "render_markdown", "table_html",
           "table_markdown", "fold_metrics", "folds_row", "FOLDS_HEADERS", "protocol_text",
           "skipped_section"]


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


# ----------------------------------------------------------------------------- documents
#
# Every report (``speechmusic report``, ``speechmusic transfer``, ``speechmusic demo``) is built
# as a tree of sections holding paragraphs, tables and figures, and rendered to Markdown and to
# one self-contained HTML page from that same tree: no renderer ever parses another's output.


@dataclass(frozen=True)
class Paragraph:
    """Plain text; ``code`` in backticks and ``[links](href)`` are the only markup."""

    text: str


@dataclass(frozen=True)
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]


@dataclass(frozen=True)
class Figure:
    """A PNG with its caption; ``name`` is its file, relative to the report (Markdown links it)."""

    png: bytes
    caption: str
    name: str = ""


@dataclass
class Section:
    """A heading and what it holds; sections nest (``<h2>``, then ``<h3>`` ...)."""

    title: str
    blocks: list[Any] = field(default_factory=list)

    def add(self, *blocks: Any) -> Section:
        self.blocks.extend(b for b in blocks if b is not None)
        return self


_NUMBER = r"[-+]?\d[\d.,]*(?: ± [\d.]+)?(?: ?%| s)?"
_NUMERIC = re.compile(rf"^(?:{_NUMBER}|n/a|-|\(not run\))(?: / {_NUMBER})*$")  # right-aligned cells
_INLINE = re.compile(r"`([^`]+)`|\[([^\]]+)\]\(([^)\s]+)\)")


def _text(value: Any) -> str:
    """Text content: ``<``, ``>`` and ``&`` escaped (quotes only matter in attributes)."""
    return html.escape(str(value), quote=False)


def _inline_html(text: str) -> str:
    out, pos = [], 0
    for m in _INLINE.finditer(text):
        out.append(_text(text[pos:m.start()]))
        if m.group(1) is not None:
            out.append(f"<code>{_text(m.group(1))}</code>")
        else:
            out.append(f'<a href="{html.escape(m.group(3))}">{_text(m.group(2))}</a>')
        pos = m.end()
    out.append(_text(text[pos:]))
    return "".join(out)


def _md_cell(value: Any) -> str:
    return " ".join(str(value).split()).replace("|", "\\|")


def table_markdown(table: Table) -> str:
    """A table as a GitHub-flavoured Markdown pipe table (``|`` in cells escaped)."""
    lines = ["| " + " | ".join(_md_cell(h) for h in table.headers) + " |",
             "|" + "|".join("---" for _ in table.headers) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def table_html(table: Table) -> str:
    """A table as one ``<table>`` with a ``<thead>`` and a ``<tbody>``."""
    head = "".join(f"<th>{_text(h)}</th>" for h in table.headers)
    body = []
    for row in table.rows:
        cells = "".join(
            f'<td class="num">{_text(c)}</td>' if _NUMERIC.match(str(c))
            else f"<td>{_text(c)}</td>" for c in row)
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>" + "\n".join(body) + "</tbody></table>"


def _figure_html(fig: Figure) -> str:
    b64 = base64.b64encode(fig.png).decode("ascii")
    cap = html.escape(fig.caption)
    return (f'<figure><img alt="{cap}" src="data:image/png;base64,{b64}">'
            f"<figcaption>{cap}</figcaption></figure>")


def render_markdown(title: str, sections: Sequence[Any]) -> str:
    """The document as Markdown: ``# title``, a ``##`` heading per section, tables separated by
    blank lines, figures linked by their ``name`` (figures without one are left out)."""
    out = [f"# {title}", ""]

    def walk(blocks: Sequence[Any], depth: int) -> None:
        for b in blocks:
            if isinstance(b, Section):
                out.extend([f"{'#' * min(depth, 6)} {b.title}", ""])
                walk(b.blocks, depth + 1)
            elif isinstance(b, Paragraph):
                out.extend([b.text, ""])
            elif isinstance(b, Table):
                out.extend([table_markdown(b), ""])
            elif isinstance(b, Figure):
                if b.name:
                    out.extend([f"![{b.caption}]({b.name})", "", f"*{b.caption}*", ""])
            else:
                raise TypeError(f"not a report block: {b!r}")

    walk(sections, 2)
    return "\n".join(out).rstrip("\n") + "\n"


_STYLE = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222;"
          "line-height:1.4}h1{font-size:1.6em}h2{font-size:1.35em;margin-top:2em;"
          "border-bottom:1px solid #ddd;padding-bottom:.2em}h3{font-size:1.12em;margin-top:1.6em}"
          "h4{font-size:1em}table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:90%}"
          "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}"
          "th{background:#f0f0f0}td.num{text-align:right;white-space:nowrap}"
          "figure{margin:1em 0 1.6em}img{max-width:100%;height:auto}"
          "figcaption{font-size:90%;color:#555;margin-top:.3em}code{background:#f4f4f4;padding:0 .2em}")


def render_html(title: str, sections: Sequence[Any]) -> str:
    """The document as one self-contained HTML page (figures embedded as base64 PNG):
    ``<h1>`` the title, ``<h2>``/``<h3>``... per section, one ``<table>`` per table."""
    out: list[str] = []

    def walk(blocks: Sequence[Any], depth: int) -> None:
        for b in blocks:
            if isinstance(b, Section):
                level = min(depth, 6)
                out.append(f"<section><h{level}>{_text(b.title)}</h{level}>")
                walk(b.blocks, depth + 1)
                out.append("</section>")
            elif isinstance(b, Paragraph):
                out.append(f"<p>{_inline_html(b.text)}</p>")
            elif isinstance(b, Table):
                out.append(table_html(b))
            elif isinstance(b, Figure):
                out.append(_figure_html(b))
            else:
                raise TypeError(f"not a report block: {b!r}")

    walk(sections, 2)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_text(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
            f"<h1>{_text(title)}</h1>\n" + "\n".join(out) + "\n</body></html>\n")


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


def _legend_below(fig, ax) -> None:
    """One legend for the figure, under its axes: inside them it hides bars near 100 %."""
    handles, labels = ax.get_legend_handles_labels()
    fig.tight_layout()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(labels),
               frameon=False, fontsize="small")


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
    _legend_below(fig, axes[0])
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
    _legend_below(fig, axes[0][0])
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


# ----------------------------------------------------------------------------- the run's context


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def fold_metrics(exp_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The ``metrics.json`` of every finished fold of an experiment folder, by fold."""
    out = [m for m in (_read_json(p) for p in Path(exp_dir).glob("fold_*/metrics.json"))
           if isinstance(m, dict)]
    return sorted(out, key=lambda m: m.get("fold", 0))


def _per_fold(values: list[Any]) -> str:
    values = [v for v in values if v is not None and v != ""]
    if not values:
        return "-"
    return str(values[0]) if len(set(map(str, values))) == 1 else " / ".join(map(str, values))


def folds_row(folds: list[dict[str, Any]]) -> list[str]:
    """Per-fold sizes and training of one experiment (``FOLDS_HEADERS``): values that differ
    between folds are listed fold by fold (``12 / 13``)."""
    def part(m: dict[str, Any], key: str, split: str) -> Any:
        v = (m.get(key) or {}).get(split)
        return sum(v) if isinstance(v, list) else v

    fits = [m.get("fit") or {} for m in folds]
    return [str(len(folds)),
            _per_fold([part(m, "clips", "train") for m in folds]),
            _per_fold([part(m, "clips", "test") for m in folds]),
            _per_fold([part(m, "patches", "train") for m in folds]),
            _per_fold([part(m, "patches", "test") for m in folds]),
            _per_fold([None if f.get("epochs_run") is None else
                       f"{f['epochs_run']} (best {f.get('best_epoch', '?')})" for f in fits])]


FOLDS_HEADERS = ["folds", "train clips", "test clips", "train patches", "test patches",
                 "epochs (best)"]


def protocol_text(config: dict[str, Any] | None) -> str:
    """One sentence on the protocol and training of a run's ``config.yaml`` (as a dict)."""
    if not config:
        return ""
    p, t = config.get("protocol") or {}, config.get("training") or {}
    bits = []
    if p.get("n_folds"):
        tf = p.get("test_fraction")
        bits.append(f"{p['n_folds']}-fold grouped cross-validation"
                    + (f" (each fold tests on {tf:.0%} and validates on {p.get('val_fraction', 0):.0%}"
                       " of the clips)" if tf else " (classic k-fold)"))
    if t.get("max_epochs"):
        bits.append(f"at most {t['max_epochs']} epochs (early stopping patience "
                    f"{t.get('patience', '?')}), batch {t.get('batch_size', '?')}, learning rate "
                    f"{t.get('learning_rate', '?')}")
    if p.get("max_patches_per_clip"):
        bits.append(f"at most {p['max_patches_per_clip']} training patches per clip")
    if p.get("balance"):
        bits.append("training patches balanced per class")
    return ("Protocol: " + "; ".join(bits) + ".") if bits else ""


def _load_config(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "config.yaml"
    if not path.is_file():
        return None
    try:
        import yaml

        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except Exception:  # a report never fails on an unreadable config: it only loses the sentence
        return None
    return data if isinstance(data, dict) else None


def skipped_section(run_dir: Path) -> Section | None:
    """The clips a run left out (``skipped.csv``), or ``None``."""
    skipped = run_dir / "skipped.csv"
    if not skipped.is_file():
        return None
    recs = list(csv.DictReader(io.StringIO(skipped.read_text(encoding="utf-8"))))
    if not recs:
        return None
    return Section(f"Skipped clips ({len(recs)})").add(
        Table(["path", "stage", "features", "reason"],
              [[r.get("path", ""), r.get("stage", ""), r.get("features", ""), r.get("reason", "")]
               for r in recs]))


# ----------------------------------------------------------------------------- the report


@dataclass
class StudyReport:
    """What ``write_report`` writes, in memory: the rows of its CSV files, its figures (PNG by
    file name, relative to the report folder) and its sections."""

    rows: list[dict[str, Any]]
    figure4: list[dict[str, Any]]
    figure5: list[dict[str, Any]]
    images: dict[str, bytes]
    sections: list[Any]
    title: str


def study_report(run_dir: str | os.PathLike, *, confusion: bool = True) -> StudyReport:
    """The report of a ``speechmusic run`` directory, built but not written (the demo embeds
    its sections in its own page)."""
    run_dir = Path(run_dir)
    if not (run_dir / "experiments").is_dir():
        raise ConfigError(f"{run_dir} is not a run directory (no experiments/ folder)")
    experiments = load_experiments(run_dir)
    if not experiments:
        raise ConfigError(f"{run_dir}: no finished experiment (no summary.json) to report")
    rows = [result_row(d, s) for d, s in experiments]
    f4, f5 = figure4_rows(experiments), figure5_rows(experiments)
    images: dict[str, bytes] = {}
    for name, data in (("figure4.png", _figure4(f4)), ("figure5.png", _figure5(f5))):
        if data is not None:
            images[name] = data

    config = _load_config(run_dir)
    sections: list[Any] = []
    intro = protocol_text(config)
    if intro:
        sections.append(Paragraph(intro))
    sections.append(Section("All experiments").add(
        Paragraph("Mean ± standard deviation over cross-validation folds."),
        Table(["experiment", "datasets", "task", "model", "input", "folds", "frame acc [%]",
               "file acc [%]", "frame bal. acc [%]"],
              [[r["experiment"], r["datasets"], r["task"], r["model"], r["input"], str(r["n_folds"]),
                _fmt(r["frame_accuracy_mean"], r["frame_accuracy_std"]),
                _fmt(r["file_accuracy_mean"], r["file_accuracy_std"]),
                _fmt(r["frame_balanced_accuracy_mean"], r["frame_balanced_accuracy_std"])]
               for r in rows])))
    if f4:
        sections.append(Section("Figure 4: accuracy per architecture and input (binary tasks)").add(
            Paragraph("Mean ± standard deviation over all folds of all datasets of the binary task."),
            Table(["model", "input", "datasets", "folds", "frame acc [%]", "file acc [%]"],
                  [[r["model"], r["input"], r["datasets"], str(r["n_folds"]),
                    _fmt(r["frame_accuracy_mean"], r["frame_accuracy_std"]),
                    _fmt(r["file_accuracy_mean"], r["file_accuracy_std"])] for r in f4]),
            _fig(images, "figure4.png", "Figure 4: frame- and file-wise accuracy per architecture "
                                        "and input (error bars: standard deviation over folds)")))
    if f5:
        sections.append(Section("Figure 5: binary vs 3-class (frame-wise accuracy)").add(
            Paragraph("Per dataset with both tasks: the same architecture and input on the binary "
                      "and on the 3-class task; the drop is in percentage points."),
            Table(["dataset", "model", "input", "binary [%]", "3-class [%]", "drop [points]"],
                  [[r["dataset"], r["model"], r["input"], _fmt(r["binary_mean"], r["binary_std"]),
                    _fmt(r["three_class_mean"], r["three_class_std"]), f"{100 * r['drop']:.1f}"]
                   for r in f5]),
            _fig(images, "figure5.png", "Figure 5: binary vs 3-class frame-wise accuracy per dataset")))
    folds = {d["name"]: fold_metrics(run_dir / "experiments" / d["name"]) for d, _ in experiments}
    if any(folds.values()):
        sections.append(Section("Folds: data and training").add(
            Paragraph("Clips and patches per fold (summed over classes; training patches after "
                      "the per-clip cap and balancing) and the epochs each fold trained."),
            Table(["experiment", *FOLDS_HEADERS],
                  [[name, *folds_row(f)] for name, f in folds.items() if f])))
    if confusion:
        per_exp = Section("Per experiment")
        for desc, summ in experiments:
            sec = Section(desc["name"]).add(Paragraph(
                f"Datasets {'+'.join(desc['datasets'])}, task {desc['task']} "
                f"({', '.join(desc['classes'])}), model {desc['model']}, input "
                f"{input_name((desc.get('feature_config') or {}).get('kind', ''))}."))
            if folds.get(desc["name"]):
                sec.add(Table(["fold", "train clips", "test clips", "test patches", "epochs (best)",
                               "frame acc [%]", "file acc [%]"],
                              [[str(m.get("fold", "?")), *_fold_cells(m)] for m in folds[desc["name"]]]))
            data = _confusion(desc, summ)
            if data is not None:
                name = f"confusion/{desc['name']}.png"
                images[name] = data
                sec.add(_fig(images, name, f"Confusion matrices of {desc['name']}, summed over folds "
                                           "(counts and row percentages)"))
            per_exp.add(sec)
        sections.append(per_exp)
    sections.append(skipped_section(run_dir))
    return StudyReport(rows=rows, figure4=f4, figure5=f5, images=images,
                       sections=[s for s in sections if s is not None],
                       title=f"Report: {run_dir.name}")


def _fold_cells(m: dict[str, Any]) -> list[str]:
    row = folds_row([m])
    acc = [(m.get(level) or {}).get("accuracy") for level in ("frame", "file")]
    return [row[1], row[2], row[4], row[5], *(_fmt(a, None) for a in acc)]


def _fig(images: dict[str, bytes], name: str, caption: str) -> Figure | None:
    return Figure(images[name], caption, name) if name in images else None


def write_report(run_dir: str | os.PathLike, *, out_dir: str | os.PathLike | None = None,
                 confusion: bool = True) -> dict[str, Path]:
    """Write the report of ``run_dir`` (see the module docstring); returns the files by role."""
    run_dir = Path(run_dir)
    report = study_report(run_dir, confusion=confusion)
    out = Path(out_dir) if out_dir is not None else run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {
        "results.csv": atomic_write_text(out / "results.csv", _csv(report.rows)),
        "figure4.csv": atomic_write_text(out / "figure4.csv", _csv(report.figure4)),
        "figure5.csv": atomic_write_text(out / "figure5.csv", _csv(report.figure5)),
    }
    for name, data in report.images.items():
        files[name] = atomic_write(out / name, lambda fh, d=data: fh.write(d))
    files["report.md"] = atomic_write_text(out / "report.md", render_markdown(report.title, report.sections))
    files["report.html"] = atomic_write_text(out / "report.html", render_html(report.title, report.sections))
    return files
