"""Depthwise and separable convolutions (1-D and 2-D) with hand-derived backward passes.

Shapes (channels_last; channels_first is a transpose at the boundary): x ``(N, H, W, C)``,
kernel ``(KH, KW, C, M)``, bias ``(C*M,)``, output ``(N, OH, OW, C*M)`` where output channel
``c*M + m`` comes from input channel ``c`` and multiplier ``m``. With ``xpad`` the input
zero-padded by TensorFlow's "same" rule (or not at all for "valid"), strides ``(sh, sw)``
and dilation ``(dh, dw)``:

- forward: ``y[n, oh, ow, c*M+m] = sum_{i,j} xpad[n, oh*sh + i*dh, ow*sw + j*dw, c]
  kernel[i, j, c, m] + bias[c*M+m]``
- bias: ``dbias[c*M+m] = sum_{n,oh,ow} g[n, oh, ow, c*M+m]``
- kernel: ``dkernel[i, j, c, m] = sum_{n,oh,ow} xpad[n, oh*sh + i*dh, ow*sw + j*dw, c]
  g[n, oh, ow, c*M+m]`` (a correlation of the input with ``g``)
- input: ``dxpad[n, oh*sh + i*dh, ow*sw + j*dw, c] += sum_m g[n, oh, ow, c*M+m]
  kernel[i, j, c, m]``, then cropped (a transposed depthwise convolution of ``g``).

Separable convolution is the depthwise convolution (no bias) followed by a pointwise
``(1, 1, C*M, F)`` convolution, i.e. a matmul of ``(N*OH*OW, C*M)`` by ``(C*M, F)``, plus
bias. The 1-D forms run the 2-D op with a singleton height.

The package, read in this order:

- here: the public functions, which check and normalize their arguments once, and
  ``depthwise`` / ``separable``, the same ops on arguments already checked (what the layers
  call after checking in their constructors);
- ``geometry``: padding, output size and tap positions, computed once per call;
- ``functions``: the three ``Function``s (forward, input gradient, kernel gradient), each
  differentiable through the others, and the pointwise product;
- ``kernels``: the table that picks the array kernels from ``minidl.config``;
- ``reference``: the kernels on NumPy or CuPy arrays, any geometry;
- ``numba_kernels``: the compiled CPU kernels (optional Numba) and their array adaptation.
"""
from ...autograd import Tensor, as_tensor
from .. import conv_utils
from ..math import cast
from ..shape import reshape
from .functions import (
    DepthwiseConv,
    DepthwiseConvBackpropFilter,
    DepthwiseConvBackpropInput,
    Pointwise,
)
from .geometry import Geometry

__all__ = ["depthwise_conv2d", "separable_conv2d", "depthwise_conv1d", "separable_conv1d",
           "depthwise", "separable", "DepthwiseConv", "DepthwiseConvBackpropInput",
           "DepthwiseConvBackpropFilter", "Pointwise", "Geometry"]


# -- public functions ----------------------------------------------------------------------

