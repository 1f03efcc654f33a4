"""Training the speech-over-music detector (``segment/overlap.py``) from mixes of real recordings.

    python -m speechmusic.training.overlap experiments/overlap.yaml -o runs/overlap [--ship]
    python -m speechmusic.training.overlap experiments/overlap-fast.yaml -o runs/overlap-fast --ship overlap-fast

1. Sources from ``../shared/data`` (:func:`speechmusic.data.mixing.collect_sources`; with
   ``redistributable_only`` no non-commercial clip), split by group into train / val / test.
2. A fixed pool of mixed examples per split (:class:`~speechmusic.data.mixing.Mixer`), cut into
   INA patches (21 bands x 68 frames, each standardised on its own), labelled
   ``[speech, music]``.
3. For each pre-trained source network (INA's ``sm``, ``smn``) and each of the paper's freezing
   strategies (``frozen``: the paper's 128-unit classifier alone trains; ``intermediate``: the
   dense blocks too; ``full``: everything), a new two-output sigmoid classifier is trained with
   binary cross-entropy. Frozen layers are encoded once (outputs of the convolutions for
   ``intermediate``, of the dense blocks for ``frozen``), so those two runs cost a pass over the
   pool and a few seconds of training. Model selection (epoch) on validation patches: mean F1 of
   the two classes at 0.5.
4. The best (source, strategy) by validation F1, or the one ``select`` names, gets its
   thresholds and smoothing tuned on validation *programmes* (long files with transitions:
   :func:`render_programme`), segment F of each class with
   :mod:`speechmusic.evaluation.detection`, and is written as an
   :class:`~speechmusic.segment.overlap.OverlapDetector` (``detector.overlap.pt``; with
   ``--ship`` also into the package, ``segment/weights/overlap.pt``; ``--ship overlap-fast``
   into ``overlap-fast.pt``, the engine of that name).

``OUT/transfer.json`` and ``OUT/transfer.md`` hold the table (validation and test patch F1 per
source and strategy, training time). Every random draw comes from the config's seeds (mixing,
initialisation and batch order; the process-wide generators are left as they were).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import yaml
from torch import nn

from speechmusic.data.mixing import (
    EXTRA_MUSIC,
    MixConfig,
    Mixer,
    attach_extra,
    collect_extra,
    collect_sources,
    loudness,
    split_sources,
)
from speechmusic.errors import ConfigError
from speechmusic.runtime import thread_local_torch_threads
from speechmusic.segment.formats import Segment

if TYPE_CHECKING:
    from speechmusic.segment.overlap import LevelDrop, YamNetFusion

__all__ = ["OverlapTrainConfig", "PatchPool", "render_pool", "render_programme", "train_detector",
           "fit", "fit_fusion", "programme_labels", "programme_probabilities", "tune_smoothing", "main"]

STRATEGIES = ("frozen", "intermediate", "full")
LABELS = ("speech", "music")


@dataclass
class OverlapTrainConfig:
    """What ``train_detector`` does (see the module docstring); round-trips YAML."""

    data_root: str = "../shared/data"
    datasets: list[str] = field(default_factory=lambda: ["real-mix", "fsdd", "librosa-data"])
    redistributable_only: bool = True
    #: Debian music packages (:data:`speechmusic.data.mixing.EXTRA_MUSIC`) added to the split of
    #: their album's real-mix group after splitting (the other splits stay as they were).
    extra_music: list[str] = field(default_factory=list)
    split: dict[str, float] = field(default_factory=lambda: {"train": 0.6, "val": 0.2, "test": 0.2})
    split_seed: int = 0
    mix: MixConfig = field(default_factory=MixConfig)
    train_examples: int = 1500
    val_examples: int = 300
    patches_per_example: int = 12
    sources: list[str] = field(default_factory=lambda: ["sm", "smn"])
    strategies: list[str] = field(default_factory=lambda: list(STRATEGIES))
    epochs: dict[str, int] = field(default_factory=lambda: {"frozen": 40, "intermediate": 25, "full": 3})
    learning_rate: dict[str, float] = field(default_factory=lambda: {"frozen": 1e-3, "intermediate": 5e-4,
                                                                      "full": 1e-4})
    batch_size: int = 128
    head_units: int = 128
    seed: int = 0
    val_programmes: int = 24
    #: Loudness differences of the validation programmes in turn (programme i gets entry
    #: i mod len); empty: each drawn from the mix config's range.
    val_differences: list[float] = field(default_factory=list)
    threshold_grid: list[float] = field(default_factory=lambda: [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    penalty_grid: list[float] = field(default_factory=lambda: [-20.0, 0.0, 1.0, 2.0, 3.0, 5.0])
    #: ``per_patch``: each patch standardised on its own, as INA's networks were trained;
    #: ``standard``: one mean and standard deviation of the training patches for every patch
    #: (:func:`speechmusic.training.cv.fit_standard`), so that the engine shares convolutions
    #: between neighbouring patches exactly; ``sliding``: each frame standardised by the 68
    #: frames around it (:class:`~speechmusic.features.SlidingStandardizer`): INA's
    #: standardisation, gain-free as it is, with exactly shared convolutions too.
    normalizer: str = "per_patch"
    #: Per class, the pause bridges tried with each threshold and penalty (seconds; see
    #: ``segment/overlap.py``): 0 bridges nothing.
    bridge_grid: list[float] = field(default_factory=lambda: [0.0])
    #: YAMNet as a second opinion (``{hop_seconds: 0.24}``): its pooled AudioSet logits and the
    #: network's log odds combined by a logistic regression per class, fitted on the validation
    #: programmes before the smoothing is tuned on them (:func:`fit_fusion`); null: none. With
    #: ``level: {envelope_seconds, window_seconds, free_db}`` the regression also gets each
    #: point's level drop (:class:`~speechmusic.segment.overlap.LevelDrop`).
    fusion: dict[str, Any] | None = None
    #: Which trained (source, strategy) becomes the detector: ``best``, the highest validation
    #: patch F1, or ``SOURCE/STRATEGY`` (e.g. ``smn/frozen``), one of the trained pairs, where a
    #: comparison on held-out data chose it (the others are still trained and tabulated).
    select: str = "best"

    def __post_init__(self) -> None:
        if isinstance(self.mix, Mapping):
            self.mix = MixConfig.from_dict(self.mix)
        if self.select != "best":
            source, _, strategy = self.select.partition("/")
            if source not in self.sources or strategy not in self.strategies:
                raise ConfigError(f"select must be 'best' or SOURCE/STRATEGY of the trained pairs "
                                  f"(sources {self.sources}, strategies {self.strategies}), "
                                  f"got {self.select!r}")
        if self.normalizer not in ("per_patch", "standard", "sliding"):
            raise ConfigError(f"normalizer must be 'per_patch', 'standard' or 'sliding', got {self.normalizer!r}")
        for s in self.strategies:
            if s not in STRATEGIES:
                raise ConfigError(f"unknown strategy {s!r}; choose among {STRATEGIES}")
        for s in self.sources:
            if s not in ("sm", "smn", "overlap"):
                raise ConfigError(f"unknown source network {s!r}; choose 'sm', 'smn' or 'overlap'")
        if self.fusion is not None:
            from speechmusic.segment.overlap import LevelDrop

            unknown = sorted(set(self.fusion) - {"hop_seconds", "level"})
            if unknown or float(self.fusion.get("hop_seconds", 0)) <= 0:
                raise ConfigError("fusion must be null or {hop_seconds: SECONDS[, level: {envelope_seconds, "
                                  f"window_seconds, free_db}}]}}, got {self.fusion!r}")
            level = self.fusion.get("level")
            if level is not None:
                if not isinstance(level, Mapping) or set(level) != {"envelope_seconds", "window_seconds", "free_db"}:
                    raise ConfigError(f"fusion.level needs envelope_seconds, window_seconds and free_db, got {level!r}")
                LevelDrop.from_dict(dict(level))  # checks the values
        if any(float(b) < 0 for b in self.bridge_grid):
            raise ConfigError(f"bridge_grid: seconds must be >= 0, got {self.bridge_grid}")
        for name in ("train_examples", "val_examples", "patches_per_example", "batch_size"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v > 0):
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mix"] = self.mix.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> OverlapTrainConfig:
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"overlap config: unknown key(s) {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> OverlapTrainConfig:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        if data is not None and not isinstance(data, Mapping):
            raise ConfigError(f"{path}: the YAML must be a mapping")
        return cls.from_dict(data)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


# --------------------------------------------------------------------------- patches
_FRONT = None


def ina_bands(audio: np.ndarray) -> np.ndarray:
    """INA's 21 bands ``[21, frames]`` of 16 kHz audio, as the segmenter computes them."""
    global _FRONT  # a module-level cache of a stateless front-end, not process state
    from speechmusic.features import FeatureConfig
    from speechmusic.features.ina import InaBands

    if _FRONT is None:
        _FRONT = InaBands(FeatureConfig.preset("ina_gender"))
    with torch.inference_mode():
        bands, _ = _FRONT.with_energy(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)))
    return bands[:21].numpy()


