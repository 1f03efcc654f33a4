"""The report of run directories: CSV and Markdown tables, PNG figures, one self-contained HTML page.

``write_report(run_dir)`` writes into ``run_dir/report/`` (``write_report([run, transfer],
out_dir=...)``: both stages of the study on one page); for a ``speechmusic run`` directory::

    figure4.md/.csv/.png  the paper's Figure 4: mean frame- and file-wise accuracy per
                      architecture and input (and per embedding baseline) over the training
                      datasets: single-dataset experiments of the binary task (``report.figure4``
                      of the config names the datasets and task), each dataset's own beneath
    figure5.md/.csv/.png  the paper's Figure 5: binary vs 3-class frame-wise accuracy per
                      architecture and input on each dataset of ``report.figure5``, and the drop
    results.csv       every experiment: frame- and file-wise accuracy (mean, std over folds), ...
    confusion/<experiment>.png    confusion matrices (frame and file level, summed over folds)
    report.md         all tables, linking the figures
    report.html       everything in one file (figures embedded as base64)

and for a ``speechmusic transfer`` directory ``table2.md/.csv/.png`` (the paper's Table 2, see
:mod:`speechmusic.transfer.report`), ``report.md`` and ``report.html``. Experiments a run
skipped for want of data (``skipped_experiments.csv``) read "skipped" in the figures and tables
and are listed with their reasons.

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

__all__ = ["write_report", "report_part", "ReportPart", "study_report", "StudyReport",
           "figure4_rows", "figure5_rows", "figure4_section", "figure5_section", "Section",
           "Paragraph", "Table", "Figure", "render_html", "render_markdown", "table_html",
           "table_markdown", "fold_metrics", "folds_row", "FOLDS_HEADERS", "protocol_text",
           "skipped_section", "skipped_experiments_section", "read_skipped_experiments",
           "bar_chart", "row_label", "embedder_title", "dataset_title", "is_transfer_run",
           "MODEL_TITLES", "EMBEDDER_TITLES", "DATASET_TITLES", "FIGURE4_COLUMNS", "FIGURE5_COLUMNS"]


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


#: The paper's names of the architectures (rows of Figures 4 and 5 and of Table 2).
MODEL_TITLES = {"ina": "INA", "vgg": "VGG-like", "swishnet": "SwishNet", "dnn": "DNN",
                "openl3": "OpenL3", "yamnet": "YAMNet"}
#: The names of the general embeddings by embedder kind (INA's published network is not the
#: INA architecture trained here).
EMBEDDER_TITLES = {"openl3": "OpenL3", "yamnet": "YAMNet", "ina": "INA-published",
                   "checkpoint": "Checkpoint"}
#: The paper's names of the datasets.
DATASET_TITLES = {"musan": "MUSAN", "gtzan": "GTZAN", "marolt19": "Marolt19", "acmusyt": "ACMusYT",
                  "sns": "S&S", "acmus_vf": "ACMus VF", "acmus_if": "ACMus IF"}
#: How rows of embeddings the paper does not have, run in the place of one it has, are marked.
STAND_IN = "stand-in"
#: The input name of experiments on embeddings (``training.config.EMBEDDING_FEATURES``).
EMBEDDING_INPUT = "embedding"


def dataset_title(name: str) -> str:
    """``musan`` -> ``MUSAN``; combined datasets ``a+b`` name each part."""
    return "+".join(DATASET_TITLES.get(p, p) for p in name.split("+"))


def embedder_title(name: str, spec: dict[str, Any] | None) -> str:
    """The row title of an embedding baseline from its spec (``title``, ``kind``, ``stand_in``),
    e.g. ``OpenL3`` or ``YAMNet (stand-in)``."""
    spec = spec or {}
    title = spec.get("title") or EMBEDDER_TITLES.get(spec.get("kind") or "", MODEL_TITLES.get(name, name))
    return f"{title} ({STAND_IN})" if spec.get("stand_in") else title


def _feature_kind(features: str, config: dict[str, Any] | None) -> str:
    from speechmusic.features.config import PRESETS

    entry = ((config or {}).get("features") or {}).get(features)
    if isinstance(entry, dict):
        if entry.get("kind"):
            return str(entry["kind"])
        if entry.get("preset") in PRESETS:
            return str(PRESETS[entry["preset"]].get("kind", ""))
    return str(PRESETS.get(features, {}).get("kind", ""))


def row_label(model: str, features: str, *, desc: dict[str, Any] | None = None,
              config: dict[str, Any] | None = None) -> tuple[str, str]:
    """``(title, input)`` of a figure row: the paper's name of the architecture or embedding and
    of its input representation, from an ``experiment.json`` or, for an experiment that never
    ran, from the run's config."""
    emb = (desc or {}).get("embedder")
    if features == EMBEDDING_INPUT or isinstance(emb, dict):
        spec = emb if isinstance(emb, dict) else ((config or {}).get("embedders") or {}).get(model)
        return embedder_title(model, spec), "Embedding"
    kind = ((desc or {}).get("feature_config") or {}).get("kind") or _feature_kind(features, config)
    return MODEL_TITLES.get(model, model), input_name(kind) if kind else features


