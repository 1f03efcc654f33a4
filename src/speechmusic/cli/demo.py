"""``speechmusic demo``: the main job on an embedded default, with no dataset to download.

Renders a corpus with a General MIDI soundfont and eSpeak NG, runs the reduced study (every
architecture, cross-validation, embeddings, the three freezing strategies, the baselines),
segments a generated programme with a model trained here and with INA's published network, and
writes one HTML report whose path it prints.
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the whole study on a rendered corpus and report",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="demo-out", help="output directory (resumes if it exists)")
    p.add_argument("--quick", action="store_true", help="a tiny corpus and a few epochs")
    p.add_argument("--workers", type=int, default=2, help="processes for rendering the corpus and for the study's units (experiments, transfer targets)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from speechmusic.demo.study import run_demo

    run_demo(args.out, quick=args.quick, workers=args.workers)
    return 0
