"""The INA CNN (Doukhan et al., MIREX 2018), layer for layer as in inaSpeechSegmenter 0.6.8.

Architecture of the published speech/music network (``variant="sm"``), read from
``keras_speech_music_cnn.hdf5``; the input is a patch of 68 frames x 21 bands::

    Conv2D 64 5x4  BN ReLU  MaxPool 2x2 (valid)          [68,21] -> [64,18] -> [32,9]
    Conv2D 128 3x3 BN ReLU                               -> [30,7]
    Conv2D 128 3x3 BN ReLU  MaxPool 2x2 (same)           -> [28,5] -> [14,3]
    Conv2D 256 3x3 BN ReLU  MaxPool 12x1 (all frames)    -> [12,1] -> [1,1]
    Flatten (channels last, as Keras)                    -> 256
    ------------------------------------------------------------- green line
    4 x (Dense 512  BN ReLU  Dropout .2/.3/.4/.5)
    ------------------------------------------------------------- red line (embedding, 512)
    Dense n_classes (softmax applied outside: the model returns logits)

``variant="smn"`` (speech/music/noise) is the same shape with a 7x4 first kernel, 4x2 and 2x2
'same' poolings and 256-unit dense layers; ``variant="gender"`` has five convolutions (64, 64,
128, 128, 256) on 68 x 24 bands. The last pooling always takes the maximum over all remaining
frames, which equals Keras' fixed 12x1 / 4x1 / 28x1 pooling on 68-frame patches and lets the
network take other patch lengths.

Red line: after the last hidden dense block (512-d for ``sm`` and ``gender``, 256-d for ``smn``).
Green line: between the convolutional part and the dense part (after flatten); ``intermediate``
fine-tunes the four dense blocks and the classifier. (The paper's Figure 1 draws both lines; its
text does not say where, so these positions are our reading: the output layer removed, and the
convolutional feature extractor kept fixed.)

Layout: models here take ``[batch, n_features, frames]``; the network sees the patch as an image
with frames as height and bands as width, as Keras did. :meth:`InaNet.forward_keras` takes the
Keras layout ``[batch, frames, bands]`` directly.

Other inputs: with ``padding="auto"`` (default) the convolutions are 'valid' as published when the
input allows it (e.g. ``mfcc_ina`` 21 x 68) and 'same' otherwise (e.g. MelSpec 128 x 10, where
three valid 3x3 convolutions cannot fit 10 frames); the resolved choice is what gets recorded.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Sequence
from typing import IO, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from speechmusic.errors import CheckpointError, ModelError
from speechmusic.models.base import Body, SpeechMusicModel, int_tuple, make_classifier, positive_int
from speechmusic.models.registry import register

__all__ = ["InaNet", "INA_VARIANTS", "INA_LABELS", "ina_from_keras", "read_keras_ina",
           "standardize_patches"]

_SM_LAYERS = [
    {"conv": 64, "kernel": [5, 4]}, {"pool": [2, 2], "padding": "valid"},
    {"conv": 128, "kernel": [3, 3]},
    {"conv": 128, "kernel": [3, 3]}, {"pool": [2, 2], "padding": "same"},
    {"conv": 256, "kernel": [3, 3]}, {"pool": "frames"},
]
_SMN_LAYERS = [
    {"conv": 64, "kernel": [7, 4]}, {"pool": [4, 2], "padding": "same"},
    {"conv": 128, "kernel": [3, 3]},
    {"conv": 128, "kernel": [3, 3]}, {"pool": [2, 2], "padding": "same"},
    {"conv": 256, "kernel": [3, 3]}, {"pool": "frames"},
]
_GENDER_LAYERS = [
    {"conv": 64, "kernel": [3, 3]},
    {"conv": 64, "kernel": [3, 3]}, {"pool": [1, 2], "padding": "valid"},
    {"conv": 128, "kernel": [3, 3]},
    {"conv": 128, "kernel": [3, 3]}, {"pool": [2, 2], "padding": "valid"},
    {"conv": 256, "kernel": [3, 3]}, {"pool": "frames"},
]
_DROPOUTS = [0.2, 0.3, 0.4, 0.5]

#: The three published networks: layer list (convolutions and poolings up to flatten), dense units
#: and dropout rates. Kernel and pool sizes are ``[frames, bands]``.
INA_VARIANTS: dict[str, dict[str, Any]] = {
    "sm": {"layers": _SM_LAYERS, "dense_units": [512] * 4, "dropouts": _DROPOUTS},
    "smn": {"layers": _SMN_LAYERS, "dense_units": [256] * 4, "dropouts": _DROPOUTS},
    "gender": {"layers": _GENDER_LAYERS, "dense_units": [512] * 4, "dropouts": _DROPOUTS},
}
#: Output label order of each network, from inaSpeechSegmenter's segmenter.py (``outlabels``).
INA_LABELS: dict[str, list[str]] = {
    "sm": ["speech", "music"],
    "smn": ["speech", "music", "noise"],
    "gender": ["female", "male"],
}
_PADDINGS = ("auto", "valid", "same", "same_pools")


# ---------------------------------------------------------------------------------------------
# layer spec checking and shape tracing
def _check_layers(layers: Any) -> list[dict[str, Any]]:
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence) or not layers:
        raise ModelError(f"ina: layers must be a non-empty list of conv/pool entries, got {layers!r}")
    out: list[dict[str, Any]] = []
    for i, entry in enumerate(layers):
        if not isinstance(entry, dict):
            raise ModelError(f"ina: layers[{i}] must be a mapping, got {entry!r}")
        if "conv" in entry and set(entry) == {"conv", "kernel"}:
            out.append({"conv": positive_int(entry["conv"], f"layers[{i}].conv"),
                        "kernel": list(int_tuple(entry["kernel"], f"layers[{i}].kernel", length=2))})
        elif entry.get("pool") == "frames" and set(entry) == {"pool"}:
            out.append({"pool": "frames"})
        elif "pool" in entry and set(entry) == {"pool", "padding"}:
            if entry["padding"] not in ("valid", "same"):
                raise ModelError(f"ina: layers[{i}].padding must be 'valid' or 'same', got {entry['padding']!r}")
            out.append({"pool": list(int_tuple(entry["pool"], f"layers[{i}].pool", length=2)),
                        "padding": entry["padding"]})
        else:
            raise ModelError(f"ina: layers[{i}] must be {{'conv': n, 'kernel': [kf, kb]}}, "
                             f"{{'pool': [pf, pb], 'padding': 'valid'|'same'}} or {{'pool': 'frames'}}; "
                             f"got {entry!r}")
    if not any("conv" in e for e in out):
        raise ModelError("ina: layers need at least one convolution")
    return out


def _trace(layers: list[dict[str, Any]], frames: int, bands: int, padding: str) -> list[tuple[int, int]]:
    """Spatial size ``(frames, bands)`` after each layer; raises if one would be empty."""
    h, w = frames, bands
    sizes = []
    for e in layers:
        if "conv" in e:
            kh, kw = e["kernel"]
            if padding == "valid":
                h, w = h - kh + 1, w - kw + 1
        elif e["pool"] == "frames":
            h = 1
        else:
            ph, pw = e["pool"]
            if e["padding"] == "same" or padding == "same_pools":
                h, w = math.ceil(h / ph), math.ceil(w / pw)
            else:
                h, w = h // ph, w // pw
        if h < 1 or w < 1:
            raise ModelError(f"ina: an input of {frames} frames x {bands} bands is too small for "
                             f"these layers with padding={padding!r}")
        sizes.append((h, w))
    return sizes


# ---------------------------------------------------------------------------------------------
# building blocks
class _ToImage(nn.Module):
    """``[batch, n_features, frames]`` -> ``[batch, 1, frames, n_features]`` (Keras' image)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2).unsqueeze(1)


class _KerasMaxPool2d(nn.Module):
    """Max pooling with stride = pool size and Keras' 'valid' or 'same' padding.

    Keras' 'same' pads ``total = (ceil(n/s) - 1) * s + k - n`` cells, ``total // 2`` before and the
    rest after, and padded cells never win the maximum. PyTorch's ``ceil_mode`` pads only after,
    which differs (e.g. 62 frames pooled by 4: one cell on each side), so the padding is explicit.
    """

    def __init__(self, pool: Sequence[int], *, padding: str) -> None:
        super().__init__()
        self.pool = tuple(pool)
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding == "same":
            pads = []
            for n, k in zip(reversed(x.shape[-2:]), reversed(self.pool), strict=True):
                total = max((math.ceil(n / k) - 1) * k + k - n, 0)
                pads += [total // 2, total - total // 2]
            if any(pads):
                x = F.pad(x, pads, value=float("-inf"))
        return F.max_pool2d(x, self.pool, self.pool)

    def extra_repr(self) -> str:
        return f"pool={self.pool}, padding={self.padding!r}"


class _MaxOverFrames(nn.Module):
    """Maximum over all remaining frames (image height): ``[B, C, H, W]`` -> ``[B, C, 1, W]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=2, keepdim=True)


class _FlattenChannelsLast(nn.Module):
    """Flatten in Keras' NHWC order, so Keras dense kernels apply unchanged."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1).flatten(1)


# ---------------------------------------------------------------------------------------------
@register("ina")
class InaNet(SpeechMusicModel):
    """The INA CNN; see the module docstring for the layers, red and green lines.

    Parameters beyond ``n_classes`` and ``input_shape`` (``(n_features, frames)``):

    variant
        ``"sm"`` (default, the paper's network), ``"smn"`` or ``"gender"``: the published layer lists.
    layers, dense_units, dropouts
        Override the variant's convolution/pooling list, dense widths and dropout rates.
    padding
        ``"valid"`` (published), ``"same"`` (convolutions keep the size), ``"same_pools"`` (also every
        pooling rounds up) or ``"auto"``: the first of these that fits the input.
    bn_eps, bn_momentum
        Batch-norm epsilon (Keras' 1e-3) and PyTorch momentum (0.01 = Keras' 0.99).
    head_units
        ``None``: a single output layer; an int: the paper's appended classifier with that width.
    """

    red_line = "after the last hidden dense block (Dense-BN-ReLU-Dropout), before the output layer"
    green_line = "after flatten: convolutions frozen, the dense blocks fine-tune"

    def __init__(self, *, n_classes: int, input_shape: Sequence[int], variant: str = "sm",
                 layers: Sequence[dict[str, Any]] | None = None,
                 dense_units: Sequence[int] | None = None, dropouts: Sequence[float] | None = None,
                 padding: str = "auto", bn_eps: float = 1e-3, bn_momentum: float = 0.01,
                 head_units: int | None = None) -> None:
        super().__init__(n_classes=n_classes, input_shape=input_shape)
        if len(self.input_shape) != 2:
            raise ModelError(f"ina: input_shape must be (n_features, frames), got {self.input_shape}")
        if variant not in INA_VARIANTS:
            raise ModelError(f"ina: unknown variant {variant!r}; choose one of {sorted(INA_VARIANTS)}")
        base = INA_VARIANTS[variant]
        layers = _check_layers(base["layers"] if layers is None else layers)
        dense_units = list(int_tuple(base["dense_units"] if dense_units is None else dense_units,
                                     "ina: dense_units"))
        dropouts = [float(d) for d in (base["dropouts"] if dropouts is None else dropouts)]
        if len(dropouts) != len(dense_units) or not all(0.0 <= d < 1.0 for d in dropouts):
            raise ModelError(f"ina: need one dropout rate in [0, 1) per dense layer, got {dropouts}")
        if padding not in _PADDINGS:
            raise ModelError(f"ina: padding must be one of {_PADDINGS}, got {padding!r}")
        if not (isinstance(bn_eps, (int, float)) and bn_eps > 0 and 0 <= bn_momentum <= 1):
            raise ModelError(f"ina: need bn_eps > 0 and bn_momentum in [0, 1], got {bn_eps}, {bn_momentum}")

        bands, frames = self.input_shape
        if padding == "auto":
            for candidate in ("valid", "same", "same_pools"):
                try:
                    _trace(layers, frames, bands, candidate)
                except ModelError:
                    continue
                padding = candidate
                break
            else:
                raise ModelError(f"ina: input {self.input_shape} is too small for these layers "
                                 "with any padding")
        sizes = _trace(layers, frames, bands, padding)

        lower: list[nn.Module] = [_ToImage()]
        channels = 1
        for e in layers:
            if "conv" in e:
                kh, kw = e["kernel"]
                if padding != "valid":
                    # Keras' 'same': (k - 1) // 2 before, the rest after (explicit, because
                    # PyTorch's padding="same" copies the input and warns for even kernels).
                    lower.append(nn.ZeroPad2d(((kw - 1) // 2, kw // 2, (kh - 1) // 2, kh // 2)))
                lower += [nn.Conv2d(channels, e["conv"], (kh, kw)),
                          nn.BatchNorm2d(e["conv"], eps=bn_eps, momentum=bn_momentum), nn.ReLU()]
                channels = e["conv"]
            elif e["pool"] == "frames":
                lower.append(_MaxOverFrames())
            else:
                pool_pad = "same" if padding == "same_pools" else e["padding"]
                lower.append(_KerasMaxPool2d(e["pool"], padding=pool_pad))
        lower.append(_FlattenChannelsLast())
        h, w = sizes[-1]
        width = h * w * channels

        upper: list[nn.Module] = []
        for units, rate in zip(dense_units, dropouts, strict=True):
            upper += [nn.Linear(width, units), nn.BatchNorm1d(units, eps=bn_eps, momentum=bn_momentum),
                      nn.ReLU(), nn.Dropout(rate)]
            width = units

        self.body = Body(nn.Sequential(*lower), nn.Sequential(*upper))
        self.embedding_size = width
        self.flatten_size = h * w * channels
        self.classifier = make_classifier(in_features=width, n_classes=self.n_classes,
                                          head_units=head_units)
        self.params = {"variant": variant, "layers": copy.deepcopy(layers), "dense_units": dense_units,
                       "dropouts": dropouts, "padding": padding, "bn_eps": float(bn_eps),
                       "bn_momentum": float(bn_momentum), "head_units": head_units}

    def forward_keras(self, x: torch.Tensor, *, probs: bool = False) -> torch.Tensor:
        """Run on Keras' layout ``[batch, frames, bands]`` (as inaSpeechSegmenter feeds its networks).

        Returns logits ``[batch, n_classes]``, or softmax probabilities with ``probs=True`` (what
        Keras' ``model.predict`` gives).
        """
        if not torch.is_tensor(x) or x.ndim != 3 or tuple(x.shape[1:]) != self.input_shape[::-1]:
            shape = list(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise ModelError(f"ina: forward_keras expects [batch, {self.input_shape[1]} frames, "
                             f"{self.input_shape[0]} bands], got {shape}")
        logits = self(x.transpose(1, 2))
        return torch.softmax(logits, dim=-1) if probs else logits

    def column_program(self) -> tuple[list, str] | None:
        """The convolutions and poolings for shared evaluation (see
        :mod:`speechmusic.models.patchwise`); the image's height is frames, its width bands."""
        from speechmusic.models.patchwise import (
            ColumnConv,
            ColumnPool,
            MaxOverColumns,
            fold_batch_norm,
        )

        mods = list(self.body.lower)
        layers: list = []
        pad = ((0, 0), (0, 0))
        i = 1
        while i < len(mods):
            m = mods[i]
            if isinstance(m, nn.ZeroPad2d):
                left, right, top, bottom = m.padding
                pad = ((left, right), (top, bottom))  # bands, frames
                i += 1
            elif isinstance(m, nn.Conv2d):
                if (m.stride != (1, 1) or m.dilation != (1, 1) or m.groups != 1 or m.padding not in ((0, 0), "valid")
                        or not isinstance(mods[i + 1], nn.BatchNorm2d) or not isinstance(mods[i + 2], nn.ReLU)):
                    return None
                w, b = fold_batch_norm(m.weight, m.bias, mods[i + 1])
                layers.append(ColumnConv(w.transpose(-1, -2), b, pad_b=pad[0], pad_t=pad[1]))
                pad = ((0, 0), (0, 0))
                i += 3
            elif isinstance(m, _KerasMaxPool2d):
                kf, kb = m.pool
                mode = "same" if m.padding == "same" else "floor"
                layers.append(ColumnPool(kb=kb, kt=kf, mode_b=mode, mode_t=mode))
                i += 1
            elif isinstance(m, _MaxOverFrames):
                layers.append(MaxOverColumns())
                i += 1
            elif isinstance(m, _FlattenChannelsLast) and i == len(mods) - 1:
                return layers, "whc"
            else:
                return None
        return None


def standardize_patches(patches: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """inaSpeechSegmenter's per-patch normalisation: each ``[..., F, T]`` patch minus its mean,
    divided by its (population) standard deviation, both over the whole patch.

    The published INA networks expect their input normalised this way (not by a
    :class:`~speechmusic.features.FeatureNormalizer`). Non-finite patches stay non-finite.
    """
    if torch.is_tensor(patches):
        mean = patches.mean(dim=(-2, -1), keepdim=True)
        std = patches.std(dim=(-2, -1), keepdim=True, unbiased=False)
        return (patches - mean) / std
    a = np.asarray(patches)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a - a.mean(axis=(-2, -1), keepdims=True)) / a.std(axis=(-2, -1), keepdims=True)


# ---------------------------------------------------------------------------------------------
# reading Keras 2 HDF5 files (no TensorFlow)
def _where(source: str | os.PathLike | IO[bytes], name: str | None) -> str:
    if name is not None:
        return name
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else "<keras hdf5>"


def read_keras_ina(source: str | os.PathLike | IO[bytes], *, name: str | None = None,
                   ) -> tuple[dict[str, Any], list[dict[str, np.ndarray]]]:
    """Parse an inaSpeechSegmenter Keras model file with h5py.

    Returns ``(spec, weights)``: ``spec`` holds ``input_shape`` (``[n_features, frames]``, our
    layout), ``layers``, ``dense_units``, ``dropouts``, ``bn_eps``, ``n_classes``; ``weights`` lists,
    in network order, one dict per Keras layer with weights (``kind`` ``conv``/``bn``/``dense`` plus
    its arrays in Keras layout). ``name`` is used in error messages (default: the path).
    Anything that is not the INA layer pattern raises :class:`CheckpointError`.
    """
    import h5py

    where = _where(source, name)
    try:
        fh = h5py.File(source, "r")
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{where}: not a readable HDF5 file ({exc})") from None
    with fh:
        try:
            config = json.loads(fh.attrs["model_config"])
            group = fh["model_weights"]
            keras_layers = config["config"]
            if isinstance(keras_layers, dict):  # newer Keras nests the list under "layers"
                keras_layers = keras_layers["layers"]
            spec = _spec_from_keras(keras_layers, where)
            weights = []
            for layer in keras_layers:
                kind = {"Conv2D": "conv", "BatchNormalization": "bn", "Dense": "dense"}.get(layer["class_name"])
                if kind is None:
                    continue
                lname = layer["config"]["name"]
                g = group[lname]
                arrays = {}
                for wname in g.attrs["weight_names"]:
                    wname = wname.decode() if isinstance(wname, bytes) else str(wname)
                    short = wname.rsplit("/", 1)[-1].split(":")[0]
                    arrays[short] = np.asarray(g[wname], dtype=np.float32)
                weights.append({"kind": kind, "name": lname, **arrays})
        except CheckpointError:
            raise
        except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{where}: not an inaSpeechSegmenter Keras model ({exc!r})") from None
    return spec, weights


def _spec_from_keras(layers: list[dict[str, Any]], where: str) -> dict[str, Any]:
    def bad(msg: str) -> CheckpointError:
        return CheckpointError(f"{where}: unexpected Keras layer pattern: {msg}")

    kinds = [layer["class_name"] for layer in layers]
    if not kinds or kinds[0] != "Reshape":
        raise bad("the first layer is not a Reshape of [frames, bands]")
    frames, bands, one = layers[0]["config"]["target_shape"]
    if one != 1:
        raise bad(f"Reshape target {layers[0]['config']['target_shape']}")

    spec_layers: list[dict[str, Any]] = []
    dense_units: list[int] = []
    dropouts: list[float] = []
    eps: set[float] = set()
    n_classes = None
    i, flattened = 1, False
    while i < len(layers):
        cls, cfg = layers[i]["class_name"], layers[i]["config"]
        if cls == "Conv2D":
            if flattened or cfg.get("padding") != "valid" or list(cfg.get("strides", [1, 1])) != [1, 1] \
                    or list(cfg.get("dilation_rate", [1, 1])) != [1, 1] \
                    or cfg.get("activation") != "linear" or not cfg.get("use_bias", True) \
                    or cfg.get("data_format", "channels_last") != "channels_last":
                raise bad(f"layer {cfg['name']}: unsupported Conv2D settings")
            if kinds[i + 1:i + 3] != ["BatchNormalization", "Activation"] \
                    or layers[i + 2]["config"]["activation"] != "relu":
                raise bad(f"layer {cfg['name']} is not followed by BatchNormalization and ReLU")
            spec_layers.append({"conv": int(cfg["filters"]), "kernel": [int(k) for k in cfg["kernel_size"]]})
            eps.add(float(layers[i + 1]["config"]["epsilon"]))
            i += 3
        elif cls == "MaxPooling2D":
            pool, strides = list(cfg["pool_size"]), list(cfg.get("strides") or cfg["pool_size"])
            if pool != strides or cfg.get("padding") not in ("valid", "same"):
                raise bad(f"layer {cfg['name']}: pooling stride differs from its size")
            spec_layers.append({"pool": [int(p) for p in pool], "padding": cfg["padding"]})
            i += 1
        elif cls == "Flatten":
            if cfg.get("data_format", "channels_last") != "channels_last":
                raise bad("Flatten is not channels_last")
            flattened = True
            i += 1
        elif cls == "Dense" and flattened:
            act = cfg.get("activation")
            if act == "softmax" and i == len(layers) - 1:
                n_classes = int(cfg["units"])
                i += 1
                continue
            if act != "linear" or kinds[i + 1:i + 4] != ["BatchNormalization", "Activation", "Dropout"] \
                    or layers[i + 2]["config"]["activation"] != "relu":
                raise bad(f"layer {cfg['name']} is not Dense-BN-ReLU-Dropout")
            dense_units.append(int(cfg["units"]))
            eps.add(float(layers[i + 1]["config"]["epsilon"]))
            dropouts.append(float(layers[i + 3]["config"]["rate"]))
            i += 4
        else:
            raise bad(f"layer {cfg.get('name')} of class {cls} at position {i}")
    if n_classes is None or not flattened or not dense_units:
        raise bad("no softmax output layer after flatten and dense blocks")
    if len(eps) != 1:
        raise bad(f"batch-norm epsilons differ: {sorted(eps)}")

    # The last pooling collapses all remaining frames to one: record it as "frames" so the layer
    # list is the same whatever the patch length (and equal to INA_VARIANTS).
    try:
        sizes = _trace(_check_layers(spec_layers), frames, bands, "valid")
    except ModelError as exc:
        raise bad(str(exc)) from None
    last = spec_layers[-1]
    before = sizes[-2] if len(sizes) > 1 else (frames, bands)
    if "pool" in last and last["padding"] == "valid" and last["pool"] == [before[0], 1]:
        spec_layers[-1] = {"pool": "frames"}
    return {"input_shape": [int(bands), int(frames)], "layers": spec_layers, "dense_units": dense_units,
            "dropouts": dropouts, "bn_eps": eps.pop(), "n_classes": n_classes}


def ina_from_keras(source: str | os.PathLike | IO[bytes], *, name: str | None = None,
                   variant: str = "sm") -> InaNet:
    """An :class:`InaNet` with the weights of an inaSpeechSegmenter Keras file, in eval mode.

    Handles the layouts: Keras conv kernels ``[kh, kw, in, out]`` become ``[out, in, kh, kw]``,
    dense kernels ``[in, out]`` become ``[out, in]``, batch norm takes gamma/beta/moving
    statistics and the file's epsilon, and the flatten is channels-last like Keras'. ``variant``
    only labels the model (``params["variant"]``); the layers come from the file.
    """
    where = _where(source, name)
    spec, weights = read_keras_ina(source, name=name)
    try:
        model = InaNet(n_classes=spec["n_classes"], input_shape=spec["input_shape"], variant=variant,
                       layers=spec["layers"], dense_units=spec["dense_units"],
                       dropouts=spec["dropouts"], padding="valid", bn_eps=spec["bn_eps"])
    except ModelError as exc:
        raise CheckpointError(f"{where}: cannot build the network it describes: {exc}") from None
    convs = [m for m in model.body.lower if isinstance(m, nn.Conv2d)]
    bns = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    denses = [m for m in model.body.upper if isinstance(m, nn.Linear)] + [model.classifier]
    targets = {"conv": iter(convs), "bn": iter(bns), "dense": iter(denses)}

    def put(param: torch.Tensor, value: np.ndarray, what: str) -> None:
        if tuple(param.shape) != value.shape:
            raise CheckpointError(f"{where}: {what} has shape {value.shape}, expected {tuple(param.shape)}")
        with torch.no_grad():
            param.copy_(torch.from_numpy(np.ascontiguousarray(value)))

    try:
        for w in weights:
            module = next(targets[w["kind"]])
            label = f"layer {w['name']}"
            if w["kind"] == "conv":
                put(module.weight, w["kernel"].transpose(3, 2, 0, 1), label)
                put(module.bias, w["bias"], label)
            elif w["kind"] == "dense":
                put(module.weight, w["kernel"].T, label)
                put(module.bias, w["bias"], label)
            else:
                put(module.weight, w["gamma"], label)
                put(module.bias, w["beta"], label)
                put(module.running_mean, w["moving_mean"], label)
                put(module.running_var, w["moving_variance"], label)
    except (StopIteration, KeyError) as exc:
        raise CheckpointError(f"{where}: weights do not match the layer list ({exc!r})") from None
    if any(next(it, None) is not None for it in targets.values()):
        raise CheckpointError(f"{where}: some layers have no weights in the file")
    return model.eval()