@dataclass
class PatchPool:
    """Standardised patches ``x`` ``[n, 21, 68]`` and targets ``y`` ``[n, 2]`` (speech, music)."""

    x: np.ndarray
    y: np.ndarray
    kinds: list[str]

    def __len__(self) -> int:
        return len(self.y)


def render_pool(mixer: Mixer, *, start: int, count: int, patches_per_example: int, seed: int,
                normalizer: str = "per_patch") -> PatchPool:
    """Examples ``start .. start+count-1`` of ``mixer``, ``patches_per_example`` random patches
    of each (patches with a non-finite value left out), each standardised on its own
    (``per_patch``), cut from the example's bands standardised frame by frame (``sliding``) or
    as the bands are (``standard``: the caller fits and applies the normalisation)."""
    from speechmusic.features import SlidingStandardizer
    from speechmusic.models.ina import standardize_patches

    rng = np.random.default_rng([seed, start])
    xs, ys, kinds = [], [], []
    for i in range(start, start + count):
        ex = mixer[i]
        bands = ina_bands(ex.audio)
        if normalizer == "sliding":
            bands = SlidingStandardizer(68).transform(bands)
        n = (bands.shape[1] - 68) // 2 + 1
        if n <= 0:
            continue
        pick = rng.choice(n, size=min(n, patches_per_example), replace=False) * 2
        patches = np.stack([bands[:, s: s + 68] for s in pick])
        ok = np.isfinite(patches).all(axis=(1, 2))
        patches = patches[ok].astype(np.float32)
        if normalizer == "per_patch":
            patches = standardize_patches(patches).astype(np.float32)
        ok2 = np.isfinite(patches).all(axis=(1, 2))
        patches = patches[ok2]
        xs.append(patches)
        ys.append(np.tile(np.array([ex.speech, ex.music], dtype=np.float32), (len(patches), 1)))
        kinds += [ex.kind] * len(patches)
    return PatchPool(np.concatenate(xs), np.concatenate(ys), kinds)


