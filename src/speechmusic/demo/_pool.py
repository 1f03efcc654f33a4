"""Run rendering jobs, in this process or in a pool of worker processes.

Every job starts by resetting eSpeak NG (:func:`speechmusic.demo.speech.reset`), so its output
is a function of the job alone: the same whatever ran before it, whichever worker runs it and
however many workers there are.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from speechmusic.errors import ConfigError
from speechmusic.progress import progress as progress_bar

__all__ = ["run_jobs"]

T = TypeVar("T")

# Imported once by the fork server, so that each worker starts with them loaded.
_PRELOAD = ["numpy", "scipy.signal", "soundfile", "soxr", "pretty_midi", "tinysoundfont",
            "speechmusic.demo.corpus", "speechmusic.demo.music", "speechmusic.demo.noise",
            "speechmusic.demo.programme", "speechmusic.demo.speech"]


def _context() -> mp.context.BaseContext:
    # A fork server (spawn where there is none) rather than fork: the caller may hold threads
    # (torch) that a forked child would inherit in an unknown state.
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)  # no effect once a server runs: fine either way
        return ctx
    return mp.get_context("spawn")


def run_jobs(func: Callable[[Any], T], jobs: Sequence[Any], *, workers: int = 1, desc: str = "",
             show_progress: bool = True) -> list[T]:
    """``[func(job) for job in jobs]`` in job order, on ``workers`` processes.

    ``workers=1`` runs here. More start a pool: ``func`` must then be a module-level function,
    the jobs picklable, and a script that calls this must guard its entry point with
    ``if __name__ == "__main__":`` (multiprocessing re-imports the main module in each worker).
    """
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    if not jobs:
        return []

    def shown(results: Iterator[T]) -> Iterator[T]:
        return progress_bar(results, desc=desc, total=len(jobs), unit="job") if show_progress else results

    if workers == 1 or len(jobs) == 1:
        return list(shown(func(job) for job in jobs))
    with _context().Pool(processes=min(workers, len(jobs))) as pool:
        return list(shown(pool.imap(func, jobs, chunksize=1)))
