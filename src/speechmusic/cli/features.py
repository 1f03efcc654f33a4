"""Compute one input representation of an audio file (a preset: mel spectrogram, MFCCs, INA's
bands...) and save it as a NumPy ``.npy`` array of shape features x frames."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from speechmusic.audio import load_audio
from speechmusic.cli._common import add_output, add_verb
from speechmusic.features import PRESETS, FeatureConfig, compute_features


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_verb(sub, "features", doc=__doc__,
                 help="compute one input representation (e.g. a mel spectrogram) of an audio "
                      "file and save it as a NumPy array")
    p.add_argument("file", metavar="FILE", help="the audio file")
    add_output(p, required=True, help=".npy file to write (shape: features x frames)")
    p.add_argument("--preset", default="melspec", choices=sorted(PRESETS),
                   help="the representation")
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
