"""Thread settings the library may touch: its own threads' only.

The library changes no process-wide state. :func:`thread_local_torch_threads` sets PyTorch's
intra-op thread count (OpenMP's ``nthreads``) for the calling thread only:
``torch.set_num_threads`` would also change the default of every thread started later. The
segmenter runs its networks on single-threaded worker threads of its own
(:func:`single_threaded_worker`) and sets only their count (and its own thread's, restored on
exit). Process-wide tuning belongs to the ``speechmusic`` command (:mod:`speechmusic.cli._process`).
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["thread_local_torch_threads", "single_threaded_worker"]

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
