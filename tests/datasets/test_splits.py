"""Grouped, stratified folds: no group or file in two splits, disjoint tests, balancing."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from speechmusic.data import (
    Clip,
    Manifest,
    balanced_indices,
    check_no_leak,
    group_units,
    make_folds,
)
from speechmusic.data.splits import Split
from speechmusic.errors import ConfigError


def _manifest(n_groups: int = 30, per_group: int = 3, seed: int = 0) -> Manifest:
    rng = np.random.default_rng(seed)
    clips = []
    for g in range(n_groups):
        label = "music" if g % 3 else "speech"
        for k in range(int(rng.integers(1, per_group + 1))):
            clips.append(Clip(id=f"g{g}/c{k}", path=f"/d/g{g}_{k}.wav", label=label, group=f"g{g}"))
    # two segments of one file under different groups: they must still stay together
    clips.append(Clip(id="seg1", path="/d/long.wav", label="music", group="x1", start=0, duration=5))
    clips.append(Clip(id="seg2", path="/d/long.wav", label="music", group="x2", start=5, duration=5))
    return Manifest(clips)


def test_units_merge_groups_and_files():
    m = _manifest()
    units = group_units(m)
    i1, i2 = m.ids().index("seg1"), m.ids().index("seg2")
    assert units[i1] == units[i2]
    assert units[m.ids().index("g0/c0")] != units[i1]


def test_no_group_or_file_leaks_across_splits_and_tests_are_disjoint():
    m = _manifest()
    folds = make_folds(m, n_folds=5, test_fraction=0.1, val_fraction=0.1, seed=3)
    assert len(folds) == 5
    tests = [set(f.test) for f in folds]
    for a in range(5):
        for b in range(a + 1, 5):
            assert not tests[a] & tests[b]
    for f in folds:
        check_no_leak(m, f)
        parts = {name: {m[i].group for i in getattr(f, name)} for name in ("train", "val", "test")}
        files = {name: {m[i].path for i in getattr(f, name)} for name in ("train", "val", "test")}
        for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
            assert not parts[a] & parts[b]
            assert not files[a] & files[b]
        assert sorted(f.train + f.val + f.test) == list(range(len(m)))
        assert f.test and f.val and f.train


def test_check_no_leak_catches_a_leak():
    m = _manifest()
    bad = Split(fold=0, train=(0,), val=(), test=(1,))  # g0/c0 and g0/c1: same group
    assert m[0].group == m[1].group
    with pytest.raises(ConfigError, match="both"):
        check_no_leak(m, bad)


def test_folds_are_stratified_and_seeded():
    m = _manifest(n_groups=60, per_group=1)
    folds = make_folds(m, n_folds=5, test_fraction=0.2, val_fraction=0.2, seed=1)
    share = Counter(c.label for c in m)["speech"] / len(m)
    for f in folds:
        test_share = Counter(m[i].label for i in f.test)["speech"] / len(f.test)
        assert abs(test_share - share) < 0.12
    assert folds == make_folds(m, n_folds=5, test_fraction=0.2, val_fraction=0.2, seed=1)
    assert folds != make_folds(m, n_folds=5, test_fraction=0.2, val_fraction=0.2, seed=2)


def test_classic_kfold_and_invalid_settings():
    m = _manifest()
    folds = make_folds(m, n_folds=4, test_fraction=None, val_fraction=0.0)
    assert all(not f.val for f in folds)
    assert sorted(i for f in folds for i in f.test) == list(range(len(m)))
    with pytest.raises(ConfigError, match="at most 10 folds"):
        make_folds(m, n_folds=11, test_fraction=0.1)
    with pytest.raises(ConfigError, match="independent group"):
        make_folds(_manifest(n_groups=5), n_folds=2, test_fraction=0.1)
    with pytest.raises(ConfigError, match="no training"):
        make_folds(m, n_folds=2, test_fraction=0.5, val_fraction=0.5)


def test_balanced_indices_down_samples_to_the_rarest_key():
    keys = ["a"] * 10 + ["b"] * 3 + ["c"] * 5
    idx = balanced_indices(keys, rng=np.random.default_rng(0))
    assert Counter(keys[i] for i in idx) == {"a": 3, "b": 3, "c": 3}
    assert list(idx) == sorted(idx)
    pairs = [("d1", "m")] * 4 + [("d1", "s")] * 2 + [("d2", "m")] * 9 + [("d2", "s")] * 6
    idx = balanced_indices(pairs, rng=np.random.default_rng(0))
    assert Counter(pairs[i] for i in idx) == {("d1", "m"): 2, ("d1", "s"): 2, ("d2", "m"): 2, ("d2", "s"): 2}
