"""The demo corpus: labelled clips the project renders itself, deterministic from a seed.

:func:`build_corpus` writes WAV files and a manifest for six "datasets" that stand for the
paper's (Table 1), each with its own content and its own recording chain, so that transfer from
one to another is a real question:

============  ======  ==============================================  ==========================
dataset       role    content                                         stands for
============  ======  ==============================================  ==========================
broadcast     source  speech / music / noise, clean studio, 16 kHz    MUSAN
archive       source  speech / music / noise, field tape, 44.1 kHz    Marolt19
web           source  speech / music / noise, codec (Opus), 48 kHz    ACMusYT
radio         target  speech / music, AM-band radio, MP3, 22.05 kHz   Slaney & Scheirer (unseen)
vocal         target  sung lines, male / female, with / without       ACMusVF
                      accompaniment, 48 kHz 24 bit
ensemble      target  instrumental music of 1, 2, 3, 4, 5+ parts,     ACMusIF
                      48 kHz 24 bit
============  ======  ==============================================  ==========================

Manifest (``manifest.csv``) columns: ``id, path`` (relative to the manifest), ``label`` (the
speech / music / noise class of every clip), ``group`` (speaker, piece or noise source: never on
both sides of a split), ``dataset, role``, the task columns ``smc, accompaniment, gender,
ensemble`` (empty where a clip has no label for that task: speech clips carry the speaker's
gender, music clips their number of parts), ``sample_rate, duration, subtype`` and a
human-readable ``detail``. :func:`task_manifest` turns it into a :class:`~speechmusic.data.Manifest`
for one task.

Every clip is rendered from its own seed, derived from the corpus seed and the clip's place, with
eSpeak NG reset first (:func:`speechmusic.demo.speech.reset`): the same seed gives the same
files, byte for byte, whatever the number of workers and whatever ran before.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from speechmusic.demo.degrade import RecordingChain
from speechmusic.demo.lexicon import LANGUAGES
from speechmusic.errors import ConfigError

__all__ = ["DemoDataset", "DATASETS", "TASKS", "Task", "CorpusSize", "SIZES", "MANIFEST_COLUMNS",
           "build_corpus", "read_manifest", "task_manifest", "corpus_info"]

#: Columns of ``manifest.csv``, in order.
MANIFEST_COLUMNS = ("id", "path", "label", "group", "dataset", "role", "smc", "accompaniment",
                    "gender", "ensemble", "sample_rate", "duration", "subtype", "detail")
_TASK_COLUMNS = ("smc", "accompaniment", "gender", "ensemble")


@dataclass(frozen=True)
class Content:
    """What a dataset's clips hold: languages and speaking rates, music textures and styles,
    how often music has a voice, and the kinds of noise."""

    languages: tuple[str, ...] = LANGUAGES
    rate: tuple[int, int] = (140, 195)
    textures: tuple[tuple[str, float], ...] = (("band", 0.4), ("orchestral", 0.15), ("solo", 0.15),
                                               ("chamber", 0.15), ("choir", 0.15))
    styles: tuple[str, ...] | None = None
    vocal_p: float = 0.4
    noise: tuple[str, ...] = ()


@dataclass(frozen=True)
class DemoDataset:
    """One demo dataset: its classes, content, recording chain and the paper dataset it mimics."""

    name: str
    role: str
    classes: tuple[str, ...]
    chain: RecordingChain
    content: Content
    analogue: str
    description: str


DATASETS: dict[str, DemoDataset] = {d.name: d for d in (
    DemoDataset(
        "broadcast", "source", ("speech", "music", "noise"),
        RecordingChain(16000, "PCM_16", band=(50.0, 7600.0), rt60=(0.15, 0.35), wet=(0.05, 0.15),
                       background=("white", "pink"), snr_db=(45.0, 60.0), compression=(1.5, 3.0),
                       peak_db=(-4.0, -1.0)),
        Content(languages=("en", "de", "fr", "es"), rate=(150, 190),
                textures=(("band", 0.45), ("orchestral", 0.2), ("solo", 0.15), ("chamber", 0.1),
                          ("choir", 0.1)),
                vocal_p=0.4,
                noise=("white", "pink", "brown", "hum", "fan", "engine", "helicopter", "gunshots",
                       "impulses", "babble", "applause")),
        "MUSAN", "clean studio and broadcast material, 16 kHz"),
    DemoDataset(
        "archive", "source", ("speech", "music", "noise"),
        RecordingChain(44100, "PCM_16", band=(120.0, 5500.0), rt60=(0.5, 1.3), wet=(0.2, 0.45),
                       background=("hum", "pink", "wind", "brown"), snr_db=(15.0, 30.0),
                       drive=(1.0, 2.5), peak_db=(-14.0, -3.0)),
        Content(rate=(120, 170), textures=(("solo", 0.35), ("choir", 0.3), ("chamber", 0.25),
                                           ("band", 0.1)),
                styles=("folk", "classical"), vocal_p=0.6,
                noise=("wind", "rain", "hum", "impulses", "seashore", "brown", "babble")),
        "Marolt19", "ethnographic field recordings on tape: reverberant rooms, hum and hiss, "
        "solo singing and choirs, 44.1 kHz"),
    DemoDataset(
        "web", "source", ("speech", "music", "noise"),
        RecordingChain(48000, "PCM_16", band=(80.0, 16000.0), rt60=(0.3, 0.8), wet=(0.1, 0.3),
                       background=("babble", "applause", "pink"), snr_db=(18.0, 35.0),
                       compression=(3.0, 6.0), codec=("OGG", "OPUS", (0.75, 1.0)),
                       peak_db=(-3.0, -0.5)),
        Content(languages=("es", "pt", "it", "en"), rate=(165, 215),
                textures=(("band", 0.6), ("solo", 0.2), ("chamber", 0.2)),
                styles=("folk", "latin", "pop", "electronic"), vocal_p=0.7,
                noise=("babble", "applause", "fan", "pink", "rain", "engine", "wind", "helicopter")),
        "ACMusYT", "video-sharing uploads: live rooms, loud compressed masters, Opus codec, 48 kHz"),
    DemoDataset(
        "radio", "target", ("speech", "music"),
        RecordingChain(22050, "PCM_16", band=(200.0, 4500.0), rt60=(0.2, 0.5), wet=(0.05, 0.2),
                       background=("white", "hum"), snr_db=(20.0, 32.0), compression=(4.0, 8.0),
                       drive=(1.5, 3.0), codec=("MP3", "MPEG_LAYER_III", (0.7, 1.0)),
                       peak_db=(-8.0, -2.0)),
        Content(textures=(("band", 0.4), ("orchestral", 0.2), ("solo", 0.15), ("chamber", 0.15),
                          ("choir", 0.1)), vocal_p=0.4),
        "Slaney & Scheirer", "off-air AM-band radio captured as low-rate MP3, 22.05 kHz: the "
        "unseen dataset of the speech/music transfer task"),
    DemoDataset(
        "vocal", "target", ("music",),
        RecordingChain(48000, "PCM_24", band=(60.0, 18000.0), rt60=(0.8, 1.8), wet=(0.2, 0.4),
                       background=("pink", "brown"), snr_db=(35.0, 50.0), peak_db=(-16.0, -6.0)),
        Content(styles=("folk", "pop", "latin", "classical")),
        "ACMusVF", "sung lines by male and female voices, alone or accompanied; concert halls, "
        "48 kHz 24 bit"),
    DemoDataset(
        "ensemble", "target", ("music",),
        RecordingChain(48000, "PCM_24", band=(40.0, 18000.0), rt60=(0.6, 1.6), wet=(0.15, 0.35),
                       background=("pink", "brown", "babble"), snr_db=(30.0, 45.0),
                       peak_db=(-16.0, -6.0)),
        Content(),
        "ACMusIF", "instrumental music of 1, 2, 3, 4 and 5 or more parts; halls, 48 kHz 24 bit"),
)}


@dataclass(frozen=True)
class Task:
    """A classification task on the demo corpus: its manifest column, classes and datasets."""

    name: str
    column: str
    classes: tuple[str, ...]
    datasets: tuple[str, ...]
    description: str


#: The paper's tasks on the demo corpus.
TASKS: dict[str, Task] = {t.name: t for t in (
    Task("smc", "smc", ("music", "speech", "noise"), ("broadcast", "archive", "web"),
         "speech / music (/ noise) on the three source datasets: the pre-training task"),
    Task("smc_unseen", "smc", ("music", "speech"), ("radio",),
         "speech / music on a dataset never seen in pre-training"),
    Task("accompaniment", "accompaniment", ("accompanied", "vocal_only"), ("vocal",),
         "a vocal line alone or with instruments"),
    Task("gender", "gender", ("female", "male"), ("vocal",), "the singer's gender"),
    Task("ensemble", "ensemble", ("1", "2", "3", "4", "5+"), ("ensemble",),
         "how many parts play: 1, 2, 3, 4 or 5 and more"),
)}


@dataclass(frozen=True)
class CorpusSize:
    """How much to render: clip length, clips per class (per cell for the vocal set) and how many
    clips share a group (excerpts of one piece, one speaker, one noise source)."""

    seconds: float
    smc: int
    unseen: int
    vocal: int
    ensemble: int
    clips_per_group: int = 1

    def __post_init__(self) -> None:
        if self.seconds < 1.0:
            raise ConfigError(f"clips must be at least 1 s long, got {self.seconds}")
        if min(self.smc, self.unseen, self.vocal, self.ensemble, self.clips_per_group) < 1:
            raise ConfigError(f"every count must be >= 1: {self}")


#: ``quick``: 74 clips of 2 s (tests, smoke runs). ``full``: 370 clips of 4 s (the demo study).
SIZES: dict[str, CorpusSize] = {
    "quick": CorpusSize(seconds=2.0, smc=4, unseen=4, vocal=2, ensemble=2, clips_per_group=1),
    "full": CorpusSize(seconds=4.0, smc=20, unseen=20, vocal=10, ensemble=10, clips_per_group=2),
}


# ----------------------------------------------------------------------------- jobs


@dataclass(frozen=True)
class _Job:
    """One clip to render: everything the child process needs."""

    out_dir: str
    rel_path: str
    clip_id: str
    dataset: str
    kind: str                 # speech, music, noise, vocal, ensemble
    cell: tuple[str, ...]     # vocal: (gender, accompaniment); ensemble: (parts label,)
    group: str
    group_seed: tuple[int, ...]
    clip_seed: tuple[int, ...]
    excerpt: int              # which excerpt of the group's piece / speaker / source
    seconds: float
    group_seconds: float      # length of the group's piece: every excerpt lies within it
    labels: dict[str, str] = field(default_factory=dict)


def _plan(out_dir: Path, *, seed: int, size: CorpusSize) -> list[_Job]:
    jobs = []
    kinds = {"speech": 0, "music": 1, "noise": 2, "vocal": 3, "ensemble": 4}
    for d_index, ds in enumerate(DATASETS.values()):
        if ds.name == "vocal":
            cells = [("vocal", (g, a), f"{g}_{a}", size.vocal)
                     for g in ("female", "male") for a in ("accompanied", "vocal_only")]
        elif ds.name == "ensemble":
            cells = [("ensemble", (n,), f"parts_{n.replace('+', 'plus')}", size.ensemble)
                     for n in TASKS["ensemble"].classes]
        else:
            count = size.smc if ds.role == "source" else size.unseen
            # Noise is the most varied class (a dozen kinds against one kind of speech and one
            # of music): twice the clips, so that each kind is heard from several sources.
            cells = [(label, (), label, count * (2 if label == "noise" else 1)) for label in ds.classes]
        for c_index, (kind, cell, folder, count) in enumerate(cells):
            for i in range(count):
                g, k = divmod(i, size.clips_per_group)
                name = f"{ds.name}-{folder}-g{g:03d}-{k}"
                group_seed = (seed, d_index, kinds[kind], c_index, g)
                jobs.append(_Job(
                    out_dir=str(out_dir), rel_path=f"{ds.name}/{folder}/{name}.wav",
                    clip_id=f"{ds.name}/{folder}/{name}", dataset=ds.name, kind=kind, cell=cell,
                    group=f"{ds.name}:{folder}-g{g:03d}", group_seed=group_seed,
                    clip_seed=(*group_seed, 1000 + k), excerpt=k, seconds=size.seconds,
                    group_seconds=size.seconds * size.clips_per_group + 1.0))
    return jobs


def _choose(rng: np.random.Generator, weighted: tuple[tuple[str, float], ...]) -> str:
    names = [n for n, _ in weighted]
    p = np.array([w for _, w in weighted], dtype=np.float64)
    return str(rng.choice(names, p=p / p.sum()))


def _parts_for(rng: np.random.Generator, texture: str) -> int:
    from speechmusic.demo.music import TEXTURES

    lo, hi = TEXTURES[texture]
    return int(rng.integers(lo, hi + 1))


def _music_labels(score) -> dict[str, str]:
    genders = score.vocal_genders
    n_vocal = sum(1 for p in score.parts if p.is_vocal)
    labels = {"ensemble": str(len(score.parts)) if len(score.parts) < 5 else "5+"}
    if n_vocal:
        labels["accompaniment"] = "accompanied" if n_vocal < len(score.parts) else "vocal_only"
        if len(genders) == 1:
            labels["gender"] = next(iter(genders))
    return labels


def _compose_for(job: _Job, grng: np.random.Generator, seconds: float):
    """The group's piece (the same for every excerpt of the group)."""
    from speechmusic.demo.music import Vocal, compose

    ds = DATASETS[job.dataset]
    content = ds.content
    if job.kind == "vocal":
        gender, accompaniment = job.cell
        engine = "espeak" if grng.random() < 0.6 else "soundfont"
        language = str(grng.choice(content.languages))
        style = str(grng.choice(content.styles)) if content.styles else None
        if accompaniment == "vocal_only":
            if grng.random() < 0.3:  # a small choir of one gender
                return compose(grng, seconds=seconds, texture="choir",
                               parts=int(grng.integers(2, 4)), style=style,
                               choir_gender=gender, choir_engine=engine)
            return compose(grng, seconds=seconds, texture="solo", parts=1, style=style,
                           vocal=Vocal(gender, engine, language))
        texture = _choose(grng, (("solo", 0.35), ("band", 0.4), ("chamber", 0.25)))
        instruments = 1 if texture == "solo" else int(grng.integers(2, 5 if texture == "band" else 4))
        return compose(grng, seconds=seconds, texture=texture, parts=instruments + 1, style=style,
                       vocal=Vocal(gender, engine, language))
    if job.kind == "ensemble":
        label = job.cell[0]
        parts = int(grng.integers(5, 7)) if label == "5+" else int(label)
        if parts == 1:
            texture = "solo"
        elif parts <= 4:
            texture = "chamber" if grng.random() < 0.5 else "band"
        else:
            texture = "band" if grng.random() < 0.5 else "orchestral"
        return compose(grng, seconds=seconds, texture=texture, parts=parts)
    # music of a speech / music / noise dataset
    texture = _choose(grng, content.textures)
    style = None
    if content.styles:
        from speechmusic.demo.music import _TEXTURE_STYLES

        suited = [s for s in content.styles if s in _TEXTURE_STYLES[texture]]
        style = str(grng.choice(suited)) if suited else None
    vocal = None
    if texture in ("solo", "chamber", "band") and grng.random() < content.vocal_p:
        vocal = Vocal("female" if grng.random() < 0.5 else "male",
                      "espeak" if grng.random() < 0.6 else "soundfont",
                      str(grng.choice(content.languages)))
    if texture == "solo" and vocal is not None:
        parts = 1 if grng.random() < 0.6 else 2  # solo singing, or a voice and one instrument
    else:
        parts = _parts_for(grng, texture) + (1 if vocal is not None else 0)
    return compose(grng, seconds=seconds, texture=texture, parts=parts, style=style, vocal=vocal)


