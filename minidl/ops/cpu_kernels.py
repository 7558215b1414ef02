"""Which CPU kernels run the depthwise convolution: compiled (Numba) or NumPy.

``minidl.config.set_cpu_kernels("auto" | "numba" | "numpy")``, ``$MINIDL_CPU_KERNELS`` or
the ``cpu_kernels`` key of minidl.json choose; ``"auto"`` (the default) takes the compiled
kernels (``minidl.ops.numba_kernels``) whenever Numba is importable (``pip install
minidl[fast]``) and the NumPy path (``depthwise_kernels``, the reference) otherwise.
``minidl.config.cpu_kernels()`` says which is active. Only NumPy arrays go to the compiled
kernels; CuPy arrays always take the array path. Both paths use
``minidl.config.num_threads()`` threads.

The compiled kernels take depth multiplier 1: for ``M > 1`` the input's channels are
repeated ``M`` times (channel ``c*M + m``) and the input gradient summed back over ``m``,
as the NumPy path does. Up to ``ROW_CHANNELS`` channels (after the repeat) at column
stride 1, the backward runs on ``backward_rows`` (whole rows as flat vectors, the kernel
tiled along them), which is faster there; above it, the per-pixel kernel is. (A forward
on rows measured no faster than the per-pixel 3x3 forward, so there is none.)

>>> import minidl as mdl
>>> mdl.config.cpu_kernels() in ("numba", "numpy")
True
"""
import importlib

from .. import config
from . import depthwise_kernels
from .depthwise_blocks import expand_channels

__all__ = ["active", "available", "depthwise_forward", "depthwise_backward", "bias_grad",
           "CHOICES"]

CHOICES = ("auto", "numba", "numpy")
ROW_CHANNELS = 32  # backward_rows runs up to this many channels (measured on 2 cores)
_compiled = None  # the numba_kernels module once loaded, False when Numba is missing


def _load():
    global _compiled
    if _compiled is None:
        try:
            _compiled = importlib.import_module(".numba_kernels", __package__)
        except ImportError:
            _compiled = False
    return _compiled


def available():
    """True when Numba is importable, so the compiled kernels can run."""
    return bool(_load())


def active():
    """``"numba"`` or ``"numpy"``: the kernels the next depthwise op on the CPU runs.

    Raises:
        ValueError: the requested choice is not one of ``CHOICES``.
        RuntimeError: ``"numba"`` is requested but Numba is not importable.
    """
    choice = str(config.get("cpu_kernels", "auto")).lower()
    if choice not in CHOICES:
        raise ValueError(f"cpu_kernels={choice!r} (from minidl.config.set_cpu_kernels, "
                         f"$MINIDL_CPU_KERNELS or minidl.json) is not one of {CHOICES}")
    if choice == "numpy":
        return "numpy"
    if available():
        return "numba"
    if choice == "numba":
        raise RuntimeError("cpu_kernels='numba' needs Numba, which is not importable: "
                           "pip install 'minidl[fast]' (or pip install numba)")
    return "numpy"


def _kernels(xp):
    """The compiled module when it should run on ``xp``'s arrays, else None."""
    if xp.__name__ != "numpy" or active() != "numba":
        return None
    _compiled.set_num_threads(config.num_threads())
    return _compiled


def _params(geo):
    (sh, sw), (dh, dw) = geo.strides, geo.dilation_rate
    return sh, sw, dh, dw, geo.pad_top, geo.pad_left


def _flat_kernel(xp, kernel, geo, dtype):
    """``(KH, KW, C*M)`` C-contiguous (output channel ``c*M + m``), or an empty stand-in."""
    if kernel is None:
        return xp.empty((0, 0, geo.channels), dtype=dtype)
    return xp.ascontiguousarray(kernel.reshape(geo.kh, geo.kw, geo.channels))


def _by_rows(geo):
    """True when ``backward_rows`` takes ``geo``: few channels, column stride 1."""
    return geo.channels <= ROW_CHANNELS and geo.strides[1] == 1


def _tiled_kernel(xp, kernel, geo, dtype):
    """``(KH*KW, OW*C*M)``: the flat kernel repeated along the output row."""
    taps, ow, channels = geo.kh * geo.kw, geo.output_shape[2], geo.channels
    flat = _flat_kernel(xp, kernel, geo, dtype).reshape(taps, 1, channels)
    return xp.ascontiguousarray(xp.broadcast_to(flat, (taps, ow, channels))).reshape(
        taps, ow * channels)


