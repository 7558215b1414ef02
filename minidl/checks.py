"""Checks of device data that ride along with the loss read of a training step.

Checking values on a GPU (``bad.any()``) is a device-to-host copy and a wait for the
device. Outside ``deferred()``, ``check`` reads its flag at once. Inside (each training and
test step), it collects the flag, and ``read`` fetches the flags with the step's loss in
the one copy the step makes anyway, then raises the first failed check's error.

>>> import numpy as np
>>> from minidl import checks
>>> with checks.deferred() as pending:
...     checks.check(np.asarray(False), lambda: ValueError("never"))
>>> checks.read(np.asarray(1.5), pending)
1.5
"""
import contextlib
import contextvars

from .backend import backend_of

__all__ = ["check", "deferred", "read"]

# the checks queued inside deferred()
_pending = contextvars.ContextVar("minidl_pending_checks", default=None)


def check(flag, error):
    """Raise ``error()`` when the 0-d boolean array ``flag`` is true: now, or at ``read``
    inside ``deferred()``. ``error`` may read device data (it runs only on failure)."""
    pending = _pending.get()
    if pending is None:
        if bool(flag):
            raise error()
    else:
        pending.append((flag, error))


@contextlib.contextmanager
def deferred():
    """Collect the checks made inside; yields the list that ``read`` takes."""
    pending = []
    token = _pending.set(pending)
    try:
        yield pending
    finally:
        _pending.reset(token)


def read(value, pending=()):
    """``float(value)`` of a 0-d array, with the ``pending`` flags in the same
    device-to-host copy; raises the error of the first flag that is true."""
    if not pending:
        return float(value)
    xp = backend_of(value).xp
    values = xp.stack([value.astype("float64")] + [f.astype("float64") for f, _ in pending])
    host = values.tolist()
    for (_, error), failed in zip(pending, host[1:]):
        if failed:
            raise error()
    return host[0]
