"""Scoring speech/music detection as MIREX 2018 did, with sed_eval.

MIREX 2018's task "Music and/or Speech Detection" (task page:
music-ir.org/mirex/wiki/2018:Music_and/or_Speech_Detection) scored its entries with a script of
the task's organisers, built on sed_eval (github.com/BlaiMelendezCatalan/MIREX2018_eval, last
commit f55c053 of 2018-09-13). The settings of that last version, which are our defaults (which
version produced the published results tables could not be checked here):

* input: one file per recording on each side, with the same name, rows ``onset<TAB>offset<TAB>class``;
* segment-based: sed_eval's ``SegmentBasedMetrics`` on **10 ms** segments (``TIME_RESOLUTION =
  0.01``). Time annotated with no class, in the reference and in the estimate alike, is filled
  with a class ``-`` up to the recording's duration (``fill_event_gaps``, commits 9c025b5 and
  8985672), which is scored like the others. Per class: precision, recall, F-measure;
  **accuracy** is ``Ntp / Nref`` summed over all classes, ``-`` included (commit f55c053, "Fixed
  accuracy computation": the fraction of reference class activity found). The task page and the
  script's README still give sed_eval's accuracy, ``(TP + TN) / (TP + TN + FP + FN)``, which
  counts each segment's correct absences too;
* event-based: sed_eval's ``EventBasedMetrics`` with ``t_collar = 0.5`` s and
  ``percentage_of_length = 0``, onsets only (commit c5c1b34 of 2018-09-05, "Onset-only
  event-based evaluation by default"; the task page describes onset and offset matching, which
  ``offsets=True`` gives: the offset then must lie within max(0.5 s, 0 x the reference event's
  length)). Per class and overall: precision, recall, F-measure, deletion, insertion and error
  rates. No gap class here;
* figures over a data set: the files' counts summed (the same as one sed_eval object fed every
  file), then the metrics. One difference: MIREX's data-set overall event error rate is ``D + I``,
  sed_eval's (ours, and MIREX's per-file one) ``S + D + I``; ``substitution_rate`` is given so
  either can be had.

Classes are independent binary activities (sed_eval's event roll), as in the "Music and Speech
Detection" sub-task: speech over music is a speech event and a music event. ``classes=("music",)``
or ``("speech",)`` are the other two sub-tasks.

What this module adds around sed_eval:

* labels: any segmentation the segmenter writes (csv, ina, TextGrid, Audacity, RTTM, JSON; see
  :mod:`speechmusic.segment.formats`) or MIREX's text files; labels are mapped to classes without
  regard to case (:data:`DEFAULT_LABEL_MAP`: INA's ``male``/``female`` are speech, ``noEnergy``,
  ``noise``, ``silence``, ``no-music``, ``no-speech``, ``-`` and empty labels are no class; a label
  naming a scored class is that class; ``A+B`` (``speech+music``) is both); a label none of these
  covers is an error, mapped with ``label_map``;
* events: times are rounded to the microsecond (so that every format's round trip scores the
  same), clipped to ``[0, duration]``, and each class's touching or overlapping segments merged
  into one event (INA's ``male`` then ``female`` is one speech event);
* duration: given (``durations``, or the audio files' as MIREX did), else the reference's last
  offset, whatever its label (else, for an empty reference, the estimate's). Estimates are clipped
  to it;
* speed: segment counts are sed_eval's own sums over its own event rolls
  (``event_list_to_event_roll``), taken with NumPy instead of sed_eval's per-segment loop (15 s
  per hour of audio); the counts and every metric equal sed_eval's (tests/evaluation);
* 95 % confidence intervals: bootstrap over files, percentile method. Resample ``b`` is the
  files ``numpy.random.default_rng(seed).integers(0, n_files, size=(n_boot, n_files))[b]``
  (with repeats), its counts summed and scored like the data set; the interval is
  ``numpy.nanpercentile(values, [2.5, 97.5])`` (resamples where a metric is undefined left out).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import sys
import types
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from speechmusic.errors import ConfigError, SpeechMusicError
from speechmusic.segment.formats import EXTENSIONS, Segment, read_segments

__all__ = [
    "GAP", "DEFAULT_CLASSES", "DEFAULT_LABEL_MAP", "MIREX_TEXT_SUFFIXES", "DetectionSettings",
    "FileScore", "DetectionResults", "class_events", "recording_duration", "score_file",
    "score_detection", "parse_label_map", "read_events", "pair_files", "audio_durations",
    "evaluate_detection",
]

log = logging.getLogger(__name__)

#: The class of time annotated with no class (MIREX's ``fill_event_gaps``), in segment metrics.
GAP = "-"
#: MIREX 2018's "Music and Speech Detection" classes.
DEFAULT_CLASSES = ("speech", "music")
#: Labels (compared in lower case) and the classes they count for. A label naming a scored class
#: counts for it; ``A+B`` counts for the classes of ``A`` and of ``B``.
DEFAULT_LABEL_MAP: dict[str, tuple[str, ...]] = {
    "speech": ("speech",), "male": ("speech",), "female": ("speech",),
    "music": ("music",),
    "noenergy": (), "noise": (), "silence": (), "no-music": (), "no-speech": (), "-": (), "": (),
}
#: Extensions read as MIREX's text files (``onset offset class`` per line, tab- or blank-separated).
MIREX_TEXT_SUFFIXES = (".txt", ".lab", ".tsv", ".ann", "")
#: Files a segmenter's output folder holds beside the segmentations (frame probabilities, failures).
_SIDE_FILES = (".frames.csv",)
_SIDE_NAMES = ("failed.tsv",)
_SEGMENT_SUFFIXES = frozenset(e.lower() for e in EXTENSIONS.values())
_READ_SUFFIXES = _SEGMENT_SUFFIXES | frozenset(MIREX_TEXT_SUFFIXES)

_SEGMENT_KEYS = ("precision", "recall", "f_measure")
_EVENT_KEYS = ("precision", "recall", "f_measure", "deletion_rate", "insertion_rate", "error_rate")


# ------------------------------------------------------------------------------- sed_eval
def _sed_eval():
    """sed_eval (and its event-roll helpers), imported on first use.

    Its container library, dcase_util, imports ``pkg_resources`` at module level, only for an
    installation check and example files that nothing here calls; setuptools >= 81 no longer ships
    it. Where it is missing, an empty module stands in for that import alone and is taken out of
    ``sys.modules`` again; the warning filters the import sets are restored too."""
    if "sed_eval.util.event_roll" in sys.modules:
        return sys.modules["sed_eval"]
    stub = None
    if "pkg_resources" not in sys.modules and importlib.util.find_spec("pkg_resources") is None:
        stub = types.ModuleType("pkg_resources")
        sys.modules["pkg_resources"] = stub
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import dcase_util.containers  # noqa: F401
            import sed_eval
            import sed_eval.util.event_roll  # noqa: F401
    except ImportError as exc:
        raise SpeechMusicError(f"scoring detection needs sed_eval (pip install sed_eval): {exc}") from None
    finally:
        if stub is not None and sys.modules.get("pkg_resources") is stub:
            del sys.modules["pkg_resources"]
    return sed_eval


def _container(events: Iterable[dict]):
    from dcase_util.containers import MetaDataContainer

    return MetaDataContainer(list(events))


# ------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class DetectionSettings:
    """What is scored and how (MIREX 2018's settings by default; see the module's docstring).

    ``label_map`` maps labels (any case) to tuples of classes, ``()`` for none; it takes
    precedence over :data:`DEFAULT_LABEL_MAP`. ``collar`` is the onset tolerance in seconds;
    ``offsets`` also requires each offset within max(``collar``, ``offset_fraction`` x the
    reference event's length) (sed_eval's ``percentage_of_length``; DCASE uses 0.2)."""

    classes: tuple[str, ...] = DEFAULT_CLASSES
    label_map: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    time_resolution: float = 0.01
    collar: float = 0.5
    offsets: bool = False
    offset_fraction: float = 0.0

    def __post_init__(self) -> None:
        classes = tuple(str(c) for c in self.classes)
        if not classes:
            raise ConfigError("no class to score")
        if len({c.lower() for c in classes}) != len(classes):
            raise ConfigError(f"classes given twice: {', '.join(classes)}")
        for c in classes:
            if not c.strip() or c in (GAP, "overall") or "+" in c:
                raise ConfigError(f"{c!r} cannot be a class name")
        label_map = {}
        for label, targets in dict(self.label_map).items():
            targets = (targets,) if isinstance(targets, str) else tuple(targets)
            for t in targets:
                if t not in classes:
                    raise ConfigError(f"label {label!r} is mapped to {t!r}, which is not a scored "
                                      f"class ({', '.join(classes)})")
            label_map[str(label).strip().lower()] = targets
        for name in ("time_resolution", "collar"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a positive number of seconds, not {value!r}")
        if not (isinstance(self.offset_fraction, int | float) and 0 <= self.offset_fraction <= 1):
            raise ConfigError(f"offset_fraction must lie in [0, 1], not {self.offset_fraction!r}")
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "label_map", label_map)
        object.__setattr__(self, "time_resolution", float(self.time_resolution))
        object.__setattr__(self, "collar", float(self.collar))
        object.__setattr__(self, "offset_fraction", float(self.offset_fraction))

    @property
    def segment_labels(self) -> tuple[str, ...]:
        """The classes of the segment-based metrics: the scored ones and :data:`GAP`."""
        return (*self.classes, GAP)

    def classes_of(self, label: str) -> tuple[str, ...] | None:
        """The scored classes ``label`` counts for (``()`` for none), None if it is unknown."""
        key = str(label).strip().lower()
        if key in self.label_map:
            return self.label_map[key]
        by_name = {c.lower(): c for c in self.classes}
        if key in by_name:
            return (by_name[key],)
        if key in DEFAULT_LABEL_MAP:
            return tuple(by_name[c] for c in DEFAULT_LABEL_MAP[key] if c in by_name)
        if "+" in key:
            parts = [self.classes_of(p) for p in key.split("+")]
            if any(p is None for p in parts):
                return None
            return tuple(c for c in self.classes if any(c in p for p in parts))
        return None

    def describe(self) -> dict[str, Any]:
        return {"classes": list(self.classes), "gap_class": GAP,
                "time_resolution": self.time_resolution, "collar": self.collar,
                "offsets": self.offsets, "offset_fraction": self.offset_fraction,
                "label_map": {k: list(v) for k, v in self.label_map.items()}}


def parse_label_map(items: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """``["male=speech", "jingle=music,speech", "noise="]`` as a ``label_map``."""
    out: dict[str, tuple[str, ...]] = {}
    for item in items:
        label, sep, targets = item.partition("=")
        if not sep:
            raise ConfigError(f"label mapping {item!r} is not LABEL=CLASS[,CLASS] (LABEL= for none)")
        out[label.strip().lower()] = tuple(t.strip() for t in targets.split(",") if t.strip())
    return out


# ------------------------------------------------------------------------------- events
def _snap(t: float) -> float:
    return round(float(t), 6)


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for start, stop in sorted(intervals):
        if out and start <= out[-1][1]:
            if stop > out[-1][1]:
                out[-1] = (out[-1][0], stop)
        else:
            out.append((start, stop))
    return out


def recording_duration(reference: Sequence[Segment], estimate: Sequence[Segment] = ()) -> float:
    """The duration assumed where none is given: the reference's last offset (any label), or the
    estimate's where the reference has no segment."""
    for side in (reference, estimate):
        if side:
            return max(_snap(s.stop) for s in side)
    return 0.0


