"""One's own recordings as training data: class folders, a CSV, or any dataset layout, and the
rule that groups them.

``speechmusic train DATA...`` takes, for each ``DATA``:

* a folder of **class folders** (``DATA/speech/``, ``DATA/music/``, ``DATA/noise/`` ...; the folder
  names are the classes, audio found recursively below them), unless the folder holds one table
  (``.csv``/``.tsv``) with ``path`` and ``label`` columns, which is then read instead;
* a **CSV** (or TSV) with columns ``path,label[,group]``: other columns are ignored, relative
  paths are taken from the CSV's folder (read by the ``table`` layout of
  :mod:`speechmusic.data.adapters`);
* with ``layout``, any layout of :func:`speechmusic.data.list_layouts` (its own groups;
  ``folders`` reads class folders even where the folder holds a table).

Labels are normalised (lower case, words joined by ``_``). Several ``DATA`` are pooled into one
dataset.

Groups
------
Clips of one group never sit on both sides of a split, so the cross-validated estimate is not
inflated by near-duplicates (one speaker, one album, one long recording cut into excerpts).
``groups="auto"`` (the default) takes, for each clip, the first of:

1. ``csv``: the CSV's ``group`` column, where the CSV has one (an empty cell: the file alone);
2. ``layout``: the layout's own groups (``layout`` given: e.g. MUSAN's artists);
3. ``folder``: the first sub-folder below the class folder: ``speech/alice/*.wav`` is group
   ``alice`` (a sub-folder of that name under another class folder is the same group);
4. ``name``: the file name without a trailing number: the stem minus its last run of digits and
   the separators (space, ``.``, ``_``, ``-``) before it, so ``interview_03.wav``,
   ``interview-12.wav`` and ``interview7.wav`` are group ``interview``, and
   ``103-1240-0000.wav`` is ``103-1240``; a stem without a trailing number (or made only of
   digits) is its own group.

``groups`` may also force one rule for every clip: ``folder`` (the file alone when it is directly
in its class folder), ``name``, or ``file`` (every file its own group: no protection against
near-duplicates; the estimate may be optimistic). The rule applied, and how many clips each part
of it grouped, is in :attr:`TrainingData.groups`.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from speechmusic.data.adapters import DatasetSpec, load_dataset, normalize_label
from speechmusic.data.manifest import Clip, Manifest
from speechmusic.data.splits import group_units
from speechmusic.errors import ConfigError

__all__ = ["GROUP_RULES", "TrainingData", "collect_training_data", "name_group", "describe_rule"]

#: ``groups`` values: ``auto`` and the rules it chooses from (see the module docstring).
GROUP_RULES = ("auto", "csv", "layout", "folder", "name", "file")
_TABLE_SUFFIXES = (".csv", ".tsv")
_TRAILING_NUMBER = re.compile(r"^(.*?)[\s._-]*\d+$")

_RULE_TEXT = {
    "csv": "the CSV's group column",
    "layout": "the dataset layout's own groups",
    "folder": "the sub-folder below the class folder",
    "name": "the file name without its trailing number",
    "file": "each file on its own",
}


def name_group(stem: str) -> str:
    """The ``name`` rule: ``stem`` without a trailing number and the separators before it
    (``interview_03`` -> ``interview``); ``stem`` itself when it ends in no digit or is all
    digits."""
    m = _TRAILING_NUMBER.match(stem)
    if m and m.group(1).strip(" ._-"):
        return m.group(1).rstrip(" ._-")
    return stem


def describe_rule(counts: dict[str, int]) -> str:
    """One line saying which rules grouped how many clips (``the CSV's group column (259
    clips)``)."""
    parts = [f"{_RULE_TEXT[r]} ({n} clip{'s' if n != 1 else ''})" for r, n in counts.items() if n]
    return "; ".join(parts) if parts else "none"


@dataclass
class TrainingData:
    """The clips to train on and how they were found.

    ``manifest``: every clip (dataset ``data``; ids unique; ``group`` as the rule gave it).
    ``sources``: one entry per ``DATA`` (its path, how it was read, clips). ``groups``: the rule
    asked for, the rule applied per clip counted (``by_rule``), groups and independent units.
    ``classes``: the class names, in model output order. ``left_out``: clips of other classes.
    """

    manifest: Manifest
    sources: list[dict[str, Any]]
    groups: dict[str, Any]
    classes: list[str]
    left_out: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Clips per class, in class order."""
        c = self.manifest.label_counts()
        return {k: c.get(k, 0) for k in self.classes}

    def describe(self) -> dict[str, Any]:
        return {"sources": self.sources, "classes": self.classes, "clips": self.counts(),
                "n_clips": len(self.manifest), "left_out": self.left_out, "groups": self.groups}


