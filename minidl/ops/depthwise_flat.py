"""The flat path of the depthwise convolution (``depthwise_kernels`` chooses it when
``Geometry.flat``: ``OW * sw >= W``, e.g. every "same" convolution).

Split the input into its stride phases, ``plane (a, b) = x[:, a::sh, b::sw]`` (with strides
1 the single plane is ``x`` itself, no copy), each a plane of ``ceil(H / sh)`` rows of
``S = OW*C*M`` numbers, zero-padded. Read as one long row per image, every kernel tap is then
a constant *shift* of its plane: output element ``q`` reads plane element ``q + shift``. So
every operation runs over long contiguous stretches (``TILE_ELEMENTS`` at a time, with the
tap's weights tiled to match) instead of one image row at a time.

Output columns a tap cannot reach read a pixel of the neighbouring row instead of padding;
the tap's tiled weights hold a zero there (``Layout.mask``), so it adds nothing, provided
the values are finite: the forward checks each block's result and the backward its
incoming gradient, and non-finite data is handled by the strided path instead, where
inf and nan stay where they belong. The kernel gradient drops those positions exactly.

With strides > 1 the planes are built per cache block (the block's rows plus a halo), in
cache, and the input gradient is written back to its phases per block, so each pixel is
read or written once in a strided pattern instead of once per tap.
"""
import contextlib

from .depthwise_blocks import add_kernel_grad, blocks, first_cover, multiply_into, run, scratch

__all__ = ["Layout", "forward", "backward", "TILE_ELEMENTS"]

TILE_ELEMENTS = 8192  # length of one run: a tap's weights tiled over whole rows


