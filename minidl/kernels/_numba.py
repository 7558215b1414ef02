"""What every compiled kernel module shares: Numba's settings, the thread count of a
call, and the one-line notice of a first compile.

Threads: a call takes ``threads.threads_now(threads, work)`` threads (one for small work
or when other processes hold the CPUs). Numba's dynamic scheduling
(``numba.parallel_chunksize``) was measured and not kept: about 2 ms more per call on
2 cores, however small the work. Numba's OpenMP workers spin only briefly after a kernel
(``GOMP_SPINCOUNT``, read when Numba loads libgomp), so a BLAS call that follows does not
share its cores with spinning threads.
"""
import os
import sys

os.environ.setdefault("GOMP_SPINCOUNT", "10000")

import numba  # noqa: E402

from .threads import threads_now  # noqa: E402

__all__ = ["FLAGS", "CHUNKS", "set_threads", "announce_compile"]

FLAGS = {"contract"}  # fastmath: fused multiply-add only (inf and nan keep IEEE meaning)
CHUNKS = 64  # reductions sum over this many fixed chunks of rows, whatever the threads
_announced = set()


def set_threads(count: int, work: "int | None" = None) -> int:
    """Numba's thread count for the calling thread: ``threads_now(count, work)``, capped
    at its pool's size."""
    count = min(threads_now(count, work), numba.config.NUMBA_NUM_THREADS)
    if numba.get_num_threads() != count:
        numba.set_num_threads(count)
    return count


def announce_compile(what: str, dispatchers) -> None:
    """Print one line before ``what`` first compiles in this process: when none of
    ``dispatchers`` has a compiled version yet and Numba's on-disk cache holds none."""
    if what in _announced:
        return
    _announced.add(what)
    if any(d.signatures for d in dispatchers) or all(_cached(d) for d in dispatchers):
        return
    print(f"minidl: compiling the CPU kernels for {what} (once; later runs load them "
          "from the cache; `python -m minidl.kernels --compile` does it ahead of time)",
          file=sys.stderr, flush=True)


def _cached(dispatcher):
    try:
        return os.path.exists(dispatcher._cache._cache_file._index_path)
    except AttributeError:
        return False
