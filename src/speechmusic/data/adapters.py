"""Dataset adapters: each reads one dataset's own layout and returns a :class:`Manifest`.

``load_dataset(DatasetSpec(layout=..., root=...))`` is the entry point; :func:`survey_dataset`
also says what was left out and why (``speechmusic datasets check`` prints it next to the paper's
Table 1, :mod:`speechmusic.data.paper`); :func:`list_layouts` names the layouts. An adapter yields
the dataset's *own* class names (normalised: lower case, words joined by ``_``, e.g.
``"Solo Singing"`` -> ``solo_singing``); the layout's default label map then renames or drops them
(``None`` drops), and a spec's ``label_map`` and ``classes`` refine that. Every clip gets a
``group`` so that related clips (a speaker, an artist, a field recording) never land on both sides
of a split. Folder and column names are matched case-, space- and punctuation-insensitively
(``"Instrumental format set"`` = ``instrumental_format_set``; ``"File Name"`` = ``file_name``).

Layouts of public archives, as they unpack:

``slaney_scheirer`` (alias ``sns``)
    LabROSA's ``music-speech`` archive: ``music-speech/wavfile/{train,test}/`` with
    ``train/{music,speech,m+s,other}`` and ``test/{music/vocals,music/novocals,speech}``.
    ``ROOT`` may be ``music-speech/``, ``wavfile/``, any folder holding ``train/``/``test/``, or
    a flat ``ROOT/<class>/`` folder. Own classes: ``music`` (vocals and novocals; attribute
    ``vocals``), ``speech``, ``m+s`` and ``other``; ``m+s`` and ``other`` are left out by default,
    as in the paper (keep them with ``label_map: {m+s: mixed, other: other}``). One group per file.
``musan``
    ``musan/{music,speech,noise}/<source>/<class>-<source>-NNNN.wav`` (``ROOT`` may also contain
    ``musan/``). Music sources (fma, fma-western-art, hd-classical, jamendo, rfm) have an
    ``ANNOTATIONS`` file, ``<utt> <genres> <Y|N vocals> <artist>`` (genres comma-separated, the
    artist may hold spaces); speech sources ``<utt> <m|f> <language>`` (librivox; us-gov has
    none); noise sources (free-sound, sound-bible) none. Groups (``group_by``): ``annotation``
    (default) groups music by artist across sources; speech and noise files are one group each
    (LibriVox utterance ids name no reader, so speakers cannot be grouped further); ``source``
    (``<class>/<source>``; too coarse for 10 % splits) or ``file``. Missing ANNOTATIONS files or
    rows are tolerated (the file is then its own group). Genres, vocals, gender and language are
    recorded as clip attributes (see :func:`survey_dataset`).
``gtzan``
    GTZAN music/speech: ``music_speech/{music_wav,speech_wav}/*.wav`` (``ROOT`` is
    ``music_speech/`` or its parent). One group per file.
``acmus_if`` (alias ``acmus-if``)
    ACMUS-MIR (Zenodo 3268961, v1.1 3965447), its instrumental format set:
    ``ACMUS-MIR/Instrumental format set/`` with ``Audio/`` (``if_NNNN.wav``, 96 kHz) and
    ``instrumental_format_set.csv`` (File Name, Title, Genre, Composer, Collection, Original file,
    Sampling rate, Bits, Duration, Channels, Number of instruments, numbers of guitars, bandolas,
    tiples, bass, percussion, Noise at 64Hz, Tempo). ``ROOT`` is ``ACMUS-MIR/`` or the set folder.
    Labels: ensemble size from ``Number of instruments`` (a number, or solo/duo/trio/quartet/
    quintet/estudiantina), else the sum of the instrument counts: ``1``, ``2``, ``3``, ``4`` and
    ``5+`` (``max_size`` or more) -- the paper's solo, duo, trio, quartet and larger ensembles.
    A File Name is found with or without the set prefix (``0015``, ``0015.wav``, ``if_0015``).
    Groups: ``Original file`` (segments of one recording stay together), else ``Title``, else
    the file. Rows without a usable size and audio files the CSV does not list are left out and
    reported. Options: ``metadata`` (the CSV), ``file_column``, ``size_column``,
    ``group_column``, ``max_size``.

Layouts without a public archive layout -- Marolt19, ACMusYT and ACMus VF -- are read from a
table the user writes once: a CSV or TSV with columns ``path,label,group`` (extra columns are
ignored; ``path`` relative to the table's folder or absolute; ``group`` optional: the recording,
video or singer whose clips must stay on one side of a split). ``ROOT`` is the table itself or
a folder holding it (the only ``.csv``/``.tsv`` there, else name it with ``metadata``):

``marolt19``
    Labels solo singing, choir, instrumental, speech (and noise, if present); the three music
    classes map to ``music`` by default. Without a ``group`` column, the file stem without a
    trailing ``_<number>``/``-<number>`` excerpt index is the group (``group_regex``). Without a
    table, class folders ``ROOT/<class>/**`` are read instead.
``acmusyt``
    Labels speech, music, a cappella (``a_cappella``; also ``acapella``, ``vocal only``); the a
    cappella class is dropped by default (the paper leaves it out). Groups as Marolt19; class
    folders without a table.
``acmus_vf`` (alias ``acmus-vf``)
    ACMus vocal format set (Zenodo 4791394): columns ``path``, ``gender`` (male/female, m/f)
    and ``accompaniment`` (yes/no), ``group`` (the singer, if known). ``task`` =
    ``accompaniment`` (labels ``accompanied``/``vocal_only``) or ``gender`` (``male``/
    ``female``); a ``label`` column serves a one-task table. Column names are options.
``table``
    Any such table: ``path`` (or ``file``), ``label``, optional ``group`` (else one per file).

Others:

``folders``
    ``ROOT/<class>/**/*.<audio>``. Groups: ``group_by`` = ``file`` (default), ``subfolder`` (first
    folder below the class folder) or ``regex`` (first capture group of ``group_regex`` on the
    file's stem).
``real_mix`` (alias ``real-mix``)
    ``ROOT/manifest.csv`` with ``path,label,group`` columns (others ignored).
``fsdd``
    Free Spoken Digit Dataset: ``ROOT/recordings/{digit}_{speaker}_{index}.wav`` (or ``ROOT/*.wav``);
    label ``speech`` (``label_from``: ``constant`` with ``label``, ``digit`` or ``speaker``),
    grouped by speaker.
``manifest``
    ``root`` is a saved manifest (CSV/JSONL).
"""

