"""The feature cache: features computed once per (file, input representation), memory-mapped after.

Each clip's features ``[n_features, frames]`` are stored as one ``.npy`` under
``<root>/<FeatureConfig.key()>/<key[:2]>/<key>.npy``, where ``key`` hashes the resolved path, the
file's size and modification time, the clip's start and duration and the feature config's key:
an edited file or a changed config is simply a different entry. Reads use ``mmap_mode='r'``, so a
dataset larger than memory costs only page cache. Writes are atomic, so an interrupted run never
leaves a truncated entry; concurrent runs at worst compute an entry twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from speechmusic.audio import load_audio
from speechmusic.data.files import atomic_save_npy
from speechmusic.data.manifest import Clip
from speechmusic.errors import AudioDecodeError, AudioFileNotFoundError, ConfigError
from speechmusic.features import FeatureConfig, build_frontend, compute_features

__all__ = ["CacheStats", "FeatureCache", "FeatureRef", "checked_features", "default_cache_dir"]

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``$SPEECHMUSIC_CACHE/features`` or ``~/.cache/speechmusic/features``."""
    base = os.environ.get("SPEECHMUSIC_CACHE")
    if base:
        return Path(base).expanduser() / "features"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "speechmusic" / "features"


@dataclass
class CacheStats:
    """``extracted``: features computed (cache misses); ``hits``: entries read from disk."""

    extracted: int = 0
    hits: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"extracted": self.extracted, "hits": self.hits}


class FeatureRef:
    """A handle on one clip's features ``[n_features, frames]``: an array in memory or a cache
    entry opened (memory-mapped) on demand.

    Patch sets hold refs rather than open memory maps, because every open map keeps a file
    descriptor: a dataset of many thousand clips would exhaust the process's limit.
    """

    __slots__ = ("path", "shape", "_array")

    def __init__(self, *, shape: tuple[int, int], path: Path | None = None,
                 array: np.ndarray | None = None) -> None:
        if (path is None) == (array is None):
            raise ValueError("a FeatureRef holds either a path or an array")
        self.path = path
        self.shape = (int(shape[0]), int(shape[1]))
        self._array = array

    @property
    def n_frames(self) -> int:
        return self.shape[1]

    def load(self, *, mmap: bool = True) -> np.ndarray:
        """The features; memory-mapped read-only (``mmap``) or read into memory."""
        if self._array is not None:
            return self._array
        return np.load(self.path, mmap_mode="r" if mmap else None, allow_pickle=False)

    @classmethod
    def of(cls, array: np.ndarray) -> FeatureRef:
        """A ref on an array already in memory."""
        return cls(shape=array.shape, array=np.asarray(array, dtype=np.float32))


def checked_features(feats: np.ndarray, config: FeatureConfig, *, path: str | None) -> np.ndarray:
    """``feats`` as contiguous float32 after checking its values: NaN or +inf is an error; -inf
    is allowed only in INA's bands, where digital silence gives it (as in inaSpeechSegmenter;
    :class:`~speechmusic.training.patches.PatchSet` leaves such patches out)."""
    a = np.ascontiguousarray(feats, dtype=np.float32)
    finite = np.isfinite(a)
    if not finite.all():
        silent = config.kind == "ina_bands" and bool(np.all(np.isneginf(a[~finite])))
        if not silent:
            raise AudioDecodeError(path, "features contain NaN or infinite values")
    return a


