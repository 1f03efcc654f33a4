"""`speechmusic train`: one's own recordings (class folders, a CSV) to a calibrated engine that the
segmenter runs. Generated audio; tiny models and one or two epochs (``--set``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speechmusic.cli import main
from speechmusic.errors import CheckpointError, ConfigError
from speechmusic.training.calibration import (
    apply_temperature,
    calibrate_folds,
    expected_calibration_error,
    fit_temperature,
)
from speechmusic.training.owndata import collect_training_data, name_group
from speechmusic.training.recipe import list_recipes, load_recipe

from ..conftest import music_like, speech_like, yamnet_or_skip
from .conftest import SR, TINY_FEATURES

#: A tiny DNN on small log-mel patches, two folds testing on a quarter each, two epochs.
TINY = ["--set", "features={" + ", ".join(f"{k}: {v}" for k, v in TINY_FEATURES.items()) + "}",
        "--set", "model=dnn", "--set", "model_params={units: 8}",
        "--set", "training.max_epochs=2", "--set", "training.num_threads=1",
        "--set", "protocol.test_fraction=0.25", "--set", "protocol.val_fraction=0.25",
        "--set", "second_opinion=none",  # YAMNet's: its own tests below
        "--folds", "2"]


def _wav(path: Path, label: str, seed: int, seconds: float = 1.2) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    make = music_like if label == "music" else speech_like
    sf.write(path, make(SR, seconds, seed=seed), SR)
    return path


@pytest.fixture(scope="module")
def by_subfolder(tmp_path_factory) -> Path:
    """``speech/<speaker>/*.wav``, ``music/<album>/*.wav``: 4 groups of 2 files per class."""
    root = tmp_path_factory.mktemp("subfolders")
    for label in ("music", "speech"):
        for g in range(4):
            for i in range(2):
                _wav(root / label / f"{label[0]}src{g}" / f"take{i}.wav", label, seed=10 * g + i)
    return root


@pytest.fixture(scope="module")
def trained(by_subfolder, tmp_path_factory, shared_cache) -> tuple[Path, str]:
    """One model folder trained by the command (shared by the tests that only read it)."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("engine") / "model"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["train", str(by_subfolder), "-o", str(out), "--cache-dir", str(shared_cache), *TINY])
    assert rc == 0
    return out, buf.getvalue()


# ------------------------------------------------------------------------- data and groups
def test_name_rule_drops_a_trailing_number():
    assert name_group("interview_03") == "interview"
    assert name_group("interview-12") == "interview"
    assert name_group("interview7") == "interview"
    assert name_group("103-1240-0000") == "103-1240"
    assert name_group("0042") == "0042" and name_group("jingle") == "jingle"


def test_class_folders_with_subfolders_group_by_subfolder(by_subfolder):
    data = collect_training_data([by_subfolder])
    assert data.classes == ["music", "speech"] and data.counts() == {"music": 8, "speech": 8}
    assert data.groups["by_rule"]["folder"] == 16 and data.groups["n_groups"] == 8
    assert "sub-folder" in data.groups["description"]
    files = collect_training_data([by_subfolder], groups="file")
    assert files.groups["n_groups"] == 16 and files.groups["by_rule"]["file"] == 16


def test_class_folders_without_subfolders_group_by_file_name(tmp_path):
    for label in ("music", "speech"):
        for who in ("anna", "ben", "cleo"):
            for i in (1, 2):
                _wav(tmp_path / label.capitalize() / f"{who}_{label}_{i:02d}.wav", label, seed=i)
    _wav(tmp_path / "Speech" / "jingle.wav", "speech", seed=9)
    data = collect_training_data([tmp_path])
    assert data.classes == ["music", "speech"]  # folder names normalised
    assert data.groups["by_rule"] == {"csv": 0, "layout": 0, "folder": 0, "name": 13, "file": 0}
    assert data.groups["n_groups"] == 7  # 3 people x 2 classes + the jingle
    groups = {Path(c.path).name: c.group for c in data.manifest}
    assert groups["anna_speech_01.wav"] == groups["anna_speech_02.wav"] != groups["ben_speech_01.wav"]


def test_csv_with_extra_columns_relative_paths_and_groups(tmp_path):
    for i in range(4):
        _wav(tmp_path / "audio" / f"m{i}.wav", "music", seed=i)
        _wav(tmp_path / "audio" / f"s{i}.wav", "speech", seed=i)
    rows = ["path,label,source,licence,duration_s,group"]
    rows += [f"audio/m{i}.wav,Music,game,\"CC-BY, 4.0\",1.2,album{i // 2}" for i in range(4)]
    rows += [f"audio/s{i}.wav,speech,books,CC0,1.2,spk{i}" for i in range(4)]
    table = tmp_path / "labels.csv"
    table.write_text("\n".join(rows) + "\n")
    data = collect_training_data([table])
    assert data.counts() == {"music": 4, "speech": 4}
    assert data.groups["by_rule"]["csv"] == 8 and data.groups["n_groups"] == 6
    assert data.sources[0]["ignored_columns"] == ["source", "licence", "duration_s"]
    assert all(Path(c.path).is_file() for c in data.manifest)
    # the folder holding the CSV is read through it
    assert collect_training_data([tmp_path]).groups["n_groups"] == 6
    # and the `manifest` layout now takes such a file too, extra columns ignored
    from speechmusic.data import build_manifest

    assert len(build_manifest("manifest", table)) == 8


def test_classes_option_picks_and_checks(by_subfolder, tmp_path):
    _wav(tmp_path / "noise" / "n1.wav", "music", seed=1)
    data = collect_training_data([by_subfolder, tmp_path], classes=["speech", "Music"])
    assert data.classes == ["speech", "music"] and data.left_out == {"noise": 1}
    with pytest.raises(ConfigError, match="not found"):
        collect_training_data([by_subfolder], classes=["speech", "noise"])
    with pytest.raises(ConfigError, match="at least two classes"):
        collect_training_data([by_subfolder], classes=["speech"])


# ------------------------------------------------------------------------- recipes
def test_recipes_default_and_paper():
    assert {"default", "paper"} <= set(list_recipes())
    default = load_recipe("default")
    assert (default.init, default.trainable) == ("ina", "intermediate")
    assert default.protocol.max_patches_per_clip == 16 and default.training.max_epochs == 10
    assert default.training.patience == 3 and default.training.num_threads is None
    paper = load_recipe("paper")
    assert paper.training.max_epochs == 200 and paper.training.patience == 50
    assert paper.protocol.max_patches_per_clip is None and paper.training.bn_recalibration == 0
    assert (paper.protocol.n_folds, paper.protocol.test_fraction) == (5, 0.1)


def test_naming_a_model_or_features_trains_from_scratch(tmp_path):
    """The default starts from INA's network, which imposes its own network and input: a
    ``--set model=...`` (or a recipe on ``base: default`` naming one) means that model instead."""
    r = load_recipe("default", overrides=["model=vgg"])
    assert (r.init, r.trainable, r.model) == (None, "full", "vgg")
    r = load_recipe("default", overrides=["features=mfcc_ina", "training.max_epochs=3"])
    assert r.init is None and r.training.max_epochs == 3
    kept = load_recipe("default", overrides=["model=ina", "init=ina:smn", "trainable=frozen"])
    assert (kept.init, kept.trainable) == ("ina:smn", "frozen")
    mine = tmp_path / "mine.yaml"
    mine.write_text("base: default\nmodel: swishnet\n")
    assert load_recipe(mine).init is None
    assert load_recipe("default", overrides=["training.max_epochs=3"]).init == "ina"


def test_init_ina_picks_the_network_for_the_classes(ina_weights):
    from speechmusic.training.engine import resolve_init

    assert resolve_init("ina", classes=["music", "speech"]).spec == "ina:sm"
    smn = resolve_init("ina", classes=["music", "noise", "speech"])
    assert smn.spec == "ina:smn" and smn.per_patch and smn.viterbi_arg == 80


def test_recipe_files_overrides_and_errors(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text("base: default\ntraining: {max_epochs: 7}\n")
    r = load_recipe(mine, overrides=["model=dnn", "training.gain_jitter_db=10"])
    assert (r.model, r.training.max_epochs, r.training.patience) == ("dnn", 7, 3)
    assert r.protocol.max_patches_per_clip == 16 and r.training.gain_jitter_db == 10
    with pytest.raises(ConfigError, match="trainig: unknown key"):
        load_recipe("default", overrides=["trainig.max_epochs=3"])
    with pytest.raises(ConfigError, match="needs a pretrained network"):
        load_recipe("paper", overrides=["trainable=frozen"])
    with pytest.raises(ConfigError, match="unknown recipe"):
        load_recipe("nope")
    assert load_recipe("default").normalizer == "auto"  # for INA's networks: sliding
    scratch = load_recipe("default", overrides=["model=vgg"])
    assert scratch.init is None and scratch.normalizer == "auto" and scratch.trainable == "full"
    standard = load_recipe("default", overrides=["normalizer=standard"])
    assert standard.normalizer == "standard"
    from speechmusic.training.engine import describe_recipe

    assert "normalizer standard" in describe_recipe(standard, arch="ina", features="ina-input")
    with pytest.raises(ConfigError, match="normalizer must be one of"):
        load_recipe("default", overrides=["normalizer=zscore"])
    wide = load_recipe("default", overrides=["normalizer=sliding", "sliding_window=300"])
    assert "normalizer sliding over 300 frames" in describe_recipe(wide, arch="ina", features="ina-input")
    with pytest.raises(ConfigError, match="sliding_window"):
        load_recipe("default", overrides=["normalizer=standard", "sliding_window=300"])


# ------------------------------------------------------------------------- the command
def test_train_writes_a_model_folder_and_says_what_it_did(trained):
    out, console = trained
    assert {p.name for p in out.iterdir()} >= {"model.pt", "report.html", "report.md", "train.json",
                                               "manifest.csv", "cv"}
    assert (out / "cv" / "config.yaml").is_file() and (out / "cv" / "results.csv").is_file()
    for line in ("groups: the sub-folder below the class folder (16 clips): 8 groups",
                 "fold 1/2  epoch 1/2  loss", "fold 2/2  epoch 2/2", "estimate: frame-wise accuracy",
                 "calibration: temperature", "final  epoch", "engine: ", "use it: speechmusic segment"):
        assert line in console, line
    record = json.loads((out / "train.json").read_text())
    assert record["status"] == "done" and record["classes"] == ["music", "speech"]
    assert record["data"]["groups"]["by_rule"]["folder"] == 16
    assert record["cv"]["n_folds"] == 2 and record["final"]["strategy"] == "cv_epochs"
    assert record["calibration"]["temperature"] > 0 and "total" in record["timings"]
    html = (out / "report.html").read_text()
    for part in ("Cross-validated estimate", "Calibration", "Final model", "sub-folder"):
        assert part in html, part


def test_the_engine_folder_segments_a_generated_file(trained, tmp_path):
    from speechmusic.models import load_checkpoint
    from speechmusic.segment import Segmenter

    out, _ = trained
    record = json.loads((out / "train.json").read_text())
    ckpt = load_checkpoint(out / "model.pt")
    assert ckpt.labels == ["music", "speech"]
    assert ckpt.temperature == pytest.approx(record["calibration"]["temperature_used"])
    audio = np.concatenate([speech_like(SR, 3.0, seed=5), music_like(SR, 3.0, seed=6)])
    wav = tmp_path / "programme.wav"
    sf.write(wav, audio, SR)
    segments = Segmenter(str(out), decoder="soxr")(wav)
    assert segments and segments[0].start == 0 and segments[-1].stop == pytest.approx(6.0, abs=0.05)
    assert {s.label for s in segments} <= {"music", "speech", "noEnergy"}
    rc = main(["segment", str(wav), "-o", str(tmp_path / "seg"), "--engine", str(out), "-q",
               "--decoder", "soxr"])
    assert rc == 0 and (tmp_path / "seg" / "programme.csv").is_file()


def test_rerun_resumes_and_other_settings_are_refused(trained, shared_cache, by_subfolder, capsys):
    out, _ = trained
    before = (out / "model.pt").stat().st_mtime_ns
    assert main(["train", str(by_subfolder), "-o", str(out), "--cache-dir", str(shared_cache), *TINY]) == 0
    console = capsys.readouterr().out
    assert "fold(s) 0, 1 done earlier, not trained again" in console
    assert "trained earlier with the same settings, kept" in console and "  epoch " not in console
    assert (out / "model.pt").stat().st_mtime_ns == before
    assert main(["train", str(by_subfolder), "-o", str(out), "--cache-dir", str(shared_cache), *TINY,
                 "--set", "training.learning_rate=0.01"]) == 2
    assert "recipe.training" in capsys.readouterr().err
    assert json.loads((out / "train.json").read_text())["status"] == "done"


@pytest.mark.slow
def test_an_interrupted_cross_validation_continues(by_subfolder, shared_cache, tmp_path, capsys):
    out = tmp_path / "model"
    args = ["train", str(by_subfolder), "-o", str(out), "--cache-dir", str(shared_cache), *TINY]
    assert main([*args[:-2], "--folds", "1"]) == 0  # as if stopped after fold 0
    assert not (out / "cv" / "experiments" / "engine" / "fold_1").exists()
    capsys.readouterr()
    assert main(args) == 0
    console = capsys.readouterr().out
    assert "fold(s) 0 done earlier" in console and "fold 2/2  epoch 1/2" in console
    assert "fold 1/2  epoch" not in console
    assert json.loads((out / "train.json").read_text())["cv"]["n_folds"] == 2


@pytest.mark.slow
def test_paper_recipe_flag_runs(by_subfolder, shared_cache, tmp_path, capsys):
    out = tmp_path / "paper"
    assert main(["train", str(by_subfolder), "-o", str(out), "--cache-dir", str(shared_cache),
                 "--recipe", "paper", *TINY, "--set", "training.max_epochs=1"]) == 0
    assert "recipe: paper (dnn on custom; at most 1 epoch, patience 50)" in capsys.readouterr().out
    record = json.loads((out / "train.json").read_text())
    assert record["recipe"]["name"] == "paper"
    assert record["recipe"]["settings"]["training"]["bn_recalibration"] == 0


def test_no_cv_trains_the_final_model_on_a_validation_share(by_subfolder, shared_cache, tmp_path,
                                                              capsys):
    out = tmp_path / "nocv"
    assert main(["train", str(by_subfolder), "-o", str(out), "--cache-dir", str(shared_cache), *TINY,
                 "--set", "final_val_fraction=0.25", "--no-cv"]) == 0
    assert "held out for early stopping" in capsys.readouterr().out
    record = json.loads((out / "train.json").read_text())
    assert record["cv"] is None and record["final"]["strategy"] == "validation"
    assert record["final"]["validation_clips"] > 0 and not (out / "cv").exists()


def test_too_few_groups_is_a_usage_error_that_says_what_to_do(tmp_path, capsys):
    for label in ("music", "speech"):
        for i in range(3):
            _wav(tmp_path / "d" / label / "one" / f"{i}.wav", label, seed=i)
    assert main(["train", str(tmp_path / "d"), "-o", str(tmp_path / "m"), *TINY]) == 2
    err = capsys.readouterr().err
    assert "independent group" in err and "--groups file" in err
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_init_from_an_earlier_engine_with_frozen_layers(trained, by_subfolder, shared_cache, tmp_path):
    first, _ = trained
    out = tmp_path / "again"
    assert main(["train", str(by_subfolder), "-o", str(out), "--cache-dir", str(shared_cache), *TINY,
                 "--set", f"init={first}", "--set", "trainable=frozen", "-q"]) == 0
    from speechmusic.models import load_checkpoint

    ckpt = load_checkpoint(out / "model.pt")
    assert ckpt.extra["init"] == str(first) and ckpt.extra["trainable"] == "frozen"
    old = load_checkpoint(first / "model.pt")
    # frozen: the body is the first engine's (its normaliser too); same classes: its classifier
    # is kept as the starting point
    for key, value in old.model.body.state_dict().items():
        assert torch.equal(ckpt.model.body.state_dict()[key], value), key
    np.testing.assert_array_equal(ckpt.normalizer.mean, old.normalizer.mean)


@pytest.mark.slow
@pytest.mark.parametrize("normalizer", ["auto", "per_patch", "standard"])
def test_init_from_inas_published_network(tmp_path, shared_cache, normalizer, capsys):
    from speechmusic.errors import WeightsUnavailableError
    from speechmusic.models import ina_checkpoint_path, load_checkpoint

    try:
        ina_checkpoint_path("sm")
    except WeightsUnavailableError as exc:
        pytest.skip(f"INA's weights are not available here: {exc}")
    rng = np.random.default_rng(0)
    for label in ("music", "speech"):
        for g in range(4):
            path = tmp_path / "data" / label / f"g{g}" / "a.wav"
            path.parent.mkdir(parents=True)
            make = music_like if label == "music" else speech_like
            audio = make(SR, 1.5, seed=g) + 1e-3 * rng.standard_normal(int(1.5 * SR))  # no digital silence
            sf.write(path, audio.astype(np.float32), SR)
    out = tmp_path / "ina"
    assert main(["train", str(tmp_path / "data"), "-o", str(out), "--cache-dir", str(shared_cache),
                 "--set", "init=ina:sm", "--set", "trainable=intermediate",
                 "--set", "training.max_epochs=1", "--set", "training.num_threads=1",
                 "--set", "protocol.test_fraction=0.25", "--set", "protocol.val_fraction=0.25",
                 "--set", f"normalizer={normalizer}", "--folds", "2", "-q"]) == 0
    ckpt = load_checkpoint(out / "model.pt")
    assert ckpt.model.arch == "ina" and ckpt.labels == ["music", "speech"]
    assert ckpt.feature_config.kind == "ina_bands" and ckpt.extra["init"] == "ina:sm"
    if normalizer == "per_patch":  # INA's own: every patch standardised on its own
        assert ckpt.extra["input_normalization"] == "per_patch" and ckpt.normalizer is None
    elif normalizer == "auto":  # for INA's networks, every frame by the patch-long window around it
        assert ckpt.sliding_window == 68 and ckpt.normalizer is None and not ckpt.per_patch
        from speechmusic.training.engine import describe_recipe, resolve_init
        from speechmusic.training.recipe import load_recipe

        line = describe_recipe(load_recipe("default"), arch="ina", features="ina-input", init=resolve_init("ina:sm"))
        assert "normalizer sliding (auto)" in line
        words = "sliding: each frame standardised over the 68 frames around it"
        assert json.loads((out / "train.json").read_text())["model"]["input_normalization"] == words
        assert words in (out / "report.md").read_text()
        # A folder trained when 'auto' meant per-patch standardisation is not resumed as this one.
        record = json.loads((out / "train.json").read_text())
        assert record["settings"].pop("input_normalization") == "sliding over 68 frames"
        (out / "train.json").write_text(json.dumps(record))
        capsys.readouterr()
        assert main(["train", str(tmp_path / "data"), "-o", str(out), "--cache-dir", str(shared_cache),
                     "--set", "init=ina:sm", "--set", "trainable=intermediate",
                     "--set", "training.max_epochs=1", "--set", "training.num_threads=1",
                     "--set", "protocol.test_fraction=0.25", "--set", "protocol.val_fraction=0.25",
                     "--set", "normalizer=auto", "--folds", "2", "-q"]) == 2
        assert "input_normalization" in capsys.readouterr().err
        fold = load_checkpoint(next((out / "cv").rglob("fold_*/model.pt")))
        assert fold.sliding_window == 68
    else:  # one mean and deviation, fitted on the clips: the segmenter shares convolutions
        assert not ckpt.per_patch and np.ptp(ckpt.normalizer.mean) == 0 and ckpt.normalizer.scale[0] > 0
    assert ckpt.extra["viterbi_arg"] == 150  # smoothed as its parent network
    assert json.loads((out / "train.json").read_text())["segmenter"] == ""  # it segments:
    from speechmusic.segment import Segmenter

    segments = Segmenter(str(out))(tmp_path / "data" / "speech" / "g0" / "a.wav")
    assert segments and {s.label for s in segments} <= {"speech", "music", "noEnergy"}


