"""``Variable``: a named, assignable Tensor that a layer owns (a weight).

A Variable is a leaf Tensor with ``requires_grad == trainable`` plus the metadata the
layers and optimizers need: ``name``, ``path`` (``"layer_name/name"``), ``trainable``,
``constraint`` and ``regularizer``. ``assign(value)`` replaces its data with a copy of
``value`` cast to the variable's dtype and moved to its backend (shape checked), so
everything that holds the Variable sees the new value.

>>> import minidl as mdl
>>> v = mdl.Variable([1.0, 2.0], name="bias")
>>> _ = v.assign([3.0, 4.0])
>>> v.numpy()
array([3., 4.], dtype=float32)
>>> v.trainable, v.requires_grad
(True, True)
"""
from . import backend as _backend
from .autograd import Tensor

__all__ = ["Variable"]


class Variable(Tensor):
    """A weight: a Tensor with ``name``, ``trainable``, ``constraint`` and ``regularizer``.

    Args:
        initial_value: array, list, scalar or Tensor (copied).
        name: the weight's name (``"kernel"``).
        trainable: whether optimizers update it; sets ``requires_grad``.
        dtype: cast to this dtype when given.
        backend: ``"numpy"``, ``"cupy"`` or None (as ``Tensor``).
        constraint: a callable ``c(w)`` applied after each optimizer update, or None.
        regularizer: a callable ``r(w) -> scalar Tensor`` added to the layer's losses.

    Raises:
        TypeError: ``trainable=True`` with a non-floating dtype.
    """

    def __init__(self, initial_value, name: str | None = None, trainable: bool = True,
                 dtype: str | None = None, backend=None, constraint=None,
                 regularizer=None) -> None:
        if isinstance(initial_value, Tensor):
            initial_value = initial_value.data
        super().__init__(initial_value, requires_grad=False, dtype=dtype, backend=backend,
                         name=name)
        if self.data is initial_value:
            self.data = self.data.copy()
        self._trainable = False
        self.trainable = trainable
        self.constraint = constraint
        self.regularizer = regularizer
        self.path = name

    @property
    def trainable(self):
        """Whether optimizers update this variable; setting it sets ``requires_grad``."""
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        value = bool(value)
        if value and self.dtype.kind not in "fc":
            raise TypeError(f"Variable {self.name!r} of dtype {self.dtype} cannot be "
                            "trainable; only floating variables can")
        self._trainable = value
        self.requires_grad = value

    def assign(self, value):
        """Replace the data with ``value`` (array, list or Tensor), cast to this dtype and
        moved to this backend.

        Raises:
            ValueError: when ``value``'s shape differs from the variable's.
        """
        if isinstance(value, Tensor):
            value = value.data
        array = self.backend.asarray(value, dtype=self.dtype)
        if array.shape != self.shape:
            raise ValueError(f"cannot assign a value of shape {array.shape} to variable "
                             f"{self.path!r} of shape {self.shape}")
        self.data = array.copy() if array is value else array
        return self

    def assign_add(self, value):
        """``self += value`` (in place, not recorded)."""
        return self.assign(self.data + self._as_array(value))

    def assign_sub(self, value):
        """``self -= value`` (in place, not recorded)."""
        return self.assign(self.data - self._as_array(value))

    def _as_array(self, value):
        if isinstance(value, Tensor):
            return value.data
        return self.backend.asarray(value, dtype=self.dtype)

    @property
    def value(self):
        """The current value as a Tensor cut from the tape."""
        return self.detach()

    def to(self, backend):
        """A copy on another backend, keeping name, trainable, constraint and regularizer
        (the variable itself when it is already there)."""
        b = _backend.resolve(backend)
        if b == self.backend:
            return self
        copy = Variable(self.numpy(), name=self.name, trainable=self.trainable,
                        backend=b, constraint=self.constraint, regularizer=self.regularizer)
        copy.path = self.path
        return copy

    def _move_to(self, backend):
        """Move the data (and gradient) to ``backend`` in place."""
        b = _backend.resolve(backend)
        if b == self.backend:
            return
        self.data = b.asarray(self.backend.to_numpy(self.data)) if b.name == "cupy" \
            else self.backend.to_numpy(self.data)
        self._grad = None

    def __repr__(self):
        return (f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}, "
                f"trainable={self.trainable}>")
