"""Segments and the file formats they are written in (and read back from).

Every writer takes the same list of :class:`Segment` and every reader gives it back, so a
round trip through any format returns the labels and times (to the format's precision).

=========  ==========================================================================
format     what it is
=========  ==========================================================================
csv        ``label,start,stop,probability`` with a header (inaSpeechSegmenter's columns first)
ina        exactly what inaSpeechSegmenter 0.6.8's ``ina_speech_segmenter.py`` writes
           (``.csv``): tab-separated, header ``labels<TAB>start<TAB>stop``, times as pandas
           prints the original's ``frame * 0.02`` floats (``0.46``, ``7.140000000000001``)
textgrid   Praat TextGrid, one IntervalTier named ``inaSpeechSegmenter`` as the original's
audacity   Audacity label track: ``start<TAB>stop<TAB>label``
rttm       NIST RTTM ``SPEAKER`` lines (the label as speaker name; 'noEnergy' left out)
json       ``{"file", "engine", "segments": [{"label", "start", "stop", "probability"}]}``
mirex      MIREX 2018 speech/music detection: ``onset<TAB>offset<TAB>class`` per line (``.lab``;
           'noEnergy' left out, ``speech+music`` written as two lines)
=========  ==========================================================================

Overlapping classes (an overlap-aware engine, :mod:`speechmusic.segment.overlap`) come as
*tiers*, one list of segments per class (where it holds): :func:`format_tiers` writes one
IntervalTier per class in TextGrid (the class's name as the tier's and the interval's text,
empty text elsewhere), one line per segment of every tier in mirex, Audacity and RTTM, both the
flat segmentation and the tiers in JSON (``"tiers": {class: [...]}``); csv and ina, which have
no room for overlaps, get the flat segmentation (``speech+music`` where both hold).
:func:`read_segments` gives back the tiers' segments, overlapping, in start order (and
:func:`read_tiers` them grouped by class).

:func:`merge_short_segments` is pyannote's ``min_duration_on`` for these lists: segments
shorter than a minimum duration are merged into their neighbours.
"""

from __future__ import annotations

import csv
import heapq
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
           "format_segments", "parse_segments", "labels_on_grid", "merge_short_segments",
           "format_tiers", "write_tiers", "read_tiers", "TIER_FORMATS"]

FORMATS = ("csv", "ina", "textgrid", "audacity", "rttm", "json", "mirex")
#: Formats that hold overlapping classes (tiers); the others get the flat segmentation.
TIER_FORMATS = ("textgrid", "audacity", "rttm", "json", "mirex")
#: The file extension of each format ('csv' and 'ina' share '.csv', as the original writes it;
#: :func:`read_segments` tells them apart by the header).
EXTENSIONS = {"csv": ".csv", "ina": ".csv", "textgrid": ".TextGrid", "audacity": ".txt",
              "rttm": ".rttm", "json": ".json", "mirex": ".lab"}
SILENCE = "noEnergy"
#: The tier name of inaSpeechSegmenter's TextGrid export (``export_funcs.seg2textgrid``).
TEXTGRID_TIER = "inaSpeechSegmenter"
#: inaSpeechSegmenter's time step: its times are ``frame_index * 0.02``.
INA_STEP = 0.02


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


