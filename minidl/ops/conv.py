"""Standard (dense) convolution: ``conv2d`` and ``conv1d``, kernels in Keras layout.

The op works on channels_last arrays ``x (N, *spatial, C)`` and a kernel
``w (*kernel_size, C, F)``; channels_first inputs are transposed at the boundary. With
strides ``s``, dilation ``d`` and the "same"/"valid" padding ``p`` (TensorFlow's rule,
from ``conv_utils``), for every kernel tap ``t`` (a tuple of kernel indices):

    y[n, o, f] = b[f] + sum_t sum_c x[n, o * s + t * d - p, c] * w[t, c, f]

where positions outside ``x`` read zero. Per tap, the output positions whose input lies
inside ``x`` form a rectangle; the input they read is a strided view ``V`` of ``x``, and
the tap's contribution is one BLAS matmul ``V.reshape(-1, C) @ w[t]`` added into that
rectangle of ``y``. No padded copy and no full im2col matrix are made: each tap copies
only its own view (when it is not contiguous already).

Backward, with ``g = dL/dy`` and ``G`` its rectangle for tap ``t``:

- ``dL/db = sum_{n, o} g``
- ``dL/dw[t] = V.reshape(-1, C).T @ G.reshape(-1, F)`` (zero for a tap that never
  overlaps the input)
- ``dL/dx[V] += G @ w[t].T`` (within one tap the view's elements are distinct, so the
  in-place add is exact).

Grouped convolution (``groups = g``): the channels split into ``g`` consecutive groups of
``C / g`` inputs and ``F / g`` outputs, the kernel is ``(*kernel_size, C / g, F)``, and
output channel ``f`` of group ``f // (F / g)`` reads only that group's input channels (as
Keras and XLA's ``feature_group_count``). Every per-tap matmul above becomes a batched
matmul over the groups: ``V.reshape(-1, g, C/g)`` against ``w[t].reshape(C/g, g, F/g)``,
group axis first; the gradients are the same batched products transposed.

When the input is thin (taps x C <= 2 F, e.g. a 3x3 stem on 1-3 channels), per-tap
matmuls with an inner size of C waste BLAS; there the taps' views are gathered once into
columns ``X (rows, T*C)`` (at most twice the output) and the forward is one matmul
``X @ w.reshape(T*C, F)``, ``dL/dw = X.T @ g`` and ``dL/dX = g @ w.T`` scattered back per
tap: the same formulas, grouped.

Two routes compute these. The ordinary ``backward()`` runs them on arrays (one pass per
tap, no tape). Under ``create_graph=True`` (recording on inside ``backward``) the same
formulas are built from minidl ops (``getitem``, ``matmul``, a scatter-add, ``stack``),
so the gradient can be differentiated again. The tests hold the two routes against each
other and against finite differences.

>>> import numpy as np, minidl as mdl
>>> x = np.arange(9.0).reshape(1, 3, 3, 1)
>>> w = np.ones((2, 2, 1, 1))
>>> mdl.functional.conv2d(x, w).numpy()[0, :, :, 0]
array([[ 8., 12.],
       [20., 24.]])
"""
import itertools
import numbers

from ..autograd import Function, Tensor, as_tensor, is_grad_enabled
from . import conv_utils
from .products import column_sums, rows_t_times, rows_times
from .reduction import sum as _sum
from .shape import ScatterAdd, reshape, stack

__all__ = ["conv1d", "conv2d", "checked_conv"]


