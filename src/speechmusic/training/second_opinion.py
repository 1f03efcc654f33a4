"""YAMNet's second opinion for an engine of ``speechmusic train``, fitted on held-out folds.

After the cross-validation every fold's model segments its own test recordings (recordings of
groups it never heard), with YAMNet's pooled speech and music logits computed on the same
decode (:meth:`~speechmusic.segment.segmenter._CheckpointEngine.score_with_yamnet`), as
recorded and as ``COPIES`` degraded copies (:data:`COPY_AUGMENT`). A
:class:`~speechmusic.segment.fusion.YamNetClassFusion` is fitted on those points and judged
honestly: each fold's recordings and copies are scored by a fusion fitted on the other folds'
only, and both the network alone and the fused probabilities go through the segmenter's
smoothing (with the fold engine's own switching penalty). It is kept (fitted on every fold's
recordings and copies, stored in the engine's checkpoint) only where it is more accurate than
the network alone on the recordings frame-wise, no less file-wise, and no less on the copies.

The fold models' probabilities are first scaled by the engine's calibration temperature, as the
final engine's are when the fusion reads them. Each analysis is cached under ``cache_dir`` (one
file per fold, recording and copy), so that an interrupted run resumes.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from speechmusic.data.files import atomic_write
from speechmusic.data.manifest import Manifest
from speechmusic.errors import AudioError, ConfigError
from speechmusic.segment.fusion import FusionExample, YamNetClassFusion
from speechmusic.training.config import AugmentConfig

__all__ = ["SECOND_OPINIONS", "YAMNET_HOP_SECONDS", "check_second_opinion", "fit_second_opinion"]

#: ``Recipe.second_opinion`` values.
SECOND_OPINIONS = ("yamnet", "none")
#: YAMNet's frame spacing for the second opinion (its embedder's default).
YAMNET_HOP_SECONDS = 0.48
#: Degraded copies of every held-out recording the regression is also fitted and judged on:
#: fitted on clean recordings alone, it trusted YAMNet where noise misleads it (real-mix's held-out
#: files under pink noise 10 LU below: 86.1 % right with the network alone, 73.0 % fused).
COPIES = 1
#: How the copies are degraded (training.augment's effects: another held-out noise recording of
#: the fold mixed under it half the time, 0-20 LU below; reverberation, band-limiting, codec,
#: clipping).
COPY_AUGMENT = AugmentConfig(copies=COPIES)
_SR = 16000


def check_second_opinion() -> None:
    """Raise a clear error now, before hours of training, when YAMNet cannot run."""
    from speechmusic.transfer.yamnet import YamNetEmbedder

    YamNetEmbedder(hop_seconds=YAMNET_HOP_SECONDS, num_threads=1)


def _held_out(fold_dir: Path) -> list[str]:
    from speechmusic.training.calibration import FOLD_PREDICTIONS

    path = fold_dir / FOLD_PREDICTIONS
    if not path.is_file():
        return []
    with np.load(path, allow_pickle=False) as data:
        return [str(x) for x in data["clip_id"]]


def _load(clip) -> np.ndarray:
    from speechmusic.audio import load_audio

    return load_audio(clip.path, sr=_SR, offset=clip.start or 0.0, duration=clip.duration, normalize=False)


def _analyse(segmenter, clip, *, copy: int, noise, decoded: dict[str, np.ndarray]
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The fold model's probabilities, YAMNet's scores and the activity of one clip (``copy``
    0: as recorded; k > 0: its k-th degraded copy, with the recording ``noise`` mixed under it or
    None; noise recordings are decoded once into ``decoded``); None when the clip cannot be
    segmented (too short, unreadable: the cross-validation skipped it too)."""
    from speechmusic.training.augment import _stable, augment_signal

    try:
        audio = _load(clip)
        if copy:
            if noise is not None and noise.id not in decoded:
                decoded[noise.id] = _load(noise)
            rng = np.random.default_rng(_stable(f"{COPY_AUGMENT.seed}|second-opinion|{clip.id}|{copy}"))
            audio, _ = augment_signal(audio, rate=_SR, config=COPY_AUGMENT, rng=rng,
                                      noise=None if noise is None else decoded[noise.id])
        a = segmenter.analyse(audio, sr=_SR)
    except AudioError:
        return None
    return a.network_probs, a.yamnet_scores, a.active


def _decide(probs: np.ndarray, active: np.ndarray, trans: np.ndarray) -> np.ndarray:
    """The segmenter's smoothed labels on the active points (-1 elsewhere)."""
    from speechmusic.segment.viterbi import runs, viterbi

    out = np.full(len(probs), -1, dtype=np.int64)
    for on, a, b in runs(active):
        if on:
            out[a:b] = viterbi(np.log(np.clip(probs[a:b], 1e-30, None)), trans)
    return out