# ------------------------------------------------------------------------- calibration
def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_temperature_lowers_the_calibration_error_of_an_over_confident_model(tmp_path):
    rng = np.random.default_rng(0)
    folds = []
    for k in range(3):
        y = rng.integers(0, 3, 2000)
        z = rng.normal(0.0, 1.0, (2000, 3))
        z[np.arange(2000), y] += 1.0
        # calibrated would be softmax(z); the "model" says softmax(5 z): over-confident
        d = tmp_path / f"fold_{k}"
        d.mkdir()
        np.savez(d / "predictions.npz", probs=_softmax(5.0 * z).astype(np.float32), patch_label=y,
                 labels=np.array(["a", "b", "c"]))
        folds.append(d)
    cal = calibrate_folds(folds, ["a", "b", "c"])
    assert cal["temperature"] == pytest.approx(5.0, rel=0.15)
    assert cal["ece_before"] > 0.15
    assert cal["ece_after"] < 0.03 and cal["ece_after_cross_fitted"] < 0.03
    assert cal["nll_after"] < cal["nll_before"] and cal["applied"]
    assert cal["temperature_used"] == cal["temperature"]
    p = _softmax(5.0 * rng.normal(size=(50, 3)))
    assert (apply_temperature(p, 3.0).argmax(1) == p.argmax(1)).all()  # accuracy unchanged


