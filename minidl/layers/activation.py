"""Activation layers: ``Activation`` (any named activation) and ``ReLU`` (Keras 3's
``max_value``, ``negative_slope`` and ``threshold``).

>>> import numpy as np, minidl as mdl
>>> relu = mdl.layers.ReLU(max_value=6.0, negative_slope=0.5)
>>> relu(np.array([-2.0, 3.0, 8.0])).numpy().tolist()
[-1.0, 3.0, 6.0]
>>> mdl.layers.Activation("tanh")(np.zeros(2)).numpy().tolist()
[0.0, 0.0]
"""
import math
import numbers

from .. import activations
from .base import Layer

__all__ = ["Activation", "ReLU"]


class Activation(Layer):
    """Apply an activation function elementwise (shape unchanged).

    Args:
        activation: anything ``activations.get`` accepts: a name (``"relu"``,
            ``"linear"``), Keras's serialized form, or a callable Tensor -> Tensor.
        **kwargs: base Layer arguments.

    Raises:
        ValueError: an unknown activation name (listing the known ones).
    """

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["activation"] = activations.serialize(self.activation)
        return config


def _non_negative(value, name, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}={value!r} of a ReLU layer must be a finite number >= 0"
                         + (" or None" if allow_none else ""))
    return value


class ReLU(Layer):
    """Rectified linear unit with Keras's options::

        f(x) = min(x, max_value)                 if x > threshold
             = negative_slope * (x - threshold)  otherwise

    Args:
        max_value: saturation value >= 0, or None (no saturation).
        negative_slope: slope >= 0 below the threshold.
        threshold: >= 0; inputs at or below it take the negative branch.
        **kwargs: base Layer arguments.

    Raises:
        ValueError: a negative or non-numeric argument (naming it).
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = _non_negative(max_value, "max_value", allow_none=True)
        self.negative_slope = _non_negative(negative_slope, "negative_slope")
        self.threshold = _non_negative(threshold, "threshold")

    def call(self, inputs):
        return activations.relu(inputs, negative_slope=self.negative_slope,
                                max_value=self.max_value, threshold=self.threshold)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"max_value": self.max_value, "negative_slope": self.negative_slope,
                       "threshold": self.threshold})
        return config