def _render_source(job: _Job) -> tuple[np.ndarray, int, str, dict[str, str]]:
    """The clean signal of a job before the recording chain: (audio, rate, detail, labels)."""
    from speechmusic.demo.music import SYNTH_SR, render

    grng = np.random.default_rng(list(job.group_seed))
    crng = np.random.default_rng(list(job.clip_seed))
    ds = DATASETS[job.dataset]
    if job.kind == "speech":
        from speechmusic.demo.speech import ESPEAK_SR, random_speaker, speak

        speaker = random_speaker(grng, languages=ds.content.languages, rate=ds.content.rate)
        audio = speak(crng, speaker=speaker, seconds=job.seconds)
        return audio, ESPEAK_SR, speaker.describe(), {"smc": "speech", "gender": speaker.gender}
    if job.kind == "noise":
        from speechmusic.demo.noise import render_noise

        kind = str(grng.choice(ds.content.noise))
        audio = render_noise(crng, kind=kind, seconds=job.seconds, sr=SYNTH_SR)
        return audio, SYNTH_SR, f"noise={kind}", {"smc": "noise"}
    # Music: excerpt k of the group's piece starts k clip-lengths in, give or take a beat. The
    # piece has the same length for every excerpt, so each composes the very same piece.
    score = _compose_for(job, grng, seconds=job.group_seconds)
    offset = job.excerpt * job.seconds + float(crng.uniform(0.0, 0.8))
    score.seconds = job.seconds
    audio = render(score, offset=offset)
    labels = {"smc": "music", **_music_labels(score)}
    wanted = {"vocal": dict(zip(("gender", "accompaniment"), job.cell, strict=False)),
              "ensemble": {"ensemble": job.cell[0] if job.cell else ""}}.get(job.kind, {})
    if any(labels.get(k) != v for k, v in wanted.items()):  # a composer bug, not a user error
        raise RuntimeError(f"{job.clip_id}: composed {labels}, wanted {wanted}")
    return audio, SYNTH_SR, score.describe(), labels