def _axis_range(n, o, s, d, t, before):
    """For kernel index ``t`` along one axis: the output range ``[lo, hi)`` whose input
    ``q * s + t * d - before`` lies in ``[0, n)``, and the input slice it reads."""
    offset = t * d - before
    lo = max(0, -(offset // s))                     # ceil(-offset / s)
    hi = min(o, (n - 1 - offset) // s + 1)
    if hi <= lo:
        return None
    start = lo * s + offset
    return slice(lo, hi), slice(start, start + (hi - lo - 1) * s + 1, s)


def _by_group(a, groups):
    """``(R, g * k)`` rows as ``(g, R, k)``: one matrix per group (a view)."""
    return a.reshape((a.shape[0], groups, -1)).transpose((1, 0, 2))


def _kernel_by_group(w, groups):
    """A tap's kernel ``(C/g, F)`` as ``(g, C/g, F/g)``."""
    return w.reshape((w.shape[0], groups, -1)).transpose((1, 0, 2))


def _join_groups(a):
    """``(g, R, k)`` back to rows ``(R, g * k)``, group-major along the last axis."""
    return a.transpose((1, 0, 2)).reshape((a.shape[1], -1))


# The three per-tap products, on arrays or (the same code) on Tensors.
def _tap_forward(rows, w, groups):
    """``(R, C) x (C/g, F) -> (R, F)``: ``rows @ w`` within each group."""
    if groups == 1:
        return rows @ w
    return _join_groups(_by_group(rows, groups) @ _kernel_by_group(w, groups))


def _tap_input_grad(g_rows, w, groups):
    """``(R, F) x (C/g, F) -> (R, C)``: ``g_rows @ w.T`` within each group."""
    if groups == 1:
        return g_rows @ w.T
    return _join_groups(_by_group(g_rows, groups) @
                        _kernel_by_group(w, groups).transpose((0, 2, 1)))


def _tap_kernel_grad(rows, g_rows, groups):
    """``(R, C) x (R, F) -> (C/g, F)``: ``rows.T @ g_rows`` within each group."""
    if groups == 1:
        return rows.T @ g_rows
    per_group = _by_group(rows, groups).transpose((0, 2, 1)) @ _by_group(g_rows, groups)
    return per_group.transpose((1, 0, 2)).reshape((per_group.shape[1], -1))


_TAPS = {}  # the taps of each geometry seen, see Conv._taps
_TAPS_KEPT = 256


class Conv(Function):
    """``y = conv(x, w) (+ b)`` in channels_last, for any number of spatial axes.

    Args:
        strides, dilation_rate: tuples, one entry per spatial axis.
        amounts: per spatial axis ``(out, before, after)`` from
            ``conv_utils.padding_amounts``.
        groups: the number of channel groups (the kernel is ``(*k, C / groups, F)``).
    """

    def __init__(self, strides, dilation_rate, amounts, groups=1):
        self.strides, self.dilation_rate = tuple(strides), tuple(dilation_rate)
        self.amounts = tuple(tuple(a) for a in amounts)
        self.groups = groups

    def _taps(self, x_shape, kernel_shape):
        """``(tap, out_index, in_index, full)`` for each kernel tap overlapping ``x``;
        ``full`` says the tap covers the whole output. Kept per geometry (the indices do
        not depend on the batch size): forward and backward of every step ask again."""
        key = (x_shape[1:-1], kernel_shape[:-2], self.strides, self.dilation_rate,
               self.amounts)
        taps = _TAPS.get(key)
        if taps is None:
            if len(_TAPS) >= _TAPS_KEPT:
                _TAPS.clear()
            taps = _TAPS[key] = self._find_taps(x_shape[1:-1], kernel_shape)
        return taps

    def _find_taps(self, spatial, kernel_shape):
        result = []
        for tap in itertools.product(*(range(k) for k in kernel_shape[:-2])):
            ranges = [_axis_range(n, o, s, d, t, before) for n, (o, before, _), s, d, t in
                      zip(spatial, self.amounts, self.strides, self.dilation_rate, tap)]
            if any(r is None for r in ranges):
                continue
            out_index = (slice(None),) + tuple(r[0] for r in ranges)
            in_index = (slice(None),) + tuple(r[1] for r in ranges)
            full = all(r[0].stop - r[0].start == o for r, (o, _, _) in
                       zip(ranges, self.amounts))
            result.append((tap, out_index, in_index, full))
        # a tap covering the whole output goes first: it writes y instead of adding
        result.sort(key=lambda item: not item[3])
        return tuple(result)

    def _columns(self, x, kernel, taps):
        """The taps' views of ``x`` side by side: ``(N, *out, T, C)``, zero where a tap
        falls in the padding."""
        out = tuple(o for o, _, _ in self.amounts)
        cols = self.xp.zeros((x.shape[0],) + out + (len(taps), x.shape[-1]), dtype=x.dtype)
        for k, (_, out_index, in_index, _) in enumerate(taps):
            cols[out_index + (k,)] = x[in_index]
        return cols

    def _thin(self, kernel):
        taps = 1
        for k in kernel.shape[:-2]:
            taps *= k
        # measured (batch 64, fwd+bwd): 28x28, 3 -> 16 channels 10.5 ms in columns, 15.0
        # per tap; 14x14, 8 -> 64: 6.4 and 16.3; 28x28, 4 -> 8: 11.7 and 10.7
        return self.groups == 1 and taps > 1 and \
            taps * kernel.shape[-2] <= 2 * kernel.shape[-1]

    def _tap_kernel(self, kernel, taps):
        """``w`` rows in the order of ``taps``: ``(T * C, F)``."""
        return self.xp.concatenate([kernel[tap] for tap, _, _, _ in taps])

    def forward(self, x, kernel, bias=None):
        xp = self.xp
        channels, filters = kernel.shape[-2], kernel.shape[-1]
        out_shape = (x.shape[0],) + tuple(o for o, _, _ in self.amounts) + (filters,)
        dtype = xp.result_type(x.dtype, kernel.dtype,
                               kernel.dtype if bias is None else bias.dtype)
        if self._thin(kernel):
            taps = self._taps(x.shape, kernel.shape)
            cols = self._columns(x, kernel, taps)
            self.save_for_backward(cols)
            y = rows_times(xp, cols.reshape(-1, len(taps) * channels),
                           self._tap_kernel(kernel, taps))
            y = y.reshape(out_shape).astype(dtype, copy=False)
            if bias is not None:
                y += bias
            return y
        y = None
        for tap, out_index, in_index, full in self._taps(x.shape, kernel.shape):
            view = x[in_index]
            rows = view.reshape(-1, x.shape[-1])
            part = (rows_times(xp, rows, kernel[tap]) if self.groups == 1 else
                    _tap_forward(rows, kernel[tap], self.groups))
            part = part.reshape(view.shape[:-1] + (filters,))
            if y is None:
                if full:
                    y = part.astype(dtype, copy=False)
                    continue
                y = xp.zeros(out_shape, dtype=dtype)
            y[out_index] += part
        if y is None:  # unreachable for a non-empty output; kept for safety
            y = xp.zeros(out_shape, dtype=dtype)
        if bias is not None:
            y += bias
        return y

    def backward(self, gy):
        if is_grad_enabled():
            return self._backward_differentiable(gy)
        return self._backward_arrays(gy.data)

    def _backward_arrays(self, g):
        x, kernel = self.inputs[0].data, self.inputs[1].data
        xp = self.xp
        channels, filters = kernel.shape[-2], kernel.shape[-1]
        need_x, need_w = self.needs_input_grad[0], self.needs_input_grad[1]
        gx = xp.zeros(x.shape, dtype=g.dtype) if need_x else None
        gw = xp.zeros(kernel.shape, dtype=g.dtype) if need_w else None
        taps = self._taps(x.shape, kernel.shape)
        if self._saved:  # the thin route: columns saved by forward
            (cols,) = self._saved
            rows = g.reshape(-1, filters)
            if need_w:
                gw_rows = rows_t_times(xp, cols.reshape(-1, len(taps) * channels), rows)
                for k, (tap, _, _, _) in enumerate(taps):
                    gw[tap] = gw_rows[k * channels:(k + 1) * channels]
            if need_x:
                gcols = rows_times(xp, rows, self._tap_kernel(kernel, taps).T)
                gcols = gcols.reshape(cols.shape)
                for k, (_, out_index, in_index, _) in enumerate(taps):
                    gx[in_index] += gcols[out_index + (k,)]
            taps = ()
        for tap, out_index, in_index, _ in taps:
            g_rows = g[out_index].reshape(-1, filters)
            if need_x:
                view = gx[in_index]
                part = rows_times(xp, g_rows, kernel[tap].T) if self.groups == 1 else \
                    _tap_input_grad(g_rows, kernel[tap], self.groups)
                view += part.reshape(view.shape)
            if need_w:
                rows = x[in_index].reshape(-1, x.shape[-1])
                gw[tap] = rows_t_times(xp, rows, g_rows) if self.groups == 1 else \
                    _tap_kernel_grad(rows, g_rows, self.groups)
        gb = None
        if len(self.inputs) == 3 and self.needs_input_grad[2]:
            gb = column_sums(xp, g.reshape(-1, g.shape[-1]))
        return (gx, gw) if len(self.inputs) == 2 else (gx, gw, gb)

    def _backward_differentiable(self, gy):
        x, kernel = self.inputs[0], self.inputs[1]
        channels, filters = kernel.shape[-2], kernel.shape[-1]
        need_x, need_w = self.needs_input_grad[0], self.needs_input_grad[1]
        gx, gw_taps = None, {}
        for tap, out_index, in_index, _ in self._taps(x.shape, kernel.shape):
            g_part = gy[out_index]
            g_rows = reshape(g_part, (-1, filters))
            if need_x:
                part = _tap_input_grad(g_rows, kernel[tap], self.groups)
                part = reshape(part, g_part.shape[:-1] + (x.shape[-1],))
                part = ScatterAdd(in_index, x.shape)(part)
                gx = part if gx is None else gx + part
            if need_w:
                rows = reshape(x[in_index], (-1, x.shape[-1]))
                gw_taps[tap] = _tap_kernel_grad(rows, g_rows, self.groups)
        gw = None
        if need_w:
            zero = Tensor._wrap(gy.xp.zeros((channels, filters), dtype=gy.dtype))
            taps = itertools.product(*(range(k) for k in kernel.shape[:-2]))
            gw = reshape(stack([gw_taps.get(t, zero) for t in taps]), kernel.shape)
        if len(self.inputs) == 2:
            return gx, gw
        gb = None
        if self.needs_input_grad[2]:
            gb = _sum(gy, tuple(range(gy.ndim - 1)))
        return gx, gw, gb


def _check_groups(channels, kernel_shape, groups):
    """The input's ``channels`` and the kernel's last two axes must fit ``groups``."""
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or groups < 1:
        raise ValueError(f"groups={groups!r} must be a positive int")
    in_channels, filters = kernel_shape[-2], kernel_shape[-1]
    if channels % groups:
        raise ValueError(f"x has {channels} channels, which groups={groups} does not "
                         "divide evenly")
    if filters % groups:
        raise ValueError(f"kernel of shape {kernel_shape} has {filters} filters, which "
                         f"groups={groups} does not divide evenly")
    if in_channels * groups != channels:
        raise ValueError(f"x has {channels} channels but kernel of shape {kernel_shape} "
                         f"with groups={groups} expects {in_channels * groups} input "
                         f"channels ({in_channels} per group)")
    return int(groups)


def _conv(x, kernel, bias, rank, strides, padding, dilation_rate, data_format, groups=1):
    """Validate the arguments of a ``rank``-D convolution and apply ``Conv``."""
    x = as_tensor(x)
    kernel = as_tensor(kernel, x)
    strides, padding, dilation_rate, data_format = conv_utils.normalize_arguments(
        rank, strides, padding, dilation_rate, data_format)
    if x.ndim != rank + 2:
        layout = "(N, L, C) or (N, C, L)" if rank == 1 else "(N, H, W, C) or (N, C, H, W)"
        raise ValueError(f"x of shape {x.shape} must have rank {rank + 2}, {layout}")
    if kernel.ndim != rank + 2 or 0 in kernel.shape:
        layout = "(kernel_size, in_channels, filters)" if rank == 1 else \
            "(kh, kw, in_channels, filters)"
        raise ValueError(f"kernel of shape {kernel.shape} must have rank {rank + 2}, "
                         f"{layout}, with positive sizes")
    shape = x.shape  # channels_last
    if data_format == "channels_first":
        shape = (shape[0],) + shape[2:] + (shape[1],)
    groups = _check_groups(shape[-1], kernel.shape, groups)
    if 0 in shape[1:]:
        raise ValueError(f"x of shape {shape} has a zero-size axis")
    amounts = conv_utils.padding_amounts(shape[1:-1], kernel.shape[:-2], strides,
                                         dilation_rate, padding, name="x")
    if bias is not None:
        bias = as_tensor(bias, x)
        if bias.shape != (kernel.shape[-1],):
            raise ValueError(f"bias of shape {bias.shape} must have shape "
                             f"({kernel.shape[-1]},), one value per filter")
    return checked_conv(x, kernel, bias, strides, dilation_rate, amounts, data_format,
                        groups)


def checked_conv(x, kernel, bias, strides, dilation_rate, amounts, data_format, groups):
    """``Conv`` on arguments already checked: Tensors on one backend, tuples of
    ``strides`` and ``dilation_rate``, ``amounts`` from ``conv_utils.padding_amounts``
    and a normalized ``data_format`` (the convolution layers check them once per input
    shape; ``conv2d``/``conv1d`` on every call)."""
    x = conv_utils.channels_last(x, data_format)
    inputs = (x, kernel) if bias is None else (x, kernel, bias)
    y = Conv(strides, dilation_rate, amounts, groups)(*inputs)
    return conv_utils.from_channels_last(y, data_format)


def conv2d(x, kernel, bias=None, strides: int | tuple = 1, padding: str = "valid",
           dilation_rate: int | tuple = 1, data_format: str | None = None,
           groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as Keras): ``y = conv(x, kernel) + bias``.

    ``y[n, oh, ow, f] = bias[f] + sum_{i, j, c} xpad[n, oh*sh + i*dh, ow*sw + j*dw, c]
    * kernel[i, j, c, f]``, with ``xpad`` the input padded by TensorFlow's rule. With
    ``groups = g`` the sum runs over the ``C / g`` input channels of the group of ``f``
    (``c`` from ``(f // (filters / g)) * C / g``), and ``kernel[i, j, c, f]`` indexes
    them from 0.

    Args:
        x: Tensor or array, ``(N, H, W, C)`` (channels_last) or ``(N, C, H, W)``.
        kernel: ``(kh, kw, C / groups, filters)`` (Keras layout).
        bias: None or ``(filters,)``.
        strides: int or tuple of 2 positive ints.
        padding: ``"valid"`` or ``"same"`` (case-insensitive; the extra pixel of "same"
            goes bottom/right).
        dilation_rate: int or tuple of 2 positive ints; a stride > 1 together with a
            dilation > 1 is an error.
        data_format: ``"channels_last"``, ``"channels_first"`` or None (the configured
            ``image_data_format()``).
        groups: positive int dividing ``C`` and ``filters``: the channels form ``groups``
            independent convolutions whose outputs are concatenated in group order.

    Input shape:
        ``(N, H, W, C)`` or ``(N, C, H, W)``.

    Output shape:
        ``(N, OH, OW, filters)`` or ``(N, filters, OH, OW)``, ``OH = ceil(H / sh)`` for
        "same", ``floor((H - (kh - 1) dh - 1) / sh) + 1`` for "valid".

    Returns:
        Tensor of the inputs' (promoted) dtype.

    Raises:
        ValueError: wrong ranks, a channel mismatch (or channels or filters that
            ``groups`` does not divide), a bias of the wrong shape, bad
            strides/dilation/padding/data_format, or an input too small for "valid".

    Example:
        >>> import numpy as np, minidl as mdl
        >>> y = mdl.functional.conv2d(np.ones((1, 5, 5, 2)), np.ones((3, 3, 2, 4)),
        ...                           strides=2, padding="same")
        >>> y.shape, float(y.numpy()[0, 0, 0, 0]), float(y.numpy()[0, 1, 1, 0])
        ((1, 3, 3, 4), 8.0, 18.0)
    """
    return _conv(x, kernel, bias, 2, strides, padding, dilation_rate, data_format, groups)


def conv1d(x, kernel, bias=None, strides: int | tuple = 1, padding: str = "valid",
           dilation_rate: int | tuple = 1, data_format: str | None = None,
           groups: int = 1) -> Tensor:
    """1-D convolution (cross-correlation, as Keras): ``y = conv(x, kernel) + bias``.

    ``y[n, o, f] = bias[f] + sum_{i, c} xpad[n, o*s + i*d, c] * kernel[i, c, f]``, the
    sum over the input channels of the group of ``f`` (see ``conv2d``).

    Args:
        x: Tensor or array, ``(N, L, C)`` (channels_last) or ``(N, C, L)``.
        kernel: ``(k, C / groups, filters)`` (Keras layout).
        bias: None or ``(filters,)``.
        strides, dilation_rate: int or tuple of 1 positive int (not both > 1).
        padding: ``"valid"`` or ``"same"``.
        data_format: ``"channels_last"``, ``"channels_first"`` or None.
        groups: positive int dividing ``C`` and ``filters`` (see ``conv2d``).

    Input shape:
        ``(N, L, C)`` or ``(N, C, L)``.

    Output shape:
        ``(N, OL, filters)`` or ``(N, filters, OL)``.

    Returns:
        Tensor.

    Raises:
        ValueError: as ``conv2d``.

    Example:
        >>> import numpy as np, minidl as mdl
        >>> mdl.functional.conv1d(np.arange(5.0).reshape(1, 5, 1), np.ones((2, 1, 1)),
        ...                       padding="same").numpy()[0, :, 0]
        array([1., 3., 5., 7., 4.])
    """
    return _conv(x, kernel, bias, 1, strides, padding, dilation_rate, data_format, groups)
