"""Array kernels of the depthwise convolution: channels_last, rank 2, any backend.

These work on raw backend arrays (``xp`` is NumPy or CuPy); ``minidl.ops.depthwise`` wraps
them in differentiable ``Function``s. Shapes: ``x (N, H, W, C)``, ``kernel (KH, KW, C, M)``,
output ``(N, OH, OW, C*M)`` with output channel ``c*M + m``. A depth multiplier ``M > 1``
repeats each input channel ``M`` times (``x[..., c]`` becomes channels ``c*M .. c*M+M-1``),
which turns the op into a plain ``M = 1`` depthwise convolution over ``C*M`` channels.

No padded copy is made: each tap ``(i, j)`` touches only the outputs whose input position
``(oh*sh + i*dh - pad_top, ow*sw + j*dw - pad_left)`` is inside the image, which is exactly
what zero padding would contribute. Two ways to find them:

- the flat path (``depthwise_flat``, on NumPy whenever ``Geometry.flat``: every "same"
  convolution): every tap is a constant shift along an image (or stride phase) read as
  one long row;
- the strided path (here, any geometry): per tap, the rectangle of valid output rows and
  columns (``span``) and the matching strided view of the input.

Cost model: the op is memory-bound (about 2 FLOP per byte), so the work runs in cache
blocks (``depthwise_blocks.BLOCK_BYTES``) shared among threads; a tap that covers a whole
block *writes* it (no zero-fill); one preallocated scratch array per thread takes every
product (``out=``); kernel taps are pre-broadcast along W so inner loops run over
contiguous rows. The backward computes input and kernel gradients in one pass per block.
"""
from . import depthwise_flat
from .depthwise_blocks import (Geometry, add_kernel_grad, blocks, expand_channels,
                               first_cover, multiply_into, run, span)

__all__ = ["Geometry", "depthwise_forward", "depthwise_backward", "FLAT_PATH"]

FLAT_PATH = True  # use the flat path where it applies (tests switch it off)


def _flat(xp, geo):
    """Whether the flat path runs: where it applies, on host arrays. It reads back a
    finiteness flag per cache block, which on a GPU would be a device-to-host copy and a
    wait each call; the strided path reads nothing back."""
    return FLAT_PATH and geo.flat and xp.__name__ == "numpy"


def depthwise_forward(xp, x, kernel, bias, geo):
    """``y[n, oh, ow, c*M + m] = sum_{i,j} xpad[n, oh*sh + i*dh, ow*sw + j*dw, c]
    * kernel[i, j, c, m] (+ bias[c*M + m])``, returned as ``(N, OH, OW, C*M)``."""
    x = expand_channels(xp, x, geo.m)
    y = xp.empty(geo.output_shape, dtype=x.dtype)
    if not (_flat(xp, geo) and depthwise_flat.forward(xp, x, kernel, bias, geo, y)):
        _forward_strided(xp, x, kernel, bias, geo, y)
    return y


def depthwise_backward(xp, x, kernel, g, geo, need_dx=True, need_dw=True):
    """Input and kernel gradients of ``depthwise_forward`` for the output gradient ``g``
    ``(N, OH, OW, C*M)``, in one pass over each block of input rows:

    - ``dx[n, oh*sh + i*dh - pt, ow*sw + j*dw - pl, c] += sum_m g[n, oh, ow, c*M+m] w[i, j, c, m]``
    - ``dw[i, j, c, m] = sum_{n,oh,ow} xpad[n, oh*sh + i*dh, ow*sw + j*dw, c] g[n, oh, ow, c*M+m]``

    ``x`` may be None when ``need_dw`` is False and ``kernel`` None when ``need_dx`` is
    False. Returns ``(dx, dw)``, None for what was not asked.
    """
    g = xp.ascontiguousarray(g)
    xe = expand_channels(xp, x, geo.m) if need_dw else None
    dxe = xp.empty((geo.n, geo.h, geo.w, geo.channels), dtype=g.dtype) if need_dx else None
    # the flat path's input gradient multiplies g by zeros: it needs a finite g
    if _flat(xp, geo) and (not need_dx or bool(xp.isfinite(g.sum()))):
        dw = depthwise_flat.backward(xp, xe, kernel, g, geo, dxe)
    else:
        dw = _backward_strided(xp, xe, kernel, g, geo, dxe)
    dx = None
    if need_dx:
        dx = dxe if geo.m == 1 else dxe.reshape(geo.x_shape + (geo.m,)).sum(axis=-1)
    return dx, None if dw is None else dw.reshape(geo.kernel_shape)