def _accuracy(decided: list[tuple[np.ndarray, FusionExample]]) -> dict[str, float]:
    hits = total = files = 0
    for labels, ex in decided:
        got = labels[ex.active]
        hits += int(np.count_nonzero(got == ex.label))
        total += len(got)
        files += int(np.bincount(got, minlength=len(ex.probs[0])).argmax() == ex.label)
    return {"frame_accuracy": hits / max(total, 1), "file_accuracy": files / max(len(decided), 1),
            "frames": total, "files": len(decided)}


def _held_out_engines(fold_dirs: Sequence[Path], fusions: dict[str, dict | None], temperature: float,
                      cache_dir: Path) -> None:
    """``cache_dir/fold_<k>.pt``: fold k's model with the fusion fitted on the other folds and
    the engine's temperature, the engine each fold was judged as; benchmarks segment the fold's
    test recordings with it (``bench/peers.py --folds``), so that every figure stays held out."""
    from speechmusic.models import load_checkpoint, save_checkpoint

    for fold_dir in fold_dirs:
        fold = fold_dir.name.rsplit("_", 1)[-1]
        if fusions.get(fold) is None:
            continue
        ckpt = load_checkpoint(fold_dir / "model.pt")
        save_checkpoint(cache_dir / f"fold_{fold}.pt", model=ckpt.model, labels=ckpt.labels,
                        feature_config=ckpt.feature_config, normalizer=ckpt.normalizer,
                        extra={**ckpt.extra, "fusion": fusions[fold]}, temperature=temperature)


