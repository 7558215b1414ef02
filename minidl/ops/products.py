"""The matrix products of convolutions on NumPy, with BLAS's threads under minidl's
control: ``rows_times(xp, a, w)`` is ``a @ w`` and ``rows_t_times(xp, a, g)`` is ``a.T @
g``, for ``a (P, K)`` with many rows (pixels) and few columns (channels).

A multithreaded BLAS call on such shapes splits its work in fixed parts between its
threads and waits for the slowest: when another process holds one of the cores, one
thread is descheduled and the call takes 5-50x longer (measured on 2 shared cores: a
28x28 training step went from 0.1-0.15 s to 0.7-1.1 s). So a product takes BLAS's own
threads only while ``minidl.kernels.threads.threads_now`` finds the CPUs free; otherwise
BLAS runs on one thread. Products under ``MIN_ROWS`` rows always take one thread. Products
of under ``TINY_WORK`` multiply-adds skip the thread switch (2 us, more than such a product
costs): OpenBLAS runs them on one thread anyway (its gemm threads from 65536 x
``GEMM_MULTITHREAD_THRESHOLD`` multiply-adds, its gemv from 2304 x that). Other array
modules (CuPy) take one ordinary product.

>>> import numpy as np
>>> a, g = np.ones((5000, 2)), np.ones((5000, 3))
>>> rows_t_times(np, a, g)
array([[5000., 5000., 5000.],
       [5000., 5000., 5000.]])
"""
from typing import Any

from .. import config
from ..kernels.blas import one_blas_thread
from ..kernels.threads import threads_now

__all__ = ["rows_times", "rows_t_times", "column_sums", "MIN_ROWS", "TINY_WORK"]

Array = Any  # a NumPy or CuPy array
MIN_ROWS = 4096  # fewer rows: BLAS on one thread
TINY_WORK = 8192  # fewer multiply-adds: BLAS on one thread by itself


def rows_times(xp, a: "Array", w: "Array") -> "Array":
    """``a @ w`` for ``a (P, K)`` and ``w (K, F)``: ``(P, F)``."""
    return _product(xp, a, w, a.shape[0])


def rows_t_times(xp, a: "Array", g: "Array") -> "Array":
    """``a.T @ g`` for ``a (P, K)`` and ``g (P, F)``: ``(K, F)``."""
    return _product(xp, a.T, g, a.shape[0])


def column_sums(xp, a: "Array") -> "Array":
    """``a (P, K)`` summed over its rows, ``(K,)``: one product with a vector of ones
    (several times faster than NumPy's strided reduction)."""
    return _product(xp, xp.ones(a.shape[0], dtype=a.dtype), a, a.shape[0])


def _product(xp, a, b, rows):
    if xp.__name__ != "numpy" or a.size * b.shape[-1] < TINY_WORK:
        return a @ b
    if rows >= MIN_ROWS and threads_now(config.num_threads()) > 1:
        return a @ b
    with one_blas_thread():
        return a @ b
