"""Compiled (Numba) CPU kernels of the depthwise convolution: channels_last, rank 2,
depth multiplier 1 (``cpu_kernels`` repeats the input channels for ``M > 1``).

The only module of minidl that imports Numba; ``cpu_kernels`` imports it lazily, so minidl
works without it. Shapes: ``x (N, H, W, C)``, kernel ``w (KH, KW, C)``, output
``y (N, OH, OW, C)``. Tap ``(i, j)`` of output ``(oh, ow)`` reads input
``(oh*sh + i*dh - pt, ow*sw + j*dw - pl)``; taps that fall outside the image are skipped
(bounds on the taps, never a padded copy), which is what zero padding contributes.

- ``forward``: ``y[n, oh, ow, c] = b[c] + sum_{i,j} x[n, ih, iw, c] w[i, j, c]``, parallel
  over the ``N*OH`` output rows; the channel loop is innermost and contiguous. With a 3x3
  kernel, pixels whose nine taps are all inside take every tap in one pass over ``C``.
- ``backward``: one pass over the input rows, parallel over fixed chunks of them, gives
  both gradients: ``dx[n, ih, iw, c] = sum g[n, oh, ow, c] w[i, j, c]`` and
  ``dw[i, j, c] += x[n, ih, iw, c] g[n, oh, ow, c]`` over the taps with
  ``ih = oh*sh + i*dh - pt`` (``oh`` an integer in range), likewise for columns; a chunk
  writes only its own rows of ``dx``. With a 3x3 kernel and stride 1, ``dx`` of pixels
  that all nine taps reach is one pass over ``C``.
- ``backward_rows``: ``backward`` at column stride 1 with each image row as one flat
  ``W*C`` vector and the kernel tiled along the row (``wt (KH*KW, OW*C)``,
  ``wt[t, ow*C + c] = w[t, c]``): a tap is one contiguous multiply-add over the part of
  the row it reaches, so small channel counts pay no per-pixel cost (``cpu_kernels``
  takes it up to ``ROW_CHANNELS`` channels, where it is faster). ``dw`` sums each tap
  along the tiled row in the data's dtype over ``ROW_FOLD`` rows, then folds it into the
  chunk's float64 partial.
- ``bias_grad``: ``db[c] = sum_p g[p, c]`` over all pixels ``p`` (the depthwise bias,
  and the separable convolution's pointwise bias).

Reductions (``dw``, ``db``) run over ``CHUNKS`` fixed chunks of rows, whatever the thread
count: each chunk sums a row (``dw``) or ``FOLD`` pixels (``db``) at a time in the data's
dtype into a float64 partial, and the partials are added in chunk order, so results do
not depend on the threads.
Compiled once per dtype (float32, float64) and cached on disk (``cache=True``).

Threads: Numba's OpenMP workers spin for a while after each kernel; on a machine with as
many threads as cores, a BLAS call made meanwhile (the pointwise matmul of a separable
convolution) shares its cores with spinning threads and slows down severalfold. Unless the
environment says otherwise, the spin is kept short (``GOMP_SPINCOUNT``, read when Numba
loads libgomp at its first parallel kernel; it spans back-to-back kernels).
"""
import os

os.environ.setdefault("GOMP_SPINCOUNT", "10000")

import numba  # noqa: E402
import numpy as np  # noqa: E402
from numba import njit, prange  # noqa: E402

__all__ = ["forward", "backward", "backward_rows", "bias_grad", "set_num_threads", "CHUNKS"]

CHUNKS = 64  # reductions sum over at most this many fixed chunks of rows
FOLD = 64  # bias_grad: pixels summed in the data dtype before the float64 partial
ROW_FOLD = 8  # backward_rows: rows summed in the data dtype before the float64 partial
FLAGS = {"contract"}  # fastmath: fused multiply-add only (inf and nan keep IEEE meaning)


def set_num_threads(count):
    """Numba's thread count for the calling thread, capped at its pool's size."""
    count = max(1, min(int(count), numba.config.NUMBA_NUM_THREADS))
    if numba.get_num_threads() != count:
        numba.set_num_threads(count)


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


