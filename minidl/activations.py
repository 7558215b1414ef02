"""Activation functions with Keras 3's names, defaults and formulas: Tensor in, Tensor out.

==================  ==============================================================
``relu``            ``max(x, 0)``; Keras's options ``negative_slope``, ``max_value``,
                    ``threshold`` (see ``relu``)
``relu6``           ``min(max(x, 0), 6)``
``leaky_relu``      ``x`` if ``x > 0`` else ``negative_slope * x`` (slope 0.2)
``elu``             ``x`` if ``x > 0`` else ``alpha (exp(x) - 1)`` (alpha 1.0)
``selu``            ``1.0507009873554805 * elu(x, 1.6732632423543772)``
``celu``            ``max(x, 0) + min(0, alpha (exp(x / alpha) - 1))``
``sigmoid``         ``1 / (1 + exp(-x))``
``hard_sigmoid``    ``relu6(x + 3) / 6``
``hard_silu``       ``x * hard_sigmoid(x)`` (alias ``hard_swish``)
``hard_tanh``       ``clip(x, -1, 1)``
``tanh``            ``tanh(x)``
``softmax``         ``exp(x) / sum(exp(x), axis)`` (axis -1)
``log_softmax``     ``x - logsumexp(x, axis)`` (axis -1)
``softplus``        ``log(1 + exp(x))``
``log_sigmoid``     ``-softplus(-x)``
``softsign``        ``x / (1 + |x|)``
``silu``            ``x * sigmoid(x)`` (alias ``swish``)
``gelu``            ``x * Phi(x)``, exact (``approximate=False``, the default) or the
                    tanh form ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``
``mish``            ``x * tanh(softplus(x))``
``exponential``     ``exp(x)``
``glu``             ``a * sigmoid(b)`` with ``a, b`` the two halves of ``x`` along ``axis``
``tanh_shrink``     ``x - tanh(x)``
``soft_shrink``     ``x - t`` if ``x > t``, ``x + t`` if ``x < -t``, else 0 (t 0.5)
``hard_shrink``     ``x`` if ``|x| > t`` else 0 (t 0.5)
``squareplus``      ``(x + sqrt(x^2 + b)) / 2`` (b 4)
``sparse_plus``     0 for ``x <= -1``, ``x`` for ``x >= 1``, else ``(x + 1)^2 / 4``
``sparse_sigmoid``  ``clip(x + 1, 0, 2) / 2``
``threshold``       ``x`` if ``x > threshold`` else ``default_value`` (no defaults)
``linear``          ``x``
==================  ==============================================================

``get(None)`` and ``get("linear")`` give ``linear``; ``serialize(fn)`` gives its name.

>>> import minidl as mdl
>>> mdl.activations.get("relu")(mdl.tensor([-1.0, 2.0])).numpy()
array([0., 2.], dtype=float32)
>>> mdl.activations.serialize(mdl.activations.get(None))
'linear'
"""
import math

import numpy

from .autograd import Tensor, as_tensor
from .identifiers import Family
from .ops import activation as A
from .ops import math as M
from .ops import nn
from .ops.shape import getitem

__all__ = ["relu", "relu6", "leaky_relu", "elu", "selu", "celu", "sigmoid", "hard_sigmoid",
           "hard_silu", "hard_swish", "hard_tanh", "tanh", "softmax", "log_softmax",
           "softplus", "log_sigmoid", "softsign", "silu", "swish", "gelu", "mish",
           "exponential", "glu", "tanh_shrink", "soft_shrink", "hard_shrink", "squareplus",
           "sparse_plus", "sparse_sigmoid", "threshold", "linear", "get", "serialize",
           "deserialize"]

_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def _number(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float, numpy.number)) or \
            not math.isfinite(value):
        raise ValueError(f"{name}={value!r} must be a finite number")
    return float(value)


def _mask(condition, dtype):
    return Tensor._wrap(condition.astype(dtype))


