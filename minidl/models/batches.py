"""The data of ``fit`` / ``evaluate`` / ``predict``: checked, weighted, cut into batches.

Data are host arrays (device arrays stay where they are): one array, or for functional
models a list / dict of arrays with one number of samples. A batch is ``(x, y)`` or
``(x, y, sample_weight)``, as Keras's data adapters yield them, and a generator given to
``fit`` yields the same.

``class_weight`` (a dict ``{class: weight}``) becomes one weight per sample as in Keras: the
class of a sample is its rounded label, or the argmax of a one-hot row; classes missing
from the dict weigh 1. It cannot be combined with ``sample_weight``.

>>> import numpy as np
>>> class_weights(np.array([0, 1, 1, 2]), {1: 3.0})
array([1., 3., 3., 1.], dtype=float32)
"""
import math
import numbers

import numpy as np

from .. import backend as _backend
from .. import config
from .. import random as _random
from ..autograd import Tensor

__all__ = ["check_data", "as_inputs", "class_weights", "length", "take", "concatenate",
           "map_outputs", "unpack", "share", "ArrayBatches", "GeneratorBatches"]


def _is_array(x):
    return isinstance(x, Tensor) or _backend.is_array(x)


def _as_array(x, name):  # host
    """``x`` as a host array; device (CuPy) data stays where it is, so batches are taken
    there."""
    if isinstance(x, Tensor):
        x = x.data
    if _backend._is_cupy_array(x):
        return x
    if isinstance(x, (list, tuple)) and x and _is_array(x[0]):
        raise ValueError(f"{name} must be one array; models with several inputs take "
                         "them through the functional API")
    try:
        return np.asarray(x)
    except Exception as err:
        raise TypeError(f"{name} must be an array, got {type(x).__name__}: {err}") from None


def _is_structure(x):
    return isinstance(x, dict) or (isinstance(x, (list, tuple)) and len(x) > 0 and
                                   _is_array(x[0]))


def _samples(array, name):
    if array.ndim == 0:
        raise ValueError(f"{name} has shape {array.shape}; it needs at least one sample")
    return len(array)


def _as_data(x, name, structured):
    """One array, or (``structured``) a list / dict of arrays with one number of
    samples."""
    if not (structured and _is_structure(x)):
        array = _as_array(x, name)
        _samples(array, name)
        return array
    items = list(x.items()) if isinstance(x, dict) else list(enumerate(x))
    if not items:
        raise ValueError(f"{name} is an empty dict; give one array per input/output")
    arrays = [(key, _as_array(v, f"{name}[{key!r}]")) for key, v in items]
    lengths = {key: (len(a) if a.ndim else None) for key, a in arrays}
    if None in lengths.values() or len(set(lengths.values())) > 1:
        raise ValueError(f"the arrays of {name} need one number of samples each, got "
                         f"{lengths}")
    return dict(arrays) if isinstance(x, dict) else [a for _, a in arrays]


def as_inputs(x, structured, what):
    """``predict``'s ``x``, checked like ``fit``'s."""
    if x is None:
        raise ValueError(f"{what}: x=None; give the input samples")
    return _as_data(x, "x", structured)


def check_data(x, y=None, sample_weight=None, structured=False, what="fit",
               class_weight=None):
    """``(x, y, sample_weight)`` as arrays (lists / dicts of them for ``structured``),
    with at least one sample and one number of samples; ``class_weight`` becomes
    ``sample_weight``.

    Raises:
        ValueError: ``x`` is None or empty, the numbers of samples differ, or both
            ``class_weight`` and ``sample_weight`` are given.
        TypeError: something that is not an array.
    """
    if x is None:
        raise ValueError(f"{what}: x=None; give the input samples (and targets y)")
    x = _as_data(x, "x", structured)
    n = length(x)
    if n == 0:
        raise ValueError(f"{what}: x has no samples")
    checked = [x]
    for value, name in ((y, "y"), (sample_weight, "sample_weight")):
        if value is not None:
            value = _as_data(value, name, structured)
            if length(value) != n:
                raise ValueError(f"{what}: x has {n} samples but {name} has "
                                 f"{length(value)}")
        checked.append(value)
    if class_weight is not None:
        if sample_weight is not None:
            raise ValueError(f"{what}: give class_weight or sample_weight, not both")
        checked[2] = class_weights(checked[1], class_weight)
    return tuple(checked)


def class_weights(y, class_weight):
    """One weight per sample of ``y`` from ``class_weight`` (see the module).

    Raises:
        ValueError: ``class_weight`` is not a dict of integer classes to finite numbers,
            ``y`` is None or several arrays, or ``y`` does not hold one class per sample.
    """
    _check_class_weight(class_weight)
    if y is None or isinstance(y, (list, dict)):
        raise ValueError("class_weight needs the targets y of a model with a single output"
                         f", got {'no y' if y is None else type(y).__name__ + ' y'}")
    xp = _backend.backend_of(y).xp
    labels = y
    if labels.ndim > 1:
        labels = labels.argmax(axis=-1) if labels.shape[-1] != 1 else labels[..., 0]
    if labels.ndim != 1:
        raise ValueError(f"class_weight needs one class per sample; y has shape {y.shape}")
    labels = xp.round(labels).astype("int64")
    weights = xp.ones(labels.shape, dtype=config.floatx())
    for cls, weight in class_weight.items():
        weights[labels == int(cls)] = weight
    return weights


