"""2-D and 1-D max and average pooling, and global pooling.

Shapes: ``x`` is ``(N, H, W, C)`` ("channels_last") or ``(N, C, H, W)``
("channels_first"); a pool of ``(ph, pw)`` taps moves with strides ``(sh, sw)``. Padding
follows TensorFlow's rule (``conv_utils.padding_amounts``): "valid" uses only whole
windows; "same" gives ``ceil(n / s)`` outputs per axis with ``before = total // 2`` rows
padded at the top/left and the rest at the bottom/right. Every "same" window still holds
at least one real pixel.

With ``xpad`` the padded input and ``V_ij`` its strided view for tap ``(i, j)``,
``V_ij[n, oh, ow, c] = xpad[n, oh*sh + i, ow*sw + j, c]``:

- max pooling: ``y = max_ij V_ij`` (padding is ``-inf``, so it never wins). The gradient
  goes to the arg-max; at ties, to the first maximal tap in row-major order ``(i, j)``
  (as TensorFlow's CPU kernel does).
- average pooling: ``y = sum_ij V_ij / count`` with zero padding, where ``count[oh, ow]``
  is the number of real (unpadded) pixels in the window, as Keras does; the gradient adds
  ``gy / count`` into every tap's view.

Each op loops over the ``ph * pw`` pool taps only; everything else is vectorized. Both
backward passes are linear maps of ``gy`` written as Functions whose own backward is the
adjoint map, so second derivatives (``create_graph=True``) work.

1-D pooling of ``(N, L, C)`` (or ``(N, C, L)``) is 2-D pooling of ``(N, L, 1, C)`` (or
``(N, C, L, 1)``) with a pool of ``(k, 1)`` and strides ``(s, 1)``: the unit axis is a
reshape, so the two share every line of arithmetic.

>>> import numpy as np, minidl as mdl
>>> x = mdl.tensor(np.arange(16.0).reshape(1, 4, 4, 1))
>>> max_pool2d(x, 2).numpy()[0, :, :, 0]
array([[ 5.,  7.],
       [13., 15.]])
>>> avg_pool2d(x, 3, strides=2, padding="same").numpy()[0, :, :, 0]
array([[ 5. ,  6.5],
       [11. , 12.5]])
"""
from ..autograd import Function, Tensor, as_tensor
from . import conv_utils
from .reduction import max as _max
from .reduction import mean as _mean
from .shape import expand_dims, squeeze

__all__ = ["max_pool2d", "avg_pool2d", "max_pool1d", "avg_pool1d", "global_avg_pool",
           "global_max_pool"]


class _PoolGeometry:
    """Where each pool tap reads from: spatial axes, padding and the strided views."""

    def __init__(self, shape, pool_size, strides, padding, data_format):
        self.shape = tuple(shape)
        self.pool_size, self.strides, self.padding = pool_size, strides, padding
        self.axes = (1, 2) if data_format == "channels_last" else (2, 3)
        sizes = [shape[a] for a in self.axes]
        if padding == "valid" and any(n < k for n, k in zip(sizes, pool_size)):
            raise ValueError(f"input spatial shape {tuple(sizes)} is too small for "
                             f"pool_size={pool_size} with padding='valid' (the output "
                             "would be empty)")
        amounts = conv_utils.padding_amounts(sizes, pool_size, strides, (1, 1), padding)
        self.out_sizes = tuple(out for out, _, _ in amounts)
        self.pads = tuple((before, after) for _, before, after in amounts)
        self.padded = any(b or a for b, a in self.pads)
        out_shape = list(shape)
        pad_shape = list(shape)
        for a, out, (before, after) in zip(self.axes, self.out_sizes, self.pads):
            out_shape[a] = out
            pad_shape[a] += before + after
        self.out_shape, self.pad_shape = tuple(out_shape), tuple(pad_shape)

    def taps(self):
        """``(tap number, slice tuple of the view V_ij into the padded input)``."""
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        (oh, ow) = self.out_sizes
        t = 0
        for i in range(ph):
            for j in range(pw):
                index = [slice(None)] * 4
                index[self.axes[0]] = slice(i, i + sh * (oh - 1) + 1, sh)
                index[self.axes[1]] = slice(j, j + sw * (ow - 1) + 1, sw)
                yield t, tuple(index)
                t += 1

    def pad(self, xp, x, value):
        if not self.padded:
            return x
        width = [(0, 0)] * 4
        for a, p in zip(self.axes, self.pads):
            width[a] = p
        return xp.pad(x, width, constant_values=value)

    def crop(self, xpad):
        if not self.padded:
            return xpad
        index = [slice(None)] * 4
        for a, (before, after) in zip(self.axes, self.pads):
            index[a] = slice(before, self.pad_shape[a] - after)
        return xpad[tuple(index)]

    def scatter(self, xp, parts, dtype):
        """Sum each tap's array into its view of a zero padded input; crop the padding."""
        gpad = xp.zeros(self.pad_shape, dtype=dtype)
        for (_, index), part in zip(self.taps(), parts):
            gpad[index] += part  # one tap's view never repeats a position
        return self.crop(gpad)

    def counts(self, xp, dtype):
        """Real pixels per window, shaped to broadcast against the output."""
        if not self.padded:
            return None
        per_axis = []
        for n, k, s, out, (before, _) in zip([self.shape[a] for a in self.axes],
                                             self.pool_size, self.strides, self.out_sizes,
                                             self.pads):
            start = xp.arange(out) * s - before
            per_axis.append(xp.minimum(start + k, n) - xp.maximum(start, 0))
        count = (per_axis[0][:, None] * per_axis[1][None, :]).astype(dtype)
        shape = [1] * 4
        shape[self.axes[0]], shape[self.axes[1]] = self.out_sizes
        return count.reshape(shape)