def depthwise_conv2d(x, kernel, strides: int | tuple = 1, padding: str = "valid",
                     dilation_rate: int | tuple = 1, data_format: str | None = None,
                     bias=None) -> Tensor:
    """2-D depthwise convolution: each input channel convolved with its own
    ``depth_multiplier`` filters.

    ``y[n, oh, ow, c*M + m] = sum_{i,j} xpad[n, oh*sh + i*dh, ow*sw + j*dw, c]
    kernel[i, j, c, m] (+ bias[c*M + m])``. Backward (hand-derived, see
    ``minidl.ops.depthwise``): ``dbias`` sums ``g`` over batch and space; ``dkernel``
    correlates the padded input with ``g``; ``dx`` is the transposed depthwise convolution
    of ``g`` with the kernel, cropped.

    Args:
        x: Tensor or array ``(N, H, W, C)`` (channels_last) or ``(N, C, H, W)``.
        kernel: ``(KH, KW, C, M)`` (Keras layout; ``M`` is the depth multiplier).
        strides, dilation_rate: int or pair of ints; a stride > 1 with a dilation > 1 is an
            error.
        padding: ``"valid"`` or ``"same"`` (TensorFlow's rule: extra pixel bottom/right),
            case-insensitive.
        data_format: ``"channels_last"``, ``"channels_first"`` or None (the configured
            ``image_data_format``).
        bias: optional ``(C*M,)``.

    Returns:
        Tensor ``(N, OH, OW, C*M)`` (or ``(N, C*M, OH, OW)``) of the common dtype, with
        ``OH = ceil(H / sh)`` for "same" and ``floor((H - (KH-1) dh - 1) / sh) + 1`` for
        "valid".

    Raises:
        ValueError: bad rank, channel count, padding, strides/dilation, or an empty output.
        TypeError: a tensor that is not floating.

    Example:
        >>> import numpy as np, minidl as mdl
        >>> x = np.ones((1, 4, 4, 2), dtype="float32")
        >>> k = np.ones((3, 3, 2, 1), dtype="float32")
        >>> y = mdl.functional.depthwise_conv2d(x, k, padding="same")
        >>> y.shape, y.dtype
        ((1, 4, 4, 2), dtype('float32'))
        >>> y.numpy()[0, :, :, 0]
        array([[4., 6., 6., 4.],
               [6., 9., 9., 6.],
               [6., 9., 9., 6.],
               [4., 6., 6., 4.]], dtype=float32)
    """
    return _checked_depthwise(2, x, kernel, strides, padding, dilation_rate, data_format,
                              bias)


def depthwise_conv1d(x, kernel, strides: int | tuple = 1, padding: str = "valid",
                     dilation_rate: int | tuple = 1, data_format: str | None = None,
                     bias=None) -> Tensor:
    """1-D depthwise convolution: ``x (N, L, C)`` (or ``(N, C, L)``), kernel ``(K, C, M)``,
    bias ``(C*M,)``; output ``(N, OL, C*M)``. Same formulas and arguments as
    ``depthwise_conv2d`` with one spatial axis (it runs that op with a singleton height).

    Example:
        >>> import numpy as np, minidl as mdl
        >>> x = np.arange(5.0).reshape(1, 5, 1)
        >>> mdl.functional.depthwise_conv1d(x, np.ones((2, 1, 2)), strides=2,
        ...                                 padding="same").numpy()[0]
        array([[1., 1.],
               [5., 5.],
               [4., 4.]])
    """
    return _checked_depthwise(1, x, kernel, strides, padding, dilation_rate, data_format,
                              bias)


def separable_conv2d(x, depthwise_kernel, pointwise_kernel, strides: int | tuple = 1,
                     padding: str = "valid", dilation_rate: int | tuple = 1,
                     data_format: str | None = None, bias=None) -> Tensor:
    """2-D separable convolution: a depthwise convolution (no bias) then a 1x1 convolution.

    ``z = depthwise_conv2d(x, depthwise_kernel, ...)`` ``(N, OH, OW, C*M)``, then
    ``y[n, oh, ow, f] = sum_k z[n, oh, ow, k] pointwise_kernel[0, 0, k, f] (+ bias[f])``.
    Backward: the chain of the two (``dpointwise = z^T g``, ``dz = g pointwise^T``, then the
    depthwise backward of ``dz``).

    Args:
        x: ``(N, H, W, C)`` or ``(N, C, H, W)``.
        depthwise_kernel: ``(KH, KW, C, M)``.
        pointwise_kernel: ``(1, 1, C*M, F)``.
        strides, padding, dilation_rate, data_format: as in ``depthwise_conv2d``.
        bias: optional ``(F,)``.

    Returns:
        Tensor ``(N, OH, OW, F)`` (or ``(N, F, OH, OW)``).

    Raises:
        ValueError, TypeError: as ``depthwise_conv2d``, and for a pointwise kernel that is
            not ``(1, 1, C*M, F)``.

    Example:
        >>> import numpy as np, minidl as mdl
        >>> x = np.ones((2, 5, 5, 3))
        >>> y = mdl.functional.separable_conv2d(x, np.ones((3, 3, 3, 2)),
        ...                                     np.ones((1, 1, 6, 4)), strides=2)
        >>> y.shape, float(y.numpy()[0, 0, 0, 0])
        ((2, 2, 2, 4), 54.0)
    """
    return _checked_separable(2, x, depthwise_kernel, pointwise_kernel, strides, padding,
                              dilation_rate, data_format, bias)


