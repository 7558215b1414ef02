"""Weight regularizers with Keras 3's names, defaults and formulas.

A regularizer is called as ``reg(w)`` on a Tensor (or array) and returns a scalar Tensor
built from minidl ops, so the penalty is on the tape and its gradient reaches ``w``:

- ``L1(l1=0.01)``: ``l1 * sum(|w|)``
- ``L2(l2=0.01)``: ``l2 * sum(w**2)`` (no factor 1/2, as Keras)
- ``L1L2(l1=0.0, l2=0.0)``: the sum of both
- ``OrthogonalRegularizer(factor=0.01, mode="rows")``: for a rank-2 ``w``, rows (or
  columns) are L2-normalized, ``p = |w_n w_n^T|`` off the diagonal, and the penalty is
  ``factor * 0.5 * sum(p) / (size * (size - 1) / 2)`` with ``size`` the number of rows
  (columns).

>>> import numpy as np, minidl as mdl
>>> float(mdl.regularizers.get("l1_l2")(np.array([1.0, -2.0])))
0.0
>>> float(mdl.regularizers.L2(0.5)(np.array([1.0, -2.0])))
2.5
"""
import math

import numpy

from . import config
from .autograd import Tensor, as_tensor
from .identifiers import Configurable, Family
from .ops import math as M
from .ops.reduction import sum as _sum

__all__ = ["Regularizer", "L1", "L2", "L1L2", "OrthogonalRegularizer", "get",
           "serialize", "deserialize"]


def _factor(value, name, default=0.0):
    """A non-negative float; None means ``default`` (as Keras)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float, numpy.number)) or \
            not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}={value!r} must be a non-negative finite number")
    return float(value)


def _tensor(x):
    return as_tensor(x)  # Tensors pass; arrays keep their dtype; lists become floatx


class Regularizer(Configurable):
    """Base class: ``__call__(w)`` returns a scalar Tensor penalty."""

    def __call__(self, x):
        return _sum(M.abs(_tensor(x))) * 0.0


class L1(Regularizer):
    """``l1 * sum(|w|)``; ``l1`` defaults to 0.01."""

    def __init__(self, l1: float = 0.01) -> None:
        self.l1 = _factor(l1, "l1", default=0.01)

    def __call__(self, x):
        return self.l1 * _sum(M.abs(_tensor(x)))

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(w**2)``; ``l2`` defaults to 0.01."""

    def __init__(self, l2: float = 0.01) -> None:
        self.l2 = _factor(l2, "l2", default=0.01)

    def __call__(self, x):
        return self.l2 * _sum(M.square(_tensor(x)))

    def get_config(self):
        return {"l2": self.l2}


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w**2)``; both default to 0.0."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = _factor(l1, "l1")
        self.l2 = _factor(l2, "l2")

    def __call__(self, x):
        x = _tensor(x)
        penalty = _sum(M.abs(x)) * 0.0  # zero, still on the tape
        if self.l1:
            penalty = penalty + self.l1 * _sum(M.abs(x))
        if self.l2:
            penalty = penalty + self.l2 * _sum(M.square(x))
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (``mode="rows"``) or columns (``"columns"``) of a rank-2 weight
    towards orthonormality.

    Penalty: ``factor * 0.5 * sum(|n n^T| * (1 - I)) / (size (size - 1) / 2)``, where ``n``
    holds the rows (or, transposed, the columns) divided by ``max(||row||, epsilon)``.

    Args:
        factor: non-negative weight of the penalty (0.01).
        mode: "rows" (default) or "columns".

    Raises:
        ValueError: for a bad mode, or (when called) an input that is not rank 2.
    """

    def __init__(self, factor: float = 0.01, mode: str = "rows") -> None:
        self.factor = _factor(factor, "factor")
        if mode not in ("rows", "columns"):
            raise ValueError(f"mode={mode!r} must be 'rows' or 'columns'")
        self.mode = mode

    def __call__(self, x):
        x = _tensor(x)
        if x.ndim != 2:
            raise ValueError(f"OrthogonalRegularizer needs a rank-2 input, got shape "
                             f"{x.shape}")
        if self.mode == "columns":
            x = x.T
        size = x.shape[0]
        norms = M.sqrt(_sum(M.square(x), axis=1, keepdims=True))
        unit = x / M.maximum(norms, config.epsilon())
        product = M.abs(M.matmul(unit, unit.T))
        off_diagonal = Tensor._wrap(1.0 - x.xp.eye(size, dtype=x.dtype))
        num_pairs = size * (size - 1.0) / 2.0
        return self.factor * 0.5 * _sum(product * off_diagonal) / num_pairs

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


_family = Family("regularizer", module="keras.regularizers", base=Regularizer)
for _cls in (Regularizer, L1, L2, L1L2, OrthogonalRegularizer):
    _family.register(_cls)
_family.register(OrthogonalRegularizer, "orthogonal")


def get(identifier, custom_objects: dict | None = None):
    """A regularizer from a name (``"l2"``, ``"l1l2"``, ``"l1_l2"``), a config dict, an
    instance or a callable ``f(w) -> scalar Tensor``; None gives None.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    return _family.get(identifier, custom_objects)


def serialize(regularizer) -> dict | str | None:
    """Keras 3's ``{"module", "class_name", "config", "registered_name"}`` form."""
    return _family.serialize(regularizer)


def deserialize(config, custom_objects: dict | None = None):
    return _family.deserialize(config, custom_objects)
