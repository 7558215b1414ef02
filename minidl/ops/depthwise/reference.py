"""The depthwise convolution on backend arrays (NumPy or CuPy): the reference kernels,
which every backend and every geometry can run.

Shapes (channels_last, rank 2, see ``geometry``): ``x (N, H, W, C)``, ``kernel
(KH, KW, C, M)``, ``g`` and the output ``(N, OH, OW, C*M)``; output channel ``c*M + m``
comes from input channel ``c``. With ``xpad`` the zero-padded input and
``(sh, sw), (dh, dw)`` the strides and dilation:

- forward: ``y[n, oh, ow, c*M+m] = sum_{i,j} xpad[n, oh*sh + i*dh, ow*sw + j*dw, c]
  kernel[i, j, c, m] (+ bias[c*M+m])``
- input gradient: ``dxpad[n, oh*sh + i*dh, ow*sw + j*dw, c] += sum_m g[n, oh, ow, c*M+m]
  kernel[i, j, c, m]``, the padding then cropped off
- kernel gradient: ``dkernel[i, j, c, m] = sum_{n,oh,ow} xpad[n, oh*sh + i*dh,
  ow*sw + j*dw, c] g[n, oh, ow, c*M+m]``
- bias gradient: ``dbias[c*M+m] = sum_{n,oh,ow} g[n, oh, ow, c*M+m]``

How the sums run: a depth multiplier ``M > 1`` repeats each input channel ``M`` times
(``expand_channels``), which makes the op a plain ``M = 1`` convolution over ``C*M``
channels. No padded copy is made: for tap ``(i, j)`` the outputs whose input lies inside
the image form a rectangle (``geometry.span`` per axis), and the pixels they read are one
strided view of ``x``; the forward adds ``view * kernel[i, j]`` into that rectangle, the
input gradient adds ``g * kernel[i, j]`` into the view (its elements are distinct, so the
in-place add is safe), the kernel gradient sums ``view * g``.

Speed (the op is memory-bound, about 2 FLOP per byte): the work runs in cache blocks of
about ``block_bytes`` (whole images, or runs of rows of one image) shared among
``threads`` threads (NumPy releases the GIL in its loops); the tap that covers a whole
block *writes* it instead of zero-fill plus add; one scratch buffer per thread takes every
product (``out=``); kernel taps are pre-broadcast along the output width so the inner loops
run over contiguous rows; the backward gives both gradients in one pass per block. On CuPy
a block is the whole batch and one thread runs it.
"""
import concurrent.futures

from .geometry import span

__all__ = ["forward", "backward", "bias_grad", "expand_channels", "blocks", "BLOCK_BYTES"]

BLOCK_BYTES = 1 << 21  # the default cache block: about 2 MiB of working data
_pool = None  # the thread pool, created at the first threaded call


def forward(xp, x, kernel, bias, geo, threads=1, block_bytes=BLOCK_BYTES):
    """``y (N, OH, OW, C*M)`` = the depthwise convolution of ``x`` by ``kernel`` (+ ``bias``
    ``(C*M,)`` or None), in blocks of output rows."""
    x = expand_channels(xp, x, geo.m)
    y = xp.empty(geo.output_shape, dtype=x.dtype)
    kernel_rows = _tap_rows(xp, kernel, geo)
    bias_row = None if bias is None else xp.ascontiguousarray(
        xp.broadcast_to(bias, (geo.ow, geo.channels)))

    def work(share):
        buffer = _scratch_buffer(xp, share, geo.oh, geo.ow * geo.channels, y.dtype)
        for block in share:
            _forward_block(xp, x, kernel_rows, bias_row, geo, y, block, buffer)

    _run(xp, work, blocks(xp, geo.n, geo.oh, geo.ow * geo.channels * y.itemsize,
                           block_bytes), threads)
    return y


