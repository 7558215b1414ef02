"""Depthwise and separable convolutions (1-D and 2-D) with hand-derived backward passes.

Shapes (channels_last; channels_first is a transpose at the boundary): x ``(N, H, W, C)``,
kernel ``(KH, KW, C, M)``, bias ``(C*M,)``, output ``(N, OH, OW, C*M)`` where output channel
``c*M + m`` comes from input channel ``c`` and multiplier ``m``. With ``xpad`` the input
zero-padded by TensorFlow's "same" rule (or not at all for "valid"):

- forward: ``y[n, oh, ow, c*M+m] = sum_{i,j} xpad[n, oh*sh + i*dh, ow*sw + j*dw, c]
  w[i, j, c, m] + b[c*M+m]``
- bias: ``db[c*M+m] = sum_{n,oh,ow} g[n, oh, ow, c*M+m]``
- kernel: ``dw[i, j, c, m] = sum_{n,oh,ow} xpad[n, oh*sh + i*dh, ow*sw + j*dw, c]
  g[n, oh, ow, c*M+m]`` (a correlation of the input with ``g``:
  ``DepthwiseConvBackpropFilter``)
- input: ``dxpad[n, oh*sh + i*dh, ow*sw + j*dw, c] += sum_m g[n, oh, ow, c*M+m]
  w[i, j, c, m]``, then cropped (a transposed depthwise convolution of ``g``:
  ``DepthwiseConvBackpropInput``).

An ordinary ``backward()`` runs the fused array kernel (both gradients in one pass over each
cache block, nothing recorded). Under ``create_graph=True`` the gradients are the two
Functions above, whose own backwards are again these three ops, so derivatives of any order
work: ``BackpropInput(g, w)`` has ``d/dg = DepthwiseConv(·, w)`` and
``d/dw = BackpropFilter(·, g)``; ``BackpropFilter(x, g)`` has ``d/dx = BackpropInput(g, ·)``
and ``d/dg = DepthwiseConv(x, ·)``.

Separable convolution is the depthwise convolution (no bias) followed by a pointwise
``(1, 1, C*M, F)`` convolution, i.e. a matmul of ``(N*OH*OW, C*M)`` by ``(C*M, F)``, plus bias.
The 1-D forms run the 2-D op with a singleton height.
"""
from ..autograd import Function, Tensor, as_tensor, is_grad_enabled
from . import conv_utils
from .cpu_kernels import bias_grad, depthwise_backward, depthwise_forward
from .depthwise_kernels import Geometry
from .math import cast, matmul
from .reduction import sum as _sum
from .shape import reshape, transpose

__all__ = ["depthwise_conv2d", "separable_conv2d", "depthwise_conv1d", "separable_conv1d",
           "DepthwiseConv", "DepthwiseConvBackpropInput", "DepthwiseConvBackpropFilter",
           "Pointwise"]


class DepthwiseConv(Function):
    """``y = depthwise_conv(x, kernel) (+ bias)`` on channels_last rank-2 arrays.

    Inputs ``(x, kernel)`` or ``(x, kernel, bias)``; see the module docstring for the
    formulas of every gradient.
    """

    def __init__(self, strides, dilation_rate, padding):
        self.params = (tuple(strides), tuple(dilation_rate), padding)

    def forward(self, x, kernel, bias=None):
        self.geo = Geometry(x.shape, kernel.shape, *self.params)
        return depthwise_forward(self.xp, x, kernel, bias, self.geo)

    def backward(self, gy):
        x, kernel = self.inputs[:2]
        need_dx, need_dw = self.needs_input_grad[:2]
        if is_grad_enabled():  # create_graph: the differentiable route
            gx = DepthwiseConvBackpropInput(x.shape, *self.params)(gy, kernel) \
                if need_dx else None
            gw = DepthwiseConvBackpropFilter(kernel.shape, *self.params)(x, gy) \
                if need_dw else None
        else:  # the fused array route
            dx, dw = depthwise_backward(self.xp, x.data if need_dw else None, kernel.data,
                                        gy.data, self.geo, need_dx, need_dw)
            gx = None if dx is None else Tensor._wrap(dx)
            gw = None if dw is None else Tensor._wrap(dw)
        if len(self.inputs) == 2:
            return gx, gw
        gb = None
        if self.needs_input_grad[2]:
            gb = _sum(gy, axis=(0, 1, 2)) if is_grad_enabled() else \
                Tensor._wrap(bias_grad(self.xp, gy.data))
        return gx, gw, gb