def _table_header(path: Path) -> list[str]:
    """The normalised column names of a CSV/TSV (first non-empty line)."""
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    if path.suffix.lower() == ".tsv":
        delimiter = "\t"
    else:  # the header's most frequent separator, as the table layout reads it
        delimiter = max((",", ";", "\t", "|"), key=first.count)
    row = next(csv.reader(io.StringIO(first), delimiter=delimiter), [])
    return [normalize_label(h) for h in row]


_PATH_COLUMNS = ("path", "file", "file_name", "filename", "file_path", "filepath", "audio",
                 "audio_file", "audio_path", "wav")  # as the table layout looks for them
_LABEL_COLUMNS = ("label", "class", "category")


def _used_columns(header: list[str]) -> set[str]:
    """The path, label and group columns the table layout reads from ``header``."""
    used = {"group"}
    for aliases in (_PATH_COLUMNS, _LABEL_COLUMNS):
        used.update(next(([c] for c in aliases if c in header), []))
    return used


def _is_label_table(path: Path) -> bool:
    cols = set(_table_header(path))
    return bool(cols & set(_PATH_COLUMNS)) and bool(cols & set(_LABEL_COLUMNS))


def _label_table_in(folder: Path) -> Path | None:
    tables = [p for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")
              and p.suffix.lower() in _TABLE_SUFFIXES and _is_label_table(p)]
    if len(tables) > 1:
        names = ", ".join(p.name for p in tables)
        raise ConfigError(f"{folder} holds several label tables ({names}): pass the one to train "
                          "on instead of the folder")
    return tables[0] if tables else None


def _group_of(path: Path, *, label: str, root: Path | None, rule: str) -> tuple[str, str]:
    """``(group, rule applied)`` of a file by ``rule`` (``auto``: folder, else name). ``root``:
    the folder holding the class folders, or ``None`` where the file is not in that layout."""
    below: tuple[str, ...] = ()
    if root is not None and path.is_relative_to(root):
        rel = path.relative_to(root).parts
        if len(rel) > 1 and normalize_label(rel[0]) == label:
            below = rel[1:]
    if rule in ("auto", "folder") and len(below) > 1:
        return f"folder:{below[0]}", "folder"
    if rule in ("auto", "name"):
        return f"name:{name_group(path.stem)}", "name"
    return f"file:{path.as_posix()}", "file"


