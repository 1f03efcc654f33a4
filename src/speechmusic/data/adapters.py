"""Dataset adapters: each reads one dataset's own layout and returns a :class:`Manifest`.

``load_dataset(DatasetSpec(layout=..., root=...))`` is the entry point; :func:`list_layouts`
names the layouts. An adapter yields the dataset's *own* class names (normalised: lower case,
words joined by ``_``, e.g. ``"Solo Singing"`` -> ``solo_singing``); the layout's default label
map then renames or drops them (``None`` drops), and a spec's ``label_map`` and ``classes``
refine that. Every clip gets a ``group`` so that related clips (a speaker, an artist, a field
recording) never land on both sides of a split.

Layouts (``ROOT`` is the dataset's folder; class folder names are matched after normalising):

``folders``
    ``ROOT/<class>/**/*.<audio>``. Groups: ``group_by`` = ``file`` (default), ``subfolder`` (first
    folder below the class folder) or ``regex`` (first capture group of ``group_regex`` on the
    file's stem).
``musan``
    ``ROOT/{music,speech,noise}/<source>/*.wav`` (``ROOT`` may also contain ``musan/``).
    Groups (``group_by``): ``annotation`` (default) groups music by the artist column of each
    source's ``ANNOTATIONS`` file (``<utt> <genre> <vocals Y/N> <artist>``) and every other file on
    its own; ``source`` groups by ``<class>/<source>`` folder (too coarse for 10 % splits: MUSAN has
    two or three sources per class); ``file``.
``gtzan``
    GTZAN music/speech: ``ROOT/music_wav/*.wav`` and ``ROOT/speech_wav/*.wav`` (or below
    ``ROOT/music_speech/``). One group per file.
``marolt19``
    Folder per class: solo singing, choir, instrumental, speech and, if present, noise. The three
    music classes map to ``music`` by default. Groups: the file stem without a trailing
    ``_<number>`` / ``-<number>`` excerpt index (``group_regex``), i.e. excerpts of one field
    recording stay together.
``acmusyt``
    Folder per class: speech, music, a cappella (``a_cappella``/``acapella``/``vocal_only``);
    the a cappella class is dropped by default (the paper leaves it out). Groups as Marolt19.
``slaney_scheirer`` (alias ``sns``)
    Folder per class: music, speech; noise and mixed folders (``noise``, ``mixed``, ``mix``,
    ``music_speech``, ``speech_music``) are dropped by default. One group per file.
``acmus_vf``
    ACMus vocal format set: audio files plus a metadata table (CSV/TSV; the only one in ``ROOT``
    unless ``metadata`` names it) with columns ``file``, ``gender`` (male/female) and
    ``accompaniment`` (yes/no). ``task`` = ``accompaniment`` (labels ``accompanied`` /
    ``vocal_only``) or ``gender`` (``male`` / ``female``). Column names are options.
``acmus_if``
    ACMus instrumental format set: metadata columns ``file`` and ``ensemble_size`` (a number);
    labels ``1``, ``2``, ``3``, ``4`` and ``5+`` (sizes of ``max_size`` or more).
``table``
    Any metadata table: ``file_column``, ``label_column``, optional ``group_column``.
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

import csv
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from speechmusic.audio import AUDIO_EXTENSIONS
from speechmusic.data.manifest import Clip, Manifest
from speechmusic.errors import ConfigError

__all__ = [
    "DatasetSpec",
    "DEFAULT_LABEL_MAPS",
    "load_dataset",
    "list_layouts",
    "build_manifest",
    "normalize_label",
    "scan_audio",
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
    "slaney_scheirer": {"music": "music", "speech": "speech", "noise": None, "mixed": None,
                        "mix": None, "music_speech": None, "speech_music": None},
    "acmus_vf": {"yes": "accompanied", "y": "accompanied", "true": "accompanied", "1": "accompanied",
                 "accompanied": "accompanied", "with_accompaniment": "accompanied",
                 "no": "vocal_only", "n": "vocal_only", "false": "vocal_only", "0": "vocal_only",
                 "vocal_only": "vocal_only", "a_cappella": "vocal_only", "acapella": "vocal_only",
                 "male": "male", "m": "male", "female": "female", "f": "female"},
}

_EXCERPT_INDEX = r"^(.+?)(?:[_\-\s]\d+)?$"


@dataclass
class DatasetSpec:
    """Where a dataset is and how to read it.

    ``layout``: one of :func:`list_layouts`. ``root``: its folder (or manifest file).
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


