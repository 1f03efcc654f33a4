"""Print what each audio file holds (sample rate, channels, duration, the library that reads it),
or why it cannot be read; the exit status is 1 if any cannot."""

from __future__ import annotations

import argparse

from speechmusic.audio import audio_info
from speechmusic.cli._common import add_verb
from speechmusic.errors import AudioError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_verb(sub, "info", doc=__doc__,
                 help="print the sample rate, channels and duration of audio files, or why "
                      "they cannot be read")
    p.add_argument("files", nargs="+", metavar="FILE", help="audio file")
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
