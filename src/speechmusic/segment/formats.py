"""Segments and the file formats they are written in (and read back from).

Every writer takes the same list of :class:`Segment` and every reader gives it back, so a
round trip through any format returns the labels and times (to the format's precision).

=========  ==========================================================================
format     what it is
=========  ==========================================================================
csv        ``label,start,stop,probability`` with a header (inaSpeechSegmenter's columns first)
textgrid   Praat TextGrid, one IntervalTier named after the engine
audacity   Audacity label track: ``start<TAB>stop<TAB>label``
rttm       NIST RTTM ``SPEAKER`` lines (the label as speaker name; 'noEnergy' left out)
json       ``{"file", "engine", "segments": [{"label", "start", "stop", "probability"}]}``
=========  ==========================================================================
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from speechmusic.errors import ConfigError, SpeechMusicError

__all__ = ["Segment", "FORMATS", "EXTENSIONS", "write_segments", "read_segments",
           "format_segments", "parse_segments", "labels_on_grid"]

FORMATS = ("csv", "textgrid", "audacity", "rttm", "json")
EXTENSIONS = {"csv": ".csv", "textgrid": ".TextGrid", "audacity": ".txt", "rttm": ".rttm",
              "json": ".json"}
SILENCE = "noEnergy"


@dataclass(frozen=True)
class Segment:
    """A labelled region in seconds, with the mean probability of its label (None where no
    network decided it, e.g. 'noEnergy')."""

    label: str
    start: float
    stop: float
    probability: float | None = None

    @property
    def duration(self) -> float:
        return self.stop - self.start


def labels_on_grid(segments: list[Segment], n_points: int, *, grid: float = 0.02) -> np.ndarray:
    """The label of each ``grid``-second frame, ``[n_points]`` (``""`` where no segment lies);
    the common ground for frame-wise comparison of two segmentations."""
    out = np.full(n_points, "", dtype=object)
    for s in segments:
        out[int(round(s.start / grid)): int(round(s.stop / grid))] = s.label
    return out


def _prob(p: float | None) -> str:
    return "" if p is None or (isinstance(p, float) and math.isnan(p)) else f"{p:.4f}"


def format_segments(segments: list[Segment], fmt: str, *, name: str = "file",
                    engine: str = "speechmusic") -> str:
    """The text of ``segments`` in format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["label", "start", "stop", "probability"])
        for s in segments:
            writer.writerow([s.label, f"{s.start:.2f}", f"{s.stop:.2f}", _prob(s.probability)])
        return buf.getvalue()
    if fmt == "audacity":
        return "".join(f"{s.start:.6f}\t{s.stop:.6f}\t{s.label}\n" for s in segments)
    if fmt == "rttm":
        safe = re.sub(r"\s+", "_", name) or "file"
        return "".join(f"SPEAKER {safe} 1 {s.start:.3f} {s.duration:.3f} <NA> <NA> {s.label} <NA> <NA>\n"
                       for s in segments if s.label != SILENCE)
    if fmt == "json":
        return json.dumps({"file": name, "engine": engine,
                           "segments": [asdict(s) for s in segments]}, indent=1) + "\n"
    if fmt == "textgrid":
        xmax = segments[-1].stop if segments else 0.0
        lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "",
                 "xmin = 0", f"xmax = {xmax!r}", "tiers? <exists>", "size = 1", "item []:",
                 "    item [1]:", '        class = "IntervalTier"', f'        name = "{engine}"',
                 "        xmin = 0", f"        xmax = {xmax!r}",
                 f"        intervals: size = {len(segments)}"]
        for i, s in enumerate(segments, 1):
            label = s.label.replace('"', '""')
            lines += [f"        intervals [{i}]:", f"            xmin = {s.start!r}",
                      f"            xmax = {s.stop!r}", f'            text = "{label}"']
        return "\n".join(lines) + "\n"
    raise ConfigError(f"unknown segment format {fmt!r}; choose one of {FORMATS}")


def parse_segments(text: str, fmt: str) -> list[Segment]:
    """Segments from the text of a file in format ``fmt``; raises SpeechMusicError if malformed."""
    try:
        if fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(text)))
            return [Segment(r["label"], float(r["start"]), float(r["stop"]),
                            float(r["probability"]) if r.get("probability") else None) for r in rows]
        if fmt == "audacity":
            out = []
            for line in text.splitlines():
                if line.strip() and not line.startswith("\\"):
                    start, stop, label = line.split("\t", 2)
                    out.append(Segment(label, float(start), float(stop)))
            return out
        if fmt == "rttm":
            out = []
            for line in text.splitlines():
                parts = line.split()
                if parts and parts[0] == "SPEAKER":
                    start, dur = float(parts[3]), float(parts[4])
                    out.append(Segment(parts[7], start, round(start + dur, 6)))
            return out
        if fmt == "json":
            return [Segment(**s) for s in json.loads(text)["segments"]]
        if fmt == "textgrid":
            found = re.findall(r"xmin = ([^\n]+)\n\s*xmax = ([^\n]+)\n\s*text = \"((?:[^\"]|\"\")*)\"", text)
            return [Segment(t.replace('""', '"'), float(a), float(b)) for a, b, t in found]
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise SpeechMusicError(f"malformed {fmt} segment file: {exc}") from None
    raise ConfigError(f"unknown segment format {fmt!r}; choose one of {FORMATS}")


def write_segments(segments: list[Segment], path: str | os.PathLike, *, fmt: str | None = None,
                   name: str | None = None, engine: str = "speechmusic") -> Path:
    """Write ``segments`` to ``path`` (format from ``fmt`` or the extension), atomically."""
    path = Path(path)
    fmt = fmt or _fmt_from_path(path)
    text = format_segments(segments, fmt, name=name or path.stem, engine=engine)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_segments(path: str | os.PathLike, *, fmt: str | None = None) -> list[Segment]:
    """Read a segment file written by :func:`write_segments` (or by inaSpeechSegmenter, for csv)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if fmt is None and path.suffix == ".csv" and text.startswith("labels\t"):
        # inaSpeechSegmenter's own csv: tab-separated "labels start stop"
        text = "label,start,stop\n" + "\n".join(",".join(line.split("\t")) for line in text.splitlines()[1:])
    return parse_segments(text, fmt or _fmt_from_path(path))


def _fmt_from_path(path: Path) -> str:
    suffix = path.suffix.lower()
    for fmt, ext in EXTENSIONS.items():
        if suffix == ext.lower():
            return fmt
    raise ConfigError(f"{path}: cannot tell the segment format from the extension; pass fmt=")
