"""``speechmusic info FILE...``: what each audio file holds, or why it cannot be read."""

from __future__ import annotations

import argparse

from speechmusic.audio import audio_info
from speechmusic.errors import AudioError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="print sample rate, channels and duration of audio files")
    p.add_argument("files", nargs="+")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.files:
        try:
            i = audio_info(path)
        except AudioError as exc:
            print(f"{path}\tERROR\t{exc.reason}")
            failed += 1
            continue
        print(f"{path}\t{i.sample_rate} Hz\t{i.channels} ch\t{i.duration:.3f} s\t{i.backend}")
    return 1 if failed else 0
