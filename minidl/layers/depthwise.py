"""Depthwise and separable convolution layers (Keras 3's arguments, weights and configs;
the maths, with hand-derived backward passes, is in ``minidl.ops.depthwise``).

- ``DepthwiseConv2D`` / ``DepthwiseConv1D``:
  ``activation(depthwise_conv(x, kernel) + bias)``; ``kernel (*kernel_size, in_channels,
  depth_multiplier)`` (also reachable as ``depthwise_kernel``), ``bias (in_channels *
  depth_multiplier,)``. Output channel ``c*depth_multiplier + m`` comes from input channel
  ``c`` and multiplier ``m``.
- ``SeparableConv2D`` / ``SeparableConv1D``: the depthwise convolution (no bias), then a
  pointwise ``(*(1,)*rank, in_channels * depth_multiplier, filters)`` convolution, bias and
  activation; weights ``depthwise_kernel``, ``pointwise_kernel``, ``bias``.

The rank-generic ``BaseDepthwiseConv`` and ``BaseSeparableConv`` hold everything; the 1-D
and 2-D classes only set the rank and Keras's defaults.

>>> import numpy as np, minidl as mdl
>>> layer = mdl.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)
>>> layer(np.ones((2, 5, 5, 3))).shape, [w.shape for w in layer.weights]
((2, 5, 5, 6), [(3, 3, 3, 2), (6,)])
>>> sep = mdl.layers.SeparableConv1D(4, 3, strides=2)
>>> sep(np.ones((2, 9, 3))).shape, [w.shape for w in sep.weights]
((2, 4, 4), [(3, 3, 1), (1, 3, 4), (4,)])
"""
from .. import activations
from ..ops.depthwise import depthwise, separable
from .arguments import set_weight_arguments, weight_arguments_config
from .conv_base import ConvLayerBase
from .core import positive_int

__all__ = ["BaseDepthwiseConv", "BaseSeparableConv", "DepthwiseConv2D", "DepthwiseConv1D",
           "SeparableConv2D", "SeparableConv1D"]


