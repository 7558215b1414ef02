"""A NumPy-backed stand-in for CuPy that records every device-to-host read.

``installed()`` puts a ``cupy`` (and ``cupyx``) module made of NumPy into ``sys.modules``
and makes it minidl's ``"cupy"`` backend, so a machine without a GPU runs minidl's CuPy
branches (``cupyx.scipy.special``, the CuPy random generator, the generic ``xp`` kernels
instead of the compiled CPU ones). Its ``ndarray`` is a NumPy subclass that behaves like a
CuPy array where it matters here:

- reductions give 0-d arrays, and ``cupy.asarray`` copies host data;
- a NumPy array as an operand of a function or ufunc next to device arrays raises
  TypeError, as do ``numpy.testing`` comparisons of device arrays (CuPy refuses the
  implicit conversion); NumPy index arrays are accepted, as CuPy converts them;
- functions CuPy 13 lacks (``MISSING``) are absent;
- each call that would copy device memory to the host on a GPU (``.get()``, ``.item()``,
  ``.tolist()``, ``float()``/``int()``/``bool()`` of an array, ``cupy.asnumpy``), or wait
  for the device to learn an output's size (a boolean mask as an index, ``nonzero`` and
  its kin, ``SIZED``), is recorded with the minidl function that made it (``reads()``).

It is not an emulator: dtype promotion, out-of-bounds indexing and speed are NumPy's, and
``numpy.asarray(device_array)`` works here (CuPy raises), being no call it can see.
"""
import contextlib
import sys
import traceback
import types

import numpy as np
import scipy.special

from minidl import backend as _backend
from minidl import random as _random

MISSING = {"put_along_axis", "errstate"}  # NumPy functions that CuPy 13 does not have
SIZED = {"nonzero", "flatnonzero", "argwhere", "unique", "extract"}  # output size: a wait
_reads = None  # a list while reads() records


def _record(kind):
    if _reads is None:
        return
    for frame in reversed(traceback.extract_stack()[:-2]):
        if "/minidl/" in frame.filename.replace("\\", "/"):
            where = frame.filename.replace("\\", "/").split("/minidl/")[-1]
            _reads.append((kind, f"{where}:{frame.name}"))
            return
    _reads.append((kind, "outside minidl"))


def _mixing_check(values, what):
    """CuPy refuses NumPy arrays as operands of its functions and ufuncs."""
    for v in values:
        if isinstance(v, (list, tuple)):
            _mixing_check(v, what)
        elif isinstance(v, np.ndarray) and not isinstance(v, ndarray):
            raise TypeError(f"{what}: a NumPy array mixed with device arrays (CuPy raises "
                            "here; move it with cupy.asarray, or read back with .get())")


def _testing_check(what):
    """NumPy's testing functions convert their arguments to NumPy arrays, which CuPy
    refuses (TypeError): compare ``.get()`` copies instead."""
    frame = sys._getframe(2)
    for _ in range(6):
        if frame is None:
            return
        if "numpy/testing" in frame.f_code.co_filename.replace("\\", "/"):
            raise TypeError(f"{what}: numpy.testing given a device array (CuPy refuses "
                            "the implicit conversion; compare host copies)")
        frame = frame.f_back


def _plain(value):
    if isinstance(value, ndarray):
        return value.view(np.ndarray)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


class ndarray(np.ndarray):
    """A "device" array: NumPy memory, CuPy's host-read points and operand rules."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.get("out")
        _testing_check(ufunc.__name__)
        # the indices of ufunc.at are host arrays: they pass
        operands = inputs[:1] + inputs[2:] if method == "at" else inputs
        _mixing_check(operands + (out or ()), f"{ufunc.__name__}.{method}")
        if out:
            kwargs["out"] = _plain(out)
        result = getattr(ufunc, method)(*_plain(inputs), **kwargs)
        if out:
            return out[0] if len(out) == 1 else out
        return _device(result)

    def __array_function__(self, func, types, args, kwargs):
        _testing_check(func.__name__)
        _mixing_check(tuple(args) + tuple(kwargs.values()), func.__name__)
        return _device(func(*_plain(args), **{k: _plain(v) for k, v in kwargs.items()}))

    def _host(self):
        return self.view(np.ndarray)

    def __getitem__(self, index):
        parts = index if isinstance(index, tuple) else (index,)
        if any(isinstance(p, np.ndarray) and p.dtype == bool for p in parts):
            _record("mask")
        return super().__getitem__(index)

    def nonzero(self):
        _record("nonzero")
        return _device(self._host().nonzero())

    def get(self):
        _record("get")
        return self._host().copy()

    def item(self, *args):
        _record("item")
        return self._host().item(*args)

    def tolist(self):
        _record("tolist")
        return self._host().tolist()

    def __float__(self):
        _record("float")
        return float(self._host())

    def __int__(self):
        _record("int")
        return int(self._host())

    def __index__(self):
        _record("index")
        return self._host().__index__()

    def __bool__(self):
        _record("bool")
        return bool(self._host())


ndarray.__module__ = "cupy"  # minidl's backend_of recognizes CuPy arrays by their class


def _device(value):
    """Results as device arrays; NumPy scalars become 0-d arrays, as CuPy's reductions."""
    if isinstance(value, np.generic):
        return np.asarray(value).view(ndarray)
    if isinstance(value, np.ndarray) and not isinstance(value, ndarray):
        return value.view(ndarray)
    if isinstance(value, tuple):
        return tuple(_device(v) for v in value)
    if isinstance(value, list):
        return [_device(v) for v in value]
    return value