def class_events(segments: Sequence[Segment], *, settings: DetectionSettings | None = None,
                 duration: float | None = None, source: str = "segments"
                 ) -> dict[str, list[tuple[float, float]]]:
    """Each scored class's events ``(onset, offset)``: labels mapped, times rounded to the
    microsecond and clipped to ``[0, duration]``, touching or overlapping events merged.
    Raises ConfigError for labels the mapping does not cover (``source`` names the file)."""
    settings = settings or DetectionSettings()
    out: dict[str, list[tuple[float, float]]] = {c: [] for c in settings.classes}
    unknown: set[str] = set()
    for s in segments:
        targets = settings.classes_of(s.label)
        if targets is None:
            unknown.add(s.label)
            continue
        start, stop = _snap(s.start), _snap(s.stop)
        if not (math.isfinite(start) and math.isfinite(stop)):
            raise SpeechMusicError(f"{source}: segment {s.label!r} has a time that is not finite")
        start = max(start, 0.0)
        if duration is not None:
            stop = min(stop, duration)
        if stop <= start:
            continue
        for c in targets:
            out[c].append((start, stop))
    if unknown:
        raise ConfigError(
            f"{source}: label(s) {', '.join(repr(u) for u in sorted(unknown))} count for no known "
            f"class; map them with --map LABEL=CLASS[,CLASS] (LABEL= for no class) or label_map="
            f"{{LABEL: (CLASS, ...)}} (scored classes: {', '.join(settings.classes)})")
    return {c: _merge(v) for c, v in out.items()}