class _DepthwiseArguments(ConvLayerBase):
    """What depthwise and separable layers share: argument normalization (once, in the
    constructor), the depthwise kernel, input checks and the spatial output size.
    Subclasses set ``rank``."""

    def _set_arguments(self, kernel_size, strides, padding, data_format, dilation_rate,
                       depth_multiplier, activation, use_bias, depthwise_initializer,
                       bias_initializer, depthwise_regularizer, bias_regularizer,
                       depthwise_constraint, bias_constraint):
        self._set_geometry(kernel_size, strides, padding, data_format, dilation_rate)
        self.depth_multiplier = positive_int(depth_multiplier, "depth_multiplier")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        set_weight_arguments(self, "depthwise", depthwise_initializer,
                             depthwise_regularizer, depthwise_constraint)
        set_weight_arguments(self, "bias", bias_initializer, bias_regularizer,
                             bias_constraint)

    def _add_depthwise_kernel(self, name):
        return self.add_weight(
            name, self.kernel_size + (self.input_channels, self.depth_multiplier),
            self.depthwise_initializer, self.depthwise_regularizer,
            self.depthwise_constraint)

    def _add_bias(self, units):
        if not self.use_bias:
            return None
        return self.add_weight("bias", (units,), self.bias_initializer,
                               self.bias_regularizer, self.bias_constraint)

    def _geometry_config(self):
        """The entries Keras 3 writes before the initializers, in its order."""
        return {"kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate,
                "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias}


class BaseDepthwiseConv(_DepthwiseArguments):
    """A depthwise convolution over ``rank`` spatial axes: each input channel is convolved
    with its own ``depth_multiplier`` filters, ``output = activation(depthwise_conv(inputs,
    kernel) + bias)``.

    Args:
        kernel_size: int or tuple of ``rank`` positive ints.
        strides: int or tuple of ``rank`` positive ints.
        padding: ``"valid"`` or ``"same"`` (case-insensitive; TensorFlow's "same" rule, the
            extra pixel at the end).
        depth_multiplier: positive int, output channels per input channel.
        data_format: ``"channels_last"``, ``"channels_first"`` or None (the configured
            ``image_data_format()``).
        dilation_rate: int or tuple of ``rank`` positive ints; any stride > 1 together with
            any dilation > 1 is an error.
        activation: name or callable; None means linear.
        use_bias: whether to add a bias vector.
        depthwise_initializer, bias_initializer: ``"glorot_uniform"``, ``"zeros"`` by
            default; names, configs, instances or callables.
        depthwise_regularizer, bias_regularizer, activity_regularizer: or None.
        depthwise_constraint, bias_constraint: or None.
        **kwargs: the common layer arguments (``name``, ``trainable``, ``dtype``,
            ``input_shape``, ``batch_input_shape``, ``batch_size``, ``weights``).

    Raises:
        ValueError: naming the argument and its value, at construction for non-positive or
            wrongly sized ``kernel_size``/``strides``/``dilation_rate``/
            ``depth_multiplier``, a ``padding`` other than "valid"/"same", a bad
            ``data_format``, or a stride > 1 with a dilation > 1; at the first call for an
            input of the wrong rank, with a channel count other than the built one, or too
            small for a "valid" kernel.
    """

    def __init__(self, rank: int, kernel_size: int | tuple, strides: int | tuple = 1,
                 padding: str = "valid", depth_multiplier: int = 1,
                 data_format: str | None = None, dilation_rate: int | tuple = 1,
                 activation=None, use_bias: bool = True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None,
                 **kwargs) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.rank = rank
        self._set_arguments(kernel_size, strides, padding, data_format, dilation_rate,
                            depth_multiplier, activation, use_bias, depthwise_initializer,
                            bias_initializer, depthwise_regularizer, bias_regularizer,
                            depthwise_constraint, bias_constraint)

    @property
    def depthwise_kernel(self):
        """The ``kernel`` weight under its other name."""
        return self.kernel

    def compute_output_shape(self, input_shape):
        out = self._output_shape(input_shape)
        channels = out[self._channel_axis()]
        out[self._channel_axis()] = channels * self.depth_multiplier
        return tuple(out)

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        self.input_channels = input_shape[self._channel_axis()]
        self.kernel = self._add_depthwise_kernel("kernel")
        self.bias = self._add_bias(self.input_channels * self.depth_multiplier)

    def call(self, inputs):
        self._amounts(inputs.shape)
        y = depthwise(inputs, self.kernel, self.bias, self.strides, self.padding,
                      self.dilation_rate, self.data_format, where=self._where())
        return self.activation(y)

    def get_config(self):
        config = super().get_config()
        config["depth_multiplier"] = self.depth_multiplier
        config.update(self._geometry_config())
        config.update({
            **weight_arguments_config(self, ["depthwise", "bias"],
                                      activity_regularizer=True),
        })
        return config


class BaseSeparableConv(_DepthwiseArguments):
    """A depthwise convolution over ``rank`` spatial axes (no bias) followed by a
    pointwise (1x1) convolution to ``filters`` channels, bias and activation:
    ``output = activation(pointwise(depthwise_conv(inputs, depthwise_kernel)) + bias)``.

    Args:
        filters: positive int, the number of output channels.
        kernel_size, strides, padding, data_format, dilation_rate: as
            ``BaseDepthwiseConv``.
        depth_multiplier, activation, use_bias, activity_regularizer: likewise.
        depthwise_initializer, pointwise_initializer, bias_initializer: default
            ``"glorot_uniform"``, ``"glorot_uniform"``, ``"zeros"``.
        depthwise_regularizer, pointwise_regularizer, bias_regularizer: or None.
        depthwise_constraint, pointwise_constraint, bias_constraint: or None.
        **kwargs: the common layer arguments.

    Raises:
        ValueError: as ``BaseDepthwiseConv``, and for ``filters`` < 1.
    """

    def __init__(self, rank: int, filters: int, kernel_size: int | tuple,
                 strides: int | tuple = 1, padding: str = "valid",
                 data_format: str | None = None, dilation_rate: int | tuple = 1,
                 depth_multiplier: int = 1, activation=None, use_bias: bool = True,
                 depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None,
                 **kwargs) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.rank = rank
        self.filters = positive_int(filters, "filters")
        self._set_arguments(kernel_size, strides, padding, data_format, dilation_rate,
                            depth_multiplier, activation, use_bias, depthwise_initializer,
                            bias_initializer, depthwise_regularizer, bias_regularizer,
                            depthwise_constraint, bias_constraint)
        set_weight_arguments(self, "pointwise", pointwise_initializer,
                             pointwise_regularizer, pointwise_constraint)

    def compute_output_shape(self, input_shape):
        out = self._output_shape(input_shape)
        out[self._channel_axis()] = self.filters
        return tuple(out)

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        self.input_channels = input_shape[self._channel_axis()]
        self.depthwise_kernel = self._add_depthwise_kernel("depthwise_kernel")
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel",
            (1,) * self.rank + (self.input_channels * self.depth_multiplier, self.filters),
            self.pointwise_initializer, self.pointwise_regularizer,
            self.pointwise_constraint)
        self.bias = self._add_bias(self.filters)

    def call(self, inputs):
        self._amounts(inputs.shape)
        y = separable(inputs, self.depthwise_kernel, self.pointwise_kernel, self.bias,
                      self.strides, self.padding, self.dilation_rate, self.data_format,
                      where=self._where())
        return self.activation(y)

    def get_config(self):
        config = super().get_config()
        config.update({"depth_multiplier": self.depth_multiplier, "filters": self.filters})
        config.update(self._geometry_config())
        config.update({
            **weight_arguments_config(self, ["depthwise", "pointwise", "bias"],
                                      activity_regularizer=True),
        })
        return config


