"""Batch normalization: with given statistics (inference) and with batch statistics
(training, one Function with a hand-derived backward). Layer and group normalization
(per-sample statistics, one shared ``Normalize`` Function) follow at the end.

Notation: ``x`` of any rank, ``axis`` the feature axis of size ``C``; statistics are
taken over every other axis, ``M`` elements per feature. ``gamma`` (scale) and ``beta``
(offset) have shape ``(C,)``.

Inference form (Keras ``ops.batch_normalization``)::

    y = (x - mean) / sqrt(variance + epsilon) * gamma + beta

Training form, per feature::

    mu = mean(x),  var = mean((x - mu)**2)          (biased, as Keras)
    r = 1 / sqrt(var + epsilon),  xhat = (x - mu) * r,  y = gamma * xhat + beta

Its backward, for ``g = dL/dy`` (sums and means over the ``M`` elements of a feature)::

    dbeta  = sum(g)
    dgamma = sum(g * xhat)
    dx     = gamma * r * (g - mean(g) - xhat * mean(g * xhat))

The last line follows from ``dL/dxhat = gamma g`` and the Jacobians
``d mu / dx = 1/M`` and ``d var / dx = 2 (x - mu) / M``: the two mean terms are the
gradient flowing through ``mu`` and through ``var``. The batch statistics are also
returned, as constants (the layer feeds them to its moving averages; for differentiable
statistics compose ``mean`` and ``var``).

During an ordinary ``backward()`` these formulas run on arrays with the saved ``xhat``
and ``r``; under ``create_graph=True`` they are recomputed from ``x`` with minidl ops, so
second derivatives are exact.

>>> import numpy as np, minidl as mdl
>>> x = mdl.tensor(np.array([[1.0], [3.0]]))
>>> y, mu, var = batch_normalization_training(x, axis=-1, epsilon=0.0)
>>> y.numpy().ravel(), mu.numpy(), var.numpy()
(array([-1.,  1.]), array([2.]), array([1.]))
"""
from .. import config
from ..autograd import Function, Tensor, as_tensor, is_grad_enabled
from ..kernels.blas import one_blas_thread
from . import math as _m
from .reduction import mean as _mean
from .reduction import sum as _sum
from .reduction import sum_to
from .shape import reshape

__all__ = ["batch_normalization", "batch_normalization_training", "layer_normalization",
           "group_normalization"]


def _feature_axis(axis, ndim):
    if isinstance(axis, bool) or not isinstance(axis, int) or not -ndim <= axis < ndim:
        raise ValueError(f"axis={axis!r} is out of range for an input of rank {ndim}")
    return axis % ndim


def _as_feature_vector(value, name, x, axis):
    """A (C,) parameter as a Tensor broadcastable against ``x`` (shape 1 except on axis)."""
    value = as_tensor(value, x)
    channels = x.shape[axis]
    if value.shape != (channels,):
        raise ValueError(f"{name} of shape {value.shape} does not match the {channels} "
                         f"features on axis {axis} of an input of shape {x.shape}; "
                         f"expected ({channels},)")
    shape = [1] * x.ndim
    shape[axis] = channels
    return value.reshape(shape)


def batch_normalization(x, mean, variance, axis: int = -1, offset=None, scale=None,
                        epsilon: float = 1e-3) -> Tensor:
    """Normalize with given statistics: ``(x - mean) / sqrt(variance + epsilon) * scale
    + offset``; differentiable in every argument.

    Args:
        x: Tensor of any rank >= 1.
        mean, variance: ``(C,)`` with ``C = x.shape[axis]``.
        axis: the feature axis.
        offset, scale: ``(C,)`` or None (0 and 1).
        epsilon: added to the variance.

    Returns:
        Tensor of ``x``'s shape and dtype.

    Raises:
        ValueError: ``axis`` out of range or a parameter of the wrong shape.
    """
    x = as_tensor(x)
    axis = _feature_axis(axis, x.ndim)
    mean = _as_feature_vector(mean, "mean", x, axis)
    variance = _as_feature_vector(variance, "variance", x, axis)
    inv = 1.0 / _m.sqrt(variance + epsilon)
    if scale is not None:
        inv = inv * _as_feature_vector(scale, "scale", x, axis)
    shift = -mean * inv
    if offset is not None:
        shift = shift + _as_feature_vector(offset, "offset", x, axis)
    return x * inv + shift