@njit(cache=True, fastmath=FLAGS)
def _pixel(x, n, ih0, iw0, dh, dw, w, bias, out):
    """One output pixel (any kernel), from the taps that fall inside the image."""
    height, width = x.shape[1], x.shape[2]
    for c in range(out.shape[0]):
        out[c] = bias[c]
    for i in range(w.shape[0]):
        ih = ih0 + i * dh
        if ih < 0 or ih >= height:
            continue
        for j in range(w.shape[1]):
            iw = iw0 + j * dw
            if iw < 0 or iw >= width:
                continue
            pixel, tap = x[n, ih, iw], w[i, j]
            for c in range(out.shape[0]):
                out[c] += pixel[c] * tap[c]


@njit(cache=True, fastmath=FLAGS)
def _row_3x3(image, h0, h1, h2, w, bias, out, ow_lo, ow_hi, sw, dw, pl):
    """Outputs ``ow_lo .. ow_hi`` of a row whose nine taps are all inside: every tap in one
    pass over the channels (input rows ``h0..h2`` of ``image (H, W, C)``)."""
    for ow in range(ow_lo, ow_hi):
        a = ow * sw - pl
        b, e, o = a + dw, a + 2 * dw, out[ow]
        for c in range(o.shape[0]):
            o[c] = (bias[c] + image[h0, a, c] * w[0, 0, c] + image[h0, b, c] * w[0, 1, c]
                    + image[h0, e, c] * w[0, 2, c] + image[h1, a, c] * w[1, 0, c]
                    + image[h1, b, c] * w[1, 1, c] + image[h1, e, c] * w[1, 2, c]
                    + image[h2, a, c] * w[2, 0, c] + image[h2, b, c] * w[2, 1, c]
                    + image[h2, e, c] * w[2, 2, c])


@njit(parallel=True, cache=True, fastmath=FLAGS)
def forward(x, w, bias, y, sh, sw, dh, dw, pt, pl):
    """Fill ``y (N, OH, OW, C)`` with the depthwise convolution of ``x`` by ``w`` plus
    ``bias (C,)``."""
    n_img, height, width = x.shape[0], x.shape[1], x.shape[2]
    kh, kw = w.shape[0], w.shape[1]
    oh_count, ow_count = y.shape[1], y.shape[2]
    row_lo, row_hi = _spans(oh_count, height, sh, dh, pt, kh)
    col_lo, col_hi = _spans(ow_count, width, sw, dw, pl, kw)
    # rows and columns that every tap reaches
    full_rows = (row_lo.max(), row_hi.min())
    full_cols = (col_lo.max(), max(col_lo.max(), col_hi.min()))
    fast = kh == 3 and kw == 3
    for row in prange(n_img * oh_count):
        n = row // oh_count
        oh = row - n * oh_count
        ih0 = oh * sh - pt
        out = y[n, oh]
        if fast and full_rows[0] <= oh < full_rows[1]:
            for ow in range(full_cols[0]):
                _pixel(x, n, ih0, ow * sw - pl, dh, dw, w, bias, out[ow])
            _row_3x3(x[n], ih0, ih0 + dh, ih0 + 2 * dh, w, bias, out,
                     full_cols[0], full_cols[1], sw, dw, pl)
            for ow in range(full_cols[1], ow_count):
                _pixel(x, n, ih0, ow * sw - pl, dh, dw, w, bias, out[ow])
            continue
        for ow in range(ow_count):
            out_pixel = out[ow]
            for c in range(out_pixel.shape[0]):
                out_pixel[c] = bias[c]
        for i in range(kh):
            if not row_lo[i] <= oh < row_hi[i]:
                continue
            x_row = x[n, ih0 + i * dh]
            for j in range(kw):
                tap, offset = w[i, j], j * dw - pl
                for ow in range(col_lo[j], col_hi[j]):
                    pixel, o = x_row[ow * sw + offset], out[ow]
                    for c in range(o.shape[0]):
                        o[c] += pixel[c] * tap[c]


@njit(cache=True)
def _tap_rows(ih, pt, dh, sh, row_lo, row_hi, out_rows):
    """For input row ``ih``: per kernel row ``i``, the output row whose tap ``i`` reads
    it (``ih = oh*sh + i*dh - pt``), or -1 when there is none."""
    for i in range(out_rows.shape[0]):
        q = ih + pt - i * dh
        out_rows[i] = -1
        if q >= 0 and q % sh == 0 and row_lo[i] <= q // sh < row_hi[i]:
            out_rows[i] = q // sh


