"""Random image augmentation layers with Keras 3's arguments, defaults and configs:
``RandomFlip``, ``RandomTranslation``, ``RandomRotation``, ``RandomZoom``, ``RandomCrop``,
``RandomContrast`` and ``RandomBrightness``.

Each is active only when called with ``training=True`` (as inside ``fit``); otherwise it
returns its input cast to the layer's float dtype, except ``RandomCrop``, which must
give its output size and so takes the centred window at inference.
Each image of a batch gets its own random parameters (``RandomCrop``: one window per
batch, as Keras).

Randomness: with ``seed=None`` a layer draws from ``minidl.random.generator(backend)``
(reproducible after ``minidl.random.seed``); with an int seed it owns a generator seeded
with it. Translation, rotation and zoom are affine transforms sampled by
``minidl.ops.image.affine_transform``, with Keras's matrices: the rotation and zoom keep
the pixel ``((W - 1) / 2, (H - 1) / 2)`` fixed.

>>> import numpy as np, minidl as mdl
>>> x = np.arange(4.0).reshape(1, 1, 4, 1)
>>> flip = mdl.layers.RandomFlip("horizontal", seed=0)
>>> flip(x).numpy().ravel().tolist()                       # inference: unchanged
[0.0, 1.0, 2.0, 3.0]
>>> shift = mdl.layers.RandomTranslation(0, (0.25, 0.25), fill_mode="constant")
>>> shift(x, training=True).numpy().ravel().tolist()       # one pixel to the right
[0.0, 0.0, 1.0, 2.0]
"""
import math
import numbers

from .. import backend as _backend
from .. import random as _random
from ..autograd import Tensor
from ..ops.image import (
    FILL_MODES,
    INTERPOLATIONS,
    affine_transform,
    aspect_crop_window,
    check_choice,
    crop,
    resize,
)
from ..ops.math import clip, where
from ..ops.reduction import mean
from ..ops.shape import getitem
from .core import positive_int
from .regularization import _RandomLayer
from .resizing import _ImageLayer

__all__ = ["RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom",
           "RandomCrop", "RandomContrast", "RandomBrightness"]

HORIZONTAL, VERTICAL = "horizontal", "vertical"
HORIZONTAL_AND_VERTICAL = "horizontal_and_vertical"


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and \
        math.isfinite(value)


def _factor_range(factor, name, low, high, open_low=False):
    """``(lower, upper)`` from a number ``f`` (``(max(-|f|, low), |f|)``) or a pair
    (sorted), every number within ``[low, high]`` (``(low, high]`` with ``open_low``)."""
    pair = tuple(factor) if isinstance(factor, (tuple, list)) else None
    values = pair if pair is not None else (factor,)
    inside = all(_is_number(v) and (v > low if open_low else v >= low) and v <= high
                 for v in values)
    if not inside or (pair is not None and len(pair) != 2):
        interval = f"{'(' if open_low else '['}{low}, {high}]"
        raise ValueError(f"{name}={factor!r} must be a number or a pair of numbers in "
                         f"{interval}")
    if pair is not None:
        return tuple(sorted(float(v) for v in pair))
    return max(-abs(float(factor)), low), abs(float(factor))


def _as_config(factor):
    """A factor as given (a list becomes a tuple, so configs round-trip)."""
    return tuple(factor) if isinstance(factor, (tuple, list)) else factor


def _check_value_range(value_range):
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2 or \
            not all(_is_number(v) for v in value_range):
        raise ValueError(f"value_range={value_range!r} must be a pair of numbers "
                         "[low, high]")
    return value_range


class _Augmentation(_RandomLayer, _ImageLayer):
    """An image layer that draws random numbers (``seed``, ``data_format``)."""

    def uniform(self, backend, lower, upper, shape):
        """Float64 draws in ``[lower, upper)`` on ``backend`` (this layer's generator, or
        the backend's global one)."""
        generator = self._generator(backend)
        if generator is None:
            generator = _random.generator(backend)
        return lower + (upper - lower) * generator.random(shape, dtype=backend.xp.float64)

    def get_config(self):
        config = super().get_config()
        config["seed"] = self.seed
        return config


