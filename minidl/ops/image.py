"""Image geometry ops: resizing, cropping and the affine transform shared by
``RandomTranslation``, ``RandomRotation`` and ``RandomZoom``. Images are 4-D Tensors,
``(N, H, W, C)`` for "channels_last" or ``(N, C, H, W)`` for "channels_first"; every op
is a composition of differentiable minidl ops (gather, matmul, products and sums), so it
is twice differentiable with respect to the image.

Resizing (JAX's ``jax.image.resize``, which Keras calls) is separable: along an axis of
``n`` samples resized to ``m``, output ``o`` sits at ``p = (o + 0.5) * n / m - 0.5`` in the
input. "bilinear" weighs input ``i`` by ``max(0, 1 - |p - i| / s)`` (``s = max(n / m, 1)``
with ``antialias``, else 1), divided by the sum of the weights, so the axis is a matmul
with an ``(n, m)`` matrix; "nearest" takes ``i = floor((o + 0.5) * n / m)``.

Affine transform (Keras's convention): a transform is 8 numbers
``[a0, a1, a2, b0, b1, b2, c0, c1]``; output pixel ``(y, x)`` reads the input at
``x' = (a0 x + a1 y + a2) / k``, ``y' = (b0 x + b1 y + b2) / k``, ``k = c0 x + c1 y + 1``.
"nearest" takes the pixel at ``round(y'), round(x')`` (halves away from zero); "bilinear"
mixes the four pixels around ``(y', x')`` with weights ``(1 - fy, fy) x (1 - fx, fx)``.
A pixel index outside the image is mapped back by ``fill_mode``, for an axis of ``n``:

- "reflect": ``(d c b a | a b c d | d c b a)``, about the edge of the last pixel;
- "wrap": ``(a b c d | a b c d | a b c d)``;
- "nearest": ``(a a a a | a b c d | d d d d)``;
- "constant": ``(k k k k | a b c d | k k k k)``: each out-of-range pixel counts as
  ``fill_value`` (with its bilinear weight).

All indices and weights of a batch are computed at once and the pixels are read with one
gather from the images flattened to ``(N*H*W, C)``.

>>> import numpy as np, minidl as mdl
>>> x = mdl.tensor(np.arange(4.0).reshape(1, 1, 4, 1))
>>> shift = np.array([[1.0, 0, -1.0, 0, 1.0, 0, 0, 0]])   # x' = x - 1
>>> affine_transform(x, shift, fill_mode="constant").numpy().ravel().tolist()
[0.0, 0.0, 1.0, 2.0]
>>> resize(x, 1, 2).numpy().ravel().tolist()
[0.5, 2.5]
"""
import numpy

from ..autograd import Tensor, as_tensor
from .conv_utils import (
    channels_last,
    from_channels_last,
    normalize_data_format,
    normalize_tuple,
)
from .math import matmul, mul
from .reduction import sum as _sum
from .shape import concatenate, getitem, pad, reshape, swapaxes

__all__ = ["affine_transform", "resize", "crop", "aspect_crop_window", "check_choice",
           "FILL_MODES", "INTERPOLATIONS", "RESIZE_INTERPOLATIONS"]

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("nearest", "bilinear")
RESIZE_INTERPOLATIONS = ("bilinear", "nearest")


def check_choice(value, choices, name):
    """``value`` if it is one of ``choices``; ValueError naming ``name`` otherwise."""
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not supported; expected one of {choices}")
    return value


def _check_images(images, what):
    images = as_tensor(images)
    if images.ndim != 4:
        raise ValueError(f"{what} expects a 4-D batch of images, got shape {images.shape}")
    return images


def _constant(like, host):
    return Tensor._wrap(like.backend.xp.asarray(host, dtype=like.dtype))


# -- resizing and cropping -----------------------------------------------------------------
def resize_matrix(n_in, n_out, antialias=False):  # host
    """The float64 ``(n_in, n_out)`` matrix of bilinear resizing weights (JAX's rule: a
    triangle kernel at ``p = (o + 0.5) * n_in / n_out - 0.5``, widened by ``n_in / n_out``
    when downsampling with ``antialias``, each column normalized to sum 1)."""
    scale = n_out / n_in
    kernel_scale = max(1.0 / scale, 1.0) if antialias else 1.0
    sample = (numpy.arange(n_out, dtype=numpy.float64) + 0.5) * (1.0 / scale) - 0.5
    distance = numpy.abs(sample[None, :] - numpy.arange(n_in, dtype=numpy.float64)[:, None])
    weights = numpy.maximum(0.0, 1.0 - distance / kernel_scale)
    total = weights.sum(axis=0, keepdims=True)
    keep = numpy.abs(total) > 1000.0 * numpy.finfo(numpy.float32).eps
    return numpy.where(keep, weights / numpy.where(total != 0, total, 1.0), 0.0)


