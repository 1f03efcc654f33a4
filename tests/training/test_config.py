"""Run configs: strict schema, --set overrides, ${...} variables, grids, the paper's config."""

from __future__ import annotations

from pathlib import Path

import pytest

from speechmusic.errors import ConfigError
from speechmusic.training import expand_experiments, load_config, parse_overrides
from speechmusic.training.config import apply_overrides, resolve_variables

PAPER = Path(__file__).resolve().parents[2] / "experiments" / "paper.yaml"


def _base() -> dict:
    return {
        "datasets": {"d": {"layout": "folders", "root": "/data/d"}},
        "tasks": {"binary": {"classes": ["music", "speech"]}},
        "models": {"vgg": {"name": "vgg", "features": ["melspec"]},
                   "ina": {"name": "ina", "features": ["melspec", "mfcc_ina"]}},
        "experiments": [{"datasets": ["d"], "task": "binary", "models": ["vgg", "ina"]}],
    }


def test_defaults_are_the_papers():
    cfg = load_config(data=_base())
    assert cfg.training.learning_rate == 1e-3 and cfg.training.batch_size == 64
    assert cfg.training.max_epochs == 200 and cfg.training.patience == 50
    assert cfg.protocol.n_folds == 5 and cfg.protocol.test_fraction == 0.1
    assert cfg.protocol.val_fraction == 0.1 and cfg.protocol.balance


@pytest.mark.parametrize("bad, where", [
    ({"trainig": {}}, "trainig"),
    ({"training": {"lr": 1}}, "training.lr"),
    ({"datasets": {"d": {"layout": "folders", "rooot": "x"}}}, "datasets.d.rooot"),
    ({"experiments": [{"datasets": ["d"], "task": "binary", "models": ["vgg"], "x": 1}]}, "experiments.0.x"),
])
def test_unknown_keys_are_rejected_by_name(bad, where):
    with pytest.raises(ConfigError, match=f"{where}: unknown key"):
        load_config(data={**_base(), **bad})


def test_wrong_types_and_values_are_rejected():
    with pytest.raises(ConfigError, match="training.max_epochs: must be an integer"):
        load_config(data={**_base(), "training": {"max_epochs": "many"}})
    with pytest.raises(ConfigError, match="learning_rate must be positive"):
        load_config(data={**_base(), "training": {"learning_rate": 0}})
    with pytest.raises(ConfigError, match="short_clips"):
        load_config(data={**_base(), "protocol": {"short_clips": "drop"}})
    with pytest.raises(ConfigError, match="required key"):
        load_config(data={**_base(), "tasks": {"t": {}}})


def test_overrides_with_dotted_keys_and_yaml_values():
    assert parse_overrides(["a.b=1", "c=[x, y]", "d=null", "e=text"]) == [
        ("a.b", 1), ("c", ["x", "y"]), ("d", None), ("e", "text")]
    cfg = load_config(data=_base(), overrides=["training.max_epochs=3", "protocol.folds=[0, 2]",
                                               "experiments.0.models=[vgg]", "roots.x=/r"])
    assert cfg.training.max_epochs == 3 and cfg.protocol.folds == [0, 2]
    assert cfg.experiments[0].models == ["vgg"] and cfg.roots == {"x": "/r"}
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["novalue"])
    with pytest.raises(ConfigError, match="not an index"):
        apply_overrides({"a": [1]}, [("a.5", 2)])


def test_exponent_numbers_that_yaml_reads_as_strings_are_numbers():
    # PyYAML (YAML 1.1) reads `1e-4` and `1.0e4` as strings; `--set training.learning_rate=1e-4`
    # and `learning_rate: 1e-4` in a config file were refused ("must be a number").
    cfg = load_config(data=_base(), overrides=["training.learning_rate=1e-4",
                                               "training.weight_decay=1.5E-3"])
    assert cfg.training.learning_rate == pytest.approx(1e-4)
    assert cfg.training.weight_decay == pytest.approx(1.5e-3)
    cfg = load_config(data={**_base(), "training": {"learning_rate": "3e-4"}})
    assert cfg.training.learning_rate == pytest.approx(3e-4)
    with pytest.raises(ConfigError, match="training.learning_rate: must be a number"):
        load_config(data={**_base(), "training": {"learning_rate": "fast"}})
    with pytest.raises(ConfigError, match="must be an integer"):  # only floats take it
        load_config(data={**_base(), "training": {"max_epochs": "1e2"}})


def test_variables_from_config_and_environment():
    data = {"roots": {"m": "${MY_ROOT}", "n": "${NOPE:-/fallback}"},
            "x": {"path": "${roots.m}/sub", "same": "${roots.n}", "missing": "${UNSET_VAR_XYZ}"}}
    out = resolve_variables(data, env={"MY_ROOT": "/data/m"})
    assert out["roots"]["m"] == "/data/m" and out["x"]["path"] == "/data/m/sub"
    assert out["x"]["same"] == "/fallback"
    assert out["x"]["missing"] == "${UNSET_VAR_XYZ}"  # left for a clear error where it is needed


def test_experiment_grid_expansion_and_names():
    exps = expand_experiments(load_config(data=_base()))
    assert [e.name for e in exps] == ["d-binary-vgg-melspec", "d-binary-ina-melspec", "d-binary-ina-mfcc_ina"]
    assert exps[2].features.patch_shape == (21, 68)
    assert [e.name for e in expand_experiments(load_config(data=_base()), only=["*-ina-*"])] == [
        "d-binary-ina-melspec", "d-binary-ina-mfcc_ina"]
    bad = _base()
    bad["experiments"][0]["task"] = "nope"
    with pytest.raises(ConfigError, match="unknown task"):
        expand_experiments(load_config(data=bad))
    bad = _base()
    bad["experiments"][0]["models"] = ["resnet"]
    with pytest.raises(ConfigError, match="unknown model 'resnet'"):
        expand_experiments(load_config(data=bad))


