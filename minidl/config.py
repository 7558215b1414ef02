"""Process-wide settings, mirroring ``keras.json``.

Read once from ``$MINIDL_HOME/minidl.json`` (default ``~/.minidl/minidl.json``) when it
exists. Keys: ``floatx``, ``epsilon``, ``image_data_format``, ``backend``, ``cpu_kernels``
(``"auto"``, ``"numba"`` or ``"numpy"``; ``$MINIDL_CPU_KERNELS`` overrides it) and
``num_threads`` (``$MINIDL_NUM_THREADS`` overrides it).

>>> import minidl as mdl
>>> mdl.config.floatx(), mdl.config.epsilon()
('float32', 1e-07)
"""
import importlib.util
import json
import os
import sys

from . import limits
from .limits import FormatError

__all__ = ["floatx", "set_floatx", "epsilon", "set_epsilon", "image_data_format",
           "set_image_data_format", "cpu_kernels", "set_cpu_kernels", "num_threads",
           "set_num_threads", "usable_cpus", "config_path", "get"]

_FLOATX = ("float16", "float32", "float64")
_FORMATS = ("channels_last", "channels_first")
_CPU_KERNELS = ("auto", "numba", "numpy")
MAX_FILE_BYTES = 1 << 20   # minidl.json


def usable_cpus() -> int:
    """The CPUs this process may use: its affinity mask, capped by a cgroup CPU quota
    (``cpu.max`` of cgroup v2, ``cpu.cfs_quota_us / cpu.cfs_period_us`` of v1), at least
    1."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        count = min(count, max(1, int(quota + 0.5)))
    return max(1, count)


def _cgroup_quota():
    """The cgroup's CPU quota in CPUs, or None when unlimited or unreadable."""
    for fields in (_cgroup_v2_fields, _cgroup_v1_fields):
        try:
            quota, period = fields()
            return None if quota in ("max", "-1") else int(quota) / int(period)
        except (OSError, ValueError, IndexError, ZeroDivisionError):
            continue
    return None


def _cgroup_v2_fields():
    with open("/sys/fs/cgroup/cpu.max") as f:
        return f.read().split()[:2]


def _cgroup_v1_fields():
    with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
        quota = f.read().strip()
    with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
        return quota, f.read().strip()


_settings = {"floatx": "float32", "epsilon": 1e-7, "image_data_format": "channels_last",
             "backend": "numpy", "cpu_kernels": "auto", "num_threads": usable_cpus()}


def config_path() -> str:
    home = os.environ.get("MINIDL_HOME") or os.path.join(os.path.expanduser("~"), ".minidl")
    return os.path.join(home, "minidl.json")


def _load():
    """Apply minidl.json; a malformed one (too large, not JSON, nested too deep, a bad
    value) raises ``minidl.saving.FormatError`` naming it."""
    path = config_path()
    if not os.path.exists(path):
        return
    values = _read_json(path)
    setters = {"floatx": set_floatx, "epsilon": set_epsilon,
               "image_data_format": set_image_data_format,
               "cpu_kernels": _choose_cpu_kernels, "num_threads": set_num_threads}
    for key, value in values.items():
        try:
            if key in setters:
                setters[key](value)
            else:
                if key == "load_limits":
                    limits.set_process_limits(value)
                _settings[key] = value
        except (ValueError, TypeError) as err:
            raise FormatError(path, f"minidl.json: {err}") from None


def _read_json(path):
    try:
        if os.path.getsize(path) > MAX_FILE_BYTES:
            raise FormatError(path, f"minidl.json is larger than {MAX_FILE_BYTES} bytes")
        with open(path, "rb") as f:
            values = json.loads(f.read().decode("utf-8"))
    except RecursionError:
        raise FormatError(path, "minidl.json is not valid JSON: nested too deep") from None
    except FormatError:
        raise
    except (OSError, ValueError) as err:
        raise FormatError(path, f"minidl.json is not valid JSON: {err}") from None
    if not isinstance(values, dict):
        raise FormatError(path, "minidl.json must hold a JSON object")
    return values


def get(key: str, default=None):
    """A raw setting from minidl.json (e.g. ``"backend"``)."""
    return _settings.get(key, default)


def floatx() -> str:
    """The default float dtype name for Python scalars, lists and new weights."""
    return _settings["floatx"]


