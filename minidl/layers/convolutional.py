"""Standard convolution layers ``Conv2D`` and ``Conv1D`` on a rank-generic ``BaseConv``
(Keras 3's arguments, weights and configs; the maths is in ``minidl.ops.conv``, which
the layers call without re-checking arguments checked once per input shape).

``output = activation(conv(inputs, kernel) + bias)`` with ``kernel`` of shape
``(*kernel_size, in_channels // groups, filters)`` and ``bias`` of shape ``(filters,)``.

>>> import numpy as np, minidl as mdl
>>> layer = mdl.layers.Conv2D(4, 3, padding="same")
>>> layer(np.ones((2, 5, 5, 3))).shape, [w.shape for w in layer.weights]
((2, 5, 5, 4), [(3, 3, 3, 4), (4,)])
>>> mdl.layers.Conv1D(2, 3, strides=2).compute_output_shape((None, 9, 5))
(None, 4, 2)
"""
from .. import activations
from ..ops.conv import checked_conv
from .arguments import set_weight_arguments, weight_arguments_config
from .base import _family
from .conv_base import ConvLayerBase
from .core import check_unsupported, positive_int

__all__ = ["BaseConv", "Conv1D", "Conv2D", "Convolution1D", "Convolution2D"]


class BaseConv(ConvLayerBase):
    """A convolution over ``rank`` spatial axes; subclasses set ``rank``.

    Args:
        filters: positive int, the number of output channels.
        kernel_size: int or tuple of ``rank`` positive ints.
        strides: int or tuple of ``rank`` positive ints.
        padding: ``"valid"`` or ``"same"`` (case-insensitive; TensorFlow's "same" rule,
            the extra pixel at the end).
        data_format: ``"channels_last"``, ``"channels_first"`` or None (the configured
            ``image_data_format()``).
        dilation_rate: int or tuple of ``rank`` positive ints; a stride > 1 together with
            a dilation > 1 is an error.
        groups: positive int dividing ``filters`` and the input channels: ``groups``
            independent convolutions, each from ``in_channels // groups`` consecutive
            input channels to ``filters // groups`` consecutive output channels.
        activation: name or callable; None means linear.
        use_bias: whether to add a bias vector.
        kernel_initializer, bias_initializer: ``"glorot_uniform"``, ``"zeros"`` by
            default.
        kernel_regularizer, bias_regularizer, activity_regularizer: or None.
        kernel_constraint, bias_constraint: or None.
        lora_rank, lora_alpha: accepted as Keras emits them, None only.
        **kwargs: the common layer arguments (``name``, ``dtype``, ``input_shape``, ...).

    Raises:
        ValueError: naming the argument, for non-positive sizes, a bad ``padding`` or
            ``data_format``, strides combined with dilation, a ``groups`` that is not a
            positive int or does not divide ``filters``; at build time for input
            channels that ``groups`` does not divide; and at call time for an input of
            the wrong rank, with a channel count other than the built one, or too small
            for a "valid" kernel.
    """

    def __init__(self, filters: int, kernel_size: int | tuple, strides: int | tuple = 1,
                 padding: str = "valid", data_format: str | None = None,
                 dilation_rate: int | tuple = 1, groups: int = 1, activation=None,
                 use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 lora_rank: int | None = None, lora_alpha: float | None = None,
                 **kwargs) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        check_unsupported(lora_rank=lora_rank, lora_alpha=lora_alpha)
        self.filters = positive_int(filters, "filters")
        self._set_geometry(kernel_size, strides, padding, data_format, dilation_rate)
        self.groups = positive_int(groups, "groups")
        if self.filters % self.groups:
            raise ValueError(f"filters={self.filters} must be divisible by groups="
                             f"{self.groups} (each group has filters // groups outputs)")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        set_weight_arguments(self, "kernel", kernel_initializer, kernel_regularizer,
                             kernel_constraint)
        set_weight_arguments(self, "bias", bias_initializer, bias_regularizer,
                             bias_constraint)

    def compute_output_shape(self, input_shape):
        shape = self._output_shape(input_shape)
        shape[self._channel_axis()] = self.filters
        return tuple(shape)

    # -- weights and computation -------------------------------------------------------
    def build(self, input_shape):
        self._output_shape(input_shape)
        channels = input_shape[self._channel_axis()]
        if channels % self.groups:
            raise ValueError(f"{self.name} ({type(self).__name__}): the {channels} input "
                             f"channels of input shape {tuple(input_shape)} must be "
                             f"divisible by groups={self.groups}")
        self.input_channels = channels
        self.kernel = self.add_weight(
            "kernel", self.kernel_size + (channels // self.groups, self.filters),
            self.kernel_initializer, self.kernel_regularizer, self.kernel_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer,
                                        self.bias_regularizer, self.bias_constraint)

    def call(self, inputs):
        y = checked_conv(inputs, self.kernel, self.bias, self.strides, self.dilation_rate,
                         self._amounts(inputs.shape), self.data_format, self.groups)
        return self.activation(y)

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "groups": self.groups,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **weight_arguments_config(self, ["kernel", "bias"], activity_regularizer=True),
        })
        return config


