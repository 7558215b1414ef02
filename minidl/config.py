"""Process-wide settings, mirroring ``keras.json``.

Read once from ``$MINIDL_HOME/minidl.json`` (default ``~/.minidl/minidl.json``) when it
exists. Keys: ``floatx``, ``epsilon``, ``image_data_format``, ``backend``, ``cpu_kernels``
(``"auto"``, ``"numba"`` or ``"numpy"``; ``$MINIDL_CPU_KERNELS`` overrides it) and
``num_threads``.

>>> import minidl as mdl
>>> mdl.config.floatx(), mdl.config.epsilon()
('float32', 1e-07)
"""
import json
import os
import sys

__all__ = ["floatx", "set_floatx", "epsilon", "set_epsilon", "image_data_format",
           "set_image_data_format", "cpu_kernels", "set_cpu_kernels", "num_threads",
           "set_num_threads", "config_path", "get"]

_FLOATX = ("float16", "float32", "float64")
_FORMATS = ("channels_last", "channels_first")
_CPU_KERNELS = ("auto", "numba", "numpy")
_settings = {"floatx": "float32", "epsilon": 1e-7, "image_data_format": "channels_last",
             "backend": "numpy", "cpu_kernels": "auto", "num_threads": os.cpu_count() or 1}


def config_path():
    home = os.environ.get("MINIDL_HOME") or os.path.join(os.path.expanduser("~"), ".minidl")
    return os.path.join(home, "minidl.json")


def _load():
    path = config_path()
    if not os.path.exists(path):
        return
    try:
        with open(path) as f:
            values = json.load(f)
    except (OSError, ValueError) as err:
        raise ValueError(f"minidl config file {path} is not valid JSON: {err}") from None
    if not isinstance(values, dict):
        raise ValueError(f"minidl config file {path} must hold a JSON object")
    setters = {"floatx": set_floatx, "epsilon": set_epsilon,
               "image_data_format": set_image_data_format, "cpu_kernels": set_cpu_kernels,
               "num_threads": set_num_threads}
    for key, value in values.items():
        if key in setters:
            setters[key](value)
        else:
            _settings[key] = value


def get(key, default=None):
    """A raw setting from minidl.json (e.g. ``"backend"``)."""
    return _settings.get(key, default)


def floatx():
    """The default float dtype name for Python scalars, lists and new weights."""
    return _settings["floatx"]


def set_floatx(value):
    if value not in _FLOATX:
        raise ValueError(f"floatx={value!r} is not one of {_FLOATX}")
    _settings["floatx"] = value


def epsilon():
    """The fuzz factor used in numeric expressions (Keras's ``epsilon()``)."""
    return _settings["epsilon"]


def set_epsilon(value):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"epsilon={value!r} must be a positive number")
    _settings["epsilon"] = float(value)


def image_data_format():
    """``"channels_last"`` (default) or ``"channels_first"``: what ``data_format=None`` means."""
    return _settings["image_data_format"]


def set_image_data_format(value):
    if not isinstance(value, str) or value.lower() not in _FORMATS:
        raise ValueError(f"image_data_format={value!r} is not one of {_FORMATS}")
    _settings["image_data_format"] = value.lower()


def cpu_kernels():
    """The CPU kernels the depthwise ops run now: ``"numba"`` (compiled) or ``"numpy"``.

    ``"auto"`` (the default) means Numba when it is importable, else NumPy.
    """
    from .ops import cpu_kernels as kernels
    return kernels.active()


def set_cpu_kernels(value):
    """Choose the depthwise ops' CPU kernels: ``"auto"``, ``"numba"`` or ``"numpy"``.

    Raises:
        ValueError: ``value`` is not one of those.
        RuntimeError: ``"numba"`` while Numba is not importable.
    """
    if not isinstance(value, str) or value.lower() not in _CPU_KERNELS:
        raise ValueError(f"cpu_kernels={value!r} is not one of {_CPU_KERNELS}")
    _settings["cpu_kernels"] = value.lower()
    if value.lower() == "numba" and "minidl.ops" in sys.modules:
        cpu_kernels()  # fail now, with the install hint, rather than at the next op


def num_threads():
    """Threads minidl's CPU kernels use (compiled kernels and the NumPy path's pool);
    default: the machine's cores."""
    return _settings["num_threads"]


def set_num_threads(value):
    """Set minidl's CPU thread count (BLAS keeps its own: see the README).

    Raises:
        ValueError: ``value`` is not a positive int.
    """
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"num_threads={value!r} must be a positive int")
    _settings["num_threads"] = value


_load()
if os.environ.get("MINIDL_CPU_KERNELS"):
    _settings["cpu_kernels"] = os.environ["MINIDL_CPU_KERNELS"]  # checked at first use