def _row_order(config: dict[str, Any] | None) -> dict[tuple[str, str], int]:
    """Rows in the config's order: every model with each of its inputs, then the embedders."""
    keys: list[tuple[str, str]] = []
    for name, spec in ((config or {}).get("models") or {}).items():
        for feat in (spec or {}).get("features") or ["melspec"]:
            keys.append((name, feat))
    keys += [(name, EMBEDDING_INPUT) for name in ((config or {}).get("embedders") or {})]
    return {k: i for i, k in enumerate(keys)}


def _sort_keys(keys: Any, config: dict[str, Any] | None) -> list[tuple[str, str]]:
    order = _row_order(config)
    return sorted(set(keys), key=lambda k: (order.get(k, len(order)), k))


def _n_classes(task: str, config: dict[str, Any] | None) -> int | None:
    classes = (((config or {}).get("tasks") or {}).get(task) or {}).get("classes")
    return len(classes) if isinstance(classes, list) else None


@dataclass(frozen=True)
class _Cell:
    """One experiment of a figure: done (its summary) or skipped (the reason)."""

    dataset: str
    task: str
    n_classes: int | None
    key: tuple[str, str]
    desc: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    reason: str = ""


def _cells(experiments: list[tuple[dict, dict]], skipped: Sequence[dict[str, Any]],
           config: dict[str, Any] | None) -> list[_Cell]:
    """Single-dataset experiments, done or skipped (a skipped one that has results from an
    earlier invocation counts as done)."""
    out, done = [], set()
    for desc, summ in experiments:
        if len(desc.get("datasets") or []) != 1:
            continue  # a combination of datasets (the pre-training) is in no figure
        done.add(desc["name"])
        out.append(_Cell(dataset=desc["datasets"][0], task=desc.get("task", ""),
                         n_classes=len(desc.get("classes") or []) or None,
                         key=(desc["model"], desc.get("features", "")), desc=desc, summary=summ))
    for rec in skipped:
        datasets = (rec.get("datasets") or "").split("+")
        if rec.get("experiment") in done or len(datasets) != 1 or not datasets[0]:
            continue
        out.append(_Cell(dataset=datasets[0], task=rec.get("task", ""),
                         n_classes=_n_classes(rec.get("task", ""), config),
                         key=(rec.get("model", ""), rec.get("features", "")),
                         reason=rec.get("reason", "") or "skipped"))
    return out


def _dataset_order(names: Any, config: dict[str, Any] | None) -> list[str]:
    order = {d: i for i, d in enumerate((config or {}).get("datasets") or {})}
    return sorted(set(names), key=lambda d: (order.get(d, len(order)), d))


def _labels(cells: list[_Cell], key: tuple[str, str], config: dict[str, Any] | None) -> tuple[str, str]:
    desc = next((c.desc for c in cells if c.key == key and c.desc is not None), None)
    return row_label(key[0], key[1], desc=desc, config=config)