class DepthwiseConv2D(BaseDepthwiseConv):
    """2-D depthwise convolution layer (see ``BaseDepthwiseConv`` for every argument).

    Weights:
        ``kernel`` (alias ``depthwise_kernel``) of shape ``(kh, kw, in_channels,
        depth_multiplier)``, then ``bias`` ``(in_channels * depth_multiplier,)``.

    Input shape:
        ``(N, H, W, C)`` (channels_last) or ``(N, C, H, W)`` (channels_first).

    Output shape:
        ``(N, OH, OW, C * depth_multiplier)`` or ``(N, C * depth_multiplier, OH, OW)``;
        ``OH = ceil(H / sh)`` for "same", ``floor((H - (kh - 1) dh - 1) / sh) + 1`` for
        "valid"; channel ``c * depth_multiplier + m``.

    Example:
        >>> import numpy as np, minidl as mdl
        >>> # kernel 3, stride 3
        >>> layer = mdl.layers.DepthwiseConv2D(3, 3, activation='relu')
        >>> y = layer(np.random.default_rng(0).standard_normal((4, 10, 10, 12)))
        >>> y.shape, layer.kernel.shape, bool((y.numpy() >= 0).all())
        ((4, 3, 3, 12), (3, 3, 12, 1), True)
        >>> layer.depthwise_kernel is layer.kernel
        True
        >>> mdl.layers.DepthwiseConv2D(3, strides=2, dilation_rate=2)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: strides=(2, 2) with dilation_rate=(2, 2): a stride > 1 cannot be ...
    """

    def __init__(self, kernel_size: int | tuple, strides: int | tuple = (1, 1),
                 padding: str = "valid", depth_multiplier: int = 1,
                 data_format: str | None = None, dilation_rate: int | tuple = (1, 1),
                 activation=None, use_bias: bool = True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None,
                 **kwargs) -> None:
        super().__init__(2, kernel_size, strides=strides, padding=padding,
                         depth_multiplier=depth_multiplier, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation,
                         use_bias=use_bias, depthwise_initializer=depthwise_initializer,
                         bias_initializer=bias_initializer,
                         depthwise_regularizer=depthwise_regularizer,
                         bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         depthwise_constraint=depthwise_constraint,
                         bias_constraint=bias_constraint, **kwargs)


class DepthwiseConv1D(BaseDepthwiseConv):
    """1-D depthwise convolution layer (see ``BaseDepthwiseConv`` for every argument).

    Weights:
        ``kernel`` (alias ``depthwise_kernel``) of shape ``(kernel_size, in_channels,
        depth_multiplier)``, then ``bias`` ``(in_channels * depth_multiplier,)``.

    Input shape:
        ``(N, L, C)`` (channels_last) or ``(N, C, L)`` (channels_first).

    Output shape:
        ``(N, OL, C * depth_multiplier)`` or ``(N, C * depth_multiplier, OL)``.

    Example:
        >>> import minidl as mdl
        >>> mdl.layers.DepthwiseConv1D(3, depth_multiplier=2).compute_output_shape(
        ...     (None, 10, 4))
        (None, 8, 8)
    """

    def __init__(self, kernel_size: int | tuple, strides: int | tuple = 1,
                 padding: str = "valid", depth_multiplier: int = 1,
                 data_format: str | None = None, dilation_rate: int | tuple = 1,
                 activation=None, use_bias: bool = True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None,
                 **kwargs) -> None:
        super().__init__(1, kernel_size, strides=strides, padding=padding,
                         depth_multiplier=depth_multiplier, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation,
                         use_bias=use_bias, depthwise_initializer=depthwise_initializer,
                         bias_initializer=bias_initializer,
                         depthwise_regularizer=depthwise_regularizer,
                         bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         depthwise_constraint=depthwise_constraint,
                         bias_constraint=bias_constraint, **kwargs)