@njit(cache=True, fastmath=FLAGS)
def _dx_row_3x3(grad, r0, r1, r2, w, dx_row, iw_lo, iw_hi, dw, pl):
    """Stride 1, input pixels ``iw_lo .. iw_hi`` of a row that all nine taps reach:
    ``dx = sum_{i,j} grad[r_i, iw + pl - j*dw] w[i, j]`` in one pass over the channels
    (``grad (OH, OW, C)`` of one image)."""
    for iw in range(iw_lo, iw_hi):
        a = iw + pl
        b, e, d = a - dw, a - 2 * dw, dx_row[iw]
        for c in range(d.shape[0]):
            d[c] = (grad[r0, a, c] * w[0, 0, c] + grad[r0, b, c] * w[0, 1, c]
                    + grad[r0, e, c] * w[0, 2, c] + grad[r1, a, c] * w[1, 0, c]
                    + grad[r1, b, c] * w[1, 1, c] + grad[r1, e, c] * w[1, 2, c]
                    + grad[r2, a, c] * w[2, 0, c] + grad[r2, b, c] * w[2, 1, c]
                    + grad[r2, e, c] * w[2, 2, c])


@njit(parallel=True, cache=True, fastmath=FLAGS)
def backward(x, w, g, dx, dw_out, sh, sw, dh, dw, pt, pl, need_dx, need_dw):
    """Fill ``dx (N, H, W, C)`` (when ``need_dx``) and ``dw_out (KH, KW, C)`` (when
    ``need_dw``) from ``g (N, OH, OW, C)``; ``x`` is read only for ``dw`` and ``w`` only
    for ``dx`` (either may then be an empty array). Each input row takes, tap by tap, the
    output rows and columns that read it (``_spans``), so no division runs per pixel."""
    source = dx if need_dx else x
    n_img, height, width = source.shape[0], source.shape[1], source.shape[2]
    oh_count, ow_count, channels = g.shape[1], g.shape[2], g.shape[3]
    kh, kw = (w.shape[0], w.shape[1]) if need_dx else (dw_out.shape[0], dw_out.shape[1])
    row_lo, row_hi = _spans(oh_count, height, sh, dh, pt, kh)
    col_lo, col_hi = _spans(ow_count, width, sw, dw, pl, kw)
    fast = need_dx and kh == 3 and kw == 3 and sh == 1 and sw == 1
    # stride 1: input columns that all three column taps reach
    iw_lo = max(0, 2 * dw - pl) if fast else 0
    iw_hi = max(iw_lo, min(width, ow_count - pl)) if fast else 0
    rows = n_img * height
    chunks = min(rows, CHUNKS)
    partials = np.zeros((chunks, kh * kw, channels))
    for chunk in prange(chunks):
        acc = np.zeros((kh * kw, channels), dtype=g.dtype)  # one row's dw sums
        out_rows = np.empty(kh, dtype=np.int64)  # the output row each tap row reads
        first, last = rows * chunk // chunks, rows * (chunk + 1) // chunks
        for row in range(first, last):
            n = row // height
            ih = row - n * height
            _tap_rows(ih, pt, dh, sh, row_lo, row_hi, out_rows)
            if need_dx:
                dx_row = dx[n, ih]
                if fast and out_rows.min() >= 0 and iw_hi > iw_lo:
                    _dx_row_3x3(g[n], out_rows[0], out_rows[1], out_rows[2], w, dx_row,
                                iw_lo, iw_hi, dw, pl)
                    dx_row[:iw_lo] = 0
                    dx_row[iw_hi:] = 0
                    done = (iw_lo, iw_hi)
                else:
                    dx_row[...] = 0
                    done = (0, 0)
                for i in range(kh):
                    if out_rows[i] < 0:
                        continue
                    g_row = g[n, out_rows[i]]
                    for j in range(kw):
                        tap, offset = w[i, j], j * dw - pl
                        for ow in range(col_lo[j], col_hi[j]):
                            iw = ow * sw + offset
                            if done[0] <= iw < done[1]:
                                continue
                            d, gp = dx_row[iw], g_row[ow]
                            for c in range(channels):
                                d[c] += gp[c] * tap[c]
            if need_dw:
                x_row = x[n, ih]
                for i in range(kh):
                    if out_rows[i] < 0:
                        continue
                    g_row = g[n, out_rows[i]]
                    for j in range(kw):
                        a, offset = acc[i * kw + j], j * dw - pl
                        for ow in range(col_lo[j], col_hi[j]):
                            pixel, gp = x_row[ow * sw + offset], g_row[ow]
                            for c in range(channels):
                                a[c] += pixel[c] * gp[c]
                part = partials[chunk]  # the row's dtype sums into the float64 partial
                for t in range(kh * kw):
                    for c in range(channels):
                        part[t, c] += acc[t, c]
                        acc[t, c] = 0
    if need_dw:
        total = np.zeros((kh * kw, channels))
        for chunk in range(chunks):
            total += partials[chunk]
        dw_out[...] = total.reshape(kh, kw, channels)


