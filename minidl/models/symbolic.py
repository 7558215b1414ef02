"""Symbolic tensors: ``Input``, ``InputLayer``, ``KerasTensor`` and the graph nodes.

``Input(shape)`` returns a ``KerasTensor``: a shape (``None`` for the batch axis and
other unknown sizes), a dtype and the layer call that produced it, but no values. Calling
a layer on symbolic tensors builds the layer for their shape, infers the output shape
with ``layer.compute_output_shape`` (no data runs), records a ``Node`` on the layer and
returns new symbolic tensors. ``minidl.models.Model(inputs, outputs)`` then reads the
graph back from those records.

>>> import minidl as mdl
>>> x = mdl.Input(shape=(8,), name="features")
>>> x
<KerasTensor shape=(None, 8), dtype=float32, name=features>
>>> y = mdl.layers.Dense(3, name="scores")(x)
>>> y.shape, y.ndim, y._keras_history.layer.name
((None, 3), 2, 'scores')
"""
import collections
import numbers

from .. import config
from ..identifiers import dtype_name, from_keras_value
from ..layers import Layer

__all__ = ["Input", "InputLayer", "KerasTensor", "Node", "symbolic_call"]

KerasHistory = collections.namedtuple("KerasHistory", ["layer", "node_index",
                                                       "tensor_index"])


def _shape(shape, argument):
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


class KerasTensor:
    """A symbolic tensor: shape, dtype and history, no values.

    Args:
        shape: tuple with ``None`` for unknown sizes (the batch axis first).
        dtype: dtype name (``"float32"``).
        name: a label (the producing layer's name by default).

    Attributes:
        shape, dtype, ndim, name: as for a Tensor (``dtype`` is the dtype's name).
        _keras_history: ``(layer, node_index, tensor_index)``: which call of which layer
            produced it, and which of that call's outputs it is.
    """

    _is_symbolic = True

    def __init__(self, shape, dtype="float32", name=None):
        self.shape = _shape(shape, "shape")
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

    def _no_math(self, *args):
        raise TypeError(f"{self!r} is symbolic: combine symbolic tensors with layers "
                        "(layers.Add()([a, b]), layers.Activation('relu')(x), ...), not "
                        "with operators or minidl ops")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _no_math
    __truediv__ = __rtruediv__ = __matmul__ = __rmatmul__ = __pow__ = _no_math
    __neg__ = __getitem__ = __bool__ = __float__ = _no_math

    __hash__ = object.__hash__


class Node:
    """One call of ``layer`` on symbolic tensors.

    Args:
        layer: the layer called.
        inputs: what it was called on: a KerasTensor or a list of them (``[]`` for an
            ``InputLayer``).
        kwargs: the extra call arguments (``training=...``), replayed on every run.
        outputs: the KerasTensors the call returned; their ``_keras_history`` is set here.
    """

    def __init__(self, layer, inputs, kwargs, outputs):
        self.layer = layer
        self.inputs = inputs
        self.kwargs = dict(kwargs)
        self.outputs = list(outputs)
        nodes = inbound_nodes(layer)
        index = len(nodes)
        nodes.append(self)
        for i, tensor in enumerate(self.outputs):
            tensor._keras_history = KerasHistory(layer, index, i)

    @property
    def is_input(self):
        return isinstance(self.layer, InputLayer)

    @property
    def input_tensors(self):
        """The input KerasTensors as a flat list."""
        return list(self.inputs) if isinstance(self.inputs, list) else [self.inputs]

    @property
    def parent_nodes(self):
        return [node_of(x) for x in self.input_tensors]

    def map_inputs(self, fn):
        """The inputs' structure with ``fn`` applied to each KerasTensor."""
        if isinstance(self.inputs, list):
            return [fn(x) for x in self.inputs]
        return fn(self.inputs)


def inbound_nodes(layer):
    """The list of ``Node``s recording the symbolic calls of ``layer``."""
    return layer.__dict__.setdefault("_inbound_nodes", [])


def node_of(tensor):
    """The ``Node`` that produced the KerasTensor ``tensor``."""
    layer, node_index, _ = tensor._keras_history
    return inbound_nodes(layer)[node_index]


