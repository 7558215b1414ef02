"""Activation layers with Keras 3's arguments and configs: ``Activation`` (any named
activation), ``ReLU`` (``max_value``, ``negative_slope``, ``threshold``), ``Softmax``,
``LeakyReLU``, ``PReLU`` (a learned slope per unit) and ``ELU``.

>>> import numpy as np, minidl as mdl
>>> relu = mdl.layers.ReLU(max_value=6.0, negative_slope=0.5)
>>> relu(np.array([-2.0, 3.0, 8.0])).numpy().tolist()
[-1.0, 3.0, 6.0]
>>> mdl.layers.Activation("tanh")(np.zeros(2)).numpy().tolist()
[0.0, 0.0]
>>> mdl.layers.LeakyReLU(negative_slope=0.5)(np.array([-2.0, 4.0])).numpy().tolist()
[-1.0, 4.0]
"""
import math
import numbers

from .. import activations
from ..ops.math import relu
from ..ops.nn import softmax
from .arguments import set_weight_arguments, weight_arguments_config
from .base import Layer

__all__ = ["Activation", "ReLU", "Softmax", "LeakyReLU", "PReLU", "ELU"]


class Activation(Layer):
    """Apply an activation function elementwise (shape unchanged).

    Args:
        activation: anything ``activations.get`` accepts: a name (``"relu"``,
            ``"linear"``), Keras's serialized form, or a callable Tensor -> Tensor.
        **kwargs: base Layer arguments.

    Raises:
        ValueError: an unknown activation name (listing the known ones).
    """

    def __init__(self, activation, **kwargs) -> None:
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


def _finite(value, name, layer):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not math.isfinite(value):
        raise ValueError(f"{name}={value!r} of a {layer} layer must be a finite number")
    return value


def _non_negative(value, name, allow_none=False, layer="ReLU"):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}={value!r} of a {layer} layer must be a finite number >= 0"
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

    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0,
                 threshold: float = 0.0, **kwargs) -> None:
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


def _softmax_axis(axis):
    if isinstance(axis, (list, tuple)) and axis and \
            all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axis):
        return axis
    if isinstance(axis, numbers.Integral) and not isinstance(axis, bool):
        return axis
    raise ValueError(f"axis={axis!r} of a Softmax layer must be an int or a non-empty list "
                     "of ints")


