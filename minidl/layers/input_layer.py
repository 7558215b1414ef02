"""``Input`` and ``InputLayer``: where a functional graph starts.

``Input(shape)`` makes an ``InputLayer`` and returns its one symbolic tensor, ``output``;
layers called on it record the graph that ``minidl.models.Model(inputs, outputs)`` runs.
``Sequential([Input(shape), ...])`` and ``Sequential([InputLayer(shape), ...])`` fix a
Sequential model's input shape, as in Keras.

>>> import minidl as mdl
>>> x = mdl.layers.Input(shape=(28, 28, 1), name="image")
>>> layer = x._keras_history.operation
>>> type(layer).__name__, layer.output is x, layer.batch_shape
('InputLayer', True, (None, 28, 28, 1))
"""
import numbers

from .. import config
from ..identifiers import dtype_name, from_keras_value
from .base import Layer
from .node import KerasTensor, Node, check_shape

__all__ = ["InputLayer", "Input"]


def _batch_shape(shape, batch_size, batch_shape):
    """The whole input shape from Keras's ``shape``/``batch_size``/``batch_shape``."""
    if shape is not None and batch_shape is not None:
        raise ValueError(f"give shape={shape!r} or batch_shape={batch_shape!r}, not both")
    if shape is None and batch_shape is None:
        raise ValueError("an Input needs shape= (without the batch axis), e.g. "
                         "Input(shape=(8,))")
    if batch_shape is not None:
        return check_shape(batch_shape, "batch_shape")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(
            batch_size, numbers.Integral) or batch_size < 1):
        raise ValueError(f"batch_size={batch_size!r} must be a positive int or None")
    return (batch_size,) + check_shape(shape, "shape")


class InputLayer(Layer):
    """The layer behind ``Input``: it owns one symbolic tensor, ``output``.

    Args:
        shape: the shape without the batch axis (``(8, 8, 1)``).
        batch_size: the batch size, or None (any).
        dtype: the input's dtype (any NumPy dtype; default ``config.floatx()``).
        batch_shape: the whole shape, batch axis included (instead of ``shape``; Keras 2's
            ``batch_input_shape`` is read as this).
        name: the layer's name (default ``input_layer``, ``input_layer_1``, ...).
        sparse, ragged, optional: Keras options, accepted only as False/None.

    Raises:
        ValueError: for no shape, both ``shape`` and ``batch_shape``, a bad shape or an
            unsupported option.
    """

    def __init__(self, shape: tuple | None = None, batch_size: int | None = None,
                 dtype: str | None = None, sparse: bool | None = None,
                 batch_shape: tuple | None = None, name: str | None = None,
                 ragged: bool | None = None, optional: bool | None = None,
                 **kwargs) -> None:
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
        batch_shape = _batch_shape(shape, batch_size, batch_shape)
        kwargs.pop("trainable", None)
        super().__init__(name=name, **kwargs)
        self._dtype = dtype_name(dtype or config.floatx())
        self.batch_shape = batch_shape
        Node(self, [], {}, [KerasTensor(self.batch_shape, self._dtype, name=self.name)])
        self.built = True

    def get_config(self):
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype,
                "sparse": False, "ragged": False, "name": self.name, "optional": False}

    @classmethod
    def from_config(cls, config):
        return cls(**from_keras_value(dict(config)))


def Input(shape: tuple | None = None, batch_size: int | None = None,
          dtype: str | None = None, sparse: bool | None = None,
          batch_shape: tuple | None = None, name: str | None = None, tensor=None,
          optional: bool = False) -> KerasTensor:
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