def figure4_rows(experiments: list[tuple[dict, dict]], *, skipped: Sequence[dict[str, Any]] = (),
                 spec: dict[str, Any] | None = None,
                 config: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The paper's Figure 4: per architecture and input (and per embedding baseline), the mean
    frame- and file-wise accuracy over the training datasets.

    Only single-dataset experiments count (never a combination such as the pre-training on all
    four), of the tasks in ``spec["tasks"]`` (default: every 2-class task) on the datasets of
    ``spec["datasets"]`` (default: every dataset with such an experiment). Mean and standard
    deviation are over all folds of all those datasets (five folds of four datasets: 20 values,
    so each dataset weighs the same). ``per_dataset`` holds each dataset's own mean (or why it is
    missing); ``missing`` names the figure's datasets a row lacks and why."""
    spec = spec or {}
    tasks, wanted = spec.get("tasks"), spec.get("datasets")

    def selected(c: _Cell) -> bool:
        ok = c.task in tasks if tasks else c.n_classes == 2
        return ok and (wanted is None or c.dataset in wanted)

    cells = [c for c in _cells(experiments, skipped, config) if selected(c)]
    datasets = list(wanted) if wanted else _dataset_order((c.dataset for c in cells), config)
    rows = []
    for key in _sort_keys((c.key for c in cells), config):
        mine = [c for c in cells if c.key == key]
        frame: list[float] = []
        file: list[float] = []
        per: dict[str, dict[str, Any]] = {}
        for c in mine:
            if c.summary is not None:
                fr, fi = _values(c.summary, "frame"), _values(c.summary, "file")
                frame += fr
                file += fi
                per[c.dataset] = {"status": "ok", "frame": mean_std(fr), "file": mean_std(fi)}
            elif c.dataset not in per:
                per[c.dataset] = {"status": "skipped", "reason": c.reason}
        fr, fi = mean_std(frame), mean_std(file)
        title, inp = _labels(mine, key, config)
        done = [d for d in datasets if per.get(d, {}).get("status") == "ok"]
        missing = [f"{d}: {per[d]['reason'] if d in per else 'not run'}" for d in datasets if d not in done]
        row: dict[str, Any] = {
            "model": key[0], "features": key[1], "title": title, "input": inp,
            "datasets": " ".join(done), "n_datasets": len(done), "of_datasets": len(datasets),
            "n_folds": fr["n"], "frame_accuracy_mean": fr["mean"], "frame_accuracy_std": fr["std"],
            "file_accuracy_mean": fi["mean"], "file_accuracy_std": fi["std"],
            "missing": "; ".join(missing), "per_dataset": per}
        for d in datasets:
            stats = per.get(d, {})
            row[f"frame_accuracy_{d}"] = stats["frame"]["mean"] if stats.get("status") == "ok" else None
            row[f"file_accuracy_{d}"] = stats["file"]["mean"] if stats.get("status") == "ok" else None
        rows.append(row)
    return rows