from __future__ import annotations

import contextvars
import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from speechmusic.audio import AUDIO_EXTENSIONS
from speechmusic.data.manifest import Clip, Manifest
from speechmusic.errors import ConfigError

__all__ = [
    "DatasetSpec",
    "DEFAULT_LABEL_MAPS",
    "DEFAULT_DROP_REASONS",
    "LeftOut",
    "Survey",
    "load_dataset",
    "survey_dataset",
    "list_layouts",
    "build_manifest",
    "normalize_label",
    "scan_audio",
    "leave_out",
]

Adapter = Callable[..., Manifest]
_LAYOUTS: dict[str, Adapter] = {}
_ALIASES = {"sns": "slaney_scheirer", "real-mix": "real_mix", "folder": "folders",
            "gtzan_music_speech": "gtzan", "acmus-vf": "acmus_vf", "acmus-if": "acmus_if"}

#: Each layout's default map from its own (normalised) class names to task labels; ``None`` drops.
DEFAULT_LABEL_MAPS: dict[str, dict[str, str | None]] = {
    "marolt19": {"solo_singing": "music", "choir": "music", "instrumental": "music",
                 "speech": "speech", "noise": "noise"},
    "acmusyt": {"speech": "speech", "music": "music", "a_cappella": None, "acapella": None,
                "a_capella": None, "vocal_only": None},
    "slaney_scheirer": {"music": "music", "speech": "speech", "m+s": None, "other": None,
                        "noise": None, "mixed": None, "mix": None, "music_speech": None,
                        "speech_music": None},
    "acmus_vf": {"yes": "accompanied", "y": "accompanied", "true": "accompanied", "1": "accompanied",
                 "accompanied": "accompanied", "with_accompaniment": "accompanied",
                 "no": "vocal_only", "n": "vocal_only", "false": "vocal_only", "0": "vocal_only",
                 "vocal_only": "vocal_only", "a_cappella": "vocal_only", "acapella": "vocal_only",
                 "male": "male", "m": "male", "female": "female", "f": "female"},
}

#: Why a layout's default label map drops a class (shown by ``datasets check``).
DEFAULT_DROP_REASONS: dict[str, dict[str, str]] = {
    "slaney_scheirer": {
        "m+s": "speech over music (the archive's m+s folder): the paper excludes S&S's 64 noise "
               "and mixed files; keep them with label_map {m+s: NAME}",
        "other": "other/noise (the archive's other folder): the paper excludes S&S's 64 noise and "
                 "mixed files; keep them with label_map {other: NAME}",
    },
    "acmusyt": {"a_cappella": "the paper leaves ACMusYT's a cappella (vocal-only) class out; keep "
                              "it with label_map {a_cappella: a_cappella}"},
}

_EXCERPT_INDEX = r"^(.+?)(?:[_\-\s]\d+)?$"

# ----------------------------------------------------------------------------- what was left out


@dataclass(frozen=True)
class LeftOut:
    """A file (or metadata row, ``table.csv:LINE``) the dataset's clips do not include, and why.
    ``own_class`` is its class in the dataset's own names, where known."""

    path: str
    own_class: str | None
    reason: str


@dataclass
class _Notes:
    left_out: list[LeftOut] = field(default_factory=list)
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)


_NOTES: contextvars.ContextVar[_Notes | None] = contextvars.ContextVar("speechmusic_dataset_notes",
                                                                       default=None)


def leave_out(path: str | Path, *, reason: str, own_class: str | None = None) -> None:
    """Record, for :func:`survey_dataset`, that an adapter skipped ``path`` and why (a no-op when
    no survey is listening, e.g. under :func:`load_dataset`)."""
    notes = _NOTES.get()
    if notes is not None:
        notes.left_out.append(LeftOut(str(path), own_class, reason))


def _note(clip_id: str, attributes: Mapping[str, str] | None) -> None:
    notes = _NOTES.get()
    if notes is not None and attributes:
        notes.attributes[clip_id] = {k: str(v) for k, v in attributes.items() if v not in (None, "")}


# ----------------------------------------------------------------------------- specs and registry


@dataclass
class DatasetSpec:
    """Where a dataset is and how to read it.

    ``layout``: one of :func:`list_layouts`. ``root``: its folder (or manifest/table file).
    ``name``: the dataset name in manifests (default: the layout). ``label_map``: renames on top
    of the layout's default map (``null`` drops a class). ``classes``: keep only these labels
    (after mapping). ``options``: the adapter's own keyword arguments (see the module docstring).
    ``max_clips_per_class``: keep at most this many clips per label (the first ones by id),
    for quick runs.
    """

    layout: str
    root: str | None = None
    name: str | None = None
    label_map: dict[str, str | None] = field(default_factory=dict)
    classes: list[str] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    max_clips_per_class: int | None = None


def register_layout(name: str) -> Callable[[Adapter], Adapter]:
    """Register ``fn(root: Path, *, name: str, **options) -> Manifest`` as layout ``name``."""
    def decorate(fn: Adapter) -> Adapter:
        _LAYOUTS[name] = fn
        return fn

    return decorate


def list_layouts() -> list[str]:
    return sorted(_LAYOUTS)


def _layout(name: str) -> tuple[str, Adapter]:
    key = _ALIASES.get(name, name)
    if key not in _LAYOUTS:
        raise ConfigError(f"unknown dataset layout {name!r}; choose one of {', '.join(list_layouts())}")
    return key, _LAYOUTS[key]


def normalize_label(name: str) -> str:
    """``"Solo Singing"`` -> ``"solo_singing"``; ``"A-Cappella"`` -> ``"a_cappella"``."""
    return re.sub(r"[^0-9a-z+]+", "_", str(name).strip().lower()).strip("_")


def scan_audio(folder: Path, *, extensions: tuple[str, ...] = AUDIO_EXTENSIONS) -> list[Path]:
    """Audio files below ``folder``, recursively, sorted; hidden files and folders are skipped."""
    exts = {e.lower() for e in extensions}
    out = []
    for p in folder.rglob("*"):
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.is_file() and p.suffix.lower() in exts:
            out.append(p)
    return sorted(out)


def _root(root: str | Path | None, layout: str) -> Path:
    if root is None or str(root).strip() == "":
        raise ConfigError(f"dataset layout {layout!r} needs a root folder")
    path = Path(str(root)).expanduser()
    if not path.exists():
        raise ConfigError(f"{layout}: dataset root {path} does not exist")
    return path.resolve()


