"""Array backends: NumPy (CPU) and CuPy (GPU) behind one small interface.

Every op works on ``backend.xp`` (the array module), so the NumPy tests run the same
lines that CuPy runs. A backend is chosen per tensor (``backend=``), with a process-wide
default set by ``set_backend``, ``$MINIDL_BACKEND`` or ``minidl.json``; ``use_backend``
changes it inside a block for the calling thread only.

>>> import minidl as mdl
>>> mdl.get_backend().name
'numpy'
>>> mdl.get_backend() == "numpy"
True
"""
import contextlib
import contextvars
import os

import numpy

from . import config

__all__ = ["Backend", "get_backend", "set_backend", "use_backend", "backend_of",
           "resolve", "available_backends"]

NAMES = ("numpy", "cupy")


class Backend:
    """One array library: ``xp`` (its array module) plus host/device transfer.

    Compares equal to its name, so ``tensor.backend == "cupy"`` reads naturally.
    """

    def __init__(self, name: str, xp) -> None:
        self.name = name
        self.xp = xp

    def asarray(self, data, dtype=None):
        """``data`` (host or device array, list, scalar) as an array of this backend."""
        if self.name == "numpy" and _is_cupy_array(data):
            data = data.get()
        return self.xp.asarray(data, dtype=dtype)

    def to_numpy(self, array):
        """A host NumPy copy of ``array``."""
        if self.name == "cupy":
            return self.xp.asnumpy(array)
        return numpy.array(array, copy=True)

    def owns(self, array):
        return isinstance(array, self.xp.ndarray)

    def __eq__(self, other):
        if isinstance(other, Backend):
            return other.name == self.name
        return isinstance(other, str) and other == self.name

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return f"Backend({self.name!r})"


_NUMPY = Backend("numpy", numpy)
_backends = {"numpy": _NUMPY}


def _is_cupy_array(data):
    cls = type(data)
    return cls.__module__.startswith("cupy") and cls.__name__ == "ndarray"


def _load_cupy():
    try:
        import cupy
    except ImportError as err:
        raise RuntimeError(
            "backend='cupy' needs CuPy, which is not installed. Install the build for your "
            "CUDA version: pip install 'minidl[cuda12]' (CUDA 12) or 'minidl[cuda13]' "
            f"(CUDA 13). ({err})") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # CUDARuntimeError without a driver
        raise RuntimeError(
            "backend='cupy': CuPy is installed but no CUDA GPU is usable here "
            f"({err}). Use backend='numpy', or run on a machine with an NVIDIA GPU "
            "and driver.") from None
    if count == 0:
        raise RuntimeError("backend='cupy': CuPy is installed but no CUDA GPU was found. "
                           "Use backend='numpy' on this machine.")
    return Backend("cupy", cupy)


def resolve(backend: str | Backend | None = None) -> Backend:
    """The ``Backend`` for a name, a Backend, or ``None`` (the current default)."""
    if backend is None:
        return get_backend()
    if isinstance(backend, Backend):
        return backend
    if not isinstance(backend, str) or backend.lower() not in NAMES:
        raise ValueError(f"backend={backend!r} is not one of {NAMES}")
    name = backend.lower()
    if name not in _backends:
        _backends[name] = _load_cupy()
    return _backends[name]


def available_backends() -> list[str]:
    """Names of the backends usable on this machine."""
    names = ["numpy"]
    try:
        resolve("cupy")
        names.append("cupy")
    except RuntimeError:
        pass
    return names


def is_array(data):
    """True for a NumPy or a CuPy array."""
    return backend_of(data).owns(data)


def backend_of(array) -> Backend:
    """The backend that owns ``array`` (NumPy for anything that is not a CuPy array)."""
    if type(array) is numpy.ndarray:  # the common case, checked first for speed
        return _NUMPY
    if _is_cupy_array(array):
        return resolve("cupy")
    return _NUMPY


_default = None   # the process-wide default (set_backend)
_scoped = contextvars.ContextVar("minidl_backend", default=None)  # use_backend, per thread


def get_backend() -> Backend:
    """The default backend: the one new tensors, layers and models use (this thread's
    ``use_backend`` block, else the process-wide ``set_backend`` choice)."""
    global _default
    scoped = _scoped.get()
    if scoped is not None:
        return scoped
    if _default is None:
        name = os.environ.get("MINIDL_BACKEND") or config.get("backend", "numpy")
        _default = resolve(name)
    return _default


def set_backend(name: str | Backend | None) -> Backend:
    """Set the default backend of every thread (``"numpy"`` or ``"cupy"``); returns the
    Backend. Inside a ``use_backend`` block, the block's backend stays in force until it
    ends."""
    global _default
    _default = resolve(name)
    return _default


@contextlib.contextmanager
def use_backend(name: str | Backend | None):
    """``with use_backend("cupy"): ...`` makes ``name`` the default inside the block, for
    the calling thread only (another thread keeps its own default)."""
    backend = resolve(name)
    previous = _scoped.get()
    _scoped.set(backend)
    try:
        yield backend
    finally:
        _scoped.set(previous)