def figure5_rows(experiments: list[tuple[dict, dict]], *, skipped: Sequence[dict[str, Any]] = (),
                 spec: dict[str, Any] | None = None,
                 config: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The paper's Figure 5: per dataset and architecture/input (and embedding baseline), the
    frame-wise accuracy of the binary task beside that of the 3-class task and the drop.

    ``spec["tasks"]``: the binary and the 3-class task by name (default: by class count, 2 and
    3); ``spec["datasets"]``: the datasets (default: those with a 3-class experiment, run or
    skipped). A cell whose experiment was skipped has status ``skipped`` and its reason in
    ``note``; one never run, ``missing``."""
    spec = spec or {}
    tasks, wanted = spec.get("tasks"), spec.get("datasets")

    def which(c: _Cell) -> str | None:
        if tasks:
            return {tasks[0]: "binary", tasks[1]: "three_class"}.get(c.task) if len(tasks) > 1 else None
        return {2: "binary", 3: "three_class"}.get(c.n_classes or 0)

    cells = [c for c in _cells(experiments, skipped, config) if which(c) is not None]
    if wanted:
        datasets = list(wanted)
    else:
        datasets = _dataset_order((c.dataset for c in cells if which(c) == "three_class"), config)
    cells = [c for c in cells if c.dataset in datasets]
    rows = []
    for dataset in datasets:
        here = [c for c in cells if c.dataset == dataset]
        for key in _sort_keys((c.key for c in cells), config):
            mine = [c for c in here if c.key == key]
            title, inp = _labels([c for c in cells if c.key == key], key, config)
            row: dict[str, Any] = {"dataset": dataset, "model": key[0], "features": key[1],
                                   "title": title, "input": inp}
            notes = []
            for part in ("binary", "three_class"):
                done = next((c for c in mine if which(c) == part and c.summary is not None), None)
                skip = next((c for c in mine if which(c) == part and c.summary is None), None)
                stats = mean_std(_values(done.summary, "frame")) if done else {"mean": None, "std": None}
                row[f"{part}_mean"], row[f"{part}_std"] = stats["mean"], stats["std"]
                row[f"{part}_status"] = "ok" if done else ("skipped" if skip else "missing")
                if skip and not done:
                    notes.append(f"{'binary' if part == 'binary' else '3-class'}: {skip.reason}")
            both = row["binary_status"] == "ok" and row["three_class_status"] == "ok"
            row["drop"] = row["binary_mean"] - row["three_class_mean"] if both else None
            row["note"] = "; ".join(notes)
            if row["three_class_status"] == "missing":
                continue  # without a 3-class experiment (run or skipped) a row is not in Figure 5
            rows.append(row)
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
_NUMERIC = re.compile(rf"^(?:{_NUMBER}|n/a|-|skipped|\(not run\))(?: / {_NUMBER})*$")  # right-aligned
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
                  ylabel: str, styles: dict[str, dict[str, Any]] | None = None) -> None:
    x = np.arange(len(groups))
    width = 0.8 / max(1, len(series))
    for i, (name, (means, stds)) in enumerate(series.items()):
        m = np.array([100 * v if v is not None else np.nan for v in means], dtype=float)
        s = np.array([100 * v if v is not None else np.nan for v in stds], dtype=float)
        ax.bar(x + (i - (len(series) - 1) / 2) * width, m, width, yerr=s, capsize=3, label=name,
               **((styles or {}).get(name) or {}))
    ax.set_xticks(x)
    ax.set_xticklabels(groups, rotation=30 if len(groups) > 4 else 0, ha="right" if len(groups) > 4 else "center")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 105)
    ax.grid(axis="y", alpha=0.3)


def _legend_below(fig, ax) -> None:
    """One legend for the figure, under its axes: inside them it hides bars near 100 %."""
    handles, labels = ax.get_legend_handles_labels()
    fig.tight_layout()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=min(len(labels), 4), frameon=False, fontsize="small")


Series = dict[str, tuple[list[float | None], list[float | None]]]


def bar_chart(panels: Sequence[tuple[str, list[str], Series]], *, ylabel: str,
              styles: dict[str, dict[str, Any]] | None = None, columns: int = 1) -> bytes | None:
    """Grouped bar charts with standard-deviation error bars as one PNG: one panel per
    ``(title, groups, series)``, series ``{name: (means, stds)}`` in fractions (drawn in %),
    ``styles`` matplotlib bar options per series name; the legend under the panels."""
    panels = [p for p in panels if p[1]]
    if not panels:
        return None
    rows_n = math.ceil(len(panels) / columns)
    n_groups = max(len(p[1]) for p in panels)
    n_series = max(len(p[2]) for p in panels)
    width = min(16.0, max(6.0, n_groups * (0.3 * n_series + 0.4) + 1.5))
    fig = _figure(figsize=(width * columns, (4.2 if rows_n == 1 else 3.6) * rows_n))
    axes = fig.subplots(rows_n, columns, squeeze=False, sharey=True)
    flat = list(axes.flat)
    for ax, (title, groups, series) in zip(flat, panels, strict=False):
        _grouped_bars(ax, groups, series, ylabel, styles)
        ax.set_title(title, fontsize="medium")
    for ax in flat[len(panels):]:
        ax.set_visible(False)
    _legend_below(fig, flat[0])
    return _png(fig)


def _group(row: dict[str, Any]) -> str:
    return f"{row['title']}\n{row['input']}" if row.get("input") != "Embedding" else row["title"]


def _figure4(rows: list[dict[str, Any]]) -> bytes | None:
    if not rows:
        return None
    datasets = max((r["of_datasets"] for r in rows), default=0)
    series = {f"{level}-wise": ([r[f"{level}_accuracy_mean"] for r in rows],
                                [r[f"{level}_accuracy_std"] for r in rows]) for level in ("frame", "file")}
    return bar_chart([(f"Mean accuracy over {datasets} training dataset{'s' if datasets != 1 else ''}",
                       [_group(r) for r in rows], series)], ylabel="accuracy [%]",
                     styles={"frame-wise": {"color": "#4c72b0"}, "file-wise": {"color": "#dd8452"}})


#: Figure 5's colours: the paper draws MUSAN yellow and Marolt19 blue (binary solid, 3-class light).
_DATASET_COLOURS = [("#e3b505", "#f3dc7a"), ("#2f6db5", "#9dbde6"), ("#4a9c5d", "#a8d5b2"),
                    ("#b0413e", "#e0a3a1")]


def _figure5(rows: list[dict[str, Any]]) -> bytes | None:
    if not rows:
        return None
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    keys = list(dict.fromkeys((r["model"], r["features"]) for r in rows))
    by = {(r["dataset"], r["model"], r["features"]): r for r in rows}
    first = {(r["model"], r["features"]): r for r in reversed(rows)}
    series: Series = {}
    styles: dict[str, dict[str, Any]] = {}
    for i, ds in enumerate(datasets):
        solid, light = _DATASET_COLOURS[i % len(_DATASET_COLOURS)]
        for part, label, colour in (("binary", "binary", solid), ("three_class", "3-class", light)):
            name = f"{dataset_title(ds)} {label}"
            cells = [by.get((ds, *k)) for k in keys]
            series[name] = ([c[f"{part}_mean"] if c else None for c in cells],
                            [c[f"{part}_std"] if c else None for c in cells])
            styles[name] = {"color": colour, "edgecolor": solid,
                            **({"hatch": "//"} if part == "three_class" else {})}
    return bar_chart([("Binary vs 3-class, frame-wise", [_group(first[k]) for k in keys], series)],
                     ylabel="frame-wise accuracy [%]", styles=styles)


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
    if p.get("balance") and p.get("balance_test"):
        bits.append("training, validation and test patches balanced per class by random "
                    "down-sampling")
    elif p.get("balance"):
        bits.append("training patches balanced per class")
    augment = t.get("augment") or {}
    if augment.get("copies"):
        n = augment["copies"]
        effects = [f"{name} {augment[key]:g}" for key, name in (
            ("p_noise", "noise"), ("p_reverb", "reverberation"), ("p_band_limit", "band-limiting"),
            ("p_codec", "codec"), ("p_clipping", "clipping")) if augment.get(key)]
        bits.append(f"{n} augmented cop{'ies' if n != 1 else 'y'} of every training clip (probability "
                    f"of each effect: {', '.join(effects) or 'none'})")
    audio = [f"{p['unify_sample_rate']} Hz" if p.get("unify_sample_rate") else "",
             f"{p['bit_depth']} bits" if p.get("bit_depth") else ""]
    if any(audio):
        bits.append("audio peak-normalised and unified to " + " and ".join(a for a in audio if a))
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


# ----------------------------------------------------------------------------- skipped experiments


def read_skipped_experiments(run_dir: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of a run directory's ``skipped_experiments.csv`` (none when absent)."""
    path = Path(run_dir) / "skipped_experiments.csv"
    if not path.is_file():
        return []
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def skipped_experiments_section(records: Sequence[dict[str, str]], *,
                                config: dict[str, Any] | None = None) -> Section | None:
    """Every experiment a run left out and why, or ``None``."""
    if not records:
        return None
    rows = []
    for r in records:
        feats = r.get("features", "")
        inp = row_label(r.get("model", ""), feats, config=config)[1] if feats not in ("", "-") else "-"
        rows.append([r.get("experiment", ""), dataset_title(r.get("datasets", "")), r.get("task", ""),
                     r.get("model", ""), inp, r.get("reason", "")])
    return Section(f"Skipped experiments ({len(records)})").add(
        Paragraph("Experiments whose data (or embedder) is missing were left out, each with its "
                  "reason; everything else ran. Their cells read 'skipped' in the figures and tables."),
        Table(["experiment", "datasets", "task", "model", "input", "reason"], rows))


# ----------------------------------------------------------------------------- the report


@dataclass
class ReportPart:
    """One run directory's share of a report: its sections and the files it writes (relative
    name -> text or PNG bytes)."""

    title: str
    sections: list[Any]
    files: dict[str, str | bytes]


@dataclass
class StudyReport:
    """What ``write_report`` writes for a ``speechmusic run`` directory, in memory: the rows of
    its CSV files, its figures (PNG by file name, relative to the report folder), its sections."""

    rows: list[dict[str, Any]]
    figure4: list[dict[str, Any]]
    figure5: list[dict[str, Any]]
    images: dict[str, bytes]
    sections: list[Any]
    title: str
    skipped_experiments: list[dict[str, str]] = field(default_factory=list)
    figure4_section: Section | None = None
    figure5_section: Section | None = None

    def part(self) -> ReportPart:
        files: dict[str, str | bytes] = {
            "results.csv": _csv(self.rows),
            "figure4.csv": _csv(self.figure4, _figure4_columns(self.figure4)),
            "figure5.csv": _csv(self.figure5, FIGURE5_COLUMNS),
        }
        for name, sec in (("figure4.md", self.figure4_section), ("figure5.md", self.figure5_section)):
            if sec is not None:
                files[name] = render_markdown(sec.title, sec.blocks)
        files.update(self.images)
        return ReportPart(title=self.title, sections=self.sections, files=files)


FIGURE4_COLUMNS = ["model", "features", "title", "input", "datasets", "n_datasets", "of_datasets",
                   "n_folds", "frame_accuracy_mean", "frame_accuracy_std", "file_accuracy_mean",
                   "file_accuracy_std", "missing"]
FIGURE5_COLUMNS = ["dataset", "model", "features", "title", "input", "binary_mean", "binary_std",
                   "three_class_mean", "three_class_std", "drop", "binary_status",
                   "three_class_status", "note"]


def _figure4_columns(rows: list[dict[str, Any]]) -> list[str]:
    extra = [k for k in (rows[0] if rows else {}) if k.startswith(("frame_accuracy_", "file_accuracy_"))
             and k not in FIGURE4_COLUMNS]
    return FIGURE4_COLUMNS + extra


def _cell_text(stats: dict[str, Any] | None) -> str:
    if not stats:
        return "-"
    if stats.get("status") == "skipped":
        return "skipped"
    return _fmt(stats["frame"]["mean"], stats["frame"]["std"])


def figure4_section(rows: list[dict[str, Any]], *, image: bytes | None,
                    datasets: Sequence[str] | None = None) -> Section:
    """Figure 4 in the paper's layout: a row per architecture and input (and embedding), its
    mean frame- and file-wise accuracy over the training datasets, the chart, and each
    dataset's own accuracy beneath."""
    datasets = list(datasets or [])
    if not datasets:
        datasets = list(dict.fromkeys(d for r in rows for d in r.get("per_dataset", {})))
    names = ", ".join(dataset_title(d) for d in datasets) or "no dataset"

    def coverage(r: dict[str, Any]) -> str:
        lacking = [d for d in datasets if (r["per_dataset"].get(d) or {}).get("status") != "ok"]
        text = f"{r['n_datasets']} of {r['of_datasets']}"
        return text + (f" (no {', '.join(dataset_title(d) for d in lacking)})" if lacking else "")

    sec = Section("Figure 4: accuracy per architecture and input (binary tasks)").add(
        Paragraph(f"Mean ± standard deviation over all folds of the training datasets ({names}), "
                  "frame-wise and file-wise; single-dataset experiments only (the pre-training on "
                  "the combined datasets is not one of them). Embedding baselines (a classifier on "
                  "frozen embeddings) stand beside the networks; rows marked stand-in are "
                  "embeddings the paper does not have."),
        Table(["Model", "Input", "Frame-wise acc [%]", "File-wise acc [%]", "Datasets", "Folds"],
              [[r["title"], r["input"], _fmt(r["frame_accuracy_mean"], r["frame_accuracy_std"]),
                _fmt(r["file_accuracy_mean"], r["file_accuracy_std"]), coverage(r), str(r["n_folds"])]
               for r in rows]))
    if image is not None:
        sec.add(Figure(image, "Figure 4: mean frame- and file-wise accuracy per architecture over "
                              f"the training datasets ({names}); error bars: standard deviation "
                              "over folds", "figure4.png"))
    sec.add(Section("Figure 4 per dataset (frame-wise accuracy [%])").add(
        Table(["Model", "Input", *(dataset_title(d) for d in datasets)],
              [[r["title"], r["input"], *(_cell_text(r["per_dataset"].get(d)) for d in datasets)]
               for r in rows])))
    return sec


def figure5_section(rows: list[dict[str, Any]], *, image: bytes | None) -> Section:
    """Figure 5 in the paper's layout: a row per architecture and input (and embedding), per
    dataset the binary and the 3-class frame-wise accuracy and the drop between them."""
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    keys = list(dict.fromkeys((r["model"], r["features"]) for r in rows))
    by = {(r["dataset"], r["model"], r["features"]): r for r in rows}
    first = {(r["model"], r["features"]): r for r in reversed(rows)}

    def cell(r: dict[str, Any] | None, part: str) -> str:
        if r is None or r[f"{part}_status"] == "missing":
            return "-"
        if r[f"{part}_status"] == "skipped":
            return "skipped"
        return _fmt(r[f"{part}_mean"], r[f"{part}_std"])

    headers = ["Model", "Input"]
    for d in datasets:
        t = dataset_title(d)
        headers += [f"{t} binary [%]", f"{t} 3-class [%]", f"{t} drop [points]"]
    body = []
    for k in keys:
        line = [first[k]["title"], first[k]["input"]]
        for d in datasets:
            r = by.get((d, *k))
            drop = "-" if r is None or r["drop"] is None else f"{100 * r['drop']:.1f}"
            line += [cell(r, "binary"), cell(r, "three_class"), drop]
        body.append(line)
    names = " and ".join(dataset_title(d) for d in datasets) or "no dataset"
    sec = Section("Figure 5: binary vs 3-class (frame-wise accuracy)").add(
        Paragraph(f"Frame-wise accuracy (mean ± standard deviation over folds) of each architecture "
                  f"and input on the binary task (speech, music) beside the 3-class task (speech, "
                  f"music, noise) on {names}; the drop is in percentage points. 'skipped': the "
                  "experiment's data is missing (the reason is under Skipped experiments)."),
        Table(headers, body))
    notes = sorted({f"{dataset_title(r['dataset'])}: {r['note']}" for r in rows if r.get("note")})
    if notes:
        sec.add(Paragraph("Not run: " + " | ".join(notes)))
    if image is not None:
        sec.add(Figure(image, f"Figure 5: binary vs 3-class frame-wise accuracy on {names}; error "
                              "bars: standard deviation over folds", "figure5.png"))
    return sec


def study_report(run_dir: str | os.PathLike, *, confusion: bool = True) -> StudyReport:
    """The report of a ``speechmusic run`` directory, built but not written (the demo embeds
    its sections in its own page)."""
    run_dir = Path(run_dir)
    if not (run_dir / "experiments").is_dir():
        raise ConfigError(f"{run_dir} is not a run directory (no experiments/ folder)")
    experiments = load_experiments(run_dir)
    if not experiments:
        raise ConfigError(f"{run_dir}: no finished experiment (no summary.json) to report")
    config = _load_config(run_dir)
    done = {d["name"] for d, _ in experiments}
    skipped = [r for r in read_skipped_experiments(run_dir) if r.get("experiment") not in done]
    figures = (config or {}).get("report") or {}
    spec4, spec5 = figures.get("figure4") or {}, figures.get("figure5") or {}
    rows = [result_row(d, s) for d, s in experiments]
    f4 = figure4_rows(experiments, skipped=skipped, spec=spec4, config=config)
    f5 = figure5_rows(experiments, skipped=skipped, spec=spec5, config=config)
    images: dict[str, bytes] = {}
    for name, data in (("figure4.png", _figure4(f4)), ("figure5.png", _figure5(f5))):
        if data is not None:
            images[name] = data

    sections: list[Any] = []
    intro = protocol_text(config)
    if intro:
        sections.append(Paragraph(intro))
    sec4 = sec5 = None
    if f4:
        datasets4 = spec4.get("datasets") or _dataset_order(
            (d for r in f4 for d in r["per_dataset"]), config)
        sec4 = figure4_section(f4, image=images.get("figure4.png"), datasets=datasets4)
        sections.append(sec4)
    if f5:
        sec5 = figure5_section(f5, image=images.get("figure5.png"))
        sections.append(sec5)
    sections.append(skipped_experiments_section(skipped, config=config))
    sections.append(Section("All experiments").add(
        Paragraph("Mean ± standard deviation over cross-validation folds."),
        Table(["experiment", "datasets", "task", "model", "input", "folds", "frame acc [%]",
               "file acc [%]", "frame bal. acc [%]"],
              [[r["experiment"], r["datasets"], r["task"], r["model"], r["input"], str(r["n_folds"]),
                _fmt(r["frame_accuracy_mean"], r["frame_accuracy_std"]),
                _fmt(r["file_accuracy_mean"], r["file_accuracy_std"]),
                _fmt(r["frame_balanced_accuracy_mean"], r["frame_balanced_accuracy_std"])]
               for r in rows])))
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
                f"{row_label(desc['model'], desc.get('features', ''), desc=desc)[1]}."))
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
                       title=f"Report: {run_dir.name}", skipped_experiments=skipped,
                       figure4_section=sec4, figure5_section=sec5)


