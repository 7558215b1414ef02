"""Preprocessing layers with Keras 3's arguments, weights and configs: ``Rescaling``
(``x * scale + offset``) and ``Normalization`` (``(x - mean) / sqrt(variance)``, with the
statistics given or learned by ``adapt``).

>>> import numpy as np, minidl as mdl
>>> mdl.layers.Rescaling(1 / 127.5, offset=-1.0)(np.array([0.0, 255.0])).numpy().tolist()
[-1.0, 1.0]
>>> norm = mdl.layers.Normalization(axis=None)
>>> norm.adapt(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
>>> norm(np.array([1.0, 3.0])).numpy()
array([-1.4142135,  0.       ], dtype=float32)
"""
import itertools
import math
import numbers

import numpy

from .. import config
from ..autograd import Tensor
from ..backend import backend_of, is_array
from ..ops.math import cast
from .base import Layer

__all__ = ["Rescaling", "Normalization"]


def _host(value):  # host
    """A Tensor, CuPy/NumPy array or array-like as a host NumPy array."""
    if isinstance(value, Tensor):
        return value.numpy()
    if is_array(value):
        return backend_of(value).to_numpy(value)
    return numpy.asarray(value)


def _float_constant(value, name):  # host
    """``value`` (number or array-like) as a finite float64 host array."""
    try:
        array = _host(value).astype(numpy.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} must be a number or an array of numbers") \
            from None
    if not numpy.all(numpy.isfinite(array)):
        raise ValueError(f"{name}={value!r} must be finite")
    return array


def _config_value(value):
    """As Keras serializes a constant: numbers and lists as they are, arrays in Keras's
    ``__numpy__`` form."""
    if isinstance(value, numpy.generic):
        return value.item()
    if isinstance(value, Tensor) or is_array(value):
        host = _host(value)
        return {"class_name": "__numpy__",
                "config": {"value": host.tolist(), "dtype": host.dtype.name}}
    return value


def _as_float(inputs, dtype):
    return inputs if inputs.dtype == dtype else cast(inputs, dtype)


