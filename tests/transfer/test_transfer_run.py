"""A whole (tiny) transfer study: pretrain, transfer, Table 2 files, resume, unavailable rows."""

from __future__ import annotations

import csv
import io
import json

import pytest

from speechmusic.errors import ConfigError
from speechmusic.transfer import load_transfer_config, run_transfer, table2_markdown
from tests.conftest import music_like, speech_like
from tests.transfer.conftest import TINY


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    import soundfile as sf

    root = tmp_path_factory.mktemp("corpus")
    for name, fn, n in (("speech", speech_like, 10), ("music", music_like, 10)):
        (root / "src" / name).mkdir(parents=True)
        for i in range(n):
            sf.write(root / "src" / name / f"{name}{i}.wav", fn(16000, 1.0, seed=i), 16000)
    # The target: "slow" vs "fast" speech-like sounds (a different task on unseen audio).
    for name, seeds in (("low", range(100, 110)), ("high", range(200, 210))):
        (root / "tgt" / name).mkdir(parents=True)
        for i in seeds:
            sig = speech_like(16000, 1.0, seed=i) if name == "low" else music_like(16000, 1.0, seed=i)
            sf.write(root / "tgt" / name / f"{name}{i}.wav", sig, 16000)
    return root


def _config(root, tiny_ckpt, **extra):
    data = {
        "name": "tiny-transfer",
        "cache_dir": str(root / "cache"),
        "datasets": {"src": {"layout": "folders", "root": str(root / "src")},
                     "tgt": {"layout": "folders", "root": str(root / "tgt")}},
        "tasks": {"sm": {"classes": ["music", "speech"]}, "lh": {"classes": ["high", "low"]}},
        "features": {"tiny": TINY.to_dict()},
        "models": {"vgg": {"name": "vgg", "features": ["tiny"]},
                   "dnn": {"name": "dnn", "features": ["tiny"]}},
        "protocol": {"n_folds": 3, "test_fraction": None, "val_fraction": 0.2},
        "training": {"max_epochs": 2, "patience": 2, "batch_size": 32},
        "pretrain": {"datasets": ["src"], "task": "sm", "fold": 0},
        "architectures": ["vgg"],
        "baselines": ["dnn"],
        "embedders": {"mine": {"kind": "checkpoint", "title": "Tiny", "params": {"path": str(tiny_ckpt)}},
                      "openl3": {"kind": "openl3", "optional": True,
                                 "weights": str(root / "no-openl3-here")}},
        "targets": [{"name": "lh", "title": "Low vs high", "datasets": ["tgt"], "task": "lh"}],
    }
    data.update(extra)
    return load_transfer_config(data=data)


def test_tiny_transfer_study(corpus, tiny_ckpt, tmp_path):
    config = _config(corpus, tiny_ckpt)
    events: list[str] = []
    result = run_transfer(config, tmp_path / "run", on_event=events.append)
    models = [r["model"] for r in result.table]
    assert models == ["VGG-like_Emb", "VGG-like_Orig", "Tiny_Emb", "OpenL3_Emb", "DNN_baseline"]
    rows = {r["model"]: r for r in result.table}
    assert all(rows["VGG-like_Emb"][c]["status"] == "ok" for c in ("FZ", "IN", "FT"))
    assert rows["VGG-like_Orig"]["FZ"] is None and rows["VGG-like_Orig"]["FT"]["n_folds"] == 3
    assert rows["Tiny_Emb"]["FZ"]["status"] == "ok" and rows["Tiny_Emb"]["IN"] is None
    assert rows["OpenL3_Emb"]["FZ"]["status"] == "unavailable" and "openl3" in rows["OpenL3_Emb"]["note"]
    run = tmp_path / "run"
    md = (run / "table2.md").read_text()
    assert "| Low vs high | VGG-like_Emb |" in md and "n/a" in md and "±" in md
    table = list(csv.DictReader(io.StringIO((run / "table2.csv").read_text())))
    assert len(table) == 5 and table[0]["FZ_frame_mean"] and table[0]["FZ_file_mean"]
    assert "Table 2" in (run / "report.html").read_text()
    assert (run / "pretrain" / "vgg" / "fold_0" / "model.pt").is_file()
    desc = json.loads((run / "experiments" / "lh-vgg-emb-intermediate" / "experiment.json").read_text())
    assert desc["column"] == "IN" and desc["strategy"] == "intermediate"
    assert any("pretrain vgg" in e for e in events)
    # The same folds for every row of a target.
    splits = {json.loads((run / "experiments" / f"lh-{r}" / "fold_1" / "split.json").read_text())["test"].__repr__()
              for r in ("vgg-emb-frozen", "vgg-orig", "dnn-baseline")}
    assert len(splits) == 1
    # Resuming trains nothing and gives the same table.
    again = run_transfer(config, run)
    assert all(not cv.trained_folds for cv in again.experiments.values())
    assert table2_markdown(again.table) == table2_markdown(result.table)
    # Another config into the same directory is refused.
    with pytest.raises(ConfigError, match="different settings"):
        run_transfer(_config(corpus, tiny_ckpt, head_units=64), run)


