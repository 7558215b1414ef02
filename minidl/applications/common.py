"""Pieces the application builders share: argument checks, the input tensor, width
rounding, the padding before a strided convolution, the pooled head and the weights file.

>>> make_divisible(32 * 0.35, 8), make_divisible(100, 8)
(16, 104)
>>> import minidl as mdl
>>> correct_pad(mdl.Input(shape=(32, 32, 24)), 3)
((0, 1), (0, 1))
"""
import numbers
import os
import warnings

from .. import config
from ..layers import GlobalAveragePooling2D, GlobalMaxPooling2D, Input
from ..layers.node import KerasTensor, node_of

__all__ = ["make_divisible", "correct_pad", "channel_axis", "image_input", "image_rows",
           "check_weights", "check_pooling", "check_classes", "check_alpha",
           "checked_input", "pooled",
           "load_weights_file"]


def make_divisible(value, divisor=8, min_value=None):
    """``value`` rounded to the nearest multiple of ``divisor`` (at least ``min_value``,
    default ``divisor``), one step up when rounding down would lose more than 10 %."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def channel_axis():
    """The channel axis of an image batch: -1 (channels_last) or 1 (channels_first)."""
    return 1 if config.image_data_format() == "channels_first" else -1


def _spatial(shape):
    """``(rows, cols)`` of an image shape without the batch axis."""
    return (shape[1], shape[2]) if config.image_data_format() == "channels_first" else (
        shape[0], shape[1])


def correct_pad(inputs, kernel_size):
    """ZeroPadding2D's ``((top, bottom), (left, right))`` that makes a stride-2 "valid"
    convolution of size ``kernel_size`` on ``inputs`` centre its taps as TensorFlow's
    "same" does: ``k // 2`` on each side, one less at the top (left) for an even size.

    Args:
        inputs: a symbolic image batch.
        kernel_size: an int or a pair of ints.
    """
    rows, cols = _spatial(inputs.shape[1:])
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    adjust = (1, 1) if rows is None else (1 - rows % 2, 1 - cols % 2)
    return ((kh // 2 - adjust[0], kh // 2), (kw // 2 - adjust[1], kw // 2))


def _checked_shape(input_shape, min_size):
    """``input_shape`` as a tuple of 3 (channels checked, sizes at least ``min_size``)."""
    if isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__len__") or len(
            input_shape) != 3:
        raise ValueError(f"input_shape={input_shape!r} must be a tuple of three integers, "
                         "e.g. (224, 224, 3)")
    shape = tuple(None if n is None else int(n) for n in input_shape)
    channels = shape[0] if config.image_data_format() == "channels_first" else shape[-1]
    if channels not in (1, 3):
        warnings.warn("This model usually expects 1 or 3 input channels; input_shape="
                      f"{shape} has {channels}.", stacklevel=3)
    if any(n is not None and n < min_size for n in _spatial(shape)):
        raise ValueError(f"Input size must be at least {min_size}x{min_size}; got "
                         f"input_shape={shape}")
    return shape


def image_input(input_shape, input_tensor, default_size, min_size=32,
                require_flatten=True):
    """The model's image input and the tensors to build the model from.

    Args:
        input_shape: the image shape without the batch axis, or None: ``default_size``
            square with 3 channels when ``require_flatten`` (a classifier head that needs
            a fixed size), else any size with 3 channels.
        input_tensor: a symbolic tensor to build on instead of a new ``Input``; the model
            then starts from the inputs it was computed from.
        default_size: the side of the default square image.
        min_size: the smallest side accepted.
        require_flatten: whether every size of the shape must be known.

    Returns:
        ``(image, inputs)``: the symbolic image batch and the model's inputs.

    Raises:
        ValueError: a shape that is not 3 ints, a side under ``min_size``, an unknown
            size where ``require_flatten``, an ``input_tensor`` that is not symbolic or
            disagrees with ``input_shape``.
    """
    if input_tensor is not None and not isinstance(input_tensor, KerasTensor):
        raise ValueError(f"input_tensor must be a symbolic tensor (from minidl.Input or a "
                         f"layer called on one), got {type(input_tensor).__name__}")
    if input_tensor is not None and input_shape is not None and tuple(
            input_shape) != tuple(input_tensor.shape[1:]):
        raise ValueError(f"input_shape={tuple(input_shape)} does not match the shape "
                         f"{input_tensor.shape} of input_tensor")
    if input_shape is None and input_tensor is not None:
        input_shape = input_tensor.shape[1:]
    if input_shape is None:
        side = default_size if require_flatten else None
        first = config.image_data_format() == "channels_first"
        input_shape = (3, side, side) if first else (side, side, 3)
    shape = _checked_shape(input_shape, min_size)
    if require_flatten and None in shape:
        raise ValueError(f"With include_top=True the input shape must be fixed; got "
                         f"input_shape={shape}")
    if input_tensor is None:
        image = Input(shape=shape)
        return image, image
    return input_tensor, _source_inputs(input_tensor)


def _source_inputs(tensor):
    """The ``Input`` tensors that ``tensor`` is computed from (one, or a list)."""
    found, seen, stack = [], set(), [node_of(tensor)]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.is_input:
            found.extend(node.outputs)
        stack.extend(node.parent_nodes)
    return found[0] if len(found) == 1 else found


def image_rows(shape):
    """The number of rows of an image shape without the batch axis (None: any)."""
    return _spatial(shape)[0]


def check_weights(weights):
    """None, or the path of an existing weights file (minidl never downloads).

    Raises:
        ValueError: any other string, e.g. ``"imagenet"``, or a missing file.
        TypeError: neither None nor a path.
    """
    if weights is None:
        return
    if isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights):
        return
    if isinstance(weights, (str, os.PathLike)):
        raise ValueError(f"weights={weights!r}: minidl never downloads weights; give None "
                         "(random initialization) or the path of an existing weights file "
                         "(from model.save_weights or model.save)")
    raise TypeError(f"weights={weights!r} must be None or the path of a weights file")


def check_pooling(pooling):
    """``pooling`` is None, "avg" or "max" (used only without the top)."""
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling={pooling!r} must be None, 'avg' or 'max'")


def check_classes(classes):
    """``classes`` is a positive int."""
    if isinstance(classes, bool) or not isinstance(classes, numbers.Integral) or \
            classes < 1:
        raise ValueError(f"classes={classes!r} must be a positive int")


def check_alpha(alpha):
    """``alpha`` (a width multiplier) is a positive real number."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not alpha > 0:
        raise ValueError(f"alpha={alpha!r} must be a positive number (the width "
                         "multiplier)")


def checked_input(weights, pooling, classes, input_shape, input_tensor, default_size,
                  require_flatten):
    """Check the arguments every builder takes, then return ``image_input``'s
    ``(image, inputs)``.

    Raises:
        ValueError: as ``check_weights``, ``check_pooling``, ``check_classes`` and
            ``image_input`` do.
        TypeError: as ``check_weights`` does.
    """
    check_weights(weights)
    check_pooling(pooling)
    check_classes(classes)
    return image_input(input_shape, input_tensor, default_size,
                       require_flatten=require_flatten)


def pooled(x, pooling, avg_name=None, max_name=None):
    """``x`` after the global pooling that ``pooling`` names ("avg", "max" or None)."""
    if pooling == "avg":
        return GlobalAveragePooling2D(name=avg_name)(x)
    if pooling == "max":
        return GlobalMaxPooling2D(name=max_name)(x)
    return x


def load_weights_file(model, weights):
    """Load ``weights`` (a file path) into ``model``; None leaves it as initialized."""
    if weights is not None:
        model.load_weights(weights)
    return model