def _clip(*, name: str, root: Path, path: Path, label: str, group: str) -> Clip:
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()
    return Clip(id=f"{name}/{rel}", path=str(path), label=label, group=f"{name}:{group}", dataset=name)


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


def _folders(root: Path, *, name: str, group_by: str = "file", group_regex: str | None = None,
             extensions: list[str] | None = None) -> Manifest:
    if group_by not in ("file", "subfolder", "regex"):
        raise ConfigError(f"group_by must be 'file', 'subfolder' or 'regex', got {group_by!r}")
    if group_by == "regex" and not group_regex:
        raise ConfigError("group_by 'regex' needs a group_regex option")
    exts = tuple(e if e.startswith(".") else f".{e}" for e in extensions) if extensions else AUDIO_EXTENSIONS
    clips = []
    for folder in _class_folders(root):
        label = normalize_label(folder.name)
        for path in scan_audio(folder, extensions=exts):
            rel = path.relative_to(folder)
            if group_by == "subfolder" and len(rel.parts) > 1:
                group = f"{label}/{rel.parts[0]}"
            elif group_by == "regex":
                group = _regex_group(path.stem, group_regex or "")
            else:
                group = rel.with_suffix("").as_posix()
                group = f"{label}/{group}"
            clips.append(_clip(name=name, root=root, path=path, label=label, group=group))
    if not clips:
        raise ConfigError(f"{root}: no audio files in class folders (expected ROOT/<class>/*.wav)")
    return Manifest(clips)


@register_layout("folders")
def folders_layout(root: Path, *, name: str, group_by: str = "file", group_regex: str | None = None,
                   extensions: list[str] | None = None) -> Manifest:
    """Generic ``ROOT/<class>/**/*.<audio>``."""
    return _folders(root, name=name, group_by=group_by, group_regex=group_regex, extensions=extensions)


@register_layout("marolt19")
def marolt19_layout(root: Path, *, name: str, group_by: str = "regex",
                    group_regex: str | None = _EXCERPT_INDEX) -> Manifest:
    """Marolt19: class folders; excerpts of one recording grouped by their stem prefix."""
    return _folders(root, name=name, group_by=group_by, group_regex=group_regex)


@register_layout("acmusyt")
def acmusyt_layout(root: Path, *, name: str, group_by: str = "regex",
                   group_regex: str | None = _EXCERPT_INDEX) -> Manifest:
    """ACMus YouTube: class folders speech / music / a cappella."""
    return _folders(root, name=name, group_by=group_by, group_regex=group_regex)


@register_layout("slaney_scheirer")
def slaney_scheirer_layout(root: Path, *, name: str, group_by: str = "file",
                           group_regex: str | None = None) -> Manifest:
    """Slaney & Scheirer: class folders; noise and mixed dropped by the default label map."""
    return _folders(root, name=name, group_by=group_by, group_regex=group_regex)


def _musan_annotations(source: Path) -> dict[str, list[str]]:
    """``ANNOTATIONS`` rows by utterance id: the whitespace-separated fields after the id."""
    ann = source / "ANNOTATIONS"
    if not ann.is_file():
        return {}
    out = {}
    for line in ann.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split()
        if parts:
            out[parts[0]] = parts[1:]
    return out


