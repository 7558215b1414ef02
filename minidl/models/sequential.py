"""``Sequential``: a linear stack of layers.

>>> import minidl as mdl
>>> model = mdl.models.Sequential([mdl.layers.Dense(4, activation="relu"),
...                                mdl.layers.Dense(2)])
>>> model.build((None, 3))
>>> model.count_params()
26
>>> model.compute_output_shape((None, 3))
(None, 2)
"""
from ..autograd import Tensor, no_grad
from ..layers import Layer, deserialize, serialize
from .model import Model

__all__ = ["Sequential"]


class Sequential(Model):
    """A linear stack of layers.

    Args:
        layers: a list of layers, added in order.
        name: the model's name.
        backend: where the weights live (``"numpy"`` / ``"cupy"``; default: the default
            backend).
    If the first layer was given ``input_shape`` (or ``batch_input_shape``), the model is
    built at once; otherwise on its first call, ``build(input_shape)`` or ``fit``.
    """

    def __init__(self, layers=None, name=None, backend=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self._stack = []
        self._output_shapes = []
        if backend is not None:
            self.to(backend)
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self):
        return list(self._stack)

    def add(self, layer):
        """Append a layer; builds the model when the first layer knows its input shape."""
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add takes a minidl Layer, got "
                            f"{type(layer).__name__}")
        if any(layer is other for other in self._stack):
            raise ValueError(f"layer {layer.name!r} is already in this model")
        self._stack.append(layer)
        self._track(layer)
        self.built = False
        shape = getattr(self._stack[0], "batch_input_shape", None)
        if shape is not None:
            self.build(shape)

    def pop(self):
        """Remove and return the last layer."""
        if not self._stack:
            raise ValueError("pop() on a Sequential model with no layers")
        layer = self._stack.pop()
        self._layers.remove(layer)
        self.built = False
        if self._stack and self._build_shape is not None:
            self.build(self._build_shape)
        return layer

    _build_shape = None

    def build(self, input_shape):
        """Build every layer by running a batch of zeros of ``input_shape`` through them
        (``None`` dimensions become 1)."""
        if not self._stack:
            raise ValueError("cannot build a Sequential model with no layers")
        input_shape = tuple(input_shape)
        if any(d is not None and (not isinstance(d, int) or d < 1) for d in input_shape):
            raise ValueError(f"input_shape={input_shape!r} must hold positive ints or None")
        b = self.backend
        x = Tensor(b.xp.zeros(tuple(1 if d is None else d for d in input_shape),
                              dtype=self.dtype), backend=b)
        shapes = []
        with no_grad():
            for layer in self._stack:
                if layer.backend != b:
                    layer.to(b)
                x = layer(x, training=False)
                shapes.append((None,) + tuple(x.shape[1:]))
        self._output_shapes = shapes
        self._build_shape = input_shape
        self._backend = b  # built: the model stays with its weights, whatever the default
        self.built = True

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
            raise ValueError("summary(): the model is not built yet; call build(input_shape), "
                             "fit it, or give the first layer an input_shape")
        return [(f"{layer.name} ({type(layer).__name__})", shape, layer.count_params())
                for layer, shape in zip(self._stack, self._output_shapes)]

    def get_config(self):
        config = super().get_config()
        config["layers"] = [serialize(layer) for layer in self._stack]
        if self._build_shape is not None:
            config["build_input_shape"] = list(self._build_shape)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        layer_configs = config.pop("layers", [])
        build_shape = config.pop("build_input_shape", None)
        model = cls(**config)
        for item in layer_configs:
            if isinstance(item, dict) and item.get("class_name") == "InputLayer":
                shape = item.get("config", {}).get("batch_shape") or \
                    item.get("config", {}).get("batch_input_shape")
                build_shape = build_shape or shape
                continue
            model.add(deserialize(item, custom_objects=custom_objects))
        if build_shape is not None and not model.built:
            model.build(tuple(build_shape))
        return model
