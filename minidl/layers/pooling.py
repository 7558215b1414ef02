"""Pooling layers: ``MaxPooling2D``, ``AveragePooling2D``, ``MaxPooling1D``,
``AveragePooling1D`` and the global poolings (Keras 3's arguments and configs; the maths
is in ``minidl.ops.pooling``).

>>> import numpy as np, minidl as mdl
>>> x = np.arange(16.0).reshape(1, 4, 4, 1)
>>> mdl.layers.MaxPooling2D()(x).numpy()[0, :, :, 0].tolist()
[[5.0, 7.0], [13.0, 15.0]]
>>> mdl.layers.GlobalAveragePooling2D()(x).numpy().tolist()
[[7.5]]
"""
from ..ops import conv_utils
from ..ops.pooling import (
    avg_pool1d,
    avg_pool2d,
    global_avg_pool,
    global_max_pool,
    max_pool1d,
    max_pool2d,
)
from .base import Layer, _family
from .core import check_rank, image_layout

__all__ = ["MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
           "GlobalMaxPooling2D", "GlobalAveragePooling1D", "MaxPool2D", "AvgPool2D",
           "GlobalAvgPool2D", "GlobalMaxPool2D", "GlobalAvgPool1D", "MaxPooling1D",
           "AveragePooling1D", "GlobalMaxPooling1D", "MaxPool1D", "AvgPool1D",
           "GlobalMaxPool1D"]


class _Pooling(Layer):
    """Shared arguments, shape rule and config of the 1-D and 2-D pooling layers
    (``_dims`` spatial axes)."""

    _dims = 2
    _pool = None

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.pool_size = conv_utils.normalize_tuple(pool_size, self._dims, "pool_size")
        self.strides = self.pool_size if strides is None else \
            conv_utils.normalize_tuple(strides, self._dims, "strides")
        self.padding = conv_utils.normalize_padding(padding)
        self.data_format = conv_utils.normalize_data_format(data_format)

    def _layout(self):
        return image_layout(self._dims + 2, self.data_format)

    def build(self, input_shape):
        check_rank(self, input_shape, self._dims + 2, self._layout())
        self.compute_output_shape(input_shape)  # a "valid" pool larger than the input

    def call(self, inputs):
        check_rank(self, inputs.shape, self._dims + 2, self._layout())
        return type(self)._pool(inputs, self.pool_size, self.strides, self.padding,
                                self.data_format)

    def compute_output_shape(self, input_shape):
        rank = self._dims + 2
        check_rank(self, input_shape, rank, self._layout())
        axes = tuple(range(1, rank - 1)) if self.data_format == "channels_last" else \
            tuple(range(2, rank))
        return tuple(conv_utils.output_shape(
            tuple(input_shape), axes, self.pool_size, self.strides, None, self.padding,
            where=f"{self.name} ({type(self).__name__})", kernel_name="pool_size"))

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": self.pool_size, "padding": self.padding,
                       "strides": self.strides, "data_format": self.data_format})
        return config