def _feature_sum(xp, a, axis):
    """Per-feature sums of ``a`` over every axis but ``axis``, shape ``(C,)``. With the
    feature axis last they are one BLAS product with a vector of ones: several times
    faster than NumPy's strided reduction, and no less accurate."""
    if axis == a.ndim - 1:
        rows = a.reshape(-1, a.shape[-1])
        if xp.__name__ != "numpy":
            return xp.ones(rows.shape[0], dtype=a.dtype) @ rows
        with one_blas_thread():  # see minidl.ops.products
            return xp.ones(rows.shape[0], dtype=a.dtype) @ rows
    return a.sum(axis=tuple(i for i in range(a.ndim) if i != axis))


def _feature_dot(xp, a, b, axis):
    """Per-feature ``sum(a * b)`` over every axis but ``axis``, without a temporary."""
    letters = "abcdefghijklmnop"[:a.ndim]
    return xp.einsum(f"{letters},{letters}->{letters[axis]}", a, b)


class _Layout:
    """How per-feature ``(C,)`` vectors meet ``x`` in elementwise ops. With the feature
    axis last, ``x`` is viewed as rows of ``W * C`` (``W`` the axis before it) and the
    vectors are tiled ``W`` times, so NumPy's inner loops run over ``W * C`` elements
    rather than ``C`` (about 2x faster); otherwise the vectors broadcast along ``axis``."""

    def __init__(self, xp, shape, axis):
        self.xp, self.shape = xp, shape
        if axis == len(shape) - 1 and len(shape) >= 3:
            self.repeat = shape[-2]
            self.view = (-1, shape[-2] * shape[-1])
        else:
            self.repeat = None
            self.view = shape
            self.vector_shape = tuple(n if i == axis else 1 for i, n in enumerate(shape))

    def expand(self, v):
        if self.repeat is not None:
            return self.xp.tile(v, self.repeat)
        return v.reshape(self.vector_shape)


def _compiled_kernels(xp, x, axis, communicator):
    """``minidl.kernels.normalization`` when the compiled CPU kernels are chosen and fit
    (NumPy, float32/float64, contiguous, the feature axis last, one process), else None."""
    if (xp.__name__ != "numpy" or axis != x.ndim - 1 or communicator is not None or
            x.dtype.char not in "fd" or not x.flags.c_contiguous or
            config.cpu_kernels() != "numba"):
        return None
    from ..kernels import normalization
    return normalization