class Layout:
    """Planes, shifts and tiled weights of the taps that reach some output column.

    Tap ``k`` (``taps[k]``, an index into ``geo.taps()``) maps output element ``q`` of an
    image to element ``q + shifts[k]`` of plane ``plane[k]``; ``tiles[k]`` holds its weights
    over ``period // S + 1`` rows, zero at the columns it cannot reach (``mask[k] == 0``).
    """

    def __init__(self, xp, kernel, geo, dtype):
        (sh, sw), cm = geo.strides, geo.channels
        self.geo, self.direct = geo, (sh, sw) == (1, 1)
        self.row = s = geo.ow * cm
        self.height = -(-geo.h // sh)
        self.period = max(1, TILE_ELEMENTS // s) * s
        cols = geo.col_spans()
        offsets = geo.taps()
        self.taps = [t for t, (lo, hi, _) in enumerate(cols) if hi > lo]
        self.phases, self.plane, self.shifts, row_shifts = [], [], [], []
        for t in self.taps:
            roff, coff = offsets[t][2], offsets[t][3]
            phase = (roff % sh, coff % sw)
            if phase not in self.phases:
                self.phases.append(phase)
            self.plane.append(self.phases.index(phase))
            row_shifts.append(roff // sh)
            self.shifts.append((roff // sh) * s + (coff // sw) * cm)
        self.rows_above, self.rows_below = min(row_shifts), max(row_shifts)
        self.mask = xp.zeros((len(self.taps), geo.ow, 1), dtype=dtype)
        for k, t in enumerate(self.taps):
            self.mask[k, cols[t][0]:cols[t][1]] = 1
        if kernel is not None:
            w = kernel.reshape(-1, 1, cm)[self.taps] * self.mask
            self.tiles = xp.tile(w.reshape(len(self.taps), s), (1, self.period // s + 1))

    def segments(self, q0, q1):
        """``[q0, q1)`` as at most two pieces ``(start, count, length)``: ``count`` runs of
        ``length <= period`` elements, all starting at the same column phase."""
        total = q1 - q0
        if total <= 0:
            return []
        runs = total // self.period
        pieces = [(q0, runs, self.period)] if runs else []
        if total - runs * self.period:
            pieces.append((q0 + runs * self.period, 1, total - runs * self.period))
        return pieces

    def _phase_rows(self, a, k0, k1):
        """Plane rows ``k0 .. k0+rows`` of phase row ``a`` that hold pixels, and the slice
        of image rows they come from."""
        sh = self.geo.strides[0]
        rows = min(k1, -(-(self.geo.h - a) // sh)) - k0
        return rows, (slice(k0 * sh + a, (k0 + rows - 1) * sh + a + 1, sh) if rows > 0
                      else None)

    def fill_planes(self, x, n0, n1, k0, k1, out):
        """Rows ``k0:k1`` of every plane of images ``n0:n1`` of ``x`` into ``out``
        ``(planes, n1 - n0, k1 - k0, OW, C*M)``, zero where a plane has no pixel."""
        sw = self.geo.strides[1]
        for p, (a, b) in enumerate(self.phases):
            rows, image_rows = self._phase_rows(a, k0, k1)
            if rows > 0:
                part = x[n0:n1, image_rows, b::sw]
                out[p, :, :rows, :part.shape[2]] = part
                out[p, :, :rows, part.shape[2]:] = 0
            out[p, :, max(rows, 0):] = 0

    def write_back(self, local, dx, n0, n1, k0, k1):
        """The inverse for gradients: plane rows ``k0:k1`` of ``local`` into the pixels of
        ``dx`` they stand for; zero for phases no tap reads."""
        sh, sw = self.geo.strides
        for a in range(sh):
            rows, image_rows = self._phase_rows(a, k0, k1)
            for b in range(sw) if rows > 0 else ():
                target = dx[n0:n1, image_rows, b::sw]
                if (a, b) in self.phases:
                    target[...] = local[self.phases.index((a, b)), :, :rows,
                                        :target.shape[2]]
                else:
                    target.fill(0)


def _quietly(xp, work):
    """``work`` with NumPy's invalid/overflow warnings off (in its own thread): products at
    the zero-weighted wrapped positions may be ``inf * 0``; they are dropped or redone."""
    errstate = getattr(xp, "errstate", None)

    def quiet(share):
        with errstate(invalid="ignore", over="ignore") if errstate else contextlib.nullcontext():
            return work(share)
    return quiet


def _runs(array, start, count, length):
    """Elements ``start ...`` of each image of ``array (images, elements)`` as
    ``(images, count, length)``."""
    return array[:, start:start + count * length].reshape(len(array), count, length)


def forward(xp, x, kernel, bias, geo, y):
    """Fill ``y`` (see ``depthwise_kernels.depthwise_forward``); False when a block is not
    finite (then ``y`` must be recomputed on the strided path)."""
    lay = Layout(xp, kernel, geo, y.dtype)
    s, shifts, plane, planes = lay.row, lay.shifts, lay.plane, len(lay.phases)
    image_in = lay.height * s
    yf = y.reshape(geo.n, geo.oh * s)
    xf = x.reshape(geo.n, geo.h * s) if lay.direct else None
    b_tile = None if bias is None else xp.tile(bias, lay.period // geo.channels)
    halo = lay.rows_below - lay.rows_above + 2  # plane rows read beyond the block's own
    block_list = blocks(xp, geo.n, geo.oh, s * y.itemsize * (1 if lay.direct else 1 + planes))

    def work(share):
        most = max((n1 - n0) * (r1 - r0) for n0, n1, r0, r1 in share)
        buffer = xp.empty(most * s, dtype=y.dtype)
        local = None if lay.direct else xp.empty(
            planes * max((n1 - n0) * (r1 - r0 + halo) for n0, n1, r0, r1 in share) * s,
            dtype=y.dtype)
        finite = True
        for n0, n1, r0, r1 in share:
            lo, hi = r0 * s, r1 * s
            if lay.direct:
                sources, base = [xf[n0:n1]], 0
            else:
                k0 = max(0, r0 + lay.rows_above - 1)
                k1 = min(lay.height, r1 + lay.rows_below + 1)
                block = scratch(local, (planes, n1 - n0, k1 - k0, geo.ow, geo.channels))
                lay.fill_planes(x, n0, n1, k0, k1, block)
                sources, base = block.reshape(planes, n1 - n0, (k1 - k0) * s), k0 * s
            ranges = [(max(lo, -shift), min(hi, image_in - shift)) for shift in shifts]
            cover, order = first_cover(lambda k: ranges[k] == (lo, hi), len(shifts))
            out = yf[n0:n1]
            if cover is None:
                out[:, lo:hi].fill(0)
            for k in order:
                for start, count, length in lay.segments(*ranges[k]):
                    view = _runs(sources[plane[k]], start + shifts[k] - base, count, length)
                    target = _runs(out, start, count, length)
                    w_tap = lay.tiles[k, start % s:start % s + length]
                    multiply_into(xp, view, w_tap, target, k == cover, buffer)
            if b_tile is not None:
                for start, count, length in lay.segments(lo, hi):
                    target = _runs(out, start, count, length)
                    xp.add(target, b_tile[:length], out=target)
            finite = finite and bool(xp.isfinite(out[:, lo:hi].sum()))
        return finite

    return all(run(xp, _quietly(xp, work), block_list))


def backward(xp, xe, kernel, g, geo, dxe):
    """Fill ``dxe`` (when not None; ``g`` must then be finite) and return the kernel
    gradient for the taps in ``geo.taps()`` order as ``(KH*KW, C*M)`` (None when ``xe``
    is None)."""
    need_dx, need_dw = dxe is not None, xe is not None
    lay = Layout(xp, kernel if need_dx else None, geo, g.dtype)
    s, shifts, plane, planes = lay.row, lay.shifts, lay.plane, len(lay.phases)
    image_out = geo.oh * s
    gf = g.reshape(geo.n, image_out)
    xf = xe.reshape(geo.n, geo.h * s) if need_dw and lay.direct else None
    dxf = dxe.reshape(geo.n, geo.h * s) if need_dx and lay.direct else None
    copies = 0 if lay.direct else planes
    block_list = blocks(xp, geo.n, lay.height, s * g.itemsize * (1 + copies))

    def work(share):
        most = max((n1 - n0) * (r1 - r0) for n0, n1, r0, r1 in share)
        buffer = xp.empty(most * s, dtype=g.dtype)
        x_local = xp.empty(planes * most * s, g.dtype) if need_dw and not lay.direct else None
        dx_local = xp.empty(planes * most * s, g.dtype) if need_dx and not lay.direct else None
        # per tap, sums of x*g at each position of a (period + one row) tile
        sums = xp.zeros((len(shifts), lay.period + s), g.dtype) if need_dw else None
        for n0, n1, h0, h1 in share:
            lo, hi, nb = h0 * s, h1 * s, n1 - n0  # the plane elements this block owns
            if lay.direct:
                xs, ds, base = [xf[n0:n1]] if need_dw else None, [dxf[n0:n1]] if need_dx \
                    else None, 0
            else:
                xs = ds = None
                base, shape = lo, (planes, nb, h1 - h0, geo.ow, geo.channels)
                if need_dw:
                    xs = scratch(x_local, shape)
                    lay.fill_planes(xe, n0, n1, h0, h1, xs)
                    xs = xs.reshape(planes, nb, -1)
                if need_dx:
                    ds = scratch(dx_local, (planes, nb, (h1 - h0) * s))
            ranges = [(max(0, lo - shift), min(image_out, hi - shift)) for shift in shifts]
            covers = set()
            for p in range(planes) if need_dx else ():
                # a tap whose writes fill the block writes dx there; else zero-fill it
                cover = next((k for k in range(len(shifts)) if plane[k] == p and
                              ranges[k] == (lo - shifts[k], hi - shifts[k])), None)
                if cover is None:
                    ds[p][:, lo - base:hi - base].fill(0)
                else:
                    covers.add(cover)
            for k in sorted(range(len(shifts)), key=lambda k: k not in covers):
                for start, count, length in lay.segments(*ranges[k]):
                    at, phase = start + shifts[k] - base, start % s
                    g_view = _runs(gf[n0:n1], start, count, length)
                    if need_dx:
                        multiply_into(xp, g_view, lay.tiles[k, phase:phase + length],
                                      _runs(ds[plane[k]], at, count, length), k in covers,
                                      buffer)
                    if need_dw:
                        add_kernel_grad(xp, _runs(xs[plane[k]], at, count, length), g_view,
                                        sums[k, phase:phase + length], buffer)
            if need_dx and not lay.direct:
                lay.write_back(ds.reshape(planes, nb, h1 - h0, geo.ow, geo.channels),
                               dxe, n0, n1, h0, h1)
        return sums

    partials = run(xp, _quietly(xp, work), block_list)
    if not need_dw:
        return None
    sums = partials[0]
    for more in partials[1:]:
        xp.add(sums, more, out=sums)
    per_column = sums.reshape(len(shifts), -1, geo.ow, geo.channels).sum(axis=1)
    # positions a tap cannot reach held products of wrapped pixels: drop them exactly
    dw = xp.zeros((geo.kh * geo.kw, geo.channels), dtype=g.dtype)
    dw[lay.taps] = xp.where(lay.mask > 0, per_column, 0).sum(axis=1)
    return dw