@register_layout("musan")
def musan_layout(root: Path, *, name: str, group_by: str = "annotation",
                 classes: list[str] | None = None) -> Manifest:
    """MUSAN: ``{music,speech,noise}/<source>/*.wav``; music grouped by artist (ANNOTATIONS)."""
    if group_by not in ("annotation", "source", "file"):
        raise ConfigError(f"musan: group_by must be 'annotation', 'source' or 'file', got {group_by!r}")
    if not any((root / c).is_dir() for c in ("music", "speech", "noise")) and (root / "musan").is_dir():
        root = root / "musan"
    wanted = classes or ["music", "speech", "noise"]
    clips = []
    for label in wanted:
        class_dir = root / label
        if not class_dir.is_dir():
            continue
        for source in _class_folders(class_dir):
            notes = _musan_annotations(source) if group_by == "annotation" else {}
            for path in scan_audio(source):
                if group_by == "source":
                    group = f"{label}/{source.name}"
                elif label == "music" and len(notes.get(path.stem, [])) >= 3:
                    # <genre> <vocals> <artist...>: an artist's tracks stay on one side of a split
                    group = f"music/artist/{'_'.join(notes[path.stem][2:])}"
                else:
                    group = f"{label}/{source.name}/{path.stem}"
                clips.append(_clip(name=name, root=root, path=path, label=label, group=group))
    if not clips:
        raise ConfigError(f"{root}: no MUSAN audio (expected music|speech|noise/<source>/*.wav)")
    return Manifest(clips)


@register_layout("gtzan")
def gtzan_layout(root: Path, *, name: str) -> Manifest:
    """GTZAN music/speech: ``music_wav/`` and ``speech_wav/``."""
    if not (root / "music_wav").is_dir() and (root / "music_speech").is_dir():
        root = root / "music_speech"
    clips = []
    for folder, label in (("music_wav", "music"), ("speech_wav", "speech")):
        d = root / folder
        if not d.is_dir():
            raise ConfigError(f"{root}: GTZAN music/speech needs {folder}/ (found "
                              f"{sorted(p.name for p in _class_folders(root))})")
        for path in scan_audio(d):
            clips.append(_clip(name=name, root=root, path=path, label=label,
                               group=f"{label}/{path.stem}"))
    return Manifest(clips)


# ----------------------------------------------------------------------------- metadata tables


def _find_table(root: Path, metadata: str | None) -> Path:
    if metadata:
        p = Path(metadata)
        p = p if p.is_absolute() else root / p
        if not p.is_file():
            raise ConfigError(f"metadata table {p} does not exist")
        return p
    candidates = sorted(p for p in root.iterdir() if p.suffix.lower() in (".csv", ".tsv") and p.is_file())
    if len(candidates) != 1:
        raise ConfigError(f"{root}: expected one metadata table (.csv/.tsv), found "
                          f"{[c.name for c in candidates]}; name it with the 'metadata' option")
    return candidates[0]


def _read_table(path: Path) -> list[dict[str, str]]:
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else None
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(text.splitlines()[0] if text else ",", ",;\t").delimiter
        except csv.Error:
            delimiter = ","
    rows = list(csv.DictReader(io.StringIO(text), delimiter=delimiter))
    # Headers are matched case- and spacing-insensitively.
    return [{normalize_label(k): (v or "").strip() for k, v in r.items() if k is not None} for r in rows]


def _resolve_audio(root: Path, table: Path, value: str) -> Path:
    p = Path(value)
    if p.is_absolute():
        return p
    for base in (table.parent, root):
        if (base / p).exists():
            return (base / p).resolve()
    if not p.suffix:  # a bare id: look for <id>.<audio ext> anywhere below root
        for ext in AUDIO_EXTENSIONS:
            hits = sorted(root.rglob(f"{value}{ext}"))
            if hits:
                return hits[0].resolve()
    return (table.parent / p).resolve()  # missing: reported as unreadable later, not here


def _table(root: Path, *, name: str, metadata: str | None, file_column: str,
           label_fn: Callable[[dict[str, str]], str | None], group_column: str | None) -> Manifest:
    table = _find_table(root, metadata)
    rows = _read_table(table)
    fcol = normalize_label(file_column)
    gcol = normalize_label(group_column) if group_column else None
    if rows and fcol not in rows[0]:
        raise ConfigError(f"{table}: no column {file_column!r}; columns: {sorted(rows[0])}")
    if rows and gcol and gcol not in rows[0]:
        raise ConfigError(f"{table}: no column {group_column!r}; columns: {sorted(rows[0])}")
    clips = []
    for row in rows:
        if not row.get(fcol):
            continue
        label = label_fn(row)
        if label is None:
            continue
        path = _resolve_audio(root, table, row[fcol])
        group = row.get(gcol, "") if gcol else ""
        clips.append(_clip(name=name, root=root, path=path, label=label,
                           group=group or Path(row[fcol]).stem))
    if not clips:
        raise ConfigError(f"{table}: no usable rows")
    return Manifest(clips)


