"""`speechmusic train`'s command line: its options, and usage errors as exit status 2 before any
work (the training itself: tests/training/test_train_command.py)."""

from __future__ import annotations

import pytest

from speechmusic.cli import build_parser, main


def test_options_and_defaults():
    args = build_parser().parse_args(["train", "a/", "b.csv", "-o", "m", "--classes", "speech,music",
                                      "--set", "training.max_epochs=3", "--folds", "3", "--no-cv"])
    assert args.data == ["a/", "b.csv"] and args.output == "m"
    assert args.classes == ["speech,music"] and args.overrides == ["training.max_epochs=3"]
    assert (args.folds, args.no_cv, args.recipe, args.groups) == (3, True, "default", "auto")


@pytest.mark.parametrize("argv, message", [
    (["train", "{tmp}/nothing", "-o", "{tmp}/m"], "no such file or folder"),
    (["train", "{tmp}", "-o", "{tmp}/m", "--recipe", "nope"], "unknown recipe"),
    (["train", "{tmp}", "-o", "{tmp}/m", "--set", "training.max_epoch=3"], "unknown key"),
    (["train", "{tmp}", "-o", "{tmp}/m", "--set", "final=sometimes"], "final must be one of"),
])
def test_usage_errors_exit_2_and_say_why(tmp_path, capsys, argv, message):
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_bad_fold_count_is_an_argument_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "x", "-o", "m", "--folds", "0"])
    assert exc.value.code == 2
    assert "--folds" in capsys.readouterr().err
