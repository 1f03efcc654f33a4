"""Clips and manifests: the rows every dataset adapter produces and every experiment consumes.

A :class:`Clip` is one labelled stretch of audio: a whole file, or ``duration`` seconds from
``start`` within it (lhotse's supervision segment, flattened). It carries a ``group`` (speaker,
artist, recording, album: whatever must never sit on both sides of a split) and the ``dataset`` it
came from. A :class:`Manifest` is an ordered, immutable collection of clips with the grouping and
filtering operations the protocol needs, saved as CSV or JSONL.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from speechmusic.errors import ConfigError

__all__ = ["Clip", "Manifest", "MANIFEST_COLUMNS"]

#: Column order of a manifest file.
MANIFEST_COLUMNS = ("id", "path", "label", "group", "dataset", "start", "duration")


@dataclass(frozen=True)
class Clip:
    """One labelled clip.

    ``path`` is absolute once the clip is in a manifest that was loaded or built by an adapter.
    ``start`` and ``duration`` are seconds within the file (``None``: from the beginning / to
    the end). ``id`` is unique within a manifest; adapters make it ``<dataset>/<relative path>``.
    """

    id: str
    path: str
    label: str
    group: str
    dataset: str = ""
    start: float | None = None
    duration: float | None = None

    def __post_init__(self) -> None:
        for name in ("id", "path", "label", "group"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"clip {self.id!r}: {name} must be a non-empty string, got {value!r}")
        if self.start is not None and self.start < 0:
            raise ConfigError(f"clip {self.id!r}: start must be >= 0, got {self.start}")
        if self.duration is not None and self.duration <= 0:
            raise ConfigError(f"clip {self.id!r}: duration must be > 0, got {self.duration}")

    @property
    def source_key(self) -> str:
        """What ties clips that share audio: the file path (segments of one file share it)."""
        return self.path

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, base: Path | None = None,
                  ignore_unknown: bool = False) -> Clip:
        """Build from a manifest row; empty strings mean ``None``; relative paths join ``base``.
        Columns beyond :data:`MANIFEST_COLUMNS` are an error, or skipped with ``ignore_unknown``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown and not ignore_unknown:
            raise ConfigError(f"unknown manifest column(s) {unknown}; expected {list(MANIFEST_COLUMNS)}")
        row = {k: (None if v == "" else v) for k, v in data.items() if k in known}
        for key in ("path", "label"):
            if row.get(key) is None:
                raise ConfigError(f"manifest row {dict(data)!r} lacks {key!r}")
        path = str(row["path"])
        if base is not None and not os.path.isabs(path):
            path = str((base / path).resolve())
        try:
            start = None if row.get("start") is None else float(row["start"])
            duration = None if row.get("duration") is None else float(row["duration"])
        except (TypeError, ValueError):
            raise ConfigError(f"manifest row for {path}: start/duration must be numbers") from None
        label = str(row["label"])
        return cls(id=str(row.get("id") or path), path=path, label=label,
                   group=str(row.get("group") or path), dataset=str(row.get("dataset") or ""),
                   start=start, duration=duration)


