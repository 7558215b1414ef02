"""Compiled (Numba) gradient of ``clip`` (the ReLU6 of small CNNs): one pass over flat
contiguous arrays; ``minidl.ops.math.Clip``'s NumPy code is the reference.

``clip_grad(x, g, lo, hi, strict)``: ``g * mask`` with ``mask`` 1 where ``lo <= x <= hi``
(``lo < x < hi`` when ``strict``) and 0 elsewhere, as the reference's product (so a NaN
in ``g`` stays NaN, and a NaN in ``x`` is outside). An absent bound is an infinity.
Measured at 64x28x28x64 float32 on 2 cores: 2.1 ms on one thread and 1.1 ms on two,
against 2.8 ms for the reference's two comparisons, ``logical_and`` and product.
"""
import numpy as np
from numba import njit, prange

from ._numba import CHUNKS, announce_compile, set_threads

__all__ = ["clip_grad"]
_seen = set()


def clip_grad(x: np.ndarray, g: np.ndarray, lo: "float | None", hi: "float | None",
              strict: bool, threads: int = 1) -> np.ndarray:
    """The gradient of ``clip(x, lo, hi)`` for the output gradient ``g`` (``x``'s shape
    and dtype, both C-contiguous): a new array."""
    if x.dtype.char not in _seen:
        _seen.add(x.dtype.char)
        announce_compile(f"clip ({x.dtype})", (_clip_grad,))
    set_threads(threads, x.size)
    dx = np.empty_like(g)
    dtype = x.dtype.type
    lo = dtype(-np.inf if lo is None else lo)
    hi = dtype(np.inf if hi is None else hi)
    _clip_grad(x.reshape(-1), g.reshape(-1), lo, hi, strict, dx.reshape(-1))
    return dx


@njit(parallel=True, cache=True)
def _clip_grad(x, g, lo, hi, strict, dx):
    n = x.size
    step = (n + CHUNKS - 1) // CHUNKS
    one = dx.dtype.type(1)
    for block in prange(CHUNKS):
        start, stop = block * step, min(n, (block + 1) * step)
        if strict:
            for i in range(start, stop):
                dx[i] = g[i] * (one * ((x[i] > lo) & (x[i] < hi)))
        else:
            for i in range(start, stop):
                dx[i] = g[i] * (one * ((x[i] >= lo) & (x[i] <= hi)))
