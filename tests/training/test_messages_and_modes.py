"""What a run says and how its files are left: each splitting warning once (with how often it
arose), "done earlier" only for folds an earlier run finished, and every written file readable as
the umask allows (not mkstemp's owner-only 0600)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechmusic.data import Clip, Manifest, make_folds
from speechmusic.data import files as files_mod
from speechmusic.data import splits as splits_mod
from speechmusic.data.files import (
    atomic_save_npy,
    atomic_write,
    atomic_write_json,
    atomic_write_text,
    current_umask,
)
from speechmusic.training import load_config, run_config
from speechmusic.training.cv import collecting_results

from .conftest import tiny_config

# ----------------------------------------------------------------------------- warnings


def _thin_manifest(*, speech_groups: int = 3, noise_groups: int = 3) -> Manifest:
    clips = []
    for label, n in (("music", 20), ("speech", speech_groups), ("noise", noise_groups)):
        for g in range(n):
            for k in range(2):
                clips.append(Clip(id=f"{label}{g}/{k}", path=f"/d/{label}{g}_{k}.wav", label=label,
                                  group=f"{label}{g}"))
    return Manifest(clips)


@pytest.fixture
def fresh_registry(monkeypatch):
    monkeypatch.setattr(splits_mod, "_SAID", {})


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "speechmusic.data.splits" and r.levelno >= logging.WARNING]


def test_thin_strata_are_one_line_said_once_and_counted(fresh_registry, caplog):
    manifest = _thin_manifest()
    with caplog.at_level(logging.DEBUG, logger="speechmusic.data.splits"):
        for _ in range(7):  # a study splits the same clips once per model and input
            make_folds(manifest, n_folds=2, test_fraction=0.2, val_fraction=0.2, seed=0)
    said = _warnings(caplog)
    assert len(said) == 1, said
    assert said[0].startswith("2 strata have only 3 group(s) for 5 blocks")
    assert "(noise, speech)" in said[0] and "said once" in said[0]
    (message, times), = splits_mod.repeated_warnings().items()
    assert times == 7 and said[0].startswith(message)
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG and r.name == "speechmusic.data.splits"]
    assert len(debug) == 6 and "7 times so far" in debug[-1].getMessage()


def test_a_different_shortfall_is_said_too(fresh_registry, caplog):
    with caplog.at_level(logging.WARNING, logger="speechmusic.data.splits"):
        for m in (_thin_manifest(), _thin_manifest(), _thin_manifest(speech_groups=2),
                  _thin_manifest(speech_groups=20)):
            make_folds(m, n_folds=2, test_fraction=0.2, val_fraction=0.2, seed=0)
    said = _warnings(caplog)
    assert len(said) == 3, said
    assert said[1].startswith("2 strata have fewer groups than the 5 blocks (noise: 3, speech: 2)")
    assert said[2].startswith("stratum noise has only 3 group(s) for 5 blocks")
    assert sorted(splits_mod.repeated_warnings().values()) == [1, 1, 2]


def test_done_earlier_only_for_folds_of_an_earlier_run(toy_root, shared_cache, tmp_path, caplog):
    config = load_config(data=tiny_config(toy_root, shared_cache, models=["dnn"]))
    run = tmp_path / "run"

    def said() -> list[str]:
        return [r.getMessage() for r in caplog.records
                if r.levelno >= logging.INFO and "done earlier" in r.getMessage()]

    with caplog.at_level(logging.INFO, logger="speechmusic"):
        first = run_config(config, run)
        assert said() == [] and first.experiments["toy-binary-dnn-mel"].trained_folds == [0, 1]
        second = run_config(config, run)  # a later invocation finds both folds
        assert second.experiments["toy-binary-dnn-mel"].trained_folds == []
        assert said() == ["toy-binary-dnn-mel: folds 0, 1 done earlier, not retrained"]
        caplog.clear()
        with collecting_results():  # a pass gathering what this session just trained
            third = run_config(config, run)
        assert third.experiments["toy-binary-dnn-mel"].trained_folds == [] and said() == []
    log = (run / "run.log").read_text()
    assert log.count("done earlier, not retrained") == 1


# ----------------------------------------------------------------------------- file modes


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_atomic_writes_get_the_umask_mode(tmp_path, mask):
    old = os.umask(mask)
    try:
        assert current_umask() == mask
        written = [
            atomic_write_text(tmp_path / "results.csv", "a,b\n1,2\n"),
            atomic_write_json(tmp_path / "metrics.json", {"accuracy": 0.9}),
            atomic_save_npy(tmp_path / "cache" / "x.npy", np.zeros(3)),
            atomic_write(tmp_path / "predictions.npz", lambda fh: np.savez_compressed(fh, p=np.ones(2))),
        ]
        # Replacing an existing file gives the same mode.
        written.append(atomic_write_json(tmp_path / "metrics.json", {"accuracy": 0.8}))
    finally:
        os.umask(old)
    for path in written:
        assert _mode(path) == 0o666 & ~mask, (path.name, oct(_mode(path)))
    assert not list(tmp_path.glob(".*.tmp"))


def test_umask_without_proc(monkeypatch, umask_022):
    def no_proc(*args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr(files_mod, "open", no_proc, raising=False)
    assert current_umask() == 0o022
    assert os.umask(0o022) == 0o022  # and left as it was


def test_run_files_are_0644_under_umask_022(toy_root, shared_cache, tmp_path, umask_022):
    config = load_config(data=tiny_config(toy_root, shared_cache, models=["dnn"]))
    run = tmp_path / "run"
    run_config(config, run)
    fold = run / "experiments" / "toy-binary-dnn-mel" / "fold_0"
    for path in (fold / "split.json", fold / "history.json", fold / "metrics.json",
                 fold / "predictions.npz", fold / "model.pt", fold.parent / "summary.json",
                 fold.parent / "experiment.json", run / "results.csv", run / "results.json",
                 run / "config.yaml", run / "skipped.csv"):
        assert _mode(path) == 0o644, (path.name, oct(_mode(path)))


def test_embedding_files_are_0644_under_umask_022(tmp_path, umask_022):
    from speechmusic.transfer.embed import embed_files

    class Fake:
        name, sample_rate, embedding_size = "fake", 16000, 4

        def describe(self):
            return {"name": self.name}

        def embed_file(self, path):
            return np.zeros((3, 4), dtype=np.float32), np.arange(3, dtype=np.float64)

    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(1600, dtype=np.float32), 16000)
    report = embed_files(Fake(), [wav], tmp_path / "emb")
    (npz,) = report.written
    assert npz.suffix == ".npz" and _mode(npz) == 0o644