class Manifest(Sequence[Clip]):
    """An ordered collection of clips with unique ids.

    Operations return new manifests (it is never modified in place), so one loaded dataset can
    feed several tasks. Index it like a list; ``manifest[i]`` is a :class:`Clip`.
    """

    def __init__(self, clips: Iterable[Clip] = ()) -> None:
        self._clips: tuple[Clip, ...] = tuple(clips)
        seen: set[str] = set()
        for clip in self._clips:
            if not isinstance(clip, Clip):
                raise ConfigError(f"a manifest holds Clip objects, got {type(clip).__name__}")
            if clip.id in seen:
                raise ConfigError(f"duplicate clip id {clip.id!r} in manifest")
            seen.add(clip.id)

    # ------------------------------------------------------------------ sequence protocol
    def __len__(self) -> int:
        return len(self._clips)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return Manifest(self._clips[index])
        return self._clips[index]

    def __iter__(self) -> Iterator[Clip]:
        return iter(self._clips)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Manifest) and self._clips == other._clips

    def __add__(self, other: Manifest) -> Manifest:
        return Manifest(self._clips + tuple(other))

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(self.label_counts().items()))
        return f"Manifest({len(self)} clips; {counts})"

    # ------------------------------------------------------------------ facts
    @property
    def labels(self) -> list[str]:
        """Distinct labels, sorted."""
        return sorted({c.label for c in self._clips})

    @property
    def groups(self) -> list[str]:
        """Distinct groups, sorted."""
        return sorted({c.group for c in self._clips})

    @property
    def datasets(self) -> list[str]:
        return sorted({c.dataset for c in self._clips})

    def label_counts(self) -> dict[str, int]:
        return dict(Counter(c.label for c in self._clips))

    def ids(self) -> list[str]:
        return [c.id for c in self._clips]

    # ------------------------------------------------------------------ transformations
    def filter(self, predicate: Callable[[Clip], bool]) -> Manifest:
        return Manifest(c for c in self._clips if predicate(c))

    def subset(self, indices: Iterable[int]) -> Manifest:
        return Manifest(self._clips[i] for i in indices)

    def without_ids(self, ids: Iterable[str]) -> Manifest:
        drop = set(ids)
        return self.filter(lambda c: c.id not in drop)

    def map_labels(self, mapping: Mapping[str, str | None], *, strict: bool = False) -> Manifest:
        """Rename labels; a label mapped to ``None`` drops its clips.

        Labels missing from ``mapping`` are kept as they are, or raise :class:`ConfigError`
        with ``strict``.
        """
        out = []
        for clip in self._clips:
            if clip.label in mapping:
                new = mapping[clip.label]
                if new is None:
                    continue
                out.append(replace(clip, label=str(new)))
            elif strict:
                raise ConfigError(f"label {clip.label!r} of {clip.id} is not in the label map "
                                  f"{sorted(mapping)}")
            else:
                out.append(clip)
        return Manifest(out)

    def select_labels(self, classes: Iterable[str]) -> Manifest:
        """Keep only clips whose label is in ``classes``."""
        keep = set(classes)
        return self.filter(lambda c: c.label in keep)

    def with_dataset(self, name: str) -> Manifest:
        """Set every clip's ``dataset``; ids and groups are prefixed so datasets can be combined."""
        return Manifest(replace(c, dataset=name,
                                id=c.id if c.id.startswith(f"{name}/") else f"{name}/{c.id}",
                                group=c.group if c.group.startswith(f"{name}:") else f"{name}:{c.group}")
                        for c in self._clips)

    def by_label(self) -> dict[str, Manifest]:
        out: dict[str, list[Clip]] = {}
        for c in self._clips:
            out.setdefault(c.label, []).append(c)
        return {k: Manifest(v) for k, v in sorted(out.items())}

    # ------------------------------------------------------------------ files
    def to_records(self) -> list[dict[str, Any]]:
        return [c.to_dict() for c in self._clips]

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(MANIFEST_COLUMNS), lineterminator="\n")
        writer.writeheader()
        for rec in self.to_records():
            writer.writerow({k: "" if v is None else v for k, v in rec.items()})
        return buf.getvalue()

    def to_jsonl(self) -> str:
        return "".join(json.dumps(rec, ensure_ascii=False) + "\n" for rec in self.to_records())

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``.csv`` or ``.jsonl`` (by extension), atomically; returns the path."""
        from speechmusic.data.files import atomic_write_text

        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".csv":
            text = self.to_csv()
        elif suffix in (".jsonl", ".json"):
            text = self.to_jsonl()
        else:
            raise ConfigError(f"{path}: a manifest is saved as .csv or .jsonl")
        return atomic_write_text(path, text)

    @classmethod
    def load(cls, path: str | os.PathLike, *, ignore_unknown: bool = False) -> Manifest:
        """Read a ``.csv`` or ``.jsonl`` manifest; relative paths are taken from its folder.
        Columns other than :data:`MANIFEST_COLUMNS` are an error unless ``ignore_unknown``."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: no such manifest file")
        base = path.resolve().parent
        text = path.read_text(encoding="utf-8")
        suffix = path.suffix.lower()
        if suffix == ".csv":
            rows: list[dict[str, Any]] = list(csv.DictReader(io.StringIO(text)))
        elif suffix in (".jsonl", ".json"):
            rows = []
            for n, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except ValueError as exc:
                    raise ConfigError(f"{path}:{n}: not JSON: {exc}") from None
        else:
            raise ConfigError(f"{path}: a manifest is .csv or .jsonl")
        return cls(Clip.from_dict(r, base=base, ignore_unknown=ignore_unknown) for r in rows)