def merge_short_segments(segments: list[Segment], min_duration_on: float) -> list[Segment]:
    """pyannote's ``min_duration_on`` for a segmentation: every segment other than 'noEnergy'
    shorter than ``min_duration_on`` seconds is merged into its longer neighbour (the adjacent
    segment, touching it, that is not 'noEnergy'; the earlier one on a tie), whose label it takes;
    the segment on its other side, if it has that label too, is joined as well. A merged segment's
    probability is the duration-weighted mean of the probabilities of the joined segments that
    had its label (the absorbed short one counting as its neighbour's).
    Shortest segments go first, so a short segment between two others is absorbed before they
    are compared. Segments with no such neighbour (e.g. between two 'noEnergy' pauses) stay as
    they are, and 'noEnergy' is never changed (pauses are the segmenter's ``min_duration_off``).
    ``min_duration_on=0`` returns the segments unchanged."""
    if min_duration_on < 0:
        raise ConfigError(f"min_duration_on must be >= 0 seconds, got {min_duration_on}")
    segs = list(segments)
    if min_duration_on == 0 or len(segs) < 2:
        return segs
    limit = min_duration_on - 1e-9  # "shorter than": a 0.1 s segment at 5.0-5.1 is not < 0.1
    n = len(segs)
    prev, nxt = list(range(-1, n - 1)), list(range(1, n + 1))
    nxt[-1] = -1
    alive = [True] * n
    version = [0] * n
    heap = [(s.duration, i, 0) for i, s in enumerate(segs)
            if s.label != SILENCE and s.duration < limit]
    heapq.heapify(heap)

    def neighbour(i: int, j: int) -> bool:
        if j < 0 or segs[j].label == SILENCE:
            return False
        a, b = (segs[j], segs[i]) if j < i else (segs[i], segs[j])
        return abs(a.stop - b.start) <= 1e-6

    def join(left: int, right: int, label: str, probability: float | None) -> int:
        """Replace ``left`` and ``right`` (adjacent) by one segment at ``left``."""
        segs[left] = Segment(label, segs[left].start, segs[right].stop, probability)
        alive[right] = False
        nxt[left] = nxt[right]
        if nxt[right] >= 0:
            prev[nxt[right]] = left
        version[left] += 1
        return left

    while heap:
        _, i, v = heapq.heappop(heap)
        if not alive[i] or v != version[i] or segs[i].duration >= limit:
            continue
        candidates = [j for j in (prev[i], nxt[i]) if neighbour(i, j)]
        if not candidates:
            continue
        target = max(candidates, key=lambda j: (segs[j].duration, j == prev[i]))
        label, probability = segs[target].label, segs[target].probability
        k = join(target, i, label, probability) if target == prev[i] else join(i, target, label, probability)
        for j in (prev[k], nxt[k]):  # the other side, now the same label: one segment
            if j >= 0 and segs[j].label == label and neighbour(k, j):
                probability = _weighted(segs[k], segs[j])
                k = join(j, k, label, probability) if j == prev[k] else join(k, j, label, probability)
        if segs[k].duration < limit:
            heapq.heappush(heap, (segs[k].duration, k, version[k]))
    return [s for s, keep in zip(segs, alive, strict=True) if keep]


def _weighted(a: Segment, b: Segment) -> float | None:
    """The duration-weighted mean probability of ``a`` and ``b`` (None if either has none)."""
    if a.probability is None or b.probability is None or a.duration + b.duration <= 0:
        return None
    return (a.probability * a.duration + b.probability * b.duration) / (a.duration + b.duration)