def set_floatx(value: str) -> None:
    if value not in _FLOATX:
        raise ValueError(f"floatx={value!r} is not one of {_FLOATX}")
    _settings["floatx"] = value


def epsilon() -> float:
    """The fuzz factor used in numeric expressions (Keras's ``epsilon()``)."""
    return _settings["epsilon"]


def set_epsilon(value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"epsilon={value!r} must be a positive number")
    _settings["epsilon"] = float(value)


def image_data_format() -> str:
    """``"channels_last"`` (default) or ``"channels_first"``: what ``data_format=None``
    means."""
    return _settings["image_data_format"]


def set_image_data_format(value: str) -> None:
    if not isinstance(value, str) or value.lower() not in _FORMATS:
        raise ValueError(f"image_data_format={value!r} is not one of {_FORMATS}")
    _settings["image_data_format"] = value.lower()


def cpu_kernels() -> str:
    """The CPU kernels the depthwise ops run now: ``"numba"`` (compiled) or ``"numpy"``.

    ``"auto"`` (the default) means Numba when it is importable, else NumPy.

    Raises:
        ValueError: the choice (from ``$MINIDL_CPU_KERNELS``) is not one of
            ``"auto"``, ``"numba"``, ``"numpy"``.
        RuntimeError: ``"numba"`` is chosen but Numba is not importable.
    """
    choice = str(_settings["cpu_kernels"]).lower()
    if choice not in _CPU_KERNELS:
        raise ValueError(f"cpu_kernels={choice!r} (from minidl.config.set_cpu_kernels, "
                         f"$MINIDL_CPU_KERNELS or minidl.json) is not one of "
                         f"{_CPU_KERNELS}")
    if choice == "numpy":
        return "numpy"
    if _numba_importable():
        return "numba"
    if choice == "numba":
        raise RuntimeError("cpu_kernels='numba' needs Numba, which is not importable: "
                           "pip install 'minidl[fast]' (or pip install numba)")
    return "numpy"


def set_cpu_kernels(value: str) -> None:
    """Choose the depthwise ops' CPU kernels: ``"auto"``, ``"numba"`` or ``"numpy"``.

    Raises:
        ValueError: ``value`` is not one of those.
        RuntimeError: ``"numba"`` while Numba is not importable.
    """
    _choose_cpu_kernels(value)
    cpu_kernels()  # fail now, with the install hint, rather than at the next op


def _choose_cpu_kernels(value):
    if not isinstance(value, str) or value.lower() not in _CPU_KERNELS:
        raise ValueError(f"cpu_kernels={value!r} is not one of {_CPU_KERNELS}")
    _settings["cpu_kernels"] = value.lower()


_numba_found = None  # whether importlib finds Numba, looked up once


def _numba_importable():
    """Whether Numba can be imported, without importing it (a module set to None in
    ``sys.modules`` counts as missing)."""
    global _numba_found
    if "numba" in sys.modules:
        return sys.modules["numba"] is not None
    if _numba_found is None:
        _numba_found = importlib.util.find_spec("numba") is not None
    return _numba_found


def num_threads() -> int:
    """Threads minidl's CPU kernels use (compiled kernels and the NumPy path's pool):
    ``$MINIDL_NUM_THREADS``, else minidl.json's ``num_threads``, else the CPUs this
    process may use (``usable_cpus``: affinity and cgroup quota, not the machine's
    cores)."""
    return _settings["num_threads"]


def set_num_threads(value: int) -> None:
    """Set minidl's CPU thread count (BLAS keeps its own: see the README).

    Raises:
        ValueError: ``value`` is not a positive int.
    """
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"num_threads={value!r} must be a positive int")
    _settings["num_threads"] = value


def _threads_from_environment():
    """``$MINIDL_NUM_THREADS`` overrides minidl.json's ``num_threads``."""
    value = os.environ.get("MINIDL_NUM_THREADS", "").strip()
    if not value:
        return
    try:
        set_num_threads(int(value))
    except ValueError:
        raise ValueError(f"MINIDL_NUM_THREADS={value!r} must be a positive int") from None


_load()
if os.environ.get("MINIDL_CPU_KERNELS"):
    _settings["cpu_kernels"] = os.environ["MINIDL_CPU_KERNELS"]  # checked at first use
_threads_from_environment()
