"""Reshaping layers: ``ZeroPadding2D``, ``Flatten``, ``Reshape``, ``Cropping1D``,
``Cropping2D``, ``ZeroPadding1D``, ``UpSampling1D`` and ``UpSampling2D`` (Keras 3's
arguments and configs; the upsampling maths is in ``minidl.ops.upsampling``).

>>> import numpy as np, minidl as mdl
>>> mdl.layers.ZeroPadding2D(((1, 0), (0, 2)))(np.ones((1, 1, 1, 1))).numpy()[0, :, :, 0]
array([[0., 0., 0.],
       [1., 0., 0.]], dtype=float32)
>>> mdl.layers.Flatten()(np.ones((2, 3, 4))).shape
(2, 12)
>>> mdl.layers.Reshape((-1, 2))(np.ones((2, 6))).shape
(2, 3, 2)
>>> mdl.layers.Cropping1D((1, 2))(np.arange(5.0).reshape(1, 5, 1)).numpy()[0, :, 0]
array([1., 2.], dtype=float32)
>>> mdl.layers.UpSampling2D((1, 2))(np.arange(2.0).reshape(1, 1, 2, 1)).numpy()[0, 0, :, 0]
array([0., 0., 1., 1.], dtype=float32)
"""
import math

from ..ops import conv_utils
from ..ops.shape import getitem, pad, reshape, transpose
from ..ops.upsampling import upsample_linear, upsample_nearest
from .base import Layer
from .core import check_rank, image_layout

__all__ = ["ZeroPadding2D", "Flatten", "Reshape", "Cropping1D", "Cropping2D",
           "ZeroPadding1D", "UpSampling1D", "UpSampling2D"]


