"""What a file given to a loader may declare, and the error for one that breaks the rules.

Every loader (``load_model``, ``load_weights``, ``datasets.load_idx``, the reading of
``minidl.json``) checks the sizes a file declares against each other and against the
bytes it stores before it decompresses, reads or allocates anything, and refuses a bad
or hostile file with ``FormatError`` (a ``ValueError``) naming the file and the problem.
Most checks are relative (a member may not expand more than its format allows, a model
may not build more weight values than the file stores), so they grow with a genuinely
large model; a few are absolute ceilings, set by ``DEFAULTS``:

- ``max_config_bytes``: a JSON document (minidl's header, ``config.json``, an HDF5
  attribute), 16 MiB;
- ``max_depth``: the nesting of dicts and lists in a config, 200;
- ``max_input_elements``: values in one input sample of a model, 2**24;
- ``max_objects``: members of a zip archive, groups and datasets of an HDF5 file,
  100,000;
- ``max_expansion``: how many times its stored size an array member of minidl's file, or
  the weights of a ``.keras`` archive (beyond the weights its config describes), may
  decompress to, 4 (minidl and Keras store arrays uncompressed).

Raise them for one call with ``load_limits`` (``minidl.saving.load_limits``), or for
every process with the ``load_limits`` key of ``minidl.json``::

    with mdl.saving.load_limits(max_input_elements=1 << 26):
        model = mdl.models.load_model("large.keras")

    {"load_limits": {"max_input_elements": 67108864}}

While a loader rebuilds a model from a file's config, ``build_budget`` caps the weight
values the built-in initializers may create at those the file stores (plus
``BUDGET_SLACK``): ``Dense(units=10**9)`` in a small file is refused before the
kernel is allocated, whatever the layer; and ``check_output`` refuses a layer output of
more than ``max_input_elements`` values per sample (``UpSampling1D(size=10**8)``) before a
``Sequential`` model runs its building sample through the layer.

>>> with load_limits(max_depth=50):
...     limit("max_depth")
50
>>> str(FormatError("m.keras", "config.json is missing"))
"cannot load 'm.keras': config.json is missing"
"""
import contextlib
import contextvars
import math
import os

__all__ = ["FormatError", "DEFAULTS", "limit", "load_limits", "check_limits",
           "set_process_limits", "build_budget", "charge", "check_output", "BUDGET_SLACK",
           "MAX_EXPANSION"]

DEFAULTS = {"max_config_bytes": 1 << 24, "max_depth": 200, "max_input_elements": 1 << 24,
            "max_objects": 100_000, "max_expansion": 4}
BUDGET_SLACK = 1 << 16   # weight values a rebuilt model may create beyond those stored
MAX_EXPANSION = 1032     # DEFLATE's largest ratio of output to input

_overrides = contextvars.ContextVar("minidl_load_limits", default=None)
_process_limits = {}   # minidl.json's load_limits (minidl.config reads the file, below us)
_budget = contextvars.ContextVar("minidl_build_budget", default=None)


class FormatError(ValueError):
    """A model, weights, data or settings file that minidl refuses to read: malformed,
    truncated, hostile, or describing a model that does not match.

    Args:
        path: the file (as given: str, bytes or os.PathLike).
        problem: what is wrong, in words.
        action: the verb of the message (``"load"`` or ``"save"``).

    Attributes:
        path, problem: as given.
    """

    def __init__(self, path: str | bytes | os.PathLike, problem: str,
                 action: str = "load") -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"cannot {action} {_name(path)!r}: {problem}")


def _name(path):
    try:
        return os.fsdecode(path)
    except TypeError:
        return str(path)


def _checked(name, value, where):
    if name not in DEFAULTS:
        raise ValueError(f"{where}: unknown load limit {name!r}; the limits are "
                         f"{sorted(DEFAULTS)}")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{where}: {name}={value!r} must be a positive int")
    return value


def limit(name: str) -> int:
    """The limit ``name`` in force: ``load_limits``, else minidl.json's ``load_limits``
    (``set_process_limits``), else ``DEFAULTS``."""
    overrides = _overrides.get() or {}
    if name in overrides:
        return overrides[name]
    return _process_limits.get(name, DEFAULTS[name])


def check_limits(limits: dict) -> None:
    """Check a ``{name: value}`` dict of limits (minidl.json's ``load_limits``).

    Raises:
        ValueError: not a dict, an unknown limit, or a value that is not a positive int.
    """
    if not isinstance(limits, dict):
        raise ValueError(f"load_limits={limits!r} must be a JSON object of limits")
    for name, value in limits.items():
        _checked(name, value, "load_limits")


def set_process_limits(limits: dict) -> None:
    """Use these limits (a ``{name: value}`` dict) instead of the defaults in every thread;
    ``minidl.config`` passes minidl.json's ``load_limits`` here.

    Raises:
        ValueError: not a dict, an unknown limit, or a value that is not a positive int.
    """
    check_limits(limits)
    _process_limits.clear()
    _process_limits.update(limits)


@contextlib.contextmanager
def load_limits(**limits):
    """Inside the block, loaders use these limits (see the module) instead of the
    defaults.

    Raises:
        ValueError: an unknown limit, or a value that is not a positive int.
    """
    check_limits(limits)
    token = _overrides.set({**(_overrides.get() or {}), **limits})
    try:
        yield
    finally:
        _overrides.reset(token)


class _Budget:
    def __init__(self, values, path):
        self.stored, self.left, self.path = values, values + BUDGET_SLACK, path


@contextlib.contextmanager
def build_budget(values: int, path: str | bytes | os.PathLike):
    """Inside the block, the built-in initializers may create at most ``values`` weight
    values (plus ``BUDGET_SLACK``) in all; ``charge`` raises ``FormatError`` naming
    ``path`` before the allocation that would exceed it."""
    token = _budget.set(_Budget(int(values), path))
    try:
        yield
    finally:
        _budget.reset(token)


def charge(shape: tuple) -> None:
    """Count a weight of ``shape`` against the ``build_budget`` in force (if any).

    Raises:
        FormatError: the weights built so far would hold more values than the file.
    """
    budget = _budget.get()
    if budget is None:
        return
    budget.left -= math.prod(shape)
    if budget.left < 0:
        raise FormatError(budget.path, f"its architecture builds a weight of shape "
                                       f"{tuple(shape)}, more weight values than the "
                                       f"{budget.stored} the file stores; refusing to "
                                       "allocate them")


def check_output(layer, input_shape: tuple) -> None:
    """Inside a ``build_budget``, refuse a layer whose output for ``input_shape`` would
    hold more than ``max_input_elements`` values per sample; outside one, do nothing.

    Args:
        layer: the layer (its ``compute_output_shape`` is called only inside a budget).
        input_shape: its input shape, batch first.

    Raises:
        FormatError: the output is too large.
    """
    budget = _budget.get()
    if budget is None:
        return
    shape = tuple(layer.compute_output_shape(input_shape))
    values = math.prod(n for n in shape[1:] if n is not None)
    if values > limit("max_input_elements"):
        raise FormatError(budget.path, f"layer {layer.name!r} outputs {shape}, {values} "
                                       "values per sample, more than minidl builds "
                                       f"(max_input_elements={limit('max_input_elements')})")
