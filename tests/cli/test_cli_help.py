"""The command line as its users read it: help texts, one spelling of the output option, -v/-q
anywhere."""

from __future__ import annotations

import argparse
import logging
import re

import pytest

from speechmusic.cli import build_parser, main


def _parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every parser of the command, with the words that reach it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, path + (name,))


ALL = list(_parsers(build_parser()))


def _help(capsys, path: tuple[str, ...]) -> str:
    with pytest.raises(SystemExit) as exc:
        main([*path, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


def _has_default(action: argparse.Action) -> bool:
    return (bool(action.option_strings) and action.default not in (None, False, [])
            and action.default is not argparse.SUPPRESS
            and not isinstance(action, argparse._HelpAction | argparse._VersionAction))


@pytest.mark.parametrize("path", [p for p, _ in ALL], ids=lambda p: " ".join(p) or "top")
def test_help_is_plain_text_and_shows_every_default(capsys, path):
    parser = dict(ALL)[path]
    text = _help(capsys, path)
    assert "``" not in text and ":func:" not in text and ":mod:" not in text
    assert "docstring" not in text and "one module per verb" not in text
    squeezed = re.sub(r"\s+", "", text)  # help lines wrap anywhere, even after a hyphen
    for action in parser._actions:
        assert action.help, f"{' '.join(path)}: {action.dest} has no help"
        if _has_default(action):
            assert re.sub(r"\s+", "", f"default: {action.default}") in squeezed, \
                f"{' '.join(path)} {action.option_strings[0]}: default not shown"
    assert parser.description and parser.description[0].isupper()


def test_top_level_says_what_the_tool_does(capsys):
    text = " ".join(_help(capsys, ()).split())
    assert "Segment recordings into speech, music, noise and silence" in text
    verbs = ALL[0][1]._subparsers._group_actions[0]
    assert len(verbs._choices_actions) == len(verbs.choices) >= 10
    for choice in verbs._choices_actions:  # each verb's line in the list is a sentence for users
        line = choice.help
        assert len(line.split()) >= 6 and "``" not in line and "[" not in line, line


def test_segment_help_shows_the_new_options_with_their_defaults(capsys):
    text = " ".join(_help(capsys, ("segment",)).split())
    for expected in ("--energy-ratio RATIO", "(default: 0.03, the original's)",
                     "--min-duration-on SECONDS", "--threads N", "(default: all cores)",
                     "ina (.csv)", "Audio extensions: .wav"):
        assert expected in text
    assert "--out " not in text and "--output_directory" not in text  # hidden aliases


def test_models_list_is_plain_text(capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "docstring" not in out and "``" not in out
    assert "inaSpeechSegmenter" in out  # the INA CNN's line says what it is


# ------------------------------------------------------------------------- output option
OUTPUT_VERBS = {  # verb words and positional arguments, and the old spellings kept working
    ("segment",): (["in.wav"], ["--out", "--output_directory"]),
    ("embed",): (["ina", "in.wav"], ["--out"]),
    ("demo",): ([], ["--out"]),
    ("report",): (["runs/x"], ["--out"]),
    ("run",): (["c.yaml"], ["--out"]),
    ("transfer",): (["c.yaml"], ["--out"]),
    ("features",): (["in.wav"], ["--out"]),
    ("datasets", "manifest"): (["root", "--layout", "folders"], ["--out"]),
    ("train",): (["recordings/"], ["--out"]),
}


def test_every_output_option_is_spelled_o_output():
    for path, parser in ALL:
        for action in parser._actions:
            if action.dest in ("output", "out", "out_dir", "output_dir"):
                assert action.option_strings[:2] == ["-o", "--output"], path
                assert path in OUTPUT_VERBS, path


@pytest.mark.parametrize("path", list(OUTPUT_VERBS), ids=" ".join)
def test_old_output_spellings_still_work(path):
    positional, old = OUTPUT_VERBS[path]
    parser = build_parser()
    for spelling in ["-o", "--output", *old]:
        args = parser.parse_args([*path, *positional, spelling, "somewhere"])
        assert args.output == "somewhere", spelling


def test_demo_keeps_its_default_output_folder():
    assert build_parser().parse_args(["demo"]).output == "demo-out"


# ------------------------------------------------------------------------- -v / -q
def test_verbose_and_quiet_are_accepted_before_and_after_the_verb():
    parser = build_parser()
    assert parser.parse_args(["info", "a.wav"]).quiet is False
    assert parser.parse_args(["-q", "info", "a.wav"]).quiet is True  # not reset by the verb
    assert parser.parse_args(["info", "-q", "a.wav"]).quiet is True
    assert parser.parse_args(["info", "a.wav", "--quiet"]).quiet is True
    assert parser.parse_args(["-v", "info", "a.wav"]).verbose is True
    assert parser.parse_args(["info", "a.wav", "-v"]).verbose is True
    assert parser.parse_args(["datasets", "check", "r", "--layout", "folders", "-q"]).quiet is True
    assert parser.parse_args(["models", "list", "-v"]).verbose is True


@pytest.mark.parametrize("flags, level", [([], logging.WARNING), (["-v"], logging.INFO),
                                          (["-q"], logging.ERROR), (["-v", "-q"], logging.ERROR)])
def test_quiet_and_verbose_set_the_log_level_for_the_call(monkeypatch, flags, level):
    from speechmusic.cli import info

    seen = []
    monkeypatch.setattr(info, "run", lambda args: seen.append(
        logging.getLogger("speechmusic.x").getEffectiveLevel()) or 0)
    before = logging.getLogger("speechmusic").level
    assert main(["info", "a.wav", *flags]) == 0
    assert seen == [level]
    assert logging.getLogger("speechmusic").level == before  # the host's setting is restored


def test_durations_and_speeds_are_plain_rounded_numbers():
    from speechmusic.progress import format_duration, format_speed

    assert format_duration(0.1620000000000001 * 3600) == "9.7 min"
    assert format_duration(42.4) == "42 s" and format_duration(5 * 3600 + 7) == "5.0 h"
    assert format_duration(30, unit="h") == "0.0 h"
    assert format_speed(3600, 80) == "45x real time" and format_speed(10, 4) == "2.5x real time"
    assert format_speed(0, 3) == "" and format_speed(3, 0) == ""