def _forward_block(xp, x, kernel_rows, bias_row, geo, y, block, buffer):
    """Output rows ``r0:r1`` of images ``n0:n1``: every tap into its rectangle."""
    n0, n1, r0, r1 = block
    out = y[n0:n1, r0:r1]
    row_spans = [span(row_offset, geo.stride_h, r0, r1, 0, geo.h)
                 for _, _, row_offset, _ in geo.taps]
    cover, order = _cover_first(geo, row_spans, (r0, r1), (0, geo.ow))
    if cover is None:
        out.fill(0)
    for t in order:
        i, j = geo.taps[t][:2]
        (lo, hi, rows), (cl, ch, columns) = row_spans[t], geo.col_spans[t]
        if rows is None or columns is None:
            continue
        target = out if t == cover else out[:, lo - r0:hi - r0, cl:ch]
        _multiply_into(xp, x[n0:n1, rows, columns], kernel_rows[i, j, cl:ch], target,
                       t == cover, buffer)
    if bias_row is not None:
        xp.add(out, bias_row, out=out)


def backward(xp, x, kernel, g, geo, need_dx=True, need_dkernel=True, threads=1,
             block_bytes=BLOCK_BYTES):
    """The input and kernel gradients of ``forward`` for the output gradient ``g``, in one
    pass over each block of input rows. ``x`` is read only for ``dkernel`` and ``kernel``
    only for ``dx`` (either may be None when not needed). Returns ``(dx, dkernel)``, None
    for what was not asked."""
    g = xp.ascontiguousarray(g)
    xe = expand_channels(xp, x, geo.m) if need_dkernel else None
    dxe = xp.empty((geo.n, geo.h, geo.w, geo.channels), g.dtype) if need_dx else None
    kernel_rows = _tap_rows(xp, kernel, geo) if need_dx else None

    def work(share):
        buffer = _scratch_buffer(xp, share, geo.oh, geo.ow * geo.channels, g.dtype)
        dkernel_rows = xp.zeros((geo.kh, geo.kw, geo.ow, geo.channels), g.dtype) \
            if need_dkernel else None
        for block in share:
            _backward_block(xp, xe, kernel_rows, g, geo, dxe, dkernel_rows, block, buffer)
        return dkernel_rows

    partials = _run(xp, work, blocks(xp, geo.n, geo.h, geo.w * geo.channels * g.itemsize,
                                      block_bytes), threads)
    dx = None
    if need_dx:
        dx = dxe if geo.m == 1 else dxe.reshape(geo.x_shape + (geo.m,)).sum(axis=-1)
    if not need_dkernel:
        return dx, None
    for more in partials[1:]:
        xp.add(partials[0], more, out=partials[0])
    return dx, partials[0].sum(axis=2).reshape(geo.kernel_shape)


def _backward_block(xp, xe, kernel_rows, g, geo, dxe, dkernel_rows, block, buffer):
    """Input rows ``h0:h1`` of images ``n0:n1``: per tap, ``g`` times the kernel into
    ``dxe``'s view and the view times ``g`` into the tap's partial kernel gradient."""
    n0, n1, h0, h1 = block
    row_spans = [span(row_offset, geo.stride_h, 0, geo.oh, h0, h1)
                 for _, _, row_offset, _ in geo.taps]
    # with stride 1, a tap whose reads fill the whole block writes dx there
    strided = geo.stride_h > 1 or geo.stride_w > 1
    cover, order = _cover_first(geo, row_spans, (h0, h1), (0, geo.w),
                                none=dxe is None or strided)
    if dxe is not None and cover is None:
        dxe[n0:n1, h0:h1].fill(0)
    for t in order:
        i, j = geo.taps[t][:2]
        (lo, hi, rows), (cl, ch, columns) = row_spans[t], geo.col_spans[t]
        if rows is None or columns is None:
            continue
        g_view = g[n0:n1, lo:hi, cl:ch]
        if dxe is not None:
            _multiply_into(xp, g_view, kernel_rows[i, j, cl:ch], dxe[n0:n1, rows, columns],
                           t == cover, buffer)
        if dkernel_rows is not None:
            _add_kernel_grad(xp, xe[n0:n1, rows, columns], g_view,
                             dkernel_rows[i, j, cl:ch], buffer)