def nearest_indices(n_in, n_out):  # host
    """``floor((o + 0.5) * n_in / n_out)`` for each output ``o`` (JAX's nearest rule)."""
    offsets = (numpy.arange(n_out, dtype=numpy.float64) + 0.5) * n_in / n_out
    return numpy.minimum(numpy.floor(offsets).astype(numpy.int64), n_in - 1)


def _resize_axis(x, size, axis, interpolation, antialias):
    n = x.shape[axis]
    if n == size:
        return x
    if interpolation == "nearest":
        index = x.backend.xp.asarray(nearest_indices(n, size))
        return getitem(x, (slice(None),) * axis + (index,))
    moved = swapaxes(x, axis, -1)
    resized = matmul(moved, _constant(x, resize_matrix(n, size, antialias)))
    return swapaxes(resized, axis, -1)


def aspect_crop_window(height, width, target_height, target_width):
    """``(top, left, crop_height, crop_width)``: the largest centred window of an image of
    ``height x width`` with the aspect ratio of ``target_height x target_width`` (Keras's
    ``crop_to_aspect_ratio`` rule, integer truncation included)."""
    crop_height = max(min(height, int(float(width * target_height) / target_width)), 1)
    crop_width = max(min(width, int(float(height * target_width) / target_height)), 1)
    top = int(float(height - crop_height) / 2)
    left = int(float(width - crop_width) / 2)
    return top, left, crop_height, crop_width


def crop(images, top, left, height, width, data_format="channels_last"):
    """The window ``[top, top + height) x [left, left + width)`` of every image.

    Args:
        images: 4-D Tensor or array.
        top, left, height, width: ints, the window (inside the images).
        data_format: "channels_last", "channels_first" or None (the configured default).

    Returns:
        Tensor ``(N, height, width, C)`` (or ``(N, C, height, width)``).

    Raises:
        ValueError: an input that is not 4-D, a window that is empty or not inside the
            images, a bad ``data_format``.
    """
    images = _check_images(images, "crop")
    data_format = normalize_data_format(data_format)
    normalize_tuple((top, left), 2, "(top, left)", allow_zero=True)
    normalize_tuple((height, width), 2, "(height, width)")
    h, w = images.shape[1:3] if data_format == "channels_last" else images.shape[2:]
    if top + height > h or left + width > w:
        raise ValueError(f"the window top={top}, left={left}, height={height}, "
                         f"width={width} is not inside images of {h}x{w}")
    window = (slice(top, top + height), slice(left, left + width))
    index = (slice(None),) + window if data_format == "channels_last" else \
        (slice(None), slice(None)) + window
    return getitem(images, index)


def _pad_to_aspect_ratio(x, height, width, fill_value):
    """Keras's ``pad_to_aspect_ratio``: pad the short side on both sides by the same
    number of ``fill_value`` pixels; ``x`` is channels_last."""
    h, w = x.shape[1], x.shape[2]
    top = int(float(max(h, int(float(w * height) / width)) - h) / 2)
    left = int(float(max(w, int(float(h * width) / height)) - w) / 2)
    if top > 0:
        return pad(x, ((0, 0), (top, top), (0, 0), (0, 0)), constant_values=fill_value)
    if left > 0:
        return pad(x, ((0, 0), (0, 0), (left, left), (0, 0)), constant_values=fill_value)
    return x


def resize(images, height, width, interpolation="bilinear", antialias=False,
           crop_to_aspect_ratio=False, pad_to_aspect_ratio=False, fill_value=0.0,
           data_format="channels_last"):
    """Resize a batch of images to ``height x width`` (see the module docstring).

    Args:
        images: 4-D floating Tensor or array.
        height, width: positive ints, the output size.
        interpolation: "bilinear" or "nearest".
        antialias: widen the bilinear kernel when downsampling (ignored by "nearest").
        crop_to_aspect_ratio: first crop the largest centred window with the target's
            aspect ratio (``aspect_crop_window``).
        pad_to_aspect_ratio: first pad the short side with ``fill_value`` instead.
        fill_value: the padding value.
        data_format: "channels_last", "channels_first" or None (the configured default).

    Returns:
        Tensor of the input's dtype, ``(N, height, width, C)`` or ``(N, C, height, width)``.

    Raises:
        ValueError: an unknown ``interpolation``, both aspect-ratio options, an input that
            is not 4-D, a size that is not a positive int, a bad ``data_format``.
    """
    images = _check_images(images, "resize")
    normalize_tuple((height, width), 2, "(height, width)")
    check_choice(interpolation, RESIZE_INTERPOLATIONS, "interpolation")
    data_format = normalize_data_format(data_format)
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("only one of crop_to_aspect_ratio and pad_to_aspect_ratio can "
                         "be True")
    x = channels_last(images, data_format)
    if crop_to_aspect_ratio:
        x = crop(x, *aspect_crop_window(x.shape[1], x.shape[2], height, width))
    elif pad_to_aspect_ratio:
        x = _pad_to_aspect_ratio(x, height, width, fill_value)
    x = _resize_axis(x, height, 1, interpolation, antialias)
    x = _resize_axis(x, width, 2, interpolation, antialias)
    return from_channels_last(x, data_format)


