"""Argument normalization and output-size arithmetic shared by every convolution and
pooling op and layer, so each rule (and its error message) exists once.

>>> normalize_tuple(3, 2, "kernel_size")
(3, 3)
>>> same_padding(5, 3, 2, 1)    # n, k, s, d -> (before, after), TensorFlow's rule
(1, 1)
>>> same_padding(6, 2, 2, 1)
(0, 0)
>>> same_padding(4, 2, 1, 1)    # the extra pixel goes after (bottom/right)
(0, 1)
"""
from .. import config
from .shape import transpose

__all__ = ["normalize_tuple", "normalize_padding", "normalize_data_format",
           "check_strides_dilation", "output_length", "output_shape", "same_padding",
           "padding_amounts", "normalize_arguments", "channels_last", "from_channels_last"]


def normalize_tuple(value, n, name, allow_zero=False):
    """An int or a sequence of ``n`` ints as a tuple of ``n`` positive ints."""
    if isinstance(value, bool):
        raise ValueError(f"{name}={value!r} must be an int or a tuple of {n} ints")
    if isinstance(value, int):
        values = (value,) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise ValueError(f"{name}={value!r} must be an int or a tuple of {n} "
                             "ints") from None
        if len(values) != n or not all(isinstance(v, int) and not isinstance(v, bool)
                                        for v in values):
            raise ValueError(f"{name}={value!r} must be an int or a tuple of {n} ints")
    lowest = 0 if allow_zero else 1
    if any(v < lowest for v in values):
        raise ValueError(f"{name}={value!r} must be {'>= 0' if allow_zero else 'positive'}")
    return values


def normalize_padding(value):
    """``"valid"`` or ``"same"``, case-insensitive."""
    if not isinstance(value, str) or value.lower() not in ("valid", "same"):
        raise ValueError(f"padding={value!r} must be 'valid' or 'same'")
    return value.lower()


def normalize_data_format(value):
    """``"channels_last"`` or ``"channels_first"``; None means the configured default."""
    if value is None:
        return config.image_data_format()
    if not isinstance(value, str) or \
            value.lower() not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format={value!r} must be 'channels_last' or "
                         "'channels_first'")
    return value.lower()


def normalize_arguments(rank, strides, padding, dilation_rate, data_format):
    """``(strides, padding, dilation_rate, data_format)`` of a ``rank``-D convolution,
    each normalized and checked."""
    strides = normalize_tuple(strides, rank, "strides")
    dilation_rate = normalize_tuple(dilation_rate, rank, "dilation_rate")
    check_strides_dilation(strides, dilation_rate)
    return (strides, normalize_padding(padding), dilation_rate,
            normalize_data_format(data_format))


def channels_last(x, data_format):
    """``x`` of any rank as ``(N, *spatial, C)`` (a transpose for "channels_first")."""
    if data_format != "channels_first":
        return x
    return transpose(x, (0,) + tuple(range(2, x.ndim)) + (1,))


def from_channels_last(y, data_format):
    """The inverse of ``channels_last``: ``(N, *spatial, C)`` back to ``data_format``."""
    if data_format != "channels_first":
        return y
    return transpose(y, (0, y.ndim - 1) + tuple(range(1, y.ndim - 1)))


def check_strides_dilation(strides, dilation_rate):
    """Any stride > 1 together with any dilation > 1 is rejected (TensorFlow's rule)."""
    if any(s > 1 for s in strides) and any(d > 1 for d in dilation_rate):
        raise ValueError(f"strides={strides} with dilation_rate={dilation_rate}: a stride "
                         "> 1 cannot be combined with a dilation rate > 1")


def output_length(n, k, s, d, padding):
    """Output size along one axis: ``ceil(n / s)`` for "same", else
    ``floor((n - (k - 1) d - 1) / s) + 1``."""
    if padding == "same":
        return -(-n // s)
    return (n - (k - 1) * d - 1) // s + 1


def output_shape(shape, spatial_axes, kernel_size, strides, dilation_rate, padding,
                 where="input", kernel_name="kernel_size"):
    """``shape`` (a list) with each known size on ``spatial_axes`` replaced by its output
    size (``output_length``); ``dilation_rate`` None means 1 (pooling). A size <= 0 or an
    empty output is a ValueError naming ``where`` and ``kernel_name``."""
    dilated = dilation_rate is not None
    dilation_rate = dilation_rate if dilated else (1,) * len(kernel_size)
    out = list(shape)
    for axis, k, s, d in zip(spatial_axes, kernel_size, strides, dilation_rate):
        n = shape[axis]
        if n is None:
            continue
        length = output_length(n, k, s, d, padding)
        if n <= 0 or length <= 0:
            with_dilation = f" with dilation_rate={tuple(dilation_rate)}" if dilated else ""
            raise ValueError(f"{where}: input shape {tuple(shape)} is too small for "
                             f"{kernel_name}={tuple(kernel_size)}{with_dilation} and "
                             f"padding={padding!r} (the output would be empty)")
        out[axis] = length
    return out


def same_padding(n, k, s, d):
    """(before, after) for "same": total ``max((ceil(n/s) - 1) s + (k - 1) d + 1 - n, 0)``,
    the extra pixel after."""
    total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def padding_amounts(sizes, kernel_size, strides, dilation_rate, padding, name="input"):
    """Per spatial axis ``(out, before, after)``; a non-positive output is a ValueError."""
    result = []
    for n, k, s, d in zip(sizes, kernel_size, strides, dilation_rate):
        out = output_length(n, k, s, d, padding)
        if out <= 0:
            raise ValueError(f"{name} spatial shape {tuple(sizes)} is too small for "
                             f"kernel_size={tuple(kernel_size)} with "
                             f"dilation_rate={tuple(dilation_rate)} and padding='valid' "
                             "(the output would be empty)")
        before, after = same_padding(n, k, s, d) if padding == "same" else (0, 0)
        result.append((out, before, after))
    return result
