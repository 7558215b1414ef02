"""``BatchNormalization`` (Keras 3's arguments, weights, configs and update rule).

>>> import numpy as np, minidl as mdl
>>> bn = mdl.layers.BatchNormalization(dtype="float64")
>>> y = bn(np.array([[0.0], [2.0]]), training=True)
>>> np.round(y.numpy().ravel(), 4), bn.moving_mean.numpy()
(array([-0.9995,  0.9995]), array([0.01]))
"""
import math
import numbers

from .. import distribution
from ..ops.normalization import batch_normalization, batch_normalization_training
from .arguments import set_weight_arguments, weight_arguments_config
from .base import Layer

__all__ = ["BatchNormalization"]


def _check_number(value, name, low, high=None, low_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not math.isfinite(value) or value < low or (low_open and value == low) or \
            (high is not None and value > high):
        bound = f"in [{low}, {high}]" if high is not None else \
            (f"> {low}" if low_open else f">= {low}")
        raise ValueError(f"{name}={value!r} must be a finite number {bound}")
    return float(value)


class BatchNormalization(Layer):
    """Normalize each feature with batch statistics in training and moving averages in
    inference.

    Training (``training=True`` and the layer trainable), per feature over every axis
    but ``axis``::

        y = gamma * (x - mean(x)) / sqrt(var(x) + epsilon) + beta
        moving_mean     = moving_mean * momentum + mean(x) * (1 - momentum)
        moving_variance = moving_variance * momentum + var(x) * (1 - momentum)

    with the biased batch variance (``mean((x - mean(x))**2)``), as Keras 3. The gradient
    flows through the batch statistics (see ``minidl.ops.normalization``). Inference (and
    any call of a frozen layer, ``trainable=False``, as Keras)::

        y = gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta

    Args:
        axis: int, the feature axis (``1`` after a channels_first convolution).
        momentum: float in [0, 1], the moving averages' momentum.
        epsilon: float >= 0 added to the variance.
        center: learn the offset ``beta`` (else 0).
        scale: learn the scale ``gamma`` (else 1).
        beta_initializer, gamma_initializer: initializers ("zeros", "ones").
        moving_mean_initializer, moving_variance_initializer: likewise ("zeros", "ones").
        beta_regularizer, gamma_regularizer: regularizers or None.
        beta_constraint, gamma_constraint: constraints or None.
        synchronized: in data-parallel training (``minidl.distribution``), take the
            batch statistics over the global batch of every process (an allreduce of
            per-feature sums) rather than over this process's share; with one process
            it changes nothing.
        renorm: only False (batch renormalization is not supported).
        renorm_clipping, renorm_momentum: kept in the config as Keras writes them (they
            act only with ``renorm=True``).
        **kwargs: base Layer arguments (``name``, ``dtype``, ``trainable``, ...).

    Weights (``get_weights`` order): ``gamma`` (if scale), ``beta`` (if center), both
    trainable, then ``moving_mean`` and ``moving_variance`` (non-trainable), each ``(C,)``
    with ``C = input_shape[axis]``.

    Input shape:
        Any rank >= 1 (batch axis first); ``input_shape[axis]`` must be known.

    Output shape:
        Same as the input.

    Raises:
        ValueError: bad arguments (naming them), ``axis`` out of range for the input, or a
            later input whose rank or feature count differs from the built one.
    """

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 synchronized: bool = False, renorm: bool = False,
                 renorm_clipping: dict | None = None, renorm_momentum: float = 0.99,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise ValueError(f"axis={axis!r} must be an int (the feature axis)")
        self.axis = int(axis)
        self.momentum = _check_number(momentum, "momentum", 0.0, 1.0)
        self.epsilon = _check_number(epsilon, "epsilon", 0.0)
        for name, value in (("center", center), ("scale", scale),
                            ("synchronized", synchronized), ("renorm", renorm)):
            if not isinstance(value, bool):
                raise ValueError(f"{name}={value!r} must be True or False")
        if renorm:
            raise ValueError("renorm=True (batch renormalization) is not supported; use "
                             "renorm=False")
        # without renorm these two have no effect; a Keras file may hold any value
        if renorm_clipping is not None and not isinstance(renorm_clipping, dict):
            raise ValueError(f"renorm_clipping={renorm_clipping!r} must be None or a dict "
                             "with keys 'rmax', 'rmin', 'dmax'")
        if isinstance(renorm_momentum, bool) or not isinstance(
                renorm_momentum, numbers.Real) or not 0 <= renorm_momentum <= 1:
            raise ValueError(f"renorm_momentum={renorm_momentum!r} must be a number in "
                             "[0, 1]")
        self.renorm, self.renorm_clipping = False, renorm_clipping
        self.renorm_momentum = float(renorm_momentum)
        self.center, self.scale, self.synchronized = center, scale, synchronized
        set_weight_arguments(self, "beta", beta_initializer, beta_regularizer,
                             beta_constraint)
        set_weight_arguments(self, "gamma", gamma_initializer, gamma_regularizer,
                             gamma_constraint)
        set_weight_arguments(self, "moving_mean", moving_mean_initializer)
        set_weight_arguments(self, "moving_variance", moving_variance_initializer)
        self.gamma = self.beta = None

    def _feature_axis(self, rank):
        if not -rank <= self.axis < rank:
            raise ValueError(f"{self.name}: axis={self.axis} is out of range for an input "
                             f"of rank {rank}")
        return self.axis % rank

    def build(self, input_shape):
        rank = len(input_shape)
        axis = self._feature_axis(rank)
        channels = input_shape[axis]
        if channels is None or channels <= 0:
            raise ValueError(f"{self.name}: the feature axis {self.axis} of input shape "
                             f"{tuple(input_shape)} must have a known positive size")
        shape = (channels,)
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer,
                                         self.gamma_regularizer, self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", shape, self.beta_initializer,
                                        self.beta_regularizer, self.beta_constraint)
        self.moving_mean = self.add_weight("moving_mean", shape,
                                           self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape,
                                               self.moving_variance_initializer,
                                               trainable=False)
        self._rank, self._channels = rank, channels

    def _check_input(self, shape):
        if len(shape) != self._rank:
            raise ValueError(f"{self.name} was built for inputs of rank {self._rank}, got "
                             f"an input of shape {tuple(shape)}")
        channels = shape[self.axis % self._rank]
        if channels != self._channels:
            raise ValueError(f"{self.name} was built for {self._channels} features on axis "
                             f"{self.axis}, got an input of shape {tuple(shape)} with "
                             f"{channels}")

    def call(self, inputs, training=None):
        self._check_input(inputs.shape)
        if training and self.trainable:
            outputs, mean, variance = batch_normalization_training(
                inputs, self.gamma, self.beta, self.axis, self.epsilon,
                self._communicator())
            # on arrays: the moving statistics are never on the tape
            m, rest = self.momentum, 1.0 - self.momentum
            for moving, batch in ((self.moving_mean, mean),
                                  (self.moving_variance, variance)):
                moving.assign(moving.data * m + batch.data * rest)
            return outputs
        return batch_normalization(inputs, self.moving_mean, self.moving_variance,
                                   self.axis, self.beta, self.gamma, self.epsilon)

    def _communicator(self):
        """The processes that share the batch statistics, or None (this one alone)."""
        parallel = distribution.data_parallel() if self.synchronized else None
        return None if parallel is None else parallel.communicator

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            **weight_arguments_config(self, ["beta", "gamma"],
                                      initializer_only=["moving_mean", "moving_variance"]),
            "synchronized": self.synchronized,
            "renorm": self.renorm,
            "renorm_clipping": self.renorm_clipping,
            "renorm_momentum": self.renorm_momentum,
        })
        return config
