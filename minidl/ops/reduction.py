"""Reductions and broadcasting: sum, mean, max, min, var, logsumexp, sum_to,
broadcast_to."""
import builtins

from ..autograd import Function, Tensor, as_tensor

__all__ = ["sum", "mean", "max", "min", "var", "logsumexp", "sum_to", "broadcast_to"]


def _normalize_axis(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for a in axes:
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"axis={axis!r} is out of range for a tensor of rank {ndim}")
    return tuple(sorted(a % builtins.max(ndim, 1) for a in axes))


def _keepdims_shape(shape, axes):
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.axes = _normalize_axis(self.axis, x.ndim)
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        x = self.inputs[0]
        return broadcast_to(gy.reshape(_keepdims_shape(x.shape, self.axes)), x.shape)


class BroadcastTo(Function):
    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        return self.xp.broadcast_to(x, self.shape)

    def backward(self, gy):
        return sum_to(gy, self.inputs[0].shape)


class SumTo(Function):
    """Sum a broadcast result back to ``shape`` (the gradient of broadcasting)."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        lead = x.ndim - len(self.shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, n in enumerate(self.shape) if n == 1 and x.shape[lead + i] != 1)
        y = x.sum(axis=axes, keepdims=True) if axes else x
        return y.reshape(self.shape) if lead else y

    def backward(self, gy):
        return broadcast_to(gy, self.inputs[0].shape)


class MaxMin(Function):
    """max / min over axes; the gradient is shared equally among tied maxima."""

    def __init__(self, axis=None, keepdims=False, mode="max"):
        self.axis, self.keepdims, self.mode = axis, keepdims, mode

    def forward(self, x):
        if x.size == 0:
            raise ValueError(f"{self.mode}() of an empty tensor of shape {x.shape}")
        self.axes = _normalize_axis(self.axis, x.ndim)
        fn = x.max if self.mode == "max" else x.min
        return fn(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        x, y = self.inputs[0], self.outputs[0]
        shape = _keepdims_shape(x.shape, self.axes)
        mask = x.data == y.data.reshape(shape)
        share = mask / mask.sum(axis=self.axes, keepdims=True)
        return (broadcast_to(gy.reshape(shape), x.shape)
                * Tensor._wrap(share.astype(x.dtype)))


class LogSumExp(Function):
    """log(sum(exp(x))) over ``axis``, stable for large |x|; d/dx = exp(x - y)."""

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        xp = self.xp
        self.axes = _normalize_axis(self.axis, x.ndim)
        m = x.max(axis=self.axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        y = xp.log(xp.exp(x - m).sum(axis=self.axes, keepdims=True)) + m
        return y if self.keepdims else y.reshape([n for i, n in enumerate(y.shape)
                                                  if i not in self.axes])

    def backward(self, gy):
        x, y = self.inputs[0], self.outputs[0]
        shape = _keepdims_shape(x.shape, self.axes)
        return gy.reshape(shape) * (x - y.reshape(shape)).exp()


def sum(x, axis: int | tuple | None = None,  # noqa: A001 - NumPy's name
        keepdims: bool = False) -> Tensor:
    return Sum(axis, keepdims)(x)


def mean(x, axis: int | tuple | None = None, keepdims: bool = False) -> Tensor:
    x = as_tensor(x)
    axes = _normalize_axis(axis, x.ndim)
    count = 1
    for a in axes:
        count *= x.shape[a]
    return sum(x, axes, keepdims) * (1.0 / count if count else float("nan"))


def max(x, axis: int | tuple | None = None,  # noqa: A001
        keepdims: bool = False) -> Tensor:
    return MaxMin(axis, keepdims, "max")(x)


def min(x, axis: int | tuple | None = None,  # noqa: A001
        keepdims: bool = False) -> Tensor:
    return MaxMin(axis, keepdims, "min")(x)


def var(x, axis: int | tuple | None = None, keepdims: bool = False,
        ddof: int = 0) -> Tensor:
    """Variance ``mean((x - mean(x))**2)`` (``ddof=1``: divide by n - 1)."""
    x = as_tensor(x)
    centered = x - mean(x, axis, keepdims=True)
    axes = _normalize_axis(axis, x.ndim)
    count = 1
    for a in axes:
        count *= x.shape[a]
    return sum(centered * centered, axes, keepdims) * (1.0 / (count - ddof))


def logsumexp(x, axis: int | tuple | None = None, keepdims: bool = False) -> Tensor:
    return LogSumExp(axis, keepdims)(x)


def sum_to(x, shape: tuple) -> Tensor:
    """Sum ``x`` down to ``shape`` (undo broadcasting); ``x`` itself when it already
    fits."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    return SumTo(shape)(x)


def broadcast_to(x, shape: tuple) -> Tensor:
    shape = tuple(shape)
    if x.shape == shape:
        return x
    return BroadcastTo(shape)(x)