class Rescaling(Layer):
    """Rescale inputs: ``output = inputs * scale + offset``, in training and inference.

    Integer inputs are cast to the layer's float dtype first.

    Args:
        scale: number, or array-like broadcast against the input (e.g. one value per
            channel).
        offset: number or array-like, likewise (0.0).
        **kwargs: base Layer arguments.

    With ``config.image_data_format() == "channels_first"`` a ``scale`` or ``offset`` of
    rank 1 or 2 gets trailing axes of size 1 up to rank 3, so a per-channel list
    broadcasts over ``(C, H, W)`` (Keras reshapes ``scale`` this way; minidl treats
    ``offset`` alike).

    Input shape:
        Any. Output shape: the same.

    Raises:
        ValueError: a ``scale`` or ``offset`` that is not numeric or not finite.
    """

    def __init__(self, scale, offset: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self._scale = _float_constant(scale, "scale")
        self._offset = _float_constant(offset, "offset")
        self.scale, self.offset = scale, offset

    def _constant(self, array, x):
        if array.ndim and config.image_data_format() == "channels_first":
            array = array.reshape(array.shape + (1,) * (3 - array.ndim))
        return x.backend.asarray(array, dtype=x.dtype)

    def call(self, inputs):
        x = _as_float(inputs, self.dtype)
        return x * self._constant(self._scale, x) + self._constant(self._offset, x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config_ = super().get_config()
        config_.update({"scale": _config_value(self.scale),
                        "offset": _config_value(self.offset)})
        return config_


def _normalization_axis(axis):
    if axis is None:
        return ()
    axes = (axis,) if isinstance(axis, numbers.Integral) else axis
    try:
        axes = tuple(axes)
    except TypeError:
        axes = None
    if axes is None or any(isinstance(a, bool) or not isinstance(a, numbers.Integral)
                           for a in axes):
        raise ValueError(f"axis={axis!r} of a Normalization layer must be None, an int or "
                         "a tuple of ints")
    return tuple(int(a) for a in axes)


def _batch_of(element):
    """``x`` from a batch given as ``x``, ``(x, y)`` or ``(x, y, sample_weight)``."""
    return element[0] if isinstance(element, tuple) else element


def _batches(data):
    """The batches of ``data`` (an array is one batch) and the first batch's shape."""
    if isinstance(data, Tensor) or is_array(data):
        return [data], tuple(data.shape)
    if not hasattr(data, "__iter__") or isinstance(data, (str, bytes, dict)):
        raise TypeError(f"adapt() takes an array, a Tensor or an iterable of batches, got "
                        f"{type(data).__name__}")
    iterator = iter(data)
    first = next(iterator, None)
    if first is None:
        raise ValueError("adapt() received an empty iterable: give at least one batch")
    first = _batch_of(first)
    if not hasattr(first, "shape"):
        raise TypeError(f"adapt() expects batches with a .shape (arrays or Tensors), got "
                        f"an element of type {type(first).__name__}")
    return itertools.chain([first], (_batch_of(b) for b in iterator)), tuple(first.shape)


class Normalization(Layer):
    """Normalize features: ``(inputs - mean) / max(sqrt(variance), epsilon)``, or with
    ``invert=True`` the inverse ``mean + inputs * max(sqrt(variance), epsilon)``;
    ``epsilon`` is ``config.epsilon()`` (1e-7).

    ``mean`` and ``variance`` are given, or learned from data with ``adapt(data)``. The
    statistics have one value per index of the kept ``axis`` and are shared over the
    other axes.

    Args:
        axis: int, tuple of ints, or None: the axes that keep separate statistics (-1:
            one per feature of the last axis; None: one scalar mean and variance).
        mean, variance: numbers or array-likes, given together, of rank <= the number
            of kept axes; they are broadcast to the kept axes' shape (aligned to the
            last kept axes). None (both): the layer has weights that ``adapt`` sets.
        invert: apply the inverse transformation.
        **kwargs: base Layer arguments.

    Weights:
        Only without ``mean``/``variance``, all non-trainable: ``mean`` and ``variance``
        of the kept axes' shape (zeros and ones until ``adapt``), then ``count``, an
        int32 scalar (0; kept for Keras's weight layout).

    Input shape:
        Any, with every kept axis known. Output shape: the same.

    Raises:
        ValueError: only one of ``mean``/``variance``, shapes that differ or exceed the
            kept axes, a negative variance, an ``axis`` out of range for the input.
    """

    def __init__(self, axis: int | list[int] | None = -1, mean=None, variance=None,
                 invert: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.axis = _normalization_axis(axis)
        self.invert = bool(invert)
        if (mean is None) != (variance is None):
            raise ValueError(f"mean and variance must be given together, got mean={mean!r} "
                             f"and variance={variance!r}")
        self.input_mean, self.input_variance = mean, variance
        self._mean = self._variance = None  # host float64 arrays of the broadcast shape
        if mean is not None:
            self._given_mean = _float_constant(mean, "mean")
            self._given_variance = _float_constant(variance, "variance")
            if self._given_mean.shape != self._given_variance.shape:
                raise ValueError(f"mean and variance must have the same shape, got "
                                 f"{self._given_mean.shape} and "
                                 f"{self._given_variance.shape}")
            if self._given_mean.ndim > len(self.axis):
                raise ValueError(f"mean of shape {self._given_mean.shape} has more axes "
                                 f"than axis={self.axis}")
            if numpy.any(self._given_variance < 0):  # host
                raise ValueError(f"variance={variance!r} must be >= 0")

    def build(self, input_shape):
        ndim = len(input_shape)
        if any(not -ndim <= a < ndim for a in self.axis):
            raise ValueError(f"axis={self.axis} of layer {self.name!r} must be in "
                             f"[-{ndim}, {ndim}) for inputs of shape {tuple(input_shape)}")
        self._keep_axis = tuple(sorted(a % ndim for a in self.axis))
        if any(input_shape[a] is None for a in self._keep_axis):
            raise ValueError(f"layer {self.name!r} (Normalization) needs the kept axes "
                             f"{self._keep_axis} known, got input shape "
                             f"{tuple(input_shape)}")
        self._reduce_axis = tuple(a for a in range(ndim) if a not in self._keep_axis)
        self._broadcast_shape = tuple(input_shape[a] if a in self._keep_axis else 1
                                      for a in range(ndim))
        kept = tuple(input_shape[a] for a in self._keep_axis)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight("mean", kept, "zeros", trainable=False)
            self.adapt_variance = self.add_weight("variance", kept, "ones", trainable=False)
            self.count = self.add_weight("count", (), "zeros", trainable=False,
                                         dtype="int32")
        else:
            self._mean = self._broadcast(self._given_mean, ndim)
            self._variance = self._broadcast(self._given_variance, ndim)

    def _broadcast(self, value, ndim):  # host
        """A given statistic placed on the last kept axes, then broadcast to them all."""
        expanded = [1] * ndim
        for axis, size in zip(self._keep_axis[::-1], value.shape[::-1]):
            expanded[axis] = size
        try:
            return numpy.broadcast_to(value.reshape(expanded), self._broadcast_shape)
        except ValueError:
            raise ValueError(f"mean and variance of shape {value.shape} do not broadcast "
                             f"to the kept axes {self._keep_axis} of shape "
                             f"{tuple(self._broadcast_shape)}") from None

    def _statistics(self, x):
        if self.input_mean is None:
            return (self.adapt_mean.data.reshape(self._broadcast_shape).astype(x.dtype),
                    self.adapt_variance.data.reshape(self._broadcast_shape).astype(x.dtype))
        return (x.backend.asarray(self._mean, dtype=x.dtype),
                x.backend.asarray(self._variance, dtype=x.dtype))

    def call(self, inputs):
        x = _as_float(inputs, self.dtype)
        if x.ndim != len(self._broadcast_shape) or any(
                b != 1 and b != n for b, n in zip(self._broadcast_shape, x.shape)):
            raise ValueError(f"layer {self.name!r} (Normalization) was built for inputs of "
                             f"shape {self._build_input_shape}, got {x.shape}")
        mean, variance = self._statistics(x)
        xp = x.xp
        scale = xp.maximum(xp.sqrt(variance), x.dtype.type(config.epsilon()))
        if self.invert:
            return x * scale + mean
        return (x - mean) / scale

    def adapt(self, data):
        """Set ``mean`` and ``variance`` to the statistics of ``data`` over the reduced
        axes (the population variance), computed in float64.

        Args:
            data: an array or Tensor, or an iterable of batches (arrays, Tensors, or
                tuples whose first entry is the input); batches are merged exactly.

        Raises:
            ValueError: for a layer given ``mean``/``variance``, an empty iterable, or a
                batch whose kept axes differ from the built shape.
            TypeError: for data that is neither an array nor an iterable of arrays.
        """
        if self.input_mean is not None:
            raise ValueError(f"layer {self.name!r} was given mean and variance; adapt() "
                             "needs a Normalization layer created without them")
        batches, shape = _batches(data)
        if not self.built:
            self._build(shape)
        total, mean, variance = 0, None, None
        for batch in batches:
            count, batch_mean, batch_variance = self._batch_moments(batch)
            total += count
            weight = count / total
            if mean is None:
                mean, variance = batch_mean, batch_variance
                continue
            new_mean = mean * (1 - weight) + batch_mean * weight
            variance = (variance + (mean - new_mean) ** 2) * (1 - weight) + \
                (batch_variance + (batch_mean - new_mean) ** 2) * weight
            mean = new_mean
        self.adapt_mean.assign(mean)
        self.adapt_variance.assign(variance)

    def _batch_moments(self, batch):
        array = batch.data if isinstance(batch, Tensor) else batch
        if not is_array(array):
            array = numpy.asarray(array)  # host
        built = self._build_input_shape
        if array.ndim != len(built) or any(array.shape[a] != built[a]
                                           for a in self._keep_axis):
            raise ValueError(f"layer {self.name!r} (Normalization) was built for inputs of "
                             f"shape {built}; adapt() got a batch of shape {array.shape}")
        array = array.astype("float64")
        count = math.prod(array.shape[a] for a in self._reduce_axis)
        return (count, array.mean(axis=self._reduce_axis),
                array.var(axis=self._reduce_axis))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config_ = super().get_config()
        config_.update({
            "axis": self.axis,
            "invert": self.invert,
            "mean": None if self.input_mean is None else _host(self.input_mean).tolist(),
            "variance": None if self.input_variance is None else
            _host(self.input_variance).tolist(),
        })
        return config_