class DepthwiseConvBackpropInput(Function):
    """The input gradient as an op: ``dx = BackpropInput(g, kernel)``, a transposed
    depthwise convolution of ``g`` ``(N, OH, OW, C*M)`` back to ``x_shape``.

    Bilinear in ``(g, kernel)``: ``d/dg`` of ``<ggx, dx>`` is ``DepthwiseConv(ggx, kernel)``
    and ``d/dkernel`` is ``BackpropFilter(ggx, g)``.
    """

    def __init__(self, x_shape, strides, dilation_rate, padding):
        self.x_shape = tuple(x_shape)
        self.params = (tuple(strides), tuple(dilation_rate), padding)

    def forward(self, g, kernel):
        geo = Geometry(self.x_shape, kernel.shape, *self.params)
        return depthwise_backward(self.xp, None, kernel, g, geo, True, False)[0]

    def backward(self, ggx):
        g, kernel = self.inputs
        gg = DepthwiseConv(*self.params)(ggx, kernel) if self.needs_input_grad[0] else None
        gk = DepthwiseConvBackpropFilter(kernel.shape, *self.params)(ggx, g) \
            if self.needs_input_grad[1] else None
        return gg, gk


class DepthwiseConvBackpropFilter(Function):
    """The kernel gradient as an op: ``dw = BackpropFilter(x, g)``, the correlation
    ``dw[i, j, c, m] = sum_{n,oh,ow} xpad[n, oh*sh + i*dh, ow*sw + j*dw, c]
    g[n, oh, ow, c*M+m]``.

    Bilinear in ``(x, g)``: ``d/dx`` of ``<ggw, dw>`` is ``BackpropInput(g, ggw)`` and
    ``d/dg`` is ``DepthwiseConv(x, ggw)``.
    """

    def __init__(self, kernel_shape, strides, dilation_rate, padding):
        self.kernel_shape = tuple(kernel_shape)
        self.params = (tuple(strides), tuple(dilation_rate), padding)

    def forward(self, x, g):
        geo = Geometry(x.shape, self.kernel_shape, *self.params)
        return depthwise_backward(self.xp, x, None, g, geo, False, True)[1]

    def backward(self, ggw):
        x, g = self.inputs
        gx = DepthwiseConvBackpropInput(x.shape, *self.params)(g, ggw) \
            if self.needs_input_grad[0] else None
        gg = DepthwiseConv(*self.params)(x, ggw) if self.needs_input_grad[1] else None
        return gx, gg


class Pointwise(Function):
    """The 1x1 convolution of separable convolution as one op: ``y = z @ kernel (+ bias)``
    for ``z (P, K)``, ``kernel (K, F)``, ``bias (F,)``; the bias is added in place on the
    fresh product. Backward: ``dz = g kernel^T``, ``dkernel = z^T g``, ``dbias = sum_p g``
    (minidl ops, so they are differentiable again)."""

    def forward(self, z, kernel, bias=None):
        y = z @ kernel
        if bias is not None:
            self.xp.add(y, bias, out=y)
        return y

    def backward(self, gy):
        z, kernel = self.inputs[:2]
        need = self.needs_input_grad
        gz = matmul(gy, transpose(kernel, (1, 0))) if need[0] else None
        gk = matmul(transpose(z, (1, 0)), gy) if need[1] else None
        if len(self.inputs) == 2:
            return gz, gk
        gb = None
        if need[2]:
            gb = _sum(gy, axis=0) if is_grad_enabled() else \
                Tensor._wrap(bias_grad(self.xp, gy.data))
        return gz, gk, gb


