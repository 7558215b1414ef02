"""Compiled (Numba) CPU kernels of the depthwise convolution, with their array adaptation:
``forward``, ``backward`` and ``bias_grad`` take and give what ``reference``'s do (NumPy
arrays only) and compute the same formulas.

The only module of minidl that imports Numba; ``kernels`` imports it only when the
compiled kernels are chosen, so minidl works without it. The compiled loops take depth
multiplier 1 (shapes ``x (N, H, W, C)``, kernel ``(KH, KW, C)``, ``g (N, OH, OW, C)``): for
``M > 1`` the adaptation repeats the input channels ``M`` times (channel ``c*M + m``) and
sums the input gradient back over ``m``. Tap ``(i, j)`` of output ``(oh, ow)`` reads input
``(oh*stride_h + i*dilation_h - pad_top, ow*stride_w + j*dilation_w - pad_left)``; taps
that fall outside the image are skipped (bounds on the taps, never a padded copy), which
is what zero padding contributes.

- ``_forward``: ``y[n, oh, ow, c] = b[c] + sum_{i,j} x[n, ih, iw, c] kernel[i, j, c]``,
  parallel over the ``N*OH`` output rows, the channel loop innermost and contiguous. With
  a 3x3 kernel, pixels whose nine taps are all inside take every tap in one pass over C.
- ``_backward_pixels``: one pass over the input rows, parallel over fixed chunks of them,
  gives both gradients: ``dx[n, ih, iw, c] = sum g[n, oh, ow, c] kernel[i, j, c]`` and
  ``dkernel[i, j, c] += x[n, ih, iw, c] g[n, oh, ow, c]`` over the taps with
  ``ih = oh*stride_h + i*dilation_h - pad_top`` (``oh`` an integer in range), likewise for
  columns; a chunk writes only its own rows of ``dx``. With a 3x3 kernel and stride 1,
  ``dx`` of pixels that all nine taps reach is one pass over C.
- ``_backward_rows``: the same at column stride 1 with each image row one flat ``W*C``
  vector and the kernel tiled along the row (``kernel_tiled (KH*KW, OW*C)``): a tap is one
  contiguous multiply-add over the part of the row it reaches, so small channel counts pay
  no per-pixel cost. ``backward`` takes it up to ``row_channels`` channels (after the
  repeat), where it measured faster on 2 cores.
- ``_bias_grad``: ``db[c] = sum_p g[p, c]`` over all pixels ``p``.

Reductions (``dkernel``, ``db``) run over ``CHUNKS`` fixed chunks of rows, whatever the
thread count: each chunk sums a row (``ROW_FOLD`` rows on ``_backward_rows``, ``FOLD``
pixels for ``db``) at a time in the data's dtype into a float64 partial, and the partials
are added in chunk order, so results do not depend on the threads. Compiled once per dtype
and cached on disk (``cache=True``).

Threads: Numba's OpenMP workers spin for a while after each kernel; a BLAS call made
meanwhile (the pointwise matmul of a separable convolution) shares its cores with spinning
threads and slows down severalfold, so unless the environment says otherwise the spin is
kept short (``GOMP_SPINCOUNT``, read when Numba loads libgomp).
"""
import os

os.environ.setdefault("GOMP_SPINCOUNT", "10000")

import numba  # noqa: E402
import numpy as np  # noqa: E402
from numba import njit, prange  # noqa: E402

from ...kernels._numba import announce_compile  # noqa: E402
from .reference import expand_channels  # noqa: E402

__all__ = ["forward", "backward", "bias_grad", "ROW_CHANNELS", "CHUNKS"]

ROW_CHANNELS = 32  # the default: _backward_rows up to this many channels
CHUNKS = 64  # reductions sum over at most this many fixed chunks of rows
FOLD = 64  # _bias_grad: pixels summed in the data dtype before the float64 partial
ROW_FOLD = 8  # _backward_rows: rows summed in the data dtype before the float64 partial
FLAGS = {"contract"}  # fastmath: fused multiply-add only (inf and nan keep IEEE meaning)


