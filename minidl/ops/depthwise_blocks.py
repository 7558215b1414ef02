"""Geometry and cache-block machinery shared by the depthwise convolution's array paths
(``depthwise_kernels``: the strided path and the entry points; ``depthwise_flat``).

Shapes (channels_last, rank 2): ``x (N, H, W, C)``, ``kernel (KH, KW, C, M)``, output
``(N, OH, OW, C*M)``. Tap ``(i, j)`` reads input ``(oh*sh + i*dh - pad_top,
ow*sw + j*dw - pad_left)``; TensorFlow's "same" rule puts the extra pixel bottom/right.

The work is cut into cache blocks (``BLOCK_BYTES``, whole images or runs of rows) that
``run`` shares among ``minidl.config.num_threads()`` threads: NumPy releases the GIL inside
its loops, so two blocks really run at once on two cores. On a GPU backend a block is the
whole batch.

>>> geo = Geometry((2, 7, 6, 3), (3, 3, 3, 2), (2, 2), (1, 1), "same")
>>> geo.output_shape, geo.pad_top, geo.pad_left
((2, 4, 3, 6), 1, 0)
>>> span(-1, 1, 0, 5, 0, 5)     # tap offset -1: outputs 1..4 read inputs 0..3
(1, 5, slice(0, 4, 1))
"""
import concurrent.futures

from .. import config

__all__ = ["Geometry", "span", "blocks", "run", "scratch", "first_cover", "expand_channels",
           "BLOCK_BYTES"]

BLOCK_BYTES = 1 << 21              # about 2 MiB of working data per cache block
_POOL = None


class Geometry:
    """Shapes and paddings of one rank-2 depthwise convolution (channels_last).

    Args:
        x_shape: ``(N, H, W, C)``.
        kernel_shape: ``(KH, KW, C, M)``.
        strides, dilation_rate: pairs of positive ints.
        padding: ``"valid"`` or ``"same"``.
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
        # the flat path needs every stride phase of a row to fit in OW columns
        self.flat = self.ow * self.strides[1] >= self.w

    def taps(self):
        """``(i, j, row_offset, col_offset)`` for every kernel tap: the tap reads input row
        ``oh*sh + row_offset`` and column ``ow*sw + col_offset``."""
        dh, dw = self.dilation_rate
        return [(i, j, i * dh - self.pad_top, j * dw - self.pad_left)
                for i in range(self.kh) for j in range(self.kw)]

    def col_spans(self):
        """Per tap, the output columns it reaches and the input columns it reads."""
        return [span(off, self.strides[1], 0, self.ow, 0, self.w)
                for _, _, _, off in self.taps()]


def span(offset, stride, out_lo, out_hi, in_lo, in_hi):
    """Outputs ``o`` in ``[out_lo, out_hi)`` whose input ``o*stride + offset`` lies in
    ``[in_lo, in_hi)``: ``(lo, hi, input_slice)``; ``input_slice`` is None when empty."""
    lo = max(out_lo, -((offset - in_lo) // stride))  # ceil((in_lo - offset) / stride)
    hi = min(out_hi, -((offset - in_hi) // stride))
    if hi <= lo:
        return lo, lo, None
    start = lo * stride + offset
    return lo, hi, slice(start, start + (hi - lo - 1) * stride + 1, stride)


def blocks(xp, n, rows, row_bytes):
    """Cache blocks ``(n0, n1, r0, r1)``: several whole images when one fits in
    ``BLOCK_BYTES``, else runs of rows of one image; one block on a GPU backend."""
    per_image = rows * row_bytes
    if xp.__name__ != "numpy" or per_image <= BLOCK_BYTES:
        step = n if xp.__name__ != "numpy" else max(1, BLOCK_BYTES // max(per_image, 1))
        return [(n0, min(n0 + step, n), 0, rows) for n0 in range(0, n, step)]
    step = max(1, BLOCK_BYTES // max(row_bytes, 1))
    return [(n0, n0 + 1, r0, min(r0 + step, rows))
            for n0 in range(n) for r0 in range(0, rows, step)]


def run(xp, work, block_list):
    """``work(share)`` for contiguous shares of ``block_list`` on up to ``config.num_threads()``
    threads; returns each share's result."""
    workers = min(config.num_threads(), len(block_list)) if xp.__name__ == "numpy" else 1
    if workers <= 1:
        return [work(block_list)]
    step = -(-len(block_list) // workers)
    shares = [block_list[k:k + step] for k in range(0, len(block_list), step)]
    global _POOL
    if _POOL is None or _POOL._max_workers < len(shares):
        _POOL = concurrent.futures.ThreadPoolExecutor(len(shares), "minidl-depthwise")
    return list(_POOL.map(work, shares))


def scratch(buffer, shape):
    """A C-contiguous array of ``shape`` on the front of the flat ``buffer``."""
    size = 1
    for s in shape:
        size *= s
    return buffer[:size].reshape(shape)


def multiply_into(xp, a, b, out, write, buffer):
    """``out = a * b`` when ``write`` (the tap covering the block), else ``out += a * b``
    with the product in the scratch ``buffer`` (nothing allocated)."""
    if write:
        xp.multiply(a, b, out=out)
    else:
        tmp = scratch(buffer, out.shape)
        xp.multiply(a, b, out=tmp)
        xp.add(out, tmp, out=out)


def add_kernel_grad(xp, x, g, partial, buffer):
    """``partial += sum(x * g)`` over the two leading axes (a tap's kernel gradient)."""
    tmp = scratch(buffer, g.shape)
    xp.multiply(x, g, out=tmp)
    xp.add(partial, tmp.sum(axis=(0, 1)), out=partial)


def first_cover(covers, count):
    """The first tap ``t < count`` with ``covers(t)`` (it writes the block; the others
    accumulate), and all taps in that order."""
    cover = next((t for t in range(count) if covers(t)), None)
    return cover, ([cover] if cover is not None else []) + [t for t in range(count)
                                                            if t != cover]


def expand_channels(xp, x, m):
    """``x`` C-contiguous with each channel repeated ``m`` times (channel ``c*m + k``)."""
    return xp.ascontiguousarray(x) if m == 1 else xp.repeat(x, m, axis=-1)
