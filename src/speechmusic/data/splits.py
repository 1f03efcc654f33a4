"""Grouped, stratified cross-validation splits and balancing by random down-sampling.

The paper (section 4.3) tests on 10 % of the data, validates on 10 % and repeats this five times.
:func:`make_folds` does that without leakage: clips are first merged into *units* (clips that share
a group or a file are one unit, so no file and no source group ever has frames in two splits),
the units are dealt into ``round(1 / test_fraction)`` blocks, stratified by label (a greedy
assignment that keeps every label's share close to equal in every block), and fold ``k`` tests on
block ``k``, validates on the next block(s) and trains on the rest. Test sets of different folds
are disjoint.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from speechmusic.data.manifest import Manifest
from speechmusic.errors import ConfigError

__all__ = ["Split", "make_folds", "group_units", "balanced_indices", "check_no_leak",
           "repeated_warnings"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """One fold: indices into the manifest it was made from."""

    fold: int
    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]

    def to_dict(self, manifest: Manifest | None = None) -> dict:
        """Indices, or clip ids when ``manifest`` is given (what ``split.json`` stores)."""
        if manifest is None:
            return {"fold": self.fold, "train": list(self.train), "val": list(self.val),
                    "test": list(self.test)}
        return {"fold": self.fold, **{name: [manifest[i].id for i in getattr(self, name)]
                                      for name in ("train", "val", "test")}}


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def group_units(manifest: Manifest) -> np.ndarray:
    """Unit index per clip ``[n_clips]``: clips sharing a group or a file share a unit."""
    n = len(manifest)
    uf = _UnionFind(n)
    first: dict[tuple[str, str], int] = {}
    for i, clip in enumerate(manifest):
        for key in (("group", clip.group), ("path", clip.source_key)):
            if key in first:
                uf.union(first[key], i)
            else:
                first[key] = i
    roots = [uf.find(i) for i in range(n)]
    _, units = np.unique(roots, return_inverse=True)
    return units.astype(np.int64)


def _deal_units(units: np.ndarray, strata: np.ndarray, n_blocks: int,
                rng: np.random.Generator) -> np.ndarray:
    """Block index per unit: greedy, largest units first, each to the block holding the least of
    its strata relative to the stratum's total (ties: fewest clips, then random)."""
    n_units = int(units.max()) + 1
    n_strata = int(strata.max()) + 1
    counts = np.zeros((n_units, n_strata), dtype=np.float64)
    np.add.at(counts, (units, strata), 1.0)
    totals = counts.sum(axis=0)
    order = rng.permutation(n_units)
    order = order[np.argsort(-counts[order].sum(axis=1), kind="stable")]
    blocks = np.zeros((n_blocks, n_strata), dtype=np.float64)
    assignment = np.empty(n_units, dtype=np.int64)
    for u in order:
        share = (blocks / totals) @ counts[u]
        size = blocks.sum(axis=1)
        jitter = rng.random(n_blocks)
        best = np.lexsort((jitter, size, np.round(share, 12)))[0]
        assignment[u] = best
        blocks[best] += counts[u]
    return assignment


# Every split of the same clips repeats the same warning (a study splits them once per model
# and input): each distinct message is logged once per process, the repeats are only counted.
_SAID: dict[str, int] = {}
_SAID_LOCK = threading.Lock()


def _warn_once(message: str) -> None:
    with _SAID_LOCK:
        times = _SAID[message] = _SAID.get(message, 0) + 1
    if times == 1:
        log.warning("%s (said once; further splits with the same shortfall are not warned about)",
                    message)
    else:
        log.debug("%s (%d times so far)", message, times)


def repeated_warnings() -> dict[str, int]:
    """How often each distinct splitting warning arose in this process (each was logged once)."""
    with _SAID_LOCK:
        return dict(_SAID)


def _warn_thin_strata(thin: list[tuple[Hashable, int]], n_blocks: int) -> None:
    """One line for all strata with fewer independent groups than blocks."""
    counts = sorted({n for _, n in thin})
    if len(thin) == 1:
        (key, n), = thin
        message = (f"stratum {key} has only {n} group(s) for {n_blocks} blocks: some test or "
                   "validation sets will lack it")
    elif len(counts) == 1:
        message = (f"{len(thin)} strata have only {counts[0]} group(s) for {n_blocks} blocks "
                   f"({', '.join(str(k) for k, _ in thin)}): some test or validation sets will "
                   "lack them")
    else:
        message = (f"{len(thin)} strata have fewer groups than the {n_blocks} blocks "
                   f"({', '.join(f'{k}: {n}' for k, n in thin)}): some test or validation sets "
                   "will lack them")
    _warn_once(message)


