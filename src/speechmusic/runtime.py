"""Process and thread settings: what the library may touch, and the one opt-in that tunes a process.

The library changes no process-wide state. Two kinds of setting are handled here:

* :func:`thread_local_torch_threads`: PyTorch's intra-op thread count (OpenMP's ``nthreads``) for
  the calling thread only. ``torch.set_num_threads`` would also change the default of every thread
  started later; the segmenter instead runs its networks on single-threaded worker threads of its
  own and sets only their count (and its own thread's, restored on exit).
* :func:`tune_process`: settings that pay for a process streaming hours of audio but belong to the
  process's owner (glibc malloc thresholds, transparent huge pages for PyTorch buffers, a shorter
  GIL switch interval). The ``speechmusic`` command calls it at its start; a program embedding
  the library may call it once, on purpose.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["tune_process", "thread_local_torch_threads", "single_threaded_worker"]

_omp_lock = threading.Lock()
_omp: object = None  # libgomp's handle once looked up; False where there is none


def _openmp():
    """The OpenMP runtime PyTorch uses (``omp_set_num_threads`` acts on the calling thread only),
    or None."""
    global _omp
    with _omp_lock:
        if _omp is None:
            import torch

            torch.get_num_threads()  # loads the runtime and initialises this thread's count
            try:
                lib = ctypes.CDLL("libgomp.so.1")  # the copy torch loaded (same soname)
                lib.omp_set_num_threads.argtypes = [ctypes.c_int]
                lib.omp_get_max_threads.restype = ctypes.c_int
                _omp = lib
            except (OSError, AttributeError):
                _omp = False
        return _omp or None


@contextmanager
def thread_local_torch_threads(n: int) -> Iterator[None]:
    """Within the block, PyTorch operations on the calling thread use ``n`` threads; other
    threads, and threads started later, keep theirs. A no-op where PyTorch's OpenMP runtime is
    not libgomp."""
    import torch

    omp = _openmp()
    if omp is None:
        yield
        return
    torch.get_num_threads()  # this thread's count initialised before it is changed
    before = omp.omp_get_max_threads()
    omp.omp_set_num_threads(n)
    try:
        yield
    finally:
        omp.omp_set_num_threads(before)


def single_threaded_worker() -> None:
    """Thread-pool initializer: this worker's PyTorch operations run on one thread (a pool of
    such workers keeps a small machine's cores busy without intra-op spin-waits, which collapse
    under load). Affects the worker thread alone."""
    import torch

    omp = _openmp()
    if omp is not None:
        torch.get_num_threads()
        omp.omp_set_num_threads(1)


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
