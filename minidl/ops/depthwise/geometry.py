"""The geometry of one depthwise convolution: sizes, padding and where each tap reads,
computed once at the public boundary and kept on the op's ``Function``s.

Per spatial axis with input size ``n``, kernel size ``k``, stride ``s`` and dilation ``d``
(TensorFlow's rule, ``minidl.ops.conv_utils``): "same" gives ``out = ceil(n / s)`` and
``total = max((out - 1) s + (k - 1) d + 1 - n, 0)`` padding, ``before = total // 2`` (the
extra pixel goes after); "valid" gives ``out = floor((n - (k - 1) d - 1) / s) + 1`` and no
padding. Tap ``(i, j)`` of output ``(oh, ow)`` reads input row ``oh*stride_h + row_offset``
and column ``ow*stride_w + col_offset`` with ``row_offset = i*dilation_h - pad_top`` and
``col_offset = j*dilation_w - pad_left``; a read outside the image is a zero of the padding.

>>> geo = Geometry((2, 7, 6, 3), (3, 3, 3, 2), (2, 2), (1, 1), "same")
>>> geo.output_shape, geo.pad_top, geo.pad_left
((2, 4, 3, 6), 1, 0)
>>> span(-1, 1, 0, 5, 0, 5)     # offset -1: outputs 1..4 read inputs 0..3
(1, 5, slice(0, 4, 1))
"""
import functools

from .. import conv_utils

__all__ = ["Geometry", "span"]


class Geometry:
    """Sizes, padding and tap positions of a depthwise convolution, as rank 2.

    A 1-D convolution is stored as a 2-D one of height 1 (kernel height 1, stride and
    dilation 1 along it), which is how the kernels run it.

    Args:
        x_shape: channels_last input shape, ``(N, L, C)`` or ``(N, H, W, C)``.
        kernel_shape: ``(K, C, M)`` or ``(KH, KW, C, M)``.
        strides, dilation_rate: tuples of positive ints, one per spatial axis.
        padding: ``"valid"`` or ``"same"``.
        where: what the input is called in the error message.

    Attributes:
        n, h, w, c: the input's sizes; ``kh, kw, m`` the kernel's (``m`` the depth
            multiplier); ``channels = c * m``; ``oh, ow`` the output's height and width.
        stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left: ints.
        x_shape, kernel_shape, output_shape: rank-2 shapes (output ``(N, OH, OW, C*M)``).
        taps, col_spans: per tap, computed at first use (by the reference kernels).

    Raises:
        ValueError: the output would be empty (a "valid" kernel larger than the input).
    """

    def __init__(self, x_shape, kernel_shape, strides, dilation_rate, padding, where="x"):
        rank = len(x_shape) - 2
        amounts = conv_utils.padding_amounts(x_shape[1:-1], kernel_shape[:rank], strides,
                                             dilation_rate, padding, name=where)
        if rank == 1:
            x_shape, kernel_shape = (x_shape[0], 1) + x_shape[1:], (1,) + kernel_shape
            strides, dilation_rate, amounts = (1,) + strides, (1,) + dilation_rate, \
                [(1, 0, 0)] + amounts
        self.x_shape, self.kernel_shape = tuple(x_shape), tuple(kernel_shape)
        self.n, self.h, self.w, self.c = self.x_shape
        self.kh, self.kw, _, self.m = self.kernel_shape
        self.stride_h, self.stride_w = strides
        self.dilation_h, self.dilation_w = dilation_rate
        (self.oh, self.pad_top, _), (self.ow, self.pad_left, _) = amounts
        self.channels = self.c * self.m
        self.output_shape = (self.n, self.oh, self.ow, self.channels)

    @functools.cached_property
    def taps(self):
        """``(i, j, row_offset, col_offset)`` per tap, row-major."""
        return [(i, j, i * self.dilation_h - self.pad_top,
                 j * self.dilation_w - self.pad_left)
                for i in range(self.kh) for j in range(self.kw)]

    @functools.cached_property
    def col_spans(self):
        """Per tap, ``span`` of the output columns it reaches (and the columns it reads)."""
        return [span(col_offset, self.stride_w, 0, self.ow, 0, self.w)
                for _, _, _, col_offset in self.taps]


def span(offset, stride, out_lo, out_hi, in_lo, in_hi):
    """Outputs ``o`` in ``[out_lo, out_hi)`` whose input ``o*stride + offset`` lies in
    ``[in_lo, in_hi)``: ``(lo, hi, input_slice)``; ``input_slice`` is None when empty."""
    lo = max(out_lo, -((offset - in_lo) // stride))  # ceil((in_lo - offset) / stride)
    hi = min(out_hi, -((offset - in_hi) // stride))
    if hi <= lo:
        return lo, lo, None
    start = lo * stride + offset
    return lo, hi, slice(start, start + (hi - lo - 1) * stride + 1, stride)