# -- affine transform ----------------------------------------------------------------------
def _source_coordinates(xp, transforms, height, width):
    """``(row, col)``: float64 ``(N, H, W)`` input coordinates of every output pixel."""
    t = [transforms[:, i, None, None] for i in range(8)]
    y = xp.arange(height, dtype=xp.float64)[None, :, None]
    x = xp.arange(width, dtype=xp.float64)[None, None, :]
    k = t[6] * x + t[7] * y + 1.0
    return (t[3] * x + t[4] * y + t[5]) / k, (t[0] * x + t[1] * y + t[2]) / k


def _taps(xp, coordinate, interpolation):
    """``[(index, weight), ...]`` along one axis; weight None for "nearest"."""
    if interpolation == "nearest":
        rounded = xp.sign(coordinate) * xp.floor(xp.abs(coordinate) + 0.5)
        return [(rounded.astype(xp.int64), None)]
    lower = xp.floor(coordinate)
    upper_weight = coordinate - lower
    index = lower.astype(xp.int64)
    return [(index, 1.0 - upper_weight), (index + 1, upper_weight)]


def fill_index(xp, index, size, fill_mode):
    """``(index mapped into [0, size), valid)``; ``valid`` is None except for "constant",
    where it marks the indices inside the image (the others read ``fill_value``)."""
    if fill_mode == "wrap":
        return index % size, None
    if fill_mode == "reflect":
        folded = index % (2 * size)
        return xp.where(folded >= size, 2 * size - 1 - folded, folded), None
    clipped = xp.clip(index, 0, size - 1)
    if fill_mode == "nearest":
        return clipped, None
    return clipped, (index >= 0) & (index < size)


def _gather_plan(xp, row, col, shape, interpolation, fill_mode):
    """Flat row indices into the ``(N*H*W [+ 1], C)`` pixel table and their weights, each
    ``(N, H, W, taps)``; an out-of-range "constant" tap points at the extra fill row."""
    n, height, width = shape
    first = (xp.arange(n, dtype=xp.int64) * (height * width))[:, None, None]
    indices, weights = [], []
    for r, r_weight in _taps(xp, row, interpolation):
        r, r_valid = fill_index(xp, r, height, fill_mode)
        for c, c_weight in _taps(xp, col, interpolation):
            c, c_valid = fill_index(xp, c, width, fill_mode)
            flat = first + r * width + c
            if r_valid is not None:
                flat = xp.where(r_valid & c_valid, flat, n * height * width)
            indices.append(flat)
            weights.append(None if r_weight is None else r_weight * c_weight)
    weights = None if weights[0] is None else xp.stack(weights, axis=-1)
    return xp.stack(indices, axis=-1), weights


def affine_transform(images, transforms, interpolation="bilinear", fill_mode="constant",
                     fill_value=0.0, data_format="channels_last"):
    """Sample every image at its transformed coordinates (see the module docstring).

    Args:
        images: 4-D floating Tensor or array.
        transforms: ``(N, 8)`` or ``(8,)`` numbers ``[a0, a1, a2, b0, b1, b2, c0, c1]``
            (array-like on any backend), mapping output to input coordinates.
        interpolation: "bilinear" or "nearest".
        fill_mode: "reflect", "wrap", "constant" or "nearest".
        fill_value: the value outside the image for "constant".
        data_format: "channels_last", "channels_first" or None (the configured default).

    Returns:
        Tensor of the images' shape and dtype.

    Raises:
        ValueError: an unknown ``interpolation`` or ``fill_mode``, a ``transforms`` of
            the wrong shape, an input that is not 4-D, a bad ``data_format``.
    """
    images = _check_images(images, "affine_transform")
    check_choice(interpolation, INTERPOLATIONS, "interpolation")
    check_choice(fill_mode, FILL_MODES, "fill_mode")
    data_format = normalize_data_format(data_format)
    x = channels_last(images, data_format)
    n, height, width, channels = x.shape
    xp = x.backend.xp
    transforms = xp.asarray(transforms, dtype=xp.float64)
    if transforms.shape not in ((8,), (n, 8)):
        raise ValueError(f"transforms of shape {transforms.shape} must be (8,) or "
                         f"({n}, 8) for {n} images")
    transforms = xp.broadcast_to(transforms.reshape(-1, 8), (n, 8))
    row, col = _source_coordinates(xp, transforms, height, width)
    index, weight = _gather_plan(xp, row, col, (n, height, width), interpolation, fill_mode)
    table = reshape(x, (n * height * width, channels))
    if fill_mode == "constant":
        table = concatenate([table, _constant(x, xp.full((1, channels), fill_value))])
    pixels = getitem(table, index)                       # (N, H, W, taps, C)
    if weight is None:
        out = reshape(pixels, x.shape)
    else:
        out = _sum(mul(pixels, _constant(x, weight[..., None])), axis=3)
    return from_channels_last(out, data_format)
