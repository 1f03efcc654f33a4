"""Patch sets: the training unit. Every patch of a clip's features carries the clip's label.

A :class:`PatchSet` indexes patches ``(clip, start frame)`` over clips' features (held as
:class:`~speechmusic.training.cache.FeatureRef`, memory-mapped from the feature cache) and gives
normalised batches ``[batch, n_features, patch_frames]``. Small sets are copied into memory once
(:meth:`PatchSet.materialize`); large ones are gathered from the memory maps batch by batch.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator, Sequence

import numpy as np

from speechmusic.data.splits import balanced_indices
from speechmusic.errors import ConfigError
from speechmusic.features import FeatureNormalizer, patch_starts
from speechmusic.training.cache import FeatureRef

__all__ = ["PatchSet", "EncodedPatches", "batch_indices", "limited_starts"]

_OPEN_MAPS = 64  # open memory maps kept per patch set (each holds a file descriptor)


def limited_starts(n_frames: int, *, patch_frames: int, hop: int, limit: int | None,
                   bad_frames: np.ndarray | None = None) -> np.ndarray:
    """Patch start frames; at most ``limit`` of them, evenly spaced over the clip. Patches that
    touch a frame flagged in ``bad_frames`` (``[n_frames]`` bool) are left out first."""
    starts = patch_starts(n_frames, patch_frames=patch_frames, hop=hop)
    if bad_frames is not None and len(starts) and bad_frames.any():
        bad_before = np.concatenate([[0], np.cumsum(bad_frames, dtype=np.int64)])
        starts = starts[bad_before[starts + patch_frames] == bad_before[starts]]
    if limit is not None and len(starts) > limit:
        pick = np.round(np.linspace(0, len(starts) - 1, limit)).astype(np.int64)
        starts = starts[np.unique(pick)]
    return starts


class PatchSet:
    """Patches of a list of clips.

    Args:
        refs: one feature handle per clip, ``[n_features, frames]`` each.
        clip_labels: class index per clip ``[n_clips]``.
        patch_frames, hop: patch length and step in frames (``FeatureConfig.patch_frames``, ``.hop``).
        normalizer: applied to every batch (fitted on training data only); ``None``: raw features.
            One marked ``per_clip`` (:class:`~speechmusic.features.SlidingStandardizer`) is
            applied to each clip's whole features instead, before patches are cut.
        max_patches_per_clip: keep at most this many patches per clip (evenly spaced).
        pad: clips shorter than one patch give one edge-padded patch instead of none.
        clip_keys: balancing key per clip (default: the label); see :meth:`balanced`.
        drop_nonfinite: leave out patches holding non-finite values (INA's bands are -inf on
            digital silence; such patches carry no class, and the segmenter skips them too).

    Attributes:
        patch_clip, patch_start, patch_label: ``[n_patches]`` int64 arrays.
    """

    def __init__(self, refs: Sequence[FeatureRef], clip_labels: Sequence[int], *, patch_frames: int,
                 hop: int, normalizer: FeatureNormalizer | None = None,
                 max_patches_per_clip: int | None = None, pad: bool = False,
                 clip_keys: Sequence[Hashable] | None = None, drop_nonfinite: bool = False) -> None:
        if len(refs) != len(clip_labels):
            raise ConfigError(f"{len(refs)} clips but {len(clip_labels)} labels")
        if patch_frames <= 0 or hop <= 0:
            raise ConfigError(f"patch_frames and hop must be positive, got {patch_frames}, {hop}")
        self.patch_frames = int(patch_frames)
        self.hop = int(hop)
        self.normalizer = normalizer
        self._per_clip = bool(getattr(normalizer, "per_clip", False))
        self.clip_labels = np.asarray(clip_labels, dtype=np.int64)
        self.clip_keys = list(clip_keys) if clip_keys is not None else [int(v) for v in self.clip_labels]
        if len(self.clip_keys) != len(refs):
            raise ConfigError(f"{len(refs)} clips but {len(self.clip_keys)} balancing keys")
        self.refs: list[FeatureRef] = []
        clips, starts = [], []
        n_features = None
        for i, ref in enumerate(refs):
            if n_features is None:
                n_features = ref.shape[0]
            elif ref.shape[0] != n_features:
                raise ConfigError(f"clip {i} has {ref.shape[0]} features, others {n_features}")
            if pad and 0 < ref.n_frames < self.patch_frames:
                arr = np.asarray(ref.load(mmap=False))
                ref = FeatureRef.of(np.pad(arr, ((0, 0), (0, self.patch_frames - arr.shape[1])),
                                           mode="edge"))
            self.refs.append(ref)
            bad = ~np.isfinite(np.asarray(ref.load())).all(axis=0) if drop_nonfinite else None
            s = limited_starts(ref.n_frames, patch_frames=self.patch_frames, hop=self.hop,
                               limit=max_patches_per_clip, bad_frames=bad)
            clips.append(np.full(len(s), i, dtype=np.int64))
            starts.append(s)
        self.n_features = int(n_features or 0)
        self.patch_clip = np.concatenate(clips) if clips else np.zeros(0, dtype=np.int64)
        self.patch_start = np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64)
        self.patch_label = self.clip_labels[self.patch_clip] if len(self.patch_clip) else \
            np.zeros(0, dtype=np.int64)
        self._memory: np.ndarray | None = None
        self._maps: OrderedDict[int, np.ndarray] = OrderedDict()

    # ------------------------------------------------------------------ facts
    def __len__(self) -> int:
        return len(self.patch_clip)

    @property
    def n_clips(self) -> int:
        return len(self.refs)

    @property
    def patch_shape(self) -> tuple[int, int]:
        return (self.n_features, self.patch_frames)

    @property
    def nbytes(self) -> int:
        """Memory a materialised copy takes."""
        return len(self) * self.n_features * self.patch_frames * 4

    def clips_without_patches(self) -> list[int]:
        """Clips shorter than one patch (they contribute nothing)."""
        return [i for i, r in enumerate(self.refs) if r.n_frames < self.patch_frames]

    def patch_keys(self) -> list[Hashable]:
        return [self.clip_keys[c] for c in self.patch_clip]

    # ------------------------------------------------------------------ selections
    def subset(self, indices: np.ndarray | Sequence[int]) -> PatchSet:
        """The patches at ``indices`` (the clips stay, so clip indices keep their meaning)."""
        idx = np.asarray(indices, dtype=np.int64)
        out = object.__new__(PatchSet)
        out.__dict__.update(self.__dict__)
        out.patch_clip = self.patch_clip[idx]
        out.patch_start = self.patch_start[idx]
        out.patch_label = self.patch_label[idx]
        out._memory = None if self._memory is None else self._memory[idx]
        out._maps = OrderedDict()
        return out

    def balanced(self, *, rng: np.random.Generator) -> PatchSet:
        """Random down-sampling of patches so that every balancing key has as many as the rarest."""
        return self.subset(balanced_indices(self.patch_keys(), rng=rng))

    # ------------------------------------------------------------------ data
    def _array(self, clip: int) -> np.ndarray:
        arr = self._maps.get(clip)
        if arr is None:
            arr = self._clip_features(clip, mmap=True)
            self._maps[clip] = arr
            if len(self._maps) > _OPEN_MAPS:
                self._maps.popitem(last=False)
        else:
            self._maps.move_to_end(clip)
        return arr

    def _clip_features(self, clip: int, *, mmap: bool) -> np.ndarray:
        arr = self.refs[clip].load(mmap=mmap)
        return self.normalizer.transform(arr) if self._per_clip else np.asarray(arr)

    def _gather(self, indices: np.ndarray) -> np.ndarray:
        out = np.empty((len(indices), self.n_features, self.patch_frames), dtype=np.float32)
        t = self.patch_frames
        for row, i in enumerate(indices):
            s = int(self.patch_start[i])
            out[row] = self._array(int(self.patch_clip[i]))[:, s:s + t]
        if self.normalizer is not None and not self._per_clip:
            out = self.normalizer.transform(out)
        return out

    def materialize(self, *, max_bytes: int | None = None) -> bool:
        """Copy all (normalised) patches into memory unless that exceeds ``max_bytes``.

        Returns whether the set is now in memory. Each clip's features are read once.
        """
        if self._memory is not None:
            return True
        if max_bytes is not None and self.nbytes > max_bytes:
            return False
        out = np.empty((len(self), self.n_features, self.patch_frames), dtype=np.float32)
        order = np.argsort(self.patch_clip, kind="stable")
        t = self.patch_frames
        bounds = np.flatnonzero(np.diff(self.patch_clip[order])) + 1
        for group in np.split(order, bounds) if len(order) else []:
            arr = self._clip_features(int(self.patch_clip[group[0]]), mmap=False)
            for i in group:
                s = int(self.patch_start[i])
                out[i] = arr[:, s:s + t]
        if self.normalizer is not None and not self._per_clip:
            for lo in range(0, len(out), 4096):  # in place, in slices: no second full copy
                out[lo:lo + 4096] = self.normalizer.transform(out[lo:lo + 4096])
        self._memory = out
        self._maps.clear()
        return True

    def batch(self, indices: np.ndarray | Sequence[int]) -> np.ndarray:
        """Normalised patches ``[len(indices), n_features, patch_frames]`` float32."""
        idx = np.asarray(indices, dtype=np.int64)
        if self._memory is not None:
            return self._memory[idx]
        return self._gather(idx)

    def iter_batches(self, batch_size: int, *, rng: np.random.Generator | None = None,
                     drop_singleton: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(x [b, F, T], y [b])`` batches, shuffled when ``rng`` is given. ``drop_singleton``
        drops a final batch of one patch (batch norm cannot train on it)."""
        for idx in batch_indices(len(self), batch_size, rng=rng, drop_singleton=drop_singleton):
            yield self.batch(idx), self.patch_label[idx]


