"""``Dropout``: inverted dropout in training, the identity otherwise.

>>> import numpy as np, minidl as mdl
>>> layer = mdl.layers.Dropout(0.5, seed=1)
>>> layer(np.ones((2, 3))).numpy().tolist()         # inference: unchanged
[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
>>> sorted(set(layer(np.ones((50,)), training=True).numpy().tolist()))
[0.0, 2.0]
"""
from ..ops.dropout import check_rate, dropout, dropout_noise_shape
from .base import Layer

__all__ = ["Dropout"]


class Dropout(Layer):
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

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate(rate)
        if noise_shape is not None:
            try:
                noise_shape = tuple(noise_shape)
            except TypeError:
                raise ValueError(f"noise_shape={noise_shape!r} must be a tuple of ints "
                                 "(None for the input's size)") from None
        self.noise_shape = noise_shape
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)
                                 or seed < 0):
            raise ValueError(f"seed={seed!r} must be None or a non-negative int")
        self.seed = seed
        self._generators = {}  # backend name -> this layer's generator (seeded layers)

    def _generator(self, backend):
        if self.seed is None:
            return None  # the backend's global generator
        if backend.name not in self._generators:
            self._generators[backend.name] = backend.xp.random.default_rng(self.seed)
        return self._generators[backend.name]

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
