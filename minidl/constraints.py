"""Weight constraints with Keras 3's names, defaults and formulas.

A constraint is called as ``c(w)`` and returns the projected weight, of the same kind it
was given: a Tensor (computed with minidl ops) or a backend array (the optimizer's path,
computed without recording anything). Norms are L2 norms over ``axis`` (keepdims), and
``eps = config.epsilon()``.

Which ``axis`` constrains each filter (the incoming weights of one output unit):

- ``Dense`` kernel ``(input_dim, units)``: ``axis=0`` (the default);
- ``Conv2D`` kernel ``(kh, kw, in_channels, filters)``, channels_last: ``axis=[0, 1, 2]``
  (Conv1D ``[0, 1]``);
- ``DepthwiseConv2D`` kernel ``(kh, kw, in_channels, depth_multiplier)``: ``axis=[0, 1]``
  (each channel's filter for each multiplier);
- ``SeparableConv2D`` pointwise kernel ``(1, 1, in_channels * depth_multiplier, filters)``:
  ``axis=[0, 1, 2]``.

>>> import numpy as np, minidl as mdl
>>> mdl.constraints.NonNeg()(np.array([-1.0, 2.0]))
array([-0.,  2.])
"""
import math

import numpy

from . import config
from .autograd import Tensor, no_grad
from .identifiers import Configurable, Family
from .ops import math as M
from .ops.reduction import sum as _sum

__all__ = ["Constraint", "MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm", "get", "serialize",
           "deserialize"]


def _number(value, name, minimum=0.0):
    if isinstance(value, bool) or not isinstance(value, (int, float, numpy.number)) or \
            not math.isfinite(value) or value < minimum:
        raise ValueError(f"{name}={value!r} must be a finite number >= {minimum}")
    return float(value)


def _axis(axis):
    if isinstance(axis, (list, tuple)):
        if not axis or not all(isinstance(a, int) and not isinstance(a, bool)
                               for a in axis):
            raise ValueError(f"axis={axis!r} must be an int or a non-empty list of ints")
        return list(axis)
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise ValueError(f"axis={axis!r} must be an int or a non-empty list of ints")
    return axis


class Constraint(Configurable):
    """Base class. Subclasses implement ``project(w)`` on a Tensor with minidl ops;
    ``__call__`` accepts a Tensor or an array and returns the same kind."""

    def __call__(self, w):
        if isinstance(w, Tensor):
            return self.project(w)
        with no_grad():
            return self.project(Tensor._wrap(w)).data

    def project(self, w):
        return w


def _norms(w, axis):
    return M.sqrt(_sum(M.square(w), axis=axis, keepdims=True))


class MaxNorm(Constraint):
    """Scale each filter down to norm at most ``max_value``.

    ``w * clip(norms, 0, max_value) / (eps + norms)``.

    Args:
        max_value: the largest allowed norm (2).
        axis: int or list of ints over which the norm of each filter is taken (0 for a
            Dense kernel, [0, 1, 2] for a Conv2D or pointwise kernel, [0, 1] for a
            depthwise kernel).
    """

    def __init__(self, max_value: float = 2, axis: int = 0) -> None:
        self.max_value = _number(max_value, "max_value")
        self.axis = _axis(axis)

    def project(self, w):
        norms = _norms(w, self.axis)
        desired = M.clip(norms, 0.0, self.max_value)
        return w * (desired / (config.epsilon() + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Zero the negative entries: ``w * (w >= 0)``."""

    def project(self, w):
        return w * Tensor._wrap((w.data >= 0).astype(w.dtype))


class UnitNorm(Constraint):
    """Scale each filter to unit norm: ``w / (eps + norms)``.

    Args:
        axis: int or list of ints over which the norm of each filter is taken (0 for a
            Dense kernel, [0, 1, 2] for a Conv2D or pointwise kernel, [0, 1] for a
            depthwise kernel).
    """

    def __init__(self, axis: int = 0) -> None:
        self.axis = _axis(axis)

    def project(self, w):
        return w / (config.epsilon() + _norms(w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Move each filter's norm into ``[min_value, max_value]`` at speed ``rate``.

    ``desired = rate * clip(norms, min_value, max_value) + (1 - rate) * norms`` and the
    result is ``w * desired / (eps + norms)``.

    Args:
        min_value: the smallest allowed norm (0.0).
        max_value: the largest allowed norm (1.0).
        rate: in ``[0, 1]``; 1.0 enforces the bounds exactly (1.0).
        axis: int or list of ints over which the norm of each filter is taken (0 for a
            Dense kernel, [0, 1, 2] for a Conv2D or pointwise kernel, [0, 1] for a
            depthwise kernel).

    Raises:
        ValueError: when ``min_value > max_value`` or ``rate`` is outside ``[0, 1]``.
    """

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0,
                 axis: int = 0) -> None:
        self.min_value = _number(min_value, "min_value")
        self.max_value = _number(max_value, "max_value")
        if self.min_value > self.max_value:
            raise ValueError(f"min_value={min_value!r} must be <= max_value={max_value!r}")
        self.rate = _number(rate, "rate")
        if self.rate > 1:
            raise ValueError(f"rate={rate!r} must be in [0, 1]")
        self.axis = _axis(axis)

    def project(self, w):
        norms = _norms(w, self.axis)
        desired = self.rate * M.clip(norms, self.min_value, self.max_value) + \
            (1.0 - self.rate) * norms
        return w * (desired / (config.epsilon() + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value,
                "rate": self.rate, "axis": self.axis}


_family = Family("constraint", module="keras.constraints", base=Constraint)
for _cls in (Constraint, MaxNorm, NonNeg, UnitNorm, MinMaxNorm):
    _family.register(_cls)


def get(identifier, custom_objects: dict | None = None):
    """A constraint from a name (``"max_norm"``, ``"non_neg"``), a config dict, an instance
    or a callable ``f(w) -> w``; None gives None.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    return _family.get(identifier, custom_objects)


def serialize(constraint) -> dict | str | None:
    """Keras 3's ``{"module", "class_name", "config", "registered_name"}`` form."""
    return _family.serialize(constraint)


def deserialize(config, custom_objects: dict | None = None):
    return _family.deserialize(config, custom_objects)