def _need_folder(root: Path, layout: str, expected: str) -> None:
    if not root.is_dir():
        raise ConfigError(f"{layout}: {root} is not a folder (expected {expected})")


def _clip(*, name: str, root: Path, path: Path, label: str, group: str,
          attributes: Mapping[str, str] | None = None) -> Clip:
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()
    clip = Clip(id=f"{name}/{rel}", path=str(path), label=label, group=f"{name}:{group}", dataset=name)
    _note(clip.id, attributes)
    return clip


def _regex_group(stem: str, pattern: str) -> str:
    try:
        m = re.search(pattern, stem)
    except re.error as exc:
        raise ConfigError(f"group_regex {pattern!r} is not a valid regular expression: {exc}") from None
    if m is None:
        return stem
    return (m.group(1) if m.groups() and m.group(1) else m.group(0)) or stem


def _class_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _children(folder: Path | None, *names: str) -> list[Path]:
    """The sub-folders of ``folder`` whose normalised names are among ``names``, in the order of
    ``names`` (``music-speech`` and ``music_speech`` both match ``music_speech``)."""
    if folder is None or not folder.is_dir():
        return []
    subs = _class_folders(folder)
    out: list[Path] = []
    for n in names:
        out += [p for p in subs if normalize_label(p.name) == normalize_label(n) and p not in out]
    return out


def _child(folder: Path | None, *names: str) -> Path | None:
    """The first of :func:`_children`, or ``None``."""
    found = _children(folder, *names)
    return found[0] if found else None


def _canonical(aliases: Mapping[str, str]) -> Callable[[str], str]:
    def canon(name: str) -> str:
        key = normalize_label(name)
        return aliases.get(key, key)

    return canon


# ----------------------------------------------------------------------------- class folders


def _folders(root: Path, *, name: str, group_by: str = "file", group_regex: str | None = None,
             extensions: list[str] | None = None,
             canonical: Callable[[str], str] = normalize_label) -> Manifest:
    if group_by not in ("file", "subfolder", "regex"):
        raise ConfigError(f"group_by must be 'file', 'subfolder' or 'regex', got {group_by!r}")
    if group_by == "regex" and not group_regex:
        raise ConfigError("group_by 'regex' needs a group_regex option")
    _need_folder(root, name, "ROOT/<class>/*.wav")
    exts = tuple(e if e.startswith(".") else f".{e}" for e in extensions) if extensions else AUDIO_EXTENSIONS
    clips = []
    for folder in _class_folders(root):
        label = canonical(folder.name)
        for path in scan_audio(folder, extensions=exts):
            rel = path.relative_to(folder)
            if group_by == "subfolder" and len(rel.parts) > 1:
                group = f"{label}/{rel.parts[0]}"
            elif group_by == "regex":
                group = _regex_group(path.stem, group_regex or "")
            else:
                group = f"{label}/{rel.with_suffix('').as_posix()}"
            clips.append(_clip(name=name, root=root, path=path, label=label, group=group))
    if not clips:
        raise ConfigError(f"{root}: no audio files in class folders (expected ROOT/<class>/*.wav, "
                          f"or a table with path,label,group columns)")
    return Manifest(clips)


@register_layout("folders")
def folders_layout(root: Path, *, name: str, group_by: str = "file", group_regex: str | None = None,
                   extensions: list[str] | None = None) -> Manifest:
    """Generic ``ROOT/<class>/**/*.<audio>``."""
    return _folders(root, name=name, group_by=group_by, group_regex=group_regex, extensions=extensions)


# ----------------------------------------------------------------------------- metadata tables

#: Column names (normalised) tried in order when a table's column is not named by an option.
PATH_COLUMNS = ("path", "file", "file_name", "filename", "file_path", "filepath", "audio",
                "audio_file", "audio_path", "wav")
LABEL_COLUMNS = ("label", "class", "category")
GROUP_COLUMNS = ("group",)
_TABLE_SUFFIXES = (".csv", ".tsv")


@dataclass
class _Table:
    """A CSV/TSV file: ``columns`` (normalised header -> header as written) and ``rows``
    ``(line number, {normalised header: stripped value})``."""

    path: Path
    columns: dict[str, str]
    rows: list[tuple[int, dict[str, str]]]

    @classmethod
    def read(cls, path: Path) -> _Table:
        data = path.read_bytes()
        for encoding in ("utf-8-sig", "cp1252", "latin-1"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        lines = text.splitlines()
        first = next((ln for ln in lines if ln.strip()), "")
        if path.suffix.lower() == ".tsv":
            delimiter = "\t"
        else:  # the header's most frequent separator (headers rarely quote)
            delimiter = max((",", ";", "\t", "|"), key=first.count) if first else ","
            if first.count(delimiter) == 0:
                delimiter = ","
        raw = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter)]
        while raw and not any(c.strip() for c in raw[0]):
            raw.pop(0)
        if not raw:
            raise ConfigError(f"{path}: the table is empty (expected a header row)")
        header = [normalize_label(h) for h in raw[0]]
        columns: dict[str, str] = {}
        for key, written in zip(header, raw[0], strict=True):
            if key:
                columns.setdefault(key, written.strip())
        rows = []
        for n, values in enumerate(raw[1:], 2):
            if not any(v.strip() for v in values):
                continue
            row: dict[str, str] = {}
            for key, value in zip(header, values, strict=False):  # short rows: missing cells
                if key and key not in row:
                    row[key] = value.strip()
            rows.append((n, row))
        return cls(path, columns, rows)

    def column(self, wanted: str | None, aliases: Iterable[str], *, what: str,
               required: bool) -> str | None:
        """The normalised key of the column named ``wanted`` (an option) or of the first of
        ``aliases`` present; ``ConfigError`` naming the table and its columns if a required one
        is missing."""
        if wanted:
            key = normalize_label(wanted)
            if key not in self.columns:
                raise ConfigError(f"{self.path}: no column {wanted!r} ({what}); columns: "
                                  f"{list(self.columns.values())}")
            return key
        for alias in aliases:
            if alias in self.columns:
                return alias
        if required:
            raise ConfigError(f"{self.path}: no {what} column (expected one of "
                              f"{', '.join(aliases)}; columns: {list(self.columns.values())}); "
                              f"name it with an option")
        return None

    def where(self, line: int) -> str:
        return f"{self.path}:{line}"


