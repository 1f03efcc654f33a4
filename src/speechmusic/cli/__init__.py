"""The ``speechmusic`` command: one module per verb, each parsing arguments and calling the library."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from speechmusic import __version__
from speechmusic.errors import SpeechMusicError

__all__ = ["main", "console_main", "build_parser"]



def _verb_modules() -> list[str]:
    """Every module of this package is a verb: it has ``add_parser(subparsers)``; the parser it
    adds sets ``run(args) -> int`` as its default."""
    import pkgutil

    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="speechmusic", description=__doc__)
    parser.add_argument("--version", action="version", version=f"speechmusic {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress messages")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb in _verb_modules():
        importlib.import_module(f"speechmusic.cli.{verb}").add_parser(sub)
    return parser


def console_main() -> None:
    """The ``speechmusic`` command. It owns its process, so it tunes it for streaming long
    recordings before torch allocates anything (the library never does: ``main(argv)``, called
    from another program, leaves its host process alone; see :mod:`speechmusic.runtime`)."""
    from speechmusic.runtime import tune_process

    tune_process()
    sys.exit(main())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args) or 0)
    except SpeechMusicError as exc:
        print(f"speechmusic: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("speechmusic: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    console_main()
