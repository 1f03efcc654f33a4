"""The study's protocol on partial data: experiments without their data are skipped with the
reason while the rest runs; the test split balanced; audio unified to 16 bits; the paper config."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from speechmusic.audio import load_audio, resample
from speechmusic.cli import main
from speechmusic.data.manifest import Clip
from speechmusic.errors import ConfigError
from speechmusic.evaluation.report import render_markdown, study_report
from speechmusic.features import FeatureConfig, compute_features
from speechmusic.training import FeatureCache, load_config, run_config
from speechmusic.training.cv import (
    AudioProtocol,
    UnifiedAudioCache,
    fit_minmax,
    fit_standard,
    make_normalizer,
    protocol_cache,
    quantize,
)

from ..conftest import music_like, speech_like
from .conftest import SR, TINY_FEATURES, write_toy_dataset

PAPER = Path(__file__).resolve().parents[2] / "experiments" / "paper.yaml"


def _partial_config(toy_root: Path, tiny_root: Path, cache: Path) -> dict:
    """One dataset with its data and four ways of lacking it."""
    return {
        "name": "partial",
        "cache_dir": str(cache),
        "roots": {"ghost": "${SPEECHMUSIC_TEST_UNSET_GHOST_ROOT}"},
        "datasets": {"toy": {"layout": "folders", "root": str(toy_root)},
                     "tiny": {"layout": "folders", "root": str(tiny_root)},
                     "ghost": {"layout": "folders", "root": "${roots.ghost}"},
                     "gone": {"layout": "folders", "root": str(toy_root.parent / "no-such-folder")}},
        "tasks": {"binary": {"classes": ["music", "speech"]},
                  "3class": {"classes": ["music", "speech", "noise"]}},
        "features": {"mel": TINY_FEATURES},
        "models": {"dnn": {"name": "dnn", "params": {"units": 8}, "features": ["mel"]}},
        "protocol": {"n_folds": 2, "test_fraction": 0.25, "val_fraction": 0.25},
        "training": {"max_epochs": 1, "batch_size": 32},
        "experiments": [
            {"datasets": ["toy"], "task": "binary", "models": ["dnn"]},
            {"datasets": ["toy"], "task": "3class", "models": ["dnn"]},    # no noise clips
            {"datasets": ["tiny"], "task": "binary", "models": ["dnn"]},   # 2 groups for 4 blocks
            {"datasets": ["ghost"], "task": "binary", "models": ["dnn"]},  # root unset
            {"datasets": ["gone"], "task": "binary", "models": ["dnn"]},   # folder absent
            {"datasets": ["toy", "ghost"], "task": "binary", "models": ["dnn"]},
        ],
    }


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    return write_toy_dataset(tmp_path_factory.mktemp("tiny"), per_class=1)


def test_experiments_without_their_data_are_skipped_with_the_reason(toy_root, tiny_root, shared_cache,
                                                                     tmp_path, capsys):
    """paper.yaml used to fail as a whole when one experiment lacked its data (every manifest
    was built before any training): now that experiment is skipped, the rest runs."""
    config = load_config(data=_partial_config(toy_root, tiny_root, shared_cache), env={})
    run = tmp_path / "run"
    result = run_config(config, run)
    assert sorted(result.experiments) == ["toy-binary-dnn-mel"]
    reasons = {r.experiment: r.reason for r in result.skipped_experiments}
    assert sorted(reasons) == ["ghost-binary-dnn-mel", "gone-binary-dnn-mel", "tiny-binary-dnn-mel",
                               "toy+ghost-binary-dnn-mel", "toy-3class-dnn-mel"]
    assert "['noise']" in reasons["toy-3class-dnn-mel"] and "toy" in reasons["toy-3class-dnn-mel"]
    assert "only 2 independent group(s)" in reasons["tiny-binary-dnn-mel"]
    assert "SPEECHMUSIC_TEST_UNSET_GHOST_ROOT" in reasons["ghost-binary-dnn-mel"]
    assert reasons["toy+ghost-binary-dnn-mel"] == reasons["ghost-binary-dnn-mel"]
    assert "does not exist" in reasons["gone-binary-dnn-mel"]
    rows = list(csv.DictReader((run / "skipped_experiments.csv").read_text().splitlines()))
    assert {r["experiment"]: r["reason"] for r in rows} == reasons
    toy3 = next(r for r in rows if r["experiment"] == "toy-3class-dnn-mel")
    assert (toy3["datasets"], toy3["task"], toy3["model"], toy3["features"]) == ("toy", "3class", "dnn", "mel")
    # The report lists every skipped experiment with its reason; Figure 5 marks the cell.
    report = study_report(run)
    md = render_markdown(report.title, report.sections)
    assert "## Skipped experiments (5)" in md and "does not exist" in md and "['noise']" in md
    (row5,) = report.figure5
    assert row5["binary_status"] == "ok" and row5["three_class_status"] == "skipped"
    assert "['noise']" in row5["note"] and row5["drop"] is None
    # The command says what it skipped.
    assert main(["run", str(run / "config.yaml"), "-o", str(run)]) == 0
    out = capsys.readouterr().out
    assert "skipped toy-3class-dnn-mel: no clips of class(es) ['noise']" in out
    assert "skipped experiments: 5" in out


def test_when_every_experiment_lacks_its_data_nothing_is_written(toy_root, tiny_root, shared_cache,
                                                                  tmp_path):
    data = _partial_config(toy_root, tiny_root, shared_cache)
    data["experiments"] = data["experiments"][1:]
    with pytest.raises(ConfigError, match=r"every selected experiment lacks its data(.|\n)*"
                                          r"SPEECHMUSIC_TEST_UNSET_GHOST_ROOT"):
        run_config(load_config(data=data, env={}), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_unreadable_clips_that_leave_a_class_empty_skip_the_experiment(tmp_path, shared_cache):
    root = write_toy_dataset(tmp_path / "data", per_class=4)
    for f in (root / "speech").glob("*.wav"):
        f.write_bytes(b"not audio")
    data = _partial_config(root, root, shared_cache)
    data["experiments"] = [{"datasets": ["toy"], "task": "binary", "models": ["dnn"]}]
    # The listed clips are fine, the decoded ones lack a class: the experiment goes, the run
    # goes on with the others.
    write_toy_dataset(tmp_path / "good", per_class=4)
    data["datasets"]["good"] = {"layout": "folders", "root": str(tmp_path / "good")}
    data["experiments"].append({"datasets": ["good"], "task": "binary", "models": ["dnn"]})
    result = run_config(load_config(data=data), tmp_path / "run")
    assert list(result.experiments) == ["good-binary-dnn-mel"]
    (skip,) = result.skipped_experiments
    assert skip.experiment == "toy-binary-dnn-mel" and "unreadable" in skip.reason
    assert "['speech']" in skip.reason


def _unbalanced(root: Path) -> Path:
    write_toy_dataset(root, per_class=8)
    for f in sorted((root / "speech").glob("*.wav"))[4:]:
        f.unlink()
    return root


@pytest.mark.parametrize("balance_test", [True, False])
def test_the_test_split_is_balanced_when_the_protocol_says_so(balance_test, tmp_path, shared_cache):
    from .conftest import tiny_config

    root = _unbalanced(tmp_path / "data")
    cfg = load_config(data=tiny_config(root, shared_cache, models=["dnn"],
                                       protocol={"balance_test": balance_test}))
    run_config(cfg, tmp_path / "run")
    for fold in (0, 1):
        m = json.loads((tmp_path / "run" / "experiments" / "toy-binary-dnn-mel" / f"fold_{fold}" /
                        "metrics.json").read_text())
        music, speech = m["patches"]["test"]
        assert speech > 0
        assert (music == speech) is balance_test, m["patches"]["test"]


def test_quantize_rounds_to_pcm_levels():
    x = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 1.2, 1e-6, 0.30001], dtype=np.float32)
    q = quantize(x, 16)
    assert np.all(np.abs(q * 32767 - np.round(q * 32767)) < 1e-3)
    assert q[5] == 1.0 and q[6] == 0.0 and abs(q[7] - 0.30001) <= 0.5 / 32767
    assert np.array_equal(quantize(x, 2), np.clip(np.round(x), -1, 1).astype(np.float32))


def test_audio_unified_to_16_bits_before_features(tmp_path):
    path = tmp_path / "a.wav"
    sig = 0.001 * music_like(22050, 1.0, seed=3) + 0.0004 * speech_like(22050, 1.0, seed=4)
    sf.write(path, sig.astype(np.float32), 22050, subtype="FLOAT")
    clip = Clip(id="a", path=str(path), label="music", dataset="d", group="a")
    fc = FeatureConfig.from_dict({**TINY_FEATURES, "sample_rate": SR})
    # bits only: the feature's own rate, then 8-bit levels (coarse enough to show)
    cache = UnifiedAudioCache(None, AudioProtocol(bit_depth=8))
    expected = compute_features(quantize(load_audio(path, sr=SR), 8), fc)
    assert np.allclose(cache.features(clip, fc), expected, atol=1e-4)
    plain = FeatureCache(None).features(clip, fc)
    assert not np.allclose(plain, expected, atol=1e-2)
    # the paper's: 22050 Hz and 16 bits, then the feature's 16 kHz
    paper = UnifiedAudioCache(None, AudioProtocol(unify_sample_rate=22050, bit_depth=16))
    audio = resample(quantize(load_audio(path, sr=22050), 16), orig_sr=22050, target_sr=SR)
    assert np.allclose(paper.features(clip, fc), compute_features(audio, fc), atol=1e-4)
    assert len({cache.key(clip, fc), paper.key(clip, fc), FeatureCache(None).key(clip, fc)}) == 3


def test_the_protocol_picks_the_cache(tmp_path, toy_root):
    from speechmusic.training.config import ProtocolConfig

    base = FeatureCache(tmp_path / "c")
    assert protocol_cache(base, ProtocolConfig()) is base
    unified = protocol_cache(base, ProtocolConfig(bit_depth=16, unify_sample_rate=22050))
    assert isinstance(unified, UnifiedAudioCache) and unified.root == base.root
    assert unified.stats is base.stats
    with pytest.raises(ConfigError, match="bit_depth"):
        ProtocolConfig(bit_depth=1)
    with pytest.raises(ConfigError, match="unify_sample_rate"):
        ProtocolConfig(unify_sample_rate=0)


def test_a_run_with_bit_depth_reads_its_own_cache_entries(toy_root, tmp_path):
    from .conftest import tiny_config

    cache = tmp_path / "cache"
    for bits in (None, 16):
        cfg = load_config(data=tiny_config(toy_root, cache, models=["dnn"], protocol={"bit_depth": bits}))
        result = run_config(cfg, tmp_path / f"run-{bits}")
        assert result.cache_stats.extracted == 16  # nothing shared: other audio, other entries
    assert len(list(cache.rglob("*.npy"))) == 32


def test_fit_minmax_scales_the_training_data_into_0_1():
    rng = np.random.default_rng(0)
    train = [rng.normal(3.0, 2.0, size=(5, n)) for n in (7, 11)]
    train[0][2] = 4.0  # a constant feature maps to 0
    train[1][2] = 4.0
    norm = fit_minmax(train)
    out = np.concatenate([norm.transform(a) for a in train], axis=1)
    assert np.allclose(out.min(axis=1)[[0, 1, 3, 4]], 0.0) and np.allclose(out.max(axis=1)[[0, 1, 3, 4]], 1.0)
    assert np.allclose(out[2], 0.0)
    with pytest.raises(ConfigError):
        fit_minmax([])


def test_fit_standard_is_one_mean_and_deviation_for_all_features_over_finite_values():
    rng = np.random.default_rng(1)
    train = [rng.normal(-4.0, 3.0, size=(6, n)) for n in (9, 20)]
    train[1][0, :3] = -np.inf  # INA's bands on digital silence
    norm = fit_standard(train)
    values = np.concatenate([a[np.isfinite(a)] for a in train])
    np.testing.assert_allclose(norm.mean, np.full(6, values.mean()), rtol=1e-6)
    np.testing.assert_allclose(norm.scale, np.full(6, values.std()), rtol=1e-5)
    out = norm.transform(train[0])
    assert out.shape == (6, 9) and np.isfinite(out).all()
    with pytest.raises(ConfigError, match="no data"):
        fit_standard([])
    with pytest.raises(ConfigError, match="feature count"):
        fit_standard([np.zeros((3, 4)), np.zeros((2, 4))])


def test_normalisers_by_name():
    train = [np.arange(12.0).reshape(3, 4)]
    assert np.allclose(make_normalizer("fit", lambda: train).transform(train[0]).mean(axis=1), 0.0)
    assert make_normalizer("minmax", lambda: train).transform(train[0]).max() == 1.0
    assert np.ptp(make_normalizer("standard", lambda: train).mean) == 0.0
    assert make_normalizer("per_patch", lambda: train).kind == "per_patch"
    assert make_normalizer("sliding", lambda: train, window=10).window == 10
    assert make_normalizer(None, lambda: train) is None
    with pytest.raises(ConfigError, match="normalizer must be one of"):
        make_normalizer("zscore", lambda: train)


def test_an_older_run_directory_resumes(toy_root, shared_cache, tmp_path):
    """A run directory written before the embedders, report and audio settings existed (its
    config.yaml lacks them) is the same run today."""
    from .conftest import tiny_config

    cfg = load_config(data=tiny_config(toy_root, shared_cache, models=["dnn"]))
    run = tmp_path / "run"
    run_config(cfg, run)
    old = yaml.safe_load((run / "config.yaml").read_text())
    for key in ("embedders", "head_units", "report"):
        old.pop(key)
    for key in ("unify_sample_rate", "bit_depth"):
        old["protocol"].pop(key)
    (run / "config.yaml").write_text(yaml.safe_dump(old))
    again = run_config(cfg, run)
    assert not again.experiments["toy-binary-dnn-mel"].trained_folds
    changed = load_config(data=tiny_config(toy_root, shared_cache, models=["dnn"],
                                           protocol={"bit_depth": 16}))
    with pytest.raises(ConfigError, match="different settings.*protocol"):
        run_config(changed, run)
    # The report's figure choices are not results: they may change on resume.
    relabelled = load_config(data=tiny_config(toy_root, shared_cache, models=["dnn"],
                                              report={"figure4": {"datasets": ["toy"]}}))
    run_config(relabelled, run)


def test_paper_config_states_the_papers_protocol():
    cfg = load_config(PAPER, env={})
    p = cfg.protocol
    assert p.balance and p.balance_test  # "All data is balanced by random down-sampling."
    assert p.unify_sample_rate == 22050 and p.bit_depth == 16
    assert set(cfg.embedders) == {"openl3", "yamnet", "ina_published"}
    ol3 = cfg.embedders["openl3"]
    assert ol3.kind == "openl3" and ol3.optional and not ol3.stand_in and ol3.weights is None
    assert (ol3.scaling, ol3.output) == ("minmax", "sigmoid") and cfg.head_units == 128
    assert ol3.params == {"input_repr": "mel256", "content_type": "music", "embedding_size": 512,
                          "hop_seconds": 0.1}
    assert cfg.embedders["yamnet"].stand_in and cfg.embedders["ina_published"].stand_in
    assert cfg.report.figure4.datasets == ["musan", "gtzan", "marolt19", "acmusyt"]
    assert cfg.report.figure4.tasks == ["binary"]
    assert cfg.report.figure5.datasets == ["musan", "marolt19"]
    assert cfg.report.figure5.tasks == ["binary", "3class"]
    # Each protocol item is documented with the paper's sentence it implements.
    text = " ".join(PAPER.read_text().split())
    for sentence in ("All data is balanced by random down-sampling.",
                     "unified to a sampling rate of 22050 Hz and 16 bits",
                     "These vectors are normalized between 0 and 1",
                     "final classifier with Sigmoid activation",
                     "This is performed for the MUSAN and Marolt19 datasets where noise samples are included."):
        assert " ".join(sentence.split()) in text.replace("# ", ""), sentence
    transfer = " ".join((PAPER.parent / "paper-transfer.yaml").read_text().split())
    assert "All data is balanced by random down-sampling." in transfer
    assert "unified to a sampling rate of 22050 Hz and 16 bits" in transfer.replace("# ", "")