def render_programme(mixer: Mixer, index: int, *, difference_db: float | None = None,
                     ) -> tuple[np.ndarray, list[Segment], float | None]:
    """A test programme from ``mixer``'s sources: 3 s of music alone, speech over the music
    (one speech excerpt of 4-8 s, at ``difference_db`` LU relative to the music under it, drawn
    from the mix config's range when None), 3 s of music alone, 2 s of silence-like pause
    (noise 30 dB down) and 3 s of speech alone. Returns ``(audio, reference segments (one per
    class region, overlapping), difference)``."""
    from speechmusic.data.mixing import set_loudness_difference

    cfg = mixer.config
    rate = cfg.sample_rate
    rng = np.random.default_rng([mixer.seed, 7919, index])
    ls = float(rng.uniform(4, 8))
    n_sp = int(ls * rate)
    n_m = int((ls + 6) * rate)
    music, _ = mixer.excerpt("music", n_m, rng)
    speech, _ = mixer.excerpt("speech", n_sp, rng)
    alone, _ = mixer.excerpt("speech", 3 * rate, rng)
    diff = float(rng.uniform(*cfg.loudness_difference_db)) if difference_db is None else float(difference_db)
    under = music[3 * rate: 3 * rate + n_sp]
    speech, _, lb = set_loudness_difference(speech, under, difference_db=diff, sample_rate=rate)
    level = float(rng.uniform(*cfg.level_lufs))
    gain = 10 ** ((level - lb) / 20)
    bed = music.copy()
    bed[3 * rate: 3 * rate + n_sp] += speech
    la = loudness(alone, sample_rate=rate)
    alone = alone * np.float32(10 ** ((lb + max(diff, 0.0) - la) / 20))
    pause = np.zeros(2 * rate, dtype=np.float32)
    audio = np.concatenate([bed, pause, alone]) * np.float32(gain)
    peak = float(np.abs(audio).max())
    if peak > 0.99:
        audio *= np.float32(0.99 / peak)
    t_music = n_m / rate
    t_alone = t_music + 2.0
    ref = [Segment("music", 0.0, t_music), Segment("speech", 3.0, 3.0 + n_sp / rate),
           Segment("speech", t_alone, t_alone + 3.0)]
    return audio.astype(np.float32), ref, diff


