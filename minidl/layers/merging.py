"""Merging layers: ``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``,
``Minimum`` and ``Concatenate``, with Keras 3's lowercase functional forms
(``add([a, b])``).

The elementwise layers broadcast as Keras 3 does: every input keeps its batch axis (the
batch sizes must agree), the remaining axes broadcast like NumPy, aligned from the last
axis; an input of lower rank gets unit axes inserted after its batch axis. So
``(2, 3, 4)`` merges with ``(2, 1, 4)`` and with ``(2, 4)``, both into ``(2, 3, 4)``.
Broadcast inputs receive their gradient summed back to their own shape (``sum_to``).

>>> import numpy as np, minidl as mdl
>>> mdl.layers.Add()([np.ones((2, 3)), np.full((2, 3), 2.0)]).numpy().tolist()
[[3.0, 3.0, 3.0], [3.0, 3.0, 3.0]]
>>> mdl.layers.multiply([np.ones((2, 3, 4)), np.ones((2, 1, 4))]).shape
(2, 3, 4)
>>> mdl.layers.Concatenate(axis=1)([np.ones((2, 3)), np.ones((2, 2))]).shape
(2, 5)
"""
import functools
import numbers
import operator

from ..ops.math import where
from ..ops.shape import concatenate as _concatenate
from ..ops.shape import reshape
from .base import Layer

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
           "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate"]


def _broadcast(shape1, shape2):
    """NumPy's broadcast of two shapes (without batch axes), None matching anything; None
    when they do not broadcast."""
    if len(shape1) < len(shape2):
        shape1, shape2 = shape2, shape1
    lead = len(shape1) - len(shape2)
    out = list(shape1[:lead])
    for i, j in zip(shape1[lead:], shape2):
        if i is None or j is None:
            out.append(None)
        elif i == 1 or j == 1 or i == j:
            out.append(j if i == 1 else i)
        else:
            return None
    return tuple(out)


def _check_list(layer, shapes):
    """``shapes`` as a list of shape tuples, or a ValueError naming what was given."""
    if not isinstance(shapes, (list, tuple)) or not shapes or \
            not all(isinstance(s, (list, tuple)) for s in shapes):
        raise ValueError(f"{layer.name} ({type(layer).__name__}) should be called on a "
                         f"list of inputs (at least one), received input_shape={shapes!r}")
    return [tuple(s) for s in shapes]


class _Merge(Layer):
    """Shared shape rule, checks and call of the elementwise merging layers; a subclass
    defines ``_merge(inputs)`` on Tensors of one rank."""

    def _output_shape(self, input_shape):
        shapes = _check_list(self, input_shape)
        batches = {s[0] for s in shapes if s} - {None}
        if len(batches) > 1:
            raise ValueError(f"{self.name} ({type(self).__name__}) cannot merge tensors "
                             f"with different batch sizes; received shapes {shapes}")
        batch = batches.pop() if batches else None
        out = shapes[0][1:]
        for i, shape in enumerate(shapes[1:], 1):
            merged = _broadcast(out, shape[1:])
            if merged is None:
                raise ValueError(f"{self.name} ({type(self).__name__}): input {i} has "
                                 f"shape {shape}, incompatible with shape "
                                 f"{(batch,) + out} of the inputs before it; after the "
                                 "batch axis, each axis counted from the last must match "
                                 "or be 1")
            out = merged
        return (batch,) + out

    def build(self, input_shape):
        self._output_shape(input_shape)

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{self.name} ({type(self).__name__}) should be called on a "
                             f"list of inputs, received a single input of shape "
                             f"{tuple(inputs.shape)}")
        rank = len(self._output_shape([x.shape for x in inputs]))
        return self._merge([x if x.ndim == rank else
                            reshape(x, x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:])
                            for x in inputs])

    def compute_output_shape(self, input_shape):
        return self._output_shape(input_shape)

    def _merge(self, inputs):
        raise NotImplementedError


class Add(_Merge):
    """Sum a list of inputs elementwise: ``y = x_0 + x_1 + ... + x_k``.

    Args:
        **kwargs: base Layer arguments.

    Input shape:
        A list of at least one tensor with one batch size; the other axes broadcast
        (see the module docstring).

    Output shape:
        The broadcast shape.

    Raises:
        ValueError: an input that is not a list, different batch sizes or shapes that do
            not broadcast.
    """

    def _merge(self, inputs):
        return functools.reduce(operator.add, inputs)


class Subtract(_Merge):
    """``y = x_0 - x_1`` for a list of exactly two inputs (broadcast as ``Add``).

    Raises:
        ValueError: as ``Add``, or a list of other than two inputs.
    """

    def _output_shape(self, input_shape):
        out = super()._output_shape(input_shape)
        if len(input_shape) != 2:
            raise ValueError(f"{self.name} (Subtract) should be called on exactly 2 "
                             f"inputs, received input_shape={list(input_shape)}")
        return out

    def _merge(self, inputs):
        return inputs[0] - inputs[1]