# -- the adaptation: arrays in the shapes the loops take -----------------------------------

def forward(x, kernel, bias, geo, threads=1):
    """As ``reference.forward``, compiled."""
    _announce(x.dtype)
    _set_threads(threads)
    x = expand_channels(np, x, geo.m)
    y = np.empty(geo.output_shape, dtype=x.dtype)
    bias = np.zeros(geo.channels, x.dtype) if bias is None else np.ascontiguousarray(bias)
    _forward(x, _flat_kernel(kernel, geo, x.dtype), bias, y, *_steps(geo))
    return y


def backward(x, kernel, g, geo, need_dx=True, need_dkernel=True, threads=1,
             row_channels=ROW_CHANNELS):
    """As ``reference.backward``, compiled: one pass over the input rows gives both
    gradients, on flat rows up to ``row_channels`` channels at column stride 1, else per
    pixel."""
    _announce(g.dtype)
    _set_threads(threads)
    g = np.ascontiguousarray(g)
    by_rows = geo.channels <= row_channels and geo.stride_w == 1
    dxe, dkernel = (_backward_by_rows if by_rows else _backward_by_pixels)(
        x, kernel, g, geo, need_dx, need_dkernel)
    dx = None
    if need_dx:
        dxe = dxe.reshape(geo.n, geo.h, geo.w, geo.channels)
        dx = dxe if geo.m == 1 else dxe.reshape(geo.x_shape + (geo.m,)).sum(axis=-1)
    return dx, dkernel.reshape(geo.kernel_shape) if need_dkernel else None


def bias_grad(g, threads=1):
    """``g`` summed over every axis but the last (channels), compiled."""
    _set_threads(threads)
    out = np.empty(g.shape[-1], dtype=g.dtype)
    _bias_grad(np.ascontiguousarray(g).reshape(-1, g.shape[-1]), out)
    return out


def _backward_by_pixels(x, kernel, g, geo, need_dx, need_dkernel):
    channels = geo.channels
    xe = expand_channels(np, x, geo.m) if need_dkernel else \
        np.empty((0, 0, 0, channels), g.dtype)
    flat = _flat_kernel(kernel if need_dx else None, geo, g.dtype)
    dxe = np.empty((geo.n, geo.h, geo.w, channels) if need_dx else (0, 0, 0, channels),
                   g.dtype)
    dkernel = np.empty((geo.kh, geo.kw, channels) if need_dkernel else (0, 0, channels),
                       g.dtype)
    _backward_pixels(xe, flat, g, dxe, dkernel, *_steps(geo), need_dx, need_dkernel)
    return dxe, dkernel


def _backward_by_rows(x, kernel, g, geo, need_dx, need_dkernel):
    channels, taps = geo.channels, geo.kh * geo.kw
    xe = _rows(expand_channels(np, x, geo.m)) if need_dkernel else \
        np.empty((0, 0, 0), g.dtype)
    tiled = np.empty((0, 0), g.dtype)
    if need_dx:
        flat = _flat_kernel(kernel, geo, g.dtype).reshape(taps, 1, channels)
        tiled = np.ascontiguousarray(np.broadcast_to(
            flat, (taps, geo.ow, channels))).reshape(taps, geo.ow * channels)
    dxe = np.empty((geo.n, geo.h, geo.w * channels) if need_dx else (0, 0, 0), g.dtype)
    dkernel = np.empty((taps, channels) if need_dkernel else (0, 0), g.dtype)
    _backward_rows(xe, tiled, _rows(g), dxe, dkernel, geo.kh, geo.kw, channels,
                   geo.stride_h, geo.dilation_h, geo.dilation_w, geo.pad_top, geo.pad_left,
                   need_dx, need_dkernel)
    return dxe, dkernel


def _steps(geo):
    return (geo.stride_h, geo.stride_w, geo.dilation_h, geo.dilation_w, geo.pad_top,
            geo.pad_left)