# --------------------------------------------------------------------------- models
def build_detector_model(source: str, *, strategy: str, head_units: int | None, seed: int) -> nn.Module:
    """INA's pre-trained ``source`` network (``sm``, ``smn``) with a new two-output classifier,
    or the shipped detector itself (``overlap``: its classifier kept, e.g. to move it to another
    normalisation), set to ``strategy``."""
    from speechmusic.models import load_ina_pretrained

    if source == "overlap":
        from speechmusic.segment.overlap import OverlapDetector

        model = copy.deepcopy(OverlapDetector.load().model)
        model.set_trainable(strategy)
        model.labels = list(LABELS)
        return model
    model = copy.deepcopy(load_ina_pretrained(source))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model.replace_classifier(n_classes=2, head_units=head_units)
    model.set_trainable(strategy)
    model.labels = list(LABELS)
    return model


@torch.inference_mode()
def encode(module: nn.Module, x: np.ndarray, *, batch: int = 512) -> np.ndarray:
    module.eval()
    return np.concatenate([module(torch.from_numpy(x[i: i + batch])).numpy() for i in range(0, len(x), batch)])


def _f1(y: np.ndarray, p: np.ndarray, thr: float = 0.5) -> list[float]:
    out = []
    for c in range(y.shape[1]):
        pred, ref = p[:, c] >= thr, y[:, c] > 0.5
        tp = float((pred & ref).sum())
        denom = float(pred.sum() + ref.sum())
        out.append(2 * tp / denom if denom else 1.0)
    return out


