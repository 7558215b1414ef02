"""``Sequential``: a linear stack of layers.

>>> import minidl as mdl
>>> model = mdl.models.Sequential([mdl.layers.Dense(4, activation="relu"),
...                                mdl.layers.Dense(2)])
>>> model.build((None, 3))
>>> model.count_params()
26
>>> model.compute_output_shape((None, 3))
(None, 2)

An ``Input`` (or ``InputLayer``) first fixes the input shape, builds the model at once
and wires its layers symbolically, as Keras does, so a layer's ``output`` can end a
functional model:

>>> model = mdl.models.Sequential([mdl.Input(shape=(3,)), mdl.layers.Dense(4, name="h"),
...                                mdl.layers.Dense(2)])
>>> features = mdl.models.Model(model.inputs, model.get_layer("h").output)
>>> features.output_shape
(None, 4)
"""
from ..autograd import Tensor, no_grad
from ..layers import InputLayer, Layer, deserialize, serialize
from ..layers.node import KerasTensor
from ..limits import check_output
from .model import Model

__all__ = ["Sequential"]


class Sequential(Model):
    """A linear stack of layers.

    Args:
        layers: a list of layers, added in order; the first may be an ``Input`` tensor or
            an ``InputLayer``.
        name: the model's name.
        backend: where the weights live (``"numpy"`` / ``"cupy"``; default: the default
            backend).

    If the list starts with an ``Input`` or the first layer was given ``input_shape`` (or
    ``batch_input_shape``), the model is built at once; otherwise on its first call,
    ``build(input_shape)`` or ``fit``. With an ``Input``, ``inputs`` and ``outputs`` are
    the symbolic tensors of the model and each layer has its ``input`` and ``output``.
    """

    _keras_module = "keras"   # serialized as Keras writes it

    def __init__(self, layers: list | None = None, name: str | None = None, backend=None,
                 **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self._stack = []
        self._output_shapes = []
        self._input_layer = None
        self._wired = None   # (inputs, outputs) once built from an InputLayer
        if backend is not None:
            self.to(backend)
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._maybe_build()

    @property
    def layers(self):
        """The layers (an ``InputLayer`` given first is not among them, as in Keras)."""
        return list(self._stack)

    def add(self, layer, rebuild=True):
        """Append a layer (or, first, an ``Input`` tensor or ``InputLayer``); builds the
        model when its input shape is known.

        Raises:
            TypeError: something that is not a layer.
            ValueError: the layer is already in the model, or a second input.
        """
        if isinstance(layer, KerasTensor) and isinstance(layer._keras_history.operation,
                                                         InputLayer):
            layer = layer._keras_history.operation
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add takes a minidl Layer, got "
                            f"{type(layer).__name__}")
        if isinstance(layer, InputLayer):
            if self._input_layer is not None or self._stack:
                raise ValueError(f"Sequential model {self.name!r}: an Input can only come "
                                 "first, and only once")
            self._input_layer = layer
        else:
            if any(layer is other for other in self._stack):
                raise ValueError(f"layer {layer.name!r} is already in this model")
            self._stack.append(layer)
            self._track(layer)
        self.built = False
        self._wired = None
        if rebuild:
            self._maybe_build()

    def _maybe_build(self):
        """Build when the input shape is known: from the InputLayer or the first layer's
        ``batch_input_shape``."""
        if not self._stack:
            return
        shape = getattr(self._input_layer, "batch_shape", None) or getattr(
            self._stack[0], "batch_input_shape", None)
        if shape is not None:
            self.build(shape)

    @property
    def inputs(self):
        """``[input tensor]`` of a model built from an ``Input``."""
        return list(self._wiring()[0])

    @property
    def outputs(self):
        """``[output tensor]`` of a model built from an ``Input``."""
        return list(self._wiring()[1])

    def _wiring(self):
        if self._wired is None:
            raise AttributeError(f"Sequential model {self.name!r} has no defined inputs "
                                 "and outputs yet: start it with an Input(shape)")
        return self._wired

    @property
    def input(self):
        """The input tensor of its first symbolic call, else of its ``Input``."""
        if self.__dict__.get("_inbound_nodes") or self._wired is None:
            return super().input
        return self._wired[0][0]

    @property
    def output(self):
        """The output tensor of its first symbolic call, else of its ``Input``."""
        if self.__dict__.get("_inbound_nodes") or self._wired is None:
            return super().output
        return self._wired[1][0]

    def pop(self):
        """Remove and return the last layer."""
        if not self._stack:
            raise ValueError("pop() on a Sequential model with no layers")
        layer = self._stack.pop()
        self._layers.remove(layer)
        self.built = False
        self._wired = None
        if self._stack and self._build_shape is not None:
            self.build(self._build_shape)
        return layer

    _build_shape = None

    def build(self, input_shape):
        """Build every layer by running a batch of zeros of ``input_shape`` through them
        (``None`` dimensions become 1); with an ``InputLayer``, also wire the layers on
        its symbolic tensor (``inputs``, ``outputs``, each layer's ``output``).

        Raises:
            ValueError: no layers, a bad shape, or one that differs from the
                ``InputLayer``'s.
        """
        if not self._stack:
            raise ValueError("cannot build a Sequential model with no layers")
        input_shape = tuple(input_shape)
        if any(d is not None and (not isinstance(d, int) or d < 1) for d in input_shape):
            raise ValueError(f"input_shape={input_shape!r} must hold positive ints or None")
        expected = getattr(self._input_layer, "batch_shape", None)
        if expected is not None and (len(expected) != len(input_shape) or any(
                a is not None and b is not None and a != b
                for a, b in zip(expected, input_shape))):
            raise ValueError(f"Sequential model {self.name!r} has input shape {expected} "
                             f"(its Input); cannot build it for {input_shape}")
        b = self.backend
        x = Tensor(b.xp.zeros(tuple(1 if d is None else d for d in input_shape),
                              dtype=self.dtype), backend=b)
        shapes = []
        with no_grad():
            for layer in self._stack:
                if layer.backend != b:
                    layer.to(b)
                check_output(layer, x.shape)
                x = layer(x, training=False)
                shapes.append((None,) + tuple(x.shape[1:]))
        self._output_shapes = shapes
        self._build_shape = input_shape
        self._backend = b  # built: the model stays with its weights, whatever the default
        self.built = True
        if self._input_layer is not None and self._wired is None:
            x = self._input_layer.output
            for layer in self._stack:
                x = layer(x)
            self._wired = ([self._input_layer.output], [x])

    def call(self, inputs, training=None):
        x = inputs
        for layer in self._stack:
            x = layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self._stack:
            shape = tuple(layer.compute_output_shape(shape))
        return shape

    def _summary_rows(self):
        if not self.built:
            raise ValueError("summary(): the model is not built yet; call "
                             "build(input_shape), fit it, or give the first layer an "
                             "input_shape")
        return [(f"{layer.name} ({type(layer).__name__})", shape, layer.count_params())
                for layer, shape in zip(self._stack, self._output_shapes)]

    def get_config(self):
        """Keras 3's layout: ``name``, ``trainable``, ``dtype``, ``layers`` (the
        ``InputLayer`` first when there is one) and ``build_input_shape``."""
        config = super().get_config()
        first = [] if self._input_layer is None else [serialize(self._input_layer)]
        config["layers"] = first + [serialize(layer) for layer in self._stack]
        if self._build_shape is not None:
            config["build_input_shape"] = list(self._build_shape)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A Sequential model from ``get_config()`` output or Keras's (Keras 3, with an
        ``InputLayer`` entry; Keras 2, also a bare list of layers).

        Raises:
            ValueError: a config that is not a dict or list of layers, or any error of
                ``minidl.layers.deserialize``.
        """
        config = {"layers": config} if isinstance(config, list) else dict(config)
        layer_configs = config.pop("layers", [])
        build_shape = config.pop("build_input_shape", None)
        if not isinstance(layer_configs, list):
            raise ValueError(f"a Sequential config's 'layers' must be a list, got "
                             f"{type(layer_configs).__name__}")
        model = cls(**config)
        for item in layer_configs:
            model.add(deserialize(item, custom_objects=custom_objects), rebuild=False)
        model._maybe_build()
        if build_shape is not None and not model.built:
            model.build(tuple(build_shape))
        return model