class MaxPool2D(Function):
    """``y = max over the pool window``; the gradient goes to the (first) arg-max."""

    def __init__(self, geometry):
        self.geometry = geometry

    def forward(self, x):
        xp, g = self.xp, self.geometry
        xpad = g.pad(xp, x, -xp.inf)
        y = arg = None
        for t, index in g.taps():
            view = xpad[index]
            if y is None:
                y = view.copy()
                arg = xp.zeros(y.shape, dtype=xp.int16)
            else:
                better = view > y  # strict: ties keep the earlier tap
                xp.copyto(y, view, where=better)
                # t as an int16 scalar: CuPy 13.0-13.2 reject a Python int src under NumPy 2
                xp.copyto(arg, arg.dtype.type(t), where=better)
        self.arg = arg
        return y

    def backward(self, gy):
        return _RouteToArgmax(self.geometry, self.arg)(gy)


class _RouteToArgmax(Function):
    """``gx``: each output gradient added at its window's arg-max position (linear in
    ``gy``); its adjoint reads ``ggx`` back at the arg-max positions."""

    def __init__(self, geometry, arg):
        self.geometry, self.arg = geometry, arg

    def forward(self, gy):
        xp = self.xp
        zero = gy.dtype.type(0)
        parts = (xp.where(self.arg == t, gy, zero) for t, _ in self.geometry.taps())
        return self.geometry.scatter(xp, parts, gy.dtype)

    def backward(self, ggx):
        return _GatherAtArgmax(self.geometry, self.arg)(ggx)


class _GatherAtArgmax(Function):
    """``z[window] = v[arg-max of window]``: the adjoint of ``_RouteToArgmax``."""

    def __init__(self, geometry, arg):
        self.geometry, self.arg = geometry, arg

    def forward(self, v):
        xp, g = self.xp, self.geometry
        vpad = g.pad(xp, v, 0)
        z = xp.zeros(g.out_shape, dtype=v.dtype)
        for t, index in g.taps():
            xp.copyto(z, vpad[index], where=self.arg == t)
        return z

    def backward(self, gz):
        return _RouteToArgmax(self.geometry, self.arg)(gz)


class AvgPool2D(Function):
    """``y = sum over the window / count`` (count: real pixels in the window)."""

    def __init__(self, geometry):
        self.geometry = geometry

    def forward(self, x):
        xp, g = self.xp, self.geometry
        xpad = g.pad(xp, x, 0)
        y = None
        for _, index in g.taps():
            y = xpad[index].copy() if y is None else xp.add(y, xpad[index], out=y)
        count = g.counts(xp, x.dtype)
        if count is None:
            return xp.multiply(y, x.dtype.type(1.0 / (g.pool_size[0] * g.pool_size[1])),
                               out=y)
        return xp.divide(y, count, out=y)

    def backward(self, gy):
        return _AvgPool2DTranspose(self.geometry)(gy)


class _AvgPool2DTranspose(Function):
    """The adjoint of average pooling: ``gy / count`` added into every tap's view."""

    def __init__(self, geometry):
        self.geometry = geometry

    def forward(self, gy):
        xp, g = self.xp, self.geometry
        count = g.counts(xp, gy.dtype)
        scaled = gy * gy.dtype.type(1.0 / (g.pool_size[0] * g.pool_size[1])) \
            if count is None else gy / count
        return g.scatter(xp, (scaled for _ in g.taps()), gy.dtype)

    def backward(self, ggx):
        return AvgPool2D(self.geometry)(ggx)


