"""Run the whole study on a generated corpus, with no dataset to download.

Renders a corpus with a General MIDI soundfont and eSpeak NG, runs the reduced study (every
architecture, cross-validation, embeddings, the three freezing strategies, the baselines),
segments a generated programme with a model trained here and with INA's published network, and
writes one HTML report whose path it prints.
"""

from __future__ import annotations

import argparse

from speechmusic.cli._common import add_output, add_verb


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_verb(sub, "demo", doc=__doc__,
                 help="run the whole study on a generated corpus (nothing to download) and "
                      "write an HTML report")
    add_output(p, default="demo-out", help="output folder (a rerun resumes where it stopped)")
    p.add_argument("--quick", action="store_true",
                   help="a tiny corpus and a few epochs (a few minutes); its segmenter network is "
                        "INA's published one fine-tuned, the corpus being too small to train "
                        "one from scratch")
    p.add_argument("--workers", type=int, default=2, metavar="N",
                   help="processes for rendering the corpus and for the study's units "
                        "(experiments, transfer targets)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from speechmusic.demo.study import run_demo

    run_demo(args.output, quick=args.quick, workers=args.workers)
    return 0
