"""``Layer``: the base of every layer (weights, build, call, config, losses, registry).

A layer creates its weights in ``build(input_shape)`` with ``add_weight`` and computes in
``call(inputs, training=None)``. Calling the layer (``layer(x)``) converts ``x`` to a Tensor
on the layer's backend, casts floating inputs to the layer's dtype, builds on the first
call, runs ``call`` and records the activity-regularization penalty.

Weight order (Keras's): a layer's own trainable weights, then its own non-trainable ones,
each in creation order, then the weights of nested layers (attributes that are layers, or
lists of layers), in the order they were assigned. ``get_weights``/``set_weights`` use
this order.

Every ``Layer`` subclass defined in a ``minidl.*`` module registers by class name, so
``minidl.layers.deserialize({"class_name": "Dense", "config": {...}})`` finds it; user
classes are found through ``custom_objects``. A serialized entry's ``module`` says what it
is: ``keras.layers`` / ``keras.src.layers.*`` (and minidl's own modules) a layer,
``keras.src.ops.*`` an operation (``minidl.layers.operations``), ``keras``,
``keras.models`` / ``keras.src.models.*`` a model (``Functional``, ``Model``,
``Sequential``); any other module only a class given in ``custom_objects``. No config
runs code: ``Lambda`` layers are refused.

A minimal layer (``tests/test_layer_base.py`` has a complete one)::

    class Scale(mdl.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight("w", (input_shape[-1],), "ones")

        def call(self, inputs):
            return inputs * self.w

>>> import numpy as np, minidl as mdl
>>> layer = mdl.layers.Layer(name="identity")
>>> layer(np.ones((2, 3))).shape, layer.name, layer.weights
((2, 3), 'identity', [])
"""
import contextlib
import contextvars
import functools
import inspect
import sys
import threading

import numpy

from .. import backend as _backend
from .. import config, constraints, initializers, regularizers
from ..autograd import Tensor, no_grad
from ..identifiers import (
    Family,
    dtype_name,
    from_keras_value,
    reset_names,
    snake_case,
    unique_name,
)
from ..ops.math import cast
from ..variable import Variable
from .node import first_call_tensors, is_symbolic, operations, symbolic_call

__all__ = ["Layer", "get", "serialize", "deserialize", "clear_session"]

# The training flag of the innermost layer call in progress in this thread (None outside
# any call): a nested call without ``training`` inherits it. Per thread, so a predict in
# one thread never runs another thread's training step in inference mode.
_training = contextvars.ContextVar("minidl_training", default=None)


class _PerThread(threading.local):
    """A layer's state that each thread keeps for itself: the losses of its last call in
    that thread, so a predict in one thread never replaces the activity penalty or
    ``add_loss`` loss of a training step in progress in another."""

    def __init__(self):
        self.call_losses = []


_WEIGHT_ORDER = ("shape", "initializer", "dtype", "trainable", "regularizer", "constraint",
                 "name")  # add_weight's positional arguments, as Keras 3
_OLD_WEIGHT_ORDER = ("name", "shape", "initializer", "regularizer", "constraint",
                     "trainable", "dtype")  # after a string first: minidl's earlier order


def clear_session():
    """Reset the automatic layer and operation names (the next Dense is ``dense``
    again)."""
    reset_names()


def _shape_tuple(shape, name):
    if shape is None:
        return None
    try:
        shape = tuple(None if n is None else int(n) for n in shape)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={shape!r} must be a tuple of ints (None for unknown "
                         "sizes)") from None
    return shape


def _is_input_list(inputs):
    """A list of several inputs (Tensors or arrays), not nested lists of numbers."""
    return isinstance(inputs, (list, tuple)) and \
        any(isinstance(x, Tensor) or hasattr(x, "ndim") for x in inputs)


