"""What every compiled kernel module shares: Numba's settings, the thread count of a
call, and the one-line notice of a first compile.

Threads: a kernel runs on ``threads`` threads only when it has at least
``MIN_WORK_PER_THREAD`` elements per thread (below that, waking a second thread costs
more than it saves); parallel loops hand out their chunks dynamically
(``numba.set_parallel_chunksize``), so a thread descheduled by another process delays
only its own chunk, not a fixed half of the work (``dynamic``: the loops
run ``prange`` over blocks of rows under ``numba.parallel_chunksize(1)``). Numba's OpenMP workers spin only
briefly after a kernel (``GOMP_SPINCOUNT``, read when Numba loads libgomp), so a BLAS
call that follows does not share its cores with spinning threads.
"""
import os
import sys

os.environ.setdefault("GOMP_SPINCOUNT", "10000")

import numba  # noqa: E402

__all__ = ["FLAGS", "CHUNKS", "MIN_WORK_PER_THREAD", "set_threads", "dynamic",
           "announce_compile"]

FLAGS = {"contract"}  # fastmath: fused multiply-add only (inf and nan keep IEEE meaning)
CHUNKS = 64  # reductions sum over this many fixed chunks of rows, whatever the threads
MIN_WORK_PER_THREAD = 1 << 15  # elements; fewer per thread and a kernel runs on one
_announced = set()


def set_threads(count, work=None):
    """Numba's thread count for the calling thread: ``count`` capped at its pool's size,
    and at one thread per ``MIN_WORK_PER_THREAD`` elements of ``work``."""
    count = max(1, min(int(count), numba.config.NUMBA_NUM_THREADS))
    if work is not None:
        count = max(1, min(count, work // MIN_WORK_PER_THREAD))
    if numba.get_num_threads() != count:
        numba.set_num_threads(count)
    return count


def dynamic(threads, work):
    """A context for one kernel call: ``set_threads(threads, work)``, and the chunks of
    its ``prange`` loops handed out one at a time as threads free up."""
    set_threads(threads, work)
    return numba.parallel_chunksize(1)


def announce_compile(what, dispatchers):
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