def _flat_kernel(kernel, geo, dtype):
    """``(KH, KW, C*M)`` C-contiguous (channel ``c*M + m``), or an empty stand-in."""
    if kernel is None:
        return np.empty((0, 0, geo.channels), dtype=dtype)
    return np.ascontiguousarray(kernel.reshape(geo.kh, geo.kw, geo.channels))


def _rows(a):
    """``(N, H, W, C)`` as C-contiguous flat rows ``(N, H, W*C)``."""
    return np.ascontiguousarray(a).reshape(a.shape[0], a.shape[1], -1)


def _announce(dtype):
    """One line on stderr before the kernels first compile in ``dtype``."""
    if dtype.char not in _announced:
        _announced.add(dtype.char)
        announce_compile(f"the depthwise convolution ({dtype})",
                         (_forward, _backward_pixels, _backward_rows))


_announced = set()  # dtype characters


def _set_threads(count):
    """Numba's thread count for the calling thread, capped at its pool's size."""
    count = max(1, min(int(count), numba.config.NUMBA_NUM_THREADS))
    if numba.get_num_threads() != count:
        numba.set_num_threads(count)


# -- shared by the loops -------------------------------------------------------------------

@njit(cache=True)
def _spans(out_count, size, stride, dilation, pad, taps):
    """Per tap ``k``, the outputs ``o`` in ``[lo[k], hi[k])`` whose input
    ``o*stride + k*dilation - pad`` lies in ``[0, size)`` (``lo == hi`` when none)."""
    lo = np.zeros(taps, dtype=np.int64)
    hi = np.zeros(taps, dtype=np.int64)
    for k in range(taps):
        offset = k * dilation - pad
        first = 0 if offset >= 0 else (-offset + stride - 1) // stride
        last = min(out_count, (size - offset + stride - 1) // stride)
        lo[k], hi[k] = first, max(first, last)
    return lo, hi


@njit(cache=True)
def _tap_rows(ih, pad_top, dilation_h, stride_h, row_lo, row_hi, out_rows):
    """For input row ``ih``: per kernel row ``i``, the output row whose tap ``i`` reads
    it (``ih = oh*stride_h + i*dilation_h - pad_top``), or -1 when there is none."""
    for i in range(out_rows.shape[0]):
        q = ih + pad_top - i * dilation_h
        out_rows[i] = -1
        if q >= 0 and q % stride_h == 0 and row_lo[i] <= q // stride_h < row_hi[i]:
            out_rows[i] = q // stride_h


@njit(cache=True)
def _fold(acc, partial):
    """``partial += acc`` (the data dtype's sums into the float64 partial); ``acc = 0``."""
    for t in range(acc.shape[0]):
        for c in range(acc.shape[1]):
            partial[t, c] += acc[t, c]
            acc[t, c] = 0


# -- forward -------------------------------------------------------------------------------

@njit(parallel=True, cache=True, fastmath=FLAGS)
def _forward(x, kernel, bias, y, stride_h, stride_w, dilation_h, dilation_w, pad_top,
             pad_left):
    """Fill ``y (N, OH, OW, C)`` with the depthwise convolution of ``x`` by ``kernel``
    plus ``bias (C,)``."""
    kh, kw = kernel.shape[0], kernel.shape[1]
    oh_count, ow_count = y.shape[1], y.shape[2]
    row_lo, row_hi = _spans(oh_count, x.shape[1], stride_h, dilation_h, pad_top, kh)
    col_lo, col_hi = _spans(ow_count, x.shape[2], stride_w, dilation_w, pad_left, kw)
    # rows and columns that every tap reaches
    full_rows = (row_lo.max(), row_hi.min())
    full_cols = (col_lo.max(), max(col_lo.max(), col_hi.min()))
    fast = kh == 3 and kw == 3
    for row in prange(x.shape[0] * oh_count):
        n = row // oh_count
        oh = row - n * oh_count
        ih0 = oh * stride_h - pad_top
        if fast and full_rows[0] <= oh < full_rows[1]:
            _forward_row_3x3(x[n], ih0, kernel, bias, y[n, oh], full_cols, stride_w,
                             dilation_h, dilation_w, pad_left)
        else:
            _forward_row(x[n], oh, ih0, kernel, bias, y[n, oh], row_lo, row_hi, col_lo,
                         col_hi, stride_w, dilation_h, dilation_w, pad_left)


@njit(cache=True, fastmath=FLAGS)
def _forward_row(image, oh, ih0, kernel, bias, out, row_lo, row_hi, col_lo, col_hi,
                 stride_w, dilation_h, dilation_w, pad_left):
    """Output row ``oh`` of one image, tap by tap over the columns each tap reaches."""
    for ow in range(out.shape[0]):
        o = out[ow]
        for c in range(o.shape[0]):
            o[c] = bias[c]
    for i in range(kernel.shape[0]):
        if not row_lo[i] <= oh < row_hi[i]:
            continue
        x_row = image[ih0 + i * dilation_h]
        for j in range(kernel.shape[1]):
            _add_tap(out, x_row, kernel[i, j], col_lo[j], col_hi[j], stride_w,
                     j * dilation_w - pad_left)


@njit(cache=True, fastmath=FLAGS)
def _add_tap(out, x_row, tap, lo, hi, stride_w, offset):
    """``out[ow] += x_row[ow*stride_w + offset] * tap`` for ``ow`` in ``[lo, hi)``."""
    for ow in range(lo, hi):
        pixel, o = x_row[ow * stride_w + offset], out[ow]
        for c in range(o.shape[0]):
            o[c] += pixel[c] * tap[c]


@njit(cache=True, fastmath=FLAGS)
def _forward_row_3x3(image, ih0, kernel, bias, out, full_cols, stride_w, dilation_h,
                     dilation_w, pad_left):
    """A row whose three kernel rows are all inside: the columns that every tap reaches in
    one pass over the channels, the edge columns pixel by pixel."""
    h1, h2 = ih0 + dilation_h, ih0 + 2 * dilation_h
    for ow in range(full_cols[0], full_cols[1]):
        a = ow * stride_w - pad_left
        b, e, o = a + dilation_w, a + 2 * dilation_w, out[ow]
        for c in range(o.shape[0]):
            o[c] = (bias[c] + image[ih0, a, c] * kernel[0, 0, c]
                    + image[ih0, b, c] * kernel[0, 1, c]
                    + image[ih0, e, c] * kernel[0, 2, c]
                    + image[h1, a, c] * kernel[1, 0, c] + image[h1, b, c] * kernel[1, 1, c]
                    + image[h1, e, c] * kernel[1, 2, c] + image[h2, a, c] * kernel[2, 0, c]
                    + image[h2, b, c] * kernel[2, 1, c] + image[h2, e, c] * kernel[2, 2, c])
    for ow in range(out.shape[0]):
        if not full_cols[0] <= ow < full_cols[1]:
            _pixel(image, ih0, ow * stride_w - pad_left, dilation_h, dilation_w, kernel,
                   bias, out[ow])


@njit(cache=True, fastmath=FLAGS)
def _pixel(image, ih0, iw0, dilation_h, dilation_w, kernel, bias, out):
    """One output pixel (any kernel), from the taps that fall inside the image."""
    height, width = image.shape[0], image.shape[1]
    for c in range(out.shape[0]):
        out[c] = bias[c]
    for i in range(kernel.shape[0]):
        ih = ih0 + i * dilation_h
        if ih < 0 or ih >= height:
            continue
        for j in range(kernel.shape[1]):
            iw = iw0 + j * dilation_w
            if iw < 0 or iw >= width:
                continue
            pixel, tap = image[ih, iw], kernel[i, j]
            for c in range(out.shape[0]):
                out[c] += pixel[c] * tap[c]


# -- backward, per pixel -------------------------------------------------------------------

@njit(parallel=True, cache=True, fastmath=FLAGS)
def _backward_pixels(x, kernel, g, dx, dkernel, stride_h, stride_w, dilation_h, dilation_w,
                     pad_top, pad_left, need_dx, need_dkernel):
    """Fill ``dx (N, H, W, C)`` (when ``need_dx``) and ``dkernel (KH, KW, C)`` (when
    ``need_dkernel``) from ``g (N, OH, OW, C)``; ``x`` is read only for ``dkernel`` and
    ``kernel`` only for ``dx`` (either may then be an empty array). Each input row takes,
    tap by tap, the output rows and columns that read it (``_spans``), so no division runs
    per pixel."""
    source = dx if need_dx else x
    height, width, channels = source.shape[1], source.shape[2], g.shape[3]
    kh, kw = dkernel.shape[0], dkernel.shape[1]
    if need_dx:
        kh, kw = kernel.shape[0], kernel.shape[1]
    row_lo, row_hi = _spans(g.shape[1], height, stride_h, dilation_h, pad_top, kh)
    col_lo, col_hi = _spans(g.shape[2], width, stride_w, dilation_w, pad_left, kw)
    # stride 1 and 3x3: the input columns that all three column taps reach
    fast = kh == 3 and kw == 3 and stride_h == 1 and stride_w == 1
    iw_lo = max(0, 2 * dilation_w - pad_left) if fast else 0
    iw_hi = max(iw_lo, min(width, g.shape[2] - pad_left)) if fast else 0
    rows = source.shape[0] * height
    chunks = min(rows, CHUNKS)
    partials = np.zeros((chunks, kh * kw, channels))
    for chunk in prange(chunks):
        acc = np.zeros((kh * kw, channels), dtype=g.dtype)  # one row's dkernel sums
        out_rows = np.empty(kh, dtype=np.int64)  # the output row each kernel row reads
        for row in range(rows * chunk // chunks, rows * (chunk + 1) // chunks):
            n = row // height
            ih = row - n * height
            _tap_rows(ih, pad_top, dilation_h, stride_h, row_lo, row_hi, out_rows)
            if need_dx:
                _dx_row(g[n], kernel, out_rows, dx[n, ih], col_lo, col_hi, stride_w,
                        dilation_w, pad_left, iw_lo, iw_hi)
            if need_dkernel:
                _dkernel_row(x[n, ih], g[n], out_rows, acc, col_lo, col_hi, stride_w,
                             dilation_w, pad_left)
                _fold(acc, partials[chunk])
    if need_dkernel:
        dkernel[...] = _sum_chunks(partials).reshape(kh, kw, channels)


@njit(cache=True, fastmath=FLAGS)
def _dx_row(grad, kernel, out_rows, dx_row, col_lo, col_hi, stride_w, dilation_w,
            pad_left, iw_lo, iw_hi):
    """One input row of ``dx``: ``sum g[oh, ow] kernel[i, j]`` over the taps that read it;
    columns ``iw_lo .. iw_hi`` in one pass when all nine 3x3 taps reach the row."""
    done = (0, 0)
    if iw_hi > iw_lo and out_rows.min() >= 0:
        _dx_row_3x3(grad, out_rows[0], out_rows[1], out_rows[2], kernel, dx_row, iw_lo,
                    iw_hi, dilation_w, pad_left)
        dx_row[:iw_lo] = 0
        dx_row[iw_hi:] = 0
        done = (iw_lo, iw_hi)
    else:
        dx_row[...] = 0
    for i in range(kernel.shape[0]):
        if out_rows[i] < 0:
            continue
        for j in range(kernel.shape[1]):
            _add_tap_dx(dx_row, grad[out_rows[i]], kernel[i, j], col_lo[j], col_hi[j],
                        stride_w, j * dilation_w - pad_left, done)


@njit(cache=True, fastmath=FLAGS)
def _add_tap_dx(dx_row, g_row, tap, lo, hi, stride_w, offset, done):
    """``dx_row[ow*stride_w + offset] += g_row[ow] * tap`` for ``ow`` in ``[lo, hi)``,
    skipping the columns in ``done``."""
    for ow in range(lo, hi):
        iw = ow * stride_w + offset
        if done[0] <= iw < done[1]:
            continue
        d, gp = dx_row[iw], g_row[ow]
        for c in range(d.shape[0]):
            d[c] += gp[c] * tap[c]


@njit(cache=True, fastmath=FLAGS)
def _dx_row_3x3(grad, r0, r1, r2, kernel, dx_row, iw_lo, iw_hi, dilation_w, pad_left):
    """Stride 1, input pixels ``iw_lo .. iw_hi`` of a row that all nine taps reach:
    ``dx = sum_{i,j} grad[r_i, iw + pad_left - j*dilation_w] kernel[i, j]`` in one pass over
    the channels (``grad (OH, OW, C)`` of one image)."""
    for iw in range(iw_lo, iw_hi):
        a = iw + pad_left
        b, e, d = a - dilation_w, a - 2 * dilation_w, dx_row[iw]
        for c in range(d.shape[0]):
            d[c] = (grad[r0, a, c] * kernel[0, 0, c] + grad[r0, b, c] * kernel[0, 1, c]
                    + grad[r0, e, c] * kernel[0, 2, c] + grad[r1, a, c] * kernel[1, 0, c]
                    + grad[r1, b, c] * kernel[1, 1, c] + grad[r1, e, c] * kernel[1, 2, c]
                    + grad[r2, a, c] * kernel[2, 0, c] + grad[r2, b, c] * kernel[2, 1, c]
                    + grad[r2, e, c] * kernel[2, 2, c])


@njit(cache=True, fastmath=FLAGS)
def _dkernel_row(x_row, grad, out_rows, acc, col_lo, col_hi, stride_w, dilation_w,
                 pad_left):
    """One input row's share of the kernel gradient into ``acc (KH*KW, C)``:
    ``acc[i*KW + j] += x_row[iw] g[oh, ow]`` over the taps that read the row."""
    kw = col_lo.shape[0]
    for i in range(out_rows.shape[0]):
        if out_rows[i] < 0:
            continue
        for j in range(kw):
            _add_tap_dkernel(acc[i * kw + j], x_row, grad[out_rows[i]], col_lo[j],
                             col_hi[j], stride_w, j * dilation_w - pad_left)


@njit(cache=True, fastmath=FLAGS)
def _add_tap_dkernel(acc, x_row, g_row, lo, hi, stride_w, offset):
    """``acc += x_row[ow*stride_w + offset] * g_row[ow]`` summed over ``ow`` in
    ``[lo, hi)``."""
    for ow in range(lo, hi):
        pixel, gp = x_row[ow * stride_w + offset], g_row[ow]
        for c in range(acc.shape[0]):
            acc[c] += pixel[c] * gp[c]


@njit(cache=True)
def _sum_chunks(partials):
    """The float64 chunk partials added in chunk order."""
    total = np.zeros(partials.shape[1:])
    for chunk in range(partials.shape[0]):
        total += partials[chunk]
    return total


# -- backward, on flat rows ----------------------------------------------------------------

@njit(cache=True, fastmath=FLAGS)
def _axpy(dst, src, tap):
    """``dst += src * tap`` over contiguous vectors of one length (indices from 0, so no
    negative-index wraparound stands in the way of vectorizing)."""
    for k in range(dst.shape[0]):
        dst[k] += src[k] * tap[k]


@njit(parallel=True, cache=True, fastmath=FLAGS)
def _backward_rows(x, kernel_tiled, g, dx, dkernel, kh, kw, channels, stride_h, dilation_h,
                   dilation_w, pad_top, pad_left, need_dx, need_dkernel):
    """``_backward_pixels`` at column stride 1 on flat rows: ``x``, ``dx (N, H, W*C)``,
    ``g (N, OH, OW*C)``, ``kernel_tiled (KH*KW, OW*C)`` (read for ``dx``),
    ``dkernel (KH*KW, C)``; the same fixed chunks and float64 partials."""
    source = dx if need_dx else x
    height, width = source.shape[1], source.shape[2] // channels
    ow_count = g.shape[2] // channels
    row_lo, row_hi = _spans(g.shape[1], height, stride_h, dilation_h, pad_top, kh)
    col_lo, col_hi = _spans(ow_count, width, 1, dilation_w, pad_left, kw)
    rows = source.shape[0] * height
    chunks = min(rows, CHUNKS)
    partials = np.zeros((chunks, kh * kw, channels))
    for chunk in prange(chunks):
        acc = np.zeros((kh * kw, ow_count * channels), dtype=g.dtype)  # tiled sums
        out_rows = np.empty(kh, dtype=np.int64)  # the output row each kernel row reads
        first, last = rows * chunk // chunks, rows * (chunk + 1) // chunks
        for row in range(first, last):
            n = row // height
            ih = row - n * height
            _tap_rows(ih, pad_top, dilation_h, stride_h, row_lo, row_hi, out_rows)
            if need_dx:
                dx[n, ih, :] = 0
            _flat_row_taps(x, kernel_tiled, g, dx, acc, n, ih, out_rows, col_lo, col_hi,
                           channels, dilation_w, pad_left, need_dx, need_dkernel)
            if need_dkernel and ((row - first) % ROW_FOLD == ROW_FOLD - 1 or
                                 row == last - 1):
                _fold_tiled(acc, partials[chunk], channels)
    if need_dkernel:
        dkernel[...] = _sum_chunks(partials)


@njit(cache=True, fastmath=FLAGS)
def _flat_row_taps(x, kernel_tiled, g, dx, acc, n, ih, out_rows, col_lo, col_hi, channels,
                   dilation_w, pad_left, need_dx, need_dkernel):
    """Flat input row ``ih`` of image ``n``: per tap, one contiguous multiply-add into
    ``dx`` and one into the tap's tiled kernel-gradient sums ``acc``."""
    kw = col_lo.shape[0]
    for i in range(out_rows.shape[0]):
        if out_rows[i] < 0:
            continue
        g_row = g[n, out_rows[i]]
        for j in range(kw):
            start, stop = col_lo[j] * channels, col_hi[j] * channels
            shift = (j * dilation_w - pad_left) * channels
            if stop <= start:
                continue
            if need_dx:
                _axpy(dx[n, ih, start + shift:stop + shift], g_row[start:stop],
                      kernel_tiled[i * kw + j, start:stop])
            if need_dkernel:
                _axpy(acc[i * kw + j, start:stop], x[n, ih, start + shift:stop + shift],
                      g_row[start:stop])


@njit(cache=True)
def _fold_tiled(acc, partial, channels):
    """The tiled sums ``acc (KH*KW, OW*C)`` folded along the row into the float64
    ``partial (KH*KW, C)``; ``acc = 0``."""
    for t in range(acc.shape[0]):
        tiled = acc[t]
        for ow in range(tiled.shape[0] // channels):
            for c in range(channels):
                partial[t, c] += tiled[ow * channels + c]
        tiled[:] = 0


# -- bias ----------------------------------------------------------------------------------

@njit(parallel=True, cache=True)
def _bias_grad(g, out):
    """``out[c] = sum_p g[p, c]`` for ``g (P, C)``: fixed chunks of pixels, each summed
    ``FOLD`` pixels at a time in the data's dtype into a float64 partial."""
    pixels, channels = g.shape
    chunks = max(1, min(CHUNKS, pixels // FOLD))
    partials = np.zeros((chunks, 1, channels))
    for chunk in prange(chunks):
        acc = np.zeros((1, channels), dtype=g.dtype)
        first, last = pixels * chunk // chunks, pixels * (chunk + 1) // chunks
        for start in range(first, last, FOLD):
            _add_pixels(acc[0], g, start, min(start + FOLD, last))
            _fold(acc, partials[chunk])
    out[...] = _sum_chunks(partials)[0]


@njit(cache=True)
def _add_pixels(acc, g, start, stop):
    """``acc += g[start:stop].sum(axis=0)``, pixel by pixel in the data's dtype."""
    for p in range(start, stop):
        row = g[p]
        for c in range(acc.shape[0]):
            acc[c] += row[c]
