"""The depthwise convolution's three ``Function``s, each differentiable through the others,
and the pointwise product of separable convolution.

Each takes already-checked tensors of one floating dtype, channels_last rank 2, and the
``Geometry`` computed once at the public boundary. With ``g`` the output gradient:

- ``DepthwiseConv(geo)(x, kernel[, bias])``: ``y = conv(x, kernel) (+ bias)``; its gradients
  are ``dx = BackpropInput(g, kernel)``, ``dkernel = BackpropFilter(x, g)``,
  ``dbias = sum_{n,oh,ow} g``.
- ``DepthwiseConvBackpropInput(geo)(g, kernel)``: ``dx``, a transposed depthwise
  convolution of ``g``. Bilinear: ``d/dg`` of ``<ggx, dx>`` is ``DepthwiseConv(ggx,
  kernel)``, ``d/dkernel`` is ``BackpropFilter(ggx, g)``.
- ``DepthwiseConvBackpropFilter(geo)(x, g)``: ``dkernel``, the correlation of ``x`` with
  ``g``. Bilinear: ``d/dx`` of ``<ggk, dkernel>`` is ``BackpropInput(g, ggk)``, ``d/dg`` is
  ``DepthwiseConv(x, ggk)``.

An ordinary ``backward()`` runs the fused array kernel (both gradients in one pass,
nothing recorded) on the kernels the forward chose; under ``create_graph=True`` the
gradients are the two Functions above, so derivatives of any order work.
"""
from ...autograd import Function, Tensor, is_grad_enabled
from ..math import matmul
from ..products import rows_t_times, rows_times
from ..reduction import sum as _sum
from ..shape import transpose
from .kernels import select

__all__ = ["DepthwiseConv", "DepthwiseConvBackpropInput", "DepthwiseConvBackpropFilter",
           "Pointwise"]


def _wrap(array):
    return None if array is None else Tensor._wrap(array)


class DepthwiseConv(Function):
    """``y (N, OH, OW, C*M) = depthwise_conv(x (N, H, W, C), kernel (KH, KW, C, M))
    (+ bias (C*M,))`` for the geometry ``geo``."""

    def __init__(self, geo):
        self.geo = geo

    def forward(self, x, kernel, bias=None):
        self.kernels = select(self.xp)
        return self.kernels.forward(x, kernel, bias, self.geo)

    def backward(self, gy):
        x, kernel = self.inputs[:2]
        need_dx, need_dkernel = self.needs_input_grad[:2]
        if is_grad_enabled():  # create_graph: the differentiable route
            dx = DepthwiseConvBackpropInput(self.geo)(gy, kernel) if need_dx else None
            dkernel = DepthwiseConvBackpropFilter(self.geo)(x, gy) if need_dkernel else None
        else:  # the fused array route
            dx, dkernel = map(_wrap, self.kernels.backward(
                x.data if need_dkernel else None, kernel.data if need_dx else None, gy.data,
                self.geo, need_dx, need_dkernel))
        if len(self.inputs) == 2:
            return dx, dkernel
        return dx, dkernel, _bias_grad(self, gy) if self.needs_input_grad[2] else None


class DepthwiseConvBackpropInput(Function):
    """``dx (N, H, W, C)`` from ``g (N, OH, OW, C*M)`` and ``kernel``: ``dxpad[n, oh*sh +
    i*dh, ow*sw + j*dw, c] += sum_m g[n, oh, ow, c*M+m] kernel[i, j, c, m]``, cropped."""

    def __init__(self, geo):
        self.geo = geo

    def forward(self, g, kernel):
        return select(self.xp).backward(None, kernel, g, self.geo, True, False)[0]

    def backward(self, ggx):
        g, kernel = self.inputs
        dg = DepthwiseConv(self.geo)(ggx, kernel) if self.needs_input_grad[0] else None
        dkernel = DepthwiseConvBackpropFilter(self.geo)(ggx, g) \
            if self.needs_input_grad[1] else None
        return dg, dkernel


class DepthwiseConvBackpropFilter(Function):
    """``dkernel (KH, KW, C, M)`` from ``x`` and ``g``: ``dkernel[i, j, c, m] =
    sum_{n,oh,ow} xpad[n, oh*sh + i*dh, ow*sw + j*dw, c] g[n, oh, ow, c*M+m]``."""

    def __init__(self, geo):
        self.geo = geo

    def forward(self, x, g):
        return select(self.xp).backward(x, None, g, self.geo, False, True)[1]

    def backward(self, ggk):
        x, g = self.inputs
        dx = DepthwiseConvBackpropInput(self.geo)(g, ggk) if self.needs_input_grad[0] \
            else None
        dg = DepthwiseConv(self.geo)(x, ggk) if self.needs_input_grad[1] else None
        return dx, dg


class Pointwise(Function):
    """The 1x1 convolution of separable convolution as one op: ``y = z @ kernel (+ bias)``
    for ``z (P, K)``, ``kernel (K, F)``, ``bias (F,)``; the bias is added in place on the
    fresh product. Backward: ``dz = g kernel^T``, ``dkernel = z^T g``, ``dbias = sum_p g``
    (on arrays; under ``create_graph`` minidl ops, so they are differentiable again)."""

    def forward(self, z, kernel, bias=None):
        self.kernels = select(self.xp)  # for the bias gradient
        y = rows_times(self.xp, z, kernel)
        if bias is not None:
            self.xp.add(y, bias, out=y)
        return y

    def backward(self, gy):
        z, kernel = self.inputs[:2]
        need = self.needs_input_grad
        if is_grad_enabled():
            dz = matmul(gy, transpose(kernel, (1, 0))) if need[0] else None
            dkernel = matmul(transpose(z, (1, 0)), gy) if need[1] else None
        else:  # arrays, BLAS's threads chosen by minidl.ops.products
            dz = _wrap(rows_times(self.xp, gy.data, kernel.data.T)) if need[0] else None
            dkernel = _wrap(rows_t_times(self.xp, z.data, gy.data)) if need[1] else None
        if len(self.inputs) == 2:
            return dz, dkernel
        return dz, dkernel, _bias_grad(self, gy) if need[2] else None


def _bias_grad(function, gy):
    """``gy`` summed over every axis but the channels: a minidl op under
    ``create_graph``, else the forward's kernels."""
    if is_grad_enabled():
        return _sum(gy, axis=tuple(range(gy.ndim - 1)))
    return Tensor._wrap(function.kernels.bias_grad(gy.data))
