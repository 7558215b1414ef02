"""Operations: Keras 3's ``keras.src.ops.numpy`` classes as nodes of a functional graph.

In Keras 3, arithmetic on symbolic tensors records operations, not layers: ``x + 3.0``
is an ``Add`` node called with ``(x, 3.0)``, and MobileNetV3's hard sigmoid
``layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)`` is ``Add``, ``ReLU``, ``Multiply``. An
operation has no weights and no options: its config is its name, and the constants are
arguments of its call, kept in the graph node. A functional config writes one as::

    {"module": "keras.src.ops.numpy", "class_name": "Add", "config": {"name": "add"},
     "registered_name": "Add", "name": "add",
     "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {
         "shape": [null, 8], "dtype": "float32", "keras_history": ["dense", 0, 0]}}, 3.0],
                        "kwargs": {}}]}

Called on Tensors (or arrays) an operation computes at once, differentiably, with the
dtype of its tensor arguments (a Python number takes the tensor's dtype, as in Keras).

==============  ==========================  =========================
class           computes                    operator
==============  ==========================  =========================
``Add``         ``x1 + x2``                 ``x + y``
``Subtract``    ``x1 - x2``                 ``x - y``
``Multiply``    ``x1 * x2``                 ``x * y``
``Divide``      ``x1 / x2``                 (``keras.ops.divide``)
``TrueDivide``  ``x1 / x2``                 ``x / y``
``Negative``    ``-x``                      ``-x``
==============  ==========================  =========================

>>> import numpy as np, minidl as mdl
>>> x = mdl.Input(shape=(2,), name="x")
>>> model = mdl.models.Model(x, mdl.layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0))
>>> [type(op).__name__ for op in model.operations]
['InputLayer', 'Add', 'ReLU', 'Multiply']
>>> model(np.array([[-4.0, 0.0]])).numpy().tolist()
[[0.0, 0.5]]
"""
import numbers

import numpy

from .. import config
from ..autograd import Tensor
from ..identifiers import snake_case, unique_name
from ..ops import math
from .node import KerasTensor, Node, first_call_tensors, is_symbolic, operations

__all__ = ["Operation", "Add", "Subtract", "Multiply", "Divide", "TrueDivide", "Negative",
           "broadcast_shapes"]


def broadcast_shapes(first: tuple, second: tuple) -> tuple:
    """NumPy's broadcasting of two shapes in which ``None`` is an unknown size.

    Raises:
        ValueError: two known sizes that differ and are not 1.
    """
    rank = max(len(first), len(second))
    a = (1,) * (rank - len(first)) + tuple(first)
    b = (1,) * (rank - len(second)) + tuple(second)
    out = []
    for m, n in zip(a, b):
        if m is not None and n is not None and m != n and 1 not in (m, n):
            raise ValueError(f"shapes {tuple(first)} and {tuple(second)} cannot be "
                             "broadcast together")
        out.append(n if m == 1 else m if n == 1 or n is None else n)
    return tuple(out)