def _rows(xp, a):
    """``(N, H, W, C)`` as C-contiguous flat rows ``(N, H, W*C)``."""
    return xp.ascontiguousarray(a).reshape(a.shape[0], a.shape[1], -1)


def depthwise_forward(xp, x, kernel, bias, geo):
    """As ``depthwise_kernels.depthwise_forward``, on the active kernels."""
    compiled = _kernels(xp)
    if compiled is None:
        return depthwise_kernels.depthwise_forward(xp, x, kernel, bias, geo)
    x = expand_channels(xp, x, geo.m)
    y = xp.empty(geo.output_shape, dtype=x.dtype)
    bias = xp.zeros(geo.channels, x.dtype) if bias is None else xp.ascontiguousarray(bias)
    compiled.forward(x, _flat_kernel(xp, kernel, geo, x.dtype), bias, y, *_params(geo))
    return y


def depthwise_backward(xp, x, kernel, g, geo, need_dx=True, need_dw=True):
    """As ``depthwise_kernels.depthwise_backward`` (same arguments and results), on the
    active kernels: one pass over the input pixels computes both gradients."""
    compiled = _kernels(xp)
    if compiled is None:
        return depthwise_kernels.depthwise_backward(xp, x, kernel, g, geo, need_dx, need_dw)
    g = xp.ascontiguousarray(g)
    if _by_rows(geo):
        return _backward_rows(xp, compiled, x, kernel, g, geo, need_dx, need_dw)
    xe = expand_channels(xp, x, geo.m) if need_dw else \
        xp.empty((0, 0, 0, geo.channels), dtype=g.dtype)
    w = _flat_kernel(xp, kernel if need_dx else None, geo, g.dtype)
    shape = (geo.n, geo.h, geo.w, geo.channels)
    dxe = xp.empty(shape if need_dx else (0, 0, 0, geo.channels), dtype=g.dtype)
    dw = xp.empty((geo.kh, geo.kw, geo.channels) if need_dw else (0, 0, geo.channels),
                  dtype=g.dtype)
    compiled.backward(xe, w, g, dxe, dw, *_params(geo), need_dx, need_dw)
    dx = None
    if need_dx:
        dx = dxe if geo.m == 1 else dxe.reshape(geo.x_shape + (geo.m,)).sum(axis=-1)
    return dx, dw.reshape(geo.kernel_shape) if need_dw else None


def _backward_rows(xp, compiled, x, kernel, g, geo, need_dx, need_dw):
    """``depthwise_backward`` on the row kernels (C-contiguous flat rows throughout)."""
    channels, taps = geo.channels, geo.kh * geo.kw
    xe = _rows(xp, expand_channels(xp, x, geo.m)) if need_dw else \
        xp.empty((0, 0, 0), dtype=g.dtype)
    wt = _tiled_kernel(xp, kernel, geo, g.dtype) if need_dx else \
        xp.empty((0, 0), dtype=g.dtype)
    dxe = xp.empty((geo.n, geo.h, geo.w * channels) if need_dx else (0, 0, 0), g.dtype)
    dw = xp.empty((taps, channels) if need_dw else (0, 0), dtype=g.dtype)
    sh, _, dh, dwl, pt, pl = _params(geo)
    compiled.backward_rows(xe, wt, _rows(xp, g), dxe, dw, geo.kh, geo.kw, channels, sh, dh,
                           dwl, pt, pl, need_dx, need_dw)
    dx = None
    if need_dx:
        dx = dxe.reshape(geo.n, geo.h, geo.w, channels)
        dx = dx if geo.m == 1 else dx.reshape(geo.x_shape + (geo.m,)).sum(axis=-1)
    return dx, dw.reshape(geo.kernel_shape) if need_dw else None


def bias_grad(xp, g):
    """The bias gradient ``g`` summed over every axis but the last (channels)."""
    compiled = _kernels(xp)
    if compiled is None:
        return g.sum(axis=tuple(range(g.ndim - 1)))
    out = xp.empty(g.shape[-1], dtype=g.dtype)
    compiled.bias_grad(xp.ascontiguousarray(g).reshape(-1, g.shape[-1]), out)
    return out