def separable_conv1d(x, depthwise_kernel, pointwise_kernel, strides: int | tuple = 1,
                     padding: str = "valid", dilation_rate: int | tuple = 1,
                     data_format: str | None = None, bias=None) -> Tensor:
    """1-D separable convolution: ``x (N, L, C)``, depthwise ``(K, C, M)``, pointwise
    ``(1, C*M, F)``, bias ``(F,)``; output ``(N, OL, F)``. As ``separable_conv2d`` with one
    spatial axis.

    Example:
        >>> import numpy as np, minidl as mdl
        >>> y = mdl.functional.separable_conv1d(np.ones((1, 4, 2)), np.ones((3, 2, 1)),
        ...                                     np.ones((1, 2, 3)), padding="same")
        >>> y.numpy()[0, :, 0]
        array([4., 6., 6., 4.])
    """
    return _checked_separable(1, x, depthwise_kernel, pointwise_kernel, strides, padding,
                              dilation_rate, data_format, bias)


# -- the ops on checked arguments ----------------------------------------------------------

def depthwise(x, kernel, bias, strides, padding, dilation_rate, data_format, where="x"):
    """``depthwise_conv1d`` / ``depthwise_conv2d`` (the rank is ``x.ndim - 2``) on checked
    arguments: floating tensors whose shapes fit together, ``strides`` and
    ``dilation_rate`` tuples of positive ints, ``padding`` and ``data_format`` lowercase.

    Raises:
        ValueError: the output would be empty (naming ``where``); nothing else is checked.
    """
    tensors = _common_dtype([x, kernel] + ([bias] if bias is not None else []))
    y, _ = _depthwise_channels_last(tensors[0], tensors[1], tensors[2:], strides, padding,
                                    dilation_rate, data_format, where)
    return _caller_layout(y, x.ndim - 2, data_format)


def separable(x, depthwise_kernel, pointwise_kernel, bias, strides, padding, dilation_rate,
              data_format, where="x"):
    """``separable_conv1d`` / ``separable_conv2d`` on checked arguments (as ``depthwise``):
    the depthwise convolution, then ``Pointwise`` on its ``(N*OH*OW, C*M)`` pixels."""
    x, depthwise_kernel, pointwise_kernel, *bias = _common_dtype(
        [x, depthwise_kernel, pointwise_kernel] + ([bias] if bias is not None else []))
    z, geo = _depthwise_channels_last(x, depthwise_kernel, [], strides, padding,
                                      dilation_rate, data_format, where)
    filters = pointwise_kernel.shape[-1]
    y = Pointwise()(reshape(z, (-1, geo.channels)),
                    reshape(pointwise_kernel, (geo.channels, filters)), *bias)
    return _caller_layout(reshape(y, geo.output_shape[:3] + (filters,)), x.ndim - 2,
                          data_format)


def _depthwise_channels_last(x, kernel, bias, strides, padding, dilation_rate, data_format,
                             where):
    """``DepthwiseConv`` of the caller's tensors: ``(y (N, OH, OW, C*M), geometry)``."""
    x = conv_utils.channels_last(x, data_format)
    geo = Geometry(x.shape, kernel.shape, strides, dilation_rate, padding, where)
    if x.ndim == 3:  # 1-D: a singleton height
        x, kernel = reshape(x, geo.x_shape), reshape(kernel, geo.kernel_shape)
    return DepthwiseConv(geo)(x, kernel, *bias), geo