def _ina_time(t: float) -> str:
    """A time as inaSpeechSegmenter's csv prints it: pandas' repr of the float
    ``frame * 0.02`` (the original's arithmetic), for times on its 20 ms grid."""
    k = round(t / INA_STEP)
    on_grid = abs(k * INA_STEP - t) <= 1e-9
    return repr(float(k * INA_STEP) if on_grid else float(t))


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
    if fmt == "ina":
        # pd.DataFrame.from_records(lseg, columns=['labels', 'start', 'stop'])
        #   .to_csv(fout, sep='\t', index=False)
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter="\t", lineterminator="\n")
        writer.writerow(["labels", "start", "stop"])
        for s in segments:
            writer.writerow([s.label, _ina_time(s.start), _ina_time(s.stop)])
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
    if fmt == "mirex":
        return "".join(f"{s.start:.3f}\t{s.stop:.3f}\t{label}\n" for s in segments if s.label != SILENCE
                       for label in s.label.split("+"))
    if fmt == "textgrid":
        xmax = segments[-1].stop if segments else 0.0
        lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "",
                 "xmin = 0", f"xmax = {xmax!r}", "tiers? <exists>", "size = 1", "item []:",
                 "    item [1]:", '        class = "IntervalTier"', f'        name = "{TEXTGRID_TIER}"',
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
        if fmt == "ina":
            rows = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
            return [Segment(r["labels"], float(r["start"]), float(r["stop"])) for r in rows]
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
            data = json.loads(text)
            if "tiers" in data:
                return sorted((Segment(**s) for tier in data["tiers"].values() for s in tier),
                              key=lambda s: (s.start, s.label))
            return [Segment(**s) for s in data["segments"]]
        if fmt == "mirex":
            out = []
            for line in text.splitlines():
                if line.strip():
                    start, stop, label = line.split("\t", 2)
                    out.append(Segment(label.strip(), float(start), float(stop)))
            return out
        if fmt == "textgrid":
            found = re.findall(r"xmin = ([^\n]+)\n\s*xmax = ([^\n]+)\n\s*text = \"((?:[^\"]|\"\")*)\"", text)
            segs = [Segment(t.replace('""', '"'), float(a), float(b)) for a, b, t in found]
            if len(re.findall(r'class = "IntervalTier"', text)) > 1:  # tiers: the labelled intervals
                segs = sorted((s for s in segs if s.label), key=lambda s: (s.start, s.label))
            return segs
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
    """Read a segment file written by :func:`write_segments` or by inaSpeechSegmenter (its csv:
    a ``.csv`` file whose header is ``labels<TAB>start<TAB>stop`` is read as format 'ina')."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if fmt is None and path.suffix.lower() == ".csv" and text.startswith("labels\t"):
        fmt = "ina"
    return parse_segments(text, fmt or _fmt_from_path(path))


def _fmt_from_path(path: Path) -> str:
    suffix = path.suffix.lower()
    for fmt, ext in EXTENSIONS.items():
        if suffix == ext.lower():
            return fmt
    raise ConfigError(f"{path}: cannot tell the segment format from the extension; pass fmt=")


def format_tiers(tiers: dict[str, list[Segment]], fmt: str, *, segments: list[Segment] | None = None,
                 duration: float | None = None, name: str = "file", engine: str = "speechmusic") -> str:
    """The text of overlapping classes ``tiers`` (class -> its segments) in format ``fmt``; the
    flat ``segments`` for csv and ina (and JSON's ``segments``). ``duration``: the TextGrid's end
    (default: the last stop)."""
    every = sorted((s for tier in tiers.values() for s in tier), key=lambda s: (s.start, s.label))
    if fmt in ("csv", "ina"):
        if segments is None:
            raise ConfigError(f"format {fmt!r} needs the flat segmentation (segments=)")
        return format_segments(segments, fmt, name=name, engine=engine)
    if fmt in ("audacity", "rttm", "mirex"):
        return format_segments(every, fmt, name=name, engine=engine)
    if fmt == "json":
        return json.dumps({"file": name, "engine": engine,
                           "segments": [asdict(s) for s in (segments if segments is not None else every)],
                           "tiers": {k: [asdict(s) for s in v] for k, v in tiers.items()}}, indent=1) + "\n"
    if fmt == "textgrid":
        ends = [s.stop for s in every] + [s.stop for s in segments or []]
        xmax = float(duration if duration is not None else max(ends, default=0.0))
        lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "",
                 "xmin = 0", f"xmax = {xmax!r}", "tiers? <exists>", f"size = {len(tiers)}", "item []:"]
        for k, (label, tier) in enumerate(tiers.items(), 1):
            intervals: list[tuple[float, float, str]] = []
            t = 0.0
            for s in sorted(tier, key=lambda s: s.start):
                if s.start > t:
                    intervals.append((t, s.start, ""))
                intervals.append((s.start, s.stop, s.label))
                t = s.stop
            if xmax > t or not intervals:
                intervals.append((t, max(xmax, t), ""))
            lines += [f"    item [{k}]:", '        class = "IntervalTier"', f'        name = "{label}"',
                      "        xmin = 0", f"        xmax = {xmax!r}", f"        intervals: size = {len(intervals)}"]
            for i, (a, b, text) in enumerate(intervals, 1):
                text = text.replace('"', '""')
                lines += [f"        intervals [{i}]:", f"            xmin = {a!r}",
                          f"            xmax = {b!r}", f'            text = "{text}"']
        return "\n".join(lines) + "\n"
    raise ConfigError(f"unknown segment format {fmt!r}; choose one of {FORMATS}")


def write_tiers(tiers: dict[str, list[Segment]], path: str | os.PathLike, *, fmt: str | None = None,
                segments: list[Segment] | None = None, duration: float | None = None,
                name: str | None = None, engine: str = "speechmusic") -> Path:
    """Write ``tiers`` (see :func:`format_tiers`) to ``path``, atomically."""
    path = Path(path)
    fmt = fmt or _fmt_from_path(path)
    text = format_tiers(tiers, fmt, segments=segments, duration=duration, name=name or path.stem, engine=engine)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_tiers(path: str | os.PathLike, *, fmt: str | None = None) -> dict[str, list[Segment]]:
    """The segments of a file, grouped by label (the tiers of an overlapping segmentation;
    'noEnergy' and empty labels left out), each in start order."""
    out: dict[str, list[Segment]] = {}
    for s in read_segments(path, fmt=fmt):
        if s.label and s.label != SILENCE:
            out.setdefault(s.label, []).append(s)
    return {k: sorted(v, key=lambda s: s.start) for k, v in out.items()}