def _gap(events: Mapping[str, list[tuple[float, float]]], duration: float) -> list[tuple[float, float]]:
    """Where no class is active in ``[0, duration]``."""
    out, t = [], 0.0
    for start, stop in _merge([iv for ivs in events.values() for iv in ivs]):
        if start > t:
            out.append((t, start))
        t = max(t, stop)
    if duration > t:
        out.append((t, duration))
    return out


def _event_dicts(events: Mapping[str, list[tuple[float, float]]]) -> list[dict]:
    return [{"event_label": c, "onset": a, "offset": b} for c, ivs in events.items() for a, b in ivs]


# ------------------------------------------------------------------------------- counts
_SEG_OVERALL = ("Ntp", "Ntn", "Nfp", "Nfn", "Nref", "Nsys", "ER", "S", "D", "I")
_SEG_CLASS = ("Ntp", "Ntn", "Nfp", "Nfn", "Nref", "Nsys")


def _segment_counts(ref: Mapping[str, list], est: Mapping[str, list], duration: float,
                    settings: DetectionSettings) -> dict:
    """sed_eval ``SegmentBasedMetrics.evaluate``'s counts (with the gap class), its loop over
    segments taken as NumPy sums over the same event rolls."""
    sed_eval = _sed_eval()
    roll = sed_eval.util.event_roll
    labels = list(settings.segment_labels)
    res = settings.time_resolution
    rolls = []
    for side in (ref, est):
        events = dict(side)
        events[GAP] = _gap(side, duration)
        rolls.append(roll.event_list_to_event_roll(_container(_event_dicts(events)), labels, res))
    length = int(math.ceil(duration * 1 / float(res)))
    r, s = roll.match_event_roll_lengths(rolls[0], rolls[1], length)
    tp, tn = (s + r) > 1, (s + r) == 0
    fp, fn = (s - r) > 0, (r - s) > 0
    n_ref, n_sys, n_tp = r.sum(axis=1), s.sum(axis=1), tp.sum(axis=1)
    overall = {"Ntp": tp.sum(), "Ntn": tn.sum(), "Nfp": fp.sum(), "Nfn": fn.sum(),
               "Nref": n_ref.sum(), "Nsys": n_sys.sum(), "ER": 0.0,
               "S": (np.minimum(n_ref, n_sys) - n_tp).sum(),
               "D": np.maximum(0, n_ref - n_sys).sum(), "I": np.maximum(0, n_sys - n_ref).sum()}
    class_wise = {}
    for k, label in enumerate(labels):
        class_wise[label] = {"Ntp": tp[:, k].sum(), "Ntn": tn[:, k].sum(), "Nfp": fp[:, k].sum(),
                             "Nfn": fn[:, k].sum(), "Nref": r[:, k].sum(), "Nsys": s[:, k].sum()}
    return {"overall": {k: float(v) for k, v in overall.items()},
            "class_wise": {c: {k: float(v) for k, v in d.items()} for c, d in class_wise.items()}}