class Layer:
    """The base class of all layers.

    Args:
        activity_regularizer: regularizer applied to the output; its penalty, divided by
            the batch size, is in ``losses`` after each call.
        trainable: whether the weights are updated in training.
        name: unique name; default from the class name in snake_case (``dense``,
            ``dense_1``, ...).
        dtype: dtype of the weights and of the computation (``config.floatx()``); a string,
            a NumPy dtype, or a Keras ``DTypePolicy`` config dict.
        autocast: cast floating inputs to ``dtype`` (True).
        backend: where the weights live (``"numpy"``, ``"cupy"``); None: the backend of
            the first input Tensor, else the default backend.
        input_shape, batch_input_shape, batch_size, input_dim, batch_shape: the expected
            input (without, with the batch axis), used by models to build in advance.
        weights: initial weights (a list of arrays in ``get_weights`` order), set after
            the first build.

    Raises:
        TypeError: for an unknown keyword argument (naming it).
        ValueError: for a bad ``dtype`` or shape.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith("minidl.") and not cls.__name__.startswith("_"):
            _family.register(cls)
        cls._call_has_training = "training" in inspect.signature(cls.call).parameters
        if "build" in cls.__dict__:
            cls.build = _marks_built(cls.__dict__["build"])

    def __init__(self, activity_regularizer=None, trainable=True, name=None, dtype=None,
                 input_shape=None, batch_input_shape=None, batch_size=None, weights=None,
                 autocast=True, backend=None, input_dim=None, batch_shape=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword argument(s) "
                            f"{sorted(kwargs)}")
        object.__setattr__(self, "_layers", [])
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"name={name!r} must be a non-empty string")
        self.name = name or unique_name(snake_case(type(self).__name__))
        self._dtype = dtype_name(dtype or config.floatx())
        if numpy.dtype(self._dtype).kind != "f":
            raise ValueError(f"dtype={dtype!r}: a layer's dtype must be a float dtype")
        self.autocast = bool(autocast)
        self._backend = None if backend is None else _backend.resolve(backend)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._trainable = bool(trainable)
        self._own_weights = []
        self._per_thread = _PerThread()
        self.built = False
        self._build_input_shape = None
        self._initial_weights = weights
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        batch_input_shape = batch_input_shape if batch_shape is None else batch_shape
        if batch_input_shape is None and input_shape is not None:
            batch_input_shape = (batch_size,) + tuple(_shape_tuple(input_shape,
                                                                   "input_shape"))
        self.batch_input_shape = _shape_tuple(batch_input_shape, "batch_input_shape")

    # -- attribute tracking --------------------------------------------------------------
    def __setattr__(self, name, value):
        if isinstance(value, Layer) and value is not self:
            self._track(value)
        elif isinstance(value, (list, tuple)) and any(isinstance(v, Layer) for v in value):
            for v in value:
                if isinstance(v, Layer):
                    self._track(v)
        object.__setattr__(self, name, value)

    def _track(self, layer):
        if "_layers" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before "
                               "assigning layers as attributes")
        if all(layer is not known for known in self._layers):
            self._layers.append(layer)

    def _flatten_layers(self, include_self=True):
        """This layer and every nested layer, depth first, each once."""
        seen, out = set(), []

        def visit(layer):
            if id(layer) in seen:
                return
            seen.add(id(layer))
            out.append(layer)
            for sub in layer._layers:
                visit(sub)

        visit(self)
        return out if include_self else out[1:]

    # -- properties ----------------------------------------------------------------------
    @property
    def dtype(self):
        """The dtype name of the weights and of the computation (``"float32"``)."""
        return self._dtype

    compute_dtype = dtype

    @property
    def input(self):
        """The input tensor(s) of the layer's first call on symbolic tensors (one
        KerasTensor, or a list); ``AttributeError`` if it was never called on them."""
        return first_call_tensors(self, "input")

    @property
    def output(self):
        """The output tensor(s) of the layer's first call on symbolic tensors, so that
        ``Model(model.input, model.get_layer("block").output)`` extracts features."""
        return first_call_tensors(self, "output")

    @property
    def backend(self):
        """The backend of the weights (the default backend until the layer is built)."""
        return self._backend or _backend.get_backend()

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        """Freeze (False) or unfreeze the layer and every nested layer."""
        for layer in self._flatten_layers():
            layer._trainable = bool(value)
            for w in layer._own_weights:
                w.requires_grad = w.trainable and bool(value)

    @property
    def weights(self):
        """Own trainable, own non-trainable, then nested layers' weights."""
        out, seen = [], set()
        for layer in self._flatten_layers():
            own = [w for w in layer._own_weights if w.trainable] + \
                  [w for w in layer._own_weights if not w.trainable]
            for w in own:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    variables = weights

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [w for w in self.weights if w.trainable and w.requires_grad]

    trainable_variables = trainable_weights

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return [w for w in self.weights if not (w.trainable and w.requires_grad)]

    non_trainable_variables = non_trainable_weights

    @property
    def losses(self):
        """Call losses (activity penalties, ``add_loss``) of this and nested layers, then
        the regularization penalties of the trainable weights, as Tensors on the tape."""
        out = []
        for layer in self._flatten_layers():
            out.extend(layer._per_thread.call_losses)
        for w in self.trainable_weights:
            if w.regularizer is not None:
                out.append(w.regularizer(w))
        return out

    def add_loss(self, loss):
        """Add a scalar Tensor to ``losses`` until the next call of this layer (both in
        the calling thread: each thread sees the losses of its own calls)."""
        self._per_thread.call_losses.append(loss)

    # -- weights -------------------------------------------------------------------------
    def add_weight(self, *args, shape=None, initializer=None, dtype=None, trainable=True,
                   regularizer=None, constraint=None, name=None):
        """Create a weight on the layer's backend and track it.

        Positional arguments follow Keras 3's order, ``add_weight(shape, initializer,
        dtype, trainable, regularizer, constraint, name)``; a string first means the name,
        followed by minidl's earlier order ``(name, shape, initializer, regularizer,
        constraint, trainable, dtype)``, so that existing code keeps working.

        Args:
            shape: tuple of ints (``()`` when None).
            initializer: anything ``initializers.get`` accepts (default
                ``"glorot_uniform"`` for floats, ``"zeros"`` otherwise).
            dtype: default the layer's dtype.
            trainable: whether optimizers update it.
            regularizer, constraint: anything ``regularizers.get`` / ``constraints.get``
                accept, or None.
            name: the weight's name (``"kernel"``); its ``path`` is ``"layer/name"``.
                Without one, the layer's unnamed weights are ``variable``,
                ``variable_1``, ...

        Returns:
            Variable.

        Raises:
            TypeError: too many positional arguments, one given twice, a name that is
                not a string or a ``trainable`` that is not a bool.
        """
        given = {"shape": shape, "initializer": initializer, "dtype": dtype,
                 "trainable": trainable, "regularizer": regularizer,
                 "constraint": constraint, "name": name}
        order = _OLD_WEIGHT_ORDER if args and isinstance(args[0], str) else _WEIGHT_ORDER
        if len(args) > len(order):
            raise TypeError(f"add_weight() takes at most {len(order)} positional "
                            f"arguments ({', '.join(order)}), got {len(args)}")
        for key, value in zip(order, args):
            if given[key] is not (True if key == "trainable" else None):
                raise TypeError(f"add_weight() got multiple values for argument {key!r}")
            given[key] = value
        return self._add_weight(**given)

    def _add_weight(self, shape, initializer, dtype, trainable, regularizer, constraint,
                    name):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"add_weight: name={name!r} must be a string")
        if not isinstance(trainable, (bool, numpy.bool_)):
            raise TypeError(f"add_weight({name!r}): trainable={trainable!r} must be a bool")
        name = name or self._unused_weight_name()
        shape = () if shape is None else _shape_tuple(shape, "shape")
        if any(n is None or n < 0 for n in shape):
            raise ValueError(f"add_weight({name!r}): shape={shape} must be fully known")
        dtype = dtype_name(dtype or self.dtype)
        if initializer is None:
            initializer = "glorot_uniform" if numpy.dtype(dtype).kind == "f" else "zeros"
        init = initializers.get(initializer)
        if self._backend is None:
            self._backend = _backend.get_backend()
        with _backend.use_backend(self._backend):
            value = init(shape, dtype=dtype)
        variable = Variable(self._backend.asarray(value, dtype=dtype), name=name,
                            trainable=bool(trainable), backend=self._backend,
                            constraint=constraints.get(constraint),
                            regularizer=regularizers.get(regularizer))
        if variable.shape != shape:
            raise ValueError(f"initializer {initializer!r} returned shape "
                             f"{variable.shape} for weight {name!r} of shape {shape}")
        variable.path = f"{self.name}/{variable.name}"
        if not self.trainable:
            variable.requires_grad = False
        self._own_weights.append(variable)
        return variable

    add_variable = add_weight

    def _unused_weight_name(self):
        """``variable``, else ``variable_<n>`` with the first n not taken in this layer."""
        taken = {w.name for w in self._own_weights}
        name, n = "variable", 0
        while name in taken:
            n += 1
            name = f"variable_{n}"
        return name

    def get_weights(self):
        """The weights as host NumPy arrays, in ``weights`` order."""
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights):
        """Set every weight from a list of arrays in ``weights`` order.

        Raises:
            ValueError: when the count or a shape differs (naming the weight and both
                shapes).
        """
        mine = self.weights
        weights = list(weights)
        if len(weights) != len(mine):
            raise ValueError(f"layer {self.name!r} expects {len(mine)} weights "
                             f"({[w.path for w in mine]}), got a list of {len(weights)}")
        for w, value in zip(mine, weights):
            shape = tuple(numpy.shape(value.data if isinstance(value, Tensor) else value))
            if shape != w.shape:
                raise ValueError(f"layer {self.name!r}: weight {w.path!r} has shape "
                                 f"{w.shape}, the value given has shape {shape}")
        for w, value in zip(mine, weights):
            w.assign(value)

    def count_params(self):
        """The number of scalars in all weights.

        Raises:
            ValueError: when the layer is not built yet.
        """
        if not self.built:
            raise ValueError(f"layer {self.name!r} is not built yet, so it has no weights "
                             "to count; call it on an input or build(input_shape) first")
        return int(sum(w.size for w in self.weights))

    def to(self, backend):
        """Move every weight (own and nested) to ``backend``; returns the layer."""
        b = _backend.resolve(backend)
        for layer in self._flatten_layers():
            layer._backend = b
            for w in layer._own_weights:
                w._move_to(b)
        return self

    # -- building and calling ------------------------------------------------------------
    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (batch axis included)."""
        self.built = True

    def build_from_config(self, build_config):
        """Build from ``get_build_config()`` (Keras's ``{"input_shape": ...}``)."""
        shape = build_config.get("input_shape") if build_config else None
        if shape is not None and not self.built:
            self._build(_as_shape(from_keras_value(shape)))

    def get_build_config(self):
        if self._build_input_shape is None:
            return None
        return {"input_shape": self._build_input_shape}

    def _build(self, input_shape):
        self.build(input_shape)
        self._finish_build(input_shape)

    def _finish_build(self, input_shape):
        """After the outermost ``build``: mark built, remember the shape, and set the
        ``weights=`` given to the constructor."""
        self.built = True
        self._build_input_shape = input_shape
        if self._initial_weights is not None:
            weights, self._initial_weights = self._initial_weights, None
            self.set_weights(weights)

    def call(self, inputs, training=None):
        """The layer's computation; the base layer returns its inputs."""
        return inputs

    def __call__(self, inputs, training=None, **kwargs):
        # minidl.Input tensors: record a graph node, run nothing (a Tensor never is one)
        if not isinstance(inputs, Tensor) and is_symbolic(inputs):
            return symbolic_call(self, inputs, training=training, **kwargs)
        inputs = self._convert_inputs(inputs)
        if not self.built:
            self._build(_shape_of(inputs))
        outer = _training.get()
        if training is None:
            training = outer
        if self._call_has_training:
            kwargs["training"] = training
        self._per_thread.call_losses = call_losses = []
        token = _training.set(training)
        try:
            outputs = self.call(inputs, **kwargs)
        finally:
            _training.reset(token)
        if self.activity_regularizer is not None:
            for out in (outputs if isinstance(outputs, (list, tuple)) else [outputs]):
                if isinstance(out, Tensor):
                    batch = out.shape[0] if out.ndim else 1
                    call_losses.append(self.activity_regularizer(out) *
                                       (1.0 / max(batch, 1)))
        return outputs

    def _convert_inputs(self, inputs):
        # a Tensor on the layer's backend (every call of a step) takes the short path
        if isinstance(inputs, Tensor) and inputs.backend is self._backend:
            dtype = inputs.data.dtype
            if self.autocast and dtype.kind == "f" and dtype != self._dtype:
                return cast(inputs, self._dtype)
            return inputs
        if _is_input_list(inputs):
            return [self._convert_inputs(x) for x in inputs]
        if isinstance(inputs, Tensor):
            if self._backend is None or (inputs.backend != self._backend and
                                         not self.weights):
                self._backend = inputs.backend   # a layer without weights follows its input
            elif inputs.backend != self._backend:
                raise ValueError(f"layer {self.name!r} has its weights on "
                                 f"{self._backend.name} but got a {inputs.backend.name} "
                                 f"tensor; move one with .to({self._backend.name!r})")
            x = inputs
        else:
            if self._backend is None and _backend._is_cupy_array(inputs):
                self._backend = _backend.backend_of(inputs)
            dtype = None if hasattr(inputs, "dtype") else self.dtype
            x = Tensor(inputs, dtype=dtype, backend=self.backend)
        if self.autocast and x.dtype.kind == "f" and x.dtype != self.dtype:
            x = cast(x, self.dtype)
        return x

    def compute_output_shape(self, input_shape):
        """The output shape for ``input_shape`` (None for unknown sizes).

        The base rule runs the layer on zeros (a batch of 1 where the batch size is
        None); layers override it with their formula.
        """
        shape = _as_shape(input_shape)
        if isinstance(shape, list):
            raise NotImplementedError(f"{type(self).__name__}.compute_output_shape for "
                                      "several inputs")
        if any(n is None for n in shape[1:]):
            raise NotImplementedError(f"{type(self).__name__}.compute_output_shape with "
                                      f"unknown sizes {shape}")
        batch = shape[0] if shape and shape[0] is not None else 1
        with no_grad():
            out = self(self.backend.xp.zeros((batch,) + shape[1:], dtype=self.dtype))
        if not shape or shape[0] is not None:
            return out.shape
        return (None,) + out.shape[1:]

    # -- configuration -------------------------------------------------------------------
    def get_config(self):
        """``name``, ``trainable``, ``dtype`` and, when set, ``activity_regularizer`` and
        ``batch_input_shape``; subclasses add their constructor arguments."""
        cfg = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self.activity_regularizer is not None:
            cfg["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        if self.batch_input_shape is not None:
            cfg["batch_input_shape"] = self.batch_input_shape
        return cfg

    @classmethod
    def from_config(cls, config):
        """A new layer from ``get_config()`` output, or from a Keras 3 layer config."""
        return cls(**from_keras_value(dict(config)))

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"

    @contextlib.contextmanager
    def _computing_in(self, dtype):
        """Inside the block the layer (and nested layers) compute in ``dtype``: floating
        weights hold ``dtype`` copies and inputs are cast to ``dtype``. Everything is
        restored afterwards (used by ``gradcheck.check_layer`` for float64)."""
        layers = self._flatten_layers()
        weights = self.weights
        saved_dtypes = [layer._dtype for layer in layers]
        saved = [(w.data, w._grad) for w in weights]
        try:
            for layer in layers:
                layer._dtype = dtype
            for w in weights:
                if w.dtype.kind == "f":
                    w.data = w.data.astype(dtype)
                    w._grad = None
            yield self
        finally:
            for layer, old in zip(layers, saved_dtypes):
                layer._dtype = old
            for w, (data, grad) in zip(weights, saved):
                w.data, w._grad = data, grad


def _marks_built(build):
    """Wrap a subclass's ``build`` so that calling it directly (``layer.build(shape)``)
    also marks the layer built, as Keras does; nested ``super().build`` calls only count
    once."""
    @functools.wraps(build)
    def wrapper(self, input_shape, *args, **kwargs):
        depth = self.__dict__.get("_build_depth", 0)
        object.__setattr__(self, "_build_depth", depth + 1)
        try:
            result = build(self, input_shape, *args, **kwargs)
        finally:
            object.__setattr__(self, "_build_depth", depth)
        if depth == 0:
            try:
                input_shape = _as_shape(input_shape)
            except (TypeError, ValueError):   # e.g. a dict of shapes: keep it as given
                pass
            self._finish_build(input_shape)
        return result
    return wrapper


def _as_shape(shape):
    """A shape tuple, or a list of them for several inputs."""
    if isinstance(shape, (list, tuple)) and shape and \
            all(isinstance(s, (list, tuple)) for s in shape):
        return [_shape_tuple(s, "input_shape") for s in shape]
    return _shape_tuple(shape, "input_shape")


def _shape_of(inputs):
    if isinstance(inputs, list):
        return [_shape_of(x) for x in inputs]
    return tuple(inputs.shape)


def _exported(cls):
    """Whether ``minidl.layers`` or ``minidl.models`` exports ``cls``: the layers that
    unknown-name errors list (abstract bases such as ``BaseConv`` are not)."""
    return any(getattr(sys.modules.get(package), cls.__name__, None) is cls
               for package in ("minidl.layers", "minidl.models"))


_family = Family("layer", module="keras.layers", base=Layer, listed=_exported)

_LAYER_MODULES = ("keras.layers", "keras.src.layers", "minidl")
_MODEL_MODULES = ("keras.models", "keras.src.models")
_MODEL_CLASSES = ("Functional", "Model", "Sequential")
_OPERATION_MODULES = ("keras.ops", "keras.src.ops")
# classes whose configs carry Python code: never built (also screened by keras_files)
CODE_CLASSES = ("Lambda", "TFOpLambda", "SlicingOpLambda", "__lambda__")


def _within(module, packages):
    return isinstance(module, str) and any(module == p or module.startswith(p + ".")
                                           for p in packages)


def _family_of(config, custom_objects):
    """``(family, builtins)``: where the class of a serialized entry is looked up, by its
    ``module``; ``builtins=False`` means only in ``custom_objects``.

    Raises:
        ValueError: a class that holds code (``Lambda``), an unknown operation, or a
            module that is neither Keras's layers, operations or models nor minidl's,
            for a class not in ``custom_objects`` (naming module and class).
    """
    module, name = config.get("module"), str(config.get("class_name"))
    registered = str(config.get("registered_name") or name).split(">")[-1]
    if Family.custom(name, custom_objects) is not None or \
            Family.custom(registered, custom_objects) is not None:
        return _family, False
    if name in CODE_CLASSES:
        raise ValueError(f"{module}.{name}: a {name} layer holds Python code, and minidl "
                         "never runs code from a config; rebuild that part of the model "
                         "with layers, or pass a class in custom_objects={name: class}")
    is_model = module == "keras" or _within(module, _MODEL_MODULES)
    if module is None or _within(module, _LAYER_MODULES) or (
            is_model and name in _MODEL_CLASSES):
        return _family, True
    if _within(module, _OPERATION_MODULES):
        if name not in operations:
            raise ValueError(f"Unknown operation {module}.{name}: minidl runs the "
                             f"operations {', '.join(operations.known())}")
        return operations, True
    raise ValueError(f"Unknown layer: {name!r} from module {module!r}, which is neither "
                     "keras.layers, keras.src.ops, a Keras model nor minidl; pass the "
                     "class in custom_objects={name: class}. Known layers: "
                     f"{', '.join(_family.known())}")


def get(identifier, custom_objects=None):
    """A layer from a class name (built with default arguments), a config dict, or a
    Layer instance.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if isinstance(identifier, dict):
        return deserialize(identifier, custom_objects)
    return _family.get(identifier, custom_objects)


def serialize(layer):
    """Keras 3's ``{"module", "class_name", "config", "registered_name"}`` form, with
    ``"build_config"`` when the layer is built; an operation (``x + 3.0``) as Keras
    writes it (``{"module": "keras.src.ops.numpy", "class_name": "Add", ...}``)."""
    if not isinstance(layer, Layer):
        return operations.serialize(layer)
    out = _family.serialize(layer)
    build_config = layer.get_build_config()
    if build_config is not None:
        out["build_config"] = build_config
    return out


def deserialize(config, custom_objects=None):
    """A layer, model or operation from a serialized entry (``serialize`` output or
    Keras's), chosen by its ``module`` (see the module docstring); a layer is built when
    the entry holds a ``build_config``. Top-level keys other than ``module``,
    ``class_name``, ``config``, ``registered_name`` and ``build_config`` (Keras's
    ``compile_config``, a functional entry's ``name`` and ``inbound_nodes``) are ignored.

    Raises:
        ValueError: an unknown class or module, a ``Lambda``, or a bad config.
    """
    if not isinstance(config, dict):
        return _family.deserialize(config, custom_objects)
    family, builtins = _family_of(config, custom_objects)
    layer = family.deserialize(config, custom_objects, builtins=builtins)
    if config.get("build_config") and isinstance(layer, Layer):
        layer.build_from_config(config["build_config"])
    return layer


Layer._call_has_training = True
_family.register(Layer)