def _check_class_weight(class_weight):
    if not isinstance(class_weight, dict):
        raise ValueError(f"class_weight={class_weight!r} must be a dict mapping class "
                         "indices to weights")
    for cls, weight in class_weight.items():
        if isinstance(cls, bool) or not isinstance(cls, numbers.Integral):
            raise ValueError(f"class_weight has the key {cls!r}; keys are integer classes")
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or \
                not math.isfinite(weight):
            raise ValueError(f"class_weight[{cls!r}]={weight!r} must be a finite number")


def length(data):
    """The number of samples of an array or of a list / dict of arrays."""
    if isinstance(data, dict):
        data = next(iter(data.values()))
    elif isinstance(data, list):
        data = data[0]
    return len(data)


def take(data, index):
    """``data[index]`` for an array, each array's for a list / dict of arrays; None stays
    None."""
    if data is None:
        return None
    if isinstance(data, dict):
        return {k: v[index] for k, v in data.items()}
    if isinstance(data, list):
        return [v[index] for v in data]
    return data[index]


def map_outputs(fn, output):
    """``fn`` over an array, or over each array of a list / dict of them."""
    if isinstance(output, dict):
        return {k: fn(v) for k, v in output.items()}
    if isinstance(output, list):
        return [fn(v) for v in output]
    return fn(output)


def concatenate(batches):  # host
    first = batches[0]
    if isinstance(first, dict):
        return {k: np.concatenate([b[k] for b in batches]) for k in first}
    if isinstance(first, list):
        return [np.concatenate(column) for column in zip(*batches)]
    return np.concatenate(batches)


def unpack(batch, structured=False, class_weight=None, what="a generator given to fit"):
    """A batch ``(x, y)`` or ``(x, y, sample_weight)``, checked, as a triple."""
    if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
        raise ValueError(f"{what} must yield (x_batch, y_batch) or (x_batch, y_batch, "
                         f"sample_weight) tuples, got a {type(batch).__name__}")
    x, y, sample_weight = (tuple(batch) + (None,))[:3]
    if y is None:
        raise ValueError(f"{what} yielded y=None; the loss needs targets")
    return check_data(x, y, sample_weight, structured, "fit", class_weight)


def share(index, bounds):
    """This process's contiguous part of a batch's ``index`` (a slice or an array)."""
    if isinstance(index, slice):
        start, stop = bounds(index.stop - index.start)
        return slice(index.start + start, index.start + stop)
    start, stop = bounds(len(index))
    return index[start:stop]


def _batch(x, y, sample_weight, index):
    batch = (take(x, index), take(y, index))
    return batch if sample_weight is None else batch + (take(sample_weight, index),)


class ArrayBatches:
    """Mini-batches ``(x, y[, sample_weight])`` of arrays, reshuffled every epoch with
    minidl's RNG; the last partial batch is kept. With ``shard``
    (``DataParallel.bounds``), each batch is this process's contiguous share of it."""

    shard = None

    def __init__(self, x, y, batch_size, shuffle, validation_split, sample_weight=None):
        self.validation = None
        if validation_split:
            cut = int(length(x) * (1.0 - validation_split))
            if cut == 0 or cut == length(x):
                raise ValueError(f"validation_split={validation_split} leaves no "
                                 f"{'training' if cut == 0 else 'validation'} samples out "
                                 f"of {length(x)}")
            self.validation = tuple(take(a, slice(cut, None))
                                    for a in (x, y, sample_weight))
            x, y, sample_weight = (take(a, slice(None, cut)) for a in (x, y, sample_weight))
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.batch_size, self.shuffle = batch_size, shuffle
        self.steps = -(-length(x) // batch_size)

    def epoch(self):
        n = length(self.x)
        order = _random.host_generator().permutation(n) if self.shuffle else None
        for s in range(0, n, self.batch_size):
            if order is None:
                index = slice(s, min(s + self.batch_size, n))
            else:
                index = order[s:s + self.batch_size]
            if self.shard is not None:
                index = share(index, self.shard)
            yield _batch(self.x, self.y, self.sample_weight, index)


class GeneratorBatches:
    """Batches from an iterable of ``(x, y[, sample_weight])``: ``steps_per_epoch`` per
    epoch (all of a re-iterable, such as a list or a minidl data iterator, when not
    given)."""

    validation = None
    shard = None

    def __init__(self, source, steps_per_epoch, structured=False, class_weight=None):
        self.source, self.structured = source, structured
        self.class_weight = class_weight
        self.steps = steps_per_epoch if steps_per_epoch is not None else (
            len(source) if hasattr(source, "__len__") else None)

    def epoch(self):
        source = self.source
        # a one-shot generator continues where the last epoch stopped
        iterator = source if iter(source) is source else iter(source)
        for step, batch in enumerate(iterator):
            x, y, sample_weight = unpack(batch, self.structured, self.class_weight)
            index = slice(0, length(x))
            if self.shard is not None:
                index = share(index, self.shard)
            yield _batch(x, y, sample_weight, index)
            if self.steps is not None and step + 1 >= self.steps:
                return
