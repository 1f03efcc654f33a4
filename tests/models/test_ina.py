"""The INA network and the Keras HDF5 reader, without the published weights: a synthetic Keras
file whose flatten is not 1x1 checks kernel layout, batch norm and NHWC flatten order against a
NumPy re-implementation of Keras' layers."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from speechmusic.errors import CheckpointError, ModelError
from speechmusic.models import INA_VARIANTS, build_model, ina_from_keras, standardize_patches
from speechmusic.models.ina import _KerasMaxPool2d, read_keras_ina

EPS = 0.002


def _layer(cls: str, name: str, **config) -> dict:
    return {"class_name": cls, "config": {"name": name, **config}}


def _conv(name, filters, kernel):
    return _layer("Conv2D", name, filters=filters, kernel_size=kernel, strides=[1, 1], padding="valid",
                  data_format="channels_last", dilation_rate=[1, 1], activation="linear", use_bias=True)


def _bn(name):
    return _layer("BatchNormalization", name, axis=-1, momentum=0.99, epsilon=EPS, center=True, scale=True)


def _relu(name):
    return _layer("Activation", name, activation="relu")


def _pool(name, size, padding):
    return _layer("MaxPooling2D", name, pool_size=size, strides=size, padding=padding,
                  data_format="channels_last")


# [12 frames, 7 bands] -> conv 3x2 [10,6] -> pool 2x2 same [5,3] -> conv 2x2 [4,2]
# -> pool 3x1 valid [1,2] -> flatten 1*2*5 = 10 (two positions: the flatten order matters)
LAYERS = [
    _layer("Reshape", "reshape", target_shape=[12, 7, 1], batch_input_shape=[None, 12, 7]),
    _conv("conv2d_1", 4, [3, 2]), _bn("bn_1"), _relu("act_1"), _pool("pool_1", [2, 2], "same"),
    _conv("conv2d_2", 5, [2, 2]), _bn("bn_2"), _relu("act_2"), _pool("pool_2", [3, 1], "valid"),
    _layer("Flatten", "flatten", data_format="channels_last"),
    _layer("Dense", "dense_1", units=6, activation="linear", use_bias=True), _bn("bn_3"), _relu("act_3"),
    _layer("Dropout", "dropout_1", rate=0.5),
    _layer("Dense", "dense_2", units=3, activation="softmax", use_bias=True),
]


def _weights(rng) -> dict[str, dict[str, np.ndarray]]:
    def bn(n):
        return {"gamma": rng.uniform(0.5, 1.5, n), "beta": rng.normal(0, 0.3, n),
                "moving_mean": rng.normal(0, 0.3, n), "moving_variance": rng.uniform(0.5, 2.0, n)}

    w = {"conv2d_1": {"kernel": rng.normal(0, 0.5, (3, 2, 1, 4)), "bias": rng.normal(0, 0.1, 4)},
         "bn_1": bn(4),
         "conv2d_2": {"kernel": rng.normal(0, 0.3, (2, 2, 4, 5)), "bias": rng.normal(0, 0.1, 5)},
         "bn_2": bn(5),
         "dense_1": {"kernel": rng.normal(0, 0.4, (10, 6)), "bias": rng.normal(0, 0.1, 6)},
         "bn_3": bn(6),
         "dense_2": {"kernel": rng.normal(0, 0.4, (6, 3)), "bias": rng.normal(0, 0.1, 3)}}
    return {k: {n: a.astype(np.float32) for n, a in v.items()} for k, v in w.items()}


def write_keras_file(path, layers, weights) -> None:
    """A file laid out like Keras 2.3's ``model.save``: config JSON plus ``model_weights``."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.3.1"
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential",
                                              "config": {"name": "sequential", "layers": layers}})
        group = f.create_group("model_weights")
        for layer in layers:
            lname = layer["config"]["name"]
            g = group.create_group(lname)
            names = []
            for wname, value in weights.get(lname, {}).items():
                full = f"{lname}/{wname}:0"
                g[full] = value
                names.append(full.encode())
            g.attrs["weight_names"] = names


# --- NumPy Keras semantics (NHWC) --------------------------------------------------------------
def np_conv(x, kernel, bias):
    kh, kw = kernel.shape[:2]
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))  # [N,H',W',C,kh,kw]
    return np.einsum("nhwcij,ijco->nhwo", win, kernel) + bias