class Multiply(_Merge):
    """Product of a list of inputs elementwise: ``y = x_0 * x_1 * ... * x_k``.
    Arguments, shapes and errors as ``Add``."""

    def _merge(self, inputs):
        return functools.reduce(operator.mul, inputs)


class Average(_Merge):
    """Mean of a list of inputs elementwise: ``y = (x_0 + ... + x_k) / (k + 1)``.
    Arguments, shapes and errors as ``Add``."""

    def _merge(self, inputs):
        return functools.reduce(operator.add, inputs) / len(inputs)


def _pick(a, b, a_wins, b_wins):
    """``a`` where ``a_wins``, ``b`` where ``b_wins``, elsewhere (ties) ``a/2 + b/2``,
    which equals both and gives each half the gradient (JAX's rule for ``maximum`` and
    ``minimum``, so Keras's on JAX)."""
    return where(a_wins, a, where(b_wins, b, a * 0.5 + b * 0.5))


class Maximum(_Merge):
    """Elementwise maximum of a list of inputs, taken pairwise from the left:
    ``y = max(max(x_0, x_1), x_2) ...``. At a tie each of the two operands of that pair
    receives half the gradient (as JAX, and so Keras on JAX). Arguments, shapes and errors
    as ``Add``."""

    def _merge(self, inputs):
        return functools.reduce(lambda a, b: _pick(a, b, a.data > b.data, a.data < b.data),
                                inputs)


class Minimum(_Merge):
    """Elementwise minimum of a list of inputs, taken pairwise from the left, with
    ``Maximum``'s tie rule. Arguments, shapes and errors as ``Add``."""

    def _merge(self, inputs):
        return functools.reduce(lambda a, b: _pick(a, b, a.data < b.data, a.data > b.data),
                                inputs)


class Concatenate(Layer):
    """Concatenate a list of inputs along ``axis``.

    Args:
        axis: int, the axis to join along (default -1, the last).
        **kwargs: base Layer arguments.

    Input shape:
        A list of at least one tensor of one rank whose sizes agree on every axis but
        ``axis``.

    Output shape:
        The common shape with ``axis`` the sum of the inputs' sizes.

    Raises:
        ValueError: an ``axis`` that is not an int, an input that is not a list, inputs of
            different ranks, an ``axis`` out of their range or sizes that differ off it.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
            raise ValueError(f"axis={axis!r} must be an int")
        self.axis = int(axis)

    def _output_shape(self, input_shape):
        shapes = _check_list(self, input_shape)
        rank = len(shapes[0])
        if not -rank <= self.axis < rank:
            raise ValueError(f"{self.name} (Concatenate): axis={self.axis} is out of range "
                             f"for inputs of rank {rank}")
        axis = self.axis % rank
        out = list(shapes[0])
        for shape in shapes[1:]:
            if len(shape) != rank or any(
                    a is not None and b is not None and a != b
                    for i, (a, b) in enumerate(zip(out, shape)) if i != axis):
                raise ValueError(f"{self.name} (Concatenate) requires inputs with matching "
                                 "shapes except for the concatenation axis "
                                 f"axis={self.axis}; received input_shape={shapes}")
            out = [b if a is None else a for a, b in zip(out, shape)]
        sizes = [s[axis] for s in shapes]
        out[axis] = None if None in sizes else sum(sizes)
        return tuple(out)

    def build(self, input_shape):
        self._output_shape(input_shape)

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{self.name} (Concatenate) should be called on a list of "
                             f"inputs, received a single input of shape "
                             f"{tuple(inputs.shape)}")
        self._output_shape([x.shape for x in inputs])
        return _concatenate(inputs, axis=self.axis)

    def compute_output_shape(self, input_shape):
        return self._output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config


def add(inputs, **kwargs):
    """``Add(**kwargs)(inputs)``: the elementwise sum of a list of inputs."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """``Subtract(**kwargs)(inputs)``: ``inputs[0] - inputs[1]``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """``Multiply(**kwargs)(inputs)``: the elementwise product of a list of inputs."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """``Average(**kwargs)(inputs)``: the elementwise mean of a list of inputs."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """``Maximum(**kwargs)(inputs)``: the elementwise maximum of a list of inputs."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """``Minimum(**kwargs)(inputs)``: the elementwise minimum of a list of inputs."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """``Concatenate(axis=axis, **kwargs)(inputs)``: the inputs joined along ``axis``."""
    return Concatenate(axis=axis, **kwargs)(inputs)
