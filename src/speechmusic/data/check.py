"""``check_dataset``: what a manifest holds on disk (counts, durations, rates) and what is unreadable."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from speechmusic.audio import audio_info
from speechmusic.data.manifest import Manifest
from speechmusic.errors import AudioError
from speechmusic.progress import progress

__all__ = ["DatasetReport", "check_dataset"]


@dataclass
class DatasetReport:
    """Per label: clip count and total seconds; sample rates and channel counts over all clips;
    ``unreadable``: ``(path, reason)`` for every clip whose file cannot be probed."""

    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    sample_rates: dict[int, int] = field(default_factory=dict)
    channels: dict[int, int] = field(default_factory=dict)
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    @property
    def n_clips(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict:
        return {"counts": self.counts, "seconds": self.seconds, "groups": self.groups,
                "sample_rates": {str(k): v for k, v in self.sample_rates.items()},
                "channels": {str(k): v for k, v in self.channels.items()},
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
        lines.append(f"sample rates: {rates or '-'}")
        lines.append(f"channels: {chans or '-'}")
        lines.append(f"unreadable: {len(self.unreadable)}")
        lines += [f"  {p}: {r}" for p, r in self.unreadable]
        return "\n".join(lines)


def check_dataset(manifest: Manifest) -> DatasetReport:
    """Probe every clip's file (header only, no decoding) and summarise."""
    report = DatasetReport()
    groups: dict[str, set[str]] = {}
    rates: Counter[int] = Counter()
    chans: Counter[int] = Counter()
    info_of: dict[str, object] = {}
    for clip in progress(manifest, desc="checking", unit="clip", total=len(manifest)):
        if clip.path not in info_of:
            try:
                info_of[clip.path] = audio_info(clip.path)
            except AudioError as exc:
                info_of[clip.path] = exc
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
    report.groups = {k: len(v) for k, v in groups.items()}
    report.sample_rates = dict(rates)
    report.channels = dict(chans)
    return report
