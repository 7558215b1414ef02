"""Inverted dropout.

``y = x * mask / (1 - rate)`` with ``mask ~ Bernoulli(1 - rate)`` drawn on ``x``'s
backend, so ``E[y] = x`` and nothing needs rescaling at inference. ``noise_shape``
(broadcastable to ``x``'s shape, e.g. ``(N, 1, 1, C)`` to drop whole feature maps) sets
the mask's shape. The gradient is ``gy * mask / (1 - rate)``: the mask is a constant of the
product, so second derivatives come for free.

Randomness: ``seed=None`` draws from ``minidl.random.generator(backend)`` (reproducible
after ``minidl.random.seed``); an int seed gives the same mask at every call; a generator
object (``numpy.random.Generator`` or CuPy's) is drawn from, so successive calls differ
but a run is reproducible.

>>> import numpy as np, minidl as mdl
>>> y = dropout(mdl.tensor(np.ones((2, 4))), 0.5, seed=3)
>>> sorted(set(y.numpy().ravel().tolist()))
[0.0, 2.0]
"""
import numbers

from .. import random as _random
from ..autograd import Tensor, as_tensor
from .math import mul

__all__ = ["dropout", "check_rate", "dropout_noise_shape"]


def check_rate(rate):
    """``rate`` as a float in ``[0, 1)``; anything else is a ValueError."""
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
        raise ValueError(f"rate={rate!r} must be a number in [0, 1) (the fraction of "
                         "inputs to drop)")
    return float(rate)


def dropout_noise_shape(noise_shape, shape):
    """The mask shape: ``shape`` itself for None, else ``noise_shape`` with each None
    replaced by the input's size; every entry must be 1 or the input's size."""
    if noise_shape is None:
        return tuple(shape)
    noise_shape = tuple(noise_shape)
    if len(noise_shape) != len(shape):
        raise ValueError(f"noise_shape={noise_shape!r} must have one entry per axis of the "
                         f"input of shape {tuple(shape)}")
    result = tuple(n if m is None else m for m, n in zip(noise_shape, shape))
    for m, n in zip(result, shape):
        if isinstance(m, bool) or not isinstance(m, int) or m not in (1, n):
            raise ValueError(f"noise_shape={noise_shape!r} must be broadcastable to the "
                             f"input shape {tuple(shape)} (each entry 1, None or the "
                             "input's size)")
    return result


def _generator(seed, backend):
    if seed is None:
        return _random.generator(backend)
    if isinstance(seed, bool) or not isinstance(seed, int):
        if hasattr(seed, "random"):
            return seed
        raise ValueError(f"seed={seed!r} must be None, a non-negative int or a random "
                         "generator")
    if seed < 0:
        raise ValueError(f"seed={seed!r} must be non-negative")
    return backend.xp.random.default_rng(seed)


def dropout(x, rate: float, noise_shape: tuple | None = None, seed=None) -> Tensor:
    """Zero each element with probability ``rate`` and scale the rest by ``1/(1-rate)``.

    Args:
        x: floating Tensor or array.
        rate: float in ``[0, 1)``.
        noise_shape: the mask's shape, broadcastable to ``x`` (None entries take ``x``'s
            size); None means ``x.shape``.
        seed: None, an int, or a generator (see the module docstring).

    Returns:
        Tensor of ``x``'s shape and dtype.

    Raises:
        ValueError: ``rate`` outside ``[0, 1)``, a bad ``noise_shape`` or ``seed``.
        TypeError: a non-floating ``x``.
    """
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"dropout expects a floating input, got dtype {x.dtype}")
    rate = check_rate(rate)
    shape = dropout_noise_shape(noise_shape, x.shape)
    generator = _generator(seed, x.backend)
    if rate == 0:
        return x
    keep = 1.0 - rate
    draw = generator.random(shape, dtype=x.dtype if x.dtype.itemsize >= 4 else "float32")
    mask = (draw < keep).astype(x.dtype) * x.dtype.type(1.0 / keep)
    return mul(x, Tensor._wrap(mask))
