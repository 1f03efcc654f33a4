"""Do an engine's labels hold when the recording changes? Held-out files, played at other levels
and through degradations.

    .venv/bin/python bench/robustness.py ENGINE_DIR [ENGINE_DIR ...]
        [--conditions gain:-20 gain:-10 clean gain:6 noise:10 noise:0 telephone codec reverb:0.8]
        [--out DIR]

``ENGINE_DIR``: a folder written by ``speechmusic train`` (its ``cv/`` run holds one checkpoint per
fold and the fold's ``split.json``). Each fold's checkpoint segments the test clips of its own
fold (recordings of groups it never heard) under every condition, with ``Segmenter(mode="fast")``
as ``speechmusic segment`` runs it. A file's decision is the class with the most labelled time.

Conditions (default: the level ones, ``gain:-20 gain:-10 clean gain:6``):

* ``clean``: the file as recorded (no normalisation);
* ``gain:DB``: scaled by DB decibels, clipped to [-1, 1] (positive gains clip loud recordings);
* ``noise:LU``: pink noise (generated, heard by no engine in training) mixed under the file, the
  file's loudness that many LU above the noise's (pyloudnorm);
* ``telephone``: a 300-3400 Hz band-pass (audiomentations, 24 dB/octave);
* ``codec``: a low-pass at 4 kHz then 8-bit quantisation (audiomentations' ``BitCrush``);
* ``reverb:RT60``: a synthetic room response decaying by 60 dB in RT60 seconds.

The degraded signals depend on the file alone (seeded by its name), so every engine hears the same.
Printed per engine: file accuracy under each condition, and the share of files whose decision
changes between conditions. Training clips are peak-normalised (the paper's protocol) while a
segmenter hears recordings at whatever level and through whatever channel they were made: an
engine whose normalisation keeps the level (``normalizer: standard``, ``fit``) learns the
training clips' levels as evidence; INA's per-patch standardisation and its sliding form remove
the gain; augmented copies (``training.augment``) put degradations into training.
``--out DIR`` gets ``robustness.json``.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from speechmusic.segment import Segmenter

CLASSES = ("speech", "music", "noise")
DEFAULT_CONDITIONS = ["gain:-20", "gain:-10", "clean", "gain:6"]


def fold_items(engine_dir: Path) -> list[tuple[Path, list[tuple[str, str]]]]:
    """``(fold checkpoint, [(audio path, label)])`` for every finished fold of the engine's CV
    (clip ids mapped to files through the run's ``config.yaml``, whole files only)."""
    from speechmusic.training import load_config
    from speechmusic.training.config import expand_experiments
    from speechmusic.training.cv import fold_done
    from speechmusic.training.runner import experiment_manifest

    cv = engine_dir / "cv"
    config = load_config(cv / "config.yaml")
    out = []
    for exp in expand_experiments(config):
        by_id = {c.id: c for c in experiment_manifest(exp)}
        for fold in sorted((cv / "experiments" / exp.name).glob("fold_*"), key=lambda p: int(p.name[5:])):
            if not (fold_done(fold) and (fold / "model.pt").is_file()):
                continue
            test = [by_id[c] for c in json.loads((fold / "split.json").read_text(encoding="utf-8"))["test"]]
            out.append((fold / "model.pt", [(c.path, c.label) for c in test
                                             if c.start is None and c.duration is None]))
    if not out:
        sys.exit(f"{engine_dir}: no finished fold under cv/experiments/")
    return out


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of 1/f noise (white noise shaped in the frequency domain)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0
    y = np.fft.irfft(spectrum / np.sqrt(f), n)
    return (y / (np.max(np.abs(y)) or 1.0)).astype(np.float32)


def check_condition(name: str) -> str:
    kind, _, value = name.partition(":")
    if kind in ("clean", "telephone", "codec") and not value:
        return name
    if kind in ("gain", "noise", "reverb") and value:
        try:
            float(value)
            return name
        except ValueError:
            pass
    raise argparse.ArgumentTypeError(f"unknown condition {name!r}: clean, gain:DB, noise:LU, telephone, "
                                     "codec or reverb:RT60")


def file_seed(path: str | Path) -> int:
    """The seed of a file's degradations: from its name, so every engine and peer hears the same."""
    return int(hashlib.sha256(Path(path).name.encode()).hexdigest()[:8], 16)


def degrade(x: np.ndarray, sr: int, condition: str, *, seed: int) -> np.ndarray:
    """``x`` (as recorded) under ``condition`` (see the module docstring)."""
    import audiomentations as A

    from speechmusic.data.mixing import apply_frozen, reverberate, set_loudness_difference
    from speechmusic.errors import SpeechMusicError

    kind, _, value = condition.partition(":")
    rng = np.random.default_rng(seed)
    if kind == "clean":
        y = x
    elif kind == "gain":
        y = x * np.float32(10 ** (float(value) / 20))
    elif kind == "noise":
        noise = pink_noise(len(x), rng)
        try:
            fg, _, _ = set_loudness_difference(x, noise, difference_db=float(value), sample_rate=sr)
        except SpeechMusicError:  # a silent file: nothing to balance, left as it is
            return x
        y = fg + noise
        y = y * np.float32(min(1.0, float(np.max(np.abs(x))) / (float(np.max(np.abs(y))) or 1.0)))
    elif kind == "telephone":
        y = apply_frozen(A.BandPassFilter(p=1.0), {"center_freq": 1850.0, "bandwidth": 3100.0,
                                                   "rolloff": 24}, x, rate=sr)
    elif kind == "codec":
        y = apply_frozen(A.LowPassFilter(p=1.0), {"cutoff_freq": 4000.0, "rolloff": 24}, x, rate=sr)
        peak = float(np.max(np.abs(y))) or 1.0
        y = apply_frozen(A.BitCrush(p=1.0), {"bit_depth": 8}, y / peak, rate=sr) * peak
    else:  # reverb
        y = reverberate(x, rate=sr, rt60=(float(value), float(value)), rng=rng)
    return np.clip(np.asarray(y, dtype=np.float32), -1.0, 1.0)


def decision(segmenter: Segmenter, audio: np.ndarray, sr: int, classes: tuple[str, ...]) -> str:
    time = collections.Counter()
    for s in segmenter(audio, sr=sr):
        time[s.label] += s.stop - s.start
    return max(classes, key=lambda c: time[c])


def measure(engine_dir: Path, conditions: list[str]) -> dict:
    correct = collections.Counter()
    changed = n = 0
    for checkpoint, items in fold_items(engine_dir):
        segmenter = Segmenter(str(checkpoint), mode="fast")
        classes = tuple(c for c in CLASSES if c in segmenter.engine.labels)
        for path, label in items:
            x, sr = sf.read(path, dtype="float32", always_2d=True)
            x = x.mean(axis=1)  # as recorded: no normalisation
            got = [decision(segmenter, degrade(x, sr, c, seed=file_seed(path)), sr, classes)
                   for c in conditions]
            for c, d in zip(conditions, got, strict=True):
                correct[c] += d == label
            changed += len(set(got)) > 1
            n += 1
        print(f"  {engine_dir}: {checkpoint.parent.name} done ({n} files so far)", file=sys.stderr, flush=True)
    return {"files": n, "accuracy": {c: correct[c] / max(n, 1) for c in conditions},
            "changed": changed / max(n, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("engines", nargs="+", type=Path)
    parser.add_argument("--conditions", nargs="+", type=check_condition, default=DEFAULT_CONDITIONS)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    results = {str(e): measure(e, args.conditions) for e in args.engines}
    head = " | ".join(args.conditions)
    print(f"| engine | files | {head} | decisions changed by the condition |")
    print("|---|---:|" + "---:|" * len(args.conditions) + "---:|")
    for name, r in results.items():
        cells = " | ".join(f"{100 * r['accuracy'][c]:.1f} %" for c in args.conditions)
        print(f"| {name} | {r['files']} | {cells} | {100 * r['changed']:.1f} % |")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "robustness.json").write_text(json.dumps(
            {"conditions": args.conditions, "results": results}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
