"""Process-wide settings, mirroring ``keras.json``.

Read once from ``$MINIDL_HOME/minidl.json`` (default ``~/.minidl/minidl.json``) when it
exists. Keys: ``floatx``, ``epsilon``, ``image_data_format``, ``backend``.

>>> import minidl as mdl
>>> mdl.config.floatx(), mdl.config.epsilon()
('float32', 1e-07)
"""
import json
import os

__all__ = ["floatx", "set_floatx", "epsilon", "set_epsilon", "image_data_format",
           "set_image_data_format", "config_path", "get"]

_FLOATX = ("float16", "float32", "float64")
_FORMATS = ("channels_last", "channels_first")
_settings = {"floatx": "float32", "epsilon": 1e-7, "image_data_format": "channels_last",
             "backend": "numpy"}


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
               "image_data_format": set_image_data_format}
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


_load()