def test_unset_dataset_root_is_a_clear_error(tmp_path):
    from speechmusic.training import run_config

    data = _base()
    data["roots"] = {"d": "${SPEECHMUSIC_TEST_UNSET_ROOT}"}
    data["datasets"]["d"]["root"] = "${roots.d}"
    cfg = load_config(data=data, env={})
    with pytest.raises(ConfigError, match="SPEECHMUSIC_TEST_UNSET_ROOT or pass --set roots.d=PATH"):
        run_config(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # nothing written


def test_paper_config_describes_the_first_stage():
    cfg = load_config(PAPER, env={"MUSAN_ROOT": "/m", "GTZAN_ROOT": "/g", "MAROLT19_ROOT": "/r",
                                  "ACMUSYT_ROOT": "/a"})
    assert cfg.datasets["musan"].root == "/m" and cfg.datasets["acmusyt"].root == "/a"
    exps = expand_experiments(cfg)
    single = [e for e in exps if len(e.dataset_names) == 1]
    binary = {(e.dataset_names[0], e.model_name, e.features_name) for e in single if e.task_name == "binary"}
    combos = {("ina", "melspec"), ("ina", "mfcc_ina"), ("swishnet", "melspec"),
              ("swishnet", "mfcc_swishnet"), ("vgg", "melspec"), ("dnn", "melspec"),
              # the embedding baselines beside the networks: OpenL3 and two stand-ins
              ("openl3", "embedding"), ("yamnet", "embedding"), ("ina_published", "embedding")}
    for ds in ("musan", "gtzan", "marolt19", "acmusyt"):
        assert {(m, f) for d, m, f in binary if d == ds} == combos
    three = {e.dataset_names[0] for e in single if e.task_name == "3class"}
    assert three == {"musan", "marolt19"}
    assert {(e.model_name, e.features_name) for e in single if e.task_name == "3class"} == combos
    assert all(e.task.classes == ["music", "speech", "noise"] for e in single if e.task_name == "3class")
    combined = [e for e in exps if len(e.dataset_names) == 4]
    assert {e.model_name for e in combined} == {"ina", "swishnet", "vgg"}
    assert cfg.training.max_epochs == 200 and cfg.training.patience == 50
    # overrides reach the roots
    cfg2 = load_config(PAPER, overrides=["roots.gtzan=/elsewhere"], env={})
    assert cfg2.datasets["gtzan"].root == "/elsewhere"
    assert cfg2.datasets["musan"].root == "${MUSAN_ROOT}"


def test_real_mix_config_loads():
    cfg = load_config(PAPER.parent / "real-mix.yaml", env={})
    assert cfg.datasets["real_mix"].root == "../shared/data/real-mix"  # the default
    exps = expand_experiments(cfg)
    assert len(exps) == 8 and {e.task_name for e in exps} == {"binary", "3class"}
    assert load_config(PAPER.parent / "real-mix.yaml", env={"REAL_MIX_ROOT": "/x"}).datasets["real_mix"].root == "/x"


def test_training_differences_ignores_settings_left_at_their_defaults():
    """A run directory written before a training setting existed (its config.yaml lacks the key)
    must still compare equal to the same run today, and a real change must still show."""
    from speechmusic.training.config import training_differences

    old = {"learning_rate": 0.001, "max_epochs": 10}
    assert training_differences(old) == training_differences({**old, "gain_jitter_db": 0.0}) == {"max_epochs": 10}
    assert training_differences({**old, "gain_jitter_db": 20.0}) == {"max_epochs": 10, "gain_jitter_db": 20.0}
    assert training_differences(None) == {}


def test_training_with_merges_nested_sections_key_by_key():
    from speechmusic.training.config import AugmentConfig, TrainConfig, training_with

    base = TrainConfig(max_epochs=30, patience=5, augment=AugmentConfig(copies=2, p_reverb=0.5))
    got = training_with(base, {"max_epochs": 60, "augment": {"copies": 4}})
    assert (got.max_epochs, got.patience, got.augment.copies, got.augment.p_reverb) == (60, 5, 4, 0.5)
    assert training_with(base, {}) is base and base.augment.copies == 2


def test_real_mix_config_names_each_networks_settings():
    """bench/cv_shared.py takes this section as the networks' defaults (README, "Batch norm")."""
    from speechmusic.training.config import training_with

    cfg = load_config(PAPER.parent / "real-mix.yaml", env={})
    assert cfg.models["ina"].normalizer == cfg.models["swishnet"].normalizer == "standard"
    assert cfg.models["vgg"].normalizer == "fit" and cfg.models["vgg"].training == {"max_epochs": 60, "patience": 15}
    assert not cfg.models["dnn"].training
    ina = training_with(cfg.training, cfg.models["ina"].training)
    assert (ina.max_epochs, ina.patience, ina.augment.copies) == (30, 5, 2)
    swish = training_with(cfg.training, cfg.models["swishnet"].training)
    assert (swish.max_epochs, swish.patience, swish.augment.copies, swish.gain_jitter_db) == (60, 15, 4, 6.0)
    paper = load_config(PAPER, env={})
    assert all(m.normalizer == "fit" and not m.training for m in paper.models.values())