def _on_device(fn, read=None):
    """``fn`` returning device arrays; ``read`` names the host read it makes, if any."""
    def call(*args, **kwargs):
        if read:
            _record(read)
        return _device(fn(*args, **kwargs))
    call.__name__ = getattr(fn, "__name__", "call")
    return call


class _Module(types.ModuleType):
    """A module whose functions are ``source``'s, returning device arrays."""

    def __init__(self, name, source, **extra):
        super().__init__(name)
        self._source = source
        self.__dict__.update(extra)

    def __getattr__(self, name):
        if self.__name__ == "cupy" and name in MISSING:
            raise AttributeError(f"module 'cupy' has no attribute {name!r} (CuPy 13)")
        attr = getattr(self._source, name)
        if isinstance(attr, types.ModuleType):
            attr = _Module(f"{self.__name__}.{name}", attr)
        elif callable(attr) and not isinstance(attr, (type, np.ufunc)):
            attr = _on_device(attr, name if name in SIZED else None)  # ufuncs need not
        setattr(self, name, attr)
        return attr


class _Generator:
    """``cupy.random.Generator``: NumPy's draws, returned on the device."""

    def __init__(self, seed):
        self._generator = np.random.default_rng(seed)

    def __getattr__(self, name):
        return _on_device(getattr(self._generator, name))


def _asarray(a, dtype=None, order=None):
    """``cupy.asarray``: a device array stays itself; host data is copied to the device."""
    if isinstance(a, ndarray):
        return np.asarray(a, dtype=dtype, order=order).view(ndarray)
    return np.array(a, dtype=dtype, order=order, copy=True).view(ndarray)


def _asnumpy(array):
    _record("asnumpy")
    return np.array(array.view(np.ndarray) if isinstance(array, ndarray) else array)


cupy = _Module("cupy", np, ndarray=ndarray, asarray=_asarray, asnumpy=_asnumpy,
               random=_Module("cupy.random", np.random, default_rng=_Generator))
cupyx = _Module("cupyx", types.ModuleType("cupyx"))
cupyx.scipy = _Module("cupyx.scipy", types.ModuleType("cupyx.scipy"))
cupyx.scipy.special = _Module("cupyx.scipy.special", scipy.special)
_MODULES = {"cupy": cupy, "cupyx": cupyx, "cupyx.scipy": cupyx.scipy,
            "cupyx.scipy.special": cupyx.scipy.special}


@contextlib.contextmanager
def installed():
    """Inside: ``backend="cupy"`` runs on this stand-in; restored afterwards."""
    saved = {name: sys.modules.get(name) for name in _MODULES}
    saved_backend = _backend._backends.get("cupy")
    saved_default = _backend._default
    sys.modules.update(_MODULES)
    _backend._backends["cupy"] = _backend.Backend("cupy", cupy)
    _random._generators.pop("cupy", None)
    try:
        yield cupy
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        if saved_backend is None:
            _backend._backends.pop("cupy", None)
        else:
            _backend._backends["cupy"] = saved_backend
        _backend._default = saved_default
        _random._generators.pop("cupy", None)


@contextlib.contextmanager
def reads():
    """Inside: the device-to-host reads, as ``(kind, "module.py:function")`` pairs."""
    global _reads
    previous, _reads = _reads, []
    try:
        yield _reads
    finally:
        _reads = previous