class _Scorer:
    """sed_eval's metric objects for one setting: event counting, and metrics from counts."""

    def __init__(self, settings: DetectionSettings) -> None:
        sed_eval = _sed_eval()
        self.settings = settings
        self.segment = sed_eval.sound_event.SegmentBasedMetrics(
            list(settings.segment_labels), time_resolution=settings.time_resolution)
        self.event = sed_eval.sound_event.EventBasedMetrics(
            list(settings.classes), evaluate_onset=True, evaluate_offset=settings.offsets,
            t_collar=settings.collar, percentage_of_length=settings.offset_fraction)

    def event_counts(self, ref: Mapping[str, list], est: Mapping[str, list]) -> dict:
        self.event.reset()
        self.event.evaluate(_container(_event_dicts(ref)), _container(_event_dicts(est)))
        return {"overall": {k: float(v) for k, v in self.event.overall.items()},
                "class_wise": {c: {k: float(v) for k, v in d.items()}
                               for c, d in self.event.class_wise.items()}}

    def metrics(self, counts: Mapping[str, Any]) -> dict:
        """MIREX 2018's result dictionary from (summed) counts, by sed_eval's own methods."""
        seg, ev = self.segment, self.event
        seg.overall, seg.class_wise = dict(counts["segment"]["overall"]), dict(counts["segment"]["class_wise"])
        ev.overall, ev.class_wise = dict(counts["event"]["overall"]), dict(counts["event"]["class_wise"])
        segment: dict[str, dict[str, float]] = {}
        for c in self.settings.segment_labels:
            f = seg.class_wise_f_measure(c)
            segment[c] = {k: float(f[k]) for k in _SEGMENT_KEYS}
        n_ref = seg.overall["Nref"]
        segment["overall"] = {"accuracy": float(seg.overall["Ntp"] / n_ref) if n_ref else math.nan}
        event: dict[str, dict[str, float]] = {}
        for c in self.settings.classes:
            d = {**ev.class_wise_f_measure(c), **ev.class_wise_error_rate(c)}
            event[c] = {k: float(d[k]) for k in _EVENT_KEYS}
        d = {**ev.overall_f_measure(), **ev.overall_error_rate()}
        event["overall"] = {k: float(d[k]) for k in (*_EVENT_KEYS, "substitution_rate")}
        return {"segment": segment, "event": event}


