"""The one progress-bar helper: tqdm on a terminal, quiet in logs and CI unless asked."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from tqdm.auto import tqdm

__all__ = ["progress", "progress_enabled", "progress_silenced", "BatchProgress",
           "format_duration", "format_speed"]

T = TypeVar("T")

_silenced = 0  # how many progress_silenced(True) blocks are open


def progress_enabled() -> bool:
    """Bars show on an interactive stderr; ``SPEECHMUSIC_PROGRESS=1`` forces them, ``=0`` hides them;
    inside :func:`progress_silenced` (the command's ``-q``) they never show."""
    if _silenced:
        return False
    forced = os.environ.get("SPEECHMUSIC_PROGRESS")
    if forced is not None:
        return forced not in ("0", "", "false", "no")
    return sys.stderr.isatty()


@contextmanager
def progress_silenced(silence: bool = True) -> Iterator[None]:
    """No progress bar shows while the block runs (when ``silence``)."""
    global _silenced
    if not silence:
        yield
        return
    _silenced += 1
    try:
        yield
    finally:
        _silenced -= 1


def progress(iterable: Iterable[T] | None = None, *, desc: str = "", total: float | None = None,
             unit: str = "it", **kwargs: Any) -> Iterator[T] | tqdm:
    """A tqdm bar over ``iterable`` (or a manual bar when ``iterable`` is None: call ``update``)."""
    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=not progress_enabled(),
                dynamic_ncols=True, leave=False, **kwargs)


def format_duration(seconds: float, *, unit: str | None = None) -> str:
    """``seconds`` as a plain rounded number in a unit that suits it (or ``unit``: 's', 'min',
    'h'): '42 s', '12.5 min', '3.2 h'."""
    unit = unit or _unit_for(seconds)
    if unit == "s":
        return f"{seconds:.0f} s"
    if unit == "min":
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _unit_for(seconds: float) -> str:
    return "s" if seconds < 120 else "min" if seconds < 7200 else "h"


def format_speed(audio_seconds: float, wall_seconds: float) -> str:
    """Audio processed per second of wall-clock time, as '45x real time' ('' when unknown)."""
    if audio_seconds <= 0 or wall_seconds <= 0:
        return ""
    speed = audio_seconds / wall_seconds
    return f"{speed:.0f}x real time" if speed >= 10 else f"{speed:.1f}x real time"


class BatchProgress:
    """The bar of a batch of recordings: files done / total, audio done / total (the bar itself
    and its time left are measured in audio), the speed in times real time, and the file in
    progress with how long it has been running (the elapsed time ticks every second). The bar
    moves when a file is finished; ``speechmusic segment``'s subclass also moves it within a
    file, from the segmenter's ``progress`` hook.

    Call :meth:`begin` before a file, :meth:`end` after it (done or failed), :meth:`close` at
    the end (or use it as a context manager). Shows nothing where :func:`progress_enabled` is false.
    """

    def __init__(self, durations: Iterable[float], *, desc: str = "segment", file: Any = None,
                 tick_seconds: float = 1.0) -> None:
        durations = list(durations)
        self.n_files, self.total_seconds = len(durations), float(sum(durations))
        self.files_done, self.audio_done, self.audio_ok = 0, 0.0, 0.0
        self.desc, self.current, self.current_seconds = desc, "", 0.0
        self.started = self.current_started = time.perf_counter()
        self._lock = threading.Lock()
        self.bar = tqdm(total=self.total_seconds or None, disable=not progress_enabled(),
                        desc=f"{desc} 0/{self.n_files} files",
                        dynamic_ncols=True, leave=False, file=file,
                        bar_format="{desc} {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]"
                        if self.total_seconds else "{desc} [{elapsed}{postfix}]")
        self._stop = threading.Event()
        self._ticker = None
        if not self.bar.disable and tick_seconds > 0:
            self._ticker = threading.Thread(target=self._tick, args=(tick_seconds,), daemon=True,
                                            name="speechmusic-progress")
            self._ticker.start()
        self._render()

    def text(self) -> str:
        """The bar's words: files, audio, speed and the file in progress."""
        unit = _unit_for(self.total_seconds)
        parts = [f"{format_duration(self.audio_done, unit=unit).split()[0]}/"
                 f"{format_duration(self.total_seconds, unit=unit)} audio"]
        speed = format_speed(self.audio_ok, time.perf_counter() - self.started)
        if speed:
            parts.append(speed)
        if self.current:
            running = time.perf_counter() - self.current_started
            parts.append(f"now: {self.current} ({format_duration(self.current_seconds)} of audio, "
                         f"running {tqdm.format_interval(running)})")
        return ", ".join(parts)

    def _render(self, advance: float = 0.0) -> None:
        if self.bar.disable:
            return
        with self._lock:
            self.bar.set_description_str(f"{self.desc} {self.files_done}/{self.n_files} files",
                                         refresh=False)
            self.bar.set_postfix_str(self.text(), refresh=False)
            if advance:
                self.bar.n += advance  # as update(), without its own (throttled) display
            self.bar.refresh()

    def _tick(self, every: float) -> None:
        while not self._stop.wait(every):
            self._render()

    def begin(self, name: str, seconds: float) -> None:
        """The file ``name`` (``seconds`` of audio) starts."""
        self.current, self.current_seconds = name, seconds
        self.current_started = time.perf_counter()
        self._render()

    def end(self, audio_seconds: float | None = None) -> None:
        """The current file is finished, with ``audio_seconds`` of audio segmented (None: it
        failed). The bar moves by the duration given to :meth:`begin`."""
        self.files_done += 1
        self.audio_done += self.current_seconds
        self.audio_ok += audio_seconds or 0.0
        self.current = ""
        self._render(self.current_seconds if self.total_seconds else 0.0)

    @contextmanager
    def external_write(self) -> Iterator[None]:
        """Lines printed in the block (to stderr) do not mix with the bar."""
        if self.bar.disable:
            yield
            return
        with self._lock, tqdm.external_write_mode(file=self.bar.fp):
            yield

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        self.bar.close()

    def __enter__(self) -> BatchProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
