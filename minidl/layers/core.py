"""``Dense``: the fully connected layer, ``activation(x @ kernel + bias)`` on the last axis.

>>> import numpy as np, minidl as mdl
>>> layer = mdl.layers.Dense(2, kernel_initializer="ones", bias_initializer="ones")
>>> layer(np.ones((3, 4))).numpy()
array([[5., 5.],
       [5., 5.],
       [5., 5.]], dtype=float32)
>>> [w.shape for w in layer.weights]
[(4, 2), (2,)]
"""
import numbers

from .. import activations
from ..ops.math import matmul
from ..ops.shape import reshape
from .arguments import set_weight_arguments, weight_arguments_config
from .base import Layer

__all__ = ["Dense", "Identity"]


def positive_int(value, name):
    """``value`` as a positive int (NumPy integers accepted); ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name}={value!r} must be a positive int")
    return int(value)


def check_unsupported(**options):
    """Keras arguments minidl accepts only at their default (None)."""
    for name, value in options.items():
        if value is not None:
            raise ValueError(f"{name}={value!r} is not supported; minidl accepts only "
                             f"{name}=None")


def check_rank(layer, shape, rank, layout):
    """ValueError naming ``layer`` unless ``shape`` has ``rank`` axes (``layout``)."""
    if len(shape) != rank:
        raise ValueError(f"{layer.name} ({type(layer).__name__}) expects a {rank}-D input "
                         f"{layout}, got shape {tuple(shape)}")


def image_layout(rank, data_format):
    """The axes of a ``rank``-D (3 or 4) ``data_format`` input, as ``"(N, H, W, C)"``."""
    spatial = "L" if rank == 3 else "H, W"
    return f"(N, {spatial}, C)" if data_format == "channels_last" else f"(N, C, {spatial})"


class Dense(Layer):
    """Densely connected layer: ``output = activation(inputs @ kernel + bias)``.

    Acts on the last axis of an input of any rank >= 2; the leading axes are kept.

    Args:
        units: positive int, the size of the output's last axis.
        activation: name or callable; None means linear (no activation).
        use_bias: whether to add a bias vector.
        kernel_initializer, bias_initializer: initializers (``"glorot_uniform"``,
            ``"zeros"``); names, configs, instances or callables.
        kernel_regularizer, bias_regularizer, activity_regularizer: regularizers or None.
        kernel_constraint, bias_constraint: constraints or None.
        lora_rank, lora_alpha, quantization_config: accepted as Keras emits them, None
            only.
        **kwargs: the common layer arguments (``name``, ``dtype``, ``input_shape``, ...).

    Weights:
        ``kernel`` of shape ``(input_dim, units)``, then ``bias`` of shape ``(units,)``.

    Input shape:
        ``(batch, ..., input_dim)``.

    Output shape:
        ``(batch, ..., units)``.

    Raises:
        ValueError: a non-positive ``units``; an input of rank < 2, with an unknown last
            axis, or whose last axis differs from the one the layer was built for.

    Example:
        >>> import minidl as mdl
        >>> mdl.layers.Dense(8, activation="relu").compute_output_shape((None, 5, 3))
        (None, 5, 8)
    """

    def __init__(self, units: int, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, lora_rank: int | None = None,
                 lora_alpha: float | None = None, quantization_config=None,
                 **kwargs) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        check_unsupported(lora_rank=lora_rank, lora_alpha=lora_alpha,
                          quantization_config=quantization_config)
        self.units = positive_int(units, "units")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        set_weight_arguments(self, "kernel", kernel_initializer, kernel_regularizer,
                             kernel_constraint)
        set_weight_arguments(self, "bias", bias_initializer, bias_regularizer,
                             bias_constraint)
        self.input_dim = None

    def _check_input(self, shape):
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(f"{self.name} (Dense) expects an input of rank >= 2 "
                             f"(batch, ..., input_dim), got shape {shape}")
        if shape[-1] is None:
            raise ValueError(f"{self.name} (Dense): the last axis of the input must be "
                             f"known, got shape {shape}")
        if self.input_dim is not None and shape[-1] != self.input_dim:
            raise ValueError(f"{self.name} (Dense) was built for inputs with last axis "
                             f"{self.input_dim}, got shape {shape}")
        return shape

    def build(self, input_shape):
        shape = self._check_input(input_shape)
        self.input_dim = shape[-1]
        self.kernel = self.add_weight("kernel", (self.input_dim, self.units),
                                      self.kernel_initializer, self.kernel_regularizer,
                                      self.kernel_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer,
                                        self.bias_regularizer, self.bias_constraint)

    def call(self, inputs):
        self._check_input(inputs.shape)
        if inputs.ndim == 2:
            y = matmul(inputs, self.kernel)
        else:  # one 2-D matmul (one BLAS call) over all leading axes
            y = reshape(matmul(reshape(inputs, (-1, self.input_dim)), self.kernel),
                        inputs.shape[:-1] + (self.units,))
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y)

    def compute_output_shape(self, input_shape):
        shape = self._check_input(input_shape)
        return shape[:-1] + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **weight_arguments_config(self, ["kernel", "bias"]),
            "quantization_config": None,
        })
        return config


class Identity(Layer):
    """A placeholder that returns its inputs unchanged (any structure, any shape).

    Args:
        **kwargs: base Layer arguments.

    Example:
        >>> import numpy as np, minidl as mdl
        >>> mdl.layers.Identity()(np.array([1.0, 2.0])).numpy().tolist()
        [1.0, 2.0]
    """

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape
