"""``check_dataset``: what a manifest holds on disk (counts, durations, rates) and what is unreadable;
``survey_report``: that, per class next to the paper's Table 1, with what was left out and why."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import soundfile as sf

from speechmusic.audio import audio_info
from speechmusic.data.adapters import LeftOut, Survey
from speechmusic.data.manifest import Manifest
from speechmusic.data.paper import PaperDataset, paper_keys
from speechmusic.errors import AudioError
from speechmusic.progress import progress

__all__ = ["DatasetReport", "check_dataset", "ClassRow", "SurveyReport", "survey_report"]


@dataclass
class DatasetReport:
    """Per label: clip count and total seconds; sample rates, channel counts and sample formats
    (``PCM_16``, ``PCM_24``, ...) over all clips; ``unreadable``: ``(path, reason)`` for every
    clip whose file cannot be probed."""

    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    sample_rates: dict[int, int] = field(default_factory=dict)
    channels: dict[int, int] = field(default_factory=dict)
    formats: dict[str, int] = field(default_factory=dict)
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    @property
    def n_clips(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict:
        return {"counts": self.counts, "seconds": self.seconds, "groups": self.groups,
                "sample_rates": {str(k): v for k, v in self.sample_rates.items()},
                "channels": {str(k): v for k, v in self.channels.items()},
                "formats": dict(self.formats),
                "unreadable": [{"path": p, "reason": r} for p, r in self.unreadable]}

    def to_text(self) -> str:
        lines = [f"{'label':<16}{'clips':>8}{'groups':>8}{'minutes':>10}{'mean s':>9}"]
        for label in sorted(self.counts):
            n, s = self.counts[label], self.seconds.get(label, 0.0)
            lines.append(f"{label:<16}{n:>8}{self.groups.get(label, 0):>8}{s / 60:>10.1f}"
                         f"{(s / n if n else 0):>9.1f}")
        total = sum(self.seconds.values())
        lines.append(f"{'total':<16}{self.n_clips:>8}{'':>8}{total / 60:>10.1f}")
        rates = ", ".join(f"{sr} Hz: {n}" for sr, n in sorted(self.sample_rates.items()))
        chans = ", ".join(f"{c} ch: {n}" for c, n in sorted(self.channels.items()))
        formats = ", ".join(f"{f}: {n}" for f, n in sorted(self.formats.items()))
        lines.append(f"sample rates: {rates or '-'}")
        lines.append(f"channels: {chans or '-'}")
        lines.append(f"formats: {formats or '-'}")
        lines.append(f"unreadable: {len(self.unreadable)}")
        lines += [f"  {p}: {r}" for p, r in self.unreadable]
        return "\n".join(lines)


def check_dataset(manifest: Manifest) -> DatasetReport:
    """Probe every clip's file (header only, no decoding) and summarise."""
    report = DatasetReport()
    groups: dict[str, set[str]] = {}
    rates: Counter[int] = Counter()
    chans: Counter[int] = Counter()
    formats: Counter[str] = Counter()
    info_of: dict[str, object] = {}
    format_of: dict[str, str] = {}
    for clip in progress(manifest, desc="checking", unit="clip", total=len(manifest)):
        if clip.path not in info_of:
            try:
                info_of[clip.path] = audio_info(clip.path)
            except AudioError as exc:
                info_of[clip.path] = exc
            else:
                try:
                    format_of[clip.path] = str(sf.info(clip.path).subtype)
                except (sf.LibsndfileError, RuntimeError, TypeError):
                    format_of[clip.path] = "other"  # decoded through ffmpeg
        info = info_of[clip.path]
        if isinstance(info, AudioError):
            report.unreadable.append((clip.path, info.reason))
            continue
        report.counts[clip.label] = report.counts.get(clip.label, 0) + 1
        groups.setdefault(clip.label, set()).add(clip.group)
        available = max(0.0, info.duration - (clip.start or 0.0))
        seconds = min(available, clip.duration) if clip.duration is not None else available
        report.seconds[clip.label] = report.seconds.get(clip.label, 0.0) + seconds
        rates[info.sample_rate] += 1
        chans[info.channels] += 1
        formats[format_of[clip.path]] += 1
    report.groups = {k: len(v) for k, v in groups.items()}
    report.sample_rates = dict(rates)
    report.channels = dict(chans)
    report.formats = dict(formats)
    return report


# ----------------------------------------------------------------------------- next to Table 1


@dataclass(frozen=True)
class ClassRow:
    """One of the dataset's own classes: files found, the label they are kept as (``None``: left
    out), and Table 1's count (``None``: the paper gives none)."""

    own_class: str
    kept_as: str | None
    found: int
    paper: int | None


