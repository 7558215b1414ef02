"""Symbolic tensors and graph nodes: ``KerasTensor``, ``Node`` and ``symbolic_call``.

A ``KerasTensor`` has a shape (``None`` for the batch axis and other unknown sizes), a
dtype and the call that produced it, but no values. Calling a layer or an operation on
symbolic tensors records a ``Node`` on it (its ``_inbound_nodes``): the call's positional
arguments (tensors and constants), keyword arguments and outputs, and returns new
symbolic tensors. ``minidl.models.Model(inputs, outputs)`` reads the graph back from
these records.

Arithmetic on symbolic tensors (``x + 3.0``, ``3.0 - x``, ``x * y``, ``x / 6``, ``-x``)
records the Keras operation of the same name (``Add``, ``Subtract``, ``Multiply``,
``TrueDivide``, ``Negative``; ``minidl.layers.operations``), found by name in the
``operations`` registry, as Keras 3 does.

>>> import minidl as mdl
>>> x = mdl.Input(shape=(8,), name="features")
>>> x
<KerasTensor shape=(None, 8), dtype=float32, name=features>
>>> y = mdl.layers.Dense(3, name="scores")(x)
>>> y.shape, y.ndim, y._keras_history.operation.name
((None, 3), 2, 'scores')
>>> type((y + 3.0)._keras_history.operation).__name__
'Add'
"""
import collections
import numbers

from ..identifiers import Family, dtype_name

__all__ = ["KerasTensor", "KerasHistory", "Node", "inbound_nodes", "node_of",
           "first_call_tensors", "symbolic_call", "is_symbolic", "check_shape",
           "operations"]



class KerasHistory(collections.namedtuple("KerasHistory", ["operation", "node_index",
                                                           "tensor_index"])):
    """Which call (``node_index``) of which layer or operation produced a tensor, and
    which of its outputs (``tensor_index``) the tensor is; ``layer`` is ``operation``."""

    __slots__ = ()

    @property
    def layer(self):
        return self.operation


# Keras's operations on tensors (keras.src.ops.*), by class name; filled by
# minidl.layers.operations. Arithmetic on KerasTensors and configs find them here.
operations = Family("operation", module="keras.src.ops.numpy")


def check_shape(shape, argument):
    """A tuple of non-negative ints and None; ValueError naming ``argument`` otherwise."""
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise ValueError(f"{argument}={shape!r} must be a tuple of ints (None for unknown "
                         f"sizes), e.g. {argument}=(8,)")
    out = []
    for n in shape:
        if n is not None and (isinstance(n, bool) or not isinstance(n, numbers.Integral)
                              or n < 0):
            raise ValueError(f"{argument}={tuple(shape)!r} must hold non-negative ints or "
                             "None")
        out.append(None if n is None else int(n))
    return tuple(out)


def _record(name, *args):
    """Record a new Keras operation ``name`` called on ``args`` (as Keras's operators)."""
    return operations.lookup(name)()(*args)


class KerasTensor:
    """A symbolic tensor: shape, dtype and history, no values.

    Args:
        shape: tuple with ``None`` for unknown sizes (the batch axis first).
        dtype: dtype name (``"float32"``).
        name: a label (the producing layer's name by default).

    Attributes:
        shape, dtype, ndim, name: as for a Tensor (``dtype`` is the dtype's name).
        _keras_history: ``(operation, node_index, tensor_index)``: which call of which
            layer or operation produced it, and which of that call's outputs it is.

    ``+``, ``-``, ``*``, ``/`` with another symbolic tensor or a number, and unary ``-``,
    record Keras's ``Add``, ``Subtract``, ``Multiply``, ``TrueDivide`` and ``Negative``
    operations; other operators raise ``TypeError``.
    """

    _is_symbolic = True
    __array_ufunc__ = None   # NumPy defers to our reflected operators: 3.0 + x, Add(3.0, x)

    def __init__(self, shape, dtype="float32", name=None):
        self.shape = check_shape(shape, "shape")
        self.dtype = dtype_name(dtype)
        self.name = name
        self._keras_history = None

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *args, **kwargs):
        raise TypeError(f"{self!r} is symbolic and holds no values: wire it into "
                        "minidl.models.Model(inputs, outputs) and call the model on data")

    def __add__(self, other):
        return _record("Add", self, other)

    def __radd__(self, other):
        return _record("Add", other, self)

    def __sub__(self, other):
        return _record("Subtract", self, other)

    def __rsub__(self, other):
        return _record("Subtract", other, self)

    def __mul__(self, other):
        return _record("Multiply", self, other)

    def __rmul__(self, other):
        return _record("Multiply", other, self)

    def __truediv__(self, other):
        return _record("TrueDivide", self, other)

    def __rtruediv__(self, other):
        return _record("TrueDivide", other, self)

    def __neg__(self):
        return _record("Negative", self)

    def _unsupported(self, *args):
        raise TypeError(f"{self!r} is symbolic: it supports +, -, *, / with numbers or "
                        "other symbolic tensors and unary -; combine it otherwise with "
                        "layers (layers.Reshape, layers.Activation('relu'), ...)")

    __matmul__ = __rmatmul__ = __pow__ = __rpow__ = __floordiv__ = _unsupported
    __rfloordiv__ = __mod__ = __abs__ = __getitem__ = __bool__ = __float__ = _unsupported

    __hash__ = object.__hash__


