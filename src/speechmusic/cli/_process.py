"""Process-wide settings of the ``speechmusic`` command, which owns its process.

They pay for a process streaming hours of audio, but they belong to the process's owner, so the
library never makes them; only the command's entry point (``speechmusic.cli.console_main``) does,
before torch allocates anything.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["tune_process"]


def tune_process(*, malloc: bool = True, huge_pages: bool = True, switch_interval: float | None = 2e-4) -> None:
    """Process-wide settings for streaming long recordings; call once, at a program's start.

    * ``malloc``: glibc keeps blocks of 4 MiB and more on mmap (otherwise the threshold rises as
      large blocks are freed, large feature maps then fragment the heap and resident memory grows
      with the file's duration) and up to 32 MiB of free heap top (otherwise each 10 s piece's
      temporaries are returned and faulted in again: 10x the page faults).
    * ``huge_pages``: ``THP_MEM_ALLOC_ENABLE=1`` unless the environment sets it (PyTorch reads it
      once, at its first CPU allocation: effective only if called before that).
    * ``switch_interval``: a thread waiting for the GIL gets it sooner (``sys.setswitchinterval``);
      the decoder holds the GIL while the network's workers need it for moments.
    """
    if huge_pages:
        os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
    if malloc:
        try:
            libc = ctypes.CDLL("libc.so.6")
            m_trim_threshold, m_mmap_threshold = -1, -3
            libc.mallopt(m_mmap_threshold, 4 * 1024 * 1024)
            libc.mallopt(m_trim_threshold, 32 * 1024 * 1024)
        except (OSError, AttributeError):  # not glibc
            pass
    if switch_interval is not None:
        sys.setswitchinterval(switch_interval)