def fit(model: nn.Module, train: PatchPool, val: PatchPool, *, epochs: int, lr: float, batch_size: int,
        seed: int, log=print) -> dict[str, Any]:
    """Train ``model`` (its strategy set) with BCE; frozen prefixes encoded once. Keeps the
    weights of the epoch with the best validation mean F1; returns its figures."""
    split = model.frozen_split()
    t0 = time.perf_counter()
    if split is not None:
        prefix, net = split
        xtr, xva = encode(prefix, train.x), encode(prefix, val.x)
    else:
        net, xtr, xva = model, train.x, val.x
    t_enc = time.perf_counter() - t0
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    ytr = torch.from_numpy(train.y)
    best = (-1.0, None, 0, [0.0, 0.0])
    loss_fn = nn.BCEWithLogitsLoss()
    for epoch in range(1, epochs + 1):
        model.train()
        if split is not None:
            net.train()
            model.train()  # frozen parts stay in eval mode (set_trainable)
        order = torch.randperm(len(xtr), generator=gen)
        total = 0.0
        for i in range(0, len(order) - 1, batch_size):
            idx = order[i: i + batch_size]
            if len(idx) < 2:
                continue
            logits = net(torch.from_numpy(xtr[idx.numpy()]))
            loss = loss_fn(logits, ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        net.eval()
        model.eval()
        with torch.inference_mode():
            pv = torch.sigmoid(torch.from_numpy(encode(net, xva))).numpy()
        f1 = _f1(val.y, pv)
        score = float(np.mean(f1))
        log(f"  epoch {epoch}: loss {total / len(xtr):.4f}, val F1 speech {f1[0]:.3f} music {f1[1]:.3f}")
        if score > best[0]:
            best = (score, copy.deepcopy(model.state_dict()), epoch, f1)
    model.load_state_dict(best[1])
    model.eval()
    return {"val_f1": best[0], "val_f1_speech": best[3][0], "val_f1_music": best[3][1], "epoch": best[2],
            "encode_s": round(t_enc, 1), "seconds": round(time.perf_counter() - t0, 1)}


@torch.inference_mode()
def patch_probs(model: nn.Module, x: np.ndarray) -> np.ndarray:
    model.eval()
    return torch.sigmoid(torch.from_numpy(encode(model, x))).numpy()


# --------------------------------------------------------------------------- smoothing
def programme_labels(ref: Sequence[Segment], n_points: int) -> np.ndarray:
    """Whether each class holds at each 20 ms point's centre ``[n_points, 2]`` (bool)."""
    from speechmusic.segment.overlap import GRID_SECONDS

    t = (np.arange(n_points) + 0.5) * GRID_SECONDS
    out = np.zeros((n_points, len(LABELS)), dtype=bool)
    for seg in ref:
        if seg.label in LABELS:
            out[(t >= seg.start) & (t < seg.stop), LABELS.index(seg.label)] = True
    return out


def fit_fusion(computed: list[tuple[np.ndarray, np.ndarray, float, list[Segment]]],
               scores: list[np.ndarray], *, hop_seconds: float, level: LevelDrop | None = None,
               energies: list[np.ndarray] | None = None, log=print) -> YamNetFusion:
    """A :class:`~speechmusic.segment.overlap.YamNetFusion` fitted on programmes: ``computed``
    holds the network's ``(probs, active, duration, reference)`` of each, ``scores`` YAMNet's
    pooled logits on the same grid; with a ``level`` drop
    (:class:`~speechmusic.segment.overlap.LevelDrop`), ``energies`` the points' log energies
    (:func:`~speechmusic.segment.overlap.point_log_energy`). Per class, a logistic regression
    (scikit-learn, L2, C=1) on the active points."""
    from sklearn.linear_model import LogisticRegression

    from speechmusic.segment.overlap import YamNetFusion

    fusion = YamNetFusion(hop_seconds=hop_seconds, weights={}, bias={}, level=level)
    if energies is None:
        energies = [None] * len(computed)
    x = np.concatenate([fusion.features(p, sc, e)[a] for (p, a, _, _), sc, e in zip(computed, scores, energies,
                                                                                        strict=True)])
    y = np.concatenate([programme_labels(ref, len(p))[a] for p, a, _, ref in computed])
    weights, bias = {}, {}
    for k, lab in enumerate(LABELS):
        if y[:, k].all() or not y[:, k].any():
            raise ConfigError(f"fusion: the validation programmes need points with and without {lab}")
        reg = LogisticRegression(C=1.0, max_iter=1000).fit(x, y[:, k])
        weights[lab], bias[lab] = [float(w) for w in reg.coef_[0]], float(reg.intercept_[0])
        log(f"  fusion {lab}: weights {np.round(reg.coef_[0], 3).tolist()} (network speech, music log odds; "
            f"YAMNet speech, music{'; level drop' if level is not None else ''}), bias {bias[lab]:.3f}")
    fusion.weights, fusion.bias = weights, bias
    return fusion


def programme_probabilities(engine, programmes: list[tuple[np.ndarray, list[Segment]]], *, network_only: bool = False
                            ) -> list[tuple[np.ndarray, np.ndarray, float, list[Segment]]]:
    """``(probs, active, duration, reference)`` of each 16 kHz programme, by ``engine``."""
    from speechmusic.segment import Segmenter

    seg = Segmenter(engine, threads=2)
    get = engine.network_probabilities if network_only else engine.probabilities
    out = []
    for audio, ref in programmes:
        probs, active, duration, _, _ = get(seg, audio, sr=16000)
        out.append((probs, active, duration, ref))
    return out


def tune_smoothing(detector, programmes: list[tuple[np.ndarray, list[Segment]]], *,
                   threshold_grid: Sequence[float], penalty_grid: Sequence[float],
                   bridge_grid: Sequence[float] = (0.0,), computed=None, log=print) -> dict:
    """Per class, the (threshold, penalty, bridge) with the best segment F over the validation
    programmes (the classes are decided independently, so each is tuned on its own);
    ``computed``: their probabilities, if already at hand (:func:`programme_probabilities`)."""
    from speechmusic.evaluation.detection import DetectionSettings, score_detection
    from speechmusic.segment.overlap import OverlapEngine, bridge_pauses, decide, tier_segments

    if computed is None:
        computed = programme_probabilities(OverlapEngine(detector, mode="exact"), programmes)
    out = {}
    for c, lab in enumerate(LABELS):
        settings = DetectionSettings(classes=(lab,))
        best = (-1.0, 0.5, 2.0, 0.0)
        for thr in threshold_grid:
            for pen in penalty_grid:
                th = {k: thr for k in LABELS}
                pe = {k: pen for k in LABELS}
                decided = [decide(probs, active, thresholds=th, penalties=pe) for probs, active, _, _ in computed]
                for bridge in bridge_grid:
                    pairs, durations = {}, {}
                    for i, ((probs, active, duration, ref), dec) in enumerate(zip(computed, decided, strict=True)):
                        dec = dec.copy()
                        dec[:, c] = bridge_pauses(dec[:, c], active, seconds=float(bridge))
                        est = tier_segments(dec, probs)[lab]
                        pairs[str(i)] = ([s for s in ref if s.label == lab], est)
                        durations[str(i)] = duration
                    res = score_detection(pairs, settings=settings, durations=durations, n_boot=0)
                    f = float(np.nan_to_num(res.overall["segment"][lab]["f_measure"], nan=0.0))
                    if f > best[0]:
                        best = (float(f), float(thr), float(pen), float(bridge))
        log(f"  {lab}: threshold {best[1]}, penalty {best[2]}, bridge {best[3]} s, validation segment F {best[0]:.4f}")
        out[lab] = {"f": best[0], "threshold": best[1], "penalty": best[2], "bridge": best[3]}
    return out


# --------------------------------------------------------------------------- the whole run
def train_detector(config: OverlapTrainConfig, out: str | os.PathLike, *, ship: bool | str = False,
                   log=print) -> dict[str, Any]:
    """Everything in the module docstring; returns the summary written to ``OUT/transfer.json``."""

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(config.to_yaml(), encoding="utf-8")
    root = Path(config.data_root)
    sources = collect_sources(root, datasets=config.datasets, redistributable_only=config.redistributable_only)
    splits = split_sources(sources, fractions=config.split, seed=config.split_seed)
    for name in config.extra_music:
        splits = attach_extra(splits, collect_extra(name), album_key=EXTRA_MUSIC[name][2])
    (out / "split.json").write_text(json.dumps({k: sorted({s.key for s in v}) for k, v in splits.items()},
                                               indent=1), encoding="utf-8")
    # One torch thread: on a small shared machine the intra-op pool's spin-waits collapse under
    # load (thread-local: the caller's other threads keep theirs).
    with thread_local_torch_threads(1):
        return _train(config, out, splits, ship=ship, log=log)


def _pool_key(config: OverlapTrainConfig) -> str:
    import hashlib

    d = config.to_dict()
    keep = {k: d[k] for k in ("data_root", "datasets", "redistributable_only", "split", "split_seed", "mix",
                              "train_examples", "val_examples", "patches_per_example", "seed")}
    if d["extra_music"]:
        keep["extra_music"] = d["extra_music"]
    if d["normalizer"] != "per_patch":  # the pools of earlier runs keep their key
        keep["normalizer"] = d["normalizer"]
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


def _pools(config: OverlapTrainConfig, out: Path, train_mixer: Mixer, val_mixer: Mixer, log) -> tuple[PatchPool, PatchPool]:
    """The rendered patch pools, cached in ``out/pool-KEY.npz`` (KEY: a hash of the settings
    they depend on), so that a re-run with other training settings does not mix them again."""
    cache = out / f"pool-{_pool_key(config)}.npz"
    if cache.is_file():
        z = np.load(cache)
        log(f"pool: read from {cache}")
        return (PatchPool(z["xtr"], z["ytr"], list(z["ktr"])), PatchPool(z["xva"], z["yva"], list(z["kva"])))
    t0 = time.perf_counter()
    train = render_pool(train_mixer, start=0, count=config.train_examples, normalizer=config.normalizer,
                        patches_per_example=config.patches_per_example, seed=config.seed)
    val = render_pool(val_mixer, start=0, count=config.val_examples, normalizer=config.normalizer,
                      patches_per_example=config.patches_per_example, seed=config.seed + 1)
    log(f"pool: {len(train)} training and {len(val)} validation patches in {time.perf_counter() - t0:.0f} s")
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}.npz")
    np.savez(tmp, xtr=train.x, ytr=train.y, ktr=np.array(train.kinds), xva=val.x, yva=val.y, kva=np.array(val.kinds))
    os.replace(tmp, cache)
    return train, val


