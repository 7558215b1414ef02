"""``Add``: the elementwise sum of a list of same-shape tensors (residual connections).

>>> import numpy as np, minidl as mdl
>>> mdl.layers.Add()([np.ones((2, 3)), np.full((2, 3), 2.0)]).numpy().tolist()
[[3.0, 3.0, 3.0], [3.0, 3.0, 3.0]]
"""
from .base import Layer

__all__ = ["Add"]


def _check_shapes(layer, shapes):
    if not isinstance(shapes, list) or not shapes:
        raise ValueError(f"{layer.name} (Add) must be called on a list of at least one "
                         f"tensor, got {shapes!r}")
    first = tuple(shapes[0])
    for i, shape in enumerate(shapes[1:], 1):
        shape = tuple(shape)
        if len(shape) != len(first) or any(a is not None and b is not None and a != b
                                            for a, b in zip(first, shape)):
            raise ValueError(f"{layer.name} (Add) needs inputs of one shape: input 0 has "
                             f"shape {first}, input {i} has shape {shape}")


class Add(Layer):
    """Sum a list of inputs elementwise: ``y = x_0 + x_1 + ... + x_k``.

    Args:
        **kwargs: base Layer arguments.

    Input shape:
        A list of tensors of one shape (no broadcasting).

    Output shape:
        That shape.

    Raises:
        ValueError: an input that is not a list, or shapes that differ.
    """

    def build(self, input_shape):
        _check_shapes(self, input_shape)

    def call(self, inputs):
        if not isinstance(inputs, list):
            raise ValueError(f"{self.name} (Add) must be called on a list of tensors, got "
                             f"a single input of shape {tuple(inputs.shape)}")
        _check_shapes(self, [x.shape for x in inputs])
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out

    def compute_output_shape(self, input_shape):
        _check_shapes(self, list(input_shape))
        return tuple(input_shape[0])
