"""Which kernels run the depthwise convolution: one table, read once per op.

``minidl.config.set_cpu_kernels("auto" | "numba" | "numpy")``, ``$MINIDL_CPU_KERNELS`` or
the ``cpu_kernels`` key of minidl.json choose; ``minidl.config.cpu_kernels()`` says which
is active (``"auto"``: the compiled kernels whenever Numba is importable, ``pip install
minidl[fast]``). NumPy arrays go to the chosen kernels; CuPy arrays always take the
reference kernels. Both use up to ``minidl.config.num_threads()`` threads, one when
other processes hold the CPUs (``minidl.kernels.threads``).

>>> import numpy as np, minidl as mdl
>>> select(np).forward.func.__module__ in (
...     "minidl.ops.depthwise.numba_kernels", "minidl.ops.depthwise.reference")
True
"""
import collections
import functools
import importlib

from ... import config
from ...kernels.threads import threads_now
from . import reference

__all__ = ["Kernels", "select", "TABLE"]

Kernels = collections.namedtuple("Kernels", ["forward", "backward", "bias_grad"])
Kernels.__doc__ = """The three array functions one op runs: ``forward(x, kernel, bias,
geo)``, ``backward(x, kernel, g, geo, need_dx, need_dkernel)``, ``bias_grad(g)`` (see
``reference``)."""


def _reference(xp, threads):
    return Kernels(functools.partial(reference.forward, xp, threads=threads),
                   functools.partial(reference.backward, xp, threads=threads),
                   functools.partial(reference.bias_grad, xp))


def _compiled(xp, threads):
    # Numba is an optional extra: its module is imported when first chosen
    compiled = importlib.import_module(".numba_kernels", __package__)
    return Kernels(functools.partial(compiled.forward, threads=threads),
                   functools.partial(compiled.backward, threads=threads),
                   functools.partial(compiled.bias_grad, threads=threads))


TABLE = {"numpy": _reference, "numba": _compiled}  # config.cpu_kernels() -> the kernels


def select(xp):
    """The kernels for arrays of ``xp`` under the current config, threads bound in."""
    choice = config.cpu_kernels() if xp.__name__ == "numpy" else "numpy"
    return TABLE[choice](xp, threads_now(config.num_threads()))