def test_temperature_fit_recovers_a_known_temperature_and_keeps_calibrated_ones():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 5000)
    z = rng.normal(0.0, 1.0, (5000, 2))
    z[np.arange(5000), y] += 1.5
    calibrated = _softmax(1.5 * z)  # the true posterior of these two Gaussians
    assert fit_temperature(calibrated, y) == pytest.approx(1.0, abs=0.1)
    assert fit_temperature(_softmax(0.5 * z), y) == pytest.approx(1 / 3, rel=0.1)  # under-confident
    assert expected_calibration_error(calibrated, y) < 0.03


def test_the_segmenter_applies_the_checkpoint_temperature(trained, tmp_path):
    from speechmusic.models import load_checkpoint, save_checkpoint
    from speechmusic.segment import Segmenter

    out, _ = trained
    ckpt = load_checkpoint(out / "model.pt")
    wav = tmp_path / "speech.wav"
    sf.write(wav, speech_like(SR, 3.0, seed=3), SR)
    peaks = {}
    for t in (1.0, 20.0):
        path = save_checkpoint(tmp_path / f"t{t}.pt", model=ckpt.model, labels=ckpt.labels,
                               feature_config=ckpt.feature_config, normalizer=ckpt.normalizer,
                               temperature=t)
        probs = Segmenter(str(path), decoder="soxr").analyse(wav).probs
        peaks[t] = np.nanmax(np.abs(probs - 0.5))
    assert peaks[20.0] < peaks[1.0]
    assert load_checkpoint(tmp_path / "t1.0.pt").temperature == 1.0


