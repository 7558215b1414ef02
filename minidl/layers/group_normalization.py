"""``GroupNormalization`` (Keras 3's arguments, weights, config and formula).

>>> import numpy as np, minidl as mdl
>>> layer = mdl.layers.GroupNormalization(groups=2, epsilon=0.0, dtype="float64")
>>> layer(np.array([[1.0, 3.0, 6.0, 4.0]])).numpy()
array([[-1.,  1.,  1., -1.]])
>>> [w.shape for w in layer.weights]
[(4,), (4,)]
"""
from ..ops.normalization import group_normalization
from .layer_normalization import _AffineNormalization

__all__ = ["GroupNormalization"]


class GroupNormalization(_AffineNormalization):
    """Normalize each sample over groups of consecutive channels (Wu & He, 2018).

    The ``C`` channels on ``axis`` split into ``groups`` groups of ``C / groups``
    consecutive channels. For each sample and group, ``mean`` and the biased ``var`` are
    taken over the group's channels and every other non-batch axis::

        y[..., c, ...] = (x - mean) / sqrt(var + epsilon) * gamma[c] + beta[c]

    ``groups=1`` normalizes each sample over all its values (with per-channel
    ``gamma``/``beta``, unlike ``LayerNormalization``); ``groups=C`` (or ``-1``) is
    instance normalization.

    Args:
        groups: positive int dividing the number of channels, or ``-1`` for one group per
            channel (replaced by the channel count at build, as Keras reports it).
        axis: int, the channel axis (``1`` after a channels_first convolution).
        epsilon: float >= 0 added to the variance.
        center: learn the offset ``beta`` (else 0).
        scale: learn the scale ``gamma`` (else 1).
        beta_initializer, gamma_initializer: ``"zeros"`` and ``"ones"`` by default.
        beta_regularizer, gamma_regularizer: regularizers or None.
        beta_constraint, gamma_constraint: constraints or None.
        **kwargs: base Layer arguments (``name``, ``dtype``, ``trainable``, ...).

    Weights (``get_weights`` order): ``gamma`` (if ``scale``) then ``beta`` (if
    ``center``), both trainable, each ``(C,)`` with ``C = input_shape[axis]``.

    Input shape:
        Rank >= 2 with the batch on axis 0; ``input_shape[axis]`` must be known.

    Output shape:
        Same as the input.

    Raises:
        ValueError: ``groups`` not a positive int or ``-1``, ``axis`` not an int, bad
            ``epsilon``/``center``/``scale``; at build, ``axis`` out of range or the batch
            axis, an unknown channel count, more groups than channels, or channels that
            ``groups`` does not divide; later, an input of another rank or channel count.

    Example:
        >>> import minidl as mdl
        >>> layer = mdl.layers.GroupNormalization(groups=-1, axis=1)
        >>> layer.build((None, 6, 5, 5))
        >>> layer.groups, layer.gamma.shape
        (6, (6,))
    """

    def __init__(self, groups: int = 32, axis: int = -1, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, **kwargs) -> None:
        if isinstance(groups, bool) or not isinstance(groups, int) or \
                (groups <= 0 and groups != -1):
            raise ValueError(f"groups={groups!r} must be a positive int (or -1 for "
                             "instance normalization)")
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"axis={axis!r} must be an int (the channel axis)")
        super().__init__(epsilon, center, scale, beta_initializer, gamma_initializer,
                         beta_regularizer, gamma_regularizer, beta_constraint,
                         gamma_constraint, **kwargs)
        self.groups, self.axis = groups, axis

    def _channel_axis(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(f"{self.name}: axis={self.axis} must be a non-batch axis of "
                             f"input shape {tuple(input_shape)}")
        return self.axis % rank

    def build(self, input_shape):
        axis = self._channel_axis(input_shape)
        channels = input_shape[axis]
        if channels is None:
            raise ValueError(f"{self.name}: axis {self.axis} of input shape "
                             f"{tuple(input_shape)} must have a known size")
        groups = channels if self.groups == -1 else self.groups
        if channels < groups or channels % groups:
            raise ValueError(f"{self.name}: groups={groups} must divide the {channels} "
                             f"channels on axis {self.axis} (input shape "
                             f"{tuple(input_shape)}) into groups of equal size")
        self.groups = groups
        self._rank, self._channels = len(input_shape), channels
        self._add_affine_weights((channels,), self.scale, self.center)

    def call(self, inputs):
        if inputs.ndim != self._rank or inputs.shape[self.axis] != self._channels:
            raise ValueError(f"{self.name} was built for inputs of rank {self._rank} with "
                             f"{self._channels} channels on axis {self.axis}, got an input "
                             f"of shape {inputs.shape}")
        return group_normalization(inputs, self.groups, self.gamma, self.beta, self.axis,
                                   self.epsilon)

    def compute_output_shape(self, input_shape):
        self._channel_axis(input_shape)
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({
            "groups": self.groups,
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
        })
        config.update(self._affine_config())
        return config