def _column_label(column: str) -> Callable[[dict[str, str]], str | None]:
    col = normalize_label(column)

    def label(row: dict[str, str]) -> str | None:
        if col not in row:
            raise ConfigError(f"metadata has no column {column!r}; columns: {sorted(row)}")
        value = normalize_label(row[col])
        return value or None

    return label


@register_layout("table")
def table_layout(root: Path, *, name: str, metadata: str | None = None, file_column: str = "file",
                 label_column: str = "label", group_column: str | None = None) -> Manifest:
    """Any metadata table: one row per file with a label column."""
    return _table(root, name=name, metadata=metadata, file_column=file_column,
                  label_fn=_column_label(label_column), group_column=group_column)


@register_layout("acmus_vf")
def acmus_vf_layout(root: Path, *, name: str, task: str = "accompaniment", metadata: str | None = None,
                    file_column: str = "file", gender_column: str = "gender",
                    accompaniment_column: str = "accompaniment",
                    group_column: str | None = None) -> Manifest:
    """ACMus vocal format set: ``task`` = ``accompaniment`` or ``gender``."""
    if task not in ("accompaniment", "gender"):
        raise ConfigError(f"acmus_vf: task must be 'accompaniment' or 'gender', got {task!r}")
    column = accompaniment_column if task == "accompaniment" else gender_column
    return _table(root, name=name, metadata=metadata, file_column=file_column,
                  label_fn=_column_label(column), group_column=group_column)


@register_layout("acmus_if")
def acmus_if_layout(root: Path, *, name: str, metadata: str | None = None, file_column: str = "file",
                    size_column: str = "ensemble_size", group_column: str | None = None,
                    max_size: int = 5) -> Manifest:
    """ACMus instrumental format set: ensemble sizes ``1`` ... ``max_size-1`` and ``<max_size>+``."""
    col = normalize_label(size_column)

    def label(row: dict[str, str]) -> str | None:
        if col not in row:
            raise ConfigError(f"metadata has no column {size_column!r}; columns: {sorted(row)}")
        raw = row[col].strip().rstrip("+")
        if not raw:
            return None
        try:
            size = int(float(raw))
        except ValueError:
            raise ConfigError(f"ensemble size {row[col]!r} is not a number") from None
        if size <= 0:
            raise ConfigError(f"ensemble size must be positive, got {row[col]!r}")
        return f"{max_size}+" if size >= max_size else str(size)

    return _table(root, name=name, metadata=metadata, file_column=file_column, label_fn=label,
                  group_column=group_column)


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
    """A saved manifest file; its dataset names are kept unless empty."""
    loaded = Manifest.load(root)
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
        raise ConfigError(f"layout {key!r}: {exc}") from None


def load_dataset(spec: DatasetSpec | Mapping[str, Any]) -> Manifest:
    """Read a dataset and apply its label map, class subset and clip limit."""
    if isinstance(spec, Mapping):
        spec = DatasetSpec(**spec)
    key, _ = _layout(spec.layout)
    name = spec.name or key
    manifest = build_manifest(key, spec.root or "", name=name, **dict(spec.options))
    mapping: dict[str, str | None] = dict(DEFAULT_LABEL_MAPS.get(key, {}))
    mapping.update({normalize_label(k): v for k, v in (spec.label_map or {}).items()})
    manifest = manifest.map_labels(mapping)
    if spec.classes is not None:
        missing = sorted(set(spec.classes) - set(manifest.labels))
        if missing:
            raise ConfigError(f"dataset {name!r}: class(es) {missing} not found; it has {manifest.labels}")
        manifest = manifest.select_labels(spec.classes)
    if spec.max_clips_per_class is not None:
        if spec.max_clips_per_class <= 0:
            raise ConfigError(f"max_clips_per_class must be positive, got {spec.max_clips_per_class}")
        kept = []
        for clips in manifest.by_label().values():
            kept.extend(clips[: spec.max_clips_per_class])
        manifest = Manifest(sorted(kept, key=lambda c: c.id))
    if len(manifest) == 0:
        raise ConfigError(f"dataset {name!r} ({key} at {spec.root}) has no clips after label mapping")
    return manifest