class _AffineAugmentation(_Augmentation):
    """Translation, rotation and zoom: a random affine transform per image.

    Args (shared by the three layers, after their factors):
        fill_mode: "reflect" (default), "wrap", "constant" or "nearest".
        interpolation: "bilinear" (default) or "nearest".
        seed: None or an int (see the module docstring).
        fill_value: the value outside the image for "constant".
        data_format: "channels_last", "channels_first" or None (the configured default).
        **kwargs: base Layer arguments.

    Input shape:
        ``(N, H, W, C)``, ``(N, C, H, W)`` or one image of rank 3. Output shape: the same.
    """

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.fill_mode = check_choice(fill_mode, FILL_MODES, "fill_mode")
        self.interpolation = check_choice(interpolation, INTERPOLATIONS, "interpolation")
        if not _is_number(fill_value):
            raise ValueError(f"fill_value={fill_value!r} must be a number")
        self.fill_value = fill_value

    def transform(self, images, training):
        if not training:
            return images
        height, width = self.image_size(images.shape)
        matrices = self.matrices(images.backend, images.shape[0], height, width)
        return affine_transform(images, matrices, self.interpolation, self.fill_mode,
                                self.fill_value, self.data_format)

    @staticmethod
    def stack(xp, a0, a1, a2, b0, b1, b2):
        """``(N, 8)`` transforms ``[a0, a1, a2, b0, b1, b2, 0, 0]`` from ``(N,)`` arrays."""
        zeros = xp.zeros_like(a2)
        return xp.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)

    def get_config(self):
        config = super().get_config()
        config.update({"fill_mode": self.fill_mode, "interpolation": self.interpolation,
                       "fill_value": self.fill_value})
        return config


class RandomFlip(_Augmentation):
    """Flip each image left-right and/or top-bottom with probability 1/2 in training.

    With "horizontal_and_vertical" an image is flipped both ways or not at all (one draw
    per image, as Keras).

    Args:
        mode: "horizontal", "vertical" or "horizontal_and_vertical" (default).
        seed: None or an int (see the module docstring).
        data_format: "channels_last", "channels_first" or None (the configured default).
        **kwargs: base Layer arguments.

    Input shape:
        ``(N, H, W, C)``, ``(N, C, H, W)`` or one image of rank 3. Output shape: the same.

    Raises:
        ValueError: an unknown ``mode``, a bad ``seed`` or ``data_format``.
    """

    def __init__(self, mode: str = HORIZONTAL_AND_VERTICAL, seed: int | None = None,
                 data_format: str | None = None, **kwargs) -> None:
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.mode = check_choice(mode, (HORIZONTAL, VERTICAL, HORIZONTAL_AND_VERTICAL),
                                  "mode")

    def transform(self, images, training):
        if not training:
            return images
        flips = self.uniform(images.backend, 0.0, 1.0, (images.shape[0], 1, 1, 1)) <= 0.5
        h_axis = 2 if self.data_format == "channels_first" else 1
        index = [slice(None)] * 4
        if self.mode != VERTICAL:
            index[h_axis + 1] = slice(None, None, -1)
        if self.mode != HORIZONTAL:
            index[h_axis] = slice(None, None, -1)
        return where(flips, getitem(images, tuple(index)), images)

    def get_config(self):
        config = super().get_config()
        config["mode"] = self.mode
        return config


class RandomTranslation(_AffineAugmentation):
    """Shift each image by a random fraction of its size in training; output pixel
    ``(y, x)`` reads the input at ``(y - dy, x - dx)`` with ``dy = u * H``, ``u`` uniform
    in the ``height_factor`` range (``dx`` likewise), filled by ``fill_mode``.

    Args:
        height_factor: number ``f`` in [-1, 1] (the range ``[-|f|, |f|]``) or a pair
            ``(lower, upper)``; positive shifts down.
        width_factor: likewise for the width; positive shifts right.
        fill_mode, interpolation, seed, fill_value, data_format, ``**kwargs``: as
            ``_AffineAugmentation`` (above), which also gives the input shape; the output
            has the same shape.

    Raises:
        ValueError: a factor outside [-1, 1], an unknown ``fill_mode`` or
            ``interpolation``.
    """

    def __init__(self, height_factor: float | tuple, width_factor: float | tuple,
                 fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: int | None = None, fill_value: float = 0.0,
                 data_format: str | None = None, **kwargs) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor = _as_config(height_factor)
        self.width_factor = _as_config(width_factor)
        self.height_range = _factor_range(height_factor, "height_factor", -1.0, 1.0)
        self.width_range = _factor_range(width_factor, "width_factor", -1.0, 1.0)

    def matrices(self, backend, n, height, width):
        dy = self.uniform(backend, *self.height_range, (n,)) * height
        dx = self.uniform(backend, *self.width_range, (n,)) * width
        ones, zeros = backend.xp.ones(n), backend.xp.zeros(n)
        return self.stack(backend.xp, ones, zeros, -dx, zeros, ones, -dy)

    def get_config(self):
        config = super().get_config()
        config.update({"height_factor": self.height_factor,
                       "width_factor": self.width_factor})
        return config