class InputLayer(Layer):
    """The layer behind ``Input``: it owns one symbolic tensor, ``output``.

    Args:
        shape: the shape without the batch axis (``(8, 8, 1)``).
        batch_size: the batch size, or None (any).
        dtype: the input's dtype (any NumPy dtype; default ``config.floatx()``).
        batch_shape: the whole shape, batch axis included (instead of ``shape``).
        name: the layer's name (default ``input_layer``, ``input_layer_1``, ...).
        sparse, ragged, optional: Keras options, accepted only as False/None.

    Raises:
        ValueError: for no shape, both ``shape`` and ``batch_shape``, a bad shape or an
            unsupported option.
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None,
                 batch_shape=None, name=None, ragged=None, optional=None, **kwargs):
        legacy = kwargs.pop("batch_input_shape", None)
        if legacy is not None and batch_shape is None:
            batch_shape = legacy
        if "input_shape" in kwargs and shape is None:
            shape = kwargs.pop("input_shape")
        for option, value in (("sparse", sparse), ("ragged", ragged),
                              ("optional", optional)):
            if value:
                raise ValueError(f"{option}={value!r} is not supported; minidl inputs are "
                                 "dense arrays")
        if shape is not None and batch_shape is not None:
            raise ValueError(f"give shape={shape!r} or batch_shape={batch_shape!r}, not "
                             "both")
        if shape is None and batch_shape is None:
            raise ValueError("an Input needs shape= (without the batch axis), e.g. "
                             "Input(shape=(8,))")
        if batch_shape is None:
            if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(
                    batch_size, numbers.Integral) or batch_size < 1):
                raise ValueError(f"batch_size={batch_size!r} must be a positive int or "
                                 "None")
            batch_shape = (batch_size,) + _shape(shape, "shape")
        kwargs.pop("trainable", None)
        super().__init__(name=name, **kwargs)
        self._dtype = dtype_name(dtype or config.floatx())
        self.batch_shape = _shape(batch_shape, "batch_shape")
        self.output = KerasTensor(self.batch_shape, self._dtype, name=self.name)
        Node(self, [], {}, [self.output])
        self.built = True

    def get_config(self):
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype,
                "sparse": False, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**from_keras_value(dict(config)))


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None,
          name=None, tensor=None, optional=False):
    """A symbolic input for a functional model (Keras's ``keras.Input``).

    Args:
        shape: the shape of one sample, without the batch axis (``(8, 8, 1)``); None for
            sizes that vary.
        batch_size: a fixed batch size, or None.
        dtype: the input's dtype (default ``config.floatx()``).
        batch_shape: the whole shape with the batch axis, instead of ``shape``.
        name: the name of the input layer (it names the input in dicts of inputs).
        sparse, tensor, optional: Keras options; only their defaults are supported.

    Returns:
        KerasTensor of shape ``(batch_size,) + shape``.

    Raises:
        ValueError: no shape, a bad shape, or an unsupported option.

    Example:
        >>> import minidl as mdl
        >>> mdl.Input(shape=(28, 28, 1), name="image").shape
        (None, 28, 28, 1)
    """
    if tensor is not None:
        raise ValueError("Input(tensor=...) is not supported; build the model from "
                         "Input(shape=...) and call it on data")
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse,
                       batch_shape=batch_shape, name=name, optional=optional)
    return layer.output


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
        if isinstance(value, KerasTensor) or (isinstance(value, (list, tuple)) and any(
                isinstance(v, KerasTensor) for v in value)):
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
    dtype = layer.dtype
    outputs = [KerasTensor(s, dtype, name=layer.name) for s in out_shapes]
    call_kwargs = dict(kwargs)
    if training is not None:
        call_kwargs["training"] = training
    Node(layer, inputs, call_kwargs, outputs)
    return outputs if several else outputs[0]


def is_symbolic(inputs):
    """Whether ``inputs`` (one value or a list) holds a symbolic tensor."""
    if isinstance(inputs, (list, tuple)):
        return any(isinstance(x, KerasTensor) for x in inputs)
    return isinstance(inputs, KerasTensor)
