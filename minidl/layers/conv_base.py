"""``ConvLayerBase``: the Layer base of the convolution layers, holding the arguments and
shape rules they share.

Kernel size, strides, padding, data format and dilation are normalized here (with the
messages of ``minidl.ops.conv_utils``), and one method checks an input shape (rank,
channel count against the built one) and gives the spatial output size. A call checks
each input shape once: ``_amounts`` keeps the checked shapes with their padding amounts.
"""
from ..ops import conv_utils
from .base import Layer

__all__ = ["ConvLayerBase"]

_SHAPES_KEPT = 64  # input shapes a layer remembers as checked (batch sizes, image sizes)


class ConvLayerBase(Layer):
    """Base of the convolution layers; subclasses set ``rank`` (1 or 2)."""

    rank = None

    def _set_geometry(self, kernel_size, strides, padding, data_format, dilation_rate):
        rank = self.rank
        self.kernel_size = conv_utils.normalize_tuple(kernel_size, rank, "kernel_size")
        self.strides, self.padding, self.dilation_rate, self.data_format = \
            conv_utils.normalize_arguments(rank, strides, padding, dilation_rate,
                                           data_format)
        self.input_channels = None
        self._checked_shapes = {}

    def _amounts(self, shape):
        """Per spatial axis ``(out, before, after)`` for an input of ``shape`` (as
        ``conv_utils.padding_amounts``), checking the shape the first time it is seen
        (see ``_output_shape``)."""
        amounts = self._checked_shapes.get(shape)
        if amounts is None:
            self._output_shape(shape)
            spatial = tuple(shape[axis] for axis in self._spatial_axes())
            amounts = tuple(conv_utils.padding_amounts(
                spatial, self.kernel_size, self.strides, self.dilation_rate, self.padding))
            if len(self._checked_shapes) >= _SHAPES_KEPT:
                self._checked_shapes.clear()
            self._checked_shapes[shape] = amounts
        return amounts

    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def _spatial_axes(self):
        first = 1 if self.data_format == "channels_last" else 2
        return tuple(range(first, first + self.rank))

    def _output_shape(self, shape):
        """Check rank, channel count (against the built one) and output size; returns the
        output shape as a list, its channel axis still the input's."""
        shape = tuple(shape)
        self._check_input_shape(shape)
        return conv_utils.output_shape(shape, self._spatial_axes(), self.kernel_size,
                                       self.strides, self.dilation_rate, self.padding,
                                       where=self._where())

    def _where(self):
        """The layer as error messages name it."""
        return f"{self.name} ({type(self).__name__})"

    def _check_input_shape(self, shape):
        """Check an input shape's rank and channel count (against the built one)."""
        shape = tuple(shape)
        where = self._where()
        if len(shape) != self.rank + 2:
            names = ("L",) if self.rank == 1 else ("H", "W")
            layout = ("(N, " + ", ".join(names) + ", C)" if self.data_format ==
                      "channels_last" else "(N, C, " + ", ".join(names) + ")")
            raise ValueError(f"{where} expects a {self.rank + 2}-D input {layout} "
                             f"({self.data_format}), got shape {shape}")
        channels = shape[self._channel_axis()]
        if channels is None:
            raise ValueError(f"{where}: the channel axis of the input must be known, got "
                             f"shape {shape}")
        if self.input_channels is not None and channels != self.input_channels:
            raise ValueError(f"{where} was built for {self.input_channels} input channels, "
                             f"got an input of shape {shape} with {channels} "
                             f"({self.data_format})")
