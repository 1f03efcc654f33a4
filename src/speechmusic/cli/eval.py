"""``speechmusic eval REF EST``: score speech/music detection against a reference with the metrics of
MIREX 2018's "Music and/or Speech Detection" task, computed with sed_eval.

REF and EST are two segment files, or two folders of them matched by name (file name without its
extension), or a reference file and the folder holding its estimate. Either side may be MIREX's
text files (onset, offset, class per line) or any format the segmenter writes (csv, ina,
TextGrid, Audacity, RTTM, JSON). Labels count for classes without regard to case: speech, male
and female are speech; music is music; noEnergy, noise, silence, no-music, no-speech, "-" and
empty labels count for no class; a label naming a scored class is that class; A+B (speech+music)
is both. Other labels are an error until mapped with --map.

Prints, as Markdown: segment-based precision, recall and F per class on 10 ms segments (with `-`,
time with no class, as MIREX scored it) and the overall accuracy (reference activity found);
event-based precision, recall, F, deletion, insertion and error rates per class and overall
(onsets within 0.5 s; offsets with --offsets); each with a 95 % bootstrap interval over files;
then one line per file. --json writes the same with MIREX's key names.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from speechmusic.cli._common import add_verb
from speechmusic.errors import SpeechMusicError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_verb(sub, "eval", doc=__doc__,
                 help="score speech and music detection against a reference with MIREX 2018's "
                      "metrics (segment- and event-based)")
    p.add_argument("reference", metavar="REF", help="reference segment file or folder")
    p.add_argument("estimate", metavar="EST", help="estimated segment file or folder")
    p.add_argument("--json", metavar="FILE",
                   help="also write the results as JSON (MIREX 2018's keys, `ci95` beside them)")
    what = p.add_argument_group("what is scored")
    what.add_argument("--classes", default="speech,music", metavar="LIST",
                      help="the classes, comma-separated (music or speech alone: MIREX's music or "
                           "speech detection)")
    what.add_argument("--map", action="append", default=[], metavar="LABEL=CLASS[,CLASS]",
                      help="count LABEL for these classes (LABEL= for none); repeatable; overrides "
                           "the defaults above")
    what.add_argument("--intersection", action="store_true",
                      help="score only the recordings present on both sides (otherwise one "
                           "missing on either side is an error)")
    length = what.add_mutually_exclusive_group()
    length.add_argument("--audio", metavar="DIR",
                        help="take each recording's duration from its audio file in DIR (same "
                             "name), as MIREX did; default: the reference's last offset")
    length.add_argument("--duration", type=float, metavar="SECONDS",
                        help="the duration of every recording")
    how = p.add_argument_group("metric settings (MIREX 2018's by default)")
    how.add_argument("--resolution", type=float, default=0.01, metavar="SECONDS",
                     help="segment length of the segment-based metrics")
    how.add_argument("--collar", type=float, default=0.5, metavar="SECONDS",
                     help="event-based onset tolerance")
    how.add_argument("--offsets", action="store_true",
                     help="event-based: also require offsets within max(collar, fraction x "
                          "length) (MIREX's final scorer evaluated onsets only)")
    how.add_argument("--offset-fraction", type=float, default=0.0, metavar="F",
                     help="with --offsets, the tolerance as a fraction of the reference event's "
                          "length, where larger than the collar (DCASE uses 0.2)")
    ci = p.add_argument_group("confidence intervals and output")
    ci.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                    help="bootstrap resamples of the files for the 95 %% intervals (0: none)")
    ci.add_argument("--seed", type=int, default=0, help="seed of the resampling")
    ci.add_argument("--no-files", action="store_true", help="leave out the per-file table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from speechmusic.evaluation.detection import (
        DetectionSettings,
        evaluate_detection,
        parse_label_map,
    )

    classes = tuple(c.strip() for c in args.classes.split(",") if c.strip())
    settings = DetectionSettings(classes=classes, label_map=parse_label_map(args.map),
                                 time_resolution=args.resolution, collar=args.collar,
                                 offsets=args.offsets, offset_fraction=args.offset_fraction)
    results = evaluate_detection(args.reference, args.estimate, settings=settings,
                                 intersection=args.intersection, duration=args.duration,
                                 audio_dir=args.audio, n_boot=args.bootstrap, seed=args.seed)
    print(results.to_markdown(per_file=not args.no_files), end="")
    if args.json:
        path = Path(args.json)
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            tmp.write_text(results.to_json(), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            raise SpeechMusicError(f"{path}: cannot be written ({exc.strerror or exc})") from None
    return 0
