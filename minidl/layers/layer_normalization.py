"""``LayerNormalization`` (Keras 3's arguments, weights, config and formula), and the
gamma/beta bookkeeping it shares with ``GroupNormalization``.

>>> import numpy as np, minidl as mdl
>>> layer = mdl.layers.LayerNormalization(epsilon=0.0, dtype="float64")
>>> layer(np.array([[1.0, 3.0], [5.0, 2.0]])).numpy()
array([[-1.,  1.],
       [ 1., -1.]])
>>> [w.name for w in layer.weights], layer.get_config()["axis"]
(['gamma', 'beta'], [-1])
"""
import warnings

from ..ops.normalization import layer_normalization
from .arguments import set_weight_arguments, weight_arguments_config
from .base import Layer
from .normalization import _check_number

__all__ = ["LayerNormalization"]


class _AffineNormalization(Layer):
    """What layer and group normalization share: ``epsilon``, the ``center``/``scale``
    flags, and the initializers, regularizers and constraints of ``gamma`` and
    ``beta``."""

    def __init__(self, epsilon, center, scale, beta_initializer, gamma_initializer,
                 beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint,
                 **kwargs):
        super().__init__(**kwargs)
        self.epsilon = _check_number(epsilon, "epsilon", 0.0)
        for name, value in (("center", center), ("scale", scale)):
            if not isinstance(value, bool):
                raise ValueError(f"{name}={value!r} must be True or False")
        self.center, self.scale = center, scale
        set_weight_arguments(self, "beta", beta_initializer, beta_regularizer,
                             beta_constraint)
        set_weight_arguments(self, "gamma", gamma_initializer, gamma_regularizer,
                             gamma_constraint)
        self.gamma = self.beta = None

    def _add_affine_weights(self, shape, scale, center):
        """Create ``gamma`` (if ``scale``) then ``beta`` (if ``center``), Keras's order."""
        if scale:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer,
                                         self.gamma_regularizer, self.gamma_constraint)
        if center:
            self.beta = self.add_weight("beta", shape, self.beta_initializer,
                                        self.beta_regularizer, self.beta_constraint)

    def _affine_config(self):
        return weight_arguments_config(self, ["beta", "gamma"])

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


def _check_axis_argument(axis):
    """An int, or a non-empty list/tuple of ints (as a list); TypeError otherwise."""
    values = axis if isinstance(axis, (list, tuple)) else [axis]
    if not values or any(isinstance(a, bool) or not isinstance(a, int) for a in values):
        raise TypeError(f"axis={axis!r} must be an int or a non-empty list/tuple of ints")
    return list(axis) if isinstance(axis, (list, tuple)) else axis


class LayerNormalization(_AffineNormalization):
    """Normalize each sample over ``axis``, independently of the batch (Ba et al., 2016).

    For every index of the axes not in ``axis``, with ``mean`` and the biased ``var``
    taken over ``axis``::

        y = (x - mean) / sqrt(var + epsilon) * gamma + beta

    ``gamma`` and ``beta`` span the ``axis`` axes and broadcast over the others. With
    ``rms_scaling=True`` (deprecated in Keras 3, kept for its configs)
    ``y = x / sqrt(var + epsilon) * gamma``: no centering and no ``beta``.

    Args:
        axis: int or list/tuple of ints, the axes to normalize over (``-1``: the last).
            After ``build`` it is a sorted list, as Keras reports it.
        epsilon: float >= 0 added to the variance.
        center: learn the offset ``beta`` (else 0).
        scale: learn the scale ``gamma`` (else 1).
        rms_scaling: see above; ``gamma`` is then created even when ``scale=False``.
        beta_initializer, gamma_initializer: ``"zeros"`` and ``"ones"`` by default.
        beta_regularizer, gamma_regularizer: regularizers or None.
        beta_constraint, gamma_constraint: constraints or None.
        **kwargs: base Layer arguments (``name``, ``dtype``, ``trainable``, ...).

    Weights (``get_weights`` order): ``gamma`` (if ``scale`` or ``rms_scaling``) then
    ``beta`` (if ``center`` and not ``rms_scaling``), both trainable, of shape
    ``tuple(input_shape[a] for a in sorted(axis))``.

    Input shape:
        Any; the sizes on ``axis`` must be known.

    Output shape:
        Same as the input.

    Raises:
        TypeError: ``axis`` not an int or a list/tuple of ints.
        ValueError: bad ``epsilon``/``center``/``scale``/``rms_scaling``; at build, an
            axis out of range or repeated, or an unknown size on it; later, an input of
            another rank or other sizes on ``axis``.

    Example:
        >>> import minidl as mdl
        >>> layer = mdl.layers.LayerNormalization(axis=[1, 2])
        >>> layer.build((None, 4, 3))
        >>> layer.gamma.shape, layer.axis
        ((4, 3), [1, 2])
    """

    def __init__(self, axis: int | list[int] = -1, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, rms_scaling: bool = False,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 **kwargs) -> None:
        super().__init__(epsilon, center, scale, beta_initializer, gamma_initializer,
                         beta_regularizer, gamma_regularizer, beta_constraint,
                         gamma_constraint, **kwargs)
        self.axis = _check_axis_argument(axis)
        if not isinstance(rms_scaling, bool):
            raise ValueError(f"rms_scaling={rms_scaling!r} must be True or False")
        if rms_scaling:
            warnings.warn("LayerNormalization(rms_scaling=True) divides by the standard "
                          "deviation (centered), not by the root mean square; Keras 3 "
                          "deprecates it", UserWarning, stacklevel=2)
        self.rms_scaling = rms_scaling
        self._axes = None

    def _positive_axes(self, input_shape):
        rank = len(input_shape)
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        for a in axes:
            if not -rank <= a < rank:
                raise ValueError(f"{self.name}: axis {a} is out of bounds for input shape "
                                 f"{tuple(input_shape)} (axis={self.axis})")
        positive = sorted(a % rank for a in axes)
        if len(set(positive)) != len(positive):
            raise ValueError(f"{self.name}: axis={self.axis} names an axis of input shape "
                             f"{tuple(input_shape)} more than once")
        return tuple(positive)

    def build(self, input_shape):
        axes = self._positive_axes(input_shape)
        shape = tuple(input_shape[a] for a in axes)
        if any(n is None for n in shape):
            raise ValueError(f"{self.name}: the sizes on axis={self.axis} of input shape "
                             f"{tuple(input_shape)} must be known")
        self.axis = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]
        self._axes, self._rank, self._shape = axes, len(input_shape), shape
        self._add_affine_weights(shape, self.scale or self.rms_scaling,
                                 self.center and not self.rms_scaling)

    def call(self, inputs):
        shape = tuple(inputs.shape[a] for a in self._axes) \
            if inputs.ndim == self._rank else None
        if shape != self._shape:
            raise ValueError(f"{self.name} was built for inputs of rank {self._rank} with "
                             f"sizes {self._shape} on axis={self.axis}, got an input of "
                             f"shape {inputs.shape}")
        return layer_normalization(inputs, self.gamma, self.beta, self._axes, self.epsilon,
                                   rms_scaling=self.rms_scaling)

    def compute_output_shape(self, input_shape):
        self._positive_axes(input_shape)
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "rms_scaling": self.rms_scaling,
        })
        config.update(self._affine_config())
        return config