# -- argument checking ---------------------------------------------------------------------

def _floating(t, name):
    if t.dtype.kind != "f":
        raise TypeError(f"{name} must be a floating tensor, got dtype {t.dtype}")


def _common_dtype(tensors):
    xp = tensors[0].xp
    dtype = xp.result_type(*[t.dtype for t in tensors])
    return [cast(t, dtype) for t in tensors]


def _prepare(rank, x, kernel, bias, strides, padding, dilation_rate, data_format):
    """Validate and normalize: tensors and arguments for the rank-2 channels_last op."""
    x = as_tensor(x)
    kernel = as_tensor(kernel, x)
    bias = None if bias is None else as_tensor(bias, x)
    strides = conv_utils.normalize_tuple(strides, rank, "strides")
    dilation_rate = conv_utils.normalize_tuple(dilation_rate, rank, "dilation_rate")
    conv_utils.check_strides_dilation(strides, dilation_rate)
    padding = conv_utils.normalize_padding(padding)
    data_format = conv_utils.normalize_data_format(data_format)
    layout = "(batch, " + ("channels, spatial...)" if data_format == "channels_first"
                           else "spatial..., channels)")
    if x.ndim != rank + 2:
        raise ValueError(f"x of shape {x.shape} must have rank {rank + 2} {layout} for a "
                         f"{rank}-D depthwise convolution")
    if kernel.ndim != rank + 2:
        raise ValueError(f"kernel of shape {kernel.shape} must have rank {rank + 2}: "
                         f"({'KH, KW' if rank == 2 else 'K'}, in_channels, depth_multiplier)")
    _floating(x, "x")
    _floating(kernel, "kernel")
    channels = x.shape[1] if data_format == "channels_first" else x.shape[-1]
    if kernel.shape[-2] != channels:
        raise ValueError(f"kernel of shape {kernel.shape} has in_channels="
                         f"{kernel.shape[-2]} but x of shape {x.shape} ({data_format}) has "
                         f"{channels} channels")
    if min(kernel.shape) < 1:
        raise ValueError(f"kernel of shape {kernel.shape} must have no empty axis")
    spatial = x.shape[2:] if data_format == "channels_first" else x.shape[1:-1]
    conv_utils.padding_amounts(spatial, kernel.shape[:rank], strides, dilation_rate,
                               padding, name="x")
    if bias is not None:
        _floating(bias, "bias")
        units = channels * kernel.shape[-1]
        if bias.shape != (units,):
            raise ValueError(f"bias of shape {bias.shape} must be ({units},): in_channels "
                             "* depth_multiplier")
    tensors = _common_dtype([x, kernel] + ([bias] if bias is not None else []))
    # to rank 2, channels_last
    x, kernel = tensors[0], tensors[1]
    if data_format == "channels_first":
        x = transpose(x, (0,) + tuple(range(2, rank + 2)) + (1,))
    if rank == 1:
        n, length, c = x.shape
        x = reshape(x, (n, 1, length, c))
        kernel = reshape(kernel, (1,) + kernel.shape)
        strides, dilation_rate = (1,) + strides, (1,) + dilation_rate
    return x, kernel, tensors[2:], (strides, dilation_rate, padding), data_format


def _finish(y, rank, data_format):
    """Rank-2 channels_last output back to the caller's rank and layout."""
    if rank == 1:
        n, _, length, c = y.shape
        y = reshape(y, (n, length, c))
    if data_format == "channels_first":
        y = transpose(y, (0, rank + 1) + tuple(range(1, rank + 1)))
    return y