def test_without_inas_weights_the_error_says_how_to_train_from_scratch(monkeypatch):
    import speechmusic.models as models
    from speechmusic.errors import WeightsUnavailableError
    from speechmusic.training.engine import resolve_init

    def unavailable(name: str):
        raise WeightsUnavailableError("INA's weights cannot be fetched: no network")

    monkeypatch.setattr(models, "ina_checkpoint_path", unavailable)
    with pytest.raises(WeightsUnavailableError, match="no network.*--set model=vgg"):
        resolve_init("ina", classes=["music", "speech"])


def test_augmented_copies_train_the_folds_and_the_final_model(trained, by_subfolder, shared_cache,
                                                              tmp_path, capsys):
    out = tmp_path / "aug"
    assert main(["train", str(by_subfolder), "-o", str(out), "--cache-dir", str(shared_cache), *TINY,
                 "--set", "training.augment.copies=1", "--set", "training.augment.p_clipping=1"]) == 0
    console = capsys.readouterr().out
    assert "1 augmented copy per training clip" in console
    assert "fold 1/2 (fold_0): " in console and " augmented copies (" in console
    assert "final model: 16 augmented copies (" in console
    record = json.loads((out / "train.json").read_text())
    plain = json.loads((trained[0] / "train.json").read_text())
    assert record["settings"]["recipe"]["training"]["augment"]["copies"] == 1
    assert "augment" not in plain["settings"]["recipe"]["training"]  # off: as before it existed
    assert record["final"]["patches"] == 2 * plain["final"]["patches"]
    fold = json.loads((out / "cv" / "experiments" / "engine" / "fold_0" / "metrics.json").read_text())
    fold_plain = json.loads((trained[0] / "cv" / "experiments" / "engine" / "fold_0" / "metrics.json")
                            .read_text())
    assert sum(fold["patches"]["train"]) == 2 * sum(fold_plain["patches"]["train"])
    assert fold["augmented"]["copies"] == fold["clips"]["train"]
    assert record["final"]["augmented"]["copies"] == 16
    assert "1 augmented copy of every training clip (probability of each effect: noise 0.5" in \
        (out / "report.md").read_text()
    assert fold["patches"]["test"] == fold_plain["patches"]["test"]


