"""Learning-rate schedules with Keras 3's names, defaults and formulas.

A schedule is called with the optimizer's step (its ``iterations`` before the update, so
0 for the first update) and returns a Python float. Learning rates (initial, end, warmup
target, piecewise values) must be finite numbers >= 0, ``decay_steps`` > 0, ``decay_rate``
and ``power`` >= 0, ``alpha`` in ``[0, 1]``; anything else is refused with a
``ValueError`` (a ``TypeError`` for a value that is not a number) naming it. A growing
``ExponentialDecay`` (``decay_rate > 1``) may reach inf, which the optimizer refuses at
that step.

>>> from minidl.optimizers.schedules import ExponentialDecay
>>> schedule = ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
>>> schedule(0), schedule(10), round(schedule(5), 6)
(0.1, 0.05, 0.070711)
"""
import bisect
import math

import numpy

from ..identifiers import Configurable, Family

__all__ = ["LearningRateSchedule", "ExponentialDecay", "InverseTimeDecay",
           "PolynomialDecay", "CosineDecay", "PiecewiseConstantDecay", "get", "serialize",
           "deserialize"]


def _number(value, name, positive=False, low=None, high=None):
    """``value`` if it is a finite number (> 0 with ``positive``, within ``[low, high]``
    where given); a ``TypeError`` or ``ValueError`` naming it otherwise."""
    expected = "a positive number" if positive else "a finite number"
    if low is not None:
        expected += f" >= {low}" if high is None else f" in [{low}, {high}]"
    if isinstance(value, (bool, numpy.bool_)) or \
            not isinstance(value, (int, float, numpy.number)):
        raise TypeError(f"{name}={value!r} must be {expected}")
    if not math.isfinite(value) or (positive and value <= 0) or \
            (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name}={value!r} must be {expected}")
    return value


def _rate(value, name):
    """A learning rate: a finite number >= 0."""
    return _number(value, name, low=0)


class LearningRateSchedule(Configurable):
    """Base class: ``__call__(step) -> float``, ``get_config()``, ``from_config()``."""

    def __call__(self, step):
        raise NotImplementedError(f"{type(self).__name__}.__call__")

    def get_config(self):
        raise NotImplementedError(f"{type(self).__name__}.get_config")


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``; with
    ``staircase=True`` the exponent is ``floor(step / decay_steps)``."""

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float,
                 staircase: bool = False, name: str = "ExponentialDecay") -> None:
        self.initial_learning_rate = _rate(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _number(decay_steps, "decay_steps", positive=True)
        self.decay_rate = _number(decay_rate, "decay_rate", low=0)
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step):
        p = float(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        try:
            factor = float(self.decay_rate) ** p
        except OverflowError:  # a float power raises where a product would give inf
            factor = math.inf
        return float(self.initial_learning_rate * factor)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class InverseTimeDecay(LearningRateSchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``; with
    ``staircase=True`` the ratio is floored."""

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float,
                 staircase: bool = False, name: str = "InverseTimeDecay") -> None:
        self.initial_learning_rate = _rate(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _number(decay_steps, "decay_steps", positive=True)
        self.decay_rate = _number(decay_rate, "decay_rate", low=0)
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step):
        p = float(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return float(self.initial_learning_rate / (1.0 + self.decay_rate * p))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - step / decay_steps) ** power + end`` with ``step`` capped
    at ``decay_steps``; with ``cycle=True`` ``decay_steps`` grows to the next multiple of
    itself above ``step`` instead."""

    def __init__(self, initial_learning_rate: float, decay_steps: int,
                 end_learning_rate: float = 0.0001, power: float = 1.0,
                 cycle: bool = False, name: str = "PolynomialDecay") -> None:
        self.initial_learning_rate = _rate(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _number(decay_steps, "decay_steps", positive=True)
        self.end_learning_rate = _rate(end_learning_rate, "end_learning_rate")
        self.power = _number(power, "power", low=0)
        self.cycle = bool(cycle)
        self.name = name

    def __call__(self, step):
        step = float(step)
        decay_steps = float(self.decay_steps)
        if self.cycle:
            decay_steps *= 1.0 if step == 0 else math.ceil(step / decay_steps)
        else:
            step = min(step, decay_steps)
        fraction = 1.0 - step / decay_steps
        return float((self.initial_learning_rate - self.end_learning_rate) *
                     fraction ** self.power + self.end_learning_rate)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate,
                "power": self.power, "cycle": self.cycle, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay with an optional linear warmup.

    Without warmup (``warmup_target=None``): with ``s = min(step, decay_steps)``,
    ``lr = initial * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)``.
    With warmup: for ``step < warmup_steps`` the rate rises linearly from ``initial`` to
    ``warmup_target``; afterwards it decays from ``warmup_target`` as above, with
    ``s = min(step, warmup_steps + decay_steps) - warmup_steps``.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, alpha: float = 0.0,
                 name: str = "CosineDecay", warmup_target: float | None = None,
                 warmup_steps: int = 0) -> None:
        self.initial_learning_rate = _rate(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _number(decay_steps, "decay_steps", positive=True)
        self.alpha = _number(alpha, "alpha", low=0, high=1)
        self.name = name
        self.warmup_target = None if warmup_target is None else \
            _rate(warmup_target, "warmup_target")
        self.warmup_steps = _number(warmup_steps, "warmup_steps", low=0)

    def _decay(self, step, start):
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return start * ((1.0 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        step = float(step)
        if self.warmup_target is None:
            return float(self._decay(min(step, self.decay_steps),
                                     self.initial_learning_rate))
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            delta = self.warmup_target - self.initial_learning_rate
            return float(delta * step / self.warmup_steps + self.initial_learning_rate)
        return float(self._decay(step - self.warmup_steps, self.warmup_target))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` for ``step <= boundaries[0]``, ``values[i]`` for
    ``boundaries[i-1] < step <= boundaries[i]``, ``values[-1]`` after the last boundary.

    Raises:
        ValueError: unless ``len(values) == len(boundaries) + 1``, the boundaries are
            finite and increasing and the values finite and >= 0 (``TypeError`` for an
            element that is not a number).
    """

    def __init__(self, boundaries: list, values: list,
                 name: str = "PiecewiseConstant") -> None:
        boundaries = [_number(b, f"boundaries[{i}]") for i, b in enumerate(boundaries)]
        values = [_rate(v, f"values[{i}]") for i, v in enumerate(values)]
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"values={values!r} must have one more element than "
                             f"boundaries={boundaries!r}")
        if boundaries != sorted(boundaries):
            raise ValueError(f"boundaries={boundaries!r} must be increasing")
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        return float(self.values[bisect.bisect_left(self.boundaries, float(step))])

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


_family = Family("learning-rate schedule", module="keras.optimizers.schedules",
                 base=LearningRateSchedule)
for _cls in (ExponentialDecay, InverseTimeDecay, PolynomialDecay, CosineDecay,
             PiecewiseConstantDecay):
    _family.register(_cls)


def get(identifier, custom_objects=None):
    return _family.get(identifier, custom_objects)


def serialize(schedule):
    """Keras 3's ``{"module", "class_name", "config", "registered_name"}`` form."""
    return _family.serialize(schedule)


def deserialize(config, custom_objects=None):
    return _family.deserialize(config, custom_objects)