def _depthwise(rank, x, kernel, strides, padding, dilation_rate, data_format, bias):
    x, kernel, bias, params, data_format = _prepare(rank, x, kernel, bias, strides, padding,
                                                    dilation_rate, data_format)
    y = DepthwiseConv(*params)(x, kernel, *bias)
    return _finish(y, rank, data_format)


def _separable(rank, x, depthwise_kernel, pointwise_kernel, strides, padding, dilation_rate,
               data_format, bias):
    x, kernel, _, params, data_format = _prepare(rank, x, depthwise_kernel, None, strides,
                                                 padding, dilation_rate, data_format)
    pointwise_kernel = as_tensor(pointwise_kernel, x)
    _floating(pointwise_kernel, "pointwise_kernel")
    units = kernel.shape[2] * kernel.shape[3]
    if pointwise_kernel.ndim != rank + 2 or pointwise_kernel.shape[:rank] != (1,) * rank or \
            pointwise_kernel.shape[-2] != units:
        raise ValueError(f"pointwise_kernel of shape {pointwise_kernel.shape} must be "
                         f"{(1,) * rank + (units, 'filters')} (in_channels * depth_multiplier "
                         "inputs)")
    filters = pointwise_kernel.shape[-1]
    tensors = [x, kernel, pointwise_kernel]
    if bias is not None:
        bias = as_tensor(bias, x)
        _floating(bias, "bias")
        if bias.shape != (filters,):
            raise ValueError(f"bias of shape {bias.shape} must be ({filters},): filters")
        tensors.append(bias)
    x, kernel, pointwise_kernel, *bias = _common_dtype(tensors)
    depthwise = DepthwiseConv(*params)(x, kernel)
    n, oh, ow, _ = depthwise.shape
    y = Pointwise()(reshape(depthwise, (n * oh * ow, units)),
                    reshape(pointwise_kernel, (units, filters)), *bias)
    return _finish(reshape(y, (n, oh, ow, filters)), rank, data_format)


# -- public functions ----------------------------------------------------------------------

def depthwise_conv2d(x, kernel, strides=1, padding="valid", dilation_rate=1, data_format=None,
                     bias=None):
    """2-D depthwise convolution: each input channel convolved with its own
    ``depth_multiplier`` filters.

    ``y[n, oh, ow, c*M + m] = sum_{i,j} xpad[n, oh*sh + i*dh, ow*sw + j*dw, c] kernel[i, j, c, m]
    (+ bias[c*M + m])``. Backward (hand-derived, see ``minidl.ops.depthwise``): ``db`` sums
    ``g`` over batch and space; ``dkernel`` correlates the padded input with ``g``; ``dx`` is
    the transposed depthwise convolution of ``g`` with the kernel, cropped.

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
    return _depthwise(2, x, kernel, strides, padding, dilation_rate, data_format, bias)


def depthwise_conv1d(x, kernel, strides=1, padding="valid", dilation_rate=1, data_format=None,
                     bias=None):
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
    return _depthwise(1, x, kernel, strides, padding, dilation_rate, data_format, bias)


def separable_conv2d(x, depthwise_kernel, pointwise_kernel, strides=1, padding="valid",
                     dilation_rate=1, data_format=None, bias=None):
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

    Example:
        >>> import numpy as np, minidl as mdl
        >>> x = np.ones((2, 5, 5, 3))
        >>> y = mdl.functional.separable_conv2d(x, np.ones((3, 3, 3, 2)),
        ...                                     np.ones((1, 1, 6, 4)), strides=2)
        >>> y.shape, float(y.numpy()[0, 0, 0, 0])
        ((2, 2, 2, 4), 54.0)
    """
    return _separable(2, x, depthwise_kernel, pointwise_kernel, strides, padding,
                      dilation_rate, data_format, bias)


def separable_conv1d(x, depthwise_kernel, pointwise_kernel, strides=1, padding="valid",
                     dilation_rate=1, data_format=None, bias=None):
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
    return _separable(1, x, depthwise_kernel, pointwise_kernel, strides, padding,
                      dilation_rate, data_format, bias)
