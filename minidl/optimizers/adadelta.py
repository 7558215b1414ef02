"""Adadelta and Lion, as Keras 3."""
from .base import Optimizer, _positive, _unit_interval

__all__ = ["Adadelta", "Lion"]


class Adadelta(Optimizer):
    """Adadelta: step sizes from running averages of squared gradients and updates.

    With slots ``ag`` (accumulated gradient) and ``ad`` (accumulated delta), zeros at
    first, and ``rms(a) = sqrt(a + epsilon)``::

        ag = rho * ag + (1 - rho) * g**2
        delta = -rms(ad) * g / rms(ag)
        ad = rho * ad + (1 - rho) * delta**2
        w += lr * delta

    Args:
        learning_rate: float, schedule or callable (0.001).
        rho: decay rate, in ``[0, 1]`` (0.95).
        epsilon: (1e-7).
        **kwargs: the common arguments of ``Optimizer``.
    """

    slot_names = ("accumulated_grad", "accumulated_delta_var")

    def __init__(self, learning_rate=0.001, rho: float = 0.95, epsilon: float = 1e-7,
                 name: str = "adadelta", **kwargs) -> None:
        super().__init__(learning_rate, name=name, **kwargs)
        self.rho = _unit_interval(rho, "rho")
        self.epsilon = _positive(epsilon, "epsilon", allow_zero=True, allow_none=False)

    def _rule(self, xp, gradient, w, slot, learning_rate):
        rho = self.rho
        ag = slot("accumulated_grad")
        ad = slot("accumulated_delta_var")
        ag *= rho
        ag += (1 - rho) * (gradient * gradient)
        delta = -(xp.sqrt(ad + self.epsilon) * gradient) / xp.sqrt(ag + self.epsilon)
        ad *= rho
        ad += (1 - rho) * (delta * delta)
        w += learning_rate * delta

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Lion(Optimizer):
    """Lion: the sign of an interpolated momentum.

    With the slot ``m`` (zeros at first)::

        w -= lr * sign(beta_1 * m + (1 - beta_1) * g)
        m = beta_2 * m + (1 - beta_2) * g

    Args:
        learning_rate: float, schedule or callable (0.001).
        beta_1: in ``(0, 1]`` (0.9).
        beta_2: in ``[0, 1]`` (0.99).
        **kwargs: the common arguments of ``Optimizer``.

    Raises:
        ValueError: when ``beta_1`` is outside ``(0, 1]`` or ``beta_2`` outside
            ``[0, 1]`` (``TypeError`` for one that is not a number).
    """

    slot_names = ("momentum",)

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.99,
                 name: str = "lion", **kwargs) -> None:
        super().__init__(learning_rate, name=name, **kwargs)
        if _positive(beta_1, "beta_1", allow_none=False) > 1:
            raise ValueError(f"beta_1={beta_1!r} must be in (0, 1]")
        self.beta_1 = float(beta_1)
        self.beta_2 = _unit_interval(beta_2, "beta_2")

    def _rule(self, xp, gradient, w, slot, learning_rate):
        m = slot("momentum")
        direction = xp.sign(m * self.beta_1 + gradient * (1 - self.beta_1))
        w -= learning_rate * direction
        m *= self.beta_2
        m += (1 - self.beta_2) * gradient

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}
