"""Array kernels of the depthwise convolution: channels_last, rank 2, any backend.

These work on raw backend arrays (``xp`` is NumPy or CuPy); ``minidl.ops.depthwise`` wraps
them in differentiable ``Function``s. Shapes: ``x (N, H, W, C)``, ``kernel (KH, KW, C, M)``,
output ``(N, OH, OW, C*M)`` with output channel ``c*M + m``. A depth multiplier ``M > 1``
repeats each input channel ``M`` times (``x[..., c]`` becomes channels ``c*M .. c*M+M-1``),
which turns the op into a plain ``M = 1`` depthwise convolution over ``C*M`` channels.

Each tap ``(i, j)`` reads input position ``(oh*sh + i*dh - pad_top, ow*sw + j*dw - pad_left)``.
No padded copy is made: a tap touches only the outputs whose input position is inside the
image, which is exactly what zero padding would contribute. Two ways to find them:

- strided (any strides): per tap, the rectangle of valid output rows and columns (``_span``)
  and the matching strided view of the input;
- flat (strides 1 and ``OW == W``, e.g. "same"): an image is one row of ``H*W*C`` numbers
  and every tap is a constant *shift* of it, so each operation runs over long contiguous
  stretches. Columns a tap cannot reach (they would wrap to the neighbouring row) get a
  zero in that tap's weights, so they add nothing; this needs finite values where they are
  multiplied by that zero, and non-finite input takes the strided path.

Cost model: the op is memory-bound, so the work is organised in cache blocks of whole images
or of rows (``BLOCK_BYTES``) shared among ``NUM_THREADS`` threads (NumPy releases the GIL in
its loops), a tap that covers the whole block *writes* it (no zero-fill), one preallocated
scratch array per thread takes every product (``out=``), and the kernel taps are
pre-broadcast along W (rows of ``OW*C``, or ``TILE_ELEMENTS``-long tiles on the flat path) so
inner loops run over long contiguous runs. The backward computes input and kernel gradients
in one pass over each block of input rows. On a GPU backend a block is the whole batch.
"""
import concurrent.futures
import os

__all__ = ["Geometry", "depthwise_forward", "depthwise_backward", "BLOCK_BYTES",
           "TILE_ELEMENTS", "NUM_THREADS", "FLAT_PATH"]

BLOCK_BYTES = 1 << 21    # about 2 MiB of the blocked array per cache block
TILE_ELEMENTS = 8192     # flat path: length of a pre-broadcast kernel tap (whole rows)
NUM_THREADS = os.cpu_count() or 1  # cache blocks are shared among this many threads
FLAT_PATH = True         # use the flat path where it applies (tests switch it off)
_POOL = None


class Geometry:
    """Shapes and paddings of one rank-2 depthwise convolution (channels_last).

    Args:
        x_shape: ``(N, H, W, C)``.
        kernel_shape: ``(KH, KW, C, M)``.
        strides, dilation_rate: pairs of positive ints.
        padding: ``"valid"`` or ``"same"`` (TensorFlow's rule, extra pixel bottom/right).
    """

    def __init__(self, x_shape, kernel_shape, strides, dilation_rate, padding):
        from .conv_utils import padding_amounts
        self.n, self.h, self.w, self.c = x_shape
        self.kh, self.kw, _, self.m = kernel_shape
        self.strides, self.dilation_rate = tuple(strides), tuple(dilation_rate)
        (self.oh, self.pad_top, _), (self.ow, self.pad_left, _) = padding_amounts(
            (self.h, self.w), (self.kh, self.kw), strides, dilation_rate, padding)
        self.x_shape, self.kernel_shape = tuple(x_shape), tuple(kernel_shape)
        self.channels = self.c * self.m
        self.output_shape = (self.n, self.oh, self.ow, self.channels)
        self.flat = self.strides == (1, 1) and self.ow == self.w

    def taps(self):
        """``(i, j, row_offset, col_offset)`` for every kernel tap: the tap reads input row
        ``oh*sh + row_offset`` and column ``ow*sw + col_offset``."""
        dh, dw = self.dilation_rate
        return [(i, j, i * dh - self.pad_top, j * dw - self.pad_left)
                for i in range(self.kh) for j in range(self.kw)]

    def col_spans(self):
        """Per tap, the output columns it reaches and the input columns it reads."""
        return [_span(off, self.strides[1], 0, self.ow, 0, self.w)
                for _, _, _, off in self.taps()]


