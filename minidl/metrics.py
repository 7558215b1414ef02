"""Stateful metrics with Keras 3's names, defaults and formulas.

A metric accumulates over batches: ``update_state(y_true, y_pred, sample_weight=None)``
adds a batch, ``result()`` returns the value so far as a Python float, ``reset_state()``
starts over. Updates work on the backend arrays with ``xp`` (never on the tape) and keep
their running sums on the device; only ``result()`` reads a number back.

Each ``MeanMetricWrapper`` metric computes per-sample values, averages them over any axes
after the first, weights them by ``sample_weight`` and keeps ``total = sum(w * v)`` and
``count = sum(w)`` (the number of samples without weights); ``result() = total / count``.

- ``Accuracy``: ``y_true == y_pred``
- ``BinaryAccuracy(threshold=0.5)``: ``y_true == (y_pred > threshold)``
- ``CategoricalAccuracy``: ``argmax(y_true) == argmax(y_pred)`` (one-hot labels)
- ``SparseCategoricalAccuracy``: ``y_true == argmax(y_pred)`` (integer labels)
- ``TopKCategoricalAccuracy(k=5)`` / ``SparseTopKCategoricalAccuracy(k=5)``: the label's
  score is among the ``k`` largest (ties counted in, as TensorFlow's ``in_top_k``)
- ``Mean``: the weighted mean of the values given to ``update_state(values)``
- ``MeanSquaredError``, ``MeanAbsoluteError``, ``CategoricalCrossentropy``,
  ``SparseCategoricalCrossentropy``, ``BinaryCrossentropy``: the losses' per-sample values

Each metric's ``_direction`` is ``"up"`` (accuracies: larger is better), ``"down"`` (the
losses, and a ``MeanMetricWrapper`` of a built-in loss) or None (``Mean``, other
functions); callbacks with ``mode="auto"`` follow it, as Keras's do.

``get("accuracy", loss=...)`` (or ``resolve_accuracy``) picks the accuracy that matches the
loss or, as Keras's ``compile``, the label and prediction shapes.

>>> import minidl as mdl
>>> m = mdl.metrics.SparseCategoricalAccuracy()
>>> m.update_state([2, 1], [[0.1, 0.6, 0.3], [0.05, 0.95, 0.0]])
>>> m.update_state([0], [[0.9, 0.05, 0.05]], sample_weight=[2.0])
>>> m.result()
0.75
"""
import numbers

from . import config
from . import losses as _losses
from .autograd import Tensor, no_grad
from .backend import backend_of, get_backend, is_array
from .identifiers import Configurable, Family, dtype_name, snake_case
from .losses import squeeze_or_expand_to_same_rank

__all__ = ["Metric", "Mean", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy",
           "CategoricalAccuracy", "SparseCategoricalAccuracy", "TopKCategoricalAccuracy",
           "SparseTopKCategoricalAccuracy", "MeanSquaredError", "MeanAbsoluteError",
           "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "BinaryCrossentropy",
           "accuracy", "binary_accuracy", "categorical_accuracy",
           "sparse_categorical_accuracy", "top_k_categorical_accuracy",
           "sparse_top_k_categorical_accuracy", "resolve_accuracy", "get", "serialize",
           "deserialize"]


# -- arrays ------------------------------------------------------------------------------
def _to_array(x, backend=None, argument="values"):
    """``x`` as a backend array: a Tensor's data (off the tape), an array as it is; a list
    goes to ``backend`` (or the default). Host arrays move to a device ``backend``."""
    data = x.data if isinstance(x, Tensor) else x
    if backend is None:
        return data if is_array(data) else get_backend().asarray(data)
    if is_array(data) and backend_of(data) != backend and backend.name == "numpy":
        raise ValueError(f"{argument} lives on {backend_of(data).name} but y_pred on "
                         "numpy; move one with .to(...)")
    return backend.asarray(data)