def _render_clip(job: _Job) -> dict[str, Any]:
    """Render, record through the dataset's chain and write one clip; return its manifest row."""
    from speechmusic.data.files import atomic_write
    from speechmusic.demo.speech import reset

    reset()  # eSpeak as in a fresh process: the clip depends on its seed alone

    audio, sr, detail, labels = _render_source(job)
    ds = DATASETS[job.dataset]
    crng = np.random.default_rng([*job.clip_seed, 7])  # the chain's own draws
    stored = ds.chain.apply(audio, sr=sr, rng=crng)
    path = Path(job.out_dir) / job.rel_path

    def write(fh) -> None:
        sf.write(fh, stored, ds.chain.sample_rate, format="WAV", subtype=ds.chain.subtype)

    atomic_write(path, write)
    row = {c: "" for c in MANIFEST_COLUMNS}
    row.update(labels)
    row.update(id=job.clip_id, path=job.rel_path, label=labels["smc"], group=job.group,
               dataset=job.dataset, role=ds.role, sample_rate=ds.chain.sample_rate,
               duration=f"{stored.size / ds.chain.sample_rate:.6f}", subtype=ds.chain.subtype,
               detail=detail)
    return row


# ----------------------------------------------------------------------------- building


def _resolve_size(size: str | CorpusSize) -> tuple[str, CorpusSize]:
    if isinstance(size, CorpusSize):
        return "custom", size
    if size not in SIZES:
        raise ConfigError(f"size must be one of {sorted(SIZES)} or a CorpusSize, got {size!r}")
    return size, SIZES[size]