# ------------------------------------------------------------------------- a classifier on YAMNet
def test_yamnet_recipe_and_its_rules(tmp_path):
    r = load_recipe("yamnet")
    assert (r.embedder, r.init, r.trainable) == ("yamnet", None, "full")
    assert r.embedder_params == {"hop_seconds": 0.48} and r.training.augment.copies == 2
    # on the default recipe, naming the embedder drops INA's start (and the other way round)
    r = load_recipe("default", overrides=["embedder=yamnet"])
    assert (r.embedder, r.init, r.trainable) == ("yamnet", None, "full")
    r = load_recipe("yamnet", overrides=["model=vgg"])
    assert (r.embedder, r.model) == (None, "vgg")
    assert load_recipe("yamnet", overrides=["init=ina:sm", "trainable=frozen"]).embedder is None
    with pytest.raises(ConfigError, match="embedder must be one of"):
        load_recipe("yamnet", overrides=["embedder=openl3"])
    mine = tmp_path / "both.yaml"
    mine.write_text("embedder: yamnet\ninit: ina:sm\n")
    with pytest.raises(ConfigError, match="exclude each other"):
        load_recipe(mine)
    # model folders written before the key existed keep resuming
    assert "embedder" not in load_recipe("default").settings()
    assert load_recipe("yamnet").settings()["embedder"] == "yamnet"


