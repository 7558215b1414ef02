"""Upsampling along one axis by an integer factor ``s``: nearest neighbour and linear
interpolation. Both are compositions of differentiable shape and arithmetic ops (no
gather, so no scatter-add in the backward), and so twice differentiable.

Nearest: ``y[o] = x[o // s]`` (NumPy's ``repeat``).

Linear, with half-pixel centers (``jax.image.resize(..., "linear")``, which Keras's
``UpSampling2D(interpolation="bilinear")`` calls): output ``o`` samples the input at
``p = (o + 0.5) / s - 0.5``; with ``lo = floor(p)`` the two neighbours weigh
``1 - |p - lo|`` and ``1 - |p - lo - 1|``, a neighbour outside ``[0, n)`` weighs 0, and the
weights are divided by their sum (so at the borders the edge value is kept). Writing
``o = s*k + r``, every output of phase ``r`` reads ``x[k]`` and one neighbour
(``x[k-1]`` when ``p < k``, else ``x[k+1]``), so

    y[s*k + r] = x[k] * w_self[k, r] + x_neighbour[k] * w_other[k, r]

is two products of ``x`` and its shifted copy per phase; the phases are then interleaved.
The weights are computed on the host in float64, with the same arithmetic as JAX.

>>> import numpy as np, minidl as mdl
>>> x = mdl.tensor(np.array([[0.0, 1.0, 2.0]]))
>>> upsample_nearest(x, 2, axis=1).numpy().tolist()
[[0.0, 0.0, 1.0, 1.0, 2.0, 2.0]]
>>> upsample_linear(x, 2, axis=1).numpy().tolist()
[[0.0, 0.25, 0.75, 1.25, 1.75, 2.0]]
"""
import numpy

from ..autograd import Tensor, as_tensor
from .reduction import broadcast_to
from .shape import concatenate, getitem, reshape, stack

__all__ = ["upsample_nearest", "upsample_linear"]


def _check(x, size, axis):
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"size={size!r} must be a positive int")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis={axis} is out of range for a tensor of rank {x.ndim}")
    return axis % x.ndim


def upsample_nearest(x, size, axis):
    """Repeat every element ``size`` times along ``axis``.

    Args:
        x: Tensor or array of any rank.
        size: positive int, the factor.
        axis: the axis to upsample.

    Returns:
        Tensor with ``shape[axis] * size`` entries on ``axis``; ``y[o] = x[o // size]``.
    """
    x = as_tensor(x)
    axis = _check(x, size, axis)
    if size == 1:
        return x
    head, n, tail = x.shape[:axis], x.shape[axis], x.shape[axis + 1:]
    spread = broadcast_to(reshape(x, head + (n, 1) + tail), head + (n, size) + tail)
    return reshape(spread, head + (n * size,) + tail)


def linear_weights(n, size):  # host
    """The float64 weights ``(w_previous, w_self, w_next)``, each of shape ``(n, size)``,
    with ``y[size*k + r] = x[k-1] w_previous[k, r] + x[k] w_self[k, r] + x[k+1]
    w_next[k, r]`` (JAX's arithmetic: a triangle kernel at ``p = (o + 0.5) / size - 0.5``,
    out-of-range taps dropped, normalized to sum 1)."""
    sample = (numpy.arange(n * size, dtype=numpy.float64) + 0.5) * (1.0 / size) - 0.5
    lo = numpy.floor(sample)
    lower = numpy.where(lo >= 0, numpy.maximum(0.0, 1.0 - numpy.abs(sample - lo)), 0.0)
    upper = numpy.where(lo + 1 <= n - 1,
                        numpy.maximum(0.0, 1.0 - numpy.abs(sample - (lo + 1))), 0.0)
    total = lower + upper
    lower, upper = lower / total, upper / total
    below = lo < numpy.arange(n * size) // size     # floor(p) = k - 1, else k
    weights = (numpy.where(below, lower, 0.0), numpy.where(below, upper, lower),
               numpy.where(below, 0.0, upper))
    return tuple(w.reshape(n, size) for w in weights)


def upsample_linear(x, size, axis):
    """Linear interpolation to ``size`` times as many samples along ``axis``, half-pixel
    centers, edge values kept at the borders (see the module docstring).

    Args:
        x: Tensor or array of any rank, floating.
        size: positive int, the factor.
        axis: the axis to upsample.

    Returns:
        Tensor of ``x``'s dtype with ``shape[axis] * size`` entries on ``axis``.
    """
    x = as_tensor(x)
    axis = _check(x, size, axis)
    if size == 1:
        return x
    n = x.shape[axis]
    before = [slice(None)] * axis

    def part(start, stop):
        return getitem(x, tuple(before + [slice(start, stop)]))

    sources = (concatenate([part(0, 1), part(0, n - 1)], axis=axis),   # x[max(k-1, 0)]
               x,
               concatenate([part(1, n), part(n - 1, n)], axis=axis))   # x[min(k+1, n-1)]
    column = (n,) + (1,) * (x.ndim - axis - 1)
    weights = linear_weights(n, size)
    phases = []
    for r in range(size):
        terms = [source * _constant(x, w[:, r].reshape(column))
                 for source, w in zip(sources, weights) if w[:, r].any()]
        out = terms[0]
        for term in terms[1:]:
            out = out + term
        phases.append(out)
    spread = stack(phases, axis=axis + 1)
    return reshape(spread, x.shape[:axis] + (n * size,) + x.shape[axis + 1:])


def _constant(like, host):
    return Tensor._wrap(like.backend.xp.asarray(host, dtype=like.dtype))