def _pair(y_true, y_pred):
    y_pred = _to_array(y_pred)
    return _to_array(y_true, backend_of(y_pred), "y_true"), y_pred


def _float(matches):
    return matches.astype(config.floatx())


def _mismatch(name, y_true, y_pred, expected):
    return ValueError(f"{name}: y_true of shape {y_true.shape} does not fit y_pred of "
                      f"shape {y_pred.shape}; expected y_true of shape {expected}")


def _sparse_targets(name, y_true, y_pred):
    """Integer labels of ``y_pred.shape[:-1]`` (a trailing 1 on y_true is squeezed)."""
    if y_true.ndim == y_pred.ndim and y_true.ndim and y_true.shape[-1] == 1:
        y_true = y_true.reshape(y_true.shape[:-1])
    if y_true.shape != y_pred.shape[:-1]:
        raise _mismatch(name, y_true, y_pred, y_pred.shape[:-1])
    return y_true


def _in_top_k(xp, targets, predictions, k):
    """Whether ``predictions[i, targets[i]]`` is among the ``k`` largest of row ``i``;
    ties straddling the boundary count as in; an out-of-range target never matches."""
    classes = predictions.shape[-1]
    targets = targets.astype("int64")
    valid = (targets >= 0) & (targets < classes)
    index = xp.clip(targets, 0, classes - 1)[:, None]
    at_label = xp.take_along_axis(predictions, index, axis=-1)
    at_label = xp.where(xp.isnan(at_label), -xp.inf, at_label)
    rank = 1 + (predictions > at_label).sum(axis=-1)
    return (rank <= k) & valid


# -- metric functions (arrays in, per-sample float arrays out) ---------------------------
def accuracy(y_true, y_pred):
    """``y_true == y_pred`` elementwise, as floats."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(*_pair(y_true, y_pred))
    if y_true.shape != y_pred.shape:
        raise _mismatch("accuracy", y_true, y_pred, y_pred.shape)
    return _float(y_true == y_pred.astype(y_true.dtype) if y_true.dtype.kind == "b"
                  else y_true == y_pred)


def binary_accuracy(y_true, y_pred, threshold: float = 0.5):
    """``y_true == (y_pred > threshold)`` elementwise, as floats."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(*_pair(y_true, y_pred))
    if y_true.shape != y_pred.shape:
        raise _mismatch("binary_accuracy", y_true, y_pred, y_pred.shape)
    return _float(y_true == (y_pred > threshold).astype(y_true.dtype))


def categorical_accuracy(y_true, y_pred):
    """``argmax(y_true, -1) == argmax(y_pred, -1)`` (one-hot labels); shape
    ``y_pred.shape[:-1]``."""
    y_true, y_pred = _pair(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise _mismatch("categorical_accuracy", y_true, y_pred, y_pred.shape)
    return _float(y_true.argmax(axis=-1) == y_pred.argmax(axis=-1))


def sparse_categorical_accuracy(y_true, y_pred):
    """``y_true == argmax(y_pred, -1)`` (integer labels ``(N,)`` or ``(N, 1)``)."""
    y_true, y_pred = _pair(y_true, y_pred)
    y_true = _sparse_targets("sparse_categorical_accuracy", y_true, y_pred)
    return _float(y_true == y_pred.argmax(axis=-1))


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5):
    """Whether the class of ``argmax(y_true)`` is among the ``k`` top scores of
    ``y_pred``."""
    y_true, y_pred = _pair(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise _mismatch("top_k_categorical_accuracy", y_true, y_pred, y_pred.shape)
    targets = y_true.argmax(axis=-1)
    xp = backend_of(y_pred).xp
    matches = _in_top_k(xp, targets.reshape(-1), y_pred.reshape(-1, y_pred.shape[-1]), k)
    return _float(matches.reshape(targets.shape))


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5,
                                      from_sorted_ids: bool = False):
    """Whether the integer label is among the ``k`` top scores of ``y_pred`` (or, with
    ``from_sorted_ids=True``, among the first ``k`` ids of ``y_pred``, ids sorted by
    score)."""
    y_true, y_pred = _pair(y_true, y_pred)
    y_true = _sparse_targets("sparse_top_k_categorical_accuracy", y_true, y_pred)
    xp = backend_of(y_pred).xp
    if from_sorted_ids:
        return _float((y_pred[..., :k] == y_true[..., None]).any(axis=-1))
    matches = _in_top_k(xp, y_true.reshape(-1), y_pred.reshape(-1, y_pred.shape[-1]), k)
    return _float(matches.reshape(y_true.shape))