def build_corpus(out_dir: str | os.PathLike, *, seed: int = 0, size: str | CorpusSize = "quick",
                 progress: bool = True, workers: int = 1) -> Path:
    """Render the demo corpus into ``out_dir``; return the path of its ``manifest.csv``.

    Args:
        out_dir: created if needed; one folder per dataset, one below it per class or cell.
        seed: the corpus is a function of the seed (and the renderers' versions).
        size: ``"quick"`` (74 clips of 2 s), ``"full"`` (370 clips of 4 s) or a :class:`CorpusSize`.
        progress: show a progress bar (on an interactive terminal).
        workers: processes rendering at once; the output does not depend on it. With more
            than one, a script calling this needs the ``if __name__ == "__main__":`` guard.

    Also writes ``corpus.json``: the seed, size, datasets (with their recording chains), tasks,
    renderer versions and licences. Files of an earlier build that this one does not list are
    left alone.

    Raises:
        DemoUnavailableError: a renderer package (or a codec) is missing.
    """
    from speechmusic.data.files import atomic_write_json, atomic_write_text
    from speechmusic.demo._deps import renderer_versions, require
    from speechmusic.demo._pool import run_jobs

    for module in ("pretty_midi", "tinysoundfont", "espeakng_loader"):
        require(module)  # fail here, with the reason, rather than in a child process
    size_name, spec = _resolve_size(size)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = _plan(out, seed=int(seed), size=spec)
    rows = run_jobs(_render_clip, jobs, workers=workers, desc="demo corpus", show_progress=progress)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(MANIFEST_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    manifest = atomic_write_text(out / "manifest.csv", buf.getvalue())
    from speechmusic.demo import LICENCES

    atomic_write_json(out / "corpus.json", {
        "seed": int(seed), "size": size_name, "size_spec": asdict(spec), "clips": len(rows),
        "datasets": {name: {"role": d.role, "classes": list(d.classes), "analogue": d.analogue,
                            "description": d.description, "chain": d.chain.describe(),
                            "content": asdict(d.content)}
                     for name, d in DATASETS.items()},
        "tasks": {name: asdict(t) for name, t in TASKS.items()},
        "renderers": renderer_versions(), "licences": LICENCES,
    })
    return manifest


# ----------------------------------------------------------------------------- reading


def read_manifest(path: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of a demo ``manifest.csv`` as dicts (paths as written: relative to its folder)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such demo manifest")
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows and set(MANIFEST_COLUMNS) - set(rows[0]):
        raise ConfigError(f"{path}: not a demo manifest (missing {sorted(set(MANIFEST_COLUMNS) - set(rows[0]))})")
    return rows


def task_manifest(path: str | os.PathLike, *, task: str, datasets: tuple[str, ...] | None = None):
    """The clips of ``task`` (one of :data:`TASKS`) as a :class:`speechmusic.data.Manifest`, the
    task's column as label; ``datasets`` overrides the task's own (e.g. speaker gender on the
    speech of the source datasets: ``task="gender", datasets=("broadcast", ...)``)."""
    from speechmusic.data.manifest import Clip, Manifest

    if task not in TASKS:
        raise ConfigError(f"task must be one of {sorted(TASKS)}, got {task!r}")
    spec = TASKS[task]
    keep = set(datasets or spec.datasets)
    unknown = keep - set(DATASETS)
    if unknown:
        raise ConfigError(f"unknown demo dataset(s) {sorted(unknown)}; have {sorted(DATASETS)}")
    base = Path(path).resolve().parent
    clips = [Clip(id=row["id"], path=str(base / row["path"]), label=row[spec.column],
                  group=row["group"], dataset=row["dataset"])
             for row in read_manifest(path)
             if row["dataset"] in keep and row[spec.column] in spec.classes]
    if not clips:
        raise ConfigError(f"{path}: no clips for task {task!r} in {sorted(keep)}")
    return Manifest(clips)


def corpus_info(path: str | os.PathLike) -> dict[str, Any]:
    """``corpus.json`` beside a manifest."""
    return json.loads((Path(path).resolve().parent / "corpus.json").read_text(encoding="utf-8"))