def _flatten(tree: Mapping, prefix: tuple = ()) -> dict[tuple, float]:
    out: dict[tuple, float] = {}
    for k, v in tree.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, (*prefix, k)))
        else:
            out[(*prefix, k)] = v
    return out


def _unflatten(keys: Sequence[tuple], values: Iterable) -> dict:
    out: dict = {}
    for key, v in zip(keys, values, strict=True):
        node = out
        for k in key[:-1]:
            node = node.setdefault(k, {})
        node[key[-1]] = v
    return out


# ------------------------------------------------------------------------------- scoring
@dataclass(frozen=True)
class FileScore:
    """One recording's duration (seconds scored), sed_eval counts and MIREX-shaped metrics."""

    duration: float
    counts: dict
    metrics: dict


def score_file(reference: Sequence[Segment], estimate: Sequence[Segment], *,
               settings: DetectionSettings | None = None, duration: float | None = None,
               name: str = "file", _scorer: _Scorer | None = None) -> FileScore:
    """Score one recording's estimate against its reference (both segment lists)."""
    settings = settings or DetectionSettings()
    scorer = _scorer or _Scorer(settings)
    if duration is None:
        duration = recording_duration(reference, estimate)
    elif not (math.isfinite(duration) and duration >= 0):
        raise ConfigError(f"{name}: duration must be a number of seconds >= 0, not {duration!r}")
    duration = _snap(duration)
    ref = class_events(reference, settings=settings, duration=duration, source=f"{name} (reference)")
    beyond = max((_snap(s.stop) for s in estimate), default=0.0) - duration
    if beyond > 1.0:
        log.warning("%s: the estimate runs %.1f s past the recording's end (%.1f s) and is clipped "
                    "there; give the durations (an audio folder) if the reference ends early",
                    name, beyond, duration)
    est = class_events(estimate, settings=settings, duration=duration, source=f"{name} (estimate)")
    counts = {"segment": _segment_counts(ref, est, duration, settings),
              "event": scorer.event_counts(ref, est)}
    return FileScore(duration=duration, counts=counts, metrics=scorer.metrics(counts))