def relu(x, negative_slope: float = 0.0, max_value: float | None = None,
         threshold: float = 0.0) -> Tensor:
    """Rectified linear unit with Keras's options.

    ``f(x) = min(x, max_value)`` for ``x > threshold`` (``x`` when ``max_value`` is None),
    else ``negative_slope * (x - threshold)``.

    Args:
        x: Tensor or array.
        negative_slope: slope below the threshold (0.0).
        max_value: saturation value, or None.
        threshold: values at or below it are "negative" (0.0).

    Raises:
        ValueError: for a negative ``negative_slope`` or ``max_value``.
    """
    x = as_tensor(x)
    negative_slope = _number(negative_slope, "negative_slope")
    threshold = _number(threshold, "threshold")
    if negative_slope < 0:
        raise ValueError(f"negative_slope={negative_slope!r} must be >= 0")
    if max_value is not None and _number(max_value, "max_value") < 0:
        raise ValueError(f"max_value={max_value!r} must be >= 0")
    if negative_slope == 0 and max_value is None and threshold == 0:
        return M.relu(x)
    if negative_slope != 0 and max_value is None and threshold == 0:
        return A.leaky_relu(x, negative_slope)
    if negative_slope == 0 and threshold == 0:  # ReLU6 and friends: one fused op
        return M.clip(x, 0.0, float(max_value), strict=True)
    above = x.data > threshold
    y = x * _mask(above, x.dtype)
    if max_value is not None:
        y = M.clip(y, None, float(max_value))
    if negative_slope != 0:
        y = y + negative_slope * (x - threshold) * _mask(~above, x.dtype)
    return y


def relu6(x) -> Tensor:
    """``min(max(x, 0), 6)``; the gradient is 1 strictly between 0 and 6."""
    return M.clip(as_tensor(x), 0.0, 6.0, strict=True)


def leaky_relu(x, negative_slope: float = 0.2) -> Tensor:
    """``x`` if ``x > 0`` else ``negative_slope * x``."""
    return A.leaky_relu(as_tensor(x), _number(negative_slope, "negative_slope"))


def elu(x, alpha: float = 1.0) -> Tensor:
    """``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``."""
    return A.elu(as_tensor(x), _number(alpha, "alpha"))


def selu(x) -> Tensor:
    """``scale * elu(x, alpha)`` with ``alpha = 1.67326324``, ``scale = 1.05070098``."""
    return _SELU_SCALE * A.elu(as_tensor(x), _SELU_ALPHA)


def celu(x, alpha: float = 1.0) -> Tensor:
    """``max(x, 0) + min(0, alpha * (exp(x / alpha) - 1))``; ``alpha`` must be > 0."""
    alpha = _number(alpha, "alpha")
    if alpha <= 0:
        raise ValueError(f"alpha={alpha!r} must be > 0")
    return alpha * A.elu(as_tensor(x) * (1.0 / alpha), 1.0)


def sigmoid(x) -> Tensor:
    """``1 / (1 + exp(-x))``."""
    return M.sigmoid(as_tensor(x))


def hard_sigmoid(x) -> Tensor:
    """``relu6(x + 3) / 6`` (Keras 3's piecewise-linear sigmoid)."""
    return relu6(as_tensor(x) + 3.0) * (1.0 / 6.0)


def hard_silu(x) -> Tensor:
    """``x * hard_sigmoid(x)``."""
    x = as_tensor(x)
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def hard_tanh(x) -> Tensor:
    """``clip(x, -1, 1)``."""
    return M.clip(as_tensor(x), -1.0, 1.0)


def tanh(x) -> Tensor:
    """The hyperbolic tangent."""
    return M.tanh(as_tensor(x))


def softmax(x, axis: int = -1) -> Tensor:
    """``exp(x) / sum(exp(x), axis)``, computed stably."""
    return nn.softmax(as_tensor(x), axis)


def log_softmax(x, axis: int = -1) -> Tensor:
    """``x - logsumexp(x, axis)``, computed stably."""
    return nn.log_softmax(as_tensor(x), axis)


def softplus(x) -> Tensor:
    """``log(1 + exp(x))``, stable for large ``|x|``."""
    return A.softplus(as_tensor(x))


def log_sigmoid(x) -> Tensor:
    """``log(sigmoid(x)) = -softplus(-x)``."""
    return -A.softplus(-as_tensor(x))


def softsign(x) -> Tensor:
    """``x / (1 + |x|)``."""
    x = as_tensor(x)
    return x / (M.abs(x) + 1.0)


def silu(x) -> Tensor:
    """``x * sigmoid(x)`` (Swish)."""
    return A.silu(as_tensor(x))


swish = silu


def gelu(x, approximate: bool = False) -> Tensor:
    """Gaussian error linear unit ``x * Phi(x)``.

    ``approximate=False`` (default, as Keras 3): ``0.5 x (1 + erf(x / sqrt(2)))``;
    ``approximate=True``: ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.
    """
    return A.gelu(as_tensor(x), approximate)


def mish(x) -> Tensor:
    """``x * tanh(softplus(x))``."""
    x = as_tensor(x)
    return x * M.tanh(A.softplus(x))


def exponential(x) -> Tensor:
    """``exp(x)``."""
    return M.exp(as_tensor(x))


