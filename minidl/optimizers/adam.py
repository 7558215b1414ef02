"""Adam and its variants (AdamW, Adamax, Nadam), as Keras 3."""
import math

from .base import Optimizer, _positive

__all__ = ["Adam", "AdamW", "Adamax", "Nadam"]


def _betas(beta_1, beta_2):
    for arg, value in (("beta_1", beta_1), ("beta_2", beta_2)):
        if _positive(value, arg, allow_zero=True, allow_none=False) >= 1:
            raise ValueError(f"{arg}={value!r} must be in [0, 1)")
    return float(beta_1), float(beta_2)


class Adam(Optimizer):
    """Adam: adaptive moment estimation.

    At step ``t = iterations + 1``, with slots ``m`` and ``v`` (zeros at first)::

        alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        m += (g - m) * (1 - beta_1)
        v += (g**2 - v) * (1 - beta_2)
        v_hat = max(v_hat, v)                  # amsgrad only; then v_hat replaces v
        w -= alpha * m / (sqrt(v) + epsilon)

    Args:
        learning_rate: float, schedule or callable (0.001).
        beta_1, beta_2: decay rates of the moment estimates (0.9, 0.999).
        epsilon: added to the denominator (1e-7).
        amsgrad: use the maximum of past ``v`` (False).
        **kwargs: the common arguments of ``Optimizer``.

    Raises:
        ValueError: for betas outside ``[0, 1)`` or a negative epsilon (``TypeError`` for
            one that is not a number).
    """

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, name: str = "adam",
                 **kwargs) -> None:
        super().__init__(learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2 = _betas(beta_1, beta_2)
        self.epsilon = _positive(epsilon, "epsilon", allow_zero=True, allow_none=False)
        self.amsgrad = bool(amsgrad)
        self.slot_names = ("momentum", "velocity") + (("velocity_hat",) if amsgrad else ())

    def _rule(self, xp, gradient, w, slot, learning_rate):
        t = self.iterations + 1
        alpha = learning_rate * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        m = slot("momentum")
        v = slot("velocity")
        m += (gradient - m) * (1 - self.beta_1)
        v += (gradient * gradient - v) * (1 - self.beta_2)
        if self.amsgrad:
            v_hat = slot("velocity_hat")
            xp.maximum(v_hat, v, out=v_hat)
            v = v_hat
        w -= (m * alpha) / (xp.sqrt(v) + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay: before each Adam update
    ``w -= w * weight_decay * lr`` (``weight_decay`` 0.004), as Keras 3.

    Raises:
        ValueError: when ``weight_decay`` is None.
    """

    def __init__(self, learning_rate=0.001, weight_decay: float = 0.004,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 amsgrad: bool = False, name: str = "adamw", **kwargs) -> None:
        if weight_decay is None:
            raise ValueError("weight_decay=None: AdamW needs a weight_decay (a finite "
                             "non-negative number)")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, name=name,
                         weight_decay=weight_decay, **kwargs)


class Adamax(Optimizer):
    """Adam with the infinity norm.

    At step ``t = iterations + 1``, with slots ``m`` (momentum) and ``u`` (norm)::

        m += (g - m) * (1 - beta_1)
        u = max(beta_2 * u, |g|)
        w -= lr * m / ((1 - beta_1**t) * (u + epsilon))

    Args:
        learning_rate: float, schedule or callable (0.001).
        beta_1, beta_2: (0.9, 0.999).
        epsilon: (1e-7).
        **kwargs: the common arguments of ``Optimizer``.
    """

    slot_names = ("momentum", "norm")

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, name: str = "adamax", **kwargs) -> None:
        super().__init__(learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2 = _betas(beta_1, beta_2)
        self.epsilon = _positive(epsilon, "epsilon", allow_zero=True, allow_none=False)

    def _rule(self, xp, gradient, w, slot, learning_rate):
        m = slot("momentum")
        u = slot("norm")
        m += (gradient - m) * (1 - self.beta_1)
        xp.maximum(u * self.beta_2, xp.abs(gradient), out=u)
        scale = learning_rate / (1 - self.beta_1 ** (self.iterations + 1))
        w -= (m * scale) / (u + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class Nadam(Optimizer):
    """Adam with Nesterov momentum (Dozat's schedule of momentum decay 0.96).

    Once per step ``u_product *= u_t``; then for each weight, with ``t = iterations + 1``,
    ``u_t = beta_1 (1 - 0.5 * 0.96**t)`` and ``u_t1 = beta_1 (1 - 0.5 * 0.96**(t + 1))``::

        m += (g - m) * (1 - beta_1);  v += (g**2 - v) * (1 - beta_2)
        m_hat = u_t1 * m / (1 - u_product * u_t1) + (1 - u_t) * g / (1 - u_product)
        v_hat = v / (1 - beta_2**t)
        w -= lr * m_hat / (sqrt(v_hat) + epsilon)

    Args:
        learning_rate: float, schedule or callable (0.001).
        beta_1, beta_2: (0.9, 0.999).
        epsilon: (1e-7).
        **kwargs: the common arguments of ``Optimizer``.
    """

    slot_names = ("momentum", "velocity")
    scalar_state_names = ("u_product",)

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, name: str = "nadam", **kwargs) -> None:
        super().__init__(learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2 = _betas(beta_1, beta_2)
        self.epsilon = _positive(epsilon, "epsilon", allow_zero=True, allow_none=False)
        self.u_product = 1.0

    def _u(self, step):
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** step)

    def _before_update_steps(self):
        self.u_product *= self._u(self.iterations + 1)

    def _rule(self, xp, gradient, w, slot, learning_rate):
        t = self.iterations + 1
        u_t, u_t1 = self._u(t), self._u(t + 1)
        m = slot("momentum")
        v = slot("velocity")
        m += (gradient - m) * (1 - self.beta_1)
        v += (gradient * gradient - v) * (1 - self.beta_2)
        m_hat = m * (u_t1 / (1 - self.u_product * u_t1)) + \
            gradient * ((1 - u_t) / (1 - self.u_product))
        v_hat = v / (1 - self.beta_2 ** t)
        w -= (m_hat * learning_rate) / (xp.sqrt(v_hat) + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}