class FeatureCache:
    """Features of clips, computed on first use and memory-mapped afterwards.

    ``root=None`` keeps entries in memory only (nothing is written).
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = None if root is None else Path(root).expanduser()
        self.stats = CacheStats()
        self._memory: dict[str, np.ndarray] = {}
        self._frontends: dict[str, nn.Module] = {}

    def key(self, clip: Clip, config: FeatureConfig) -> str:
        """The entry's hash; raises :class:`AudioFileNotFoundError` for a missing file."""
        path = Path(clip.path)
        try:
            resolved = path.resolve(strict=True)
            st = resolved.stat()
        except FileNotFoundError:
            raise AudioFileNotFoundError(path, "no such file") from None
        except OSError as exc:
            raise AudioDecodeError(path, f"cannot stat: {exc}") from None
        payload = json.dumps({"path": str(resolved), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                              "start": clip.start, "duration": clip.duration,
                              "features": config.key()}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:32]

    def entry_path(self, key: str, config: FeatureConfig) -> Path | None:
        if self.root is None:
            return None
        return self.root / config.key() / key[:2] / f"{key}.npy"

    def _frontend(self, config: FeatureConfig) -> nn.Module:
        k = config.key()
        if k not in self._frontends:
            self._frontends[k] = build_frontend(config)
        return self._frontends[k]

    def signal_rate(self, config: FeatureConfig) -> int:
        """The sample rate of :meth:`load_signal`'s samples."""
        return int(config.sample_rate)

    def load_signal(self, clip: Clip, config: FeatureConfig) -> np.ndarray:
        """The clip's samples at the features' rate, as they enter :meth:`extract`."""
        return load_audio(clip.path, sr=config.sample_rate, offset=clip.start or 0.0,
                          duration=clip.duration)

    def extract(self, clip: Clip, config: FeatureConfig,
                transform: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        """Decode (then ``transform`` the signal, if given) and compute, bypassing the cache:
        ``[n_features, frames]`` float32."""
        audio = self.load_signal(clip, config)
        if transform is not None:
            audio = transform(audio)
        feats = compute_features(audio, config, frontend=self._frontend(config))
        return checked_features(feats, config, path=clip.path)

    def ref(self, clip: Clip, config: FeatureConfig) -> FeatureRef:
        """A handle on the clip's features, computing and storing them on a miss.

        Raises:
            AudioError: the clip cannot be read (the caller records it as skipped).
        """
        return self._cached(self.key(clip, config), clip, config, None)

    def derived_ref(self, clip: Clip, config: FeatureConfig, *, tag: str,
                    transform: Callable[[np.ndarray], np.ndarray]) -> FeatureRef:
        """A handle on the features of ``transform(signal)`` (an augmented copy of the clip),
        cached like the clip's own under its key and ``tag``: the tag must name everything
        ``transform`` depends on."""
        key = hashlib.sha256(f"{self.key(clip, config)}|{tag}".encode()).hexdigest()[:32]
        return self._cached(key, clip, config, transform)

    def _cached(self, key: str, clip: Clip, config: FeatureConfig,
                transform: Callable[[np.ndarray], np.ndarray] | None) -> FeatureRef:
        if key in self._memory:
            self.stats.hits += 1
            return FeatureRef.of(self._memory[key])
        entry = self.entry_path(key, config)
        if entry is not None and entry.is_file():
            try:
                arr = np.load(entry, mmap_mode="r", allow_pickle=False)
                ok = arr.ndim == 2 and arr.shape[0] == config.n_features and arr.dtype == np.float32
                shape = arr.shape
                del arr  # closes the map (and its file descriptor)
                if ok:
                    self.stats.hits += 1
                    return FeatureRef(shape=shape, path=entry)
            except (OSError, ValueError) as exc:  # a damaged entry is recomputed, not trusted
                log.warning("feature cache entry %s unreadable (%s); recomputing", entry, exc)
        feats = self.extract(clip, config, transform)
        if feats.shape[0] != config.n_features:
            raise ConfigError(f"features of {clip.path} have {feats.shape[0]} rows, config says "
                              f"{config.n_features}")
        self.stats.extracted += 1
        if entry is None:
            self._memory[key] = feats
            return FeatureRef.of(feats)
        atomic_save_npy(entry, feats)
        return FeatureRef(shape=feats.shape, path=entry)

    def features(self, clip: Clip, config: FeatureConfig) -> np.ndarray:
        """The clip's features ``[n_features, frames]``, memory-mapped where cached on disk."""
        return self.ref(clip, config).load()
