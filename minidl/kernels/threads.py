"""How many threads a kernel call takes now: ``threads_now(configured, work)``.

On a machine shared with other processes, a parallel region waits for its slowest
thread, and a thread whose core another process holds runs only when the scheduler next
gives it a slice. Measured on 2 cores beside a spinning process: a depthwise forward at
32x56x56x64 took 4.4 ms on one thread and 5.5 ms on two (2.2 ms on two when the machine
was idle), a batch normalization statistics pass 0.09 ms on one thread and 11 ms on two,
and a multithreaded BLAS product 5-50x its time. So a call takes more than one thread
only when

- its work has at least ``MIN_WORK_PER_THREAD`` elements per thread (below that, waking
  a thread costs more than it saves), and
- that many CPUs are free: the CPUs this process may use (``config.usable_cpus()``) less
  the CPUs other processes kept busy over the last ``SAMPLE_SECONDS`` or more (the
  machine's busy time from ``/proc/stat`` less this process's own from
  ``/proc/self/stat``, so this process's threads, spinning or not, never count against
  it). Where those files cannot be read, all usable CPUs count as free.

``configured`` is ``minidl.config.num_threads()`` (``$MINIDL_NUM_THREADS``), the most
any call takes.
"""
import os
import time

from .. import config

__all__ = ["threads_now", "free_cpus", "MIN_WORK_PER_THREAD", "SAMPLE_SECONDS"]

MIN_WORK_PER_THREAD = 1 << 16  # elements
SAMPLE_SECONDS = 0.05
BUSY = 0.5  # another process using at least this much of a CPU takes it
_usable = config.usable_cpus()
_state = {"time": None, "busy": None, "own": None, "free": _usable}
try:
    _TICK = 1.0 / os.sysconf("SC_CLK_TCK")
except (AttributeError, ValueError, OSError):
    _TICK = 0.01


def threads_now(configured: int, work: "int | None" = None) -> int:
    """Threads for one call of ``work`` elements (None: no work threshold), at most
    ``configured``, at least 1."""
    count = int(configured)
    if work is not None:
        count = min(count, work // MIN_WORK_PER_THREAD)
    if count <= 1:
        return 1
    return max(1, min(count, free_cpus()))


def free_cpus() -> int:
    """Usable CPUs not kept busy by other processes, re-estimated at most every
    ``SAMPLE_SECONDS``."""
    now = time.monotonic()
    last = _state["time"]
    if last is None or now - last >= SAMPLE_SECONDS:
        busy, own = _read_times()
        if busy is None:
            _state["free"] = _usable
        elif last is not None and _state["busy"] is not None:
            others = max(0.0, (busy - _state["busy"]) - (own - _state["own"])) * _TICK
            taken = int(others / (now - last) + (1 - BUSY))
            _state["free"] = max(1, _usable - taken)
        _state.update(time=now, busy=busy, own=own)
    return _state["free"]


def _read_times():
    """``(busy ticks of the whole machine, busy ticks of this process)``, or
    ``(None, None)``."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = f.readline().split()[1:]
        with open("/proc/self/stat", "rb") as f:
            own = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None, None
    try:
        ticks = [int(v) for v in fields]
        busy = sum(ticks) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)  # less idle
        return busy, int(own[11]) + int(own[12])  # utime + stime
    except (ValueError, IndexError):
        return None, None
