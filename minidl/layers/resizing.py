"""Image resizing and cropping layers with Keras 3's arguments and configs: ``Resizing``
and ``CenterCrop``, plus ``_ImageLayer``, the base of every image preprocessing and
augmentation layer (``minidl.layers.augmentation``).

Images are 4-D ``(N, H, W, C)`` ("channels_last") or ``(N, C, H, W)``
("channels_first"), or one image of rank 3; integer images are cast to the layer's
float dtype first. The geometry is in ``minidl.ops.image``.

>>> import numpy as np, minidl as mdl
>>> x = np.arange(16.0).reshape(1, 4, 4, 1)
>>> mdl.layers.CenterCrop(2, 2)(x).numpy()[0, :, :, 0].tolist()
[[5.0, 6.0], [9.0, 10.0]]
>>> mdl.layers.Resizing(2, 2)(x).numpy()[0, :, :, 0].tolist()
[[2.5, 4.5], [10.5, 12.5]]
"""
from ..ops import conv_utils
from ..ops.image import RESIZE_INTERPOLATIONS, check_choice, crop, resize
from ..ops.math import cast
from ..ops.shape import expand_dims, squeeze
from .base import Layer
from .core import positive_int

__all__ = ["Resizing", "CenterCrop"]


class _ImageLayer(Layer):
    """Base of the image layers: ``data_format``, 3-D or 4-D inputs, float casting.

    Subclasses implement ``transform(images, training)`` on a 4-D batch in the layer's
    dtype; ``call`` adds and removes the batch axis of a single image.
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = conv_utils.normalize_data_format(data_format)

    def image_size(self, shape):
        """``(height, width)`` of an image or batch of ``shape``."""
        if self.data_format == "channels_first":
            return shape[-2], shape[-1]
        return shape[-3], shape[-2]

    def call(self, inputs, training=None):
        if inputs.ndim not in (3, 4):
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) expects images "
                             f"of rank 3 or a batch of rank 4, got shape {inputs.shape}")
        x = inputs if inputs.dtype == self.dtype else cast(inputs, self.dtype)
        if x.ndim == 4:
            return self.transform(x, training)
        return squeeze(self.transform(expand_dims(x, 0), training), 0)

    def transform(self, images, training):
        return images

    def resized_shape(self, input_shape, height, width):
        """``input_shape`` with its height and width replaced."""
        shape = list(input_shape)
        h_axis = len(shape) - (2 if self.data_format == "channels_first" else 3)
        shape[h_axis], shape[h_axis + 1] = height, width
        return tuple(shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


class Resizing(_ImageLayer):
    """Resize images to ``height x width``, in training and inference.

    Output pixel ``o`` along an axis of ``n`` input pixels sits at
    ``(o + 0.5) * n / size - 0.5`` in the input (half-pixel centres); "bilinear" mixes
    the two nearest input pixels, "nearest" takes ``floor((o + 0.5) * n / size)``
    (JAX's ``jax.image.resize``, which Keras calls).

    Args:
        height, width: positive ints, the output size.
        interpolation: "bilinear" (default) or "nearest".
        crop_to_aspect_ratio: first crop the largest centred window with the output's
            aspect ratio, so nothing is distorted.
        pad_to_aspect_ratio: first pad the short side evenly with ``fill_value``.
        fill_mode: "constant" (the only mode, as in Keras).
        fill_value: float, the padding value.
        antialias: widen the bilinear kernel when downsampling.
        data_format: "channels_last", "channels_first" or None (the configured default).
        **kwargs: base Layer arguments.

    Input shape:
        ``(N, H, W, C)``, ``(N, C, H, W)`` or one image of rank 3.

    Output shape:
        The same with ``H, W`` replaced by ``height, width``.

    Raises:
        ValueError: a size that is not a positive int, an unknown ``interpolation`` or
            ``fill_mode``, both aspect-ratio options.

    Example:
        >>> import numpy as np, minidl as mdl
        >>> mdl.layers.Resizing(4, 6)(np.zeros((2, 8, 8, 3))).shape
        (2, 4, 6, 3)
    """

    def __init__(self, height: int, width: int, interpolation: str = "bilinear",
                 crop_to_aspect_ratio: bool = False, pad_to_aspect_ratio: bool = False,
                 fill_mode: str = "constant", fill_value: float = 0.0,
                 antialias: bool = False, data_format: str | None = None, **kwargs) -> None:
        super().__init__(data_format=data_format, **kwargs)
        self.height = positive_int(height, "height")
        self.width = positive_int(width, "width")
        if fill_mode != "constant":
            raise ValueError(f"fill_mode={fill_mode!r}: only 'constant' is supported")
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError("only one of crop_to_aspect_ratio and pad_to_aspect_ratio can "
                             "be True")
        self.interpolation = check_choice(interpolation, RESIZE_INTERPOLATIONS,
                                          "interpolation")
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self.fill_mode, self.fill_value = fill_mode, float(fill_value)
        self.antialias = bool(antialias)

    def transform(self, images, training):
        return resize(images, self.height, self.width, self.interpolation, self.antialias,
                      self.crop_to_aspect_ratio, self.pad_to_aspect_ratio, self.fill_value,
                      self.data_format)

    def compute_output_shape(self, input_shape):
        return self.resized_shape(input_shape, self.height, self.width)

    def get_config(self):
        config = super().get_config()
        config.update({"height": self.height, "width": self.width,
                       "interpolation": self.interpolation,
                       "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                       "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
                       "fill_mode": self.fill_mode, "fill_value": self.fill_value,
                       "antialias": self.antialias})
        return config


class CenterCrop(_ImageLayer):
    """Crop the central ``height x width`` window, in training and inference: rows from
    ``(H - height) // 2`` and columns from ``(W - width) // 2``. An image smaller than
    the window on either side is instead cropped to the target's aspect ratio and resized
    (bilinear), as Keras does.

    Args:
        height, width: positive ints, the output size.
        data_format: "channels_last", "channels_first" or None (the configured default).
        **kwargs: base Layer arguments.

    Input shape:
        ``(N, H, W, C)``, ``(N, C, H, W)`` or one image of rank 3.

    Output shape:
        The same with ``H, W`` replaced by ``height, width``.

    Raises:
        ValueError: a size that is not a positive int.
    """

    def __init__(self, height: int, width: int, data_format: str | None = None,
                 **kwargs) -> None:
        super().__init__(data_format=data_format, **kwargs)
        self.height = positive_int(height, "height")
        self.width = positive_int(width, "width")

    def transform(self, images, training):
        h, w = self.image_size(images.shape)
        if h >= self.height and w >= self.width:
            return crop(images, (h - self.height) // 2, (w - self.width) // 2,
                        self.height, self.width, self.data_format)
        return resize(images, self.height, self.width, crop_to_aspect_ratio=True,
                      data_format=self.data_format)

    def compute_output_shape(self, input_shape):
        return self.resized_shape(input_shape, self.height, self.width)

    def get_config(self):
        config = super().get_config()
        config.update({"height": self.height, "width": self.width})
        return config
