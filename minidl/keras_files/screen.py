"""Screening a Keras model config before anything is built from it.

``check_config`` refuses, with a ``FormatError`` naming the object:

- serialized arrays (``__numpy__``) of any dtype but numbers;
- layers that carry code (``Lambda``, TensorFlow's ``TFOpLambda`` and
  ``SlicingOpLambda``, serialized ``__lambda__`` functions): building them would run
  code stored in the file;
- classes from a module that is neither Keras's nor minidl's, and custom objects
  (``registered_name`` ``"package>Name"``), unless the caller passed them in
  ``custom_objects``;
- input shapes of more than ``max_input_elements`` values per sample (building a
  ``Sequential`` model runs one sample through it), and configs nested deeper than
  ``max_depth`` (limits of ``minidl.limits``).

``expected_weight_shapes`` says, from a layer's config and input shape alone, which
weight shapes building the layer would allocate, for the layers whose weights follow a
formula (``Dense``, the convolutions, ``BatchNormalization``); the loaders compare them
with the shapes the file declares before building anything, so a small file cannot
describe a model far larger than the weights it holds.

>>> expected_weight_shapes("Dense", {"units": 3}, [None, 4])
[(4, 3), (3,)]
>>> expected_weight_shapes("DepthwiseConv2D", {"kernel_size": 3, "use_bias": False},
...                        [None, 8, 8, 5])
[(3, 3, 5, 1)]
"""
import math

import numpy as np

from ..layers.base import CODE_CLASSES
from ..limits import limit
from .errors import FormatError

__all__ = ["check_config", "expected_weight_shapes", "shapes_match"]

SAFE_MODULES = ("keras", "minidl", "builtins")
SHAPE_KEYS = ("batch_shape", "batch_input_shape", "input_shape", "shape")


def check_config(config, path, custom_objects=None):
    """Walk the whole config; raise ``FormatError`` for code, foreign classes, custom
    objects not in ``custom_objects`` and oversized input shapes.

    Raises:
        FormatError: naming the class, module or shape and what to do.
    """
    custom = set(custom_objects or ())
    pending, deepest = [(config, 0)], limit("max_depth")
    while pending:
        value, depth = pending.pop()
        if depth > deepest:
            raise FormatError(path, f"the config nests deeper than {deepest} levels")
        if isinstance(value, dict):
            _check_dict(value, path, custom)
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)


def _check_dict(value, path, custom):
    """One dict of a config: a serialized object's class, and any input shape in it."""
    if "class_name" in value:
        if not isinstance(value["class_name"], str):
            raise FormatError(path, f"the config holds a class_name that is not a string: "
                                    f"{str(value['class_name'])[:80]}")
        _check_object(value, path, custom)
    for key, item in value.items():
        if key in SHAPE_KEYS:
            _check_shape(item, key, path)


def _check_object(entry, path, custom):
    class_name = entry["class_name"]
    inner = entry.get("config")
    if class_name == "__numpy__":
        _check_numpy(inner, path)
    label = f"{class_name} {inner.get('name')!r}" if isinstance(inner, dict) and \
        isinstance(inner.get("name"), str) else repr(class_name)
    if class_name in CODE_CLASSES or (class_name == "function" and isinstance(inner, dict)):
        raise FormatError(path, f"the config holds {label}, which carries Python code; "
                                "minidl never runs code from a file (rebuild that part "
                                "with layers)")
    registered, module = entry.get("registered_name"), entry.get("module")
    if not all(v is None or isinstance(v, str) for v in (registered, module)):
        raise FormatError(path, f"the config holds {label} whose module or "
                                "registered_name is not a string")
    if class_name in custom or registered in custom:
        return
    if isinstance(module, str) and module.split(".")[0] not in SAFE_MODULES:
        raise FormatError(path, f"the config holds {label} from module {module!r}, which "
                                "is neither Keras's nor minidl's; pass the class in "
                                f"custom_objects={{{class_name!r}: ...}} to load it")
    if isinstance(registered, str) and registered != class_name and \
            registered != "function":
        raise FormatError(path, f"the config holds the custom object {registered!r} "
                                f"({label}); pass it in custom_objects={{{registered!r}: "
                                "...}} to load it")