class BatchNormTraining(Function):
    """``y`` from ``(x, gamma, beta)`` with batch statistics (kept as ``self.mean`` and
    ``self.variance``, shape ``(C,)``); see the module docstring for the formulas.

    With a ``communicator`` (synchronized batch normalization over processes, each
    holding a share of the batch), the per-feature sums of the statistics and of the
    backward's means are summed over the processes, so ``M`` counts the whole batch. The
    gradient flowing in on each process is taken to be of a mean over its own samples
    (as data-parallel ``fit`` computes it): process ``q``'s backward sums are weighted by
    ``M_q / M_p`` to put them on process ``p``'s scale, and ``dgamma``, ``dbeta`` stay
    this process's own sums (``fit`` adds them up with the other gradients)."""

    def __init__(self, axis, epsilon, communicator=None):
        self.axis, self.epsilon, self.communicator = axis, epsilon, communicator

    def forward(self, x, gamma, beta):
        xp = self.xp
        shape = [1] * x.ndim
        shape[self.axis] = x.shape[self.axis]
        self.reduce = tuple(a for a in range(x.ndim) if a != self.axis)
        self.shape = tuple(shape)
        self.count = self.total = x.size // x.shape[self.axis]
        self.compiled = _compiled_kernels(xp, x, self.axis, self.communicator)
        if self.compiled is not None:
            return self._forward_compiled(x, gamma, beta)
        self.layout = layout = _Layout(xp, x.shape, self.axis)
        sums = _feature_sum(xp, x, self.axis)
        if self.communicator is not None:
            packed = self.communicator.allreduce(
                xp.append(sums, sums.dtype.type(self.count)))
            sums, self.total = packed[:-1], int(packed[-1])
        inv_m = x.dtype.type(1.0 / self.total)
        mu = sums * inv_m
        centered = x.reshape(layout.view) - layout.expand(mu)
        squares = _feature_dot(xp, centered.reshape(x.shape), centered.reshape(x.shape),
                               self.axis)
        if self.communicator is not None:
            squares = self.communicator.allreduce(squares)
        var = squares * inv_m
        r = 1 / xp.sqrt(var + x.dtype.type(self.epsilon))
        xhat = xp.multiply(centered, layout.expand(r), out=centered)
        y = xhat * layout.expand(gamma)
        y += layout.expand(beta)
        self.save_for_backward(xhat, r)
        self.mean, self.variance = mu, var
        return y.reshape(x.shape)

    def backward(self, gy):
        if is_grad_enabled():
            return self._backward_graph(gy)
        if self.compiled is not None:
            return self._backward_compiled(gy.data)
        xhat, r = self._saved
        xp, layout = self.xp, self.layout
        g = gy.data
        g_sum = _feature_sum(xp, g, self.axis)
        gx_sum = _feature_dot(xp, g, xhat.reshape(g.shape), self.axis)
        dx = dgamma = dbeta = None
        if self.needs_input_grad[0]:
            inv_m = xhat.dtype.type(1.0 / self.total)
            g_all, gx_all = self._sums_over_processes(xp, g_sum, gx_sum)
            a = self.inputs[1].data * r   # gamma * r
            dx = g.reshape(layout.view) * layout.expand(a)
            dx += xhat * layout.expand(-a * gx_all * inv_m)
            dx += layout.expand(-a * g_all * inv_m)
            dx = Tensor._wrap(dx.reshape(g.shape))
        if self.needs_input_grad[1]:
            dgamma = Tensor._wrap(gx_sum)
        if self.needs_input_grad[2]:
            dbeta = Tensor._wrap(g_sum)
        return dx, dgamma, dbeta

    def _forward_compiled(self, x, gamma, beta):
        """The forward on the compiled kernels: statistics in two passes over the rows,
        then ``y = x * a + b`` in one (``a = gamma * r``, ``b = beta - mu * a``)."""
        rows, threads = x.reshape(-1, x.shape[-1]), config.num_threads()
        mu, var = self.compiled.statistics(rows, threads)
        r = 1 / self.xp.sqrt(var + self.epsilon)
        a = gamma * r
        self.save_for_backward(mu, r)
        self.mean, self.variance = mu.astype(x.dtype), var.astype(x.dtype)
        return self.compiled.affine(rows, a, beta - mu * a, threads).reshape(x.shape)

    def _backward_compiled(self, g):
        """The backward on the compiled kernels: ``sum(g)`` and ``sum(g * (x - mu))`` in
        one pass, then ``dx = a g + b x + d`` in one (``xhat`` is not stored)."""
        mu, r = self._saved
        x, gamma = self.inputs[0].data, self.inputs[1].data
        rows, g_rows = x.reshape(-1, x.shape[-1]), g.reshape(-1, x.shape[-1])
        threads = config.num_threads()
        g_sum, gc_sum = self.compiled.backward_sums(g_rows, rows, mu, threads)
        dgamma = gc_sum * r
        dx = None
        if self.needs_input_grad[0]:
            a = gamma * r
            b = -a * r * dgamma / self.total
            d = -a * g_sum / self.total - b * mu
            dx = Tensor._wrap(self.compiled.backward_dx(g_rows, rows, a, b, d, threads)
                              .reshape(g.shape))
        dtype = g.dtype
        dgamma = Tensor._wrap(dgamma.astype(dtype)) if self.needs_input_grad[1] else None
        dbeta = Tensor._wrap(g_sum.astype(dtype)) if self.needs_input_grad[2] else None
        return dx, dgamma, dbeta

    def _sums_over_processes(self, xp, g_sum, gx_sum):
        """``g_sum`` and ``gx_sum`` of every process, each weighted by its element count
        over this process's (see the class docstring); unchanged without a
        communicator."""
        if self.communicator is None:
            return g_sum, gx_sum
        weight = g_sum.dtype.type(self.count)
        packed = self.communicator.allreduce(xp.concatenate([g_sum, gx_sum]) * weight)
        packed /= weight
        return packed[:len(g_sum)], packed[len(g_sum):]

    def _backward_graph(self, gy):
        """The same formulas with minidl ops, recomputing ``xhat`` from ``x`` so that the
        gradient is itself differentiable."""
        if self.communicator is not None:
            raise NotImplementedError("second derivatives through synchronized batch "
                                      "normalization are not supported")
        x, gamma, _ = self.inputs
        mu = _mean(x, self.reduce, keepdims=True)
        centered = x - mu
        var = _mean(centered * centered, self.reduce, keepdims=True)
        r = 1.0 / _m.sqrt(var + self.epsilon)
        xhat = centered * r
        gamma = gamma.reshape(self.shape)
        g_mean = _mean(gy, self.reduce, keepdims=True)
        gx_mean = _mean(gy * xhat, self.reduce, keepdims=True)
        dx = gamma * r * (gy - g_mean - xhat * gx_mean)
        dgamma = _sum(gy * xhat, self.reduce) if self.needs_input_grad[1] else None
        dbeta = _sum(gy, self.reduce) if self.needs_input_grad[2] else None
        return dx, dgamma, dbeta


