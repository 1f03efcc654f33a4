"""A generated OpenL3 weight file with the official layout (random weights).

The official files cannot be downloaded here. This writes what ``model.save_weights`` of
openl3's Keras model wrote: root attributes ``layer_names`` / ``backend`` / ``keras_version``, one
group per layer (also weightless ones) with a ``weight_names`` attribute, datasets at
``<layer>/<layer>/<weight>:0``, Keras layouts (conv kernels ``[3, 3, in, out]``), Keras'
auto-generated names, and (openl3 <= 0.3 files) the Kapre 0.1 spectrogram layer's constants.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from speechmusic.features.functional import mel_filterbank


def openl3_layers() -> list[tuple[str, str, tuple[int, ...]]]:
    """``(layer name, kind, shape info)`` of the audio network in Keras' order."""
    layers: list[tuple[str, str, tuple[int, ...]]] = [("input_1", "none", ())]
    conv = bn = act = pool = 0
    layers.append((f"batch_normalization_{(bn := bn + 1)}", "bn", (1,)))
    c_in = 1
    for width, n, pooled in ((64, 2, True), (128, 2, True), (256, 2, True), (512, 1, False)):
        for _ in range(n):
            layers.append((f"conv2d_{(conv := conv + 1)}", "conv", (c_in, width)))
            layers.append((f"batch_normalization_{(bn := bn + 1)}", "bn", (width,)))
            layers.append((f"activation_{(act := act + 1)}", "none", ()))
            c_in = width
        if pooled:
            layers.append((f"max_pooling2d_{(pool := pool + 1)}", "none", ()))
    layers.append(("audio_embedding_layer", "conv", (512, 512)))
    return layers


def write_openl3_h5(path: Path, *, input_repr: str = "mel256", seed: int = 0,
                    spectrogram_group: bool = True, scale: float = 1.0) -> Path:
    """Write random weights in the official layout to ``path``; returns it."""
    rng = np.random.default_rng(seed)
    layers = openl3_layers()
    if spectrogram_group:
        kind = "spectrogram_1" if input_repr == "linear" else "melspectrogram_1"
        layers.insert(1, (kind, "spec", ()))
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n, _, _ in layers])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.1.6"
        for name, kind, info in layers:
            g = f.create_group(name)
            weights: dict[str, np.ndarray] = {}
            if kind == "conv":
                c_in, c_out = info
                std = scale * np.sqrt(2.0 / (9 * c_in))
                weights = {"kernel": rng.normal(0, std, (3, 3, c_in, c_out)),
                           "bias": rng.normal(0, 0.01, c_out)}
            elif kind == "bn":
                (c,) = info
                weights = {"gamma": rng.uniform(0.8, 1.2, c), "beta": rng.normal(0, 0.1, c),
                           "moving_mean": rng.normal(0, 0.1, c) - (40.0 if c == 1 else 0.0),
                           "moving_variance": rng.uniform(0.5, 1.5, c) * (400.0 if c == 1 else 1.0)}
            elif kind == "spec":
                n_dft = 512 if input_repr == "linear" else 2048
                n_freq = n_dft // 2 + 1
                weights = {"real_kernels": np.zeros((n_dft, 1, 1, n_freq)),
                           "imag_kernels": np.zeros((n_dft, 1, 1, n_freq))}
                if input_repr != "linear":
                    weights["Variable"] = mel_filterbank(sr=48000, n_fft=n_dft, n_mels=int(input_repr[3:]),
                                                         htk=True).T
            g.attrs["weight_names"] = np.array([f"{name}/{w}:0".encode() for w in weights])
            for w, value in weights.items():
                g.create_dataset(f"{name}/{w}:0", data=value.astype(np.float32),
                                 compression="gzip" if value.size > 1e5 else None)
    return path