def glu(x, axis: int = -1) -> Tensor:
    """Gated linear unit ``a * sigmoid(b)``, where ``a`` and ``b`` are the first and second
    halves of ``x`` along ``axis``; the output is half as long there.

    Raises:
        ValueError: when the size of ``axis`` is odd (or ``axis`` is out of range).
    """
    x = as_tensor(x)
    if isinstance(axis, bool) or not isinstance(axis, (int, numpy.integer)) or \
            not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis={axis!r} must be an int in [-{x.ndim}, {x.ndim}) for an "
                         f"input of shape {x.shape}")
    axis = int(axis) % x.ndim
    size = x.shape[axis]
    if size % 2:
        raise ValueError(f"glu splits axis={axis} in two halves, so its size must be even; "
                         f"got shape {x.shape}")
    lead = (slice(None),) * axis
    first = getitem(x, lead + (slice(0, size // 2),))
    second = getitem(x, lead + (slice(size // 2, size),))
    return first * M.sigmoid(second)


def tanh_shrink(x) -> Tensor:
    """``x - tanh(x)``."""
    x = as_tensor(x)
    return x - M.tanh(x)


def _threshold_value(threshold):
    threshold = _number(threshold, "threshold")
    if threshold < 0:
        raise ValueError(f"threshold={threshold!r} must be >= 0")
    return threshold


def soft_shrink(x, threshold: float = 0.5) -> Tensor:
    """``x - threshold`` above ``threshold``, ``x + threshold`` below ``-threshold``, else
    0; computed as ``x - clip(x, -threshold, threshold)``."""
    t = _threshold_value(threshold)
    x = as_tensor(x)
    return x - M.clip(x, -t, t)


def hard_shrink(x, threshold: float = 0.5) -> Tensor:
    """``x`` where ``|x| > threshold``, else 0."""
    t = _threshold_value(threshold)
    x = as_tensor(x)
    return x * _mask(x.xp.abs(x.data) > t, x.dtype)


def squareplus(x, b: float = 4) -> Tensor:
    """``(x + sqrt(x^2 + b)) / 2``, a smooth ReLU; ``b >= 0`` sets the curvature at 0."""
    b = _number(b, "b")
    if b < 0:
        raise ValueError(f"b={b!r} must be >= 0")
    x = as_tensor(x)
    return (x + M.sqrt(x * x + b)) * 0.5


def sparse_plus(x) -> Tensor:
    """0 for ``x <= -1``, ``x`` for ``x >= 1``, ``(x + 1)^2 / 4`` between; computed as
    ``(c + 1)^2 / 4 + relu(x - 1)`` with ``c = clip(x, -1, 1)``."""
    x = as_tensor(x)
    c = M.clip(x, -1.0, 1.0) + 1.0
    return c * c * 0.25 + M.relu(x - 1.0)


def sparse_sigmoid(x) -> Tensor:
    """``clip(x + 1, 0, 2) / 2``: 0 below -1, 1 above 1, linear between (the derivative
    of ``sparse_plus``)."""
    return M.clip(as_tensor(x) + 1.0, 0.0, 2.0) * 0.5


def threshold(x, threshold: float, default_value: float) -> Tensor:
    """``x`` where ``x > threshold``, else ``default_value`` (both numbers)."""
    threshold = _number(threshold, "threshold")
    default_value = _number(default_value, "default_value")
    x = as_tensor(x)
    return M.where(x.data > threshold, x, default_value)


def linear(x) -> Tensor:
    """The identity: ``x`` itself."""
    return as_tensor(x)


_family = Family("activation", module="keras.activations")
for _fn in (relu, relu6, leaky_relu, elu, selu, celu, sigmoid, hard_sigmoid, hard_silu,
            hard_tanh, tanh, softmax, log_softmax, softplus, log_sigmoid, softsign, silu,
            gelu, mish, exponential, glu, tanh_shrink, soft_shrink, hard_shrink, squareplus,
            sparse_plus, sparse_sigmoid, threshold, linear):
    _family.register(_fn)
_family.register(silu, "swish")
_family.register(hard_silu, "hard_swish")


def get(identifier, custom_objects: dict | None = None):
    """An activation function from a name (``"relu"``), Keras's serialized function
    ``{"class_name": "function", "config": "relu"}``, or a callable; None gives
    ``linear``.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if identifier is None:
        return linear
    return _family.get(identifier, custom_objects)


def serialize(activation) -> str | dict:
    """The name of a built-in activation (``"linear"`` for None); other callables are
    serialized with their ``get_config`` or by name."""
    if activation is None:
        return "linear"
    return _family.serialize(activation)


def deserialize(config, custom_objects: dict | None = None):
    return _family.deserialize(config, custom_objects)