def test_cli_resumes_and_prints_table2(corpus, tiny_ckpt, tmp_path, capsys):
    import yaml

    from speechmusic.cli import main
    from speechmusic.errors import ModelError
    from speechmusic.transfer import CheckpointEmbedder

    config = _config(corpus, tiny_ckpt, strategies=["frozen"], baselines=[])
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    run = tmp_path / "run"
    assert main(["transfer", str(path), "-o", str(run)]) == 0
    out = capsys.readouterr().out
    assert "| Low vs high | VGG-like_Emb |" in out and "table2.md" in out
    assert main(["transfer", str(path), "--list"]) == 0
    assert "vgg-emb-frozen" in capsys.readouterr().out
    # A classifier trained on embeddings cannot embed audio itself: a clear error.
    with pytest.raises(ModelError, match="embeddings"):
        CheckpointEmbedder(run / "experiments" / "lh-mine-emb" / "fold_0" / "model.pt")


def test_config_errors(corpus, tiny_ckpt):
    with pytest.raises(ConfigError, match="unknown dataset"):
        _config(corpus, tiny_ckpt, targets=[{"name": "x", "datasets": ["nope"], "task": "lh"}])
    with pytest.raises(ConfigError, match="strategies"):
        _config(corpus, tiny_ckpt, strategies=["frozen", "melted"])
    with pytest.raises(ConfigError, match="embedder kind"):
        _config(corpus, tiny_ckpt, embedders={"x": {"kind": "vggish"}})


def test_paper_config_loads():
    from pathlib import Path

    config = load_transfer_config(Path(__file__).resolve().parents[2] / "experiments" / "paper-transfer.yaml")
    assert [t.name for t in config.targets] == ["sns", "accompaniment", "gender", "ensemble"]
    assert config.architectures == ["ina", "vgg", "swishnet"] and config.head_units == 128
    assert config.tasks["ensemble_size"].classes == ["1", "2", "3", "4", "5+"]
    assert config.embedders["openl3"].params["embedding_size"] == 512


def test_a_models_training_overrides_reach_its_pretraining_and_baseline_rows(corpus, tiny_ckpt, tmp_path):
    config = _config(corpus, tiny_ckpt,
                     models={"vgg": {"name": "vgg", "features": ["tiny"], "training": {"max_epochs": 3, "patience": None}},
                             "dnn": {"name": "dnn", "features": ["tiny"], "training": {"max_epochs": 1}}},
                     embedders={}, targets=[{"name": "lh", "title": "Low vs high", "datasets": ["tgt"],
                                             "task": "lh"}], strategies=["frozen"])
    run = tmp_path / "run"
    run_transfer(config, run)

    def epochs(path):
        return json.loads((run / path / "fold_0" / "metrics.json").read_text())["fit"]["epochs_run"]

    assert epochs("pretrain/vgg") == 3  # the vgg model's own budget
    assert epochs("experiments/lh-vgg-orig") == 3
    assert epochs("experiments/lh-dnn-baseline") == 1
    assert epochs("experiments/lh-vgg-emb-frozen") == 2  # a transfer head: the run's training
    desc = json.loads((run / "experiments" / "lh-dnn-baseline" / "experiment.json").read_text())
    assert desc["training"] == {"max_epochs": 1}