def _train(config: OverlapTrainConfig, out: Path, splits: dict, *, ship: bool | str, log) -> dict[str, Any]:
    from speechmusic.segment import Segmenter
    from speechmusic.segment.overlap import (
        SHIPPED_WEIGHTS,
        LevelDrop,
        OverlapDetector,
        OverlapEngine,
        point_log_energy,
    )

    train_mixer = Mixer(splits["train"], config=config.mix, seed=config.seed)
    val_mixer = Mixer(splits["val"], config=config.mix, seed=config.seed + 1)
    train, val = _pools(config, out, train_mixer, val_mixer, log)
    normalizer = None
    if config.normalizer == "standard":  # fitted on the training patches, applied to both
        from speechmusic.training.cv import fit_standard

        normalizer = fit_standard([train.x])
        train = PatchPool(normalizer.transform(train.x), train.y, train.kinds)
        val = PatchPool(normalizer.transform(val.x), val.y, val.kinds)
        log(f"normalisation: (x - {normalizer.mean[0]:.3f}) / {normalizer.scale[0]:.3f} for every patch")
    elif config.normalizer == "sliding":
        from speechmusic.features import SlidingStandardizer

        normalizer = SlidingStandardizer(68)
    rows, models = [], {}
    for source in config.sources:
        for strategy in config.strategies:
            log(f"{source} / {strategy}")
            model = build_detector_model(source, strategy=strategy, head_units=config.head_units,
                                         seed=config.seed)
            res = fit(model, train, val, epochs=int(config.epochs[strategy]),
                      lr=float(config.learning_rate[strategy]), batch_size=config.batch_size,
                      seed=config.seed, log=log)
            row = {"source": source, "strategy": strategy,
                   "trainable_parameters": model.n_parameters(trainable_only=True), **res}
            rows.append(row)
            models[(source, strategy)] = model
            log(f"  -> {json.dumps(row)}")
    best = choose_row(rows, config.select)
    model = models[(best["source"], best["strategy"])]
    how = "best" if config.select == "best" else "selected"
    log(f"{how}: {best['source']} / {best['strategy']}; tuning smoothing on {config.val_programmes} programmes")
    diffs = [float(d) for d in config.val_differences]
    programmes = [render_programme(val_mixer, i, difference_db=diffs[i % len(diffs)] if diffs else None)[:2]
                  for i in range(config.val_programmes)]
    detector = OverlapDetector(model=model, normalizer=normalizer)
    computed = None
    if config.fusion is not None:
        engine = OverlapEngine(detector, mode="exact")
        computed = programme_probabilities(engine, programmes, network_only=True)
        hop = float(config.fusion["hop_seconds"])
        level = LevelDrop.from_dict(config.fusion.get("level"))
        seg = Segmenter(engine, threads=2)
        scores = [engine.yamnet_scores(seg, audio, len(c[0]), sr=16000, hop_seconds=hop)
                  for (audio, _), c in zip(programmes, computed, strict=True)]
        energies = [point_log_energy(audio) for audio, _ in programmes]
        detector.fusion = fit_fusion(computed, scores, hop_seconds=hop, level=level, energies=energies, log=log)
        computed = [(detector.fusion.apply(p, sc, energy=e), a, d, ref)
                    for (p, a, d, ref), sc, e in zip(computed, scores, energies, strict=True)]
    tuned = tune_smoothing(detector, programmes, threshold_grid=config.threshold_grid,
                           penalty_grid=config.penalty_grid, bridge_grid=config.bridge_grid,
                           computed=computed, log=log)
    detector.thresholds = {k: v["threshold"] for k, v in tuned.items()}
    detector.penalties = {k: v["penalty"] for k, v in tuned.items()}
    detector.bridges = {k: v["bridge"] for k, v in tuned.items() if v["bridge"] > 0}
    detector.info = {"source": best["source"], "strategy": best["strategy"], "val_f1": best["val_f1"],
                     "smoothing_val_f": {k: v["f"] for k, v in tuned.items()},
                     "trained_on": "real-mix, fsdd and librosa-data recordings of the train split"
                                   + (" with redistributable licences only" if config.redistributable_only else "")
                                   + "".join(f", {name}" for name in config.extra_music),
                     "train_groups": sorted({s.key for s in splits["train"]}),
                     "config": config.to_dict()}
    path = detector.save(out / "detector.overlap.pt")
    summary = {"table": rows, "best": best, "smoothing": tuned, "detector": str(path),
               "patches": {"train": len(train), "val": len(val)}}
    if ship:
        target = SHIPPED_WEIGHTS["overlap" if ship is True else ship]
        detector.save(target)
        summary["shipped"] = str(target)
    (out / "transfer.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    (out / "transfer.md").write_text(table_markdown(rows), encoding="utf-8")
    return summary


def choose_row(rows: list[dict], select: str = "best") -> dict:
    """The row of the (source, strategy) that becomes the detector: the highest ``val_f1`` for
    ``select == "best"``, else the row named ``"SOURCE/STRATEGY"``."""
    if select == "best":
        return max(rows, key=lambda r: r["val_f1"])
    for r in rows:
        if f"{r['source']}/{r['strategy']}" == select:
            return r
    raise ConfigError(f"select {select!r}: no such trained pair among "
                      f"{[r['source'] + '/' + r['strategy'] for r in rows]}")


def table_markdown(rows: list[dict]) -> str:
    lines = ["| source | strategy | trainable parameters | val F1 speech | val F1 music | mean | best epoch | seconds |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['source']} | {r['strategy']} | {r['trainable_parameters']:,} | "
                     f"{r['val_f1_speech']:.3f} | {r['val_f1_music']:.3f} | {r['val_f1']:.3f} | "
                     f"{r['epoch']} | {r['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m speechmusic.training.overlap",
                                     description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="YAML config (experiments/overlap.yaml)")
    parser.add_argument("-o", "--out", required=True, help="output folder")
    from speechmusic.segment.overlap import SHIPPED_WEIGHTS

    parser.add_argument("--ship", nargs="?", const="overlap", default=None, metavar="ENGINE",
                        choices=list(SHIPPED_WEIGHTS),
                        help="also write the detector into the package as that engine's weights "
                             "(default overlap: segment/weights/overlap.pt; overlap-fast: overlap-fast.pt)")
    args = parser.parse_args(argv)
    config = OverlapTrainConfig.from_yaml(args.config)
    train_detector(config, args.out, ship=args.ship or False, log=lambda m: print(m, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