class SeparableConv2D(BaseSeparableConv):
    """2-D separable convolution layer (see ``BaseSeparableConv`` for every argument).

    Weights:
        ``depthwise_kernel (kh, kw, in_channels, depth_multiplier)``, ``pointwise_kernel
        (1, 1, in_channels * depth_multiplier, filters)``, then ``bias (filters,)``.

    Input shape:
        ``(N, H, W, C)`` (channels_last) or ``(N, C, H, W)`` (channels_first).

    Output shape:
        ``(N, OH, OW, filters)`` or ``(N, filters, OH, OW)``.

    Example:
        >>> import minidl as mdl
        >>> layer = mdl.layers.SeparableConv2D(8, 3, strides=2, padding="same")
        >>> layer.compute_output_shape((None, 7, 6, 3))
        (None, 4, 3, 8)
        >>> mdl.layers.SeparableConv2D(3, 4, 3, 2)  # the 4th positional argument is padding
        Traceback (most recent call last):
        ...
        ValueError: padding=2 must be 'valid' or 'same'
    """

    def __init__(self, filters: int, kernel_size: int | tuple,
                 strides: int | tuple = (1, 1), padding: str = "valid",
                 data_format: str | None = None, dilation_rate: int | tuple = (1, 1),
                 depth_multiplier: int = 1, activation=None, use_bias: bool = True,
                 depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None,
                 **kwargs) -> None:
        super().__init__(2, filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate,
                         depth_multiplier=depth_multiplier, activation=activation,
                         use_bias=use_bias, depthwise_initializer=depthwise_initializer,
                         pointwise_initializer=pointwise_initializer,
                         bias_initializer=bias_initializer,
                         depthwise_regularizer=depthwise_regularizer,
                         pointwise_regularizer=pointwise_regularizer,
                         bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         depthwise_constraint=depthwise_constraint,
                         pointwise_constraint=pointwise_constraint,
                         bias_constraint=bias_constraint, **kwargs)


class SeparableConv1D(BaseSeparableConv):
    """1-D separable convolution layer (see ``BaseSeparableConv`` for every argument).

    Weights:
        ``depthwise_kernel (kernel_size, in_channels, depth_multiplier)``,
        ``pointwise_kernel (1, in_channels * depth_multiplier, filters)``, then
        ``bias (filters,)``.

    Input shape:
        ``(N, L, C)`` (channels_last) or ``(N, C, L)`` (channels_first).

    Output shape:
        ``(N, OL, filters)`` or ``(N, filters, OL)``.

    Example:
        >>> import minidl as mdl
        >>> mdl.layers.SeparableConv1D(5, 3, padding="same").compute_output_shape((2, 9, 3))
        (2, 9, 5)
    """

    def __init__(self, filters: int, kernel_size: int | tuple, strides: int | tuple = 1,
                 padding: str = "valid", data_format: str | None = None,
                 dilation_rate: int | tuple = 1, depth_multiplier: int = 1, activation=None,
                 use_bias: bool = True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None,
                 **kwargs) -> None:
        super().__init__(1, filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate,
                         depth_multiplier=depth_multiplier, activation=activation,
                         use_bias=use_bias, depthwise_initializer=depthwise_initializer,
                         pointwise_initializer=pointwise_initializer,
                         bias_initializer=bias_initializer,
                         depthwise_regularizer=depthwise_regularizer,
                         pointwise_regularizer=pointwise_regularizer,
                         bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         depthwise_constraint=depthwise_constraint,
                         pointwise_constraint=pointwise_constraint,
                         bias_constraint=bias_constraint, **kwargs)