@pytest.fixture(scope="module")
def yamnet_trained(by_subfolder, tmp_path_factory, shared_cache) -> Path:
    yamnet_or_skip()
    out = tmp_path_factory.mktemp("yamnet-engine") / "model"
    rc = main(["train", str(by_subfolder), "-o", str(out), "--cache-dir", str(shared_cache), "-q",
               "--recipe", "yamnet", "--set", "training.max_epochs=3", "--set", "training.num_threads=1",
               "--set", "training.augment.copies=1",  # copies through the embedder too
               "--set", "protocol.test_fraction=0.25", "--set", "protocol.val_fraction=0.25",
               "--folds", "2"])
    assert rc == 0
    return out


def test_yamnet_engine_segments_as_its_embeddings_say(yamnet_trained, tmp_path):
    """The segmenter's probabilities are the classifier's on the embeddings of the whole signal
    (each 20 ms point taking the frame centred nearest), whatever the decoding blocks, from a
    file or an array."""
    from speechmusic.audio import load_audio
    from speechmusic.models import load_checkpoint
    from speechmusic.segment import Segmenter
    from speechmusic.segment.segmenter import GRID_SECONDS
    from speechmusic.transfer.yamnet import YamNetEmbedder

    ckpt = load_checkpoint(yamnet_trained / "model.pt")
    assert ckpt.extra["input"] == "embeddings" and ckpt.extra["embedder_spec"]["kind"] == "yamnet"
    record = json.loads((yamnet_trained / "train.json").read_text())
    assert record["model"]["arch"] == "mlp_head" and record["cv"]["n_folds"] == 2
    assert record["final"]["augmented"]["copies"] > 0
    assert record["model"]["feature_kind"] == "yamnet embeddings, one every 0.48 s"
    audio = np.concatenate([speech_like(SR, 3.0, seed=5), music_like(SR, 3.1, seed=6)])
    wav = tmp_path / "programme.wav"
    sf.write(wav, audio, SR)
    whole = Segmenter(str(yamnet_trained), decoder="soxr", threads=1).analyse(wav)
    assert {s.label for s in whole.segments} <= {"music", "speech", "noEnergy"}
    assert whole.segments[-1].stop == pytest.approx(6.1, abs=0.05)
    small = Segmenter(str(yamnet_trained), decoder="soxr", threads=2, block_seconds=0.7).analyse(wav)
    np.testing.assert_allclose(small.probs, whole.probs, atol=1e-5)
    signal = load_audio(wav, sr=16000, normalize=False)
    array = Segmenter(str(yamnet_trained), threads=1).analyse(signal, sr=16000)
    np.testing.assert_allclose(array.probs, whole.probs, atol=1e-4)
    # the exact path: every embedding of the whole signal through the classifier
    emb, centres = YamNetEmbedder(hop_seconds=0.48).embed(signal)
    x = torch.from_numpy(ckpt.normalizer.transform(emb.T[None]).astype(np.float32)).permute(2, 1, 0)
    with torch.no_grad():
        frame_probs = torch.softmax(ckpt.model.eval()(x) / ckpt.temperature, dim=-1).numpy()
    points = np.arange(len(whole.probs)) * GRID_SECONDS + GRID_SECONDS / 2
    nearest = np.abs(points[:, None] - centres[None]).argmin(1)
    np.testing.assert_allclose(whole.probs, frame_probs[nearest], atol=1e-4)