def make_folds(manifest: Manifest, *, n_folds: int = 5, test_fraction: float | None = 0.1,
               val_fraction: float = 0.1, seed: int = 0,
               stratify: Sequence[Hashable] | None = None) -> list[Split]:
    """``n_folds`` grouped, stratified train/validation/test splits.

    Args:
        manifest: the clips.
        n_folds: how many folds (repetitions).
        test_fraction: share of the data in each test set (0.1 as in the paper); ``None`` gives
            classic k-fold, ``1 / n_folds``.
        val_fraction: share in each validation set; 0 for none.
        seed: shuffles the assignment of units to blocks.
        stratify: one key per clip to stratify on (default: the label; a combined run passes
            ``(dataset, label)``).

    Returns:
        one :class:`Split` per fold, indices into ``manifest``.

    Raises:
        ConfigError: impossible fractions, or fewer independent groups than blocks.
    """
    if isinstance(n_folds, bool) or not isinstance(n_folds, int) or n_folds < 1:
        raise ConfigError(f"n_folds must be a positive integer, got {n_folds!r}")
    if test_fraction is None:
        if n_folds < 2:
            raise ConfigError("classic k-fold (test_fraction null) needs n_folds >= 2")
        n_blocks = n_folds
    else:
        if not 0 < test_fraction < 1:
            raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
        n_blocks = int(round(1.0 / test_fraction))
    if not 0 <= val_fraction < 1:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
    n_val = 0 if val_fraction == 0 else max(1, int(round(val_fraction * n_blocks)))
    if n_folds > n_blocks:
        raise ConfigError(f"{n_folds} folds with disjoint test sets of {test_fraction:.0%} each are "
                          f"impossible; use at most {n_blocks} folds or a smaller test_fraction")
    if 1 + n_val >= n_blocks:
        raise ConfigError(f"test_fraction {test_fraction} and val_fraction {val_fraction} leave no "
                          "training data")
    if len(manifest) == 0:
        raise ConfigError("cannot split an empty manifest")
    keys = [c.label for c in manifest] if stratify is None else list(stratify)
    if len(keys) != len(manifest):
        raise ConfigError(f"stratify has {len(keys)} keys for {len(manifest)} clips")
    _, strata = np.unique(np.array([repr(k) for k in keys]), return_inverse=True)
    units = group_units(manifest)
    n_units = int(units.max()) + 1
    if n_units < n_blocks:
        raise ConfigError(f"only {n_units} independent group(s) for {n_blocks} blocks "
                          f"(test_fraction {test_fraction}): add data, use coarser fractions or "
                          "finer groups")
    thin = []
    for s in np.unique(strata):
        n_in = len(np.unique(units[strata == s]))
        if n_in < n_blocks:
            thin.append((keys[int(np.flatnonzero(strata == s)[0])], n_in))
    if thin:
        _warn_thin_strata(thin, n_blocks)
    rng = np.random.default_rng(seed)
    block_of_unit = _deal_units(units, strata, n_blocks, rng)
    block = block_of_unit[units]
    folds = []
    for k in range(n_folds):
        val_blocks = {(k + 1 + j) % n_blocks for j in range(n_val)}
        test = tuple(int(i) for i in np.flatnonzero(block == k))
        val = tuple(int(i) for i in np.flatnonzero(np.isin(block, list(val_blocks))))
        train = tuple(int(i) for i in np.flatnonzero((block != k) & ~np.isin(block, list(val_blocks))))
        folds.append(Split(fold=k, train=train, val=val, test=test))
    return folds


def check_no_leak(manifest: Manifest, split: Split) -> None:
    """Raise :class:`ConfigError` if a group or a file appears in two parts of ``split``."""
    seen: dict[str, str] = {}
    for part in ("train", "val", "test"):
        for i in getattr(split, part):
            clip = manifest[i]
            for key in (f"group:{clip.group}", f"path:{clip.source_key}"):
                if key in seen and seen[key] != part:
                    raise ConfigError(f"fold {split.fold}: {key} is in both {seen[key]} and {part}")
                seen[key] = part


def balanced_indices(keys: Sequence[Hashable] | np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
    """Random down-sampling: indices keeping ``min count`` items of every key, in input order.

    ``keys`` ``[n]`` is one class key per item (a label, or ``(dataset, label)`` for balanced
    shares of several datasets). Returns sorted indices ``[n_keys * min_count]``.
    """
    arr = np.array([repr(k) for k in keys])
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    values, inverse, counts = np.unique(arr, return_inverse=True, return_counts=True)
    least = int(counts.min())
    keep = []
    for v in range(len(values)):
        members = np.flatnonzero(inverse == v)
        keep.append(rng.choice(members, size=least, replace=False) if len(members) > least else members)
    return np.sort(np.concatenate(keep)).astype(np.int64)
