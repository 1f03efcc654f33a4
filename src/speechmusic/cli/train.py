"""``speechmusic train DATA... -o MODEL_DIR``: train a segmenter engine on your own recordings.

DATA is a folder of class folders (``speech/``, ``music/``, ``noise/`` ...: the folder names are
the classes; audio files anywhere below them), a CSV with columns ``path,label[,group]`` (other
columns ignored; relative paths from the CSV's folder), or, with ``--layout``, a dataset in one of
the supported layouts. A folder holding one CSV with path and label columns is read through it.

First a grouped cross-validation estimates how accurate the engine is on recordings it has not
heard (clips of one group never sit on both sides of a split); then a temperature is fitted on
the folds' held-out predictions to calibrate the probabilities; then the final model is trained
on all the data. Groups (``--groups auto``): the CSV's group column; else the first sub-folder
below the class folder (``speech/alice/*.wav`` is group alice); else the file name without a
trailing number (``interview_03.wav`` is group interview). The console and the report say which.

MODEL_DIR gets ``model.pt`` (the engine: ``speechmusic segment REC -o OUT --engine MODEL_DIR``),
``report.html``/``report.md``, ``train.json``, ``manifest.csv`` and ``cv/`` (the cross-validation
run directory). Rerunning the same command continues where it stopped.

The recipe (``--recipe``) says what is trained and how: ``default`` (INA's network fine-tuned;
tractable on a CPU), ``yamnet`` (a classifier on YAMNet's embeddings: the most accurate, the
segmenter then runs at YAMNet's speed; needs the ``embeddings`` extra), ``paper`` (the paper's
protocol: 200 epochs, patience 50, every patch) or a YAML file of overrides; ``--set
key=value`` overrides one setting (``--set training.max_epochs=10``,
``--set model=dnn``, ``--set init=ina:sm``; ``--set training.augment.copies=1`` adds a noisy,
reverberant or band-limited copy of every training clip, for degraded recordings).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from speechmusic.cli._common import add_output, add_verb
from speechmusic.progress import format_duration


def add_parser(sub: argparse._SubParsersAction) -> None:
    from speechmusic.training.owndata import GROUP_RULES
    from speechmusic.training.recipe import list_recipes

    p = add_verb(sub, "train", doc=__doc__,
                 help="train a segmenter engine on your own recordings (class folders or a CSV): "
                      "cross-validated estimate, calibration, final model")
    p.add_argument("data", nargs="+", metavar="DATA",
                   help="a folder of class folders (speech/, music/ ...), a CSV "
                        "path,label[,group], or a dataset read with --layout; several are pooled")
    add_output(p, required=True, metavar="MODEL_DIR",
               help="the model folder to write (model.pt, report.html, train.json, cv/); an "
                    "existing one trained the same way is resumed")
    p.add_argument("--layout", metavar="NAME",
                   help="read DATA with this dataset layout (`speechmusic datasets layouts` lists "
                        "them; 'folders' reads class folders even where a CSV lies beside them)")
    p.add_argument("--classes", action="append", default=[], metavar="A,B",
                   help="the classes to train, comma-separated (repeatable; default: every class "
                        "found, e.g. music, noise, speech)")
    p.add_argument("--groups", default="auto", choices=GROUP_RULES,
                   help="how clips are grouped for the splits: auto (CSV group column, else "
                        "sub-folder below the class folder, else file name without a trailing "
                        "number), or one rule for all; 'file' makes every file its own group")
    p.add_argument("--recipe", default="default", metavar="NAME|FILE",
                   help=f"what to train and how: {', '.join(list_recipes())} (see above), or a "
                        "YAML file of overrides")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe setting by dotted key, e.g. --set "
                        "training.max_epochs=10 or --set model=dnn (repeatable; values are YAML)")
    p.add_argument("--folds", type=_positive_int, metavar="N",
                   help="cross-validation folds (default: the recipe's, 5); each tests on its own "
                        "share of the groups")
    p.add_argument("--no-cv", action="store_true",
                   help="skip the cross-validation: no accuracy estimate and no calibration, only "
                        "the final model (early stopping on a grouped validation share)")
    p.add_argument("--cache-dir", metavar="FOLDER",
                   help="feature cache folder (default: $SPEECHMUSIC_CACHE/features or "
                        "~/.cache/speechmusic/features)")
    p.set_defaults(run=run)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from speechmusic.training.cache import FeatureCache
    from speechmusic.training.engine import train_engine
    from speechmusic.training.owndata import collect_training_data
    from speechmusic.training.recipe import load_recipe

    started = time.perf_counter()
    overrides = list(args.overrides)
    if args.folds is not None:
        overrides.append(("protocol.n_folds", args.folds))
    recipe = load_recipe(args.recipe, overrides=overrides)
    classes = [c.strip() for item in args.classes for c in item.split(",") if c.strip()] or None
    data = collect_training_data(args.data, layout=args.layout, groups=args.groups, classes=classes)

    def echo(line: str) -> None:
        tqdm.write(line, file=sys.stdout)

    cache = FeatureCache(args.cache_dir) if args.cache_dir else None
    result = train_engine(data, args.output, recipe=recipe, recipe_name=str(args.recipe),
                          cv=not args.no_cv, cache=cache, echo=None if args.quiet else echo)
    rec = result.record
    model = rec["model"]
    print(f"engine: {result.model_path} ({model['arch']} on {model['features']}; classes "
          f"{', '.join(rec['classes'])})")
    est = rec.get("cv")
    if est:
        def pct(s: dict) -> str:
            if s.get("mean") is None:
                return "-"
            return f"{100 * s['mean']:.1f} ± {100 * (s['std'] or 0):.1f} %"

        print(f"estimate: frame-wise accuracy {pct(est['frame_accuracy'])}, file-wise "
              f"{pct(est['file_accuracy'])} ({est['n_folds']} folds)")
        second = rec.get("second_opinion") or {}
        if second.get("fused"):
            n, f = second["network"], second["fused"]
            print(f"second opinion (YAMNet): {'applied' if second['applied'] else 'not applied'}; on the folds' "
                  f"{f['files']} held-out recordings, through the segmenter: network alone frame "
                  f"{100 * n['frame_accuracy']:.1f} % / file {100 * n['file_accuracy']:.1f} %, with YAMNet "
                  f"{100 * f['frame_accuracy']:.1f} % / {100 * f['file_accuracy']:.1f} %")
    else:
        print("estimate: none (--no-cv)")
    print(f"report: {result.report.get('report.html', Path(args.output) / 'report.html')}")
    if not rec.get("segmenter"):
        print(f"use it: speechmusic segment RECORDING -o OUTDIR --engine {args.output}")
    print(f"took {format_duration(time.perf_counter() - started)}")
    return 0
