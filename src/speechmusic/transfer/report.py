"""Table 2 of the paper from a transfer run directory: Markdown, CSV, a PNG chart and an HTML report.

Layout (one block per target task)::

    Task-Set-Combination | Model                     | Acc_FZ [%] | Acc_IN [%] | Acc_FT [%]
    Speech Music on S&S  | INA_Emb                   | 98.8 ± 1.4 | 97.6 ± 2.1 | 85.1 ± 4.8
                         | INA_Orig                  | -          | -          | 93.8 ± 3.0
                         | ...                       |            |            |
                         | OpenL3_Emb                | 99.2 ± 0.4 | -          | -
                         | YAMNet_Emb (stand-in)     | 97.0 ± 1.0 | -          | -
                         | DNN_baseline              | -          | -          | 92.9 ± 1.9

Mean ± standard deviation over the cross-validation folds; the accuracy is frame-wise (every
model input, as in the paper) or file-wise (``table_level``). The CSV holds both levels. A cell
whose experiment lacked its data reads "skipped" (the reason is in the report), one whose
embedder is unavailable "n/a", one not trained yet "(not run)". ``speechmusic report`` on a
transfer run directory writes the same files (:func:`transfer_report_part`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any

from speechmusic.data.files import atomic_write, atomic_write_text
from speechmusic.errors import ConfigError
from speechmusic.evaluation.report import (
    EMBEDDER_TITLES,
    FOLDS_HEADERS,
    MODEL_TITLES,
    STAND_IN,
    Figure,
    Paragraph,
    ReportPart,
    Section,
    Table,
    _fmt,
    _load_config,
    bar_chart,
    dataset_title,
    fold_metrics,
    folds_row,
    protocol_text,
    read_skipped_experiments,
    render_html,
    skipped_experiments_section,
    skipped_section,
    table_markdown,
)
from speechmusic.transfer.config import TransferConfig

__all__ = ["table2_rows", "table2_markdown", "table2_csv", "table2_sections", "table2_figure",
           "transfer_report_part", "write_transfer_report"]

_COLUMNS = ("FZ", "IN", "FT")


def _title(name: str, config: TransferConfig) -> str:
    spec = config.embedders.get(name)
    if spec is not None:
        return spec.title or EMBEDDER_TITLES.get(spec.kind, MODEL_TITLES.get(name, name))
    arch = config.models[name].name if name in config.models else name
    return MODEL_TITLES.get(name, MODEL_TITLES.get(arch, name))


def _summary(run_dir: Path, name: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    exp = run_dir / "experiments" / name
    s, d = exp / "summary.json", exp / "experiment.json"
    summ = json.loads(s.read_text(encoding="utf-8")) if s.is_file() else None
    desc = json.loads(d.read_text(encoding="utf-8")) if d.is_file() else None
    return summ, desc


def _cell(summary: dict[str, Any] | None, desc: dict[str, Any] | None) -> dict[str, Any]:
    if summary is None:
        return {"status": "missing"}
    out: dict[str, Any] = {"status": "ok", "n_folds": summary.get("n_folds", 0),
                           "seconds": (desc or {}).get("seconds")}
    for level in ("frame", "file"):
        acc = (summary.get(level) or {}).get("accuracy") or {}
        out[f"{level}_mean"], out[f"{level}_std"] = acc.get("mean"), acc.get("std")
    return out


def table2_rows(run_dir: str | os.PathLike, config: TransferConfig, *, targets: list[str] | None = None,
                unavailable: dict[str, str] | None = None,
                skipped: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One dict per Table 2 row: ``target``, ``title``, ``model``, ``kind`` and a cell per
    column (``FZ``/``IN``/``FT``: ``None`` where the paper has "-").

    ``unavailable``: the reason per embedder whose weights are missing (its cells read "n/a");
    ``skipped``: the reason per experiment (``<target>-<row>``) left out for want of data (its
    cells read "skipped"); default: the run directory's ``skipped_experiments.csv``."""
    run_dir = Path(run_dir)
    unavailable = dict(unavailable or {})
    if skipped is None:
        skipped = {r["experiment"]: r.get("reason", "") for r in read_skipped_experiments(run_dir)}
    for ename in config.embedders:  # as a report reads them back: an unavailable embedder's rows
        for exp, why in skipped.items():
            if exp.endswith(f"-{ename}-emb") and why.startswith(f"embedder {ename} unavailable"):
                unavailable.setdefault(ename, why)
    rows: list[dict[str, Any]] = []
    for target in config.targets:
        if targets is not None and target.name not in targets:
            continue
        title = target.title or target.name

        def row(model: str, kind: str, cells: dict[str, str | None], note: str = "",
                target: Any = target, title: str = title) -> None:
            entry: dict[str, Any] = {"target": target.name, "title": title, "model": model,
                                     "kind": kind, "note": note}
            reasons = []
            for col in _COLUMNS:
                exp = cells.get(col)
                name = f"{target.name}-{exp}"
                summary, desc = _summary(run_dir, name) if exp is not None else (None, None)
                if exp is None:
                    entry[col] = None
                elif summary is None and name in skipped:
                    entry[col] = {"status": "skipped", "reason": skipped[name]}
                    reasons.append(skipped[name])
                else:
                    entry[col] = _cell(summary, desc)
            if reasons and not entry["note"]:
                entry["note"] = "; ".join(dict.fromkeys(reasons))
            rows.append(entry)

        for arch in config.architectures:
            t = _title(arch, config)
            row(f"{t}_Emb", "embedding", {_c: f"{arch}-emb-{s}" for s, _c in
                                          (("frozen", "FZ"), ("intermediate", "IN"), ("full", "FT"))
                                          if s in config.strategies})
            row(f"{t}_Orig", "original", {"FT": f"{arch}-orig"})
        for ename in config.embedders:
            t = f"{_title(ename, config)}_Emb"
            if config.embedders[ename].stand_in:
                t += f" ({STAND_IN})"
            if ename in unavailable:
                rows.append({"target": target.name, "title": title, "model": t,
                             "kind": "general", "note": unavailable[ename],
                             "FZ": {"status": "unavailable"}, "IN": None, "FT": None})
                continue
            row(t, "general", {"FZ": f"{ename}-emb"})
        for base in config.baselines:
            row(f"{_title(base, config)}_baseline", "baseline", {"FT": f"{base}-baseline"})
    return rows