def batch_normalization_training(x, scale=None, offset=None, axis: int = -1,
                                 epsilon: float = 1e-3,
                                 communicator=None) -> tuple[Tensor, Tensor, Tensor]:
    """Normalize with the batch's own statistics (training mode of BatchNormalization).

    Args:
        x: Tensor of rank >= 2; statistics over every axis but ``axis``.
        scale, offset: ``(C,)`` (gamma and beta) or None (1 and 0, no gradient).
        axis: the feature axis.
        epsilon: added to the variance.
        communicator: a ``minidl.distribution.Communicator`` whose processes each hold a
            share of the batch: the statistics are those of the whole batch (every
            process must call this together); None for this process's batch alone.

    Returns:
        ``(y, mean, variance)``: ``y = scale * (x - mean) / sqrt(variance + epsilon) +
        offset`` of ``x``'s shape (differentiable in ``x``, ``scale`` and ``offset``), and
        the batch mean and biased variance, each ``(C,)``, as constants.

    Raises:
        ValueError: ``axis`` out of range, a parameter of the wrong shape, or an empty
            input.
    """
    x = as_tensor(x)
    axis = _feature_axis(axis, x.ndim)
    channels = x.shape[axis]
    for name, value in (("scale", scale), ("offset", offset)):
        if value is not None:
            _as_feature_vector(value, name, x, axis)
    if x.size == 0:
        raise ValueError("batch statistics need at least one element per feature; got "
                         f"an empty input of shape {x.shape}")
    xp = x.xp
    scale = as_tensor(scale, x) if scale is not None else \
        Tensor._wrap(xp.ones((channels,), dtype=x.dtype))
    offset = as_tensor(offset, x) if offset is not None else \
        Tensor._wrap(xp.zeros((channels,), dtype=x.dtype))
    op = BatchNormTraining(axis, epsilon, communicator)
    y = op(x, scale, offset)
    return y, Tensor._wrap(op.mean), Tensor._wrap(op.variance)


# -- layer and group normalization -----------------------------------------------------
def _moments_axes(axis, ndim):
    """``axis`` (an int or a sequence of ints) as sorted, distinct, non-negative axes."""
    axes = [axis] if isinstance(axis, int) and not isinstance(axis, bool) else axis
    try:
        axes = list(axes)
    except TypeError:
        raise ValueError(f"axis={axis!r} must be an int or a list of ints") from None
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, int) or not -ndim <= a < ndim:
            raise ValueError(f"axis={axis!r} is out of range for an input of rank {ndim}")
    positive = sorted(a % ndim for a in axes)
    if not positive or len(set(positive)) != len(positive):
        raise ValueError(f"axis={axis!r} must name at least one axis, each once (input "
                         f"of rank {ndim})")
    return tuple(positive)


def _statistics(x, axes, epsilon):
    """``(xhat, r)`` with ``r = 1 / sqrt(var + epsilon)`` and ``xhat = (x - mean) * r``,
    statistics over ``axes`` (kept as size-1 axes); on arrays or on Tensors alike."""
    centered = x - x.mean(axis=axes, keepdims=True)
    r = ((centered * centered).mean(axis=axes, keepdims=True) + epsilon) ** -0.5
    return centered * r, r


