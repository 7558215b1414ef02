"""The functional API: ``Model(inputs, outputs)`` over a graph of layer calls.

Wire layers on symbolic tensors, then name the ends of the graph::

    inputs = mdl.Input(shape=(8, 8, 1))
    x = layers.Conv2D(16, 3, padding="same")(inputs)
    y = layers.Add()([x, layers.Conv2D(16, 1)(x)])          # a residual connection
    model = mdl.models.Model(inputs, layers.Dense(10)(layers.Flatten()(y)))

Wiring runs no data: each layer is built for its input shape and its output shape comes
from ``compute_output_shape``. Arithmetic on symbolic tensors (``x + 3.0``, ``x * y``)
records operations (``minidl.layers.operations``), and a model called on symbolic tensors
is a layer of the new model (its weights shared). Calling the model runs the recorded
calls in topological order (a layer called twice in the graph runs twice, with the same
weights). The graph, the layer order and the config follow Keras 3: ``operations`` (layers
and operations) are sorted by depth from the inputs, ``layers`` are the layers among
them, ``weights`` follow ``layers``, and ``get_config`` writes ``"layers"`` (each layer or
operation with its ``"inbound_nodes"``), ``"input_layers"`` and ``"output_layers"``.

>>> import numpy as np, minidl as mdl
>>> a = mdl.Input(shape=(3,), name="a")
>>> h = mdl.layers.Dense(4, name="hidden")(a)
>>> model = mdl.models.Model(a, mdl.layers.Add(name="sum")([h, h]), name="tiny")
>>> [layer.name for layer in model.layers]
['a', 'hidden', 'sum']
>>> model(np.ones((2, 3))).shape, model.compute_output_shape((None, 3))
((2, 4), (None, 4))
"""
from ..autograd import Tensor
from ..layers import Layer, deserialize, serialize
from ..layers.input_layer import Input, InputLayer
from ..layers.node import KerasTensor, inbound_nodes, node_of
from ..ops.math import cast
from .model import Model
from .outputs import OutputsMixin

__all__ = ["Functional", "Input", "InputLayer", "KerasTensor"]


# -- structures of tensors: one, a list, or a dict (flattened in sorted key order) --------
def _flatten(struct):
    if isinstance(struct, dict):
        return [struct[k] for k in sorted(struct)]
    if isinstance(struct, (list, tuple)):
        return list(struct)
    return [struct]


def _pack(struct, flat):
    if isinstance(struct, dict):
        return dict(zip(sorted(struct), flat))
    if isinstance(struct, (list, tuple)):
        return list(flat)
    return flat[0]


def _symbolic_struct(struct, argument):
    """``struct`` with tuples as lists; TypeError unless every leaf is a KerasTensor."""
    if isinstance(struct, tuple):
        struct = list(struct)
    if isinstance(struct, (list, dict)) and not struct:
        raise ValueError(f"Model({argument}=...) got an empty {type(struct).__name__}")
    items = struct.items() if isinstance(struct, dict) else (
        enumerate(struct) if isinstance(struct, list) else [(None, struct)])
    for key, x in items:
        if not isinstance(x, KerasTensor):
            where = argument if key is None else f"{argument}[{key!r}]"
            raise TypeError(f"Model {where} must be a symbolic tensor (from minidl.Input "
                            f"or a layer called on one), got {type(x).__name__}: "
                            f"{_short(x)}")
    return struct


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- the graph -----------------------------------------------------------------------------
def _map_graph(inputs, outputs):
    """Keras's graph walk: the model's nodes in execution order and its layers by depth.

    A depth-first walk from the outputs lists nodes inputs-first and numbers layers in
    the order it meets them; each node's depth is its longest distance to an output.
    Layers are sorted by decreasing depth, ties in walk order; nodes run by decreasing
    depth.

    Raises:
        ValueError: an output depends on an ``Input`` that is not in ``inputs``.
    """
    post_order, layer_index = _post_order(inputs, outputs)
    node_depth, layer_depth = {}, {}
    for node in reversed(post_order):
        depth = max(node_depth.get(id(node), 0), layer_depth.get(id(node.operation), 0))
        layer_depth[id(node.operation)] = node_depth[id(node)] = depth
        for parent in node.parent_nodes:
            node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    nodes = {id(n): n for n in post_order}
    layers = {id(n.operation): n.operation for n in post_order}
    for x in inputs:  # inputs no output uses still belong to the model
        node = node_of(x)
        if id(node.operation) not in layers:
            nodes[id(node)], layers[id(node.operation)] = node, node.operation
            node_depth[id(node)] = layer_depth[id(node.operation)] = 0
            layer_index[id(node.operation)] = -1
    ordered_nodes = sorted(nodes.values(), key=lambda n: -node_depth[id(n)])
    ordered_layers = sorted(layers.values(), key=lambda layer: (-layer_depth[id(layer)],
                                                                layer_index[id(layer)]))
    return ordered_nodes, ordered_layers


