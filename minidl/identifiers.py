"""One lookup, serialization and deserialization rule for every family of named objects
(initializers, regularizers, constraints, activations, optimizers, schedules, layers).

Each family module builds one ``Family`` and exposes its ``get``, ``serialize`` and
``deserialize``. An identifier may be:

- a string: a class or function name, matched ignoring case and underscores, so
  ``"glorot_uniform"``, ``"GlorotUniform"``, ``"l1_l2"`` and ``"l1l2"`` all work, plus the
  family's aliases (``"uniform"`` for ``RandomUniform``, ...);
- a config dict ``{"class_name": ..., "config": {...}}``, including Keras 3's serialized
  form ``{"module", "class_name", "config", "registered_name"}``;
- an instance of the family's base class, or any callable: returned as is.

An unknown name raises ``ValueError`` listing the known ones. Serialized objects use Keras
3's layout (``module`` is the Keras module of the same family), so a config written here
reads back in Keras and the other way round.

>>> fam = Family("greeting", module="demo")
>>> class Hello:
...     def __init__(self, loud=False): self.loud = loud
...     def get_config(self): return {"loud": self.loud}
>>> _ = fam.register(Hello, "hi")
>>> fam.get("HELLO").loud, fam.get("hi").loud
(False, False)
>>> fam.serialize(Hello(loud=True))
{'module': 'demo', 'class_name': 'Hello', 'config': {'loud': True}, 'registered_name': None}
>>> fam.get({"class_name": "Hello", "config": {"loud": True}}).loud
True
"""
import contextlib
import contextvars
import inspect
import re

import numpy

__all__ = ["Family", "normalize_name", "snake_case", "unique_name", "reset_names",
           "from_keras_value", "dtype_name", "custom_object_scope"]

# The custom_objects of the deserializations in progress in this thread, outermost first
# (a tuple of dicts): per thread, so two threads loading models never see nor close each
# other's scopes.
_custom_scopes = contextvars.ContextVar("minidl_custom_scopes", default=())
_name_counts = {}     # automatic names given so far, per prefix


@contextlib.contextmanager
def custom_object_scope(custom_objects):
    """Inside the block every family's lookup also sees ``custom_objects``; a
    ``deserialize(config, custom_objects)`` opens one, so objects nested in a config (a
    custom regularizer inside a layer inside a model) are found too. The scope holds in
    the thread that opened it only."""
    token = _custom_scopes.set(_custom_scopes.get() + (dict(custom_objects or {}),))
    try:
        yield
    finally:
        _custom_scopes.reset(token)


def normalize_name(name):
    """The lookup key of a name: lower case, underscores dropped."""
    return name.replace("_", "").lower()


