"""``speechmusic features FILE -o OUT.npy``: compute one input representation of a file."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from speechmusic.audio import load_audio
from speechmusic.features import PRESETS, FeatureConfig, compute_features


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("features", help="compute features ([n_features, frames]) of an audio file")
    p.add_argument("file")
    p.add_argument("-o", "--output", required=True, help=".npy file to write")
    p.add_argument("--preset", default="melspec", choices=sorted(PRESETS))
    p.add_argument("--no-normalize", action="store_true", help="skip peak normalisation")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = FeatureConfig.preset(args.preset)
    audio = load_audio(args.file, sr=config.sample_rate, normalize=not args.no_normalize)
    feats = compute_features(audio, config)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, feats)
    print(f"{args.file}: {config.kind} {feats.shape[0]} x {feats.shape[1]} frames -> {out}")
    return 0