def _on_arrays(loss_fn, **fixed):
    """A loss function run off the tape on arrays (labels are not range-checked here)."""
    def metric_fn(y_true, y_pred, **kwargs):
        y_true, y_pred = _pair(y_true, y_pred)
        with no_grad():
            return loss_fn(Tensor._wrap(y_true), Tensor._wrap(y_pred), **fixed,
                           **kwargs).data
    metric_fn.__name__ = loss_fn.__name__
    return metric_fn


def _sparse_crossentropy_values(y_true, y_pred, from_logits=False, axis=-1):
    return _losses._sparse_crossentropy(y_true, y_pred, from_logits, None, axis,
                                        validate=False)[0]


_sparse_crossentropy_values.__name__ = "sparse_categorical_crossentropy"


# -- metric objects ----------------------------------------------------------------------
class Metric(Configurable):
    """Base class: ``update_state(...)``, ``result()`` (a Python float), ``reset_state()``;
    calling a metric updates it and returns the result. ``_direction``: ``"up"`` when
    larger is better, ``"down"`` when smaller is, None when unknown."""

    _direction = None

    def __init__(self, name: str | None = None, dtype: str | None = None) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name={name!r} must be a string")
        self.name = name or snake_case(type(self).__name__)
        self._dtype = None if dtype is None else dtype_name(dtype)

    @property
    def dtype(self):
        return self._dtype or config.floatx()

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}.update_state")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__}.result")

    def reset_state(self):
        raise NotImplementedError(f"{type(self).__name__}.reset_state")

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


def _samplewise(xp, values, sample_weight):
    """Keras's reduction of a batch to per-sample values and weights (float64)."""
    values = values.astype("float64")
    weights = None
    if sample_weight is not None:
        weights = _to_array(sample_weight, backend_of(values), "sample_weight")
        weights = weights.astype("float64")
        shape = weights.shape
        values, weights = squeeze_or_expand_to_same_rank(values, weights)
        if values.ndim > weights.ndim:
            values = values.mean(axis=tuple(range(weights.ndim, values.ndim)))
        try:
            weights = xp.broadcast_to(weights, values.shape)
        except ValueError:
            raise ValueError(f"sample_weight of shape {shape} does not fit the per-sample "
                             f"values of shape {values.shape}") from None
        values = values * weights
        if weights.ndim > 1:
            weights = weights.mean(axis=tuple(range(1, weights.ndim)))
    if values.ndim > 1:
        values = values.mean(axis=tuple(range(1, values.ndim)))
    return values, weights


class Mean(Metric):
    """The (weighted) mean of the values passed to ``update_state(values,
    sample_weight=None)``; values of rank > 1 are first averaged per sample."""

    def __init__(self, name: str = "mean", dtype: str | None = None) -> None:
        super().__init__(name, dtype)
        self.reset_state()

    def reset_state(self):
        self._total = self._count = None

    def update_state(self, values, sample_weight=None):
        values = _to_array(values)
        xp = backend_of(values).xp
        values, weights = _samplewise(xp, values, sample_weight)
        total = values.sum()
        if weights is not None:
            count = weights.sum()
        else:
            count = xp.asarray(values.shape[0] if values.ndim else 1, dtype="float64")
        if self._total is None:
            self._total, self._count = total, count
        else:  # the running sums stay where the first batch put them
            owner = backend_of(self._total)
            self._total = self._total + owner.asarray(total)
            self._count = self._count + owner.asarray(count)

    def result(self):
        if self._total is None:
            return 0.0
        xp = backend_of(self._total).xp
        nonzero = self._count != 0
        ratio = self._total / xp.where(nonzero, self._count, 1)
        return float(xp.where(nonzero, ratio, 0.0))