def _find_table(root: Path, metadata: str | None, *, required: bool = True,
                prefer: str | None = None) -> Path | None:
    """The metadata table: ``root`` itself if it is a file, ``metadata`` (relative to ``root``),
    or the only ``.csv``/``.tsv`` in ``root`` (among several, the one whose name holds
    ``prefer``, or one named ``labels``/``metadata``)."""
    if root.is_file():
        return root
    if metadata:
        p = Path(str(metadata)).expanduser()
        p = p if p.is_absolute() else root / p
        if not p.is_file():
            raise ConfigError(f"metadata table {p} does not exist")
        return p
    candidates = sorted(p for p in root.iterdir()
                        if p.is_file() and p.suffix.lower() in _TABLE_SUFFIXES and not p.name.startswith("."))
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        keys = [prefer] if prefer else ["labels", "metadata"]
        for key in keys:
            hits = [c for c in candidates if key in normalize_label(c.stem)]
            if len(hits) == 1:
                return hits[0]
    if required or candidates:
        raise ConfigError(f"{root}: expected one metadata table (.csv/.tsv), found "
                          f"{[c.name for c in candidates]}; name it with the 'metadata' option")
    return None


def _require_table(root: Path, metadata: str | None) -> Path:
    table = _find_table(root, metadata, required=True)
    if table is None:  # unreachable: required=True raises first
        raise ConfigError(f"{root}: no metadata table")
    return table


class _AudioIndex:
    """Audio files below some folders, looked up by file name or stem (built on first use)."""

    def __init__(self, *bases: Path) -> None:
        self.bases = [b for b in dict.fromkeys(bases) if b.is_dir()]
        self._by_stem: dict[str, list[Path]] | None = None
        self._all: list[Path] = []

    def _index(self) -> dict[str, list[Path]]:
        if self._by_stem is None:
            self._by_stem = {}
            seen: set[Path] = set()
            for base in self.bases:
                for p in scan_audio(base):
                    if p not in seen:
                        seen.add(p)
                        self._all.append(p)
                        self._by_stem.setdefault(p.stem.lower(), []).append(p)
        return self._by_stem

    def all(self) -> list[Path]:
        self._index()
        return list(self._all)

    def find(self, value: str, *, prefixes: tuple[str, ...] = ()) -> Path | None:
        """A listed file: as a path (absolute, or below one of the bases), else by stem, with
        or without a ``<prefix>_`` (``0015``, ``15`` -> ``if_0015``), else the one stem ending
        in ``_<value>``."""
        p = Path(value.replace("\\", "/")).expanduser()
        if p.is_absolute():
            return p.resolve() if p.is_file() else None
        for base in self.bases:
            if (base / p).is_file():
                return (base / p).resolve()
        if len(p.parts) > 1:  # a path that is not there: no guessing by name
            return None
        stem = (p.stem if p.suffix.lower() in AUDIO_EXTENSIONS else p.name).lower()
        index = self._index()
        keys = [stem] + [f"{x}_{stem}" for x in prefixes]
        if stem.isdigit():
            keys += [f"{x}_{int(stem):04d}" for x in prefixes] + [f"{int(stem):04d}"]
        for key in keys:
            if key in index:
                return index[key][0].resolve()
        tail = [k for k in index if k.endswith(f"_{stem}")]
        if len(tail) == 1:
            return index[tail[0]][0].resolve()
        return None


def _looks_like_labels(path: Path) -> bool:
    try:
        cols = _Table.read(path).columns
    except (OSError, ConfigError):
        return False
    return any(c in cols for c in PATH_COLUMNS) and any(c in cols for c in LABEL_COLUMNS)


def _labelled_table(table_path: Path, *, root: Path, name: str, file_column: str | None,
                    label_column: str | None, group_column: str | None,
                    canonical: Callable[[str], str] = normalize_label,
                    label_aliases: tuple[str, ...] = LABEL_COLUMNS,
                    default_group: Callable[[Path], str] | None = None) -> Manifest:
    """Rows ``path,label[,group]`` (extra columns ignored) as clips; rows without a path or a
    label, repeated paths and audio files the table does not list are left out and noted."""
    table = _Table.read(table_path)
    pcol = table.column(file_column, PATH_COLUMNS, what="audio path", required=True)
    lcol = table.column(label_column, label_aliases, what="label", required=True)
    gcol = table.column(group_column, GROUP_COLUMNS, what="group", required=False)
    base = root if root.is_dir() else table_path.parent
    index = _AudioIndex(table_path.parent, base)
    clips: list[Clip] = []
    first_row: dict[Path, int] = {}
    listed: set[Path] = set()
    for line, row in table.rows:
        value, raw_label = row.get(pcol or "", ""), row.get(lcol or "", "")
        if not value:
            leave_out(table.where(line), reason=f"no {table.columns[pcol]!r} value")
            continue
        label = canonical(raw_label) if raw_label else ""
        path = index.find(value) or (table_path.parent / value).resolve()
        listed.add(path)
        if not label:
            leave_out(path, reason=f"{table.where(line)}: empty {table.columns[lcol]!r}")
            continue
        if path in first_row:
            leave_out(path, own_class=label,
                      reason=f"{table.where(line)}: listed again (first at line {first_row[path]})")
            continue
        first_row[path] = line
        group = row.get(gcol, "") if gcol else ""
        if not group:
            group = default_group(path) if default_group else Path(value).with_suffix("").as_posix()
        clips.append(_clip(name=name, root=base, path=path, label=label, group=group))
    for path in index.all():
        if path.resolve() not in listed:
            leave_out(path, reason=f"not listed in {table_path.name}")
    if not clips:
        raise ConfigError(f"{table_path}: no usable rows (expected columns path,label[,group])")
    return Manifest(clips)


def _table_or_folders(root: Path, *, name: str, layout: str, metadata: str | None,
                      file_column: str | None, label_column: str | None, group_column: str | None,
                      group_by: str, group_regex: str | None,
                      canonical: Callable[[str], str]) -> Manifest:
    """A ``path,label,group`` table where there is one (``root`` itself, ``metadata``, or the
    only table in ``root`` that has path and label columns), else class folders."""
    table = _find_table(root, metadata, required=False) if (root.is_file() or metadata) else None
    if table is None and root.is_dir():
        candidates = [p for p in sorted(root.iterdir())
                      if p.is_file() and p.suffix.lower() in _TABLE_SUFFIXES and _looks_like_labels(p)]
        if len(candidates) > 1:
            raise ConfigError(f"{layout}: {root} holds several label tables "
                              f"{[c.name for c in candidates]}; name one with the 'metadata' option")
        table = candidates[0] if candidates else None
    if table is not None:
        pattern = group_regex or _EXCERPT_INDEX

        def default_group(path: Path) -> str:
            return _regex_group(path.stem, pattern) if group_by == "regex" else path.stem

        return _labelled_table(table, root=root, name=name, file_column=file_column,
                               label_column=label_column, group_column=group_column,
                               canonical=canonical, default_group=default_group)
    return _folders(root, name=name, group_by=group_by, group_regex=group_regex, canonical=canonical)


