"""Every data file the package reads at run time is declared as package data, so that a wheel
(not only an editable install) carries it."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "speechmusic"
#: Files in the source tree that are documentation for developers, not read by the package.
NOT_READ = {"models/README.md"}


def test_every_data_file_of_the_package_ships():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["speechmusic"]
    data = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts]
    assert any(d.startswith("training/recipes/") for d in data)
    missing = [d for d in data if d not in NOT_READ and not any(fnmatch.fnmatch(d, pat) for pat in patterns)]
    assert not missing, f"not declared as package data in pyproject.toml: {missing}"