_LOSS_NAMES = ("mean_squared_error", "mean_absolute_error", "huber",
               "categorical_crossentropy", "sparse_categorical_crossentropy",
               "binary_crossentropy", "LossFunctionWrapper", "MeanSquaredError",
               "MeanAbsoluteError", "Huber", "CategoricalCrossentropy",
               "SparseCategoricalCrossentropy", "BinaryCrossentropy")


def _is_builtin_loss(fn):
    """Keras's test: a built-in loss function, or an instance of a built-in loss class."""
    return any(fn is getattr(_losses, name) or type(fn) is getattr(_losses, name)
               for name in _LOSS_NAMES)


class MeanMetricWrapper(Mean):
    """The mean of ``fn(y_true, y_pred, **kwargs)`` (per-sample values, arrays or
    Tensors), weighted by ``sample_weight``; ``fn`` runs with recording off."""

    def __init__(self, fn, name: str | None = None, dtype: str | None = None,
                 **kwargs) -> None:
        if isinstance(fn, str):
            fn = _function(fn)
        if not callable(fn):
            raise ValueError(f"fn={fn!r} must be a callable fn(y_true, y_pred)")
        super().__init__(name or getattr(fn, "__name__", None) or "mean_metric_wrapper",
                         dtype)
        self._fn, self._fn_kwargs = fn, kwargs
        if _is_builtin_loss(fn):
            self._direction = "down"

    def update_state(self, y_true, y_pred, sample_weight=None):
        with no_grad():
            values = self._fn(y_true, y_pred, **self._fn_kwargs)
        super().update_state(values, sample_weight)

    def get_config(self):
        return {**super().get_config(), "fn": getattr(self._fn, "__name__", repr(self._fn)),
                **self._fn_kwargs}