def np_pool(x, size, padding):
    n, h, w, c = x.shape
    (ph, pw) = size
    if padding == "valid":
        oh, ow, top, left = h // ph, w // pw, 0, 0
    else:
        oh, ow = -(-h // ph), -(-w // pw)
        top = max((oh - 1) * ph + ph - h, 0) // 2
        left = max((ow - 1) * pw + pw - w, 0) // 2
    out = np.empty((n, oh, ow, c), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            r0, c0 = max(i * ph - top, 0), max(j * pw - left, 0)
            out[:, i, j] = x[:, r0:i * ph - top + ph, c0:j * pw - left + pw].max(axis=(1, 2))
    return out


def np_bn(x, p):
    return (x - p["moving_mean"]) / np.sqrt(p["moving_variance"] + EPS) * p["gamma"] + p["beta"]


def np_keras_forward(x, w):
    a = x[..., None].astype(np.float64)
    a = np_pool(np.maximum(np_bn(np_conv(a, **w["conv2d_1"]), w["bn_1"]), 0), (2, 2), "same")
    a = np_pool(np.maximum(np_bn(np_conv(a, **w["conv2d_2"]), w["bn_2"]), 0), (3, 1), "valid")
    a = a.reshape(len(a), -1)  # NHWC flatten
    a = np.maximum(np_bn(a @ w["dense_1"]["kernel"] + w["dense_1"]["bias"], w["bn_3"]), 0)
    z = a @ w["dense_2"]["kernel"] + w["dense_2"]["bias"]
    e = np.exp(z - z.max(1, keepdims=True))
    return z, e / e.sum(1, keepdims=True)


# -----------------------------------------------------------------------------------------------
def test_keras_file_is_read_layer_for_layer(tmp_path):
    rng = np.random.default_rng(1)
    weights = _weights(rng)
    path = tmp_path / "net.hdf5"
    write_keras_file(path, LAYERS, weights)
    spec, _ = read_keras_ina(path)
    assert spec["input_shape"] == [7, 12]
    assert spec["layers"] == [{"conv": 4, "kernel": [3, 2]}, {"pool": [2, 2], "padding": "same"},
                              {"conv": 5, "kernel": [2, 2]}, {"pool": [3, 1], "padding": "valid"}]
    assert spec["dense_units"] == [6] and spec["dropouts"] == [0.5]
    assert spec["bn_eps"] == EPS and spec["n_classes"] == 3

    model = ina_from_keras(path)
    assert not model.training and model.flatten_size == 10
    x = rng.normal(size=(5, 12, 7)).astype(np.float32)
    logits, probs = np_keras_forward(x, weights)
    with torch.no_grad():
        ours = model.forward_keras(torch.from_numpy(x))
        ours_probs = model.forward_keras(torch.from_numpy(x), probs=True)
        ours_layout = model(torch.from_numpy(x).transpose(1, 2))
    np.testing.assert_allclose(ours.numpy(), logits, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(ours_probs.numpy(), probs, atol=1e-6)
    torch.testing.assert_close(ours_layout, ours)


def test_keras_same_pooling_pads_on_both_sides():
    # 6 rows pooled by 4 with 'same': Keras pads one row before and one after -> max(0..2), max(3..5).
    # (PyTorch's ceil_mode would pad after only and give max(0..3) = 3.)
    x = torch.arange(6.0).reshape(1, 1, 6, 1)
    out = _KerasMaxPool2d((4, 1), padding="same")(x)
    assert out.flatten().tolist() == [2.0, 5.0]
    assert np_pool(x.numpy().reshape(1, 6, 1, 1), (4, 1), "same").flatten().tolist() == [2.0, 5.0]


def test_reader_rejects_other_files(tmp_path):
    junk = tmp_path / "junk.hdf5"
    junk.write_bytes(b"not hdf5 at all")
    with pytest.raises(CheckpointError, match="junk.hdf5"):
        read_keras_ina(junk)
    strided = [dict(layer) for layer in LAYERS]
    strided[1] = {"class_name": "Conv2D", "config": {**LAYERS[1]["config"], "strides": [2, 2]}}
    path = tmp_path / "strided.hdf5"
    write_keras_file(path, strided, _weights(np.random.default_rng(0)))
    with pytest.raises(CheckpointError, match="strided.hdf5.*Conv2D"):
        read_keras_ina(path)
    missing = tmp_path / "missing.hdf5"
    weights = _weights(np.random.default_rng(0))
    del weights["dense_2"]
    write_keras_file(missing, LAYERS, weights)
    with pytest.raises(CheckpointError, match="missing.hdf5"):
        ina_from_keras(missing)


def test_forward_keras_checks_the_layout():
    model = build_model("ina", n_classes=2, input_shape=(21, 68)).eval()
    with pytest.raises(ModelError, match="68 frames, 21 bands"):
        model.forward_keras(torch.randn(2, 21, 68))
    x = torch.randn(2, 68, 21)
    torch.testing.assert_close(model.forward_keras(x), model(x.transpose(1, 2)))


def test_variants_have_published_sizes():
    counts = {"sm": (4, 512), "smn": (4, 256), "gender": (5, 512)}
    for variant, (n_conv, units) in counts.items():
        assert sum("conv" in e for e in INA_VARIANTS[variant]["layers"]) == n_conv
        bands = 24 if variant == "gender" else 21
        model = build_model("ina", n_classes=2, input_shape=(bands, 68), variant=variant)
        assert model.params["padding"] == "valid"
        assert model.flatten_size == 256 and model.embedding_size == units


def test_bad_ina_arguments():
    with pytest.raises(ModelError, match="variant"):
        build_model("ina", n_classes=2, input_shape=(21, 68), variant="xyz")
    with pytest.raises(ModelError, match="layers"):
        build_model("ina", n_classes=2, input_shape=(21, 68), layers=[{"conv": 3}])
    with pytest.raises(ModelError, match="dropout"):
        build_model("ina", n_classes=2, input_shape=(21, 68), dropouts=[0.1])


def test_standardize_patches_matches_segmenter_formula():
    rng = np.random.default_rng(0)
    patches = rng.normal(3.0, 2.0, size=(4, 21, 68)).astype(np.float32)
    flat = patches.reshape(4, -1)
    expected = ((flat - flat.mean(1, keepdims=True)) / flat.std(1, keepdims=True)).reshape(patches.shape)
    np.testing.assert_allclose(standardize_patches(patches), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(standardize_patches(torch.from_numpy(patches)).numpy(), expected,
                               rtol=1e-5, atol=1e-5)
