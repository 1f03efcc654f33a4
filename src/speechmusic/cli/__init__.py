"""Segment recordings into speech, music, noise and silence (noEnergy), with INA's published
networks or your own; train and compare speech/music classifiers, transfer what they learn to new
audio tasks, and report the results. `speechmusic VERB --help` says more about each verb.
"""

# For developers: one module per verb (every module of this package whose name does not start
# with "_"), each parsing its arguments (see ._common) and calling the library.

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from speechmusic import __version__
from speechmusic.errors import SpeechMusicError

__all__ = ["main", "console_main", "build_parser"]


def _verb_modules() -> list[str]:
    """Every module of this package whose name does not start with ``_`` is a verb: it has
    ``add_parser(subparsers)``; the parser it adds sets ``run(args) -> int`` as its default."""
    import pkgutil

    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def build_parser() -> argparse.ArgumentParser:
    import importlib

    from speechmusic.cli._common import HelpFormatter, clean_doc, log_options

    parser = argparse.ArgumentParser(prog="speechmusic", description=clean_doc(__doc__),
                                     formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"speechmusic {__version__}",
                        help="print the version and exit")
    log_options(parser)
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB", title="verbs",
                                help="what to do, one of:")
    for verb in _verb_modules():
        importlib.import_module(f"speechmusic.cli.{verb}").add_parser(sub)
    return parser


def console_main() -> None:
    """The ``speechmusic`` command. It owns its process, so it tunes it for streaming long
    recordings before torch allocates anything (the library never does: ``main(argv)``, called
    from another program, leaves its host process alone; see :mod:`speechmusic.cli._process`)."""
    from speechmusic.cli._process import tune_process

    tune_process()
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (``speechmusic ... | head``): quietly, as other Unix tools do;
        # stdout is pointed at /dev/null so that the interpreter's final flush does not fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 141
    sys.exit(status)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``); the exit status. ``-q`` and
    ``-v`` set the level of the ``speechmusic`` loggers (and ``-q`` hides progress bars) for the
    call only."""
    from speechmusic.progress import progress_silenced

    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.ERROR if args.quiet else logging.INFO if args.verbose else logging.WARNING
    # The console gets records at the chosen level through a handler of our own (a run may lower
    # the package logger's level to fill its run.log with INFO lines; the console keeps its level),
    # and the host's root logger is left as it is; all of it is undone at the end of the call.
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(level)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("speechmusic")
    previous, propagate = logger.level, logger.propagate
    logger.setLevel(level)
    logger.addHandler(console)
    logger.propagate = False
    try:
        with progress_silenced(args.quiet):
            return int(args.run(args) or 0)
    except SpeechMusicError as exc:
        print(f"speechmusic: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("speechmusic: interrupted", file=sys.stderr)
        return 130
    finally:
        logger.removeHandler(console)
        logger.setLevel(previous)
        logger.propagate = propagate


if __name__ == "__main__":  # pragma: no cover
    console_main()
