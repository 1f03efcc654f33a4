"""Embedding baselines: the paper's classifier for OpenL3 (embeddings scaled to [0, 1], a
128-unit dense layer, sigmoid outputs), OpenL3 beside the networks in stage one (on a generated
weight file in the official Keras layout), and a transfer study on partial data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speechmusic.data.manifest import Clip
from speechmusic.errors import ConfigError, ModelError
from speechmusic.evaluation.report import study_report
from speechmusic.models import build_model, load_checkpoint, save_checkpoint
from speechmusic.training import load_config, run_config
from speechmusic.training.cv import AudioProtocol, quantize
from speechmusic.transfer import load_transfer_config, run_transfer
from speechmusic.transfer.baseline import EmbeddingCache, EmbeddingHead
from speechmusic.transfer.embedders import CheckpointEmbedder
from tests.conftest import music_like, speech_like
from tests.transfer.conftest import TINY
from tests.transfer.openl3_fixture import write_openl3_h5


def test_embedding_head_has_sigmoid_outputs():
    torch.manual_seed(0)
    head = EmbeddingHead(n_classes=3, input_shape=(512,))
    assert isinstance(head.classifier[-1], torch.nn.LogSigmoid)
    assert head.params == {"units": 128, "dropout": 0.0, "head_units": None, "output": "sigmoid"}
    x = torch.randn(4, 512)
    out = head(x)
    a = head.classifier[0](head.body(x))  # the output units' activations
    assert torch.allclose(out, torch.nn.functional.logsigmoid(a))
    s = torch.sigmoid(a)
    assert torch.allclose(head.predict_proba(x), s / s.sum(dim=1, keepdim=True), atol=1e-6)
    # what the fit loop minimises: Keras' categorical cross-entropy on the sigmoid outputs
    y = torch.tensor([0, 2, 1, 1])
    keras = -torch.log(s[torch.arange(4), y] / s.sum(dim=1)).mean()
    assert torch.allclose(torch.nn.functional.cross_entropy(out, y), keras, atol=1e-6)
    soft = build_model("embedding_head", n_classes=2, input_shape=(16,), output="softmax")
    assert isinstance(soft.classifier, torch.nn.Linear)
    with pytest.raises(ModelError, match="output"):
        EmbeddingHead(n_classes=2, input_shape=(8,), output="tanh")


def test_embedding_head_checkpoint_round_trip(tmp_path):
    head = EmbeddingHead(n_classes=2, input_shape=(32,), units=16).eval()
    path = save_checkpoint(tmp_path / "h.pt", model=head, labels=["a", "b"], feature_config=TINY,
                           normalizer=None)
    back = load_checkpoint(path).model
    assert back.arch == "embedding_head" and back.params["output"] == "sigmoid"
    x = torch.randn(3, 32)
    assert torch.allclose(back(x), head(x))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """``src/{music,speech}`` (1 s at 16 kHz, 3 each) and ``tgt/{low,high}`` (3 each)."""
    root = tmp_path_factory.mktemp("corpus")
    for name, fn in (("speech", speech_like), ("music", music_like)):
        (root / "src" / name).mkdir(parents=True)
        for i in range(3):
            sf.write(root / "src" / name / f"{name}{i}.wav", fn(16000, 1.0, seed=i), 16000)
    for name, fn in (("low", speech_like), ("high", music_like)):
        (root / "tgt" / name).mkdir(parents=True)
        for i in range(3):
            sf.write(root / "tgt" / name / f"{name}{i}.wav", fn(16000, 1.0, seed=100 + i), 16000)
    return root


@pytest.fixture(scope="module")
def openl3_weights(tmp_path_factory) -> Path:
    return write_openl3_h5(tmp_path_factory.mktemp("openl3") / "openl3_audio_mel256_music.h5")


def test_openl3_beside_the_networks_in_stage_one(corpus, openl3_weights, tmp_path):
    """Stage one runs OpenL3 (a generated file in the official Keras layout) on the same folds
    as the networks, through the paper's classifier; an optional embedder without weights is a
    skipped experiment, with the reason."""
    data = {
        "name": "stage-one",
        "cache_dir": str(tmp_path / "cache"),
        "datasets": {"src": {"layout": "folders", "root": str(corpus / "src")}},
        "tasks": {"binary": {"classes": ["music", "speech"]}},
        "features": {"tiny": TINY.to_dict()},
        "models": {"dnn": {"name": "dnn", "params": {"units": 8}, "features": ["tiny"]}},
        "embedders": {
            "openl3": {"kind": "openl3", "weights": str(openl3_weights),
                       "params": {"hop_seconds": 1.0}},  # one window per 1-s clip: quick
            "absent": {"kind": "openl3", "weights": str(tmp_path / "nowhere"), "optional": True}},
        "protocol": {"n_folds": 2, "test_fraction": None, "val_fraction": 0.0,
                     "unify_sample_rate": 22050, "bit_depth": 16},
        "training": {"max_epochs": 2, "batch_size": 8},
        "experiments": [{"datasets": ["src"], "task": "binary", "models": ["dnn"],
                         "embedders": ["openl3", "absent"]}],
    }
    run = tmp_path / "run"
    result = run_config(load_config(data=data), run)
    assert sorted(result.experiments) == ["src-binary-dnn-tiny", "src-binary-openl3-embedding"]
    (skip,) = result.skipped_experiments
    assert skip.experiment == "src-binary-absent-embedding"
    assert "embedder absent unavailable" in skip.reason and "not found" in skip.reason
    exp = run / "experiments" / "src-binary-openl3-embedding"
    desc = json.loads((exp / "experiment.json").read_text())
    assert desc["arch"] == "embedding_head" and desc["features"] == "embedding"
    assert desc["embedder"]["kind"] == "openl3" and desc["embedder"]["output"] == "sigmoid"
    assert desc["feature_config"]["embedding_size"] == 512 and desc["feature_config"]["scaling"] == "minmax"
    # the same clips in the same folds as the network
    for fold in (0, 1):
        a = json.loads((exp / f"fold_{fold}" / "split.json").read_text())
        b = json.loads((run / "experiments" / "src-binary-dnn-tiny" / f"fold_{fold}" / "split.json").read_text())
        assert a == b
    # the checkpoint: a 128-unit dense layer, sigmoid outputs, inputs scaled to [0, 1] by the
    # training split's range
    ckpt = load_checkpoint(exp / "fold_0" / "model.pt")
    assert ckpt.model.arch == "embedding_head" and ckpt.model.params["units"] == 128
    assert isinstance(ckpt.model.classifier[-1], torch.nn.LogSigmoid)
    assert ckpt.extra["input"] == "embeddings" and ckpt.extra["embedder"]["kind"] == "openl3"
    split = json.loads((exp / "fold_0" / "split.json").read_text())
    from speechmusic.transfer.openl3 import OpenL3Embedder

    ecache = EmbeddingCache(tmp_path / "cache", OpenL3Embedder(weights=openl3_weights, hop_seconds=1.0),
                            audio=AudioProtocol(unify_sample_rate=22050, bit_depth=16))
    clips = {c.id: c for c in _clips(corpus / "src")}
    train = np.concatenate([ecache.features(clips[i], ecache.config) for i in split["train"]], axis=1)
    scaled = ckpt.normalizer.transform(train)
    assert np.allclose(scaled.min(axis=1)[np.ptp(train, axis=1) > 0], 0.0, atol=1e-5)
    assert np.allclose(scaled.max(axis=1)[np.ptp(train, axis=1) > 0], 1.0, atol=1e-5)
    assert ecache.stats.extracted == 0  # the run's own entries: the same key, audio settings included
    # Figure 4 puts OpenL3 beside the DNN (and the absent embedder's row, without data)
    report = study_report(run, confusion=False)
    assert [(r["model"], r["title"], r["input"], r["n_datasets"]) for r in report.figure4] == [
        ("dnn", "DNN", "MelSpec", 1), ("openl3", "OpenL3", "Embedding", 1),
        ("absent", "OpenL3", "Embedding", 0)]
    assert "unavailable" in report.figure4[2]["missing"]


def _clips(root: Path) -> list[Clip]:
    from speechmusic.data.adapters import DatasetSpec, load_dataset

    return list(load_dataset(DatasetSpec(layout="folders", root=str(root), name="src")))


def test_embedding_cache_reads_audio_as_the_protocol_prepares_it(corpus, tiny_ckpt, tmp_path):
    emb = CheckpointEmbedder(tiny_ckpt)
    clip = Clip(id="m0", path=str(corpus / "src" / "music" / "music0.wav"), label="music",
                dataset="src", group="m0")
    plain = EmbeddingCache(None, emb)
    prepared = EmbeddingCache(None, emb, audio=AudioProtocol(bit_depth=4))
    assert plain.key(clip, plain.config) != prepared.key(clip, prepared.config)
    assert EmbeddingCache(None, emb, audio=AudioProtocol()).key(clip, plain.config) == plain.key(clip, plain.config)
    from speechmusic.audio import load_audio

    expected = emb.embed(quantize(load_audio(clip.path, sr=emb.sample_rate), 4))[0].T
    assert np.allclose(prepared.features(clip, prepared.config), expected, atol=1e-5)
    assert not np.allclose(plain.features(clip, plain.config), expected, atol=1e-3)


def _transfer_config(root: Path, tiny_ckpt: Path, **extra) -> object:
    data = {
        "name": "partial-transfer",
        "cache_dir": str(root / "cache"),
        "roots": {"lost": "${SPEECHMUSIC_TEST_UNSET_LOST_ROOT}"},
        "datasets": {"src": {"layout": "folders", "root": str(root / "src")},
                     "lost_src": {"layout": "folders", "root": "${roots.lost}"},
                     "tgt": {"layout": "folders", "root": str(root / "tgt")},
                     "lost_tgt": {"layout": "folders", "root": "${roots.lost}"}},
        "tasks": {"sm": {"classes": ["music", "speech"]}, "lh": {"classes": ["high", "low"]}},
        "features": {"tiny": TINY.to_dict()},
        "models": {"vgg": {"name": "vgg", "params": {"channels": 4, "fc_units": [8, 8]}, "features": ["tiny"]},
                   "dnn": {"name": "dnn", "params": {"units": 8}, "features": ["tiny"]}},
        "protocol": {"n_folds": 2, "test_fraction": None, "val_fraction": 0.0},
        "training": {"max_epochs": 1, "batch_size": 16},
        "pretrain": {"datasets": ["src", "lost_src"], "task": "sm", "fold": 0},
        "architectures": ["vgg"],
        "strategies": ["frozen"],
        "baselines": ["dnn"],
        "embedders": {"mine": {"kind": "checkpoint", "title": "Tiny", "stand_in": True,
                               "params": {"path": str(tiny_ckpt)}}},
        "targets": [{"name": "lh", "title": "Low vs high", "datasets": ["tgt"], "task": "lh"},
                    {"name": "gone", "title": "Lost target", "datasets": ["lost_tgt"], "task": "lh"}],
    }
    data.update(extra)
    return load_transfer_config(data=data, env={})


def test_transfer_runs_to_the_end_on_partial_data(corpus, tiny_ckpt, tmp_path):
    import shutil

    root = tmp_path / "c"
    shutil.copytree(corpus, root)
    config = _transfer_config(root, tiny_ckpt)
    run = tmp_path / "run"
    result = run_transfer(config, run)
    reasons = {r.experiment: r.reason for r in result.skipped_experiments}
    assert "pretrain:lost_src" in reasons and "left out of pre-training" in reasons["pretrain:lost_src"]
    assert "SPEECHMUSIC_TEST_UNSET_LOST_ROOT" in reasons["pretrain:lost_src"]
    assert {f"gone-{r}" for r in ("vgg-emb-frozen", "vgg-orig", "mine-emb", "dnn-baseline")} <= set(reasons)
    # the networks pre-trained on what had data, and say so
    pre = json.loads((run / "pretrain" / "vgg" / "experiment.json").read_text())
    assert pre["datasets"] == ["src"] and "lost_src" in pre["left_out"]
    rows = {(r["target"], r["model"]): r for r in result.table}
    assert rows[("lh", "VGG-like_Emb")]["FZ"]["status"] == "ok"
    assert rows[("gone", "VGG-like_Emb")]["FZ"]["status"] == "skipped"
    assert rows[("gone", "DNN_baseline")]["FT"]["status"] == "skipped"
    assert "SPEECHMUSIC_TEST_UNSET_LOST_ROOT" in rows[("gone", "DNN_baseline")]["note"]
    md = (run / "table2.md").read_text()
    assert "| Lost target | VGG-like_Emb | skipped | - | - |" in md
    assert "| Tiny_Emb (stand-in) |" in md
    assert "Skipped experiments" in (run / "report.html").read_text()
    assert (run / "table2.png").read_bytes()[:4] == b"\x89PNG"
    listed = list(csv.DictReader((run / "skipped_experiments.csv").read_text().splitlines()))
    assert {r["experiment"] for r in listed} == set(reasons)
    # the general embedding: the paper's classifier (sigmoid outputs, inputs in [0, 1])
    ckpt = load_checkpoint(run / "experiments" / "lh-mine-emb" / "fold_0" / "model.pt")
    assert ckpt.model.arch == "embedding_head" and ckpt.model.params["output"] == "sigmoid"
    # Resuming when the lost source has turned up would mix pre-trainings: refused.
    lost = tmp_path / "lost"
    shutil.copytree(corpus / "src", lost)
    found = _transfer_config(root, tiny_ckpt, roots={"lost": str(lost)})
    with pytest.raises(ConfigError, match="pre-trained on src"):
        run_transfer(found, run)
    # No target with data: nothing to run.
    with pytest.raises(ConfigError, match="no target has its data"):
        run_transfer(config, tmp_path / "none", only_targets=["gone"])


def test_transfer_without_partial_pretraining_skips_the_transferred_rows(corpus, tiny_ckpt, tmp_path):
    config = _transfer_config(corpus, tiny_ckpt, targets=[
        {"name": "lh", "title": "Low vs high", "datasets": ["tgt"], "task": "lh"}])
    config.pretrain.partial = False
    result = run_transfer(config, tmp_path / "run")
    rows = {r["model"]: r for r in result.table}
    assert rows["VGG-like_Emb"]["FZ"]["status"] == "skipped"
    assert rows["VGG-like_Orig"]["FT"]["status"] == "ok"  # from scratch: no pre-training needed
    assert rows["DNN_baseline"]["FT"]["status"] == "ok"
    assert "nothing is pre-trained" in rows["VGG-like_Emb"]["note"]
    assert not (tmp_path / "run" / "pretrain").exists()


def test_embedding_cache_embeds_augmented_copies_of_the_signal(corpus, tiny_ckpt):
    # training.augment's copies of an embedding baseline's clips: the transform applies to the
    # signal at the embedder's rate, before embedding, with or without a protocol.
    emb = CheckpointEmbedder(tiny_ckpt)
    clip = Clip(id="m0", path=str(corpus / "src" / "music" / "music0.wav"), label="music",
                dataset="src", group="m0")
    from speechmusic.audio import load_audio

    signal = load_audio(clip.path, sr=emb.sample_rate)
    for cache in (EmbeddingCache(None, emb), EmbeddingCache(None, emb, audio=AudioProtocol(bit_depth=4))):
        assert cache.signal_rate(cache.config) == emb.sample_rate
        seen = []
        ref = cache.derived_ref(clip, cache.config, tag="reversed",
                                transform=lambda x, seen=seen: seen.append(len(x)) or x[::-1].copy())
        source = signal if cache.audio is None else quantize(signal, 4)
        assert seen == [len(source)]
        assert np.allclose(ref.load(), emb.embed(source[::-1].copy())[0].T, atol=1e-5)
        assert not np.allclose(ref.load(), cache.features(clip, cache.config), atol=1e-3)