# -- helpers ------------------------------------------------------------------------------

def _span(offset, stride, out_lo, out_hi, in_lo, in_hi):
    """Outputs ``o`` in ``[out_lo, out_hi)`` whose input ``o*stride + offset`` lies in
    ``[in_lo, in_hi)``: ``(lo, hi, input_slice)``; ``input_slice`` is None when empty."""
    lo = max(out_lo, -((offset - in_lo) // stride))  # ceil((in_lo - offset) / stride)
    hi = min(out_hi, -((offset - in_hi) // stride))
    if hi <= lo:
        return lo, lo, None
    start = lo * stride + offset
    return lo, hi, slice(start, start + (hi - lo - 1) * stride + 1, stride)


def _blocks(n, rows, row_bytes, target):
    """Cache blocks ``(n0, n1, r0, r1)``: several whole images when one fits in ``target``
    bytes, else runs of rows of one image. ``target`` None means a single block."""
    per_image = rows * row_bytes
    if target is None or per_image <= target:
        step = n if target is None else max(1, target // max(per_image, 1))
        return [(n0, min(n0 + step, n), 0, rows) for n0 in range(0, n, step)]
    step = max(1, target // max(row_bytes, 1))
    return [(n0, n0 + 1, r0, min(r0 + step, rows))
            for n0 in range(n) for r0 in range(0, rows, step)]


def _run(xp, work, blocks):
    """``work(blocks)`` on up to ``NUM_THREADS`` threads, each taking a contiguous share of
    the cache blocks; returns each share's result."""
    workers = min(NUM_THREADS, len(blocks)) if xp.__name__ == "numpy" else 1
    if workers <= 1:
        return [work(blocks)]
    step = -(-len(blocks) // workers)
    shares = [blocks[k:k + step] for k in range(0, len(blocks), step)]
    global _POOL
    if _POOL is None or _POOL._max_workers < len(shares):
        _POOL = concurrent.futures.ThreadPoolExecutor(len(shares), "minidl-depthwise")
    return list(_POOL.map(work, shares))


def _block_target(xp):
    return BLOCK_BYTES if xp.__name__ == "numpy" else None


def _scratch(buffer, shape):
    """A C-contiguous array of ``shape`` on the front of the flat ``buffer``."""
    size = 1
    for s in shape:
        size *= s
    return buffer[:size].reshape(shape)


def _first_cover(covers, count):
    """The first tap that covers the block (it writes; the rest accumulate), then the rest."""
    cover = next((t for t in range(count) if covers(t)), None)
    return cover, ([cover] if cover is not None else []) + [t for t in range(count)
                                                            if t != cover]


def _expand_channels(xp, x, m):
    """``x`` C-contiguous with each channel repeated ``m`` times (channel ``c*m + k``)."""
    return xp.ascontiguousarray(x) if m == 1 else xp.repeat(x, m, axis=-1)


def _all_finite(xp, a):
    """True when every element is finite (a sum that overflows just says False)."""
    return bool(xp.isfinite(a.sum()))


def _tap_rows(xp, kernel, geo):
    """Strided path: the kernel as ``(KH, KW, OW, C*M)``, each tap broadcast along OW."""
    w = kernel.reshape(geo.kh, geo.kw, 1, geo.channels)
    return xp.ascontiguousarray(xp.broadcast_to(w, (geo.kh, geo.kw, geo.ow, geo.channels)))


class _Flat:
    """Flat path layout: row length ``S = W*C*M``; tap ``t`` maps output element ``q`` of an
    image to input element ``q + shifts[t]``; ``tiles[t]`` is the tap's weights over
    ``period // S + 1`` rows (zero at columns it cannot reach); ``mask[t]`` marks those."""

    def __init__(self, xp, kernel, geo, dtype):
        self.row = s = geo.w * geo.channels
        self.period = max(1, TILE_ELEMENTS // s) * s
        cols = geo.col_spans()
        self.shifts = [roff * s + coff * geo.channels for _, _, roff, coff in geo.taps()]
        self.mask = xp.zeros((len(cols), geo.w, 1), dtype=dtype)
        for t, (lo, hi, _) in enumerate(cols):
            self.mask[t, lo:hi] = 1
        if kernel is not None:
            w = kernel.reshape(len(cols), 1, geo.channels) * self.mask
            self.tiles = xp.tile(w.reshape(len(cols), s), (1, self.period // s + 1))

    def segments(self, q0, q1):
        """``[q0, q1)`` as at most two pieces ``(start, count, length)``: ``count`` runs of
        ``length <= period`` elements, each starting at the same column phase."""
        total = q1 - q0
        if total <= 0:
            return []
        runs = total // self.period
        pieces = [(q0, runs, self.period)] if runs else []
        if total - runs * self.period:
            pieces.append((q0 + runs * self.period, 1, total - runs * self.period))
        return pieces


def _view(flat, n0, n1, start, count, length):
    """Images ``n0:n1`` of a ``(N, image)`` array, elements ``start ...`` as
    ``(n1 - n0, count, length)``."""
    return flat[n0:n1, start:start + count * length].reshape(n1 - n0, count, length)


# -- forward ------------------------------------------------------------------------------

def depthwise_forward(xp, x, kernel, bias, geo):
    """``y[n, oh, ow, c*M + m] = sum_{i,j} xpad[n, oh*sh + i*dh, ow*sw + j*dw, c]
    * kernel[i, j, c, m] (+ bias[c*M + m])``, returned as ``(N, OH, OW, C*M)``."""
    x = _expand_channels(xp, x, geo.m)
    y = xp.empty(geo.output_shape, dtype=x.dtype)
    if FLAT_PATH and geo.flat and _all_finite(xp, x):
        work = _forward_flat(xp, x, kernel, bias, geo, y)
    else:
        work = _forward_strided(xp, x, kernel, bias, geo, y)
    _run(xp, work, _blocks(geo.n, geo.oh, geo.ow * geo.channels * y.itemsize,
                           _block_target(xp)))
    return y


def _forward_strided(xp, x, kernel, bias, geo, y):
    sh, taps, cols = geo.strides[0], geo.taps(), geo.col_spans()
    w_rows = _tap_rows(xp, kernel, geo)
    b_row = None if bias is None else xp.ascontiguousarray(
        xp.broadcast_to(bias, (geo.ow, geo.channels)))
    cover, order = _first_cover(
        lambda t: _span(taps[t][2], sh, 0, geo.oh, 0, geo.h)[:2] == (0, geo.oh)
        and cols[t][:2] == (0, geo.ow), len(taps))

    def work(blocks):
        largest = max((n1 - n0) * (r1 - r0) for n0, n1, r0, r1 in blocks)
        buffer = xp.empty(largest * geo.ow * geo.channels, dtype=y.dtype)
        for n0, n1, r0, r1 in blocks:
            out = y[n0:n1, r0:r1]
            if cover is None:
                out.fill(0)
            for t in order:
                i, j, roff, _ = taps[t]
                lo, hi, rows = _span(roff, sh, r0, r1, 0, geo.h)
                cl, ch, columns = cols[t]
                if rows is None or columns is None:
                    continue
                view, w_tap = x[n0:n1, rows, columns], w_rows[i, j, cl:ch]
                if t == cover:
                    xp.multiply(view, w_tap, out=out)
                else:
                    tmp = _scratch(buffer, view.shape)
                    xp.multiply(view, w_tap, out=tmp)
                    target = out[:, lo - r0:hi - r0, cl:ch]
                    xp.add(target, tmp, out=target)
            if b_row is not None:
                xp.add(out, b_row, out=out)
    return work


def _forward_flat(xp, x, kernel, bias, geo, y):
    flat = _Flat(xp, kernel, geo, y.dtype)
    s, shifts = flat.row, flat.shifts
    image_in = geo.h * s
    xf, yf = x.reshape(geo.n, image_in), y.reshape(geo.n, geo.oh * s)
    b_tile = None if bias is None else xp.tile(bias, flat.period // geo.channels)

    def work(blocks):
        largest = max((n1 - n0) * (r1 - r0) for n0, n1, r0, r1 in blocks)
        buffer = xp.empty(largest * s, dtype=y.dtype)
        for n0, n1, r0, r1 in blocks:
            lo, hi = r0 * s, r1 * s
            ranges = [(max(lo, -shift), min(hi, image_in - shift)) for shift in shifts]
            cover, order = _first_cover(lambda t: ranges[t] == (lo, hi), len(shifts))
            if cover is None:
                yf[n0:n1, lo:hi].fill(0)
            for t in order:
                for start, count, length in flat.segments(*ranges[t]):
                    phase = start % s
                    view = _view(xf, n0, n1, start + shifts[t], count, length)
                    target = _view(yf, n0, n1, start, count, length)
                    w_tap = flat.tiles[t, phase:phase + length]
                    if t == cover:
                        xp.multiply(view, w_tap, out=target)
                    else:
                        tmp = _scratch(buffer, view.shape)
                        xp.multiply(view, w_tap, out=tmp)
                        xp.add(target, tmp, out=target)
            if b_tile is not None:
                for start, count, length in flat.segments(lo, hi):
                    target = _view(yf, n0, n1, start, count, length)
                    xp.add(target, b_tile[:length], out=target)
    return work


# -- backward -----------------------------------------------------------------------------

def depthwise_backward(xp, x, kernel, g, geo, need_dx=True, need_dw=True):
    """Input and kernel gradients of ``depthwise_forward`` for the output gradient ``g``
    ``(N, OH, OW, C*M)``, in one pass over each block of input rows:

    - ``dx[n, oh*sh + i*dh - pt, ow*sw + j*dw - pl, c] += sum_m g[n, oh, ow, c*M+m] w[i, j, c, m]``
    - ``dw[i, j, c, m] = sum_{n,oh,ow} xpad[n, oh*sh + i*dh, ow*sw + j*dw, c] g[n, oh, ow, c*M+m]``

    ``x`` may be None when ``need_dw`` is False and ``kernel`` None when ``need_dx`` is
    False. Returns ``(dx, dw)``, None for what was not asked.
    """
    g = xp.ascontiguousarray(g)
    xe = _expand_channels(xp, x, geo.m) if need_dw else None
    dxe = xp.empty((geo.n, geo.h, geo.w, geo.channels), dtype=g.dtype) if need_dx else None
    if FLAT_PATH and geo.flat and (not need_dx or _all_finite(xp, g)):
        work, finish = _backward_flat(xp, xe, kernel, g, geo, dxe)
    else:
        work, finish = _backward_strided(xp, xe, kernel, g, geo, dxe)
    partials = _run(xp, work, _blocks(geo.n, geo.h, geo.w * geo.channels * g.itemsize,
                                      _block_target(xp)))
    dx = dw = None
    if need_dx:
        dx = dxe if geo.m == 1 else dxe.reshape(geo.x_shape + (geo.m,)).sum(axis=-1)
    if need_dw:
        total = partials[0]
        for more in partials[1:]:
            xp.add(total, more, out=total)
        dw = finish(total).reshape(geo.kernel_shape)
    return dx, dw


def _backward_strided(xp, xe, kernel, g, geo, dxe):
    (sh, sw), taps, cols = geo.strides, geo.taps(), geo.col_spans()
    need_dx, need_dw = dxe is not None, xe is not None
    w_rows = _tap_rows(xp, kernel, geo) if need_dx else None

    def work(blocks):
        largest = max((n1 - n0) * min(r1 - r0, geo.oh) for n0, n1, r0, r1 in blocks)
        buffer = xp.empty(largest * geo.ow * geo.channels, dtype=g.dtype)
        dw_rows = xp.zeros((geo.kh, geo.kw, geo.ow, geo.channels), g.dtype) if need_dw \
            else None
        for n0, n1, h0, h1 in blocks:
            spans = [_span(roff, sh, 0, geo.oh, h0, h1) for _, _, roff, _ in taps]
            # with stride 1, a tap whose reads fill the whole block writes dx there
            cover, order = _first_cover(
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
                    dx_view, w_tap = dxe[n0:n1, rows, columns], w_rows[i, j, cl:ch]
                    if t == cover:
                        xp.multiply(g_view, w_tap, out=dx_view)
                    else:
                        tmp = _scratch(buffer, g_view.shape)
                        xp.multiply(g_view, w_tap, out=tmp)
                        xp.add(dx_view, tmp, out=dx_view)
                if need_dw:
                    tmp = _scratch(buffer, g_view.shape)
                    xp.multiply(xe[n0:n1, rows, columns], g_view, out=tmp)
                    partial = dw_rows[i, j, cl:ch]
                    xp.add(partial, tmp.sum(axis=(0, 1)), out=partial)
        return dw_rows

    return work, lambda dw_rows: dw_rows.sum(axis=2)


def _backward_flat(xp, xe, kernel, g, geo, dxe):
    need_dx, need_dw = dxe is not None, xe is not None
    flat = _Flat(xp, kernel if need_dx else None, geo, g.dtype)
    s, shifts = flat.row, flat.shifts
    image_in, image_out = geo.h * s, geo.oh * s
    gf = g.reshape(geo.n, image_out)
    xf = xe.reshape(geo.n, image_in) if need_dw else None
    dxf = dxe.reshape(geo.n, image_in) if need_dx else None

    def work(blocks):
        largest = max((n1 - n0) * min(r1 - r0, geo.oh) for n0, n1, r0, r1 in blocks)
        buffer = xp.empty(largest * s, dtype=g.dtype)
        # per tap, sums of x*g at each position of a (period + one row) tile
        sums = xp.zeros((len(shifts), flat.period + s), g.dtype) if need_dw else None
        for n0, n1, h0, h1 in blocks:
            lo, hi = h0 * s, h1 * s  # the input elements this block owns
            ranges = [(max(0, lo - shift), min(image_out, hi - shift)) for shift in shifts]
            cover, order = _first_cover(
                lambda t: need_dx and ranges[t] == (lo - shifts[t], hi - shifts[t]),
                len(shifts))
            if need_dx and cover is None:
                dxf[n0:n1, lo:hi].fill(0)
            for t in order:
                for start, count, length in flat.segments(*ranges[t]):
                    phase = start % s
                    g_view = _view(gf, n0, n1, start, count, length)
                    if need_dx:
                        dx_view = _view(dxf, n0, n1, start + shifts[t], count, length)
                        w_tap = flat.tiles[t, phase:phase + length]
                        if t == cover:
                            xp.multiply(g_view, w_tap, out=dx_view)
                        else:
                            tmp = _scratch(buffer, g_view.shape)
                            xp.multiply(g_view, w_tap, out=tmp)
                            xp.add(dx_view, tmp, out=dx_view)
                    if need_dw:
                        tmp = _scratch(buffer, g_view.shape)
                        xp.multiply(_view(xf, n0, n1, start + shifts[t], count, length),
                                    g_view, out=tmp)
                        partial = sums[t, phase:phase + length]
                        xp.add(partial, tmp.sum(axis=(0, 1)), out=partial)
        return sums

    def finish(sums):
        per_column = sums.reshape(len(shifts), -1, geo.w, geo.channels).sum(axis=1)
        # positions a tap cannot reach held products of wrapped pixels: drop them
        return xp.where(flat.mask > 0, per_column, 0).sum(axis=1)

    return work, finish