_MAROLT19_CLASSES = {"solo": "solo_singing", "singing": "solo_singing", "solo_song": "solo_singing",
                     "solo_voice": "solo_singing", "choral": "choir", "choirs": "choir",
                     "instrument": "instrumental", "instruments": "instrumental",
                     "instrumental_music": "instrumental", "noises": "noise"}
_ACMUSYT_CLASSES = {"acapella": "a_cappella", "a_capella": "a_cappella", "acappella": "a_cappella",
                    "a_cappela": "a_cappella", "vocal_only": "a_cappella", "vocals_only": "a_cappella",
                    "vocal": "a_cappella", "voice_only": "a_cappella"}


@register_layout("marolt19")
def marolt19_layout(root: Path, *, name: str, metadata: str | None = None,
                    file_column: str | None = None, label_column: str | None = None,
                    group_column: str | None = None, group_by: str = "regex",
                    group_regex: str | None = _EXCERPT_INDEX) -> Manifest:
    """Marolt19: a ``path,label,group`` table (or class folders); labels solo singing, choir,
    instrumental, speech (noise); excerpts of one recording grouped by their stem prefix when
    the table has no group."""
    return _table_or_folders(root, name=name, layout="marolt19", metadata=metadata,
                             file_column=file_column, label_column=label_column,
                             group_column=group_column, group_by=group_by, group_regex=group_regex,
                             canonical=_canonical(_MAROLT19_CLASSES))


@register_layout("acmusyt")
def acmusyt_layout(root: Path, *, name: str, metadata: str | None = None,
                   file_column: str | None = None, label_column: str | None = None,
                   group_column: str | None = None, group_by: str = "regex",
                   group_regex: str | None = _EXCERPT_INDEX) -> Manifest:
    """ACMus YouTube: a ``path,label,group`` table (or class folders); labels speech, music,
    a cappella."""
    return _table_or_folders(root, name=name, layout="acmusyt", metadata=metadata,
                             file_column=file_column, label_column=label_column,
                             group_column=group_column, group_by=group_by, group_regex=group_regex,
                             canonical=_canonical(_ACMUSYT_CLASSES))


@register_layout("table")
def table_layout(root: Path, *, name: str, metadata: str | None = None, file_column: str | None = None,
                 label_column: str | None = None, group_column: str | None = None) -> Manifest:
    """Any metadata table: one row per file, ``path`` (or ``file``), ``label``, optional ``group``."""
    table = _require_table(root, metadata)
    return _labelled_table(table, root=root, name=name, file_column=file_column,
                           label_column=label_column, group_column=group_column)


_VF_VALUES = {k: v for k, v in DEFAULT_LABEL_MAPS["acmus_vf"].items() if v is not None}


@register_layout("acmus_vf")
def acmus_vf_layout(root: Path, *, name: str, task: str = "accompaniment", metadata: str | None = None,
                    file_column: str | None = None, gender_column: str | None = None,
                    accompaniment_column: str | None = None,
                    group_column: str | None = None) -> Manifest:
    """ACMus vocal format set from a table: ``task`` = ``accompaniment`` or ``gender``."""
    if task not in ("accompaniment", "gender"):
        raise ConfigError(f"acmus_vf: task must be 'accompaniment' or 'gender', got {task!r}")
    table = _require_table(root, metadata)
    if task == "gender":
        column, aliases = gender_column, ("gender", "singer_gender", "sex", "voice_gender") + LABEL_COLUMNS
    else:
        column, aliases = accompaniment_column, ("accompaniment", "accompanied", "with_accompaniment",
                                                 "instrumental_accompaniment") + LABEL_COLUMNS
    groups = group_column or next((c for c in ("group", "singer", "performer", "artist")
                                   if c in _Table.read(table).columns), None)
    return _labelled_table(table, root=root, name=name, file_column=file_column, label_column=column,
                           group_column=groups, canonical=_canonical(_VF_VALUES), label_aliases=aliases)


# ----------------------------------------------------------------------------- Slaney & Scheirer

_SNS_CLASSES = {"m+s": "m+s", "music+speech": "m+s", "speech+music": "m+s", "mixed": "m+s",
                "mix": "m+s", "music_speech": "m+s", "speech_music": "m+s", "noise": "other"}
_SNS_VOCALS = {"vocals": "yes", "vocal": "yes", "with_vocals": "yes",
               "novocals": "no", "no_vocals": "no", "novocal": "no", "instrumental": "no"}


def _sns_base(root: Path) -> Path:
    """The folder holding ``train/`` and ``test/`` (``root``, ``root/wavfile``,
    ``root/music-speech/wavfile``), else ``root`` itself (flat class folders)."""
    tops = _children(root, "music_speech")
    for base in (root, _child(root, "wavfile"), *[_child(t, "wavfile") for t in tops], *tops):
        if base is not None and (_child(base, "train") or _child(base, "test")):
            return base
    return root


@register_layout("slaney_scheirer")
def slaney_scheirer_layout(root: Path, *, name: str, group_by: str = "file",
                           group_regex: str | None = None) -> Manifest:
    """Slaney & Scheirer (LabROSA ``music-speech``): ``wavfile/{train,test}/<class>/``; own
    classes music, speech, m+s, other (the last two dropped by the default label map)."""
    if group_by not in ("file", "regex"):
        raise ConfigError(f"slaney_scheirer: group_by must be 'file' or 'regex', got {group_by!r}")
    if group_by == "regex" and not group_regex:
        raise ConfigError("group_by 'regex' needs a group_regex option")
    _need_folder(root, "slaney_scheirer", "music-speech/wavfile/{train,test}/<class>/")
    base = _sns_base(root)
    splits = [(s, _child(base, s)) for s in ("train", "test")]
    parts = [(s, p) for s, p in splits if p is not None] or [("", base)]
    canon = _canonical(_SNS_CLASSES)
    clips = []
    for split, folder in parts:
        for class_dir in _class_folders(folder):
            own = canon(class_dir.name)
            for path in scan_audio(class_dir):
                rel = path.relative_to(class_dir)
                attributes = {"split": split} if split else {}
                if len(rel.parts) > 1 and normalize_label(rel.parts[0]) in _SNS_VOCALS:
                    attributes["vocals"] = _SNS_VOCALS[normalize_label(rel.parts[0])]
                if group_by == "regex":
                    group = _regex_group(path.stem, group_regex or "")
                else:
                    group = "/".join(x for x in (split, own, rel.with_suffix("").as_posix()) if x)
                clips.append(_clip(name=name, root=root, path=path, label=own, group=group,
                                   attributes=attributes))
    if not clips:
        raise ConfigError(f"{root}: no Slaney & Scheirer audio (expected music-speech/wavfile/"
                          "{train,test}/{music,speech,m+s,other}/*.wav, or ROOT/<class>/*.wav)")
    return Manifest(clips)