def bias_grad(xp, g):
    """The bias gradient: ``g`` summed over every axis but the last (channels)."""
    return g.sum(axis=tuple(range(g.ndim - 1)))


def expand_channels(xp, x, m):
    """``x`` C-contiguous with each channel repeated ``m`` times (channel ``c*m + k``)."""
    return xp.ascontiguousarray(x) if m == 1 else xp.repeat(x, m, axis=-1)


def _tap_rows(xp, kernel, geo):
    """The kernel as ``(KH, KW, OW, C*M)``: each tap broadcast along the output width."""
    taps = kernel.reshape(geo.kh, geo.kw, 1, geo.channels)
    return xp.ascontiguousarray(xp.broadcast_to(taps, (geo.kh, geo.kw, geo.ow,
                                                       geo.channels)))


def _cover_first(geo, row_spans, rows, cols, none=False):
    """The first tap whose span is the whole block (``rows`` by ``cols``, in the span's
    own coordinates), which writes the block while the others add, and every tap in that
    order; no cover when ``none``."""
    def covers(t):
        lo, hi, _ = row_spans[t]
        cl, ch, _ = geo.col_spans[t]
        return (hi - lo, ch - cl) == (rows[1] - rows[0], cols[1] - cols[0])
    count = len(geo.taps)
    cover = None if none else next((t for t in range(count) if covers(t)), None)
    return cover, ([cover] if cover is not None else []) + [t for t in range(count)
                                                            if t != cover]


def _multiply_into(xp, a, b, out, write, buffer):
    """``out = a * b`` when ``write`` (the tap covering the block), else ``out += a * b``
    with the product in the scratch ``buffer`` (nothing allocated)."""
    if write:
        xp.multiply(a, b, out=out)
    else:
        tmp = buffer[:out.size].reshape(out.shape)
        xp.multiply(a, b, out=tmp)
        xp.add(out, tmp, out=out)


def _add_kernel_grad(xp, x, g, partial, buffer):
    """``partial += sum(x * g)`` over the two leading axes (one tap's kernel gradient)."""
    tmp = buffer[:g.size].reshape(g.shape)
    xp.multiply(x, g, out=tmp)
    xp.add(partial, tmp.sum(axis=(0, 1)), out=partial)


def blocks(xp, n, rows, row_bytes, block_bytes=BLOCK_BYTES):
    """Cache blocks ``(n0, n1, r0, r1)``: several whole images when one fits in
    ``block_bytes``, else runs of rows of one image; one block on a GPU backend."""
    per_image = rows * row_bytes
    if xp.__name__ != "numpy":
        return [(0, n, 0, rows)]
    if per_image <= block_bytes:
        step = max(1, block_bytes // max(per_image, 1))
        return [(n0, min(n0 + step, n), 0, rows) for n0 in range(0, n, step)]
    step = max(1, block_bytes // max(row_bytes, 1))
    return [(n0, n0 + 1, r0, min(r0 + step, rows))
            for n0 in range(n) for r0 in range(0, rows, step)]


def _scratch_buffer(xp, share, out_rows, row_elements, dtype):
    """One flat buffer for the largest product a block of ``share`` makes (at most
    ``out_rows`` output rows per image)."""
    most = max((n1 - n0) * min(r1 - r0, out_rows) for n0, n1, r0, r1 in share)
    return xp.empty(most * row_elements, dtype=dtype)


def _run(xp, work, blocks, threads):
    """``work(share)`` for contiguous shares of ``blocks`` on up to ``threads`` threads
    (one on a GPU backend); returns each share's result."""
    workers = min(threads, len(blocks)) if xp.__name__ == "numpy" else 1
    if workers <= 1:
        return [work(blocks)]
    step = -(-len(blocks) // workers)
    shares = [blocks[k:k + step] for k in range(0, len(blocks), step)]
    global _pool
    if _pool is None or _pool._max_workers < len(shares):
        _pool = concurrent.futures.ThreadPoolExecutor(len(shares), "minidl-depthwise")
    return list(_pool.map(work, shares))