class Softmax(Layer):
    """Softmax along ``axis``: ``exp(x - max(x)) / sum(exp(x - max(x)))``.

    Args:
        axis: int, or list of ints (the normalization then runs over all of them
            together).
        **kwargs: base Layer arguments.

    Call arguments:
        inputs: the logits.
        mask: None only (Keras's boolean mask is not supported).

    Input shape:
        Any, with every axis in ``axis`` present. Output shape: the same.

    Raises:
        ValueError: an ``axis`` that is not an int or a list of ints, or is out of range
            for the input; a ``mask`` other than None.
    """

    def __init__(self, axis: int = -1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.axis = _softmax_axis(axis)

    def build(self, input_shape):
        ndim = len(input_shape)
        axes = self.axis if isinstance(self.axis, (list, tuple)) else [self.axis]
        if any(not -ndim <= a < ndim for a in axes):
            raise ValueError(f"axis={self.axis!r} of layer {self.name!r} is out of range "
                             f"for an input of shape {tuple(input_shape)}")

    def call(self, inputs, mask=None):
        if mask is not None:
            raise ValueError(f"layer {self.name!r} (Softmax) accepts only mask=None, got a "
                             f"mask of type {type(mask).__name__}")
        axis = tuple(self.axis) if isinstance(self.axis, (list, tuple)) else self.axis
        return softmax(inputs, axis)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config


class LeakyReLU(Layer):
    """Leaky rectified linear unit: ``x`` for ``x >= 0``, else ``negative_slope * x``.

    Args:
        negative_slope: slope >= 0 for negative inputs (0.3). Keras 2's name ``alpha``
            is accepted too and takes precedence, as in Keras 3.
        **kwargs: base Layer arguments.

    Input shape:
        Any. Output shape: the same.

    Raises:
        ValueError: a negative, None or non-numeric ``negative_slope``.
    """

    def __init__(self, negative_slope: float = 0.3, **kwargs) -> None:
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        self.negative_slope = _non_negative(negative_slope, "negative_slope",
                                            layer="LeakyReLU")

    def call(self, inputs):
        return activations.leaky_relu(inputs, negative_slope=self.negative_slope)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["negative_slope"] = self.negative_slope
        return config


def _shared_axes(shared_axes):
    if shared_axes is None:
        return None
    axes = list(shared_axes) if isinstance(shared_axes, (list, tuple)) else [shared_axes]
    if any(isinstance(a, bool) or not isinstance(a, numbers.Integral) or a < 1
           for a in axes):
        raise ValueError(f"shared_axes={shared_axes!r} of a PReLU layer must be None, an "
                         "int or a list of ints >= 1 (axis 0 is the batch)")
    return [int(a) for a in axes]


class PReLU(Layer):
    """Parametric ReLU: ``f(x) = relu(x) - alpha * relu(-x)``, i.e. ``x`` for ``x >= 0``
    and ``alpha * x`` below, with a learned ``alpha`` per unit.

    Args:
        alpha_initializer: initializer of ``alpha`` (``"Zeros"``).
        alpha_regularizer: regularizer of ``alpha``, or None.
        alpha_constraint: constraint of ``alpha``, or None.
        shared_axes: None, an int or a list of ints >= 1: axes along which ``alpha`` is
            shared (size 1), e.g. ``[1, 2]`` for one slope per channel of
            ``(batch, height, width, channels)`` feature maps.
        **kwargs: base Layer arguments.

    Weights:
        ``alpha`` of shape ``input_shape[1:]`` with each shared axis set to 1.

    Input shape:
        ``(batch, ...)``, the non-shared axes known. Output shape: the same.

    Raises:
        ValueError: a malformed ``shared_axes`` or one outside ``[1, rank)``; an unknown
            size on a non-shared axis; an input whose non-shared axes differ from the
            ones the layer was built for.
    """

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None,
                 alpha_constraint=None, shared_axes: list[int] | None = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        set_weight_arguments(self, "alpha", alpha_initializer, alpha_regularizer,
                             alpha_constraint)
        self.shared_axes = _shared_axes(shared_axes)
        self.alpha = None

    def _param_shape(self, input_shape):
        shape = list(input_shape[1:])
        for axis in self.shared_axes or []:
            if axis >= len(input_shape):
                raise ValueError(f"shared_axes={self.shared_axes} of layer {self.name!r} "
                                 f"must be < {len(input_shape)}, the rank of inputs of "
                                 f"shape {tuple(input_shape)}")
            shape[axis - 1] = 1
        if any(n is None for n in shape):
            raise ValueError(f"layer {self.name!r} (PReLU) needs every non-shared axis "
                             f"known, got input shape {tuple(input_shape)}")
        return tuple(shape)

    def build(self, input_shape):
        self.alpha = self.add_weight("alpha", self._param_shape(input_shape),
                                     self.alpha_initializer, self.alpha_regularizer,
                                     self.alpha_constraint)

    def call(self, inputs):
        shape = inputs.shape
        if len(shape) != self.alpha.ndim + 1 or any(
                a != 1 and a != n for a, n in zip(self.alpha.shape, shape[1:])):
            raise ValueError(f"layer {self.name!r} (PReLU) has alpha of shape "
                             f"{self.alpha.shape}, which does not fit inputs of shape "
                             f"{shape}")
        return relu(inputs) - self.alpha * relu(-inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({
            **weight_arguments_config(self, ["alpha"]),
            "shared_axes": self.shared_axes,
        })
        return config


class ELU(Layer):
    """Exponential linear unit: ``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``.

    Args:
        alpha: the scale of the negative part (1.0); any finite number.
        **kwargs: base Layer arguments.

    Input shape:
        Any. Output shape: the same.

    Raises:
        ValueError: a non-numeric or infinite ``alpha``.
    """

    def __init__(self, alpha: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.alpha = _finite(alpha, "alpha", "ELU")

    def call(self, inputs):
        return activations.elu(inputs, alpha=self.alpha)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["alpha"] = self.alpha
        return config