def _caller_layout(y, rank, data_format):
    """Rank-2 channels_last output back to the caller's rank and layout."""
    if rank == 1:
        n, _, length, c = y.shape
        y = reshape(y, (n, length, c))
    return conv_utils.from_channels_last(y, data_format)


def _common_dtype(tensors):
    dtype = tensors[0].xp.result_type(*[t.dtype for t in tensors])
    return [cast(t, dtype) for t in tensors]


# -- checks at the public boundary ---------------------------------------------------------

def _checked_depthwise(rank, x, kernel, strides, padding, dilation_rate, data_format, bias):
    arguments = conv_utils.normalize_arguments(rank, strides, padding, dilation_rate,
                                               data_format)
    x = as_tensor(x)
    kernel = as_tensor(kernel, x)
    units = _check_tensors(rank, x, kernel, arguments[3])
    bias = _checked_bias(bias, x, units, "in_channels * depth_multiplier")
    return depthwise(x, kernel, bias, *arguments)


def _checked_separable(rank, x, depthwise_kernel, pointwise_kernel, strides, padding,
                       dilation_rate, data_format, bias):
    arguments = conv_utils.normalize_arguments(rank, strides, padding, dilation_rate,
                                               data_format)
    x = as_tensor(x)
    kernel = as_tensor(depthwise_kernel, x)
    units = _check_tensors(rank, x, kernel, arguments[3])
    pointwise_kernel = as_tensor(pointwise_kernel, x)
    _check_floating(pointwise_kernel, "pointwise_kernel")
    if pointwise_kernel.ndim != rank + 2 or \
            pointwise_kernel.shape[:rank] != (1,) * rank or \
            pointwise_kernel.shape[-2] != units:
        raise ValueError(f"pointwise_kernel of shape {pointwise_kernel.shape} must be "
                         f"{(1,) * rank + (units, 'filters')} (in_channels * "
                         "depth_multiplier inputs)")
    bias = _checked_bias(bias, x, pointwise_kernel.shape[-1], "filters")
    return separable(x, kernel, pointwise_kernel, bias, *arguments)


def _check_tensors(rank, x, kernel, data_format):
    """Ranks, dtypes and channels of ``x`` and the depthwise kernel; returns ``C*M``."""
    layout = "(batch, " + ("channels, spatial...)" if data_format == "channels_first"
                           else "spatial..., channels)")
    if x.ndim != rank + 2:
        raise ValueError(f"x of shape {x.shape} must have rank {rank + 2} {layout} for a "
                         f"{rank}-D depthwise convolution")
    if kernel.ndim != rank + 2:
        raise ValueError(f"kernel of shape {kernel.shape} must have rank {rank + 2}: "
                         f"({'KH, KW' if rank == 2 else 'K'}, in_channels, "
                         "depth_multiplier)")
    _check_floating(x, "x")
    _check_floating(kernel, "kernel")
    channels = x.shape[1] if data_format == "channels_first" else x.shape[-1]
    if kernel.shape[-2] != channels:
        raise ValueError(f"kernel of shape {kernel.shape} has in_channels="
                         f"{kernel.shape[-2]} but x of shape {x.shape} ({data_format}) has "
                         f"{channels} channels")
    if min(kernel.shape) < 1:
        raise ValueError(f"kernel of shape {kernel.shape} must have no empty axis")
    return channels * kernel.shape[-1]


def _checked_bias(bias, x, units, meaning):
    """``bias`` as a floating tensor of shape ``(units,)``, or None."""
    if bias is None:
        return None
    bias = as_tensor(bias, x)
    _check_floating(bias, "bias")
    if bias.shape != (units,):
        raise ValueError(f"bias of shape {bias.shape} must be ({units},): {meaning}")
    return bias


def _check_floating(t, name):
    if t.dtype.kind != "f":
        raise TypeError(f"{name} must be a floating tensor, got dtype {t.dtype}")