def snake_case(name):
    """``"DepthwiseConv2D"`` -> ``"depthwise_conv2d"``, ``"ReLU"`` -> ``"re_lu"`` (Keras's
    rule, used for layer names)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(prefix):
    """``prefix``, then ``prefix_1``, ``prefix_2``, ...: Keras's automatic names, one
    counter per prefix shared by layers and operations (after ``layers.Add()``, ``x + 1``
    is named ``add_1``)."""
    count = _name_counts.get(prefix, 0)
    _name_counts[prefix] = count + 1
    return prefix if count == 0 else f"{prefix}_{count}"


def reset_names():
    """Start every automatic name from the beginning again."""
    _name_counts.clear()


def from_keras_value(value):
    """Undo Keras 3's wrapping of plain values inside configs: ``{"class_name":
    "__tuple__", "config": {"value": [...]}}`` becomes a tuple and ``"__numpy__"`` an
    array; dicts and lists are converted recursively."""
    if isinstance(value, dict):
        kind = value.get("class_name")
        if kind == "__tuple__" and isinstance(value.get("config"), dict):
            return tuple(from_keras_value(v) for v in value["config"]["value"])
        if kind == "__numpy__" and isinstance(value.get("config"), dict):
            cfg = value["config"]
            return numpy.asarray(cfg["value"], dtype=cfg.get("dtype"))
        return {k: from_keras_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_keras_value(v) for v in value]
    return value


def dtype_name(dtype, argument="dtype"):
    """A dtype as its NumPy name; accepts strings, NumPy dtypes and types, and Keras's
    ``DTypePolicy`` dict ``{"class_name": "DTypePolicy", "config": {"name": ...}}``."""
    if isinstance(dtype, dict):
        cfg = dtype.get("config")
        if str(dtype.get("class_name", "")).endswith("DTypePolicy") and \
                isinstance(cfg, dict) and "name" in cfg:
            dtype = cfg["name"]
        else:
            raise ValueError(f"{argument}={dtype!r} is not a dtype name or a Keras "
                             "DTypePolicy config")
    if isinstance(dtype, str) and dtype.startswith("mixed_"):
        raise ValueError(f"{argument}={dtype!r}: mixed-precision policies are not "
                         "supported; use 'float16', 'float32' or 'float64'")
    try:
        return numpy.dtype(dtype).name
    except TypeError:
        raise ValueError(f"{argument}={dtype!r} is not a dtype") from None


class Configurable:
    """What the base class of every family shares: ``from_config`` rebuilds from
    ``get_config()`` (the constructor's arguments) and ``repr`` shows them."""

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Family:
    """The named objects of one kind and how to look them up.

    Args:
        kind: what the objects are, for messages (``"initializer"``).
        module: the ``module`` written into serialized objects (``"keras.initializers"``);
            a class may name its own in ``_keras_module``, and with ``_keras_registered``
            it also writes its class name as ``registered_name`` (as Keras does for
            classes outside its public API, e.g. ``Functional``).
        base: the family's base class; instances pass through ``get``.
        listed: ``listed(obj)`` says whether ``known()`` shows a registered object
            (default: all); abstract bases stay findable but unlisted.

    ``get("name")`` calls a registered class with no arguments and returns a registered
    function as it is.
    """

    def __init__(self, kind, module, base=None, listed=None):
        self.kind = kind
        self.module = module
        self.base = base
        self.listed = listed
        self._objects = {}   # canonical name -> class or function
        self._keys = {}      # normalized name or alias -> canonical name

    # -- registration ------------------------------------------------------------------
    def register(self, obj, *aliases, name=None):
        """Register ``obj`` under its ``__name__`` (or ``name``) plus ``aliases``."""
        name = name or obj.__name__
        self._objects[name] = obj
        for key in (name, snake_case(name)) + aliases:
            self._keys[normalize_name(key)] = name
        return obj

    def known(self):
        """The registered names (those ``listed`` shows), sorted."""
        return sorted(name for name, obj in self._objects.items()
                      if self.listed is None or self.listed(obj))

    def __contains__(self, name):
        return isinstance(name, str) and normalize_name(name) in self._keys

    @staticmethod
    def custom(name, custom_objects=None):
        """The object ``custom_objects`` (or an enclosing ``custom_object_scope``) gives
        for ``name`` (exact, else ignoring case and underscores), or None."""
        scoped = {}
        for scope in _custom_scopes.get():
            scoped.update(scope)
        custom_objects = {**scoped, **(custom_objects or {})}
        if name in custom_objects:
            return custom_objects[name]
        key = normalize_name(name)
        for custom_name, obj in custom_objects.items():
            if normalize_name(custom_name) == key:
                return obj
        return None

    def lookup(self, name, custom_objects=None, builtins=True):
        """The class or function registered under ``name`` (custom_objects first; with
        ``builtins=False`` only custom objects)."""
        obj = self.custom(name, custom_objects)
        if obj is not None:
            return obj
        key = normalize_name(name)
        if key not in self._keys or not builtins:
            raise ValueError(f"Unknown {self.kind}: {name!r}. Known names: "
                             f"{', '.join(self.known())}. Pass other objects with "
                             "custom_objects={name: object}.")
        return self._objects[self._keys[key]]

    # -- the three entry points --------------------------------------------------------
    def get(self, identifier, custom_objects=None):
        """An object from a string, a config dict, an instance or a callable."""
        if identifier is None:
            return None
        if isinstance(identifier, str):
            obj = self.lookup(identifier, custom_objects)
            return obj() if inspect.isclass(obj) else obj
        if isinstance(identifier, dict):
            return self.deserialize(identifier, custom_objects)
        if inspect.isclass(identifier):
            return identifier()
        if (self.base is not None and isinstance(identifier, self.base)) or \
                callable(identifier):
            return identifier
        raise ValueError(f"Could not interpret {self.kind} identifier: {identifier!r} "
                         f"(expected a name such as {self.known()[0]!r}, a config dict, "
                         f"an instance or a callable)")

    def serialize(self, obj):
        """Keras 3's serialized form of an instance; a registered function's name;
        None for None."""
        if obj is None:
            return None
        if inspect.isfunction(obj) or inspect.isbuiltin(obj):
            return obj.__name__
        cls = type(obj)
        if not hasattr(obj, "get_config"):
            raise ValueError(f"cannot serialize the {self.kind} {obj!r}: it has no "
                             "get_config()")
        builtin = self._objects.get(cls.__name__) is cls
        module = getattr(cls, "_keras_module", None) or self.module
        registered = not builtin or getattr(cls, "_keras_registered", False)
        return {"module": module if builtin else cls.__module__,
                "class_name": cls.__name__,
                "config": obj.get_config(),
                "registered_name": cls.__name__ if registered else None}

    def deserialize(self, config, custom_objects=None, builtins=True):
        """The object a config describes: a name string, ``{"class_name", "config"}``
        (Keras 2) or Keras 3's ``{"module", "class_name", "config", "registered_name"}``;
        with ``builtins=False`` only ``custom_objects`` are searched."""
        if isinstance(config, str):
            return self.get(config, custom_objects)
        if not isinstance(config, dict) or "class_name" not in config:
            raise ValueError(f"{self.kind} config {config!r} must be a name or a dict with "
                             "'class_name' and 'config'")
        class_name = config["class_name"]
        inner = config.get("config", {})
        # Keras's serialized function
        if class_name == "function" and isinstance(inner, str):
            return self.lookup(inner, custom_objects)
        registered = config.get("registered_name")
        with custom_object_scope(custom_objects):
            try:
                obj = self.lookup(class_name, builtins=builtins)
            except ValueError:
                if not registered or registered == class_name:
                    raise
                obj = self.lookup(registered.split(">")[-1], builtins=builtins)
            if not inspect.isclass(obj):
                return obj
            inner = from_keras_value(inner or {})
            if not hasattr(obj, "from_config"):
                return obj(**inner)
            if "custom_objects" in inspect.signature(obj.from_config).parameters:
                return obj.from_config(inner, custom_objects=custom_objects)
            return obj.from_config(inner)
