"""BLAS's thread count under minidl's control: ``one_blas_thread()``, a context in which
NumPy's OpenBLAS runs on one thread (see ``minidl.ops.products`` for why). The controls
are OpenBLAS's ``openblas_set_num_threads`` / ``openblas_get_num_threads`` (with the
prefixes and suffixes of NumPy's bundled ``scipy_openblas`` build), found in the library
NumPy loaded; where they are not found the context does nothing.
"""
import contextlib
import ctypes
import glob
import os
import threading
from collections.abc import Iterator

import numpy

__all__ = ["one_blas_thread"]

_lock = threading.Lock()
_depth = 0  # callers inside one_blas_thread
_saved = None  # BLAS's thread count before the first of them entered
_controls = None  # (get, set) of the BLAS NumPy loaded, () when not found


@contextlib.contextmanager
def one_blas_thread() -> "Iterator[None]":
    """Inside, BLAS (NumPy's OpenBLAS, when its controls are found) runs on one thread;
    the count it had is restored when the last caller leaves."""
    global _depth, _saved
    get, set_ = _blas_controls() or (None, None)
    if get is None:
        yield
        return
    with _lock:
        if _depth == 0:
            _saved = get()
            set_(1)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                set_(_saved)


def _blas_controls():
    """``(get_num_threads, set_num_threads)`` of the OpenBLAS NumPy bundles, or ()."""
    global _controls
    if _controls is None:
        libs = os.path.join(os.path.dirname(numpy.__file__), os.pardir, "numpy.libs")
        found = (_thread_functions(path)
                 for path in glob.glob(os.path.join(libs, "*openblas*")))
        _controls = next((pair for pair in found if pair), ())
    return _controls


def _thread_functions(path):
    """``(get_num_threads, set_num_threads)`` of the OpenBLAS library at ``path``, or
    ()."""
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return ()
    for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""),
                           ("openblas", "64_"), ("openblas", "")):
        get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
        set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
        if get is not None and set_ is not None:
            return get, set_
    return ()
