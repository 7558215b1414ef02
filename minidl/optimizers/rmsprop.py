"""RMSprop, as Keras 3."""
from .base import Optimizer, _positive, _unit_interval

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """Divide the gradient by a running root mean square of past gradients.

    With slots ``v`` (velocity), ``a`` (average gradient, ``centered`` only) and ``m``
    (``momentum > 0`` only), all zeros at first::

        v = rho * v + (1 - rho) * g**2
        a = rho * a + (1 - rho) * g                     # centered
        denominator = v - a**2 + epsilon  if centered else  v + epsilon
        increment = lr * g / sqrt(denominator)
        m = momentum * m + increment; w -= m           # momentum > 0
        w -= increment                                  # otherwise

    Args:
        learning_rate: float, schedule or callable (0.001).
        rho: discount factor of the history, in ``[0, 1]`` (0.9).
        momentum: in ``[0, 1]`` (0.0).
        epsilon: inside the square root, ``>= 0`` (1e-7).
        centered: normalize by the estimated variance instead of the second moment.
        **kwargs: the common arguments of ``Optimizer``.

    Raises:
        ValueError: for ``rho`` or ``momentum`` outside ``[0, 1]`` or a negative
            ``epsilon`` (``TypeError`` for one that is not a number).
    """

    def __init__(self, learning_rate=0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, name: str = "rmsprop",
                 **kwargs) -> None:
        super().__init__(learning_rate, name=name, **kwargs)
        self.rho = _unit_interval(rho, "rho")
        self.momentum = _unit_interval(momentum, "momentum")
        self.epsilon = _positive(epsilon, "epsilon", allow_zero=True, allow_none=False)
        self.centered = bool(centered)
        self.slot_names = ("velocity",) + (("momentum",) if self.momentum > 0 else ()) + \
            (("average_gradient",) if self.centered else ())

    def _rule(self, xp, gradient, w, slot, learning_rate):
        rho = self.rho
        v = slot("velocity")
        v *= rho
        v += (1 - rho) * (gradient * gradient)
        if self.centered:
            a = slot("average_gradient")
            a *= rho
            a += (1 - rho) * gradient
            denominator = v - a * a + self.epsilon
        else:
            denominator = v + self.epsilon
        increment = (learning_rate * gradient) / xp.sqrt(denominator)
        if self.momentum > 0:
            m = slot("momentum")
            m *= self.momentum
            m += increment
            w -= m
        else:
            w -= increment

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}
