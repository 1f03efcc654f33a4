"""The registry: names, errors, rebuilding from a spec."""

from __future__ import annotations

import sys

import pytest

from speechmusic.errors import ModelError
from speechmusic.models import build_model, list_models, model_class


def test_list_models():
    assert list_models() == ["dnn", "embedding_head", "ina", "mlp_head", "swishnet", "vgg"]


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ModelError, match="unknown model 'resnet'.*dnn, embedding_head, ina, mlp_head, swishnet, vgg"):
        build_model("resnet", n_classes=2, input_shape=(128, 10))


def test_unknown_parameter():
    with pytest.raises(ModelError, match="no parameter.*depth.*valid"):
        build_model("vgg", n_classes=2, input_shape=(128, 10), depth=3)


@pytest.mark.parametrize("n_classes", [0, 1, -2, 2.5, True, "2"])
def test_bad_n_classes(n_classes):
    with pytest.raises(ModelError, match="n_classes"):
        build_model("dnn", n_classes=n_classes, input_shape=(128, 10))


@pytest.mark.parametrize("shape", [(), (0, 10), (128, -1), "128x10", (128.0, 10)])
def test_bad_input_shape(shape):
    with pytest.raises(ModelError, match="input_shape"):
        build_model("dnn", n_classes=2, input_shape=shape)


@pytest.mark.parametrize("name", ["ina", "swishnet", "vgg"])
def test_patch_models_need_two_dimensions(name):
    with pytest.raises(ModelError, match="n_features, frames"):
        build_model(name, n_classes=2, input_shape=(128,))


def test_bad_strategy():
    model = build_model("dnn", n_classes=2, input_shape=(128, 10))
    with pytest.raises(ModelError, match="frozen"):
        model.set_trainable("partial")


@pytest.mark.parametrize("name", ["ina", "swishnet", "vgg", "dnn", "mlp_head"])
def test_spec_rebuilds_the_same_network(name):
    model = build_model(name, n_classes=3, input_shape=(21, 68))
    spec = model.spec()
    again = build_model(spec["name"], n_classes=spec["n_classes"], input_shape=spec["input_shape"],
                        **spec["params"])
    assert again.spec() == spec
    assert {k: v.shape for k, v in again.state_dict().items()} == \
        {k: v.shape for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", ["ina", "swishnet", "vgg", "dnn", "mlp_head"])
def test_lines_are_documented(name):
    cls = model_class(name)
    assert cls.red_line and cls.green_line
    doc = sys.modules[cls.__module__].__doc__
    assert "Red line" in doc and "Green line" in doc


def test_input_shape_from_a_feature_config():
    from speechmusic.features.config import FeatureConfig

    model = build_model("swishnet", n_classes=2, input_shape=FeatureConfig.preset("mfcc_swishnet"))
    assert model.input_shape == (22, 16)


def test_readme_parameter_table_is_current():
    from pathlib import Path

    from speechmusic.models.summary import parameter_table

    readme = Path(__file__).resolve().parents[2] / "src" / "speechmusic" / "models" / "README.md"
    assert parameter_table() in readme.read_text(), "rerun python -m speechmusic.models.summary"


def test_embedding_head_is_built_in() -> None:
    # Checkpoints of the paper's embedding classifier load without importing speechmusic.transfer
    # (before, the architecture registered itself there).
    import subprocess
    import sys

    code = ("import sys; from speechmusic.models import list_models; "
            "assert 'embedding_head' in list_models(); assert 'speechmusic.transfer' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
