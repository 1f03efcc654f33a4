"""Writing embeddings of many files: one ``.npz`` per file, or one HDF5 store for a manifest.

Per file (``embed_files``), ``OUT/<relative path>.npz`` holds::

    embeddings  [frames, dim] float32     timestamp embeddings (HEAR's shape)
    timestamps  [frames] float64          window centres in seconds
    scene       [dim] float32             mean of the frames (HEAR's scene embedding)
    sample_rate, source (the audio path), embedder (JSON of Embedder.describe())

For a manifest (``embed_manifest``), one HDF5 file holds every clip, rows concatenated::

    embeddings [total_frames, dim]   timestamps [total_frames]   offsets [n_clips + 1]
    scene [n_clips, dim]             ids, paths, labels, groups [n_clips] (strings)
    attrs: embedder (JSON), sample_rate, embedding_size

Clip ``i`` owns rows ``offsets[i]:offsets[i+1]``. A file that cannot be read or embedded is
reported (path and reason) and skipped; the batch goes on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from speechmusic.audio import AUDIO_EXTENSIONS
from speechmusic.data.files import atomic_write
from speechmusic.data.manifest import Manifest
from speechmusic.errors import ConfigError, SpeechMusicError
from speechmusic.progress import progress
from speechmusic.transfer.embedders import Embedder

__all__ = ["EmbedFailure", "EmbedReport", "collect_inputs", "embed_files", "embed_manifest",
           "read_embedding_store"]


@dataclass(frozen=True)
class EmbedFailure:
    path: str
    reason: str


@dataclass
class EmbedReport:
    """What was written, and what failed (``failures``: path and reason)."""

    written: list[Path] = field(default_factory=list)
    n_ok: int = 0
    failures: list[EmbedFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def collect_inputs(inputs: Iterable[str | os.PathLike]) -> list[tuple[Path, Path]]:
    """``(audio path, relative output stem)`` for files and, recursively, audio in folders."""
    out: list[tuple[Path, Path]] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for f in sorted(q for q in p.rglob("*") if q.suffix.lower() in AUDIO_EXTENSIONS and q.is_file()):
                out.append((f, Path(p.name) / f.relative_to(p).with_suffix("")))
        else:
            out.append((p, Path(p.stem)))  # missing files are reported when embedded
    return out


def _npz_writer(emb: np.ndarray, ts: np.ndarray, source: str, meta: str,
                sr: int) -> Callable:
    def write(fh) -> None:
        np.savez_compressed(fh, embeddings=emb, timestamps=ts, scene=emb.mean(axis=0).astype(np.float32),
                            sample_rate=np.int64(sr), source=np.array(source), embedder=np.array(meta))
    return write


def embed_files(embedder: Embedder, inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike, *,
                on_failure: Callable[[EmbedFailure], None] | None = None) -> EmbedReport:
    """Embed files (folders are searched for audio) into ``out_dir/<name>.npz`` each."""
    out_dir = Path(out_dir)
    report = EmbedReport()
    meta = json.dumps(embedder.describe())
    items = collect_inputs(inputs)
    if not items:
        raise ConfigError("no input files to embed")
    seen: set[Path] = set()
    for path, stem in progress(items, desc=f"embed {embedder.name}", unit="file"):
        target = out_dir / stem.with_suffix(".npz")
        n = 1
        while target in seen:  # same stem from two folders: keep both
            target = out_dir / stem.parent / f"{stem.name}-{n}.npz"
            n += 1
        seen.add(target)
        try:
            emb, ts = embedder.embed_file(path)
        except SpeechMusicError as exc:
            failure = EmbedFailure(str(path), str(getattr(exc, "reason", exc)))
            report.failures.append(failure)
            if on_failure is not None:
                on_failure(failure)
            continue
        atomic_write(target, _npz_writer(emb, ts, str(path), meta, embedder.sample_rate))
        report.written.append(target)
        report.n_ok += 1
    return report


def embed_manifest(embedder: Embedder, manifest: Manifest, out_path: str | os.PathLike, *,
                   on_failure: Callable[[EmbedFailure], None] | None = None) -> EmbedReport:
    """Embed every clip of ``manifest`` (its ``start`` / ``duration`` honoured) into one HDF5 store."""
    import h5py

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    report = EmbedReport()
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    dim = embedder.embedding_size
    ids, paths, labels, groups, offsets = [], [], [], [], [0]
    try:
        with h5py.File(tmp, "w") as f:
            emb_ds = f.create_dataset("embeddings", shape=(0, dim), maxshape=(None, dim),
                                      dtype="float32", chunks=(256, dim))
            ts_ds = f.create_dataset("timestamps", shape=(0,), maxshape=(None,), dtype="float64",
                                     chunks=(4096,))
            scenes = []
            for clip in progress(manifest, desc=f"embed {embedder.name}", unit="clip",
                                 total=len(manifest)):
                try:
                    emb, ts = embedder.embed_file(clip.path, offset=clip.start or 0.0,
                                                  duration=clip.duration)
                except SpeechMusicError as exc:
                    failure = EmbedFailure(clip.path, str(getattr(exc, "reason", exc)))
                    report.failures.append(failure)
                    if on_failure is not None:
                        on_failure(failure)
                    continue
                lo = emb_ds.shape[0]
                emb_ds.resize(lo + len(emb), axis=0)
                emb_ds[lo:] = emb
                ts_ds.resize(lo + len(ts), axis=0)
                ts_ds[lo:] = ts
                offsets.append(lo + len(emb))
                scenes.append(emb.mean(axis=0))
                ids.append(clip.id)
                paths.append(clip.path)
                labels.append(clip.label)
                groups.append(clip.group)
                report.n_ok += 1
            strings = h5py.string_dtype()
            f.create_dataset("offsets", data=np.asarray(offsets, dtype=np.int64))
            f.create_dataset("scene", data=np.asarray(scenes, dtype=np.float32).reshape(-1, dim))
            for name, values in (("ids", ids), ("paths", paths), ("labels", labels), ("groups", groups)):
                f.create_dataset(name, data=np.asarray(values, dtype=object), dtype=strings)
            f.attrs["embedder"] = json.dumps(embedder.describe())
            f.attrs["sample_rate"] = embedder.sample_rate
            f.attrs["embedding_size"] = dim
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    report.written.append(out_path)
    return report


def read_embedding_store(path: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{clip id: (embeddings [frames, dim], timestamps [frames])}`` of a store written by
    :func:`embed_manifest`."""
    import h5py

    with h5py.File(path, "r") as f:
        off = f["offsets"][()]
        emb, ts = f["embeddings"], f["timestamps"]
        ids = [s.decode() if isinstance(s, bytes) else str(s) for s in f["ids"][()]]
        return {cid: (emb[off[i]:off[i + 1]], ts[off[i]:off[i + 1]]) for i, cid in enumerate(ids)}