def _tap_rows(xp, kernel, geo):
    """The kernel as ``(KH, KW, OW, C*M)``: each tap broadcast along the output width."""
    w = kernel.reshape(geo.kh, geo.kw, 1, geo.channels)
    return xp.ascontiguousarray(xp.broadcast_to(w, (geo.kh, geo.kw, geo.ow, geo.channels)))


def _forward_strided(xp, x, kernel, bias, geo, y):
    sh, taps, cols = geo.strides[0], geo.taps(), geo.col_spans()
    w_rows = _tap_rows(xp, kernel, geo)
    b_row = None if bias is None else xp.ascontiguousarray(
        xp.broadcast_to(bias, (geo.ow, geo.channels)))
    cover, order = first_cover(
        lambda t: span(taps[t][2], sh, 0, geo.oh, 0, geo.h)[:2] == (0, geo.oh)
        and cols[t][:2] == (0, geo.ow), len(taps))

    def work(share):
        most = max((n1 - n0) * (r1 - r0) for n0, n1, r0, r1 in share)
        buffer = xp.empty(most * geo.ow * geo.channels, dtype=y.dtype)
        for n0, n1, r0, r1 in share:
            out = y[n0:n1, r0:r1]
            if cover is None:
                out.fill(0)
            for t in order:
                i, j, roff, _ = taps[t]
                lo, hi, rows = span(roff, sh, r0, r1, 0, geo.h)
                cl, ch, columns = cols[t]
                if rows is None or columns is None:
                    continue
                target = out if t == cover else out[:, lo - r0:hi - r0, cl:ch]
                multiply_into(xp, x[n0:n1, rows, columns], w_rows[i, j, cl:ch], target,
                              t == cover, buffer)
            if b_row is not None:
                xp.add(out, b_row, out=out)

    run(xp, work, blocks(xp, geo.n, geo.oh, geo.ow * geo.channels * y.itemsize))


def _backward_strided(xp, xe, kernel, g, geo, dxe):
    """Fill ``dxe`` (when not None); return dw as ``(KH*KW, C*M)`` (None when ``xe`` is)."""
    (sh, sw), taps, cols = geo.strides, geo.taps(), geo.col_spans()
    need_dx, need_dw = dxe is not None, xe is not None
    w_rows = _tap_rows(xp, kernel, geo) if need_dx else None

    def work(share):
        most = max((n1 - n0) * min(r1 - r0, geo.oh) for n0, n1, r0, r1 in share)
        buffer = xp.empty(most * geo.ow * geo.channels, dtype=g.dtype)
        dw_rows = xp.zeros((geo.kh, geo.kw, geo.ow, geo.channels), g.dtype) if need_dw \
            else None
        for n0, n1, h0, h1 in share:
            spans = [span(roff, sh, 0, geo.oh, h0, h1) for _, _, roff, _ in taps]
            # with stride 1, a tap whose reads fill the whole block writes dx there
            cover, order = first_cover(
                lambda t: need_dx and sh == 1 and sw == 1 and
                spans[t][1] - spans[t][0] == h1 - h0 and cols[t][1] - cols[t][0] == geo.w,
                len(taps))
            if need_dx and cover is None:
                dxe[n0:n1, h0:h1].fill(0)
            for t in order:
                i, j, _, _ = taps[t]
                lo, hi, rows = spans[t]
                cl, ch, columns = cols[t]
                if rows is None or columns is None:
                    continue
                g_view = g[n0:n1, lo:hi, cl:ch]
                if need_dx:
                    multiply_into(xp, g_view, w_rows[i, j, cl:ch], dxe[n0:n1, rows, columns],
                                  t == cover, buffer)
                if need_dw:
                    add_kernel_grad(xp, xe[n0:n1, rows, columns], g_view,
                                    dw_rows[i, j, cl:ch], buffer)
        return dw_rows

    partials = run(xp, work, blocks(xp, geo.n, geo.h, geo.w * geo.channels * g.itemsize))
    if not need_dw:
        return None
    total = partials[0]
    for more in partials[1:]:
        xp.add(total, more, out=total)
    return total.sum(axis=2).reshape(geo.kh * geo.kw, geo.channels)