def _read_source(source: Path, *, index: int, layout: str | None,
                 rule: str) -> tuple[list[tuple[Clip, str]], dict[str, Any]]:
    """The clips of one ``DATA`` argument, each with its group and the rule that gave it, and
    how the source was read."""
    name = f"data{index}"
    class_folders = layout is not None and normalize_label(layout) in ("folders", "folder")
    if layout is not None and not class_folders:
        if rule not in ("auto", "layout", "name", "file"):
            raise ConfigError(f"--groups {rule} does not apply to layout {layout!r} (use auto, "
                              "layout, name or file)")
        out = []
        for c in load_dataset(DatasetSpec(layout=layout, root=str(source), name=name)):
            if rule in ("auto", "layout"):
                out.append((c, "layout"))
            else:
                group, how = _group_of(Path(c.path), label=c.label, root=None, rule=rule)
                out.append((replace(c, group=group), how))
        return out, {"path": str(source), "read_as": f"layout {layout}"}
    if class_folders:
        if not source.is_dir():
            raise ConfigError(f"--layout folders: {source} is not a folder of class folders")
        table: Path | None = None
    elif source.is_file():
        if source.suffix.lower() not in _TABLE_SUFFIXES:
            raise ConfigError(f"{source}: expected a folder of class folders or a .csv/.tsv with "
                              "path,label[,group] columns")
        table = source
    elif source.is_dir():
        table = _label_table_in(source)
    else:
        raise ConfigError(f"{source}: no such file or folder")
    if table is not None:
        header = _table_header(table)
        has_group = "group" in header
        if rule == "csv" and not has_group:
            raise ConfigError(f"--groups csv: {table} has no group column")
        if rule == "layout":
            raise ConfigError(f"--groups layout needs --layout; {table} is read as a CSV")
        info: dict[str, Any] = {"path": str(table), "read_as": "csv", "group_column": has_group,
                                "ignored_columns": [h for h in header
                                                    if h and h not in _used_columns(header)]}
        if source.is_dir():
            info["found_in"] = str(source)
        out = []
        base = table.parent.resolve()
        for c in load_dataset(DatasetSpec(layout="table", root=str(table), name=name)):
            if has_group and rule in ("auto", "csv"):
                out.append((c, "csv"))
            else:  # a CSV without groups: its paths may still follow the class-folder layout
                group, how = _group_of(Path(c.path), label=c.label, root=base, rule=rule)
                out.append((replace(c, group=group), how))
        return out, info
    if rule in ("csv", "layout"):
        raise ConfigError(f"--groups {rule} does not apply to class folders ({source})")
    root = source.resolve()
    out = []
    for c in load_dataset(DatasetSpec(layout="folders", root=str(source), name=name)):
        group, how = _group_of(Path(c.path), label=c.label, root=root, rule=rule)
        out.append((replace(c, group=group), how))
    return out, {"path": str(source), "read_as": "class folders"}


def collect_training_data(sources: Sequence[str | os.PathLike], *, layout: str | None = None,
                          groups: str = "auto",
                          classes: Sequence[str] | None = None) -> TrainingData:
    """Read every ``DATA`` of ``sources`` (see the module docstring), group the clips by
    ``groups`` and keep ``classes`` (default: every class found, sorted)."""
    if not sources:
        raise ConfigError("no training data given")
    if groups not in GROUP_RULES:
        raise ConfigError(f"groups must be one of {list(GROUP_RULES)}, got {groups!r}")
    clips: list[Clip] = []
    infos: list[dict[str, Any]] = []
    rule_of: dict[str, str] = {}
    for i, src in enumerate(sources):
        got, info = _read_source(Path(src).expanduser(), index=i, layout=layout, rule=groups)
        info["clips"] = len(got)
        infos.append(info)
        for c, how in got:
            rule_of[c.id] = how
            clips.append(c)
    # One pooled dataset: ids stay unique (they start with the source's name), groups are
    # compared across sources (the same group name in two sources is one group: conservative).
    pooled = Manifest(replace(c, dataset="data") for c in clips)
    found = pooled.labels
    if classes:
        wanted = [normalize_label(c) for c in classes]
        if len(set(wanted)) != len(wanted):
            raise ConfigError(f"--classes names a class twice: {list(classes)}")
        missing = [c for c in wanted if c not in found]
        if missing:
            raise ConfigError(f"class(es) {missing} not found in the data; it has {found}")
    else:
        wanted = found
    if len(wanted) < 2:
        raise ConfigError(f"training needs at least two classes; the data has {found} (class "
                          "folders such as speech/ and music/, or a label column)")
    left_out = {k: v for k, v in sorted(pooled.label_counts().items()) if k not in wanted}
    kept = pooled.select_labels(wanted)
    by_rule = Counter(rule_of[c.id] for c in kept)
    counts = {r: by_rule.get(r, 0) for r in GROUP_RULES[1:]}
    units = group_units(kept)
    group_info = {"rule": groups, "by_rule": counts, "description": describe_rule(counts),
                  "n_groups": len(kept.groups), "n_units": int(units.max()) + 1}
    return TrainingData(manifest=kept, sources=infos, groups=group_info, classes=list(wanted),
                        left_out=left_out)
