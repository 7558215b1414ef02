"""Compiled (Numba) batch normalization over rows: ``x (P, C)``, the features contiguous
(channels_last data of any rank with its leading axes flattened); the same formulas as
``minidl.ops.normalization`` (its NumPy code is the reference these are tested against).

- ``statistics(x)``: ``mu = sum_p x / P`` and ``var = sum_p (x - mu)^2 / P`` per feature,
  in one pass: sums of ``d = x - x[0]`` and ``d^2`` in float64, then ``mu = x[0] +
  mean(d)``, ``var = mean(d^2) - mean(d)^2`` (shifted by a sample of the data, so there is
  no cancellation when ``|mu| >> std``).
- ``affine(x, a, b)``: ``y = x * a + b`` per feature, one pass; the forward's
  ``gamma * (x - mu) * r + beta`` with ``a = gamma * r``, ``b = beta - mu * a``.
- ``backward_sums(g, x, mu)``: ``sum_p g`` and ``sum_p g * (x - mu)`` in one pass.
- ``backward_dx(g, x, a, b, d)``: ``dx = a * g + b * x + d`` per feature, one pass; the
  backward's ``gamma * r * (g - mean(g) - xhat * mean(g * xhat))`` with ``a = gamma * r``,
  ``b = -a * r * mean(g * xhat)``, ``d = -a * mean(g) - b * mu``.

Sums run over fixed blocks of rows (``CHUNKS``, fewer for short inputs; the count depends
only on the shape) into float64 partials added in block order, so results do not depend
on the thread count.
"""
import numpy as np
from numba import njit, prange

from ._numba import CHUNKS, FLAGS, announce_compile, set_threads

__all__ = ["statistics", "affine", "backward_sums", "backward_dx"]


def statistics(x: np.ndarray, threads: int = 1) -> "tuple[np.ndarray, np.ndarray]":
    """``(mu, var)`` of ``x (P, C)`` per feature, float64 ``(C,)`` each."""
    x = np.ascontiguousarray(x)
    shift = x[0].astype(np.float64)
    _prepare(x, threads)
    sums, squares = _shifted_sums(x, shift, _blocks(x.shape[0])) / x.shape[0]
    return shift + sums, np.maximum(squares - sums * sums, 0.0)


def affine(x: np.ndarray, a: np.ndarray, b: np.ndarray, threads: int = 1) -> np.ndarray:
    """``x * a + b`` per feature, a new array of ``x``'s dtype."""
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    _prepare(x, threads)
    _affine(x, a.astype(x.dtype), b.astype(x.dtype), y)
    return y


def backward_sums(g: np.ndarray, x: np.ndarray, mu: np.ndarray,
                  threads: int = 1) -> "tuple[np.ndarray, np.ndarray]":
    """``(sum_p g, sum_p g * (x - mu))`` per feature, float64 ``(C,)`` each."""
    g, x = np.ascontiguousarray(g), np.ascontiguousarray(x)
    _prepare(x, threads)
    return _backward_sums(g, x, mu, _blocks(x.shape[0]))


def backward_dx(g: np.ndarray, x: np.ndarray, a: np.ndarray, b: np.ndarray, d: np.ndarray,
                threads: int = 1) -> np.ndarray:
    """``a * g + b * x + d`` per feature, a new array of ``x``'s dtype."""
    g, x = np.ascontiguousarray(g), np.ascontiguousarray(x)
    dx = np.empty_like(x)
    dtype = x.dtype
    _prepare(x, threads)
    _backward_dx(g, x, a.astype(dtype), b.astype(dtype), d.astype(dtype), dx)
    return dx


def _prepare(x, threads):
    if x.dtype.char not in _seen:
        _seen.add(x.dtype.char)
        announce_compile(f"batch normalization ({x.dtype})", _KERNELS)
    set_threads(threads, x.size)


def _blocks(rows):
    """Fixed blocks of rows for a sum: ``CHUNKS``, fewer for short inputs (at least 64
    rows a block), so small layers do not pay for empty partials."""
    return max(1, min(CHUNKS, rows // 64))


@njit(cache=True, inline="always")
def _block(k, rows, blocks):
    step = (rows + blocks - 1) // blocks
    return min(rows, k * step), min(rows, (k + 1) * step)


@njit(parallel=True, cache=True, fastmath=FLAGS)
def _shifted_sums(x, shift, blocks):
    rows, c = x.shape
    partial = np.zeros((blocks, 2, c))
    for k in prange(blocks):
        lo, hi = _block(k, rows, blocks)
        acc, acc2 = np.zeros(c), np.zeros(c)  # local: the loop vectorizes (2.5x)
        for i in range(lo, hi):
            row = x[i]
            for j in range(c):
                d = row[j] - shift[j]
                acc[j] += d
                acc2[j] += d * d
        partial[k, 0], partial[k, 1] = acc, acc2
    return _in_order(partial.reshape(blocks, 2 * c)).reshape(2, c)


@njit(parallel=True, cache=True, fastmath=FLAGS)
def _affine(x, a, b, y):
    rows, c = x.shape
    for k in prange(CHUNKS):
        lo, hi = _block(k, rows, CHUNKS)
        for i in range(lo, hi):
            row, out = x[i], y[i]
            for j in range(c):
                out[j] = row[j] * a[j] + b[j]


@njit(parallel=True, cache=True, fastmath=FLAGS)
def _backward_sums(g, x, mu, blocks):
    rows, c = x.shape
    partial_g = np.zeros((blocks, c))
    partial_gx = np.zeros((blocks, c))
    for k in prange(blocks):
        lo, hi = _block(k, rows, blocks)
        acc_g, acc_gx = np.zeros(c), np.zeros(c)
        for i in range(lo, hi):
            g_row, x_row = g[i], x[i]
            for j in range(c):
                acc_g[j] += g_row[j]
                acc_gx[j] += g_row[j] * (x_row[j] - mu[j])
        partial_g[k], partial_gx[k] = acc_g, acc_gx
    return _in_order(partial_g), _in_order(partial_gx)


@njit(parallel=True, cache=True, fastmath=FLAGS)
def _backward_dx(g, x, a, b, d, dx):
    rows, c = x.shape
    for k in prange(CHUNKS):
        lo, hi = _block(k, rows, CHUNKS)
        for i in range(lo, hi):
            g_row, x_row, out = g[i], x[i], dx[i]
            for j in range(c):
                out[j] = a[j] * g_row[j] + b[j] * x_row[j] + d[j]


@njit(cache=True)
def _in_order(partial):
    """The blocks' partial sums ``(blocks, n)`` added in block order (explicit loops:
    an array ``+=`` per block allocates, about 1 us each)."""
    blocks, n = partial.shape
    total = np.zeros(n)
    for k in range(blocks):
        for j in range(n):
            total[j] += partial[k, j]
    return total


_seen = set()  # dtype characters announced
_KERNELS = (_shifted_sums, _affine, _backward_sums, _backward_dx)