class RandomRotation(_AffineAugmentation):
    """Rotate each image about its centre by a random angle in training: ``factor`` is a
    fraction of a full turn, the angle ``360 * u`` degrees with ``u`` uniform in the factor
    range; positive turns counter-clockwise. Output pixel ``(y, x)`` reads the input at
    ``x' = cx + cos(a) (x - cx) - sin(a) (y - cy)``,
    ``y' = cy + sin(a) (x - cx) + cos(a) (y - cy)``, ``cx = (W - 1) / 2``,
    ``cy = (H - 1) / 2``.

    Args:
        factor: number ``f`` in [-1, 1] (the range ``[-|f|, |f|]``) or a pair
            ``(lower, upper)``.
        fill_mode, interpolation, seed, fill_value, data_format, ``**kwargs``: as
            ``_AffineAugmentation`` (above), which also gives the input shape; the output
            has the same shape.

    Raises:
        ValueError: a factor outside [-1, 1], an unknown ``fill_mode`` or
            ``interpolation``.
    """

    def __init__(self, factor: float | tuple, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed: int | None = None,
                 fill_value: float = 0.0, data_format: str | None = None, **kwargs) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.factor = _factor_range(factor, "factor", -1.0, 1.0)

    def matrices(self, backend, n, height, width):
        xp = backend.xp
        angle = self.uniform(backend, self.factor[0] * 360.0, self.factor[1] * 360.0, (n,))
        cos, sin = xp.cos(angle * (math.pi / 180.0)), xp.sin(angle * (math.pi / 180.0))
        cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
        return self.stack(xp, cos, -sin, cx - cx * cos + cy * sin,
                          sin, cos, cy - cx * sin - cy * cos)

    def get_config(self):
        config = super().get_config()
        config["factor"] = self.factor
        return config


class RandomZoom(_AffineAugmentation):
    """Zoom each image about its centre by a random factor in training: output pixel
    ``(y, x)`` reads the input at ``x' = cx + zx (x - cx)``, ``y' = cy + zy (y - cy)``
    with ``zy = 1 + u``, ``u`` uniform in the ``height_factor`` range (``zx`` from
    ``width_factor``, or ``zx = zy`` when it is None). A positive factor zooms out.

    Args:
        height_factor: number ``f`` in (-1, 1] (the range ``[-|f|, |f|]``) or a pair.
        width_factor: likewise, or None (default) to keep the aspect ratio.
        fill_mode, interpolation, seed, fill_value, data_format, ``**kwargs``: as
            ``_AffineAugmentation`` (above), which also gives the input shape; the output
            has the same shape.

    Raises:
        ValueError: a factor outside (-1, 1], an unknown ``fill_mode`` or
            ``interpolation``.
    """

    def __init__(self, height_factor: float | tuple,
                 width_factor: float | tuple | None = None, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed: int | None = None,
                 fill_value: float = 0.0, data_format: str | None = None, **kwargs) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor = _as_config(height_factor)
        self.width_factor = _as_config(width_factor)
        self.height_range = _factor_range(height_factor, "height_factor", -1.0, 1.0, True)
        self.width_range = None if width_factor is None else \
            _factor_range(width_factor, "width_factor", -1.0, 1.0, True)

    def matrices(self, backend, n, height, width):
        zy = 1.0 + self.uniform(backend, *self.height_range, (n,))
        zx = zy if self.width_range is None else \
            1.0 + self.uniform(backend, *self.width_range, (n,))
        zeros = backend.xp.zeros(n)
        return self.stack(backend.xp, zx, zeros, 0.5 * (width - 1) * (1.0 - zx),
                          zeros, zy, 0.5 * (height - 1) * (1.0 - zy))

    def get_config(self):
        config = super().get_config()
        config.update({"height_factor": self.height_factor,
                       "width_factor": self.width_factor})
        return config