class Accuracy(MeanMetricWrapper):
    """How often ``y_pred`` equals ``y_true``."""

    _direction = "up"

    def __init__(self, name: str = "accuracy", dtype: str | None = None) -> None:
        super().__init__(accuracy, name, dtype)

    def get_config(self):
        return Metric.get_config(self)


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` equals the 0/1 label."""

    _direction = "up"

    def __init__(self, name: str = "binary_accuracy", dtype: str | None = None,
                 threshold: float = 0.5) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
            raise ValueError(f"threshold={threshold!r} must be a number")
        self.threshold = float(threshold)
        super().__init__(binary_accuracy, name, dtype, threshold=self.threshold)

    def get_config(self):
        return {**Metric.get_config(self), "threshold": self.threshold}


class CategoricalAccuracy(MeanMetricWrapper):
    """How often ``argmax(y_pred)`` equals ``argmax(y_true)`` (one-hot labels)."""

    _direction = "up"

    def __init__(self, name: str = "categorical_accuracy",
                 dtype: str | None = None) -> None:
        super().__init__(categorical_accuracy, name, dtype)

    def get_config(self):
        return Metric.get_config(self)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often ``argmax(y_pred)`` equals the integer label."""

    _direction = "up"

    def __init__(self, name: str = "sparse_categorical_accuracy",
                 dtype: str | None = None) -> None:
        super().__init__(sparse_categorical_accuracy, name, dtype)

    def get_config(self):
        return Metric.get_config(self)


def _check_k(k):
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k={k!r} must be a positive integer")
    return int(k)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot label's class is among the ``k`` top scores."""

    _direction = "up"

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy",
                 dtype: str | None = None) -> None:
        self.k = _check_k(k)
        super().__init__(top_k_categorical_accuracy, name, dtype, k=self.k)

    def get_config(self):
        return {**Metric.get_config(self), "k": self.k}


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the ``k`` top scores."""

    _direction = "up"

    def __init__(self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy",
                 dtype: str | None = None, from_sorted_ids: bool = False) -> None:
        self.k = _check_k(k)
        self.from_sorted_ids = bool(from_sorted_ids)
        super().__init__(sparse_top_k_categorical_accuracy, name, dtype, k=self.k,
                         from_sorted_ids=self.from_sorted_ids)

    def get_config(self):
        config = {**Metric.get_config(self), "k": self.k}
        if self.from_sorted_ids:
            config["from_sorted_ids"] = True
        return config


class _LossMetric(MeanMetricWrapper):
    """The mean of a loss function's per-sample values; its options are attributes and
    config entries."""

    loss_fn = None
    _direction = "down"

    def __init__(self, name, dtype, **options):
        self.__dict__.update(options)
        super().__init__(_on_arrays(type(self).loss_fn), name, dtype, **options)

    def get_config(self):
        return {**Metric.get_config(self), **self._fn_kwargs}


class MeanSquaredError(_LossMetric):
    """The mean of ``losses.mean_squared_error``."""
    loss_fn = staticmethod(_losses.mean_squared_error)

    def __init__(self, name: str = "mean_squared_error", dtype: str | None = None) -> None:
        super().__init__(name, dtype)


class MeanAbsoluteError(_LossMetric):
    """The mean of ``losses.mean_absolute_error``."""
    loss_fn = staticmethod(_losses.mean_absolute_error)

    def __init__(self, name: str = "mean_absolute_error", dtype: str | None = None) -> None:
        super().__init__(name, dtype)


class CategoricalCrossentropy(_LossMetric):
    """The mean of ``losses.categorical_crossentropy``."""
    loss_fn = staticmethod(_losses.categorical_crossentropy)

    def __init__(self, name: str = "categorical_crossentropy", dtype: str | None = None,
                 from_logits: bool = False, label_smoothing: float = 0.0,
                 axis: int = -1) -> None:
        super().__init__(name, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(_LossMetric):
    """The mean of ``losses.sparse_categorical_crossentropy`` (labels not range-checked:
    that would read a value back from the device on every update)."""
    loss_fn = staticmethod(_sparse_crossentropy_values)

    def __init__(self, name: str = "sparse_categorical_crossentropy",
                 dtype: str | None = None, from_logits: bool = False,
                 axis: int = -1) -> None:
        super().__init__(name, dtype, from_logits=from_logits, axis=axis)


class BinaryCrossentropy(_LossMetric):
    """The mean of ``losses.binary_crossentropy``."""
    loss_fn = staticmethod(_losses.binary_crossentropy)

    def __init__(self, name: str = "binary_crossentropy", dtype: str | None = None,
                 from_logits: bool = False, label_smoothing: float = 0.0) -> None:
        super().__init__(name, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing)


_FUNCTIONS = {f.__name__: f for f in (
    accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
    top_k_categorical_accuracy, sparse_top_k_categorical_accuracy)}


def _function(name):
    if name not in _FUNCTIONS:
        raise ValueError(f"Unknown metric function: {name!r}. Known: "
                         f"{', '.join(sorted(_FUNCTIONS))}")
    return _FUNCTIONS[name]


# -- "accuracy" resolution ---------------------------------------------------------------
def _accuracy_for_loss(loss):
    """The accuracy class (and kwargs) a loss implies, or None when it does not tell."""
    if loss is None:
        return None
    if isinstance(loss, (str, dict)):
        try:
            loss = _losses.get(loss)
        except ValueError:
            return None
    kwargs = getattr(loss, "_fn_kwargs", {})
    fn = getattr(loss, "fn", loss)
    if isinstance(loss, _losses.SparseCategoricalCrossentropy) or \
            fn is _losses.sparse_categorical_crossentropy:
        return SparseCategoricalAccuracy, {}
    if isinstance(loss, _losses.CategoricalCrossentropy) or \
            fn is _losses.categorical_crossentropy:
        return CategoricalAccuracy, {}
    if isinstance(loss, _losses.BinaryCrossentropy) or fn is _losses.binary_crossentropy:
        # sigmoid(x) > 0.5 exactly when x > 0
        return BinaryAccuracy, {"threshold": 0.0 if kwargs.get("from_logits") else 0.5}
    return None


def _shape(x):
    return tuple(x) if isinstance(x, (tuple, list)) else tuple(x.shape)


def resolve_accuracy(loss=None, y_true=None, y_pred=None, name: str = "accuracy") -> Metric:
    """The accuracy metric ``"accuracy"``/``"acc"`` stands for.

    A cross-entropy loss decides: sparse categorical -> ``SparseCategoricalAccuracy``,
    categorical -> ``CategoricalAccuracy``, binary -> ``BinaryAccuracy`` (threshold 0 for
    ``from_logits=True``). Otherwise Keras's rule on the shapes of ``y_true`` and
    ``y_pred`` (arrays, Tensors or shape tuples): last prediction axis 1 -> binary; labels
    of lower rank, or with last axis 1 against more classes -> sparse; else categorical.

    Raises:
        ValueError: when neither the loss nor the shapes tell.
    """
    found = _accuracy_for_loss(loss)
    if found is not None:
        cls, kwargs = found
        return cls(name=name, **kwargs)
    if y_true is None or y_pred is None:
        raise ValueError(f"cannot tell which accuracy {name!r} means for loss={loss!r}: "
                         "pass y_true and y_pred (or their shapes)")
    true_shape, pred_shape = _shape(y_true), _shape(y_pred)
    pred_last = pred_shape[-1] if pred_shape else 1
    true_last = true_shape[-1] if true_shape else 1
    if pred_last == 1:
        return BinaryAccuracy(name=name)
    if len(true_shape) < len(pred_shape) or (true_last == 1 and pred_last > 1):
        return SparseCategoricalAccuracy(name=name)
    return CategoricalAccuracy(name=name)


# -- lookup ------------------------------------------------------------------------------
_family = Family("metric", module="keras.metrics", base=Metric)
for _cls in (Mean, MeanMetricWrapper, Accuracy, BinaryAccuracy, CategoricalAccuracy,
             SparseCategoricalAccuracy, TopKCategoricalAccuracy,
             SparseTopKCategoricalAccuracy, MeanSquaredError, MeanAbsoluteError,
             CategoricalCrossentropy, SparseCategoricalCrossentropy, BinaryCrossentropy):
    _family.register(_cls)
_family.register(Accuracy, "acc")
_family.register(MeanSquaredError, "mse")
_family.register(MeanAbsoluteError, "mae")
_family.register(BinaryCrossentropy, "bce")


def get(identifier, custom_objects: dict | None = None, *, loss=None, y_true=None,
        y_pred=None):
    """A metric from a name, a config dict, a ``Metric`` instance or a callable
    ``fn(y_true, y_pred)`` (returned as it is; ``MeanMetricWrapper(fn)`` averages it).

    ``"accuracy"``/``"acc"`` with a ``loss`` (or ``y_true`` and ``y_pred``) resolve as
    ``resolve_accuracy``; alone they mean ``Accuracy``. A metric made from a name is
    named by it (``get("acc").name == "acc"``), as Keras's ``compile`` names them.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc") and \
            (loss is not None or (y_true is not None and y_pred is not None)):
        return resolve_accuracy(loss, y_true, y_pred, name=identifier)
    obj = _family.get(identifier, custom_objects)
    if isinstance(identifier, str) and isinstance(obj, Metric):
        obj.name = identifier
    return obj


def serialize(metric) -> dict | str | None:
    """Keras 3's ``{"module", "class_name", "config", "registered_name"}`` form."""
    return _family.serialize(metric)


def deserialize(config, custom_objects: dict | None = None):
    return _family.deserialize(config, custom_objects)