def batch_indices(n: int, batch_size: int, *, rng: np.random.Generator | None = None,
                  drop_singleton: bool = False) -> Iterator[np.ndarray]:
    """Index arrays of the mini-batches over ``n`` items: shuffled with ``rng``, else in order;
    ``drop_singleton`` drops a final batch of one item."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for lo in range(0, n, batch_size):
        idx = order[lo:lo + batch_size]
        if drop_singleton and len(idx) == 1 and n > 1:
            return
        yield idx


class EncodedPatches:
    """Patches already passed through a model's frozen prefix (:meth:`SpeechMusicModel.frozen_split`):
    ``x`` ``[n_patches, ...]`` in memory and their labels, batched exactly like the
    :class:`PatchSet` they came from (the same ``rng`` gives the same batches)."""

    def __init__(self, x: np.ndarray, patch_label: np.ndarray) -> None:
        if len(x) != len(patch_label):
            raise ConfigError(f"{len(x)} encoded patches but {len(patch_label)} labels")
        self.x = x
        self.patch_label = np.asarray(patch_label, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.patch_label)

    def iter_batches(self, batch_size: int, *, rng: np.random.Generator | None = None,
                     drop_singleton: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for idx in batch_indices(len(self), batch_size, rng=rng, drop_singleton=drop_singleton):
            yield self.x[idx], self.patch_label[idx]
