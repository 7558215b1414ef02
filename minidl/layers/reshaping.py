"""Reshaping layers: ``ZeroPadding2D``, ``Flatten``, ``Reshape`` (Keras 3's arguments and
configs).

>>> import numpy as np, minidl as mdl
>>> mdl.layers.ZeroPadding2D(((1, 0), (0, 2)))(np.ones((1, 1, 1, 1))).numpy()[0, :, :, 0]
array([[0., 0., 0.],
       [1., 0., 0.]], dtype=float32)
>>> mdl.layers.Flatten()(np.ones((2, 3, 4))).shape
(2, 12)
>>> mdl.layers.Reshape((-1, 2))(np.ones((2, 6))).shape
(2, 3, 2)
"""
import math

from ..ops import conv_utils
from ..ops.shape import pad, reshape, transpose
from .base import Layer

__all__ = ["ZeroPadding2D", "Flatten", "Reshape"]


def _normalize_padding2d(padding):
    """An int, ``(h, w)`` or ``((top, bottom), (left, right))`` as the last form."""
    if isinstance(padding, int) and not isinstance(padding, bool):
        if padding < 0:
            raise ValueError(f"padding={padding!r} must be >= 0")
        return ((padding, padding), (padding, padding))
    if isinstance(padding, (tuple, list)) and len(padding) == 2:
        return (conv_utils.normalize_tuple(padding[0], 2, "1st entry of padding",
                                           allow_zero=True),
                conv_utils.normalize_tuple(padding[1], 2, "2nd entry of padding",
                                           allow_zero=True))
    raise ValueError(f"padding={padding!r} must be an int, a tuple of 2 ints or a tuple "
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

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _normalize_padding2d(padding)
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

    def __init__(self, data_format=None, **kwargs):
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

    def __init__(self, target_shape, **kwargs):
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