class Operation:
    """A function of tensors that a functional graph records as a node, as Keras's
    ``keras.Operation``: no weights, no state; called on symbolic tensors it records a
    ``Node`` and returns a KerasTensor, called on Tensors it computes.

    Subclasses list their positional ``arguments`` and define ``call`` (on Tensors) and
    ``compute_output_shape`` (one shape per argument; ``()`` for a number).

    Args:
        name: the node's name (default from the class name: ``add``, ``add_1``, ...;
            layers and operations share the counter, as in Keras).

    Raises:
        ValueError: a name that is not a non-empty string without ``/``.
    """

    arguments = ()
    _keras_registered = True   # Keras writes "registered_name": "Add" for these

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith("minidl.") and not cls.__name__.startswith("_"):
            operations.register(cls)

    def __init__(self, name=None):
        if name is not None and (not isinstance(name, str) or not name or "/" in name):
            raise ValueError(f"name={name!r} must be a non-empty string without '/'")
        self.name = name or unique_name(snake_case(type(self).__name__))

    def __call__(self, *args, **kwargs):
        args = self._check_arguments(args, kwargs)
        if is_symbolic(args):
            return self._symbolic_call(args)
        return self.call(*args)

    def call(self, *args):
        raise NotImplementedError(f"{type(self).__name__}.call")

    def compute_output_shape(self, *shapes):
        raise NotImplementedError(f"{type(self).__name__}.compute_output_shape")

    def compute_output_dtype(self, *dtypes):
        """NumPy's promotion of the tensor arguments' dtypes (numbers are weak)."""
        return numpy.result_type(*dtypes).name

    @property
    def input(self):
        return first_call_tensors(self, "input")

    @property
    def output(self):
        return first_call_tensors(self, "output")

    def get_config(self):
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        """The operation from ``{"name": ...}``.

        Raises:
            ValueError: a config with other keys (Keras's ops here have no options).
        """
        extra = sorted(set(config) - {"name"})
        if extra:
            raise ValueError(f"{cls.__name__} config takes only 'name', got {extra}")
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"

    # -- arguments ------------------------------------------------------------------------
    def _check_arguments(self, args, kwargs):
        """The arguments, numbers as Python ``int``/``float``.

        Raises:
            TypeError: keyword arguments, a wrong count, an argument that is neither a
                tensor nor a real number, no tensor at all, or symbolic tensors mixed
                with concrete ones.
        """
        where = f"{type(self).__name__} ({self.name!r})"
        if kwargs:
            raise TypeError(f"{where} takes no keyword arguments, got {sorted(kwargs)}")
        if len(args) != len(self.arguments):
            raise TypeError(f"{where} takes {len(self.arguments)} argument(s) "
                            f"({', '.join(self.arguments)}), got {len(args)}")
        out = [_argument(where, name, value) for name, value in zip(self.arguments, args)]
        kinds = {isinstance(v, KerasTensor) for v in out
                 if not isinstance(v, numbers.Number)}
        if not kinds:
            raise TypeError(f"{where} needs at least one tensor argument, got {args!r}")
        if len(kinds) > 1:
            raise TypeError(f"{where} got symbolic and concrete tensors mixed; in a "
                            "functional model every tensor must come from minidl.Input or "
                            "a layer's output")
        return out

    def _symbolic_call(self, args):
        shapes = [a.shape if isinstance(a, KerasTensor) else () for a in args]
        dtypes = [a.dtype for a in args if isinstance(a, KerasTensor)]
        out = KerasTensor(self.compute_output_shape(*shapes),
                          self.compute_output_dtype(*dtypes), name=self.name)
        Node(self, args, {}, [out])
        return out


def _argument(where, name, value):
    """A tensor as it is, a real number as a Python number; TypeError otherwise."""
    if isinstance(value, (KerasTensor, Tensor)) or (
            hasattr(value, "shape") and hasattr(value, "dtype") and
            not isinstance(value, numpy.generic)):
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, numpy.bool_)):
        return int(value) if isinstance(value, numbers.Integral) else float(value)
    raise TypeError(f"{where}: argument {name}={value!r} must be a tensor or a real "
                    f"number, got {type(value).__name__}")


class _Elementwise(Operation):
    """A binary elementwise operation with NumPy broadcasting."""

    arguments = ("x1", "x2")
    _function = None

    def call(self, x1, x2):
        return type(self)._function(x1, x2)

    def compute_output_shape(self, x1_shape, x2_shape):
        return broadcast_shapes(x1_shape, x2_shape)


class Add(_Elementwise):
    """``x1 + x2`` (Keras's ``keras.ops.add``; what ``x + y`` records)."""

    _function = staticmethod(math.add)


class Subtract(_Elementwise):
    """``x1 - x2`` (``keras.ops.subtract``; ``x - y``)."""

    _function = staticmethod(math.sub)


class Multiply(_Elementwise):
    """``x1 * x2`` (``keras.ops.multiply``; ``x * y``)."""

    _function = staticmethod(math.mul)


class Divide(_Elementwise):
    """``x1 / x2`` (``keras.ops.divide``); the result is floating."""

    _function = staticmethod(math.div)

    def compute_output_dtype(self, *dtypes):
        dtype = numpy.result_type(*dtypes)
        return dtype.name if dtype.kind == "f" else config.floatx()


class TrueDivide(Divide):
    """``x1 / x2`` (``keras.ops.true_divide``; ``x / y``)."""


class Negative(Operation):
    """``-x`` (``keras.ops.negative``; ``-x``)."""

    arguments = ("x",)

    def call(self, x):
        return math.neg(x)

    def compute_output_shape(self, x_shape):
        return tuple(x_shape)