def _text(cell: dict[str, Any] | None, level: str) -> str:
    if cell is None:
        return "-"
    if cell.get("status") == "unavailable":
        return "n/a"
    if cell.get("status") == "skipped":
        return "skipped"
    if cell.get("status") != "ok":
        return "(not run)"
    mean, std = cell.get(f"{level}_mean"), cell.get(f"{level}_std")
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "-"
    return _fmt(mean, std)


def _layout(rows: list[dict[str, Any]], level: str) -> tuple[list[str], list[list[str]]]:
    headers = ["Task-Set-Combination", "Model", "Acc_FZ [%]", "Acc_IN [%]", "Acc_FT [%]"]
    body, last = [], None
    for r in rows:
        first = r["title"] if r["title"] != last else ""
        last = r["title"]
        body.append([first, r["model"], *(_text(r[c], level) for c in _COLUMNS)])
    return headers, body


def table2_markdown(rows: list[dict[str, Any]], *, level: str = "frame") -> str:
    """Table 2 as a Markdown table."""
    headers, body = _layout(rows, level)
    return table_markdown(Table(headers, body))


def table2_csv(rows: list[dict[str, Any]]) -> str:
    """Table 2 as CSV: per column the frame- and file-wise mean and std (fractions), folds, seconds."""
    buf = io.StringIO()
    fields = ["target", "title", "model", "kind"]
    for col in _COLUMNS:
        fields += [f"{col}_frame_mean", f"{col}_frame_std", f"{col}_file_mean", f"{col}_file_std",
                   f"{col}_folds", f"{col}_seconds"]
    fields.append("note")
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        out: dict[str, Any] = {k: r[k] for k in ("target", "title", "model", "kind")}
        out["note"] = r.get("note", "")
        for col in _COLUMNS:
            cell = r.get(col) or {}
            for level in ("frame", "file"):
                for stat in ("mean", "std"):
                    v = cell.get(f"{level}_{stat}")
                    out[f"{col}_{level}_{stat}"] = "" if v is None else f"{v:.6f}"
            out[f"{col}_folds"] = cell.get("n_folds", "")
            out[f"{col}_seconds"] = "" if cell.get("seconds") is None else cell["seconds"]
        w.writerow(out)
    return buf.getvalue()


