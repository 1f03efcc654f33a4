"""OpenL3's audio network in PyTorch, loading the official Keras ``.h5`` weight files.

The files (not downloadable here; bring them from the ``openl3`` package, which places them next
to ``openl3/models.py``) are named ``openl3_audio_<input_repr>_<content_type>.h5``:

    openl3_audio_linear_music.h5   openl3_audio_mel128_music.h5   openl3_audio_mel256_music.h5
    openl3_audio_linear_env.h5     openl3_audio_mel128_env.h5     openl3_audio_mel256_env.h5

They are Keras ``save_weights`` files: root attribute ``layer_names`` lists the layers in model
order, each layer's group has a ``weight_names`` attribute and one dataset per weight
(``conv2d_1/kernel:0`` ``[3, 3, in, out]``, ``bias:0``; batch norms ``gamma``, ``beta``,
``moving_mean``, ``moving_variance``). Files of openl3 <= 0.3 also hold the Kapre 0.1 spectrogram
layer's constants (``melspectrogram_1`` / ``spectrogram_1``: DFT kernels and, for mel inputs, the
``[n_freq, n_mels]`` filterbank); openl3 0.4 removed that group. Both are read; a filterbank found
in the file is used as is.

The network (Cramer et al., "Look, Listen and Learn More", 2019), for one second of 48 kHz audio::

    Kapre front-end                         mel128: 128 x 199, mel256: 256 x 199, linear: 257 x 197
    BatchNorm
    2 x (Conv 64 3x3 same, BN, ReLU), MaxPool 2x2     (valid, stride 2)
    2 x (Conv 128 3x3, BN, ReLU), MaxPool 2x2
    2 x (Conv 256 3x3, BN, ReLU), MaxPool 2x2
    Conv 512 3x3, BN, ReLU
    Conv 512 3x3 ("audio_embedding_layer", linear)    -> [512, 16 or 32, 24]
    MaxPool ('same') to 1 x 1 (512-d) or 4 x 3 (6144-d), flattened in Keras' channels-last order

The front-end is the Kapre 0.1 layer the weights were trained with (``Melspectrogram(n_dft=2048,
n_hop=242, sr=48000, power_melgram=1.0, htk=True, return_decibel_melgram=True, padding='same')``,
``Spectrogram(n_dft=512, n_hop=242, power_spectrogram=1.0, return_decibel_spectrogram=True,
padding='valid')``), re-implemented in torch: frames of ``n_dft`` samples every 242 ('same': the
signal zero-padded as TensorFlow's 'same' convolution pads, 982 samples each side for one
second), periodic Hann window, DFT; mel inputs take the power spectrum through the filterbank
(librosa's ``filters.mel`` with ``htk=True``, area-normalised, 0 to 24 kHz) and then its square
root; linear inputs take the magnitude; then ``10 log10(max(x, 1e-10))``, minus its maximum over
the whole one-second window, floored at -80 dB. Deviations: the DFT is an FFT in float32/64
rather than Kapre's convolution with DFT kernels (differences at float round-off); openl3 >= 0.4
swapped in Kapre 0.3's front-end, which is *not* what is reproduced here (the published weights
were trained with the 0.1 one).

Framing: openl3 centres windows by padding half a second of zeros at the start only, so its last
window centre lies up to half a second before the end. Here the end is padded too and windows are
centred at ``0, hop, 2 hop, ...`` up to the end of the signal (``1 + floor(duration / hop)``
windows), the layout HEAR expects. Default hop: 0.1 s, openl3's default (the paper's "100 ms
audio frames").
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from speechmusic.errors import CheckpointError, ConfigError, WeightsUnavailableError
from speechmusic.features.functional import mel_filterbank
from speechmusic.transfer.embedders import Embedder, as_audio

__all__ = [
    "INPUT_REPRS",
    "CONTENT_TYPES",
    "EMBEDDING_SIZES",
    "OPENL3_SAMPLE_RATE",
    "KapreFrontend",
    "OpenL3Net",
    "OpenL3Embedder",
    "load_openl3_weights",
    "openl3_weights_file",
    "openl3_weights_path",
]

OPENL3_SAMPLE_RATE = 48000
INPUT_REPRS = ("linear", "mel128", "mel256")
CONTENT_TYPES = ("music", "env")
EMBEDDING_SIZES = (512, 6144)
_N_HOP = 242
_WINDOW = OPENL3_SAMPLE_RATE  # one second
#: Final max-pool sizes (freq, time) per input and embedding size (openl3's table).
_POOL = {("linear", 6144): (8, 8), ("linear", 512): (32, 24), ("mel128", 6144): (4, 8),
         ("mel128", 512): (16, 24), ("mel256", 6144): (8, 8), ("mel256", 512): (32, 24)}
_FILENAME = re.compile(r"openl3_audio_(linear|mel128|mel256)_(music|env)")


def openl3_weights_file(input_repr: str, content_type: str) -> str:
    """The official file name, e.g. ``openl3_audio_mel256_music.h5``."""
    return f"openl3_audio_{input_repr}_{content_type}.h5"


def _check_choice(value: Any, choices: Sequence[Any], what: str) -> None:
    if value not in choices:
        raise ConfigError(f"OpenL3 {what} must be one of {list(choices)}, got {value!r}")


def openl3_weights_path(input_repr: str = "mel256", content_type: str = "music",
                        weights: str | os.PathLike | None = None) -> Path:
    """Where the weight file is: ``weights`` (a file, or a folder holding the official name),
    else ``$SPEECHMUSIC_OPENL3_WEIGHTS`` (file or folder), else ``<cache>/openl3/``.

    Raises :class:`WeightsUnavailableError` naming the expected file and where to put it.
    """
    from speechmusic.models import cache_dir

    _check_choice(input_repr, INPUT_REPRS, "input_repr")
    _check_choice(content_type, CONTENT_TYPES, "content_type")
    name = openl3_weights_file(input_repr, content_type)
    env = os.environ.get("SPEECHMUSIC_OPENL3_WEIGHTS")
    candidates = []
    for origin, where in (("weights", weights), ("SPEECHMUSIC_OPENL3_WEIGHTS", env),
                          ("cache", cache_dir() / "openl3")):
        if not where:
            continue
        p = Path(where).expanduser()
        path = p / name if p.is_dir() or origin == "cache" else p
        if path.is_file():
            return path
        candidates.append(str(path))
        if origin != "cache":
            break  # an explicit location that lacks the file is an error, not a fallback
    all_names = ", ".join(openl3_weights_file(r, c) for r in INPUT_REPRS for c in CONTENT_TYPES)
    raise WeightsUnavailableError(
        f"OpenL3 weights {name} not found (looked at: {', '.join(candidates)}). They cannot be "
        f"downloaded from here: install the 'openl3' package elsewhere (pip install openl3; its "
        f"folder next to openl3/models.py holds {all_names}) or fetch "
        f"openl3_audio_{input_repr}_{content_type}-v0_4_0.h5.gz from the openl3 project's 'models' "
        f"branch and gunzip it; then pass weights=FILE_OR_FOLDER, set "
        f"SPEECHMUSIC_OPENL3_WEIGHTS, or copy it to {cache_dir() / 'openl3'}/.")


class KapreFrontend(nn.Module):
    """Kapre 0.1's dB spectrogram as OpenL3 used it: ``[batch, 48000]`` -> ``[batch, 1, F, T]``.

    ``mel_basis`` ``[n_mels, n_freq]`` overrides the computed filterbank (the one in the file).
    """

    def __init__(self, input_repr: str = "mel256", *, mel_basis: np.ndarray | None = None) -> None:
        super().__init__()
        _check_choice(input_repr, INPUT_REPRS, "input_repr")
        self.input_repr = input_repr
        self.n_dft = 512 if input_repr == "linear" else 2048
        self.same = input_repr != "linear"
        self.register_buffer("window", torch.hann_window(self.n_dft, periodic=True, dtype=torch.float64),
                             persistent=False)
        if input_repr == "linear":
            self.register_buffer("mel", torch.zeros(0), persistent=False)
        else:
            n_mels = int(input_repr[3:])
            basis = mel_basis if mel_basis is not None else mel_filterbank(
                sr=OPENL3_SAMPLE_RATE, n_fft=self.n_dft, n_mels=n_mels, fmin=0.0,
                fmax=OPENL3_SAMPLE_RATE / 2, htk=True, slaney_norm=True)
            basis = np.asarray(basis, dtype=np.float64)
            if basis.shape != (n_mels, self.n_dft // 2 + 1):
                raise CheckpointError(f"mel filterbank of shape {basis.shape}, expected "
                                      f"({n_mels}, {self.n_dft // 2 + 1}) for {input_repr}")
            self.register_buffer("mel", torch.from_numpy(basis.T.copy()), persistent=False)

    def n_frames(self, n_samples: int = _WINDOW) -> int:
        if self.same:
            return math.ceil(n_samples / _N_HOP)
        return (n_samples - self.n_dft) // _N_HOP + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.double()
        if self.same:
            # TensorFlow's 'same' convolution padding: total (out - 1) * hop + n_dft - n, split evenly.
            n = x.shape[-1]
            total = max((self.n_frames(n) - 1) * _N_HOP + self.n_dft - n, 0)
            x = F.pad(x, (total // 2, total - total // 2))
        frames = x.unfold(-1, self.n_dft, _N_HOP) * self.window  # [B, T, n_dft]
        spec = torch.fft.rfft(frames, dim=-1)
        power = spec.real.square() + spec.imag.square()  # [B, T, n_freq]
        amp = (power @ self.mel).sqrt() if self.mel.numel() else power.sqrt()
        db = 10.0 * torch.log10(amp.clamp_min(1e-10))
        db = db - db.amax(dim=(-2, -1), keepdim=True)
        db = db.clamp_min(-80.0)
        return db.transpose(-1, -2).unsqueeze(1).float()  # [B, 1, F, T]


def _block(c_in: int, c_out: int, *, relu: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out, eps=1e-3)]
    return layers + [nn.ReLU()] if relu else layers


class OpenL3Net(nn.Module):
    """OpenL3's audio subnetwork (see the module docstring): ``[batch, 48000]`` 48 kHz windows
    -> ``[batch, embedding_size]``. Weights are random until :func:`load_openl3_weights`."""

    def __init__(self, *, input_repr: str = "mel256", embedding_size: int = 512,
                 mel_basis: np.ndarray | None = None) -> None:
        super().__init__()
        _check_choice(input_repr, INPUT_REPRS, "input_repr")
        _check_choice(embedding_size, EMBEDDING_SIZES, "embedding_size")
        self.input_repr = input_repr
        self.embedding_size = embedding_size
        self.frontend = KapreFrontend(input_repr, mel_basis=mel_basis)
        layers: list[nn.Module] = [nn.BatchNorm2d(1, eps=1e-3)]
        c = 1
        for width in (64, 128, 256):
            layers += _block(c, width) + _block(width, width) + [nn.MaxPool2d(2, 2)]
            c = width
        layers += _block(c, 512) + [nn.Conv2d(512, 512, 3, padding=1)]  # audio_embedding_layer
        self.features = nn.Sequential(*layers)
        self.pool = _POOL[(input_repr, embedding_size)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.features(self.frontend(x))  # [B, 512, H, W]
        # Keras' 'same' max pooling: -inf padding split before/after (none for the official sizes).
        pads = []
        for n, k in zip(reversed(y.shape[-2:]), reversed(self.pool), strict=True):
            total = max((math.ceil(n / k) - 1) * k + k - n, 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            y = F.pad(y, pads, value=float("-inf"))
        y = F.max_pool2d(y, self.pool, self.pool)
        return y.permute(0, 2, 3, 1).flatten(1)  # Keras' channels-last flatten


def _layer_names(root: Any) -> list[str]:
    names = root.attrs.get("layer_names")
    if names is None:
        return list(root.keys())
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def load_openl3_weights(path: str | os.PathLike, *, input_repr: str | None = None,
                        embedding_size: int = 512) -> OpenL3Net:
    """An :class:`OpenL3Net` with the weights of an official ``.h5`` file, in eval mode.

    ``input_repr`` defaults to the one in the file name (``openl3_audio_<repr>_<content>.h5``);
    the three networks have identical layer shapes, so a file renamed beyond recognition needs it.
    Raises :class:`CheckpointError` for a file that is not of this layout.
    """
    import h5py

    path = Path(path)
    match = _FILENAME.search(path.name)
    if input_repr is None:
        if match is None:
            raise ConfigError(f"{path.name}: cannot tell the input representation from the file "
                              f"name; pass input_repr (one of {list(INPUT_REPRS)})")
        input_repr = match.group(1)
    elif match is not None and match.group(1) != input_repr:
        raise ConfigError(f"{path.name} holds the {match.group(1)} network, not {input_repr}")
    try:
        fh = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable HDF5 file ({exc})") from None
    convs, bns, mel_basis = [], [], None
    with fh:
        root = fh["model_weights"] if "model_weights" in fh else fh
        try:
            for lname in _layer_names(root):
                if lname not in root:
                    continue
                g = root[lname]
                wnames = [w.decode() if isinstance(w, bytes) else str(w)
                          for w in g.attrs.get("weight_names", [])]
                arrays = {w.rsplit("/", 1)[-1].split(":")[0]: np.asarray(g[w], dtype=np.float64)
                          for w in wnames}
                if not arrays:
                    continue
                if "spectrogram" in lname.lower():
                    # Kapre 0.1's constants: the [n_freq, n_mels] filterbank is the only 2-D one.
                    mats = [a for a in arrays.values() if a.ndim == 2]
                    if input_repr != "linear" and mats:
                        mel_basis = mats[0].T
                    continue
                if {"kernel", "bias"} <= set(arrays) and arrays["kernel"].ndim == 4:
                    convs.append((lname, arrays))
                elif {"gamma", "beta", "moving_mean", "moving_variance"} <= set(arrays):
                    bns.append((lname, arrays))
                else:
                    raise CheckpointError(f"{path}: layer {lname} has unexpected weights {sorted(arrays)}")
        except (KeyError, TypeError) as exc:
            raise CheckpointError(f"{path}: not an OpenL3 weight file ({exc!r})") from None
    if len(convs) != 8 or len(bns) != 8:
        raise CheckpointError(f"{path}: expected 8 convolutions and 8 batch norms of OpenL3's audio "
                              f"network, found {len(convs)} and {len(bns)}")
    try:
        model = OpenL3Net(input_repr=input_repr, embedding_size=embedding_size, mel_basis=mel_basis)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    t_convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    t_bns = [m for m in model.features if isinstance(m, nn.BatchNorm2d)]

    def put(param: torch.Tensor, value: np.ndarray, what: str) -> None:
        if tuple(param.shape) != value.shape:
            raise CheckpointError(f"{path}: {what} has shape {value.shape}, expected {tuple(param.shape)}")
        with torch.no_grad():
            param.copy_(torch.from_numpy(np.ascontiguousarray(value)))

    for module, (lname, a) in zip(t_convs, convs, strict=True):
        put(module.weight, a["kernel"].transpose(3, 2, 0, 1), f"{lname}/kernel")
        put(module.bias, a["bias"], f"{lname}/bias")
    for module, (lname, a) in zip(t_bns, bns, strict=True):
        put(module.weight, a["gamma"], f"{lname}/gamma")
        put(module.bias, a["beta"], f"{lname}/beta")
        put(module.running_mean, a["moving_mean"], f"{lname}/moving_mean")
        put(module.running_var, a["moving_variance"], f"{lname}/moving_variance")
    return model.eval()


class OpenL3Embedder(Embedder):
    """OpenL3 embeddings (512 or 6144-d) of one-second windows centred every ``hop_seconds``.

    Args:
        weights: the ``.h5`` file or a folder holding the official name (see
            :func:`openl3_weights_path` for the defaults).
        input_repr: ``mel256`` (openl3's default), ``mel128`` or ``linear``.
        content_type: ``music`` (default) or ``env``: which file.
        embedding_size: 512 (the paper's) or 6144.
        hop_seconds: spacing of the window centres (0.1 s).
        batch_size: windows per forward pass.
        device: where the network runs.
    """

    def __init__(self, *, weights: str | os.PathLike | None = None, input_repr: str = "mel256",
                 content_type: str = "music", embedding_size: int = 512, hop_seconds: float = 0.1,
                 batch_size: int = 16, device: str | torch.device = "cpu") -> None:
        _check_choice(content_type, CONTENT_TYPES, "content_type")
        hop = round(hop_seconds * OPENL3_SAMPLE_RATE)
        if hop <= 0 or abs(hop / OPENL3_SAMPLE_RATE - hop_seconds) > 1e-9:
            raise ConfigError(f"hop_seconds must be a positive multiple of 1/48000 s, got {hop_seconds}")
        self.weights_path = openl3_weights_path(input_repr, content_type, weights)
        self.net = load_openl3_weights(self.weights_path, input_repr=input_repr,
                                       embedding_size=embedding_size).to(device)
        self.input_repr, self.content_type = input_repr, content_type
        self.hop = hop
        self.hop_seconds = hop / OPENL3_SAMPLE_RATE
        self.sample_rate = OPENL3_SAMPLE_RATE
        self.embedding_size = embedding_size
        self.batch_size = int(batch_size)
        self.name = f"openl3:{input_repr}:{content_type}:{embedding_size}"

    def windows(self, audio: np.ndarray) -> torch.Tensor:
        """One-second windows ``[n, 48000]`` centred at ``0, hop, ...`` (zero-padded edges)."""
        n = 1 + (audio.size - 1) // self.hop
        half = _WINDOW // 2
        needed = (n - 1) * self.hop + _WINDOW
        padded = np.pad(audio, (half, max(0, needed - half - audio.size)))
        return torch.from_numpy(padded).unfold(0, _WINDOW, self.hop)[:n]

    @torch.inference_mode()
    def embed(self, audio: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        audio = as_audio(audio)
        windows = self.windows(audio)
        device = next(self.net.parameters()).device
        out = [self.net(windows[i:i + self.batch_size].to(device)).float().cpu()
               for i in range(0, len(windows), self.batch_size)]
        return torch.cat(out).numpy(), np.arange(len(windows)) * self.hop_seconds

    def describe(self) -> dict[str, Any]:
        st = self.weights_path.stat()
        return {**super().describe(), "kind": "openl3", "input_repr": self.input_repr,
                "content_type": self.content_type,
                "weights": {"path": str(self.weights_path.resolve()), "size": st.st_size,
                            "mtime_ns": st.st_mtime_ns}}

    def torch_module(self) -> nn.Module:
        return self.net
