"""``speechmusic demo``: the main job on an embedded default (no dataset to download).

Until the full study lands, it runs the longest real path that exists: it renders a short
programme of generated signals, decodes it back from disk, and computes every input
representation the paper uses, reporting shapes and timing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from speechmusic.audio import load_audio
from speechmusic.features import PRESETS, FeatureConfig, compute_features


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the main job on generated audio")
    p.add_argument("--out", default="demo-out", help="output directory")
    p.add_argument("--quick", action="store_true", help="a shorter programme")
    p.set_defaults(run=run)


def _programme(sr: int, seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    notes = 220.0 * 2 ** (rng.integers(0, 12, size=len(t) // (sr // 4) + 1) / 12)
    f = np.repeat(notes, sr // 4)[: len(t)]
    music = sum(np.sin(2 * np.pi * h * np.cumsum(f) / sr) / h for h in range(1, 5))
    noise = rng.standard_normal(len(t)) * 0.1
    half = len(t) // 2
    return np.concatenate([music[:half], noise[half:]]).astype(np.float32)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "programme.wav"
    sf.write(path, _programme(44100, 10.0 if args.quick else 60.0), 44100)
    print(f"wrote {path}")
    for name in sorted(PRESETS):
        config = FeatureConfig.preset(name)
        start = time.perf_counter()
        audio = load_audio(path, sr=config.sample_rate)
        feats = compute_features(audio, config)
        took = time.perf_counter() - start
        np.save(out / f"programme.{name}.npy", feats)
        print(f"{name:14s} {feats.shape[0]:4d} x {feats.shape[1]:6d}  {len(audio) / config.sample_rate / took:8.0f}x real time")
    return 0
