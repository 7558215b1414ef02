"""Regularization layers, active only in training (``training=True``), the identity
otherwise: ``Dropout`` (inverted dropout), ``SpatialDropout2D`` (drops whole feature
maps) and ``GaussianNoise`` (adds zero-mean normal noise).

Randomness: a layer with ``seed=None`` draws from ``minidl.random.generator(backend)``
(reproducible after ``minidl.random.seed``); with an int seed it owns a generator seeded
with it, so its sequence of draws does not depend on anything else that draws.

>>> import numpy as np, minidl as mdl
>>> layer = mdl.layers.Dropout(0.5, seed=1)
>>> layer(np.ones((2, 3))).numpy().tolist()         # inference: unchanged
[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
>>> sorted(set(layer(np.ones((50,)), training=True).numpy().tolist()))
[0.0, 2.0]
>>> mdl.layers.GaussianNoise(0.1)(np.zeros(3)).numpy().tolist()
[0.0, 0.0, 0.0]
"""
import math
import numbers

from .. import random as _random
from ..autograd import Tensor
from ..ops import conv_utils
from ..ops.dropout import check_rate, dropout, dropout_noise_shape
from .base import Layer

__all__ = ["Dropout", "SpatialDropout2D", "GaussianNoise"]


def _check_seed(seed):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)
                             or seed < 0):
        raise ValueError(f"seed={seed!r} must be None or a non-negative int")
    return seed


class _RandomLayer(Layer):
    """A layer that draws random numbers: ``seed`` and the generator it draws from."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = _check_seed(seed)
        self._generators = {}  # backend name -> this layer's generator (seeded layers)

    def _generator(self, backend):
        """This layer's generator on ``backend``; None (the backend's global one) for an
        unseeded layer."""
        if self.seed is None:
            return None
        if backend.name not in self._generators:
            self._generators[backend.name] = backend.xp.random.default_rng(self.seed)
        return self._generators[backend.name]


class Dropout(_RandomLayer):
    """Zero each input with probability ``rate`` during training and scale the kept
    ones by ``1 / (1 - rate)``, so the expected output equals the input; with
    ``training`` False or None the layer returns its input.

    Args:
        rate: float in [0, 1), the fraction of inputs to drop.
        noise_shape: shape of the binary mask, broadcast against the input (None
            entries take the input's size), e.g. ``(None, 1, 1, None)`` drops whole
            feature maps; None means the input's shape.
        seed: int or None. With an int the layer draws from its own generator seeded
            with it (reproducible whatever else draws); with None it draws from
            ``minidl.random.generator(backend)``, reproducible after
            ``minidl.random.seed``.
        **kwargs: base Layer arguments.

    Input shape:
        Any. Output shape: the same.

    Raises:
        ValueError: ``rate`` outside [0, 1), a malformed ``noise_shape`` or ``seed``.
    """

    def __init__(self, rate: float, noise_shape: tuple | None = None,
                 seed: int | None = None, **kwargs) -> None:
        super().__init__(seed=seed, **kwargs)
        self.rate = check_rate(rate)
        if noise_shape is not None:
            try:
                noise_shape = tuple(noise_shape)
            except TypeError:
                raise ValueError(f"noise_shape={noise_shape!r} must be a tuple of ints "
                                 "(None for the input's size)") from None
        self.noise_shape = noise_shape

    def build(self, input_shape):
        if self.noise_shape is not None and None not in input_shape:
            dropout_noise_shape(self.noise_shape, input_shape)

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        return dropout(inputs, self.rate, self.noise_shape,
                       seed=self._generator(inputs.backend))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed,
                       "noise_shape": self.noise_shape})
        return config


class SpatialDropout2D(Dropout):
    """Dropout of whole feature maps: in training each channel of each sample is zeroed
    with probability ``rate`` (the mask is constant over height and width) and the kept
    ones are scaled by ``1 / (1 - rate)``; otherwise the layer returns its input.

    Args:
        rate: float in [0, 1), the fraction of feature maps to drop.
        data_format: "channels_last" ``(N, H, W, C)``, "channels_first" ``(N, C, H, W)``
            or None (the configured default).
        seed: None or an int (see the module docstring).
        name, dtype, ``**kwargs``: base Layer arguments. The config holds only Keras's keys
            (``rate``, ``seed``, ``name``, ``dtype``, ``data_format``), plus
            ``batch_input_shape`` when one was given.

    Input shape:
        4-D. Output shape: the same.

    Raises:
        ValueError: ``rate`` outside [0, 1), a bad ``data_format`` or ``seed``, an input
            that is not 4-D.
    """

    def __init__(self, rate: float, data_format: str | None = None, seed: int | None = None,
                 name: str | None = None, dtype: str | None = None, **kwargs) -> None:
        super().__init__(rate, noise_shape=None, seed=seed, name=name, dtype=dtype,
                         **kwargs)
        self.data_format = conv_utils.normalize_data_format(data_format)

    def _mask_shape(self, shape):
        if self.data_format == "channels_first":
            return (shape[0], shape[1], 1, 1)
        return (shape[0], 1, 1, shape[3])

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"layer {self.name!r} (SpatialDropout2D) expects 4-D inputs, "
                             f"got shape {tuple(input_shape)}")

    def call(self, inputs, training=None):
        if inputs.ndim != 4:
            raise ValueError(f"layer {self.name!r} (SpatialDropout2D) expects 4-D inputs, "
                             f"got shape {inputs.shape}")
        if not training or self.rate == 0:
            return inputs
        return dropout(inputs, self.rate, self._mask_shape(inputs.shape),
                       seed=self._generator(inputs.backend))

    def get_config(self):
        config = {"rate": self.rate, "seed": self.seed, "name": self.name,
                  "dtype": self.dtype, "data_format": self.data_format}
        if self.batch_input_shape is not None:
            config["batch_input_shape"] = self.batch_input_shape
        return config


def _check_stddev(stddev):
    if isinstance(stddev, bool) or not isinstance(stddev, numbers.Real) or \
            not math.isfinite(stddev) or not 0 <= stddev <= 1:
        raise ValueError(f"stddev={stddev!r} of a GaussianNoise layer must be a number "
                         "in [0, 1]")
    return float(stddev)


class GaussianNoise(_RandomLayer):
    """Add zero-centred normal noise: in training ``output = inputs + stddev * n`` with
    ``n ~ N(0, 1)`` drawn afresh at each call on the input's backend, in the layer's
    dtype; otherwise the layer returns its input. The gradient passes unchanged.

    Args:
        stddev: float in [0, 1] (Keras's range), the standard deviation of the noise.
        seed: None or an int (see the module docstring).
        **kwargs: base Layer arguments.

    Input shape:
        Any. Output shape: the same.

    Raises:
        ValueError: ``stddev`` outside [0, 1] or not a number, a bad ``seed``.
    """

    def __init__(self, stddev: float, seed: int | None = None, **kwargs) -> None:
        super().__init__(seed=seed, **kwargs)
        self.stddev = _check_stddev(stddev)

    def call(self, inputs, training=None):
        if not training or self.stddev == 0:
            return inputs
        generator = self._generator(inputs.backend)
        if generator is None:
            generator = _random.generator(inputs.backend)
        dtype = inputs.dtype if inputs.dtype.itemsize >= 4 else "float32"
        noise = generator.standard_normal(inputs.shape, dtype=dtype)
        noise = (noise * self.stddev).astype(inputs.dtype, copy=False)
        return inputs + Tensor._wrap(noise)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"stddev": self.stddev, "seed": self.seed})
        return config