@dataclass(frozen=True)
class DetectionResults:
    """Per-file and data-set metrics (MIREX 2018's keys), with bootstrap 95 % intervals.

    ``overall`` and each ``files[name].metrics``: ``{"segment": {CLASS: {precision, recall,
    f_measure}, "overall": {accuracy}}, "event": {CLASS or "overall": {precision, recall,
    f_measure, deletion_rate, insertion_rate, error_rate}}}``; ``ci95`` has the same shape with
    ``[low, high]`` pairs (None with fewer than 2 files or no resamples)."""

    settings: DetectionSettings
    files: dict[str, FileScore]
    counts: dict
    overall: dict
    ci95: dict | None
    n_boot: int
    seed: int

    @property
    def duration(self) -> float:
        return sum(f.duration for f in self.files.values())

    def to_dict(self) -> dict:
        """JSON-ready: MIREX's keys (``segment``, ``event``, ``files``), ``ci95`` beside them,
        the settings; NaN (undefined, e.g. precision without any estimate) as None."""
        from speechmusic import __version__

        out = {"segment": self.overall["segment"], "event": self.overall["event"],
               "ci95": self.ci95,
               "files": {n: {"duration": f.duration, **f.metrics} for n, f in self.files.items()},
               "n_files": len(self.files), "duration": self.duration,
               "settings": {**self.settings.describe(),
                            "bootstrap": {"resamples": self.n_boot if self.ci95 else 0,
                                          "seed": self.seed, "unit": "file",
                                          "interval": "percentile 2.5-97.5"},
                            "sed_eval": getattr(sys.modules.get("sed_eval"), "__version__", None),
                            "speechmusic": __version__}}
        return _json_ready(out)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n"

    def to_markdown(self, *, per_file: bool = True) -> str:
        return _markdown(self, per_file=per_file)


def _json_ready(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _json_ready(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_ready(v) for v in x]
    if isinstance(x, float | np.floating):
        return None if math.isnan(x) else float(x)
    return x


def _bootstrap(scorer: _Scorer, file_counts: list[dict], n_boot: int, seed: int) -> dict:
    flat = [_flatten(c) for c in file_counts]
    keys = list(flat[0])
    matrix = np.array([[f[k] for k in keys] for f in flat], dtype=np.float64)
    n = len(file_counts)
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    metric_keys: list[tuple] | None = None
    values = []
    for row in idx:
        sums = np.bincount(row, minlength=n).astype(np.float64) @ matrix
        m = _flatten(scorer.metrics(_unflatten(keys, sums.tolist())))
        metric_keys = metric_keys or list(m)
        values.append([m[k] for k in metric_keys])
    arr = np.array(values, dtype=np.float64)
    bounds = []
    for j in range(arr.shape[1]):
        col = arr[:, j]
        if np.isnan(col).all():
            bounds.append([math.nan, math.nan])
        else:
            lo, hi = np.nanpercentile(col, [2.5, 97.5])
            bounds.append([float(lo), float(hi)])
    return _unflatten(metric_keys or [], bounds)


def score_detection(pairs: Mapping[str, tuple[Sequence[Segment], Sequence[Segment]]], *,
                    settings: DetectionSettings | None = None,
                    durations: Mapping[str, float] | None = None, n_boot: int = 1000,
                    seed: int = 0) -> DetectionResults:
    """Score recordings: ``pairs`` maps each name to its (reference, estimate) segment lists;
    ``durations`` (seconds, by name) where known. Data-set metrics from the summed counts,
    intervals from ``n_boot`` bootstrap resamples of the files (see the module's docstring)."""
    settings = settings or DetectionSettings()
    if not pairs:
        raise ConfigError("no recording to score")
    if n_boot < 0:
        raise ConfigError(f"the number of bootstrap resamples must be >= 0, not {n_boot}")
    durations = durations or {}
    scorer = _Scorer(settings)
    files = {name: score_file(ref, est, settings=settings, duration=durations.get(name),
                              name=name, _scorer=scorer)
             for name, (ref, est) in pairs.items()}
    file_counts = [f.counts for f in files.values()]
    keys = list(_flatten(file_counts[0]))
    total = np.sum([[_flatten(c)[k] for k in keys] for c in file_counts], axis=0)
    counts = _unflatten(keys, total.tolist())
    overall = scorer.metrics(counts)
    ci95 = _bootstrap(scorer, file_counts, n_boot, seed) if n_boot and len(files) >= 2 else None
    return DetectionResults(settings=settings, files=files, counts=counts, overall=overall,
                            ci95=ci95, n_boot=n_boot, seed=seed)


# ------------------------------------------------------------------------------- Markdown
def _pct(x: float) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:.1f}"


def _rate(x: float) -> str:
    if x is None or math.isnan(x):
        return "n/a"
    return "inf" if x >= 1e9 else f"{x:.2f}"


def _cell(value: float, ci: list | None, fmt) -> str:
    if ci is None:
        return fmt(value)
    return f"{fmt(value)} [{fmt(ci[0])}, {fmt(ci[1])}]"