def _fold_cells(m: dict[str, Any]) -> list[str]:
    row = folds_row([m])
    acc = [(m.get(level) or {}).get("accuracy") for level in ("frame", "file")]
    return [row[1], row[2], row[4], row[5], *(_fmt(a, None) for a in acc)]


def _fig(images: dict[str, bytes], name: str, caption: str) -> Figure | None:
    return Figure(images[name], caption, name) if name in images else None


def is_transfer_run(run_dir: str | os.PathLike) -> bool:
    """Whether ``run_dir`` was written by ``speechmusic transfer`` (its config has targets, or
    it holds pre-trained networks)."""
    run_dir = Path(run_dir)
    config = _load_config(run_dir)
    return (bool(config) and "targets" in config) or (run_dir / "pretrain").is_dir()


def report_part(run_dir: str | os.PathLike, *, confusion: bool = True) -> ReportPart:
    """The report of one run directory: a ``speechmusic run`` one (Figures 4 and 5, ...) or a
    ``speechmusic transfer`` one (Table 2, built by :mod:`speechmusic.transfer.report` into
    this module's blocks)."""
    run_dir = Path(run_dir)
    if is_transfer_run(run_dir):
        from speechmusic.transfer.report import transfer_report_part  # Table 2 knows its config

        return transfer_report_part(run_dir)
    return study_report(run_dir, confusion=confusion).part()


