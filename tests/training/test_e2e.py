"""End to end: config -> run directory, for every architecture; resume; corrupt inputs."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import torch

from speechmusic.cli import main
from speechmusic.data import Manifest
from speechmusic.data.splits import Split, check_no_leak
from speechmusic.models import load_checkpoint
from speechmusic.training import FeatureCache, load_config, run_config

from .conftest import TINY_MODELS, tiny_config


@pytest.mark.parametrize("arch", sorted(TINY_MODELS))
def test_one_epoch_two_folds_end_to_end(arch, toy_root, shared_cache, tmp_path):
    config = load_config(data=tiny_config(toy_root, shared_cache, models=[arch]))
    result = run_config(config, tmp_path / "run")
    name = f"toy-binary-{arch}-mel"
    exp = tmp_path / "run" / "experiments" / name
    for f in ("config.yaml", "run.log", "skipped.csv", "results.csv", "results.json"):
        assert (tmp_path / "run" / f).is_file(), f
    assert (exp / "summary.json").is_file() and (exp / "experiment.json").is_file()
    summary = json.loads((exp / "summary.json").read_text())
    assert summary["n_folds"] == 2 and len(summary["frame"]["accuracy"]["values"]) == 2
    for fold in (0, 1):
        d = exp / f"fold_{fold}"
        metrics = json.loads((d / "metrics.json").read_text())
        assert 0.0 <= metrics["frame"]["accuracy"] <= 1.0
        assert 0.0 <= metrics["file"]["accuracy"] <= 1.0
        assert metrics["fit"]["epochs_run"] == 1
        assert set(metrics["frame"]["per_class"]) == {"music", "speech"}
        # patches balanced by down-sampling in training and validation
        assert len(set(metrics["patches"]["train"])) == 1 and len(set(metrics["patches"]["val"])) == 1
        ckpt = load_checkpoint(d / "model.pt")
        assert ckpt.labels == ["music", "speech"] and ckpt.normalizer is not None
        assert ckpt.feature_config.patch_shape == (24, 8)
        assert ckpt.extra["fold"] == fold and ckpt.extra["experiment"] == name
        with torch.no_grad():
            probs = ckpt.model.predict_proba(torch.zeros(3, 24, 8))
        assert probs.shape == (3, 2)
        preds = np.load(d / "predictions.npz")
        assert preds["probs"].shape == (len(preds["patch_clip"]), 2)
        # no group of the manifest on two sides of the split
        split = json.loads((d / "split.json").read_text())
        assert not set(split["train"]) & set(split["test"]) and not set(split["val"]) & set(split["test"])
    row = result.results[0]
    assert row["experiment"] == name and row["n_folds"] == 2


def test_resume_after_a_crash_does_not_retrain_finished_folds(toy_root, shared_cache, tmp_path):
    cfg = load_config(data=tiny_config(toy_root, shared_cache, models=["dnn"],
                                       training={"max_epochs": 2}))

    class Crash(RuntimeError):
        pass

    def crash_after_first(exp, fold, metrics):
        if fold == 0:
            raise Crash("killed after fold 0")

    run = tmp_path / "run"
    with pytest.raises(Crash):
        run_config(cfg, run, on_fold_end=crash_after_first)
    fold0 = run / "experiments" / "toy-binary-dnn-mel" / "fold_0" / "metrics.json"
    assert fold0.is_file()
    assert not (run / "experiments" / "toy-binary-dnn-mel" / "fold_1" / "metrics.json").exists()
    stamp = fold0.stat().st_mtime_ns
    trained = []
    resumed = run_config(cfg, run, on_fold_end=lambda e, f, m: trained.append(f))
    assert trained == [1]  # fold 0 was not trained again
    assert fold0.stat().st_mtime_ns == stamp
    assert resumed.experiments["toy-binary-dnn-mel"].trained_folds == [1]
    # the same numbers as a run that was never interrupted
    clean = run_config(cfg, tmp_path / "clean")
    a = resumed.experiments["toy-binary-dnn-mel"].summary
    b = clean.experiments["toy-binary-dnn-mel"].summary
    for level in ("frame", "file"):
        assert a[level]["accuracy"]["values"] == pytest.approx(b[level]["accuracy"]["values"], abs=0)
    # a third invocation trains nothing at all
    again = run_config(cfg, run)
    assert again.experiments["toy-binary-dnn-mel"].trained_folds == []


def test_a_changed_config_is_refused_in_an_existing_run_dir(toy_root, shared_cache, tmp_path):
    data = tiny_config(toy_root, shared_cache, models=["dnn"], protocol={"folds": [0]})
    run_config(load_config(data=data), tmp_path / "run")
    changed = load_config(data=data, overrides=["training.learning_rate=0.01"])
    from speechmusic.errors import ConfigError

    with pytest.raises(ConfigError, match="training"):
        run_config(changed, tmp_path / "run")
    # more folds of the same settings are fine
    more = load_config(data=data, overrides=["protocol.folds=[0, 1]"])
    res = run_config(more, tmp_path / "run")
    assert res.experiments["toy-binary-dnn-mel"].trained_folds == [1]


def test_corrupt_and_too_short_files_are_skipped_and_listed(toy_root, shared_cache, tmp_path):
    data_root = tmp_path / "data"
    shutil.copytree(toy_root, data_root)
    (data_root / "music" / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage")
    (data_root / "speech" / "empty.wav").write_bytes(b"")
    import soundfile as sf

    sf.write(data_root / "speech" / "tiny.wav", np.zeros(300, np.float32), 16000)  # < one patch
    cfg = load_config(data=tiny_config(data_root, shared_cache, models=["dnn"]))
    result = run_config(cfg, tmp_path / "run")
    rows = list(csv.DictReader((tmp_path / "run" / "skipped.csv").read_text().splitlines()))
    by_name = {r["path"].rsplit("/", 1)[-1]: r for r in rows}
    assert set(by_name) == {"corrupt.wav", "empty.wav", "tiny.wav"}
    assert by_name["corrupt.wav"]["stage"] == "read" and by_name["corrupt.wav"]["reason"]
    assert "empty" in by_name["empty.wav"]["reason"]
    assert by_name["tiny.wav"]["stage"] == "short" and "shorter than one patch" in by_name["tiny.wav"]["reason"]
    assert result.experiments["toy-binary-dnn-mel"].summary["n_folds"] == 2
    assert len(result.skipped) == 3


def test_splits_written_by_a_run_never_leak_groups(toy_root, shared_cache, tmp_path):
    # groups by regex: "music0x" clips share the group "music0", so groups hold several files
    data = tiny_config(toy_root, shared_cache, models=["dnn"])
    data["datasets"]["toy"]["options"] = {"group_by": "regex", "group_regex": r"^(\w+?\d)\d$"}
    data["training"]["max_epochs"] = 1
    data["protocol"] = {"n_folds": 2, "test_fraction": 0.5, "val_fraction": 0.0}
    run_config(load_config(data=data), tmp_path / "run")
    from speechmusic.data import DatasetSpec, load_dataset

    manifest = load_dataset(DatasetSpec(layout="folders", root=str(toy_root), name="toy",
                                        options=data["datasets"]["toy"]["options"]))
    assert len(manifest.groups) < len(manifest)
    index = {c.id: i for i, c in enumerate(manifest)}
    for fold in (0, 1):
        split = json.loads((tmp_path / "run" / "experiments" / "toy-binary-dnn-mel" / f"fold_{fold}" /
                            "split.json").read_text())
        s = Split(fold=fold, **{k: tuple(index[i] for i in split[k]) for k in ("train", "val", "test")})
        check_no_leak(Manifest(manifest), s)
        groups = {k: {manifest[i].group for i in getattr(s, k)} for k in ("train", "test")}
        assert not groups["train"] & groups["test"]


def test_run_and_report_commands(toy_root, shared_cache, tmp_path, capsys):
    import yaml

    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(tiny_config(toy_root, shared_cache, models=["dnn"])))
    rc = main(["run", str(path), "-o", str(tmp_path / "run"), "--set", "protocol.folds=[0]"])
    out = capsys.readouterr().out
    assert rc == 0 and "toy-binary-dnn-mel" in out
    assert main(["run", str(path), "--list"]) == 0
    assert "toy-binary-dnn-mel\ttoy\tbinary\tdnn\tmel" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "report" / "report.html").is_file()
    assert main(["run", str(path), "--set", "training.lr=1"]) == 2
    assert "training.lr: unknown key" in capsys.readouterr().err


def test_feature_cache_second_run_extracts_nothing(toy_root, tmp_path, monkeypatch):
    import speechmusic.training.cache as cache_mod

    calls = []
    real = cache_mod.compute_features
    monkeypatch.setattr(cache_mod, "compute_features", lambda *a, **k: calls.append(1) or real(*a, **k))
    cfg = load_config(data=tiny_config(toy_root, tmp_path / "cache", models=["dnn"],
                                       protocol={"folds": [0]}))
    first = run_config(cfg, tmp_path / "run1")
    assert first.cache_stats.extracted == 16 and len(calls) == 16
    second = run_config(cfg, tmp_path / "run2", cache=FeatureCache(tmp_path / "cache"))
    assert second.cache_stats.extracted == 0 and second.cache_stats.hits == 16
    assert len(calls) == 16  # no feature was computed again
    a = first.experiments["toy-binary-dnn-mel"].summary["frame"]["accuracy"]["values"]
    b = second.experiments["toy-binary-dnn-mel"].summary["frame"]["accuracy"]["values"]
    assert a == b


def test_combined_datasets_train_with_balanced_shares(toy_root, shared_cache, tmp_path):
    # Two datasets of different sizes: the larger one must not dominate training.
    import shutil

    big, small = tmp_path / "big", tmp_path / "small"
    shutil.copytree(toy_root, big)
    small.mkdir()
    for label in ("music", "speech"):
        (small / label).mkdir()
        for f in sorted((toy_root / label).glob("*.wav"))[:4]:
            shutil.copy(f, small / label / f"s_{f.name}")
    data = tiny_config(big, shared_cache, models=["dnn"], protocol={"folds": [0]})
    data["datasets"] = {"big": {"layout": "folders", "root": str(big)},
                        "small": {"layout": "folders", "root": str(small)}}
    data["experiments"] = [{"datasets": ["big", "small"], "task": "binary", "models": ["dnn"]}]
    result = run_config(load_config(data=data), tmp_path / "run")
    cv = result.experiments["big+small-binary-dnn-mel"]
    shares = cv.folds[0]["train_shares"]
    assert set(shares) == {"big/music", "big/speech", "small/music", "small/speech"}
    assert len(set(shares.values())) == 1  # equal patches per dataset and class
    split = json.loads((tmp_path / "run" / "experiments" / "big+small-binary-dnn-mel" / "fold_0" /
                        "split.json").read_text())
    assert {i.split("/")[0] for i in split["test"]} == {"big", "small"}  # stratified by dataset too


def test_a_models_normalizer_is_what_its_folds_train_with(toy_root, shared_cache, tmp_path):
    """The runner took ``fit`` for every registry model; ``models.NAME.normalizer`` now chooses."""
    data = tiny_config(toy_root, shared_cache, models=["dnn"], protocol={"folds": [0]})
    data["models"]["dnn"]["normalizer"] = "sliding"
    run_config(load_config(data=data), tmp_path / "run")
    exp = tmp_path / "run" / "experiments" / "toy-binary-dnn-mel"
    ckpt = load_checkpoint(exp / "fold_0" / "model.pt")
    assert ckpt.normalizer is None and ckpt.sliding_window == 8  # the patch length
    assert json.loads((exp / "experiment.json").read_text())["normalizer"] == "sliding"
    plain = tiny_config(toy_root, shared_cache, models=["dnn"], protocol={"folds": [0]})
    run_config(load_config(data=plain), tmp_path / "fit")
    fitted = load_checkpoint(tmp_path / "fit" / "experiments" / "toy-binary-dnn-mel" / "fold_0" / "model.pt")
    assert fitted.normalizer is not None and fitted.sliding_window is None


def test_an_unknown_model_normalizer_is_refused(toy_root, shared_cache):
    from speechmusic.errors import ConfigError

    data = tiny_config(toy_root, shared_cache, models=["dnn"])
    data["models"]["dnn"]["normalizer"] = "zscore"
    with pytest.raises(ConfigError, match="normalizer must be one of"):
        load_config(data=data)


def test_a_run_dir_written_before_models_named_their_normalizer_resumes(toy_root, shared_cache, tmp_path):
    import yaml

    data = tiny_config(toy_root, shared_cache, models=["dnn"], protocol={"folds": [0]})
    run = tmp_path / "run"
    run_config(load_config(data=data), run)
    old = yaml.safe_load((run / "config.yaml").read_text())
    assert old["models"]["dnn"].pop("normalizer") == "fit"
    (run / "config.yaml").write_text(yaml.safe_dump(old))
    more = load_config(data=data, overrides=["protocol.folds=[0, 1]"])
    assert run_config(more, run).experiments["toy-binary-dnn-mel"].trained_folds == [1]


def test_a_models_training_overrides_the_runs_for_its_folds_only(toy_root, shared_cache, tmp_path):
    """``models.NAME.training`` (one architecture's budget or recipe) reaches that model's folds;
    the other model in the same run keeps the run's ``training``."""
    data = tiny_config(toy_root, shared_cache, models=["dnn", "vgg"], protocol={"folds": [0]},
                       training={"max_epochs": 1, "patience": None})
    data["models"]["dnn"]["training"] = {"max_epochs": 3, "augment": {"copies": 1}}
    config = load_config(data=data)
    run_config(config, tmp_path / "run")
    exps = tmp_path / "run" / "experiments"
    dnn = json.loads((exps / "toy-binary-dnn-mel" / "fold_0" / "metrics.json").read_text())
    vgg = json.loads((exps / "toy-binary-vgg-mel" / "fold_0" / "metrics.json").read_text())
    assert dnn["fit"]["epochs_run"] == 3 and vgg["fit"]["epochs_run"] == 1
    # one augmented copy beside every training clip: twice the vgg fold's training patches
    assert sum(dnn["patches"]["train"]) > sum(vgg["patches"]["train"])
    desc = json.loads((exps / "toy-binary-dnn-mel" / "experiment.json").read_text())
    assert desc["training"] == {"max_epochs": 3, "augment": {"copies": 1}}
    assert "training" not in json.loads((exps / "toy-binary-vgg-mel" / "experiment.json").read_text())
    # the run directory remembers it: another override is another run
    other = load_config(data=data, overrides=["models.dnn.training.max_epochs=2"])
    with pytest.raises(Exception, match="different settings"):
        run_config(other, tmp_path / "run")


def test_a_models_training_override_is_checked_when_the_config_loads(toy_root, shared_cache):
    from speechmusic.errors import ConfigError

    data = tiny_config(toy_root, shared_cache, models=["dnn"])
    data["models"]["dnn"]["training"] = {"max_epoch": 3}
    with pytest.raises(ConfigError, match=r"models\.dnn.*training\.max_epoch: unknown key"):
        load_config(data=data)
    data["models"]["dnn"]["training"] = {"augment": {"copies": -1}}
    with pytest.raises(ConfigError, match="augment.copies must be >= 0"):
        load_config(data=data)