def _post_order(inputs, outputs):
    """``(nodes, layer_index)``: the nodes the outputs depend on, each after its parents
    (an iterative depth-first walk), and each layer's number in the order met."""
    input_ids = {id(x) for x in inputs}
    seen, post_order, layer_index = set(), [], {}

    def enter(node):
        seen.add(id(node))
        layer_index.setdefault(id(node.operation), len(layer_index))
        if node.is_input and id(node.outputs[0]) not in input_ids:
            raise ValueError(
                f"graph disconnected: the outputs depend on input {node.operation.name!r} "
                f"(shape {node.outputs[0].shape}), which is not among the model's inputs "
                f"{[x._keras_history.operation.name for x in inputs]}")
        return [node, iter([] if node.is_input else node.parent_nodes)]

    stack = []
    for out in outputs:
        if id(node_of(out)) not in seen:
            stack.append(enter(node_of(out)))
        while stack:
            node, parents = stack[-1]
            parent = next((p for p in parents if id(p) not in seen), None)
            if parent is None:
                post_order.append(stack.pop()[0])
            else:
                stack.append(enter(parent))
    return post_order, layer_index


class Functional(OutputsMixin, Model, functional=True):
    """A model defined by a graph of layer calls from ``inputs`` to ``outputs``.

    ``minidl.models.Model(inputs, outputs)`` returns one (as Keras does).

    Args:
        inputs: a KerasTensor from ``minidl.Input``, a list of them, or a dict of them.
        outputs: KerasTensor(s) computed from ``inputs``: one, a list or a dict.
        name: the model's name (default ``functional``, ``functional_1``, ...).
        trainable: whether the weights are updated in training.

    Training takes, as the model is called, one array, a list or a dict of arrays for the
    inputs, and likewise for the targets of several outputs; ``compile(loss=...)`` takes
    one loss, a list or a dict by output name (see ``minidl.models.outputs``).

    Input shape:
        As the ``Input``s: call the model on one array (one input), a list in ``inputs``
        order, or a dict keyed by input names (or by the keys of a dict ``inputs``).

    Output shape:
        One Tensor, a list or a dict, as ``outputs``.

    Raises:
        TypeError: an input or output that is not a symbolic tensor.
        ValueError: outputs that depend on an ``Input`` missing from ``inputs``, an input
            that is not an ``Input``, or two layers with one name.
    """

    _structured_data = True
    _keras_module = "keras.src.models.functional"   # serialized as Keras writes it
    _keras_registered = True

    def __init__(self, inputs, outputs, name: str | None = None, trainable: bool = True,
                 **kwargs) -> None:
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._inputs_struct = _symbolic_struct(inputs, "inputs")
        self._outputs_struct = _symbolic_struct(outputs, "outputs")
        self.inputs = _flatten(self._inputs_struct)
        self.outputs = _flatten(self._outputs_struct)
        for i, x in enumerate(self.inputs):
            if not node_of(x).is_input:
                raise ValueError(f"Model inputs[{i}] is the output of layer "
                                 f"{x._keras_history.operation.name!r}; inputs must be the "
                                 "tensors returned by minidl.Input(...)")
            if any(x is other for other in self.inputs[:i]):
                raise ValueError(f"Model inputs[{i}] ({x.name!r}) is given twice")
        self._nodes, operations = _map_graph(self.inputs, self.outputs)
        self._node_ids = {id(n) for n in self._nodes}
        names = [layer.name for layer in operations]
        for layer_name in names:
            if names.count(layer_name) > 1:
                raise ValueError(f"the name {layer_name!r} is used by "
                                 f"{names.count(layer_name)} layers of the model; layer "
                                 "names must be unique")
        self._operations = operations
        for layer in self.layers:
            self._track(layer)
        owners = [w for layer in self.layers for w in layer.weights]
        if owners:
            self._backend = owners[0].backend
        self.input_names = [x._keras_history.operation.name for x in self.inputs]
        self.output_names = (sorted(self._outputs_struct)
                             if isinstance(self._outputs_struct, dict) else
                             [x._keras_history.operation.name for x in self.outputs])
        self.built = True

    # -- structure ----------------------------------------------------------------------
    @property
    def layers(self):
        """The layers, ``InputLayer``s first, sorted by depth as Keras sorts them
        (operations such as ``x + 3.0`` are in ``operations`` only, as in Keras)."""
        return [op for op in self._operations if isinstance(op, Layer)]

    @property
    def operations(self):
        """The layers and operations of the graph, sorted by depth."""
        return list(self._operations)

    @property
    def input(self):
        return self._inputs_struct

    @property
    def output(self):
        return self._outputs_struct

    @property
    def input_shape(self):
        return _pack(self._inputs_struct, [x.shape for x in self.inputs])

    @property
    def output_shape(self):
        return _pack(self._outputs_struct, [x.shape for x in self.outputs])

    def build(self, input_shape):
        """A functional model is built when it is made; nothing to do."""
        self.built = True

    # -- running ------------------------------------------------------------------------
    def _flat_inputs(self, inputs):
        """The call's inputs as a list in ``self.inputs`` order."""
        n = len(self.inputs)
        if isinstance(inputs, dict):
            keys = sorted(self._inputs_struct) if isinstance(self._inputs_struct, dict) \
                else self.input_names
            missing = [k for k in keys if k not in inputs]
            if missing:
                raise ValueError(f"model {self.name!r}: the inputs dict has keys "
                                 f"{sorted(inputs)}, missing {missing}")
            return [inputs[k] for k in keys]
        if n == 1:  # one array, or a list holding one array
            one = isinstance(inputs, (list, tuple)) and len(inputs) == 1 and \
                (isinstance(inputs[0], Tensor) or hasattr(inputs[0], "ndim"))
            return [inputs[0]] if one else [inputs]
        if not isinstance(inputs, (list, tuple)) or len(inputs) != n:
            got = len(inputs) if isinstance(inputs, (list, tuple)) else 1
            raise ValueError(f"model {self.name!r} takes {n} inputs {self.input_names} "
                             f"(a list in that order, or a dict by name), got {got}")
        return list(inputs)

    def _convert_inputs(self, inputs):
        out = []
        for x, spec in zip(self._flat_inputs(inputs), self.inputs):
            if not isinstance(x, Tensor):
                x = Tensor(x, dtype=None if hasattr(x, "dtype") else spec.dtype,
                           backend=self.backend)
            elif x.backend != self.backend:
                raise ValueError(f"model {self.name!r} has its weights on "
                                 f"{self.backend.name} but got a {x.backend.name} tensor; "
                                 f"move one with .to({self.backend.name!r})")
            if self.autocast and x.dtype.name != spec.dtype:  # as the Input says
                x = cast(x, spec.dtype)
            shape = tuple(x.shape)
            if len(shape) != len(spec.shape) or any(
                    s is not None and s != n for s, n in zip(spec.shape, shape)):
                raise ValueError(f"model {self.name!r}: input {spec.name!r} expects shape "
                                 f"{spec.shape}, got shape {shape}")
            out.append(x)
        return out

    def call(self, inputs, training=None):
        """Run the graph on ``inputs`` (a list in ``self.inputs`` order)."""
        values = {id(spec): x for spec, x in zip(self.inputs, inputs)}
        for node in self._nodes:
            if node.is_input:
                continue
            args = node.map_args(lambda kt: values[id(kt)])
            kwargs = dict(node.kwargs)
            if isinstance(node.operation, Layer):  # operations take no training flag
                kwargs.setdefault("training", training)
            result = node.operation(*args, **kwargs)
            results = result if len(node.outputs) > 1 else [result]
            for kt, value in zip(node.outputs, results):
                values[id(kt)] = value
        return _pack(self._outputs_struct, [values[id(kt)] for kt in self.outputs])

    def compute_output_shape(self, input_shape):
        """The output shape(s) for ``input_shape`` (one shape, or one per input), from
        each layer's ``compute_output_shape``; runs no data."""
        if isinstance(input_shape, dict):
            shapes = self._flat_inputs(input_shape)
        elif len(self.inputs) == 1:
            shapes = [input_shape[0] if isinstance(input_shape, list) and input_shape and
                      isinstance(input_shape[0], (list, tuple)) else input_shape]
        else:
            shapes = list(input_shape)
        if len(shapes) != len(self.inputs):
            raise ValueError(f"model {self.name!r} takes {len(self.inputs)} input shapes, "
                             f"got {input_shape!r}")
        values = {id(spec): tuple(s) for spec, s in zip(self.inputs, shapes)}
        for node in self._nodes:
            if node.is_input:
                continue
            args = node.map_args(lambda kt: values[id(kt)])
            if not isinstance(node.operation, Layer):  # a number's shape is ()
                args = [a if isinstance(a, tuple) else () for a in args]
            out = node.operation.compute_output_shape(*args)
            outs = list(out) if len(node.outputs) > 1 else [out]
            for kt, shape in zip(node.outputs, outs):
                values[id(kt)] = tuple(shape)
        return _pack(self._outputs_struct, [values[id(kt)] for kt in self.outputs])

    # -- summary ------------------------------------------------------------------------
    def _node_index_map(self):
        """``(id(layer), original node index) -> index among this model's nodes``."""
        index = {}
        for layer in self._operations:
            kept = 0
            for i, node in enumerate(inbound_nodes(layer)):
                if id(node) in self._node_ids:
                    index[(id(layer), i)] = kept
                    kept += 1
        return index

    def _history(self, tensor, index_map, end=False):
        """``[layer name, node index, tensor index]``; in ``input_layers`` and
        ``output_layers`` (``end``) Keras counts a nested functional model's nodes from
        1."""
        layer, node_index, tensor_index = tensor._keras_history
        offset = 1 if end and isinstance(layer, Functional) else 0
        return [layer.name, index_map[(id(layer), node_index)] + offset, tensor_index]

    def _summary_rows(self):
        index_map = self._node_index_map()
        rows = []
        for layer in self._operations:
            nodes = [n for n in inbound_nodes(layer) if id(n) in self._node_ids]
            shapes = [n.outputs[0].shape if len(n.outputs) == 1 else
                      [x.shape for x in n.outputs] for n in nodes]
            shape = shapes[0] if all(s == shapes[0] for s in shapes) else "multiple"
            links = [f"{name}[{node}][{t}]" for n in nodes for x in n.input_tensors
                     for name, node, t in [self._history(x, index_map)]]
            params = layer.count_params() if isinstance(layer, Layer) else 0
            rows.append((f"{layer.name} ({type(layer).__name__})", shape, params,
                         links or ["-"]))
        return rows

    # -- configuration ------------------------------------------------------------------
    def get_config(self):
        """Keras 3's functional layout: ``name``, ``trainable``, ``layers`` (each
        serialized layer or operation with its ``name`` and ``inbound_nodes``: the
        ``args`` of each call, tensors as ``__keras_tensor__`` entries and numbers as
        they are, and its ``kwargs``), ``input_layers`` and ``output_layers``
        (``[layer_name, node_index, tensor_index]`` in the structure of ``inputs`` and
        ``outputs``)."""
        index_map = self._node_index_map()

        def tensor_config(x):
            return {"class_name": "__keras_tensor__",
                    "config": {"shape": list(x.shape), "dtype": x.dtype,
                               "keras_history": self._history(x, index_map)}}

        layer_configs = []
        for layer in self._operations:
            entry = serialize(layer)
            entry["name"] = layer.name
            entry["inbound_nodes"] = [
                {"args": node.map_args(tensor_config), "kwargs": dict(node.kwargs)}
                for node in inbound_nodes(layer)
                if id(node) in self._node_ids and not node.is_input]
            layer_configs.append(entry)

        def ends(struct):
            if isinstance(struct, dict):
                return {k: self._history(v, index_map, end=True) for k, v in struct.items()}
            if isinstance(struct, list):
                return [self._history(x, index_map, end=True) for x in struct]
            return self._history(struct, index_map, end=True)

        return {"name": self.name, "trainable": self.trainable, "layers": layer_configs,
                "input_layers": ends(self._inputs_struct),
                "output_layers": ends(self._outputs_struct)}

    def get_build_config(self):
        return None

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuild the layers and operations and replay their calls (in dependency
        order), from ``get_config()`` output or a Keras 3 (or Keras 2) functional config.

        Raises:
            ValueError: a malformed config, an unknown class or module (see
                ``minidl.layers.deserialize``), a call that fails (bad operation
                arguments, shapes that do not fit), or a call whose inputs never appear.
        """
        config = dict(config)
        try:
            entries = config.pop("layers")
            input_ends = config.pop("input_layers")
            output_ends = config.pop("output_layers")
        except KeyError as err:
            raise ValueError(f"a functional model config needs {err.args[0]!r}") from None
        graph = _ConfigGraph(entries, custom_objects)
        graph.replay_all()
        return cls(graph.ends(input_ends), graph.ends(output_ends),
                   name=config.get("name"), trainable=config.get("trainable", True))


class _ConfigGraph:
    """The graph of a functional config: creates each layer and operation from its entry,
    then replays the recorded calls (``inbound_nodes``) on symbolic tensors."""

    def __init__(self, entries, custom_objects):
        self.created, self.pending = {}, []
        for entry in entries:
            if not isinstance(entry, dict):
                raise ValueError(f"a functional config's layers must be dicts, got "
                                 f"{_short(entry)}")
            entry = dict(entry)
            name = entry.pop("name", None) or entry.get("config", {}).get("name")
            nodes = entry.pop("inbound_nodes", [])
            entry.pop("build_config", None)   # the replayed calls build the layers
            layer = deserialize(entry, custom_objects=custom_objects)
            self.created[name] = layer
            self.pending.extend((layer, node) for node in nodes)

    def tensor(self, layer_name, node_index, tensor_index, end=False):
        """The output ``tensor_index`` of call ``node_index`` of a layer; IndexError while
        that call is not replayed yet. In ``input_layers``/``output_layers`` (``end``)
        Keras counts a nested functional model's calls from 1."""
        layer = self.created.get(layer_name)
        if layer is None:
            raise ValueError(f"the config refers to an unknown layer {layer_name!r}")
        if end and isinstance(layer, Functional):
            node_index -= 1
        nodes = inbound_nodes(layer)
        if node_index >= len(nodes):
            raise IndexError(layer_name)
        return nodes[node_index].outputs[tensor_index]

    def revive(self, value):
        """``__keras_tensor__`` entries (in nested lists) as the tensors they name."""
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            return self.tensor(*value["config"]["keras_history"])
        if isinstance(value, list):
            return [self.revive(v) for v in value]
        return value

    def arguments(self, node):
        """``(args, kwargs)`` of a call: Keras 3's ``{"args", "kwargs"}`` or Keras 2's
        ``[[name, node, tensor, kwargs], ...]``."""
        if isinstance(node, list):
            args = [self.tensor(*item[:3]) for item in node]
            kwargs = dict(node[0][3]) if node and len(node[0]) > 3 else {}
            return [args[0] if len(args) == 1 else args], kwargs
        return self.revive(list(node.get("args", []))), dict(node.get("kwargs") or {})

    def replay(self, layer, node):
        try:
            args, kwargs = self.arguments(node)
        except (AttributeError, KeyError, TypeError) as err:
            raise ValueError(f"malformed call of {layer.name!r} in a functional config: "
                             f"{_short(node)} ({err!r})") from None
        if kwargs.pop("mask", None) is not None:
            raise ValueError(f"layer {layer.name!r} is called with a mask; minidl has no "
                             "masking")
        try:
            layer(*args, **kwargs)
        except (TypeError, ValueError) as err:
            raise ValueError(f"the config's call of {layer.name!r} "
                             f"({type(layer).__name__}) failed: {err}") from None

    def _replay_round(self):
        """Replay the pending calls whose inputs exist; returns those still waiting (a
        layer's later calls wait behind its first waiting one)."""
        left, waiting = [], set()
        for layer, node in self.pending:
            if id(layer) not in waiting and self._try_replay(layer, node):
                continue
            waiting.add(id(layer))
            left.append((layer, node))
        return left

    def _try_replay(self, layer, node):
        try:
            self.replay(layer, node)
        except IndexError:
            return False
        return True

    def replay_all(self):
        """Replay every call; a layer's calls in their order, each once its inputs
        exist."""
        while self.pending:
            left = self._replay_round()
            if len(left) == len(self.pending):
                names = [layer.name for layer, _ in left]
                raise ValueError(f"the config's calls of {names} take inputs that no layer "
                                 "produces")
            self.pending = left

    def ends(self, value):
        """``input_layers`` / ``output_layers`` as tensors, in their structure; Keras
        3.0-3.3 write one input as ``[[name, 0, 0]]``."""
        def walk(value):
            if isinstance(value, dict):
                return {k: walk(v) for k, v in value.items()}
            if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
                return self.tensor(*value, end=True)
            if isinstance(value, list):
                return [walk(v) for v in value]
            raise ValueError(f"bad input/output entry {value!r} in a functional config")

        value = walk(value)
        return value[0] if isinstance(value, list) and len(value) == 1 else value