# ----------------------------------------------------------------------------- MUSAN

_MUSAN_CLASSES = ("music", "speech", "noise")
_YES_NO = {"y": "yes", "yes": "yes", "n": "no", "no": "no"}
_GENDERS = {"m": "male", "male": "male", "f": "female", "female": "female"}


def _musan_annotations(source: Path) -> dict[str, list[str]]:
    """``ANNOTATIONS`` rows by utterance id: the whitespace-separated fields after the id
    (an absent file gives ``{}``)."""
    ann = next((p for p in (source / "ANNOTATIONS", source / "annotations", source / "ANNOTATIONS.txt")
                if p.is_file()), None)
    if ann is None:
        return {}
    out = {}
    for line in ann.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split()
        if parts and not parts[0].startswith("#"):
            out[parts[0]] = parts[1:]
    return out


def _musan_music_fields(fields: list[str]) -> tuple[str, str | None, str | None]:
    """``<genres> <Y|N> <artist>`` -> (genres joined by commas, ``yes``/``no``, artist). The
    vocals flag is the first lone ``Y``/``N`` after the genres (which may be split by spaces
    after commas); everything after it is the artist (spaces kept)."""
    at = next((i for i, f in enumerate(fields) if i >= 1 and f.lower() in ("y", "n")), None)
    if at is None and fields and fields[0].lower() in ("y", "n"):
        at = 0
    if at is None:
        return ",".join(g for g in re.split(r"[,\s]+", " ".join(fields)) if g), None, None
    genres = ",".join(g for g in re.split(r"[,\s]+", " ".join(fields[:at])) if g)
    artist = " ".join(fields[at + 1:]).strip() or None
    return genres, _YES_NO[fields[at].lower()], artist


@register_layout("musan")
def musan_layout(root: Path, *, name: str, group_by: str = "annotation",
                 classes: list[str] | None = None) -> Manifest:
    """MUSAN: ``{music,speech,noise}/<source>/*.wav``; music grouped by artist (ANNOTATIONS)."""
    if group_by not in ("annotation", "source", "file"):
        raise ConfigError(f"musan: group_by must be 'annotation', 'source' or 'file', got {group_by!r}")
    _need_folder(root, "musan", "musan/{music,speech,noise}/<source>/*.wav")
    if not any(_child(root, c) for c in _MUSAN_CLASSES) and _child(root, "musan"):
        root = _child(root, "musan")  # type: ignore[assignment]
    wanted = [normalize_label(c) for c in (classes or _MUSAN_CLASSES)]
    clips = []
    for label in _MUSAN_CLASSES:
        class_dir = _child(root, label)
        if class_dir is None:
            continue
        if label not in wanted:
            for path in scan_audio(class_dir):
                leave_out(path, own_class=label, reason=f"not in the musan adapter's classes {wanted}")
            continue
        for source in _class_folders(class_dir):
            notes = _musan_annotations(source)
            for path in scan_audio(source):
                fields = notes.get(path.stem)
                attributes = {"source": source.name}
                group = f"{label}/{source.name}/{path.stem}"
                if label == "music":
                    if fields is not None:
                        genres, vocals, artist = _musan_music_fields(fields)
                        attributes.update(genres=genres or "?", vocals=vocals or "?")
                        if group_by == "annotation" and artist and normalize_label(artist):
                            group = f"music/artist/{normalize_label(artist)}"
                    else:
                        attributes["vocals"] = "?"
                elif label == "speech":
                    gender = _GENDERS.get(fields[0].lower()) if fields else None
                    language = " ".join(fields[1:] if gender else (fields or [])).lower()
                    attributes.update(gender=gender or "?", language=language or "?")
                if group_by == "source":
                    group = f"{label}/{source.name}"
                clips.append(_clip(name=name, root=root, path=path, label=label, group=group,
                                   attributes=attributes))
    if not clips:
        raise ConfigError(f"{root}: no MUSAN audio (expected musan/{{music,speech,noise}}/<source>/*.wav)")
    return Manifest(clips)


# ----------------------------------------------------------------------------- GTZAN


@register_layout("gtzan")
def gtzan_layout(root: Path, *, name: str) -> Manifest:
    """GTZAN music/speech: ``music_wav/`` and ``speech_wav/``."""
    _need_folder(root, "gtzan", "music_speech/{music_wav,speech_wav}/")
    if _child(root, "music_wav") is None:
        root = next((t for t in _children(root, "music_speech", "gtzan") if _child(t, "music_wav")), root)
    clips = []
    for folder, label in (("music_wav", "music"), ("speech_wav", "speech")):
        d = _child(root, folder)
        if d is None:
            raise ConfigError(f"{root}: GTZAN music/speech needs {folder}/ (found "
                              f"{sorted(p.name for p in _class_folders(root))})")
        for path in scan_audio(d):
            clips.append(_clip(name=name, root=root, path=path, label=label,
                               group=f"{label}/{path.stem}"))
    return Manifest(clips)


# ----------------------------------------------------------------------------- ACMUS-MIR

_IF_SET_NAMES = ("instrumental_format_set", "instrumental_format", "instrumental_set")
_IF_SIZE_COLUMNS = ("number_of_instruments", "ensemble_size", "n_instruments", "num_instruments",
                    "nr_of_instruments", "instruments", "size")
_IF_INSTRUMENT_WORDS = ("guitar", "bandola", "tiple", "bass", "bajo", "percussion", "percusion")
_IF_GROUP_COLUMNS = ("original_file", "original", "recording", "title")
_IF_FILE_COLUMNS = ("file_name", "filename", "file", "path", "audio_file")
_ENSEMBLE_WORDS = {"solo": 1, "soloist": 1, "duo": 2, "dueto": 2, "trio": 3, "quartet": 4,
                   "quartett": 4, "cuarteto": 4, "quintet": 5, "quinteto": 5, "sextet": 6,
                   "sexteto": 6, "large_ensemble": 5, "ensemble": 5, "estudiantina": 5,
                   "large": 5, "orchestra": 5, "orquesta": 5}