@njit(cache=True, fastmath=FLAGS)
def _axpy(dst, src, tap):
    """``dst += src * tap`` over contiguous vectors of one length (indices from 0, so no
    negative-index wraparound stands in the way of vectorizing)."""
    for k in range(dst.shape[0]):
        dst[k] += src[k] * tap[k]


@njit(parallel=True, cache=True, fastmath=FLAGS)
def backward_rows(x, wt, g, dx, dw_out, kh, kw, channels, sh, dh, dw, pt, pl, need_dx,
                  need_dw):
    """``backward`` at column stride 1 on flat rows: ``x``, ``dx (N, H, W*C)``,
    ``g (N, OH, OW*C)``, ``wt (KH*KW, OW*C)`` the tiled kernel (read for ``dx``),
    ``dw_out (KH*KW, C)``; the same fixed chunks and float64 partials as ``backward``."""
    source = dx if need_dx else x
    n_img, height, width = source.shape[0], source.shape[1], source.shape[2] // channels
    oh_count, ow_count = g.shape[1], g.shape[2] // channels
    row_lo, row_hi = _spans(oh_count, height, sh, dh, pt, kh)
    col_lo, col_hi = _spans(ow_count, width, 1, dw, pl, kw)
    rows = n_img * height
    chunks = min(rows, CHUNKS)
    partials = np.zeros((chunks, kh * kw, channels))
    for chunk in prange(chunks):
        acc = np.zeros((kh * kw, ow_count * channels), dtype=g.dtype)  # tiled dw sums
        out_rows = np.empty(kh, dtype=np.int64)  # the output row each tap row reads
        first, last = rows * chunk // chunks, rows * (chunk + 1) // chunks
        for row in range(first, last):
            n = row // height
            ih = row - n * height
            _tap_rows(ih, pt, dh, sh, row_lo, row_hi, out_rows)
            if need_dx:
                dx_row = dx[n, ih]
                for k in range(dx_row.shape[0]):
                    dx_row[k] = 0
            for i in range(kh):
                if out_rows[i] < 0:
                    continue
                g_row = g[n, out_rows[i]]
                for j in range(kw):
                    start, stop = col_lo[j] * channels, col_hi[j] * channels
                    offset = (j * dw - pl) * channels
                    if stop <= start:
                        continue
                    if need_dx:
                        _axpy(dx_row[start + offset:stop + offset], g_row[start:stop],
                              wt[i * kw + j, start:stop])
                    if need_dw:
                        _axpy(acc[i * kw + j, start:stop],
                              x[n, ih, start + offset:stop + offset], g_row[start:stop])
            if need_dw and ((row - first) % ROW_FOLD == ROW_FOLD - 1 or row == last - 1):
                part = partials[chunk]  # the rows' dtype sums into the float64 partial
                for t in range(kh * kw):
                    tiled = acc[t]
                    for ow in range(ow_count):
                        for c in range(channels):
                            part[t, c] += tiled[ow * channels + c]
                    for k in range(tiled.shape[0]):
                        tiled[k] = 0
    if need_dw:
        total = np.zeros((kh * kw, channels))
        for chunk in range(chunks):
            total += partials[chunk]
        dw_out[...] = total


@njit(parallel=True, cache=True)
def bias_grad(g, out):
    """``out[c] = sum_p g[p, c]`` for ``g (P, C)``: fixed chunks of pixels, each summed
    ``FOLD`` pixels at a time in the data's dtype into a float64 partial."""
    pixels, channels = g.shape
    chunks = max(1, min(CHUNKS, pixels // FOLD))
    partials = np.zeros((chunks, channels))
    for chunk in prange(chunks):
        acc = np.zeros(channels, dtype=g.dtype)
        part = partials[chunk]
        first, last = pixels * chunk // chunks, pixels * (chunk + 1) // chunks
        for start in range(first, last, FOLD):
            for p in range(start, min(start + FOLD, last)):
                row = g[p]
                for c in range(channels):
                    acc[c] += row[c]
            for c in range(channels):
                part[c] += acc[c]
                acc[c] = 0
    total = np.zeros(channels)
    for chunk in range(chunks):
        total += partials[chunk]
    out[...] = total
