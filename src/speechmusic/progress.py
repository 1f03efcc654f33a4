"""The one progress-bar helper: tqdm on a terminal, quiet in logs and CI unless asked."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from tqdm.auto import tqdm

__all__ = ["progress", "progress_enabled"]

T = TypeVar("T")


def progress_enabled() -> bool:
    """Bars show on an interactive stderr; ``SPEECHMUSIC_PROGRESS=1`` forces them, ``=0`` hides them."""
    forced = os.environ.get("SPEECHMUSIC_PROGRESS")
    if forced is not None:
        return forced not in ("0", "", "false", "no")
    return sys.stderr.isatty()


def progress(iterable: Iterable[T] | None = None, *, desc: str = "", total: float | None = None,
             unit: str = "it", **kwargs: Any) -> Iterator[T] | tqdm:
    """A tqdm bar over ``iterable`` (or a manual bar when ``iterable`` is None: call ``update``)."""
    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=not progress_enabled(),
                dynamic_ncols=True, leave=False, **kwargs)