def _input_gradient(gh, xhat, basis, r, axes, rms_scaling):
    """``dL/dx`` from ``gh = gamma * dL/dy`` (arrays or Tensors); see ``Normalize``."""
    dx = gh - xhat * (gh * basis).mean(axis=axes, keepdims=True)
    if not rms_scaling:
        dx = dx - gh.mean(axis=axes, keepdims=True)
    return dx * r


def _reduce_to(a, shape):
    """Sum ``a`` over the axes where ``shape`` (same rank) has size 1."""
    if isinstance(a, Tensor):
        return sum_to(a, shape)
    axes = tuple(i for i, (m, n) in enumerate(zip(a.shape, shape)) if n == 1 and m != 1)
    return a.sum(axis=axes, keepdims=True) if axes else a


class Normalize(Function):
    """Normalize ``x`` over ``axes`` (per index of the other axes), then scale and shift.

    Inputs ``x``, then ``gamma`` (if ``scale``) and ``beta`` (if ``center``), both of
    ``x``'s rank and broadcastable to it. With ``r = 1 / sqrt(var + epsilon)``, ``var``
    the biased variance over ``axes`` and ``xhat = (x - mean) * r``::

        y = xhat * gamma + beta             (rms_scaling=False)
        y = x * r * gamma                   (rms_scaling=True: no centering of x)

    Backward, with ``g = dL/dy``, ``gh = gamma * g``, ``basis = dy/dgamma`` (``xhat``,
    or ``x * r``) and means over ``axes``::

        dbeta  = sum(g),   dgamma = sum(g * basis)    (over the broadcast axes)
        dx     = r * (gh - mean(gh) - xhat * mean(gh * xhat))       (rms_scaling=False)
        dx     = r * (gh - xhat * mean(gh * x * r))                 (rms_scaling=True)

    from ``d mean / dx = 1/M`` and ``d r / dx = -r**3 (x - mean) / M``. The ordinary
    backward uses the saved ``xhat`` and ``r``; under ``create_graph=True`` the same
    formulas are recomputed from ``x`` with minidl ops (second derivatives).
    """

    def __init__(self, axes, epsilon, rms_scaling=False, scale=True, center=True):
        self.axes, self.epsilon, self.rms_scaling = axes, epsilon, rms_scaling
        self.scale, self.center = scale, center

    def forward(self, x, *params):
        xhat, r = _statistics(x, self.axes, x.dtype.type(self.epsilon))
        y = x * r if self.rms_scaling else xhat.copy()
        if self.scale:
            y *= params[0]
        if self.center:
            y += params[-1]
        self.save_for_backward(xhat, r)
        return y

    def backward(self, gy):
        x, params = self.inputs[0], self.inputs[1:]
        if is_grad_enabled():   # differentiable: recompute the statistics on the tape
            xhat, r = _statistics(x, self.axes, self.epsilon)
        else:
            (xhat, r), x, gy = self._saved, x.data, gy.data
            params = [p.data for p in params]
        basis = x * r if self.rms_scaling else xhat
        grads = [None] * len(self.inputs)
        if self.needs_input_grad[0]:
            gh = gy * params[0] if self.scale else gy
            grads[0] = _input_gradient(gh, xhat, basis, r, self.axes, self.rms_scaling)
        if self.scale and self.needs_input_grad[1]:
            grads[1] = _reduce_to(gy * basis, params[0].shape)
        if self.center and self.needs_input_grad[-1]:
            grads[-1] = _reduce_to(gy, params[-1].shape)
        return tuple(grads)


def _normalize(x, gamma, beta, axes, epsilon, rms_scaling, shape, broadcast_shape):
    """Apply ``Normalize`` with ``gamma`` and ``beta`` (each of ``shape`` or None)
    reshaped to ``broadcast_shape``."""
    params = []
    for name, value in (("gamma", gamma), ("beta", beta)):
        if value is not None:
            value = as_tensor(value, x)
            if value.shape != shape:
                raise ValueError(f"{name} of shape {value.shape} must have shape {shape}")
            params.append(reshape(value, broadcast_shape))
    op = Normalize(axes, epsilon, rms_scaling, scale=gamma is not None,
                   center=beta is not None)
    return op(x, *params)


