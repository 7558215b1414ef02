"""Compiled (Numba) batch normalization over rows: ``x (P, C)``, the features contiguous
(channels_last data of any rank with its leading axes flattened); the same formulas as
``minidl.ops.normalization`` (its NumPy code is the reference these are tested against).

- ``statistics(x)``: ``mu = sum_p x / P`` and ``var = sum_p (x - mu)^2 / P`` per feature
  (two passes: the centered second pass keeps the variance exact when ``|mu| >> std``).
- ``affine(x, a, b)``: ``y = x * a + b`` per feature, one pass; the forward's
  ``gamma * (x - mu) * r + beta`` with ``a = gamma * r``, ``b = beta - mu * a``.
- ``backward_sums(g, x, mu)``: ``sum_p g`` and ``sum_p g * (x - mu)`` in one pass.
- ``backward_dx(g, x, a, b, d)``: ``dx = a * g + b * x + d`` per feature, one pass; the
  backward's ``gamma * r * (g - mean(g) - xhat * mean(g * xhat))`` with ``a = gamma * r``,
  ``b = -a * r * mean(g * xhat)``, ``d = -a * mean(g) - b * mu``.

Sums run over ``CHUNKS`` fixed blocks of rows into float64 partials added in block order,
so results do not depend on the thread count.
"""
import numpy as np
from numba import njit, prange

from ._numba import CHUNKS, FLAGS, announce_compile, dynamic

__all__ = ["statistics", "affine", "backward_sums", "backward_dx"]


def statistics(x, threads=1):
    """``(mu, var)`` of ``x (P, C)`` per feature, float64 ``(C,)`` each."""
    with _prepared(x, threads):
        mu = _column_sums(x, CHUNKS) / x.shape[0]
        return mu, _centered_squares(x, mu, CHUNKS) / x.shape[0]


def affine(x, a, b, threads=1):
    """``x * a + b`` per feature, a new array of ``x``'s dtype."""
    y = np.empty_like(x)
    with _prepared(x, threads):
        _affine(x, a.astype(x.dtype), b.astype(x.dtype), y)
    return y


def backward_sums(g, x, mu, threads=1):
    """``(sum_p g, sum_p g * (x - mu))`` per feature, float64 ``(C,)`` each."""
    with _prepared(x, threads):
        return _backward_sums(g, x, mu, CHUNKS)


def backward_dx(g, x, a, b, d, threads=1):
    """``a * g + b * x + d`` per feature, a new array of ``x``'s dtype."""
    dx = np.empty_like(x)
    dtype = x.dtype
    with _prepared(x, threads):
        _backward_dx(g, x, a.astype(dtype), b.astype(dtype), d.astype(dtype), dx)
    return dx


def _prepared(x, threads):
    announce_compile(f"batch normalization ({x.dtype})", _KERNELS)
    return dynamic(threads, x.size)


@njit(cache=True, inline="always")
def _block(k, rows, blocks):
    step = (rows + blocks - 1) // blocks
    return min(rows, k * step), min(rows, (k + 1) * step)


@njit(parallel=True, cache=True, fastmath=FLAGS)
def _column_sums(x, blocks):
    rows, c = x.shape
    partial = np.zeros((blocks, c))
    for k in prange(blocks):
        lo, hi = _block(k, rows, blocks)
        acc = partial[k]
        for i in range(lo, hi):
            row = x[i]
            for j in range(c):
                acc[j] += row[j]
    return _in_order(partial)


@njit(parallel=True, cache=True, fastmath=FLAGS)
def _centered_squares(x, mu, blocks):
    rows, c = x.shape
    partial = np.zeros((blocks, c))
    for k in prange(blocks):
        lo, hi = _block(k, rows, blocks)
        acc = partial[k]
        for i in range(lo, hi):
            row = x[i]
            for j in range(c):
                d = row[j] - mu[j]
                acc[j] += d * d
    return _in_order(partial)


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
        acc_g, acc_gx = partial_g[k], partial_gx[k]
        for i in range(lo, hi):
            g_row, x_row = g[i], x[i]
            for j in range(c):
                acc_g[j] += g_row[j]
                acc_gx[j] += g_row[j] * (x_row[j] - mu[j])
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
    total = np.zeros(partial.shape[1])
    for k in range(partial.shape[0]):
        total += partial[k]
    return total


_KERNELS = (_column_sums, _centered_squares, _affine, _backward_sums, _backward_dx)