_PRESENT = {"yes": 1, "y": 1, "si": 1, "sí": 1, "x": 1, "true": 1, "no": 0, "n": 0, "false": 0, "-": 0}


def _count(value: str) -> int | None:
    """``"3"``, ``"3.0"``, ``"5+"``, ``">5"``, ``"trio"``, ``"Estudiantina"`` -> a count;
    ``yes``/``no`` -> 1/0; anything else ``None``."""
    v = value.strip().lower()
    if not v:
        return None
    m = re.fullmatch(r"[<>≥]?=?\s*(\d+)(?:[.,]0+)?\s*\+?", v)
    if m:
        return int(m.group(1))
    if v in _PRESENT:
        return _PRESENT[v]
    return _ENSEMBLE_WORDS.get(normalize_label(v))


def _acmus_set_folder(root: Path, names: tuple[str, ...], *, layout: str, expected: str) -> Path:
    """A set folder of ACMUS-MIR: ``root`` itself, or ``root/<set>``, ``root/ACMUS-MIR*/<set>``;
    else ``root`` if it holds ``Audio/`` or a table (a set folder under another name)."""
    if normalize_label(root.name) in names:
        return root
    tops = [root] + [p for p in _class_folders(root) if normalize_label(p.name).startswith("acmus")]
    for top in tops:
        found = _child(top, *names)
        if found is not None:
            return found
    if _child(root, "audio") is not None or any(
            p.suffix.lower() in _TABLE_SUFFIXES for p in root.iterdir() if p.is_file()):
        return root
    raise ConfigError(f"{layout}: {root} holds no {expected} (found "
                      f"{sorted(p.name for p in _class_folders(root))})")


@register_layout("acmus_if")
def acmus_if_layout(root: Path, *, name: str, metadata: str | None = None,
                    file_column: str | None = None, size_column: str | None = None,
                    group_column: str | None = None, max_size: int = 5) -> Manifest:
    """ACMUS-MIR instrumental format set: ensemble sizes ``1`` ... ``max_size-1`` and
    ``<max_size>+`` from ``Number of instruments`` (else the sum of the instrument counts)."""
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 2:
        raise ConfigError(f"acmus_if: max_size must be an integer >= 2, got {max_size!r}")
    _need_folder(root, "acmus_if", "ACMUS-MIR/ or its 'Instrumental format set' folder")
    folder = _acmus_set_folder(root, _IF_SET_NAMES, layout="acmus_if",
                               expected="ACMUS-MIR 'Instrumental format set' folder (with Audio/ "
                                        "and instrumental_format_set.csv)")
    table_path = _find_table(folder, metadata, required=False, prefer="instrumental")
    if table_path is None and folder != root:
        table_path = _find_table(folder.parent, None, required=False, prefer="instrumental")
    if table_path is None:
        raise ConfigError(f"acmus_if: no metadata table in {folder} (expected "
                          "instrumental_format_set.csv; name it with the 'metadata' option)")
    table = _Table.read(table_path)
    fcol = table.column(file_column, _IF_FILE_COLUMNS, what="file name", required=True)
    scol = table.column(size_column, _IF_SIZE_COLUMNS, what="number of instruments", required=False)
    parts = [c for c in table.columns if c != scol and any(w in c for w in _IF_INSTRUMENT_WORDS)]
    if scol is None and not parts:
        raise ConfigError(f"{table_path}: no 'Number of instruments' column and no instrument counts "
                          f"(guitars, bandolas, tiples, bass, percussion); columns: "
                          f"{list(table.columns.values())}; name one with size_column")
    gcols = ([table.column(group_column, (), what="group", required=True)] if group_column
             else [c for c in _IF_GROUP_COLUMNS if c in table.columns])
    audio = _child(folder, "audio") or folder
    index = _AudioIndex(audio, folder)
    clips: list[Clip] = []
    first_row: dict[Path, int] = {}
    listed: set[Path] = set()
    for line, row in table.rows:
        value = row.get(fcol or "", "")
        where = table.where(line)
        if not value:
            leave_out(where, reason=f"no {table.columns[fcol]!r}")
            continue
        path = index.find(value, prefixes=("if",))
        if path is not None:
            listed.add(path)
        size = _count(row.get(scol, "")) if scol else None
        source = table.columns[scol] if scol and size is not None else None
        if size is None and parts:
            counts = [_count(row.get(c, "")) for c in parts]
            if any(c is not None for c in counts):
                size = sum(c or 0 for c in counts)
                source = "instrument counts"
        if size is None or size <= 0:
            shown = repr(row.get(scol, "")) if scol else "-"
            leave_out(path or where, reason=f"{where}: no ensemble size ({table.columns.get(scol or '', 'size')} "
                                            f"= {shown}, no instrument counts)")
            continue
        label = f"{max_size}+" if size >= max_size else str(size)
        if path is None:  # kept: datasets check reports the file it expected as unreadable
            guess = Path(value.replace("\\", "/")).name
            guess = guess if guess.lower().startswith("if_") else f"if_{guess}"
            guess = guess if Path(guess).suffix.lower() in AUDIO_EXTENSIONS else f"{guess}.wav"
            path = (audio / guess).resolve()
        if path in first_row:
            leave_out(path, own_class=label, reason=f"{where}: listed again (first at line {first_row[path]})")
            continue
        first_row[path] = line
        group = next((row[c] for c in gcols if row.get(c)), "") or path.stem
        clips.append(_clip(name=name, root=root, path=path, label=label, group=group,
                           attributes={"size_from": source or "?"}))
    for path in index.all():
        if path.resolve() not in listed:
            leave_out(path, reason=f"not listed in {table_path.name}")
    if not clips:
        raise ConfigError(f"{table_path}: no usable rows")
    return Manifest(clips)


# ----------------------------------------------------------------------------- other layouts