def layer_normalization(x, gamma=None, beta=None, axis: int | list = -1,
                        epsilon: float = 1e-3, rms_scaling: bool = False) -> Tensor:
    """Normalize each sample over ``axis`` (one or several axes), as Keras's
    ``ops.layer_normalization``.

    ``y = (x - mean) / sqrt(var + epsilon) * gamma + beta``, mean and biased variance
    over ``axis`` for every index of the other axes. With ``rms_scaling=True`` (Keras's
    deprecated variant) ``y = x / sqrt(var + epsilon) * gamma``: divided by the
    standard deviation but not centered, and no ``beta``.

    Args:
        x: Tensor or array of any rank >= 1.
        gamma, beta: None, or of shape ``tuple(x.shape[a] for a in sorted(axes))``
            (the normalized axes, as non-negative indices, in increasing order).
        axis: int or list of ints, the axes to normalize over.
        epsilon: added to the variance.
        rms_scaling: see above.

    Returns:
        Tensor of ``x``'s shape and dtype.

    Raises:
        ValueError: an axis out of range or repeated, a parameter of the wrong shape, or
            ``beta`` given with ``rms_scaling=True``.

    Example:
        >>> import numpy as np
        >>> layer_normalization(np.array([[1.0, 3.0]]), epsilon=0.0).numpy()
        array([[-1.,  1.]])
    """
    x = as_tensor(x)
    axes = _moments_axes(axis, x.ndim)
    if rms_scaling and beta is not None:
        raise ValueError("beta must be None with rms_scaling=True (the input is scaled "
                         "by its standard deviation, never shifted)")
    shape = tuple(x.shape[a] for a in axes)
    broadcast_shape = tuple(n if i in axes else 1 for i, n in enumerate(x.shape))
    return _normalize(x, gamma, beta, axes, epsilon, rms_scaling, shape, broadcast_shape)


def group_normalization(x, groups: int, gamma=None, beta=None, axis: int = -1,
                        epsilon: float = 1e-3) -> Tensor:
    """Normalize each sample over groups of consecutive channels (Wu & He, 2018), as
    Keras's ``GroupNormalization``.

    The ``C`` channels on ``axis`` split into ``groups`` groups of ``C / groups``; for
    each sample and group, mean and biased variance run over the group's channels and
    every other non-batch axis: ``y = (x - mean) / sqrt(var + epsilon) * gamma[c] +
    beta[c]``. One group is layer normalization over all non-batch axes with per-channel
    parameters; ``groups = C`` is instance normalization.

    Args:
        x: Tensor or array of rank >= 2, the batch on axis 0.
        groups: positive int dividing ``C = x.shape[axis]``.
        gamma, beta: None or of shape ``(C,)``.
        axis: the channel axis (not the batch axis).
        epsilon: added to the variance.

    Returns:
        Tensor of ``x``'s shape and dtype.

    Raises:
        ValueError: ``axis`` out of range or the batch axis, ``groups`` not a positive int
            dividing ``C``, or a parameter of the wrong shape.

    Example:
        >>> import numpy as np
        >>> group_normalization(np.array([[1.0, 3.0, 0.0, 4.0]]), 2, epsilon=0.0).numpy()
        array([[-1.,  1., -1.,  1.]])
    """
    x = as_tensor(x)
    axis = _feature_axis(axis, x.ndim)
    if axis == 0:
        raise ValueError(f"axis=0 is the batch axis of an input of shape {x.shape}; "
                         "group normalization needs a channel axis")
    channels = x.shape[axis]
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1 or \
            channels % groups:
        raise ValueError(f"groups={groups!r} must be a positive int dividing the "
                         f"{channels} channels on axis {axis} of an input of shape "
                         f"{x.shape}")
    grouped = x.shape[:axis] + (groups, channels // groups) + x.shape[axis + 1:]
    axes = tuple(a for a in range(1, x.ndim + 1) if a != axis)
    broadcast_shape = tuple(n if i in (axis, axis + 1) else 1
                            for i, n in enumerate(grouped))
    y = _normalize(reshape(x, grouped), gamma, beta, axes, epsilon, False, (channels,),
                   broadcast_shape)
    return reshape(y, x.shape)