@dataclass
class SurveyReport:
    """What ``speechmusic datasets check`` prints: per own class found vs the paper, what was
    left out and why, attribute counts, and the probe of the kept clips (:class:`DatasetReport`)."""

    root: str
    layout: str
    paper: PaperDataset | None
    rows: list[ClassRow]
    left_out: list[LeftOut]
    attributes: dict[str, dict[str, dict[str, int]]]
    check: DatasetReport
    n_kept: int

    def left_out_summary(self) -> list[tuple[str | None, str, int, str]]:
        """``(own class, reason, files, one example path)``, most frequent first."""
        counts: Counter[tuple[str | None, str]] = Counter((x.own_class, x.reason) for x in self.left_out)
        example = {}
        for x in self.left_out:
            example.setdefault((x.own_class, x.reason), x.path)
        return [(c, r, n, example[(c, r)]) for (c, r), n in counts.most_common()]

    def to_dict(self) -> dict:
        return {**self.check.to_dict(),
                "paper": None if self.paper is None else self.paper.to_dict(),
                "classes": [{"class": r.own_class, "kept_as": r.kept_as, "found": r.found,
                             "paper": r.paper} for r in self.rows],
                "left_out": [{"class": c, "reason": r, "files": n, "example": e}
                             for c, r, n, e in self.left_out_summary()],
                "attributes": self.attributes}

    def to_text(self, *, max_reasons: int = 12, max_values: int = 6) -> str:
        p = self.paper
        lines = [f"{self.root} ({self.layout}): {self.n_kept} clips kept, {len(self.left_out)} left out"]
        if p is not None:
            mean = f", {p.mean_seconds:.1f} s per file" if p.mean_seconds else ""
            lines.append(f"the paper's Table 1, {p.title}: {p.n_files} files, {p.minutes:g} min{mean}, "
                         f"{p.sample_rate} Hz, {p.bit_depth} bit")
            lines.append(f"  {p.note}")
        else:
            lines.append(f"no row of the paper's Table 1 to compare with (name one with --paper: "
                         f"{', '.join(paper_keys())})")
        lines.append(f"{'class':<16}{'kept as':<14}{'found':>8}{'paper':>8}")
        for r in self.rows:
            kept = "-" if r.found == 0 else r.kept_as if r.kept_as is not None else "(left out)"
            paper = "-" if r.paper is None else str(r.paper)
            lines.append(f"{r.own_class:<16}{kept:<14}{r.found:>8}{paper:>8}")
        total_paper = str(p.n_files) if p is not None and p.n_files else "-"
        lines.append(f"{'total kept':<30}{self.n_kept:>8}{total_paper:>8}")
        summary = self.left_out_summary()
        if summary:
            lines.append(f"left out ({len(self.left_out)} files or rows):")
            for c, r, n, e in summary[:max_reasons]:
                lines.append(f"  {n:>5}  {c + ': ' if c else ''}{r}  (e.g. {e})")
            if len(summary) > max_reasons:
                rest = sum(n for _, _, n, _ in summary[max_reasons:])
                lines.append(f"  {rest:>5}  for {len(summary) - max_reasons} more reasons (--json lists all)")
        else:
            lines.append("left out: nothing")
        if self.attributes:
            lines.append("attributes of the kept clips (from the dataset's metadata):")
            for attr, by_label in self.attributes.items():
                parts = []
                for label, values in by_label.items():
                    ranked = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
                    shown = ", ".join(f"{v} {n}" for v, n in ranked[:max_values])
                    more = f", +{len(ranked) - max_values} more" if len(ranked) > max_values else ""
                    parts.append(f"{label}: {shown}{more}")
                lines.append(f"  {attr}: " + "; ".join(parts))
        lines.append(self.check.to_text())
        if p is not None and self.check.n_clips:
            mean = sum(self.check.seconds.values()) / self.check.n_clips
            lines.append(f"found {mean:.1f} s per file on average (paper: "
                         f"{p.mean_seconds:.1f} s)" if p.mean_seconds else f"found {mean:.1f} s per file")
        return "\n".join(lines)


def survey_report(survey: Survey, *, root: str, paper: PaperDataset | None,
                  check: DatasetReport | None = None) -> SurveyReport:
    """Compare a :class:`Survey` with Table 1 (``paper``); ``check`` defaults to probing the kept
    clips with :func:`check_dataset`."""
    check = check if check is not None else check_dataset(survey.manifest)
    found = Counter(c.label for c in survey.raw)
    order = list(paper.classes) if paper is not None else []
    order += sorted(c for c in found if c not in order)
    rows = [ClassRow(own_class=c, kept_as=survey.kept_as.get(c, None) if c in found else None,
                     found=found.get(c, 0),
                     paper=paper.classes.get(c) if paper is not None else None) for c in order]
    attributes: dict[str, dict[str, Counter[str]]] = {}
    for clip in survey.manifest:
        for key, value in survey.attributes.get(clip.id, {}).items():
            attributes.setdefault(key, {}).setdefault(clip.label, Counter())[value] += 1
    plain = {k: {lab: dict(v) for lab, v in sorted(by.items())} for k, by in attributes.items()}
    return SurveyReport(root=root, layout=survey.layout, paper=paper, rows=rows,
                        left_out=list(survey.left_out), attributes=plain, check=check,
                        n_kept=len(survey.manifest))