def _normalize_pairs2d(value, name):
    """An int, ``(h, w)`` or ``((top, bottom), (left, right))`` as the last form (the
    ``padding`` of ZeroPadding2D, the ``cropping`` of Cropping2D)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{name}={value!r} must be >= 0")
        return ((value, value), (value, value))
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return (conv_utils.normalize_tuple(value[0], 2, f"1st entry of {name}",
                                           allow_zero=True),
                conv_utils.normalize_tuple(value[1], 2, f"2nd entry of {name}",
                                           allow_zero=True))
    raise ValueError(f"{name}={value!r} must be an int, a tuple of 2 ints or a tuple "
                     "of 2 tuples of 2 ints ((top, bottom), (left, right))")


class ZeroPadding2D(Layer):
    """Pad rows and columns of images with zeros.

    Args:
        padding: int (all four sides), ``(h, w)`` (symmetric), or
            ``((top, bottom), (left, right))``; every amount >= 0.
        data_format: "channels_last", "channels_first" or None (the configured default).
        **kwargs: base Layer arguments.

    Input shape:
        ``(N, H, W, C)`` or ``(N, C, H, W)``.

    Output shape:
        ``(N, H + top + bottom, W + left + right, C)`` (or channels_first likewise).

    Raises:
        ValueError: a negative or malformed ``padding``, an unknown ``data_format`` or an
            input that is not 4-D.
    """

    def __init__(self, padding: int | tuple = (1, 1), data_format: str | None = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.padding = _normalize_pairs2d(padding, "padding")
        self.data_format = conv_utils.normalize_data_format(data_format)

    def _pad_width(self):
        (top, bottom), (left, right) = self.padding
        if self.data_format == "channels_last":
            return ((0, 0), (top, bottom), (left, right), (0, 0))
        return ((0, 0), (0, 0), (top, bottom), (left, right))

    def _check(self, shape):
        if len(shape) != 4:
            layout = "(N, H, W, C)" if self.data_format == "channels_last" else \
                "(N, C, H, W)"
            raise ValueError(f"{self.name} (ZeroPadding2D) expects a 4-D input {layout}, "
                             f"got shape {tuple(shape)}")

    def build(self, input_shape):
        self._check(input_shape)

    def call(self, inputs):
        self._check(inputs.shape)
        return pad(inputs, self._pad_width())

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        return tuple(None if n is None else n + before + after
                     for n, (before, after) in zip(input_shape, self._pad_width()))

    def get_config(self):
        config = super().get_config()
        config.update({"padding": self.padding, "data_format": self.data_format})
        return config


class Flatten(Layer):
    """Flatten every axis but the batch axis: ``(N, d1, ..., dk) -> (N, d1 * ... * dk)``.

    With ``data_format="channels_first"`` the channel axis is moved last first, so the
    flattened order matches a channels_last model (Keras's rule).

    Args:
        data_format: "channels_last", "channels_first" or None (the configured default).
        **kwargs: base Layer arguments.

    Input shape:
        Rank >= 1 (a rank-1 input ``(N,)`` becomes ``(N, 1)``).

    Output shape:
        ``(N, prod(input_shape[1:]))``.
    """

    def __init__(self, data_format: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.data_format = conv_utils.normalize_data_format(data_format)

    def _check(self, shape):
        if len(shape) < 1:
            raise ValueError(f"{self.name} (Flatten) needs an input of rank >= 1 (a batch "
                             f"axis), got shape {tuple(shape)}")

    def build(self, input_shape):
        self._check(input_shape)

    def call(self, inputs):
        self._check(inputs.shape)
        rank = inputs.ndim
        if self.data_format == "channels_first" and rank > 2:
            inputs = transpose(inputs, (0,) + tuple(range(2, rank)) + (1,))
        return reshape(inputs, (inputs.shape[0], math.prod(inputs.shape[1:])))

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        rest = input_shape[1:]
        return (input_shape[0], None if any(n is None for n in rest) else math.prod(rest))

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


def _normalize_target_shape(target_shape):
    try:
        shape = tuple(target_shape)
    except TypeError:
        raise ValueError(f"target_shape={target_shape!r} must be a tuple of ints") from None
    if not all(isinstance(n, int) and not isinstance(n, bool) and (n > 0 or n == -1)
               for n in shape) or shape.count(-1) > 1:
        raise ValueError(f"target_shape={target_shape!r} must be a tuple of positive ints "
                         "with at most one -1 (an inferred size)")
    return shape


class Reshape(Layer):
    """Reshape every axis but the batch axis to ``target_shape``.

    Args:
        target_shape: tuple of positive ints, at most one of them -1 (inferred), without
            the batch axis.
        **kwargs: base Layer arguments.

    Input shape:
        ``(N, ...)`` with ``prod(...)`` compatible with ``target_shape``.

    Output shape:
        ``(N,) + target_shape`` (the -1 resolved).

    Raises:
        ValueError: a malformed ``target_shape`` or an input whose size does not fit it.
    """

    def __init__(self, target_shape: tuple, **kwargs) -> None:
        super().__init__(**kwargs)
        self.target_shape = _normalize_target_shape(target_shape)

    def _resolve(self, input_shape):
        size = math.prod(input_shape[1:]) if input_shape[1:] else 1
        known = math.prod(n for n in self.target_shape if n != -1)
        if -1 in self.target_shape:
            if size % known:
                raise self._mismatch(input_shape)
            return tuple(size // known if n == -1 else n for n in self.target_shape)
        if size != known:
            raise self._mismatch(input_shape)
        return self.target_shape

    def _mismatch(self, input_shape):
        return ValueError(f"{self.name}: cannot reshape an input of shape "
                          f"{tuple(input_shape)} ({math.prod(input_shape[1:])} values per "
                          f"sample) to target_shape={self.target_shape}")

    def build(self, input_shape):
        if len(input_shape) < 1:
            raise ValueError(f"{self.name} (Reshape) needs an input with a batch axis")
        if all(n is not None for n in input_shape[1:]):
            self._resolve(input_shape)

    def call(self, inputs):
        return reshape(inputs, (inputs.shape[0],) + self._resolve(inputs.shape))

    def compute_output_shape(self, input_shape):
        if any(n is None for n in input_shape[1:]):
            return (input_shape[0],) + tuple(None if n == -1 else n
                                              for n in self.target_shape)
        return (input_shape[0],) + self._resolve(input_shape)

    def get_config(self):
        config = super().get_config()
        config["target_shape"] = self.target_shape
        return config


def _spatial_axes(rank, data_format):
    return tuple(range(1, rank - 1)) if data_format == "channels_last" else \
        tuple(range(2, rank))


class _Cropping(Layer):
    """Shared shape rule and call of the cropping layers; ``_pairs()`` gives
    ``(before, after)`` per spatial axis."""

    _rank = 4
    data_format = "channels_last"

    def _pairs(self):
        raise NotImplementedError

    def _output_shape(self, input_shape):
        check_rank(self, input_shape, self._rank,
                   image_layout(self._rank, self.data_format))
        out = list(input_shape)
        for axis, (before, after) in zip(_spatial_axes(self._rank, self.data_format),
                                         self._pairs()):
            if out[axis] is not None:
                if before + after >= out[axis]:
                    raise ValueError(f"{self.name} ({type(self).__name__}): "
                                     f"cropping={self.cropping} must leave at least one "
                                     "entry of every cropped axis; received input_shape="
                                     f"{tuple(input_shape)}")
                out[axis] -= before + after
        return tuple(out)

    def build(self, input_shape):
        self._output_shape(input_shape)

    def call(self, inputs):
        self._output_shape(inputs.shape)
        index = [slice(None)] * inputs.ndim
        for axis, (before, after) in zip(_spatial_axes(self._rank, self.data_format),
                                         self._pairs()):
            index[axis] = slice(before, inputs.shape[axis] - after)
        return getitem(inputs, tuple(index))

    def compute_output_shape(self, input_shape):
        return self._output_shape(input_shape)


class Cropping1D(_Cropping):
    """Crop entries off the start and end of the steps axis: ``y = x[:, left:L-right, :]``.

    Args:
        cropping: int (both ends) or ``(left, right)``; every amount >= 0.
        **kwargs: base Layer arguments.

    Input shape:
        ``(N, L, C)``.

    Output shape:
        ``(N, L - left - right, C)``.

    Raises:
        ValueError: a negative or malformed ``cropping``, an input that is not 3-D or
            ``left + right >= L``.
    """

    _rank = 3

    def __init__(self, cropping: int | tuple = (1, 1), **kwargs) -> None:
        super().__init__(**kwargs)
        self.cropping = conv_utils.normalize_tuple(cropping, 2, "cropping", allow_zero=True)

    def _pairs(self):
        return (self.cropping,)

    def get_config(self):
        config = super().get_config()
        config["cropping"] = self.cropping
        return config


class Cropping2D(_Cropping):
    """Crop rows and columns off the borders of images.

    Args:
        cropping: int (all four sides), ``(h, w)`` (symmetric), or
            ``((top, bottom), (left, right))``; every amount >= 0.
        data_format: "channels_last", "channels_first" or None (the configured default).
        **kwargs: base Layer arguments.

    Input shape:
        ``(N, H, W, C)`` or ``(N, C, H, W)``.

    Output shape:
        ``(N, H - top - bottom, W - left - right, C)`` (or channels_first likewise).

    Raises:
        ValueError: a negative or malformed ``cropping``, an unknown ``data_format``, an
            input that is not 4-D, or a cropping that leaves no row or column.
    """

    def __init__(self, cropping: int | tuple = ((0, 0), (0, 0)),
                 data_format: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cropping = _normalize_pairs2d(cropping, "cropping")
        self.data_format = conv_utils.normalize_data_format(data_format)

    def _pairs(self):
        return self.cropping

    def get_config(self):
        config = super().get_config()
        config.update({"cropping": self.cropping, "data_format": self.data_format})
        return config


class ZeroPadding1D(Layer):
    """Pad the start and end of the steps axis with zeros.

    Args:
        padding: int (both ends) or ``(left, right)``; every amount >= 0.
        data_format: "channels_last" ``(N, L, C)``, "channels_first" ``(N, C, L)`` or
            None (the configured default).
        **kwargs: base Layer arguments.

    Input shape:
        ``(N, L, C)`` or ``(N, C, L)``.

    Output shape:
        ``(N, L + left + right, C)`` or ``(N, C, L + left + right)``.

    Raises:
        ValueError: a negative or malformed ``padding``, an unknown ``data_format`` or an
            input that is not 3-D.
    """

    def __init__(self, padding: int | tuple = 1, data_format: str | None = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.padding = conv_utils.normalize_tuple(padding, 2, "padding", allow_zero=True)
        self.data_format = conv_utils.normalize_data_format(data_format)

    def _axis(self):
        return 1 if self.data_format == "channels_last" else 2

    def build(self, input_shape):
        check_rank(self, input_shape, 3, image_layout(3, self.data_format))

    def call(self, inputs):
        check_rank(self, inputs.shape, 3, image_layout(3, self.data_format))
        width = [(0, 0)] * 3
        width[self._axis()] = self.padding
        return pad(inputs, width)

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, 3, image_layout(3, self.data_format))
        out = list(input_shape)
        if out[self._axis()] is not None:
            out[self._axis()] += sum(self.padding)
        return tuple(out)

    def get_config(self):
        config = super().get_config()
        config.update({"padding": self.padding, "data_format": self.data_format})
        return config


class UpSampling1D(Layer):
    """Repeat every step ``size`` times: ``y[:, t, :] = x[:, t // size, :]``.

    Args:
        size: positive int (default 2).
        **kwargs: base Layer arguments.

    Input shape:
        ``(N, L, C)``.

    Output shape:
        ``(N, L * size, C)``.

    Raises:
        TypeError: a ``size`` that is not an int.
        ValueError: a ``size`` <= 0 or an input that is not 3-D.
    """

    def __init__(self, size: int | tuple = 2, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(size, int) or isinstance(size, bool):
            raise TypeError(f"size={size!r} must be an int, got {type(size).__name__}")
        if size <= 0:
            raise ValueError(f"size={size!r} must be a positive int")
        self.size = size

    def build(self, input_shape):
        check_rank(self, input_shape, 3, "(N, L, C)")

    def call(self, inputs):
        check_rank(self, inputs.shape, 3, "(N, L, C)")
        return upsample_nearest(inputs, self.size, axis=1)

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, 3, "(N, L, C)")
        steps = input_shape[1]
        return (input_shape[0], None if steps is None else steps * self.size,
                input_shape[2])

    def get_config(self):
        config = super().get_config()
        config["size"] = self.size
        return config


_INTERPOLATIONS = {"nearest": upsample_nearest, "bilinear": upsample_linear}


class UpSampling2D(Layer):
    """Enlarge images by integer factors, by nearest-neighbour repetition or bilinear
    interpolation.

    "nearest": ``y[n, i, j, c] = x[n, i // sh, j // sw, c]``. "bilinear": output pixel
    ``(i, j)`` samples the input at ``((i + 0.5) / sh - 0.5, (j + 0.5) / sw - 0.5)``
    (half-pixel centers, clamped to the border), interpolating linearly between the two
    nearest rows and then columns (``jax.image.resize``'s "linear", as Keras).

    Args:
        size: int or ``(sh, sw)``, positive (default ``(2, 2)``).
        data_format: "channels_last", "channels_first" or None (the configured default).
        interpolation: "nearest" (default) or "bilinear", case-insensitive.
        **kwargs: base Layer arguments.

    Input shape:
        ``(N, H, W, C)`` or ``(N, C, H, W)``.

    Output shape:
        ``(N, H * sh, W * sw, C)`` (or channels_first likewise).

    Raises:
        ValueError: a non-positive or malformed ``size``, an unknown ``data_format``, an
            ``interpolation`` other than "nearest" and "bilinear" (Keras's "bicubic",
            "lanczos3" and "lanczos5" included), or an input that is not 4-D.
    """

    def __init__(self, size: int | tuple = (2, 2), data_format: str | None = None,
                 interpolation: str = "nearest", **kwargs) -> None:
        super().__init__(**kwargs)
        self.size = conv_utils.normalize_tuple(size, 2, "size")
        self.data_format = conv_utils.normalize_data_format(data_format)
        if not isinstance(interpolation, str) or \
                interpolation.lower() not in _INTERPOLATIONS:
            raise ValueError(f"interpolation={interpolation!r} is not supported; expected "
                             "'nearest' or 'bilinear'")
        self.interpolation = interpolation.lower()

    def build(self, input_shape):
        check_rank(self, input_shape, 4, image_layout(4, self.data_format))

    def call(self, inputs):
        check_rank(self, inputs.shape, 4, image_layout(4, self.data_format))
        upsample = _INTERPOLATIONS[self.interpolation]
        for axis, factor in zip(_spatial_axes(4, self.data_format), self.size):
            inputs = upsample(inputs, factor, axis)
        return inputs

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, 4, image_layout(4, self.data_format))
        out = list(input_shape)
        for axis, factor in zip(_spatial_axes(4, self.data_format), self.size):
            out[axis] = None if out[axis] is None else out[axis] * factor
        return tuple(out)

    def get_config(self):
        config = super().get_config()
        config.update({"size": self.size, "data_format": self.data_format,
                       "interpolation": self.interpolation})
        return config
