"""What every verb's parser shares: help that reads as text for users, the common options
(``-v``/``-q`` after the verb too) and the one spelling of the output option.

Not a verb (its name starts with ``_``, so :func:`speechmusic.cli._verb_modules` skips it).
"""

from __future__ import annotations

import argparse
import re

__all__ = ["HelpFormatter", "add_verb", "add_output", "clean_doc", "log_options"]

#: reST inline markup in docstrings: roles (:func:`x`) and literals (``x``).
_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
_LITERAL = re.compile(r"``(.+?)``", re.DOTALL)
#: A docstring's leading synopsis (``speechmusic verb ARGS``: ...), which the usage line repeats.
_SYNOPSIS = re.compile(r"^``speechmusic [^`]*``\s*:\s*")


def clean_doc(doc: str | None) -> str:
    """A module or function docstring as argparse text: no leading command synopsis (the usage
    line shows it), reST roles and ````literals```` as `literals`, first letter capitalised."""
    text = (doc or "").strip()
    text = _SYNOPSIS.sub("", text)
    text = _ROLE.sub(r"`\1`", text)
    text = _LITERAL.sub(r"`\1`", text)
    return text[:1].upper() + text[1:]


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions keep their paragraphs; each option's help ends with its default (where it
    has a meaningful one: not None, False or an empty list, and not already said in the help);
    hidden aliases (see :func:`add_output`) are left out of the help."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help or ""
        default = action.default
        if (not action.option_strings or "%(default)" in help_text or "(default" in help_text
                or default is None or default is False or default is argparse.SUPPRESS
                or default == []):
            return action.help
        return f"{help_text} (default: %(default)s)".lstrip()

    def _format_action_invocation(self, action: argparse.Action) -> str:
        hidden = getattr(action, "hidden_aliases", ())
        if not hidden:
            return super()._format_action_invocation(action)
        shown = [s for s in action.option_strings if s not in hidden]
        saved = action.option_strings
        action.option_strings = shown
        try:
            return super()._format_action_invocation(action)
        finally:
            action.option_strings = saved


def log_options(parser: argparse.ArgumentParser, *, default: object = False) -> None:
    """``-v/--verbose`` and ``-q/--quiet``. On the top-level parser ``default=False``; on a verb's
    parser ``argparse.SUPPRESS``, so that a flag given before the verb is not overwritten."""
    group = parser.add_argument_group("output messages")
    group.add_argument("-v", "--verbose", action="store_true", default=default,
                       help="also log progress messages (INFO)")
    group.add_argument("-q", "--quiet", action="store_true", default=default,
                       help="log errors only and hide progress bars (overrides -v)")


def add_verb(sub: argparse._SubParsersAction, name: str, *, help: str, doc: str | None = None,
             **kwargs) -> argparse.ArgumentParser:
    """A verb's (or a verb's action's) parser: ``help`` is its line in the list of verbs, ``doc``
    (a docstring, cleaned by :func:`clean_doc`) its description, ``help`` where there is none;
    it accepts ``-v``/``-q``."""
    description = clean_doc(doc or help)
    if not doc and description[-1:] not in ".)":
        description += "."
    p = sub.add_parser(name, help=help, description=description, formatter_class=HelpFormatter,
                       **kwargs)
    log_options(p, default=argparse.SUPPRESS)
    return p


def add_output(parser: argparse.ArgumentParser, *, help: str, required: bool = False,
               aliases: tuple[str, ...] = ("--out",), **kwargs) -> argparse.Action:
    """The output option, ``-o/--output`` in every verb (``args.output``); the older spellings
    in ``aliases`` are accepted but not shown in the help."""
    action = parser.add_argument("-o", "--output", *aliases, dest="output", required=required,
                                 help=help, **kwargs)
    action.hidden_aliases = tuple(aliases)  # type: ignore[attr-defined]
    return action