class Conv2D(BaseConv):
    """2-D convolution layer: ``activation(conv2d(inputs, kernel) + bias)``.

    Args: as ``BaseConv``, with ``kernel_size``, ``strides`` and ``dilation_rate`` an int
    or a tuple of 2.

    Weights:
        ``kernel`` of shape ``(kh, kw, in_channels // groups, filters)``, then ``bias``
        ``(filters,)``.

    Input shape:
        ``(N, H, W, C)`` (channels_last) or ``(N, C, H, W)`` (channels_first).

    Output shape:
        ``(N, OH, OW, filters)`` or ``(N, filters, OH, OW)``; ``OH = ceil(H / sh)`` for
        "same", ``floor((H - (kh - 1) dh - 1) / sh) + 1`` for "valid".

    Example:
        >>> import minidl as mdl
        >>> mdl.layers.Conv2D(8, 3, strides=2, padding="same").compute_output_shape(
        ...     (None, 7, 6, 3))
        (None, 4, 3, 8)
    """

    rank = 2

    def __init__(self, filters: int, kernel_size: int | tuple,
                 strides: int | tuple = (1, 1), padding: str = "valid",
                 data_format: str | None = None, dilation_rate: int | tuple = (1, 1),
                 groups: int = 1, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs) -> None:
        super().__init__(filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate,
                         groups=groups, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint,
                         bias_constraint=bias_constraint, **kwargs)


class Conv1D(BaseConv):
    """1-D convolution layer (temporal): ``activation(conv1d(inputs, kernel) + bias)``.

    Args: as ``BaseConv``, with ``kernel_size``, ``strides`` and ``dilation_rate`` an int
    or a tuple of 1. ``padding="causal"`` is not supported.

    Weights:
        ``kernel`` of shape ``(kernel_size, in_channels // groups, filters)``, then
        ``bias`` ``(filters,)``.

    Input shape:
        ``(N, L, C)`` (channels_last) or ``(N, C, L)`` (channels_first).

    Output shape:
        ``(N, OL, filters)`` or ``(N, filters, OL)``.

    Example:
        >>> import minidl as mdl
        >>> mdl.layers.Conv1D(4, 3, padding="same").compute_output_shape((2, 10, 3))
        (2, 10, 4)
    """

    rank = 1

    def __init__(self, filters: int, kernel_size: int | tuple, strides: int | tuple = 1,
                 padding: str = "valid", data_format: str | None = None,
                 dilation_rate: int | tuple = 1, groups: int = 1, activation=None,
                 use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs) -> None:
        super().__init__(filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate,
                         groups=groups, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint,
                         bias_constraint=bias_constraint, **kwargs)


# Keras's aliases (also found by name: ``layers.get("Convolution2D")``)
Convolution2D = Conv2D
Convolution1D = Conv1D
_family.register(Conv2D, "Convolution2D")
_family.register(Conv1D, "Convolution1D")