def fit_second_opinion(*, fold_dirs: Sequence[Path], manifest: Manifest, labels: Sequence[str],
                       temperature: float, cache_dir: Path,
                       say: Callable[[str], None], threads: int | None = None) -> dict[str, Any]:
    """Fit and judge YAMNet's second opinion on the folds' held-out recordings (module docstring).

    Returns ``applied``, ``fusion`` (its dict, fitted on every fold; None where not applied),
    ``network`` and ``fused`` (cross-fitted ``frame_accuracy``, ``file_accuracy``, ``frames``,
    ``files`` on the recordings as they are), ``network_degraded`` and ``fused_degraded`` (the
    same on their degraded copies; None without copies), ``copies``, ``cross_fitted`` (fold -> the dict of the fusion fitted on the other folds, which
    judged that fold), ``temperature``, ``hop_seconds``, ``folds``, ``seconds``."""
    from speechmusic.segment.fusion import YAMNET_FLOAT_OPTIMIZED
    from speechmusic.segment.segmenter import Segmenter, _load_engine
    from speechmusic.segment.viterbi import switch_penalty_transition
    from speechmusic.training.augment import noise_partner
    from speechmusic.training.calibration import apply_temperature

    started = time.perf_counter()
    result: dict[str, Any] = {"method": "yamnet", "hop_seconds": YAMNET_HOP_SECONDS, "folds": 0,
                              "applied": False, "fusion": None, "network": None, "fused": None}
    models = [d / "model.pt" for d in fold_dirs if (d / "model.pt").is_file()]
    # the segmenter's own engine decides how a fold's model runs and is smoothed, so that the two
    # never disagree
    engine = _load_engine(str(models[0]), mode="fast") if models else None
    if engine is not None and not hasattr(engine, "score_with_yamnet"):
        result["why_not"] = ("the segmenter runs a network on INA's bands with per-patch standardisation "
                             "as INA's own networks, without a second opinion")
        say(f"second opinion: not fitted ({result['why_not']})")
        result["seconds"] = time.perf_counter() - started
        return result
    by_id = {clip.id: clip for clip in manifest}
    index = {lab: i for i, lab in enumerate(labels)}
    examples: dict[int, list[FusionExample]] = {}
    cache_dir.mkdir(parents=True, exist_ok=True)
    for fold_dir in fold_dirs:
        ids = [i for i in _held_out(fold_dir) if i in by_id and by_id[i].label in index]
        if not ids or not (fold_dir / "model.pt").is_file():
            continue
        fold = int(fold_dir.name.rsplit("_", 1)[-1])
        t0 = time.perf_counter()
        segmenter = None
        found = []
        # noise mixed under a copy: the fold's own held-out noise recordings (never a clip the
        # fold's model trained on), of another group than the clip's
        noises = [by_id[i] for i in ids if by_id[i].label == COPY_AUGMENT.noise_label]
        noise_audio: dict[str, np.ndarray] = {}  # each noise recording decoded once per fold
        for clip_id, copy in ((i, c) for i in ids for c in range(1 + COPIES)):
            clip = by_id[clip_id]
            noise = noise_partner(clip, copy, candidates=noises, config=COPY_AUGMENT) if copy else None
            # what the analysis depends on besides the fold's model: the clip, its copy, YAMNet's
            # hop and arithmetic
            key = hashlib.sha1(f"{fold}\0{clip_id}\0{copy}\0{noise.id if noise else ''}\0{YAMNET_HOP_SECONDS}"
                               f"\0{YAMNET_FLOAT_OPTIMIZED}\0{COPY_AUGMENT if copy else ''}".encode()).hexdigest()[:16]
            path = cache_dir / f"{key}.npz"
            if path.is_file():
                with np.load(path, allow_pickle=False) as data:
                    got = None if data["probs"].size == 0 else (data["probs"], data["scores"], data["active"])
            else:
                if segmenter is None:
                    segmenter = Segmenter(str(fold_dir / "model.pt"), threads=threads)
                    segmenter.engine.score_with_yamnet(YAMNET_HOP_SECONDS)
                got = _analyse(segmenter, clip, copy=copy, noise=noise, decoded=noise_audio)
                arrays = got or (np.zeros((0, len(labels))), np.zeros((0, 2)), np.zeros(0, dtype=bool))
                atomic_write(path, lambda fh, a=arrays: np.savez(fh, probs=a[0], scores=a[1], active=a[2]))
            if got is not None and len(got[0]):
                probs = apply_temperature(np.nan_to_num(got[0], nan=1.0 / len(labels)), temperature)
                found.append(FusionExample(probs=probs, scores=np.asarray(got[1]),
                                           active=np.asarray(got[2], dtype=bool),
                                           label=index[clip.label], copy=copy))
        examples[fold] = found
        n = sum(1 for e in found if not e.copy)
        say(f"second opinion: fold {fold}, YAMNet and the fold's model on its {n} held-out recordings "
            f"and {len(found) - n} degraded copies ({time.perf_counter() - t0:.1f} s)")
    folds = sorted(k for k, v in examples.items() if v)
    result["folds"] = len(folds)
    everything = [e for k in folds for e in examples[k]]
    present = {e.label for e in everything if e.active.any()}
    if len(folds) < 2 or len(present) < len(labels):
        result["why_not"] = ("needs held-out recordings of every class in at least two folds "
                             "(to judge it on folds it was not fitted on)")
        say(f"second opinion: not fitted ({result['why_not']})")
        result["seconds"] = time.perf_counter() - started
        return result
    trans = switch_penalty_transition(engine.viterbi_arg, len(labels))
    alone, fused = [], []
    result["temperature"] = float(temperature)
    result["cross_fitted"] = {}
    for k in folds:
        others = [e for j in folds if j != k for e in examples[j]]
        try:
            fusion = YamNetClassFusion.fit(others, labels=labels, hop_seconds=YAMNET_HOP_SECONDS)
        except ConfigError:  # a class held out in this fold only: judged with the network alone
            fusion = None
        # what fold k's model is judged with: benchmarks segment its test recordings the same way
        result["cross_fitted"][str(k)] = None if fusion is None else fusion.to_dict()
        for ex in examples[k]:
            net = _decide(ex.probs, ex.active, trans)
            alone.append((net, ex))
            fused.append((net if fusion is None else _decide(fusion.apply(ex.probs, ex.scores), ex.active, trans), ex))
    def of(decided: list, degraded: bool) -> list:
        return [pair for pair in decided if bool(pair[1].copy) == degraded]

    copies = bool(of(alone, True))
    result["network"], result["fused"] = _accuracy(of(alone, False)), _accuracy(of(fused, False))
    result["network_degraded"] = _accuracy(of(alone, True)) if copies else None
    result["fused_degraded"] = _accuracy(of(fused, True)) if copies else None
    n, f = result["network"], result["fused"]
    better = f["frame_accuracy"] > n["frame_accuracy"] and f["file_accuracy"] >= n["file_accuracy"]
    if copies:  # and no worse on the degraded copies
        nd, fd = result["network_degraded"], result["fused_degraded"]
        better = better and fd["frame_accuracy"] >= nd["frame_accuracy"] and fd["file_accuracy"] >= nd["file_accuracy"]
    result["copies"] = COPIES
    result["applied"] = bool(better)
    if better:
        result["fusion"] = YamNetClassFusion.fit(everything, labels=labels, hop_seconds=YAMNET_HOP_SECONDS).to_dict()
        _held_out_engines(fold_dirs, result["cross_fitted"], temperature, cache_dir)
    pct = lambda d: f"frame {100 * d['frame_accuracy']:.1f} %, file {100 * d['file_accuracy']:.1f} %"  # noqa: E731
    degraded = (f"; their degraded copies: network alone {pct(result['network_degraded'])}, with YAMNet "
                f"{pct(result['fused_degraded'])}" if copies else "")
    say(f"second opinion: on {result['fused']['files']} held-out recordings, network alone {pct(result['network'])}; "
        f"with YAMNet (fitted on the other folds) {pct(result['fused'])}{degraded}: "
        + ("kept" if better else "not kept (not more accurate)"))
    result["seconds"] = time.perf_counter() - started
    return result