def _markdown(results: DetectionResults, *, per_file: bool) -> str:
    s = results.settings
    ci = results.ci95 or {}
    n = len(results.files)
    lines = [f"## Speech/music detection: {n} file{'s' * (n != 1)}, {results.duration:.1f} s", ""]
    if results.ci95:
        lines += [f"Brackets: 95 % confidence interval, bootstrap over files ({results.n_boot} "
                  f"resamples, seed {results.seed}).", ""]
    res_ms = f"{1000 * s.time_resolution:g} ms"
    lines += [f"Segment-based ({res_ms} segments; `{GAP}`: no class):", "",
              "| class | precision [%] | recall [%] | F [%] |", "|---|---|---|---|"]
    seg, seg_ci = results.overall["segment"], ci.get("segment", {})
    for c in s.segment_labels:
        cells = [_cell(seg[c][k], seg_ci.get(c, {}).get(k), _pct) for k in _SEGMENT_KEYS]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    acc = _cell(seg["overall"]["accuracy"], seg_ci.get("overall", {}).get("accuracy"), _pct)
    lines += ["", f"Overall accuracy [%]: {acc}", ""]
    offsets = (f"offsets within max({s.collar:g} s, {s.offset_fraction:g} x length)"
               if s.offsets else "offsets not evaluated")
    lines += [f"Event-based (onsets within {s.collar:g} s, {offsets}):", "",
              "| class | precision [%] | recall [%] | F [%] | deletion rate | insertion rate | error rate |",
              "|---|---|---|---|---|---|---|"]
    ev, ev_ci = results.overall["event"], ci.get("event", {})
    for c in (*s.classes, "overall"):
        cells = [_cell(ev[c][k], ev_ci.get(c, {}).get(k), _pct if k in _SEGMENT_KEYS else _rate)
                 for k in _EVENT_KEYS]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    if per_file:
        head = (["file", "duration [s]", "accuracy [%]"] + [f"{c} F seg [%]" for c in s.classes]
                + [f"{c} F event [%]" for c in s.classes] + ["event error rate"])
        lines += ["", "Per file:", "", "| " + " | ".join(head) + " |",
                  "|" + "---|" * len(head)]
        for name, f in results.files.items():
            m = f.metrics
            row = ([name.replace("|", "\\|"), f"{f.duration:.1f}", _pct(m["segment"]["overall"]["accuracy"])]
                   + [_pct(m["segment"][c]["f_measure"]) for c in s.classes]
                   + [_pct(m["event"][c]["f_measure"]) for c in s.classes]
                   + [_rate(m["event"]["overall"]["error_rate"])])
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------- files
def read_events(path: str | os.PathLike) -> list[Segment]:
    """The segments of one file: MIREX's text files (:data:`MIREX_TEXT_SUFFIXES`: ``onset offset
    class`` per line, tab-, comma- or blank-separated; Audacity's labels are such files), or any
    format :func:`speechmusic.segment.read_segments` reads. An empty file has no segments."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpeechMusicError(f"{p}: cannot be read ({exc})") from None
    if not text.strip():
        return []
    if p.suffix.lower() not in MIREX_TEXT_SUFFIXES:
        if p.suffix.lower() not in _SEGMENT_SUFFIXES:
            raise ConfigError(f"{p}: not a segment file (extensions read: "
                              f"{' '.join(sorted(s for s in _READ_SUFFIXES if s))}, or none)")
        try:
            return read_segments(p)
        except ConfigError:
            raise
        except SpeechMusicError as exc:
            raise SpeechMusicError(f"{p}: {exc}") from None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(("#", "\\")):
            continue
        parts = line.split("\t") if "\t" in line else line.replace(",", " ").split(None, 2)
        try:
            if len(parts) != 3:
                raise ValueError(f"{len(parts)} fields")
            out.append(Segment(parts[2].strip(), float(parts[0]), float(parts[1])))
        except ValueError as exc:
            raise SpeechMusicError(f"{p}, line {n}: not 'onset<TAB>offset<TAB>class' ({exc})") from None
    return out


def _listing(folder: Path) -> dict[str, Path]:
    found: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        if (not p.is_file() or p.name.startswith(".") or p.name in _SIDE_NAMES
                or p.name.endswith(_SIDE_FILES) or p.suffix.lower() not in _READ_SUFFIXES):
            continue
        found.setdefault(p.stem, []).append(p)
    twice = {k: v for k, v in found.items() if len(v) > 1}
    if twice:
        shown = "; ".join(", ".join(q.name for q in v) for v in list(twice.values())[:5])
        raise ConfigError(f"{folder}: several files for the same recording ({shown}); keep one "
                          "format per folder")
    return {k: v[0] for k, v in found.items()}


def _names(names: Iterable[str], limit: int = 10) -> str:
    names = sorted(names)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def pair_files(reference: str | os.PathLike, estimate: str | os.PathLike, *,
               intersection: bool = False) -> dict[str, tuple[Path, Path]]:
    """Reference and estimate files by recording name (file name without its extension): two
    files, two folders (files with the same name), or a file and the folder holding its
    estimate. Folders are read for the files :func:`read_events` reads, less hidden ones and the
    segmenter's ``*.frames.csv`` and ``failed.tsv``. A recording on one side only is an error
    listing them, unless ``intersection``."""
    ref, est = Path(reference), Path(estimate)
    for p in (ref, est):
        if not p.exists():
            raise ConfigError(f"{p}: no such file or folder")
    if ref.is_file() and est.is_file():
        return {ref.stem: (ref, est)}
    if ref.is_dir() != est.is_dir() and not ref.is_file():
        raise ConfigError(f"{ref} is a folder and {est} a file: give two files or two folders")
    refs = {ref.stem: ref} if ref.is_file() else _listing(ref)
    ests = _listing(est)
    if ref.is_file():
        ests = {k: v for k, v in ests.items() if k == ref.stem}
    only_ref, only_est = set(refs) - set(ests), set(ests) - set(refs)
    if (only_ref or only_est) and not intersection:
        parts = []
        if only_ref:
            parts.append(f"{len(only_ref)} reference(s) without an estimate in {est}: {_names(only_ref)}")
        if only_est:
            parts.append(f"{len(only_est)} estimate(s) without a reference in {ref}: {_names(only_est)}")
        raise ConfigError("; ".join(parts) + " (--intersection, or intersection=True, scores "
                          "only the recordings on both sides)")
    common = sorted(set(refs) & set(ests))
    if not common:
        raise ConfigError(f"no recording has both a reference ({ref}) and an estimate ({est})")
    if only_ref or only_est:
        log.warning("scoring the %d recording(s) on both sides; left out: %d reference(s), "
                    "%d estimate(s)", len(common), len(only_ref), len(only_est))
    return {k: (refs[k], ests[k]) for k in common}


def audio_durations(names: Iterable[str], audio_dir: str | os.PathLike) -> dict[str, float]:
    """The duration of each recording's audio file in ``audio_dir`` (same name, any audio
    extension), as MIREX took the recordings' durations from their audio."""
    from speechmusic.audio import AUDIO_EXTENSIONS, audio_info

    folder = Path(audio_dir)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such folder")
    by_stem: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS:
            by_stem.setdefault(p.stem, p)
    names = list(names)
    missing = [n for n in names if n not in by_stem]
    if missing:
        raise ConfigError(f"{folder}: no audio file for {len(missing)} recording(s): {_names(missing)}")
    return {n: audio_info(by_stem[n]).duration for n in names}


def evaluate_detection(reference: str | os.PathLike, estimate: str | os.PathLike, *,
                       settings: DetectionSettings | None = None, intersection: bool = False,
                       duration: float | None = None, audio_dir: str | os.PathLike | None = None,
                       n_boot: int = 1000, seed: int = 0) -> DetectionResults:
    """:func:`score_detection` on files: :func:`pair_files`, :func:`read_events`, durations from
    ``duration`` (every recording) or ``audio_dir`` (:func:`audio_durations`), else the
    reference's last offset."""
    if duration is not None and audio_dir is not None:
        raise ConfigError("give a duration or an audio folder, not both")
    paths = pair_files(reference, estimate, intersection=intersection)
    durations = None
    if duration is not None:
        durations = dict.fromkeys(paths, float(duration))
    elif audio_dir is not None:
        durations = audio_durations(paths, audio_dir)
    pairs = {name: (read_events(r), read_events(e)) for name, (r, e) in paths.items()}
    return score_detection(pairs, settings=settings, durations=durations, n_boot=n_boot, seed=seed)