def _pretrain_rows(run_dir: Path) -> list[list[str]]:
    out = []
    for exp in sorted((run_dir / "pretrain").glob("*")):
        s = exp / "summary.json"
        if s.is_file():
            summ = json.loads(s.read_text(encoding="utf-8"))
            fr = (summ.get("frame") or {}).get("accuracy") or {}
            fi = (summ.get("file") or {}).get("accuracy") or {}
            folds = fold_metrics(exp)
            desc = _read(exp / "experiment.json") or {}
            sources = ", ".join(dataset_title(d) for d in desc.get("datasets") or []) or "?"
            left = desc.get("left_out") or {}
            if left:
                sources += f" (left out: {', '.join(dataset_title(d) for d in left)})"
            out.append([exp.name, sources, ", ".join(str(f) for f in summ.get("folds", [])),
                        _fmt(fr.get("mean"), None), _fmt(fi.get("mean"), None),
                        *folds_row(folds)[1:]])
    return out


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def table2_figure(rows: list[dict[str, Any]], *, level: str = "frame") -> bytes | None:
    """Table 2 as bar charts: a panel per target task, a group of bars (FZ, IN, FT) per row."""
    panels = []
    for title in dict.fromkeys(r["title"] for r in rows):
        sub = [r for r in rows if r["title"] == title]
        series = {}
        for col in _COLUMNS:
            cells = [r.get(col) if (r.get(col) or {}).get("status") == "ok" else None for r in sub]
            series[f"Acc_{col}"] = ([c.get(f"{level}_mean") if c else None for c in cells],
                                    [c.get(f"{level}_std") if c else None for c in cells])
        panels.append((title, [r["model"].replace("_", " ", 1) for r in sub], series))
    return bar_chart(panels, ylabel=f"{level}-wise accuracy [%]", columns=1,
                     styles={"Acc_FZ": {"color": "#4c72b0"}, "Acc_IN": {"color": "#55a868"},
                             "Acc_FT": {"color": "#c44e52"}})


