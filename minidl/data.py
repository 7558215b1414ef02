"""Feeding data: a seeded batching/shuffling iterator, one-hot labels, a train/validation
split.

>>> import numpy as np, minidl as mdl
>>> batches = mdl.data.ArrayIterator(np.arange(5), np.arange(5), batch_size=2,
...                                  shuffle=False)
>>> [xb.tolist() for xb, yb in batches]
[[0, 1], [2, 3], [4]]
>>> mdl.data.to_categorical([0, 2], num_classes=3)
array([[1., 0., 0.],
       [0., 0., 1.]], dtype=float32)
"""
import numpy as np

from . import config
from . import random as _random

__all__ = ["ArrayIterator", "to_categorical", "train_validation_split"]


class ArrayIterator:
    """Mini-batches of ``(x, y)`` host arrays; re-iterable, one pass per ``iter()``.

    Args:
        x, y: arrays with the same first dimension (``y`` may be None).
        batch_size: samples per batch; the last partial batch is kept.
        shuffle: a new permutation each pass, drawn from ``seed``'s own generator, or
            from minidl's host generator (``minidl.random.seed``) when ``seed`` is None.
        seed: an int for a private, reproducible generator.

    ``len()`` is the number of batches per pass, so ``model.fit(iterator, epochs=...)``
    knows its steps.
    """

    def __init__(self, x, y=None, batch_size: int = 32, shuffle: bool = True,
                 seed: int | None = None) -> None:
        x = np.asarray(x)
        if x.ndim == 0 or len(x) == 0:
            raise ValueError(f"x has shape {x.shape}; it needs at least one sample")
        if y is not None:
            y = np.asarray(y)
            if len(y) != len(x):
                raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
        self.x, self.y, self.batch_size, self.shuffle = x, y, int(batch_size), shuffle
        self._rng = None if seed is None else np.random.default_rng(seed)

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __iter__(self):
        n = len(self.x)
        if self.shuffle:
            order = (self._rng or _random.host_generator()).permutation(n)
        for start in range(0, n, self.batch_size):
            if self.shuffle:
                index = order[start:start + self.batch_size]
            else:
                index = slice(start, start + self.batch_size)
            if self.y is None:
                yield self.x[index]
            else:
                yield self.x[index], self.y[index]


def to_categorical(y, num_classes: int | None = None,
                   dtype: str | None = None) -> np.ndarray:
    """One-hot encode integer labels: shape ``y.shape + (num_classes,)`` (a trailing axis
    of size 1 is dropped first, as Keras).

    Raises:
        ValueError: labels that are negative, not integers, or >= ``num_classes``.
    """
    y = np.asarray(y)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y[..., 0]
    if y.size and not np.all(np.equal(np.mod(y, 1), 0)):
        raise ValueError("to_categorical needs integer class labels")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise ValueError(f"to_categorical: label {int(y.min())} is negative")
    top = int(y.max()) + 1 if y.size else 0
    if num_classes is None:
        num_classes = top
    elif top > num_classes:
        raise ValueError(f"to_categorical: label {top - 1} is out of range for "
                         f"num_classes={num_classes}")
    out = np.zeros(y.shape + (num_classes,), dtype=dtype or config.floatx())
    np.put_along_axis(out, y[..., None], 1, axis=-1)
    return out


def train_validation_split(x, y, validation_split: float = 0.2, shuffle: bool = True,
                           seed: int | None = None) -> tuple:
    """``(x_train, y_train), (x_val, y_val)``; with ``shuffle`` the samples are permuted
    first (``seed``, or minidl's host generator), otherwise the last fraction is held out
    (as ``fit(validation_split=...)`` does)."""
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
    if not 0.0 < validation_split < 1.0:
        raise ValueError(f"validation_split={validation_split!r} must be in (0, 1)")
    cut = int(round(len(x) * (1.0 - validation_split)))
    if cut in (0, len(x)):
        raise ValueError(f"validation_split={validation_split} of {len(x)} samples leaves "
                         "one side empty")
    if shuffle:
        rng = np.random.default_rng(seed) if seed is not None else _random.host_generator()
        order = rng.permutation(len(x))
        x, y = x[order], y[order]
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])