def write_report(run_dir: str | os.PathLike | Sequence[str | os.PathLike], *,
                 out_dir: str | os.PathLike | None = None, confusion: bool = True) -> dict[str, Path]:
    """Write the report of one run directory, or of several on one page (the paper's two
    stages: a ``speechmusic run`` and a ``speechmusic transfer`` directory), into ``out_dir``
    (default: the first one's ``report/``); see the module docstring. Returns the files by name."""
    dirs = [Path(run_dir)] if isinstance(run_dir, (str, os.PathLike)) else [Path(d) for d in run_dir]
    if not dirs:
        raise ConfigError("no run directory to report")
    kinds = ["transfer" if is_transfer_run(d) else "run" for d in dirs]
    if len(set(kinds)) < len(kinds):
        raise ConfigError(f"{len(dirs)} run directories of {len(set(kinds))} kind(s): their files would "
                          "overwrite each other; report one `speechmusic run` and one "
                          "`speechmusic transfer` directory at a time")
    parts = [report_part(d, confusion=confusion) for d in dirs]
    contents: dict[str, str | bytes] = {}
    for d, part in zip(dirs, parts, strict=True):
        clash = sorted(set(contents) & set(part.files))
        if clash:
            raise ConfigError(f"{d} writes {', '.join(clash[:3])} like another run directory given; "
                              "report one run directory of each kind at a time")
        contents.update(part.files)
    if len(parts) == 1:
        title, sections = parts[0].title, parts[0].sections
    else:
        title = "Report: " + " + ".join(d.name for d in dirs)
        sections = [Section(p.title).add(*p.sections) for p in parts]
    out = Path(out_dir) if out_dir is not None else dirs[0] / "report"
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for name, data in contents.items():
        if isinstance(data, bytes):
            files[name] = atomic_write(out / name, lambda fh, d=data: fh.write(d))
        else:
            files[name] = atomic_write_text(out / name, data)
    files["report.md"] = atomic_write_text(out / "report.md", render_markdown(title, sections))
    files["report.html"] = atomic_write_text(out / "report.html", render_html(title, sections))
    return files
