"""Adagrad, as Keras 3."""
from .base import Optimizer, _positive

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Per-parameter learning rates from the sum of squared past gradients.

    With the accumulator ``acc`` (``initial_accumulator_value`` at first)::

        acc += g**2
        w -= lr * g / sqrt(acc + epsilon)

    Args:
        learning_rate: float, schedule or callable (0.001).
        initial_accumulator_value: starting value of the accumulators (0.1).
        epsilon: inside the square root (1e-7).
        **kwargs: the common arguments of ``Optimizer``.
    """

    slot_names = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, name: str = "adagrad", **kwargs) -> None:
        super().__init__(learning_rate, name=name, **kwargs)
        self.initial_accumulator_value = _positive(
            initial_accumulator_value, "initial_accumulator_value", allow_zero=True,
            allow_none=False)
        self.epsilon = _positive(epsilon, "epsilon", allow_zero=True, allow_none=False)

    def _initial_slot(self, name, w):
        if name == "accumulator":
            return w.xp.full_like(w.data, self.initial_accumulator_value)
        return super()._initial_slot(name, w)

    def _rule(self, xp, gradient, w, slot, learning_rate):
        acc = slot("accumulator")
        acc += gradient * gradient
        w -= (learning_rate * gradient) / xp.sqrt(acc + self.epsilon)

    def get_config(self):
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}
