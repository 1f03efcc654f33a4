"""The demo corpus: reproducible byte for byte, labelled as its manifest says, no silent or
clipped clip, every class of every task present."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechmusic.demo import DATASETS, MANIFEST_COLUMNS, SIZES, TASKS, read_manifest, task_manifest


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.suffix in (".wav", ".csv")}


def test_same_seed_same_files_whatever_the_workers(quick_corpus, tmp_path):
    from speechmusic.demo import build_corpus

    # A second build, on two worker processes, after the first one ran in this process.
    again = build_corpus(tmp_path / "b", seed=0, size="quick", progress=False, workers=2)
    first, second = _hashes(quick_corpus.parent), _hashes(again.parent)
    assert len(first) == 75  # 74 clips and the manifest
    assert first == second


def test_another_seed_other_files(renderers, tmp_path):
    from speechmusic.demo import CorpusSize, build_corpus

    tiny = CorpusSize(seconds=1.0, smc=1, unseen=1, vocal=1, ensemble=1)
    a = _hashes(build_corpus(tmp_path / "a", seed=1, size=tiny, progress=False).parent)
    b = _hashes(build_corpus(tmp_path / "b", seed=2, size=tiny, progress=False).parent)
    assert a.keys() == b.keys()
    assert sum(a[k] != b[k] for k in a) == len(a)  # every file differs


def test_manifest_matches_the_files(quick_corpus):
    rows = read_manifest(quick_corpus)
    assert list(rows[0]) == list(MANIFEST_COLUMNS)
    assert len(rows) == 74
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        path = quick_corpus.parent / r["path"]
        info = sf.info(str(path))
        ds = DATASETS[r["dataset"]]
        assert info.samplerate == int(r["sample_rate"]) == ds.chain.sample_rate, r["id"]
        assert info.subtype == r["subtype"] == ds.chain.subtype, r["id"]
        assert info.channels == 1
        assert info.frames / info.samplerate == pytest.approx(float(r["duration"]), abs=1e-5)
        assert float(r["duration"]) == pytest.approx(SIZES["quick"].seconds)
        assert r["role"] == ds.role
        assert r["label"] == r["smc"] and r["label"] in ds.classes, r["id"]
        assert r["group"].startswith(f"{r['dataset']}:")
        # The folders say what the manifest says.
        assert Path(r["path"]).parts[0] == r["dataset"]


def test_no_silent_or_clipped_clip(quick_corpus):
    for r in read_manifest(quick_corpus):
        audio, _ = sf.read(str(quick_corpus.parent / r["path"]), dtype="float64")
        assert np.isfinite(audio).all()
        peak = np.max(np.abs(audio))
        rms = np.sqrt(np.mean(audio ** 2))
        assert peak < 0.99, f"{r['id']} is clipped (peak {peak:.4f})"
        assert 20 * np.log10(rms) > -50.0, f"{r['id']} is (nearly) silent ({20 * np.log10(rms):.1f} dBFS)"


def test_every_class_of_every_task_is_present(quick_corpus):
    rows = read_manifest(quick_corpus)
    by_dataset = Counter((r["dataset"], r["label"]) for r in rows)
    for name, ds in DATASETS.items():
        for label in ds.classes:
            assert by_dataset[(name, label)] > 0, (name, label)
    for name, task in TASKS.items():
        manifest = task_manifest(quick_corpus, task=name)
        assert set(manifest.labels) == set(task.classes), name
        assert set(manifest.datasets) == set(task.datasets), name
        assert all(Path(c.path).is_file() for c in manifest)
        counts = manifest.label_counts()
        if "noise" in counts:  # the most varied class has twice the clips (training balances)
            counts = {**counts, "noise": counts["noise"] // 2}
        assert max(counts.values()) == min(counts.values()), f"{name} is unbalanced: {counts}"


def test_labels_hang_together(quick_corpus):
    for r in read_manifest(quick_corpus):
        if r["smc"] == "speech":
            assert r["gender"] in ("male", "female") and not r["ensemble"]
        elif r["smc"] == "noise":
            assert not (r["gender"] or r["accompaniment"] or r["ensemble"])
        else:
            assert r["ensemble"] in TASKS["ensemble"].classes
            if r["accompaniment"] == "vocal_only" and r["ensemble"] == "1":
                assert r["gender"] in ("male", "female")
        if r["dataset"] == "ensemble":
            assert not r["accompaniment"], "the ensemble set is instrumental"
            assert f"parts_{r['ensemble'].replace('+', 'plus')}" == Path(r["path"]).parts[1]
        if r["dataset"] == "vocal":
            assert f"{r['gender']}_{r['accompaniment']}" == Path(r["path"]).parts[1]


def test_task_manifest_feeds_the_splitter(quick_corpus):
    from speechmusic.data import check_no_leak, make_folds

    manifest = task_manifest(quick_corpus, task="smc")
    folds = make_folds(manifest, n_folds=4, test_fraction=0.25, val_fraction=0.25, seed=0)
    assert len(folds) == 4
    for split in folds:
        check_no_leak(manifest, split)


def test_task_manifest_rejects_bad_requests(quick_corpus):
    from speechmusic.errors import ConfigError

    with pytest.raises(ConfigError, match="task must be one of"):
        task_manifest(quick_corpus, task="tempo")
    with pytest.raises(ConfigError, match="unknown demo dataset"):
        task_manifest(quick_corpus, task="gender", datasets=("nowhere",))
    # Gender on other datasets: every speech clip, and music whose voices share one gender.
    gender = task_manifest(quick_corpus, task="gender", datasets=("broadcast", "radio"))
    assert set(gender.labels) <= {"male", "female"}
    speech_ids = {r["id"] for r in read_manifest(quick_corpus)
                  if r["dataset"] in ("broadcast", "radio") and r["smc"] == "speech"}
    assert len(speech_ids) == 8 and speech_ids <= set(gender.ids())