def table2_sections(run_dir: str | os.PathLike, config: TransferConfig,
                    rows: list[dict[str, Any]], *, image: bytes | None = None) -> list[Any]:
    """Table 2 and what it stands on, as report sections (``speechmusic transfer``'s page, the
    report's and the demo's stage two): the table at both levels (and ``image``, its chart),
    unavailable or skipped rows, pre-training, the folds."""
    run_dir = Path(run_dir)
    level = config.table_level
    other = "file" if level == "frame" else "frame"
    headers, body = _layout(rows, level)
    out: list[Any] = []
    intro = protocol_text(config.to_dict())
    if intro:
        out.append(Paragraph(intro))
    heads = {spec.output for spec in config.embedders.values()}
    scaled = {spec.scaling for spec in config.embedders.values()}
    head_text = (f"a {config.head_units}-unit dense layer and "
                 + ("sigmoid outputs" if heads == {"sigmoid"} else "softmax outputs" if heads == {"softmax"}
                    else "sigmoid or softmax outputs")
                 + (" on embeddings scaled to [0, 1]" if scaled == {"minmax"} else ""))
    table = Section(f"Table 2 ({level}-wise accuracy)").add(
        Paragraph(f"Mean ± standard deviation over {config.protocol.n_folds} cross-validation folds. "
                  "FZ: only the appended classifier trains; IN: unfrozen from the green line; FT: "
                  "everything trains. Orig and baselines are trained from scratch on the target; "
                  f"general embeddings (_Emb without IN/FT) feed {head_text}; stand-in rows are "
                  "embeddings the paper does not have. '-': not part of the paper's table; "
                  "'skipped': its data is missing; 'n/a': the embedder is unavailable; "
                  "'(not run)': not trained yet."),
        Table(headers, body))
    if image is not None:
        table.add(Figure(image, f"Table 2 as bars: {level}-wise accuracy per target task and row "
                                "(error bars: standard deviation over folds)", "table2.png"))
    out.append(table)
    out.append(Section(f"Table 2 ({other}-wise accuracy)").add(
        Table(headers, _layout(rows, other)[1])))
    notes = [r for r in rows if r.get("note")]
    if notes:
        out.append(Section("Unavailable or skipped rows").add(
            Table(["target", "model", "why"], [[r["target"], r["model"], r["note"]] for r in notes])))
    skipped = [r for r in read_skipped_experiments(run_dir)
               if _summary(run_dir, r.get("experiment", ""))[0] is None]
    sec = skipped_experiments_section(skipped, config=config.to_dict())
    if sec is not None:
        out.append(sec)
    pre = _pretrain_rows(run_dir)
    if pre:
        out.append(Section("Pre-training (source task, held-out test split)").add(
            Table(["pretrained network", "sources", "fold", "source frame acc [%]",
                   "source file acc [%]", *FOLDS_HEADERS[1:]], pre)))
    targets = {r["target"] for r in rows}
    fold_rows = []
    for exp in sorted((run_dir / "experiments").glob("*")):
        desc = _summary(run_dir, exp.name)[1] or {}
        folds = fold_metrics(exp)
        if folds and desc.get("target") in targets:  # the targets of this table only
            fold_rows.append([exp.name, *folds_row(folds)])
    if fold_rows:
        out.append(Section("Folds: data and training").add(
            Paragraph("Per target experiment: clips and patches per fold (summed over classes) and "
                      "the epochs each fold trained."),
            Table(["experiment", *FOLDS_HEADERS], fold_rows)))
    skipped = skipped_section(run_dir)
    if skipped is not None:
        out.append(skipped)
    return out


def transfer_report_part(run_dir: str | os.PathLike) -> ReportPart:
    """The report of a transfer run directory (what ``speechmusic report`` writes for one):
    Table 2 as ``table2.md``, ``table2.csv`` and ``table2.png``, and its sections."""
    run_dir = Path(run_dir)
    data = _load_config(run_dir)
    if not data:
        raise ConfigError(f"{run_dir}: no readable config.yaml of a transfer run")
    config = TransferConfig.from_dict(data)
    rows = table2_rows(run_dir, config)
    if not rows:
        raise ConfigError(f"{run_dir}: no target to report")
    level = config.table_level
    image = table2_figure(rows, level=level)
    sections = table2_sections(run_dir, config, rows, image=image)
    files: dict[str, str | bytes] = {
        "table2.md": table2_markdown(rows, level=level) + "\n",
        "table2.csv": table2_csv(rows),
    }
    if image is not None:
        files["table2.png"] = image
    return ReportPart(title=f"Transfer study: {config.name}", sections=sections, files=files)


def write_transfer_report(run_dir: str | os.PathLike, config: TransferConfig,
                          rows: list[dict[str, Any]]) -> dict[str, Path]:
    """``table2.md``, ``table2.csv``, ``table2.png`` and ``report.html`` in ``run_dir``."""
    run_dir = Path(run_dir)
    level = config.table_level
    image = table2_figure(rows, level=level)
    files = {
        "table2.md": atomic_write_text(run_dir / "table2.md", table2_markdown(rows, level=level) + "\n"),
        "table2.csv": atomic_write_text(run_dir / "table2.csv", table2_csv(rows)),
    }
    if image is not None:
        files["table2.png"] = atomic_write(run_dir / "table2.png", lambda fh: fh.write(image))
    page = render_html(f"Transfer study: {config.name}",
                       table2_sections(run_dir, config, rows, image=image))
    files["report.html"] = atomic_write_text(run_dir / "report.html", page)
    return files
