"""The paper's Table 1 (Kehling & Cano): what each dataset held, per class, as the paper used it.

``datasets check`` compares what it finds on disk with these numbers. A count in Table 1 is a
number of audio *files* (each dataset's own unit: GTZAN's 30-s files, S&S's 15-s radio extracts,
ACMUS-MIR's annotated segments, Marolt19's short excerpts): the durations agree, e.g. S&S
``(101 + 80) x 15 s = 45 min`` and GTZAN ``128 x 30 s = 64 min``. Classes are keyed by the names
the adapters give them (:mod:`speechmusic.data.adapters`, the dataset's *own* classes, before a
label map merges or drops any).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from speechmusic.errors import ConfigError

__all__ = ["PaperDataset", "PAPER_TABLE1", "paper_dataset", "paper_keys", "paper_row"]


@dataclass(frozen=True)
class PaperDataset:
    """One row of Table 1.

    ``classes``: own class name -> number of files; ``sample_rate`` in Hz, ``bit_depth`` in bits,
    ``minutes`` the total duration; ``note``: what the paper says about it, and where the
    public archive differs; ``files``: the total where ``classes`` does not give it.
    """

    key: str
    title: str
    classes: dict[str, int] = field(default_factory=dict)
    sample_rate: int = 0
    bit_depth: int = 0
    minutes: float = 0.0
    note: str = ""
    files: int | None = None

    @property
    def n_files(self) -> int:
        return self.files if self.files is not None else sum(self.classes.values())

    @property
    def mean_seconds(self) -> float | None:
        """Mean file length implied by the table (``minutes * 60 / files``)."""
        return self.minutes * 60.0 / self.n_files if self.n_files else None

    def to_dict(self) -> dict:
        return {"key": self.key, "title": self.title, "classes": dict(self.classes),
                "files": self.n_files, "sample_rate": self.sample_rate, "bit_depth": self.bit_depth,
                "minutes": self.minutes, "mean_seconds": self.mean_seconds, "note": self.note}


PAPER_TABLE1: dict[str, PaperDataset] = {d.key: d for d in (
    PaperDataset(
        "musan", "MUSAN", {"music": 660, "speech": 426, "noise": 764}, 16000, 16, 6483,
        "Table 1 lists noise [764]; the MUSAN archive holds 930 noise files (free-sound, "
        "sound-bible) and the paper does not say which it left out. Music (660) and speech (426) "
        "are the archive's totals."),
    PaperDataset(
        "gtzan", "GTZAN music/speech", {"music": 64, "speech": 64}, 22050, 16, 64,
        "128 files of 30 s."),
    PaperDataset(
        "marolt19", "Marolt19",
        {"solo_singing": 1512, "choir": 1618, "instrumental": 2960, "speech": 1284}, 44100, 16, 577,
        "Short excerpts (about 4.7 s each); solo singing, choir and instrumental are merged into "
        "'music' for training. Table 1 lists no noise class."),
    PaperDataset(
        "acmusyt", "ACMusYT", {"speech": 40, "music": 35, "a_cappella": 40}, 48000, 16, 88,
        "The a cappella (vocal-only) class is not used in the paper's experiments."),
    PaperDataset(
        "slaney_scheirer", "S&S", {"music": 101, "speech": 80}, 22050, 16, 45,
        "181 extracts of 15 s; the paper excludes 'all 64 files of noise and mixed "
        "(speech/music) content' (the archive's m+s and other folders)."),
    PaperDataset(
        "acmus_vf", "ACMus VF", {"male": 46, "female": 24}, 96000, 24, 26,
        "Counted by singer gender; the accompaniment task uses the same 70 files."),
    PaperDataset(
        "acmus_vf_accompaniment", "ACMus VF (accompaniment)", {}, 96000, 24, 26,
        "Table 1 counts ACMus VF only by singer gender (male 46, female 24: 70 files).", files=70),
    PaperDataset(
        "acmus_if", "ACMus IF", {"1": 43, "2": 42, "3": 43, "4": 21, "5+": 36}, 96000, 24, 65,
        "185 segments of the ACMUS-MIR instrumental format set; classes are ensemble sizes: "
        "solo, duo, trio, quartet and larger ensembles (5 or more instruments)."),
)}

_ALIASES = {"sns": "slaney_scheirer", "s&s": "slaney_scheirer", "s_s": "slaney_scheirer",
            "slaney": "slaney_scheirer",
            "gtzan_music_speech": "gtzan", "acmusif": "acmus_if", "acmus_mir": "acmus_if",
            "acmusvf": "acmus_vf", "acmus_vf_gender": "acmus_vf", "acmus_yt": "acmusyt",
            "acmus_youtube": "acmusyt", "marolt": "marolt19", "musan_corpus": "musan"}


def paper_keys() -> list[str]:
    return sorted(PAPER_TABLE1)


def paper_dataset(name: str | None, *, task: str | None = None) -> PaperDataset | None:
    """Table 1's row for a dataset name or layout (aliases such as ``sns``, ``acmus-if``
    accepted), or ``None``. ``task`` ``accompaniment`` selects the ACMus VF row without counts."""
    if not name:
        return None
    key = "".join(ch if ch.isalnum() or ch in "&+" else "_" for ch in name.strip().lower()).strip("_")
    key = _ALIASES.get(key, key)
    if key == "acmus_vf" and task == "accompaniment":
        key = "acmus_vf_accompaniment"
    return PAPER_TABLE1.get(key)


def paper_row(*, layout: str, name: str | None = None, task: str | None = None,
              paper: str | None = None) -> PaperDataset | None:
    """The Table 1 row ``datasets check`` compares with: ``paper`` if given (``none`` for no
    row; an unknown name is a ``ConfigError``), else the row of the dataset ``name``, else of
    the ``layout``. ``task`` is the ``acmus_vf`` adapter's (default ``accompaniment``)."""
    if task is None and layout.replace("-", "_") == "acmus_vf":
        task = "accompaniment"
    if paper is not None:
        if paper.strip().lower() in ("none", "null", ""):
            return None
        row = paper_dataset(paper, task=task)
        if row is None:
            raise ConfigError(f"--paper {paper!r}: Table 1 has no such dataset; choose one of "
                              f"{', '.join(paper_keys())} or none")
        return row
    return paper_dataset(name, task=task) or paper_dataset(layout, task=task)