class _Pooling2D(_Pooling):
    """The 2-D pooling layers' signature (default ``pool_size=(2, 2)``)."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling2D(_Pooling2D):
    """Max over ``pool_size`` windows moved by ``strides``.

    Args:
        pool_size: int or tuple of 2 ints (default ``(2, 2)``).
        strides: int, tuple of 2 ints, or None (``pool_size``).
        padding: "valid" or "same" (TensorFlow's rule; padding never wins the max).
        data_format: "channels_last", "channels_first" or None (the configured default).
        **kwargs: base Layer arguments.

    Input shape:
        ``(N, H, W, C)`` (channels_last) or ``(N, C, H, W)``.

    Output shape:
        ``(N, OH, OW, C)`` or ``(N, C, OH, OW)``: ``ceil(n / s)`` for "same",
        ``floor((n - k) / s) + 1`` for "valid".

    Raises:
        ValueError: zero/negative sizes, an unknown padding or data_format, an input of
            the wrong rank or smaller than a "valid" window.
    """

    _pool = staticmethod(max_pool2d)


class AveragePooling2D(_Pooling2D):
    """Mean over ``pool_size`` windows moved by ``strides``; with "same" padding each
    window is divided by its number of real (unpadded) pixels, as Keras. Arguments,
    shapes and errors as ``MaxPooling2D``."""

    _pool = staticmethod(avg_pool2d)


class MaxPooling1D(_Pooling):
    """Max over windows of ``pool_size`` steps moved by ``strides``.

    Args:
        pool_size: int or tuple of 1 int (default 2).
        strides: int, tuple of 1 int, or None (``pool_size``).
        padding: "valid" or "same" (TensorFlow's rule; padding never wins the max).
        data_format: "channels_last" ``(N, L, C)``, "channels_first" ``(N, C, L)`` or
            None (the configured default).
        **kwargs: base Layer arguments.

    Input shape:
        ``(N, L, C)`` or ``(N, C, L)``.

    Output shape:
        ``(N, OL, C)`` or ``(N, C, OL)``: ``ceil(L / s)`` for "same",
        ``floor((L - k) / s) + 1`` for "valid".

    Raises:
        ValueError: zero/negative sizes, an unknown padding or data_format, an input of
            the wrong rank or shorter than a "valid" window.
    """

    _dims = 1
    _pool = staticmethod(max_pool1d)

    def __init__(self, pool_size: int | tuple = 2, strides: int | tuple | None = None,
                 padding: str = "valid", data_format: str | None = None, **kwargs) -> None:
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(_Pooling):
    """Mean over windows of ``pool_size`` steps moved by ``strides``; with "same" padding
    each window is divided by its number of real (unpadded) steps, as Keras. Arguments
    (``pool_size`` is required, as in Keras 3), shapes and errors as ``MaxPooling1D``."""

    _dims = 1
    _pool = staticmethod(avg_pool1d)


class _GlobalPooling(Layer):
    """Mean or max over every spatial axis of a rank-``_rank`` input."""

    _rank = 4
    _pool = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = conv_utils.normalize_data_format(data_format)
        if not isinstance(keepdims, bool):
            raise ValueError(f"keepdims={keepdims!r} must be True or False")
        self.keepdims = keepdims

    def _layout(self):
        return image_layout(self._rank, self.data_format)

    def build(self, input_shape):
        check_rank(self, input_shape, self._rank, self._layout())

    def call(self, inputs):
        check_rank(self, inputs.shape, self._rank, self._layout())
        return type(self)._pool(inputs, self._rank, self.data_format, self.keepdims)

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, self._rank, self._layout())
        shape = list(input_shape)
        spatial = range(1, self._rank - 1) if self.data_format == "channels_last" else \
            range(2, self._rank)
        if self.keepdims:
            for a in spatial:
                shape[a] = 1
            return tuple(shape)
        return tuple(n for a, n in enumerate(shape) if a not in spatial)

    def get_config(self):
        config = super().get_config()
        config.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return config


class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over ``H`` and ``W``.

    Args:
        data_format: "channels_last", "channels_first" or None (the configured default).
        keepdims: keep the spatial axes with size 1.
        **kwargs: base Layer arguments.

    Input shape:
        ``(N, H, W, C)`` or ``(N, C, H, W)``.

    Output shape:
        ``(N, C)``; with keepdims ``(N, 1, 1, C)`` or ``(N, C, 1, 1)``.
    """

    _pool = staticmethod(global_avg_pool)


class GlobalMaxPooling2D(_GlobalPooling):
    """Max over ``H`` and ``W`` (tied maxima share the gradient equally). Arguments and
    shapes as ``GlobalAveragePooling2D``."""

    _pool = staticmethod(global_max_pool)


class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over the steps of ``(N, L, C)`` (or ``(N, C, L)``) inputs: output ``(N, C)``,
    with keepdims ``(N, 1, C)`` or ``(N, C, 1)``."""

    _rank = 3
    _pool = staticmethod(global_avg_pool)


class GlobalMaxPooling1D(_GlobalPooling):
    """Max over the steps of ``(N, L, C)`` (or ``(N, C, L)``) inputs (tied maxima share
    the gradient equally): output ``(N, C)``, with keepdims ``(N, 1, C)`` or
    ``(N, C, 1)``."""

    _rank = 3
    _pool = staticmethod(global_max_pool)


# Keras's aliases (also found by name: ``layers.get("MaxPool2D")``)
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalAvgPool1D = GlobalAveragePooling1D
MaxPool1D = MaxPooling1D
AvgPool1D = AveragePooling1D
GlobalMaxPool1D = GlobalMaxPooling1D
for _cls, _alias in ((MaxPooling2D, "MaxPool2D"), (AveragePooling2D, "AvgPool2D"),
                     (GlobalAveragePooling2D, "GlobalAvgPool2D"),
                     (GlobalMaxPooling2D, "GlobalMaxPool2D"),
                     (GlobalAveragePooling1D, "GlobalAvgPool1D"),
                     (MaxPooling1D, "MaxPool1D"), (AveragePooling1D, "AvgPool1D"),
                     (GlobalMaxPooling1D, "GlobalMaxPool1D")):
    _family.register(_cls, _alias)