class RandomCrop(_Augmentation):
    """Crop a random ``height x width`` window in training (one window for the whole
    batch, its corner uniform over the valid positions). At inference the largest centred
    window with the target's aspect ratio is resized (bilinear) to ``height x width``, as
    Keras documents, so the output always has the size ``compute_output_shape`` gives
    (Keras 3.15 returns the input unchanged). In training, an input not larger than the
    window on both sides is cut at that window's corner to at most ``height x width`` and
    resized (Keras's rule).

    Args:
        height, width: positive ints, the output size.
        seed: None or an int (see the module docstring); the window is drawn on the host.
        data_format: "channels_last", "channels_first" or None (the configured default).
        **kwargs: base Layer arguments.

    Input shape:
        ``(N, H, W, C)``, ``(N, C, H, W)`` or one image of rank 3.

    Output shape:
        The same with ``H, W`` replaced by ``height, width``.

    Raises:
        ValueError: a size that is not a positive int, a bad ``seed``.
    """

    def __init__(self, height: int, width: int, seed: int | None = None,
                 data_format: str | None = None, **kwargs) -> None:
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.height = positive_int(height, "height")
        self.width = positive_int(width, "width")

    def transform(self, images, training):
        if not training:
            return resize(images, self.height, self.width, crop_to_aspect_ratio=True,
                          data_format=self.data_format)
        h, w = self.image_size(images.shape)
        if h > self.height and w > self.width:
            draw = self.uniform(_backend.resolve("numpy"), 0.0, 1.0, (2,))
            top = int(draw[0] * (h - self.height + 1))
            left = int(draw[1] * (w - self.width + 1))
            return crop(images, top, left, self.height, self.width, self.data_format)
        top, left, _, _ = aspect_crop_window(h, w, self.height, self.width)
        window = crop(images, top, left, min(self.height, h - top),
                      min(self.width, w - left), self.data_format)
        return resize(window, self.height, self.width, data_format=self.data_format)

    def compute_output_shape(self, input_shape):
        return self.resized_shape(input_shape, self.height, self.width)

    def get_config(self):
        config = super().get_config()
        config.update({"height": self.height, "width": self.width})
        return config


class RandomContrast(_Augmentation):
    """Scale each image's deviation from its per-channel mean by a random factor in
    training: ``out = clip((x - m) * c + m, *value_range)``, ``m`` the mean over height and
    width, ``c`` uniform in ``[1 - lower, 1 + upper]`` per image.

    Args:
        factor: number ``f`` in [0, 1] (Keras's rule gives ``lower, upper = 0, f``) or a
            pair ``(lower, upper)`` in [0, 1].
        value_range: ``(low, high)``, the range the output is clipped to ((0, 255)).
        seed: None or an int (see the module docstring).
        **kwargs: base Layer arguments (and ``data_format``).

    Input shape:
        ``(N, H, W, C)``, ``(N, C, H, W)`` or one image of rank 3. Output shape: the same.

    Raises:
        ValueError: a factor outside [0, 1], a ``value_range`` that is not two numbers.
    """

    def __init__(self, factor: float | tuple, value_range: tuple | list = (0, 255),
                 seed: int | None = None, **kwargs) -> None:
        super().__init__(seed=seed, **kwargs)
        self.factor = _factor_range(factor, "factor", 0.0, 1.0)
        self.value_range = tuple(_check_value_range(value_range))

    def transform(self, images, training):
        if not training:
            return images
        h_axis = 2 if self.data_format == "channels_first" else 1
        draw = self.uniform(images.backend, 1.0 - self.factor[0], 1.0 + self.factor[1],
                            (images.shape[0], 1, 1, 1))
        contrast = Tensor._wrap(draw.astype(images.dtype))
        means = mean(images, axis=(h_axis, h_axis + 1), keepdims=True)
        return clip((images - means) * contrast + means, *self.value_range)

    def get_config(self):
        config = super().get_config()
        config.update({"factor": self.factor, "value_range": self.value_range})
        return config


class RandomBrightness(_Augmentation):
    """Add a random brightness offset to each image in training:
    ``out = clip(x + u * (high - low), low, high)`` with ``(low, high) = value_range`` and
    ``u`` uniform in the factor range, one per image.

    Args:
        factor: number ``f`` in [-1, 1] (the range ``[-|f|, |f|]``) or a pair
            ``(lower, upper)`` in [-1, 1]; -1 makes an image black, 1 white.
        value_range: ``(low, high)`` of the input values ([0, 255]; sorted).
        seed: None or an int (see the module docstring).
        **kwargs: base Layer arguments (and ``data_format``).

    Input shape:
        ``(N, H, W, C)``, ``(N, C, H, W)`` or one image of rank 3. Output shape: the same.

    Raises:
        ValueError: a factor outside [-1, 1], a ``value_range`` that is not two numbers.
    """

    def __init__(self, factor: float | tuple, value_range: tuple | list = (0, 255),
                 seed: int | None = None, **kwargs) -> None:
        super().__init__(seed=seed, **kwargs)
        self.factor = _factor_range(factor, "factor", -1.0, 1.0)
        self.value_range = sorted(_check_value_range(value_range))

    def transform(self, images, training):
        if not training:
            return images
        low, high = self.value_range
        draw = self.uniform(images.backend, *self.factor, (images.shape[0], 1, 1, 1))
        delta = Tensor._wrap((draw * (high - low)).astype(images.dtype))
        return clip(images + delta, low, high)

    def get_config(self):
        config = super().get_config()
        config.update({"factor": self.factor, "value_range": self.value_range})
        return config
