"""Stochastic gradient descent with optional (Nesterov) momentum, as Keras 3."""
from .base import Optimizer, _unit_interval

__all__ = ["SGD"]


class SGD(Optimizer):
    """Gradient descent with momentum.

    With ``m`` the momentum slot (zeros at first), ``lr`` the learning rate and ``g`` the
    gradient:

    - ``momentum == 0``: ``w -= lr * g``;
    - otherwise ``m = momentum * m - lr * g``, then ``w += m``, or with
      ``nesterov=True`` ``w += momentum * m - lr * g``.

    Args:
        learning_rate: float, schedule or callable (0.01).
        momentum: in ``[0, 1]`` (0.0).
        nesterov: use Nesterov momentum (False).
        **kwargs: the common arguments of ``Optimizer`` (``clipnorm``, ``weight_decay``,
            ...).

    Raises:
        ValueError: when ``momentum`` is outside ``[0, 1]`` (``TypeError`` when it is not
            a number).

    Example:
        >>> import numpy as np, minidl as mdl
        >>> w = mdl.Variable([1.0, 2.0])
        >>> _ = mdl.optimizers.SGD(learning_rate=0.1).apply_gradients([(np.ones(2), w)])
        >>> w.numpy()
        array([0.9, 1.9], dtype=float32)
    """

    def __init__(self, learning_rate=0.01, momentum: float = 0.0, nesterov: bool = False,
                 name: str = "SGD", **kwargs) -> None:
        super().__init__(learning_rate, name=name, **kwargs)
        self.momentum = _unit_interval(momentum, "momentum")
        self.nesterov = bool(nesterov)
        self.slot_names = ("momentum",) if self.momentum else ()

    def _rule(self, xp, gradient, w, slot, learning_rate):
        if not self.momentum:
            w -= gradient * learning_rate
            return
        m = slot("momentum")
        m *= self.momentum
        m -= gradient * learning_rate
        if self.nesterov:
            w += m * self.momentum - gradient * learning_rate
        else:
            w += m

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum,
                "nesterov": self.nesterov}