def _check_numpy(config, path):
    """A serialized array's dtype must be a plain number type: a dtype such as
    ``"S1000000000"`` would allocate a gigabyte per element."""
    dtype = config.get("dtype") if isinstance(config, dict) else None
    try:
        ok = dtype is None or (isinstance(dtype, str) and np.dtype(dtype).kind in "biufc"
                               and np.dtype(dtype).itemsize <= 16)
    except (TypeError, ValueError, SyntaxError):
        ok = False
    if not ok:
        raise FormatError(path, f"the config holds an array of dtype {dtype!r}; only "
                                "number dtypes are read")


def _check_shape(shape, key, path):
    if isinstance(shape, dict) and shape.get("class_name") == "__tuple__":
        shape = (shape.get("config") or {}).get("value")
    if isinstance(shape, list) and shape and all(isinstance(s, list) for s in shape):
        for one in shape:  # several inputs
            _check_shape(one, key, path)
        return
    if not isinstance(shape, list) or not all(n is None or isinstance(n, int)
                                              for n in shape):
        return
    if any(n is not None and n < 0 for n in shape):
        raise FormatError(path, f"{key}={shape} has a negative size")
    values = math.prod(n for n in shape[1:] if n is not None)
    if values > limit("max_input_elements"):
        raise FormatError(path, f"{key}={shape} declares {values} values per sample, more "
                                f"than minidl builds (max_input_elements="
                                f"{limit('max_input_elements')})")


def _tuple(value, rank):
    if isinstance(value, dict) and value.get("class_name") == "__tuple__":
        value = value["config"]["value"]
    return (value,) * rank if isinstance(value, int) else tuple(value)


def _channels(config, input_shape, axis=None):
    if not input_shape:
        return None
    if axis is None:
        axis = 1 if config.get("data_format") == "channels_first" else -1
    try:
        return input_shape[axis]
    except (IndexError, TypeError):
        return None


def _conv_shapes(class_name, config, input_shape):
    rank = 1 if class_name.endswith("1D") else 2
    kernel = _tuple(config.get("kernel_size", 1), rank)
    channels = _channels(config, input_shape)
    bias = config.get("use_bias", True)
    if class_name.startswith("Depthwise"):
        multiplier = config.get("depth_multiplier", 1)
        out = multiplier * channels if channels is not None else None
        return [kernel + (channels, multiplier)] + ([(out,)] if bias else [])
    filters = config.get("filters")
    if class_name.startswith("Separable"):
        multiplier = config.get("depth_multiplier", 1)
        mid = multiplier * channels if channels is not None else None
        return [kernel + (channels, multiplier), (1,) * rank + (mid, filters)] + (
            [(filters,)] if bias else [])
    groups = config.get("groups", 1) or 1
    inner = channels // groups if channels is not None else None
    return [kernel + (inner, filters)] + ([(filters,)] if bias else [])


def expected_weight_shapes(class_name, config, input_shape):
    """The weight shapes a layer of ``class_name`` with ``config`` builds for
    ``input_shape`` (None where the input size is unknown), or None for a layer whose
    weights this module has no formula for."""
    config = config if isinstance(config, dict) else {}
    if class_name == "Dense":
        units = config.get("units")
        return [(_channels(config, input_shape, -1), units)] + (
            [(units,)] if config.get("use_bias", True) else [])
    if class_name in ("Conv1D", "Conv2D", "Convolution1D", "Convolution2D",
                      "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D",
                      "SeparableConv2D", "SeparableConvolution1D",
                      "SeparableConvolution2D"):
        return _conv_shapes(class_name, config, input_shape)
    if class_name == "BatchNormalization":
        axis = config.get("axis", -1)
        axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
        size = _channels(config, input_shape, axis) if isinstance(axis, int) else None
        count = 2 + bool(config.get("center", True)) + bool(config.get("scale", True))
        return [(size,)] * count
    return None


def shapes_match(expected, stored):
    """Whether stored shapes equal the expected ones (None in ``expected``: any size)."""
    return len(expected) == len(stored) and all(
        len(e) == len(s) and all(a is None or a == b for a, b in zip(e, s))
        for e, s in zip(expected, stored))