def test_yamnet_patch_stream_in_any_blocks_equals_the_whole_signal():
    emb = yamnet_or_skip(hop_seconds=0.24)
    audio = music_like(16000, 2.3, seed=3)
    stream = emb.patch_stream()
    parts = [stream.push(audio[a:b]) for a, b in ((0, 0), (0, 999), (999, 1000), (1000, 30001),
                                                 (30001, audio.size))]
    parts.append(stream.finish())
    np.testing.assert_array_equal(np.concatenate(parts), emb.patches(audio))
    assert emb.patch_stream().finish().shape == (0, 96, 64)


def test_models_info_names_the_embedder_of_a_yamnet_engine(yamnet_trained, capsys):
    assert main(["models", "info", str(yamnet_trained / "model.pt")]) == 0
    out = capsys.readouterr().out
    assert "yamnet embeddings (1024-d, one every 0.48 s at 16000 Hz)" in out and "logmel" not in out


# ------------------------------------------------------------------ YAMNet's second opinion
def test_second_opinion_is_fitted_on_held_out_folds_and_said(by_subfolder, shared_cache, tmp_path):
    """The default recipe's second opinion: judged on the folds' held-out recordings (both
    accuracies in train.json and the report), stored in the checkpoint only where kept."""
    yamnet_or_skip()
    from speechmusic.models import load_checkpoint

    out = tmp_path / "model"
    argv = ["second_opinion=yamnet" if a == "second_opinion=none" else a for a in TINY]
    rc = main(["train", str(by_subfolder), "-o", str(out), "--cache-dir", str(shared_cache), "-q", *argv])
    assert rc == 0
    record = json.loads((out / "train.json").read_text())
    second = record["second_opinion"]
    assert second["folds"] == 2 and second["hop_seconds"] == 0.48
    # judged on the held-out recordings and on a degraded copy of each
    assert second["copies"] == 1
    for key in ("network", "fused", "network_degraded", "fused_degraded"):
        assert second[key]["files"] == 8 and 0 <= second[key]["file_accuracy"] <= 1
    n, f, nd, fd = (second[k] for k in ("network", "fused", "network_degraded", "fused_degraded"))
    applied = (n["frame_accuracy"] < f["frame_accuracy"] and n["file_accuracy"] <= f["file_accuracy"]
               and nd["frame_accuracy"] <= fd["frame_accuracy"] and nd["file_accuracy"] <= fd["file_accuracy"])
    assert second["applied"] == applied
    assert (load_checkpoint(out / "model.pt").extra.get("fusion") is not None) == applied
    # the engines each fold was judged as, for benchmarks (bench/peers.py --folds)
    held = sorted((out / "cv" / "second_opinion").glob("fold_*.pt"))
    assert len(held) == (2 if applied else 0)
    for p in held:
        fold = p.stem.split("_")[1]
        assert load_checkpoint(p).extra["fusion"] == second["cross_fitted"][fold]
    assert "Second opinion: YAMNet" in (out / "report.md").read_text()
    # resumed: the held-out analyses come from the cache, the same verdict
    assert main(["train", str(by_subfolder), "-o", str(out), "--cache-dir", str(shared_cache), "-q", *argv]) == 0
    assert json.loads((out / "train.json").read_text())["second_opinion"]["fused"] == second["fused"]