def _geometry(x, pool_size, strides, padding, data_format):
    pool_size = conv_utils.normalize_tuple(pool_size, 2, "pool_size")
    strides = pool_size if strides is None else conv_utils.normalize_tuple(strides, 2,
                                                                           "strides")
    padding = conv_utils.normalize_padding(padding)
    data_format = conv_utils.normalize_data_format(data_format)
    if x.ndim != 4:
        raise ValueError(f"pooling expects a 4-D input {_layout(data_format)}, got shape "
                         f"{x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"pooling expects a floating input, got dtype {x.dtype}")
    return _PoolGeometry(x.shape, pool_size, strides, padding, data_format)


def _layout(data_format):
    return "(N, H, W, C)" if data_format == "channels_last" else "(N, C, H, W)"


def max_pool2d(x, pool_size: int | tuple, strides: int | tuple | None = None,
               padding: str = "valid", data_format: str | None = None) -> Tensor:
    """2-D max pooling.

    Args:
        x: Tensor or array, ``(N, H, W, C)`` or ``(N, C, H, W)``, floating.
        pool_size: int or tuple of 2 ints, the window ``(ph, pw)``.
        strides: int or tuple of 2 ints; None means ``pool_size``.
        padding: "valid" or "same" (TensorFlow's rule), case-insensitive.
        data_format: "channels_last", "channels_first" or None (the configured default).

    Returns:
        Tensor ``(N, OH, OW, C)`` (or ``(N, C, OH, OW)``), ``y = max of each window``; the
        gradient goes to the first maximal tap (row-major) of each window.

    Raises:
        ValueError: bad pool_size/strides/padding/data_format, a non 4-D input, or a
            "valid" window larger than the input.
    """
    x = as_tensor(x)
    return MaxPool2D(_geometry(x, pool_size, strides, padding, data_format))(x)


def avg_pool2d(x, pool_size: int | tuple, strides: int | tuple | None = None,
               padding: str = "valid", data_format: str | None = None) -> Tensor:
    """2-D average pooling; with "same" padding each window is divided by its count of
    real pixels (Keras/TensorFlow). Arguments, shapes and errors as ``max_pool2d``."""
    x = as_tensor(x)
    return AvgPool2D(_geometry(x, pool_size, strides, padding, data_format))(x)


def _pool1d(pool2d, x, pool_size, strides, padding, data_format):
    """``pool2d`` of ``x`` with a unit axis after the steps axis, which is removed again."""
    x = as_tensor(x)
    pool_size = conv_utils.normalize_tuple(pool_size, 1, "pool_size")
    strides = pool_size if strides is None else conv_utils.normalize_tuple(strides, 1,
                                                                           "strides")
    data_format = conv_utils.normalize_data_format(data_format)
    if x.ndim != 3:
        layout = "(N, L, C)" if data_format == "channels_last" else "(N, C, L)"
        raise ValueError(f"1-D pooling expects a 3-D input {layout}, got shape {x.shape}")
    unit = 2 if data_format == "channels_last" else 3
    y = pool2d(expand_dims(x, unit), pool_size + (1,), strides + (1,), padding, data_format)
    return squeeze(y, unit)


def max_pool1d(x, pool_size: int | tuple, strides: int | tuple | None = None,
               padding: str = "valid", data_format: str | None = None) -> Tensor:
    """1-D max pooling.

    Args:
        x: Tensor or array, ``(N, L, C)`` or ``(N, C, L)``, floating.
        pool_size: int or tuple of 1 int, the window ``k``.
        strides: int or tuple of 1 int; None means ``pool_size``.
        padding: "valid" or "same" (TensorFlow's rule), case-insensitive.
        data_format: "channels_last", "channels_first" or None (the configured default).

    Returns:
        Tensor ``(N, OL, C)`` (or ``(N, C, OL)``), ``y[t] = max(x[t*s - before : t*s -
        before + k])``; the gradient goes to the first maximal step of each window.

    Raises:
        ValueError: bad pool_size/strides/padding/data_format, a non 3-D input, or a
            "valid" window longer than the input.
    """
    return _pool1d(max_pool2d, x, pool_size, strides, padding, data_format)


def avg_pool1d(x, pool_size: int | tuple, strides: int | tuple | None = None,
               padding: str = "valid", data_format: str | None = None) -> Tensor:
    """1-D average pooling; with "same" padding each window is divided by its count of
    real steps (Keras/TensorFlow). Arguments, shapes and errors as ``max_pool1d``."""
    return _pool1d(avg_pool2d, x, pool_size, strides, padding, data_format)


def _global_axes(x, rank, data_format, name):
    data_format = conv_utils.normalize_data_format(data_format)
    if x.ndim != rank:
        spatial = "L" if rank == 3 else "H, W"
        layout = f"(N, {spatial}, C)" if data_format == "channels_last" else \
            f"(N, C, {spatial})"
        raise ValueError(f"{name} expects a {rank}-D input {layout}, got shape {x.shape}")
    return tuple(range(1, rank - 1)) if data_format == "channels_last" else \
        tuple(range(2, rank))


def global_avg_pool(x, rank: int = 4, data_format: str | None = None,
                    keepdims: bool = False) -> Tensor:
    """Mean over the spatial axes of a rank-``rank`` input (4: 2-D images, 3: 1-D
    sequences); ``keepdims`` keeps them with size 1."""
    x = as_tensor(x)
    return _mean(x, _global_axes(x, rank, data_format, "global average pooling"), keepdims)


def global_max_pool(x, rank: int = 4, data_format: str | None = None,
                    keepdims: bool = False) -> Tensor:
    """Max over the spatial axes; tied maxima share the gradient equally (as
    ``reduce_max``)."""
    x = as_tensor(x)
    return _max(x, _global_axes(x, rank, data_format, "global max pooling"), keepdims)