@register_layout("real_mix")
def real_mix_layout(root: Path, *, name: str, manifest: str = "manifest.csv") -> Manifest:
    """The shared real-mix corpus: ``manifest.csv`` with path, label and group columns."""
    table = root / manifest
    if not table.is_file():
        raise ConfigError(f"{root}: no {manifest}")
    rows = list(csv.DictReader(io.StringIO(table.read_text(encoding="utf-8"))))
    clips = []
    for row in rows:
        path = (root / row["path"]).resolve()
        clips.append(_clip(name=name, root=root, path=path, label=normalize_label(row["label"]),
                           group=row.get("group") or Path(row["path"]).stem))
    return Manifest(clips)


@register_layout("fsdd")
def fsdd_layout(root: Path, *, name: str, label_from: str = "constant", label: str = "speech") -> Manifest:
    """Free Spoken Digit Dataset, grouped by speaker."""
    if label_from not in ("constant", "digit", "speaker"):
        raise ConfigError(f"fsdd: label_from must be 'constant', 'digit' or 'speaker', got {label_from!r}")
    folder = root / "recordings" if (root / "recordings").is_dir() else root
    clips = []
    for path in scan_audio(folder, extensions=(".wav",)):
        parts = path.stem.split("_")
        if len(parts) != 3:
            continue  # not a {digit}_{speaker}_{index} recording
        digit, speaker, _ = parts
        lab = {"constant": label, "digit": digit, "speaker": speaker}[label_from]
        clips.append(_clip(name=name, root=root, path=path, label=lab, group=speaker))
    if not clips:
        raise ConfigError(f"{folder}: no {{digit}}_{{speaker}}_{{index}}.wav recordings")
    return Manifest(clips)


@register_layout("manifest")
def manifest_layout(root: Path, *, name: str) -> Manifest:
    """A saved manifest file; its dataset names are kept unless empty; columns other than
    the manifest's own (e.g. a licence or duration) are ignored."""
    loaded = Manifest.load(root, ignore_unknown=True)
    return Manifest(c if c.dataset else Clip(id=c.id, path=c.path, label=c.label, group=c.group,
                                             dataset=name, start=c.start, duration=c.duration)
                    for c in loaded)


# ----------------------------------------------------------------------------- entry points


def build_manifest(layout: str, root: str | Path, *, name: str | None = None,
                   **options: Any) -> Manifest:
    """The raw manifest of a layout: the dataset's own (normalised) class names, no label map."""
    key, adapter = _layout(layout)
    if key == "manifest":
        path = Path(str(root)).expanduser()
        if not path.is_file():
            raise ConfigError(f"manifest file {path} does not exist")
        return adapter(path.resolve(), name=name or key, **options)
    try:
        return adapter(_root(root, key), name=name or key, **options)
    except TypeError as exc:
        # Unknown adapter options arrive as unexpected keyword arguments.
        if "unexpected keyword" not in str(exc):
            raise
        raise ConfigError(f"layout {key!r}: {exc}") from None


@dataclass
class Survey:
    """A dataset as read, with what it left out.

    ``raw``: the adapter's clips, in the dataset's own class names. ``manifest``: the clips kept
    (label map, ``classes`` and ``max_clips_per_class`` applied; what :func:`load_dataset`
    returns). ``kept_as``: own class -> the label it is kept as (``None``: left out).
    ``left_out``: every file or row not kept, with its reason. ``attributes``: clip id ->
    what the dataset's metadata says beyond the label (e.g. MUSAN's ``gender``, ``language``,
    ``vocals``; S&S's ``split``); not part of the manifest.
    """

    layout: str
    name: str
    raw: Manifest
    manifest: Manifest
    kept_as: dict[str, str | None]
    left_out: list[LeftOut]
    attributes: dict[str, dict[str, str]]


def survey_dataset(spec: DatasetSpec | Mapping[str, Any]) -> Survey:
    """Read a dataset like :func:`load_dataset` and say what was left out and why."""
    if isinstance(spec, Mapping):
        spec = DatasetSpec(**spec)
    key, _ = _layout(spec.layout)
    name = spec.name or key
    notes = _Notes()
    token = _NOTES.set(notes)
    try:
        raw = build_manifest(key, spec.root or "", name=name, **dict(spec.options))
    finally:
        _NOTES.reset(token)
    user_map = {normalize_label(k): v for k, v in (spec.label_map or {}).items()}
    mapping: dict[str, str | None] = dict(DEFAULT_LABEL_MAPS.get(key, {}))
    mapping.update(user_map)
    reasons = DEFAULT_DROP_REASONS.get(key, {})
    kept_as = {own: mapping.get(own, own) for own in raw.labels}
    for clip in raw:
        if kept_as[clip.label] is None:
            why = ("mapped to null by the label map" if clip.label in user_map
                   else reasons.get(clip.label, f"dropped by the {key} layout's default label map"))
            notes.left_out.append(LeftOut(clip.path, clip.label, why))
    manifest = raw.map_labels(mapping)
    if spec.classes is not None:
        missing = sorted(set(spec.classes) - set(manifest.labels))
        if missing:
            raise ConfigError(f"dataset {name!r}: class(es) {missing} not found; it has {manifest.labels}")
        keep = set(spec.classes)
        own_of = {c.id: c.label for c in raw}
        for clip in manifest:
            if clip.label not in keep:
                notes.left_out.append(LeftOut(clip.path, own_of.get(clip.id),
                                              f"class {clip.label!r} is not among the selected "
                                              f"classes {list(spec.classes)}"))
        kept_as = {own: (lab if lab in keep else None) for own, lab in kept_as.items()}
        manifest = manifest.select_labels(spec.classes)
    if spec.max_clips_per_class is not None:
        if spec.max_clips_per_class <= 0:
            raise ConfigError(f"max_clips_per_class must be positive, got {spec.max_clips_per_class}")
        kept = []
        own_of = {c.id: c.label for c in raw}
        for clips in manifest.by_label().values():
            kept.extend(clips[: spec.max_clips_per_class])
            for clip in clips[spec.max_clips_per_class:]:
                notes.left_out.append(LeftOut(clip.path, own_of.get(clip.id),
                                              f"beyond max_clips_per_class {spec.max_clips_per_class}"))
        manifest = Manifest(sorted(kept, key=lambda c: c.id))
    if len(manifest) == 0:
        raise ConfigError(f"dataset {name!r} ({key} at {spec.root}) has no clips after label mapping")
    return Survey(layout=key, name=name, raw=raw, manifest=manifest, kept_as=kept_as,
                  left_out=notes.left_out, attributes=notes.attributes)


def load_dataset(spec: DatasetSpec | Mapping[str, Any]) -> Manifest:
    """Read a dataset and apply its label map, class subset and clip limit."""
    return survey_dataset(spec).manifest