def test_the_segmenter_applies_a_checkpoints_yamnet_fusion(trained, tmp_path, capsys):
    """The engine's probabilities are the fusion of the network's own and YAMNet's pooled logits
    of the whole signal, and its segments follow them."""
    emb = yamnet_or_skip(hop_seconds=0.48)
    from speechmusic.models import load_checkpoint, save_checkpoint
    from speechmusic.segment import Segmenter
    from speechmusic.segment.fusion import YamNetClassFusion
    from speechmusic.segment.overlap import YAMNET_CLASSES, yamnet_grid_scores

    out, _ = trained
    ckpt = load_checkpoint(out / "model.pt")
    labels = list(ckpt.labels)
    # YAMNet alone decides: speech where its speech logit leads, music elsewhere
    weights = [[0.0] * len(labels) + ([1.0, -1.0] if lab == "speech" else [-1.0, 1.0]) for lab in labels]
    fusion = YamNetClassFusion(hop_seconds=0.48, labels=labels, weights=weights, bias=[0.0] * len(labels))
    path = save_checkpoint(tmp_path / "fused.pt", model=ckpt.model, labels=labels,
                           feature_config=ckpt.feature_config, normalizer=ckpt.normalizer,
                           extra={**ckpt.extra, "fusion": fusion.to_dict()})
    plain = save_checkpoint(tmp_path / "plain.pt", model=ckpt.model, labels=labels,
                            feature_config=ckpt.feature_config, normalizer=ckpt.normalizer, extra=ckpt.extra)
    audio = np.concatenate([speech_like(16000, 3.0, seed=5), music_like(16000, 3.0, seed=6)])
    a = Segmenter(str(path), threads=2, block_seconds=0.7).analyse(audio, sr=16000)
    alone = Segmenter(str(plain), threads=2).analyse(audio, sr=16000)
    assert alone.yamnet_scores is None and alone.network_probs is None
    np.testing.assert_allclose(a.network_probs, alone.probs, atol=1e-5)
    whole = yamnet_grid_scores(emb, [audio], len(a.active), YAMNET_CLASSES)
    np.testing.assert_allclose(a.yamnet_scores, whole, atol=1e-4)
    np.testing.assert_allclose(a.probs, fusion.apply(a.network_probs, a.yamnet_scores), atol=1e-6)
    decided = a.probs.argmax(1)
    speech = labels.index("speech")
    assert np.array_equal(decided == speech, a.yamnet_scores[:, 0] > a.yamnet_scores[:, 1])
    bad = save_checkpoint(tmp_path / "bad.pt", model=ckpt.model, labels=labels,
                          feature_config=ckpt.feature_config, normalizer=ckpt.normalizer,
                          extra={**ckpt.extra, "fusion": {**fusion.to_dict(), "labels": labels[::-1]}})
    with pytest.raises(CheckpointError, match="fusion is for classes"):
        Segmenter(str(bad))
    damaged = save_checkpoint(tmp_path / "damaged.pt", model=ckpt.model, labels=labels,
                              feature_config=ckpt.feature_config, normalizer=ckpt.normalizer,
                              extra={**ckpt.extra, "fusion": {**fusion.to_dict(), "weights": [[1.0]]}})
    with pytest.raises(CheckpointError, match=r"damaged\.pt: a damaged YAMNet fusion"):
        Segmenter(str(damaged))
    capsys.readouterr()
    assert main(["models", "info", str(path)]) == 0
    assert "second opinion: YAMNet (a frame every 0.48 s)" in capsys.readouterr().out
    assert main(["models", "info", str(plain)]) == 0
    assert "second opinion" not in capsys.readouterr().out