def _flatten(value):
    """The leaves of nested lists and tuples."""
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _flatten(v)]
    return [value]


def _map(fn, value):
    """Nested lists (tuples become lists) with ``fn`` applied to each KerasTensor."""
    if isinstance(value, (list, tuple)):
        return [_map(fn, v) for v in value]
    return fn(value) if isinstance(value, KerasTensor) else value


class Node:
    """One call of a layer or operation on symbolic tensors.

    Args:
        operation: the layer or operation called.
        call_args: the positional arguments: KerasTensors, lists of them and constants
            (a layer's node has one, its inputs; an ``InputLayer``'s has none).
        call_kwargs: the keyword arguments (``training=...``), replayed on every run.
        outputs: the KerasTensors the call returned; their ``_keras_history`` is set here.
    """

    def __init__(self, operation, call_args, call_kwargs, outputs):
        self.operation = operation
        self.args = _map(lambda x: x, list(call_args))   # tuples as lists, as in JSON
        self.kwargs = dict(call_kwargs)
        self.outputs = list(outputs)
        self.input_tensors = [x for x in _flatten(self.args) if isinstance(x, KerasTensor)]
        nodes = inbound_nodes(operation)
        index = len(nodes)
        nodes.append(self)
        for i, tensor in enumerate(self.outputs):
            tensor._keras_history = KerasHistory(operation, index, i)

    @property
    def is_input(self):
        """An input node (an ``InputLayer``'s): it consumes no tensors."""
        return not self.input_tensors

    @property
    def parent_nodes(self):
        return [node_of(x) for x in self.input_tensors]

    def map_args(self, fn):
        """The positional arguments with ``fn`` applied to each KerasTensor."""
        return _map(fn, self.args)


def inbound_nodes(operation):
    """The list of ``Node``s recording the symbolic calls of ``operation``."""
    return operation.__dict__.setdefault("_inbound_nodes", [])


def node_of(tensor):
    """The ``Node`` that produced the KerasTensor ``tensor``."""
    operation, node_index, _ = tensor._keras_history
    return inbound_nodes(operation)[node_index]


def first_call_tensors(operation, which):
    """``operation.input`` / ``.output`` as Keras 3 defines them: the input (``which=
    "input"``) or output tensors of its first call; one tensor, or a list of several.

    Raises:
        AttributeError: the operation was never called on symbolic tensors.
    """
    nodes = inbound_nodes(operation)
    if not nodes:
        raise AttributeError(f"The layer {operation.name} has never been called and thus "
                             f"has no defined {which}.")
    values = nodes[0].input_tensors if which == "input" else nodes[0].outputs
    return values[0] if len(values) == 1 else list(values)


def is_symbolic(inputs):
    """Whether ``inputs`` (one value or a list) holds a symbolic tensor."""
    return any(isinstance(x, KerasTensor) for x in _flatten(inputs))


def _output_dtypes(layer, count):
    """The dtypes of a symbolic call's outputs: a model's are those of its own outputs,
    a layer's its compute dtype."""
    own = getattr(layer, "outputs", None)
    if isinstance(own, list) and len(own) == count and all(
            isinstance(x, KerasTensor) for x in own):
        return [x.dtype for x in own]
    return [layer.dtype] * count


def symbolic_call(layer, inputs, training=None, **kwargs):
    """Record ``layer(inputs)`` on symbolic tensors; runs no data.

    Builds the layer for the inputs' shapes when it is not built yet, infers the output
    shape(s) with ``layer.compute_output_shape`` and returns new KerasTensors (a list
    when the layer returns several outputs).

    Raises:
        TypeError: symbolic and concrete inputs mixed, or symbolic keyword arguments.
        ValueError: the layer rejects the input shapes (its own message).
    """
    if isinstance(inputs, tuple):
        inputs = list(inputs)
    flat = inputs if isinstance(inputs, list) else [inputs]
    for i, x in enumerate(flat):
        if not isinstance(x, KerasTensor):
            raise TypeError(f"layer {layer.name!r} got symbolic and concrete inputs mixed "
                            f"(input {i} is a {type(x).__name__}); in a functional model "
                            "every input of a layer must come from minidl.Input or another "
                            "layer's output")
    for key, value in kwargs.items():
        if is_symbolic(value):
            raise TypeError(f"layer {layer.name!r}: symbolic tensors are accepted as the "
                            f"first argument only, got {key}={value!r}")
    shapes = [x.shape for x in inputs] if isinstance(inputs, list) else inputs.shape
    if not layer.built:
        layer._build(shapes)
    try:
        out_shapes = layer.compute_output_shape(shapes)
    except NotImplementedError as err:
        raise TypeError(f"layer {layer.name!r} ({type(layer).__name__}) cannot be used on "
                        f"symbolic tensors: {err}; define its compute_output_shape") \
            from None
    several = isinstance(out_shapes, (list, tuple)) and len(out_shapes) > 0 and all(
        isinstance(s, (list, tuple)) for s in out_shapes)
    out_shapes = [tuple(s) for s in out_shapes] if several else [tuple(out_shapes)]
    outputs = [KerasTensor(s, dtype, name=layer.name)
               for s, dtype in zip(out_shapes, _output_dtypes(layer, len(out_shapes)))]
    call_kwargs = dict(kwargs)
    if training is not None:
        call_kwargs["training"] = training
    Node(layer, [inputs], call_kwargs, outputs)
    return outputs if several else outputs[0]
