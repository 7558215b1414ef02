"""Interleaved timing shared by the benchmarks.

On a shared 2-core machine the contenders run interleaved in one process (A B A B ...)
and the medians of the per-pair ratios are quoted, so load from elsewhere hits both alike.
Import this module before NumPy: it sets ``OPENBLAS_THREAD_TIMEOUT`` (OpenBLAS threads
spin ~0.1 s after each call and would steal the next contender's core).
"""
import os

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(ours, peer, repeats, warmup=2, clock=timed, peer_clock=None):
    """Interleaved A B A B: medians of our time, the peer's time and per-pair ratios
    (``peer`` may be None). ``clock(fn)`` gives the seconds one call of ``fn`` takes (the
    host timer ``timed`` unless a device timer is passed); ``peer_clock`` defaults to it."""
    peer_clock = peer_clock or clock
    for _ in range(warmup):
        ours()
        if peer is not None:
            peer()
    mine, theirs, ratios = [], [], []
    for _ in range(repeats):
        a = clock(ours)
        mine.append(a)
        if peer is not None:
            b = peer_clock(peer)
            theirs.append(b)
            ratios.append(a / b)
    median = statistics.median
    return (median(mine), median(theirs) if theirs else None,
            median(ratios) if ratios else None)


def geomean(values):
    values = [v for v in values if v is not None]
    return float(np.exp(np.mean(np.log(values)))) if values else None


def machine():
    """One line: CPU model, cores, Python and NumPy versions."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"NumPy {np.__version__}")
