"""Losses with Keras 3's names, defaults and formulas.

A loss object is called as ``loss(y_true, y_pred, sample_weight=None)`` and returns a
scalar Tensor on the tape: the per-sample losses, times ``sample_weight`` when given,
reduced by ``reduction`` (default ``"sum_over_batch_size"``: their sum over the number
of per-sample values, i.e. the mean). The lowercase functions return the per-sample
losses (``y_pred``'s shape without its last axis). Output dtype follows ``y_pred``
(float32 stays float32) unless ``dtype=`` is given.

Formulas (``eps = config.epsilon()``, the mean/sum over the last axis unless stated):

- ``mean_squared_error``: ``mean((y_true - y_pred)**2)``
- ``mean_absolute_error``: ``mean(|y_true - y_pred|)``
- ``huber``: ``mean(0.5 e**2 if |e| <= delta else delta |e| - 0.5 delta**2)``, ``e =
  y_pred - y_true``
- ``categorical_crossentropy``: ``-sum(y_true * log(p))`` with ``p = clip(y_pred /
  sum(y_pred), eps, 1 - eps)``, or ``p = softmax(y_pred)`` (fused, stable) with
  ``from_logits=True``; label smoothing ``y_true * (1 - ls) + ls / num_classes``
- ``sparse_categorical_crossentropy``: the same with integer labels of shape ``(N,)`` or
  ``(N, 1)``; ``ignore_class`` drops those labels from the loss and from the mean
- ``binary_crossentropy``: ``mean(-(y log p + (1 - y) log(1 - p)))`` with ``p =
  clip(y_pred, eps, 1 - eps)``, or the stable ``max(x, 0) - x y + log(1 + exp(-|x|))`` on
  logits; label smoothing ``y_true * (1 - ls) + 0.5 ls``

>>> import minidl as mdl
>>> y_true = [[0, 1, 0], [0, 0, 1]]
>>> y_pred = [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
>>> round(float(mdl.losses.CategoricalCrossentropy()(y_true, y_pred)), 3)
1.177
>>> loss = mdl.losses.get("sparse_categorical_crossentropy")
>>> round(float(loss([1, 2], y_pred, sample_weight=[0.3, 0.7])), 3)
0.814
"""
import inspect
import math
import numbers
import warnings

from . import checks, config
from .autograd import Tensor
from .identifiers import Configurable, Family, dtype_name, snake_case
from .ops import math as M
from .ops.losses import (
    reduce_weighted_values,
    sigmoid_cross_entropy_with_logits,
    softmax_cross_entropy_with_logits,
    sparse_softmax_cross_entropy_with_logits,
    squeeze_or_expand_to_same_rank,
    standardize_reduction,
)
from .ops.reduction import mean as _mean
from .ops.reduction import sum as _sum
from .validation import check_bool

__all__ = ["Loss", "LossFunctionWrapper", "MeanSquaredError", "MeanAbsoluteError", "Huber",
           "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "BinaryCrossentropy",
           "mean_squared_error", "mean_absolute_error", "huber", "categorical_crossentropy",
           "sparse_categorical_crossentropy", "binary_crossentropy", "mse", "mae",
           "squeeze_or_expand_to_same_rank", "reduce_weighted_values", "get", "serialize",
           "deserialize"]


# -- input handling ----------------------------------------------------------------------
def _as_pred(y_pred, dtype=None):
    """``y_pred`` as a floating Tensor (arrays keep their dtype; lists become floatx)."""
    t = y_pred if isinstance(y_pred, Tensor) else Tensor(y_pred)
    if dtype is not None and t.dtype != dtype:
        return M.cast(t, dtype)
    if t.dtype.kind != "f":
        return M.cast(t, config.floatx())
    return t


def _as_true(y_true, like):
    """``y_true`` as a Tensor on ``like``'s backend (its own dtype kept)."""
    if isinstance(y_true, Tensor):
        if y_true.backend != like.backend:
            raise ValueError(f"y_true lives on {y_true.backend.name} but y_pred on "
                             f"{like.backend.name}; move one with "
                             f".to({like.backend.name!r})")
        return y_true
    return Tensor._wrap(like.backend.asarray(y_true))


def _dense(y_true, y_pred, loss_name):
    """Tensors of one shape and y_pred's float dtype, or a ValueError naming both."""
    y_pred = _as_pred(y_pred)
    y_true = _as_true(y_true, y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{loss_name}: y_true of shape {y_true.shape} does not match "
                         f"y_pred of shape {y_pred.shape}; they must have the same shape "
                         "(a trailing axis of size 1 on one side is squeezed)")
    if y_true.dtype != y_pred.dtype:
        y_true = M.cast(y_true, y_pred.dtype)
    return y_true, y_pred


def _check_axis(axis, ndim, loss_name):
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or \
            (ndim and not -ndim <= axis < ndim):
        raise ValueError(f"{loss_name}: axis={axis!r} must be an integer axis of y_pred "
                         f"(rank {ndim})")


def _check_fraction(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not 0 <= value <= 1:
        raise ValueError(f"{name}={value!r} must be a number in [0, 1]")
    return float(value)


def _check_bool(value, name):
    return check_bool(value, name, error=ValueError)


def _clip_probabilities(p):
    eps = config.epsilon()
    return M.clip(p, eps, 1.0 - eps)


# -- per-sample loss functions -----------------------------------------------------------
def mean_squared_error(y_true, y_pred) -> Tensor:
    """``mean((y_true - y_pred)**2, axis=-1)``; shape ``y_pred.shape[:-1]``."""
    y_true, y_pred = _dense(y_true, y_pred, "mean_squared_error")
    return _mean(M.square(y_true - y_pred), axis=-1)


def mean_absolute_error(y_true, y_pred) -> Tensor:
    """``mean(|y_true - y_pred|, axis=-1)``; shape ``y_pred.shape[:-1]``."""
    y_true, y_pred = _dense(y_true, y_pred, "mean_absolute_error")
    return _mean(M.abs(y_true - y_pred), axis=-1)


mse, mae = mean_squared_error, mean_absolute_error


def huber(y_true, y_pred, delta: float = 1.0) -> Tensor:
    """Huber loss, quadratic for ``|e| <= delta`` and linear beyond, averaged over the last
    axis: ``mean(where(|e| <= delta, 0.5 e**2, delta |e| - 0.5 delta**2))``."""
    delta = _check_delta(delta)
    y_true, y_pred = _dense(y_true, y_pred, "huber")
    error = y_pred - y_true
    abs_error = M.abs(error)
    quadratic = 0.5 * M.square(error)
    linear = delta * abs_error - 0.5 * delta * delta
    return _mean(M.where(abs_error.data <= delta, quadratic, linear), axis=-1)


def _check_delta(delta):
    if isinstance(delta, bool) or not isinstance(delta, numbers.Real) or \
            not 0 < delta < math.inf:
        raise ValueError(f"delta={delta!r} must be a positive finite number")
    return float(delta)


def _check_name(name):
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name={name!r} must be a string")
    return name


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False,
                             label_smoothing: float = 0.0, axis: int = -1) -> Tensor:
    """Cross-entropy between class probabilities ``y_true`` (e.g. one-hot) and ``y_pred``.

    Args:
        y_true: targets of ``y_pred``'s shape.
        y_pred: probabilities (normalized over ``axis`` and clipped to ``[eps, 1 - eps]``)
            or, with ``from_logits=True``, logits (fused stable log-softmax).
        from_logits: whether ``y_pred`` holds logits.
        label_smoothing: ``y_true * (1 - ls) + ls / num_classes``.
        axis: the class axis.

    Returns:
        Tensor of ``y_pred``'s shape without ``axis``.
    """
    label_smoothing = _check_fraction(label_smoothing, "label_smoothing")
    y_true, y_pred = _dense(y_true, y_pred, "categorical_crossentropy")
    _check_axis(axis, y_pred.ndim, "categorical_crossentropy")
    if y_pred.shape[axis] == 1:
        warnings.warn("categorical_crossentropy expects y_pred of shape (batch_size, "
                      f"num_classes) with num_classes > 1, got {y_pred.shape}; consider "
                      "binary_crossentropy for two classes", stacklevel=2)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[axis]
    if _check_bool(from_logits, "from_logits"):
        return softmax_cross_entropy_with_logits(y_true, y_pred, axis=axis)
    p = _clip_probabilities(y_pred / _sum(y_pred, axis, keepdims=True))
    return -_sum(y_true * M.log(p), axis)


def _sparse_labels(y_true, y_pred, axis):
    """Integer-valued labels of ``y_pred``'s shape without ``axis`` (a trailing axis of
    size 1 is squeezed), as an array on y_pred's backend."""
    if isinstance(y_true, Tensor) and y_true.backend != y_pred.backend:
        raise ValueError(f"y_true lives on {y_true.backend.name} but y_pred on "
                         f"{y_pred.backend.name}; move one with "
                         f".to({y_pred.backend.name!r})")
    labels = y_pred.backend.asarray(y_true.data if isinstance(y_true, Tensor) else y_true)
    if labels.dtype.kind not in "biuf":
        raise ValueError(f"y_true of dtype {labels.dtype} must hold integer class labels")
    shape = labels.shape
    if labels.ndim == y_pred.ndim and labels.ndim and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    axis = axis % y_pred.ndim
    expected = y_pred.shape[:axis] + y_pred.shape[axis + 1:]
    if labels.shape != expected:
        raise ValueError(f"sparse_categorical_crossentropy: y_true of shape {shape} does "
                         f"not fit y_pred of shape {y_pred.shape}; integer labels need "
                         f"shape {expected} or {expected + (1,)}")
    return labels


def _label_error(labels, bad, classes, axis, ignore_class):
    value = labels[bad].reshape(-1)[0].item()
    return ValueError(f"y_true holds the label {value!r}, not a class index in "
                      f"[0, {classes}) for y_pred with {classes} classes on axis {axis}" +
                      ("" if ignore_class is None else f" (ignore_class={ignore_class!r})"))


def _sparse_crossentropy(y_true, y_pred, from_logits, ignore_class, axis, validate=True):
    """The per-sample losses and the valid-label mask (None without ignore_class)."""
    y_pred = _as_pred(y_pred)
    _check_axis(axis, y_pred.ndim, "sparse_categorical_crossentropy")
    labels = _sparse_labels(y_true, y_pred, axis)
    xp, classes = y_pred.xp, y_pred.shape[axis]
    valid = None if ignore_class is None else labels != ignore_class
    usable = valid
    if validate:
        bad = (labels < 0) | (labels >= classes)
        if labels.dtype.kind == "f":
            bad |= labels != xp.floor(labels)
        if valid is not None:
            bad &= valid
        # inside a training step the flag is read with the loss (minidl.checks), so the
        # loss is computed first: bad labels index class 0 meanwhile
        checks.check(bad.any(),
                     lambda: _label_error(labels, bad, classes, axis, ignore_class))
        usable = ~bad if valid is None else valid & ~bad
    index = labels if usable is None else xp.where(usable, labels, 0)
    index = index.astype("int64", copy=False)
    if from_logits:
        values = sparse_softmax_cross_entropy_with_logits(index, y_pred, axis=axis)
    else:
        a = axis % y_pred.ndim
        classes_col = xp.arange(classes).reshape((-1,) + (1,) * (y_pred.ndim - a - 1))
        onehot = (classes_col == xp.expand_dims(index, a)).astype(y_pred.dtype)
        p = _clip_probabilities(y_pred / _sum(y_pred, axis, keepdims=True))
        values = -_sum(Tensor._wrap(onehot) * M.log(p), axis)
    if valid is not None:
        values = M.where(valid, values, Tensor._wrap(xp.zeros((), values.dtype)))
    return values, valid


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False,
                                    ignore_class: int | None = None,
                                    axis: int = -1) -> Tensor:
    """Cross-entropy with integer labels.

    Args:
        y_true: class indices in ``[0, num_classes)``, shape ``y_pred.shape`` without
            ``axis`` (or with a trailing 1); ints, or floats holding integers.
        y_pred: probabilities (normalized and clipped as ``categorical_crossentropy``) or,
            with ``from_logits=True``, logits (fused stable log-softmax).
        from_logits: whether ``y_pred`` holds logits.
        ignore_class: a label whose entries get loss 0 (the loss object also leaves them
            out of the mean).
        axis: the class axis.

    Returns:
        Tensor of the labels' shape.

    Raises:
        ValueError: labels of the wrong shape, or outside ``[0, num_classes)``.
    """
    return _sparse_crossentropy(y_true, y_pred, _check_bool(from_logits, "from_logits"),
                                ignore_class, axis)[0]


def binary_crossentropy(y_true, y_pred, from_logits: bool = False,
                        label_smoothing: float = 0.0, axis: int = -1) -> Tensor:
    """Binary cross-entropy, averaged over ``axis``.

    ``y_pred`` holds probabilities (clipped to ``[eps, 1 - eps]``) or, with
    ``from_logits=True``, logits (stable: ``max(x, 0) - x y + log(1 + exp(-|x|))``). Label
    smoothing squeezes the targets towards 0.5: ``y_true * (1 - ls) + 0.5 ls``.
    """
    label_smoothing = _check_fraction(label_smoothing, "label_smoothing")
    y_true, y_pred = _dense(y_true, y_pred, "binary_crossentropy")
    _check_axis(axis, y_pred.ndim, "binary_crossentropy")
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if _check_bool(from_logits, "from_logits"):
        values = sigmoid_cross_entropy_with_logits(y_true, y_pred)
    else:
        p = _clip_probabilities(y_pred)
        values = -(y_true * M.log(p) + (1.0 - y_true) * M.log(1.0 - p))
    return _mean(values, axis=axis)


# -- loss objects ------------------------------------------------------------------------
class Loss(Configurable):
    """Base class: ``__call__(y_true, y_pred, sample_weight=None)`` reduces ``call``.

    Args:
        name: the loss's name.
        reduction: ``"sum_over_batch_size"`` (default; the mean over per-sample values),
            ``"sum"``, ``"mean"``, ``"mean_with_sample_weight"`` (the weighted sum over
            the sum of the weights), or ``None``/``"none"`` (per-sample values).
        dtype: compute dtype; None follows ``y_pred``.

    Subclasses implement ``call(y_true, y_pred)`` returning per-sample losses (Tensors).
    """

    def __init__(self, name: str | None = None, reduction: str = "sum_over_batch_size",
                 dtype: str | None = None) -> None:
        self.name = _check_name(name) or snake_case(type(self).__name__)
        self.reduction = standardize_reduction(reduction)
        self.dtype = None if dtype is None else dtype_name(dtype)

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = _as_pred(y_pred, self.dtype)
        values, mask = self._call_with_mask(y_true, y_pred)
        return reduce_weighted_values(values, sample_weight, mask, self.reduction)

    def _call_with_mask(self, y_true, y_pred):
        return self.call(y_true, y_pred), None

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__}.call")

    def get_config(self):
        config = {"name": self.name, "reduction": self.reduction}
        if self.dtype is not None:
            config["dtype"] = self.dtype
        return config


class LossFunctionWrapper(Loss):
    """A loss object around ``fn(y_true, y_pred, **kwargs)`` returning per-sample losses
    (``fn`` may also be the name of one of this module's functions)."""

    def __init__(self, fn, reduction: str = "sum_over_batch_size", name: str | None = None,
                 dtype: str | None = None, **kwargs) -> None:
        if isinstance(fn, (str, dict)):
            fn = _function(fn)
        if not callable(fn):
            raise ValueError(f"fn={fn!r} must be a callable fn(y_true, y_pred)")
        super().__init__(name or getattr(fn, "__name__", None), reduction, dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(_as_true(y_true, y_pred), y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        config = super().get_config()
        config["fn"] = getattr(self.fn, "__name__", repr(self.fn))
        config.update(self._fn_kwargs)
        return config


def _function(fn):
    if isinstance(fn, dict):  # Keras's serialized function
        fn = fn.get("config")
    if fn in _FUNCTIONS:
        return _FUNCTIONS[fn]
    raise ValueError(f"Unknown loss function: {fn!r}. Known: "
                     f"{', '.join(sorted(_FUNCTIONS))}")


class MeanSquaredError(LossFunctionWrapper):
    """``mean((y_true - y_pred)**2)`` over the last axis, then reduced."""

    def __init__(self, reduction: str = "sum_over_batch_size",
                 name: str = "mean_squared_error", dtype: str | None = None) -> None:
        super().__init__(mean_squared_error, reduction, name, dtype)

    def get_config(self):
        return Loss.get_config(self)


class MeanAbsoluteError(LossFunctionWrapper):
    """``mean(|y_true - y_pred|)`` over the last axis, then reduced."""

    def __init__(self, reduction: str = "sum_over_batch_size",
                 name: str = "mean_absolute_error", dtype: str | None = None) -> None:
        super().__init__(mean_absolute_error, reduction, name, dtype)

    def get_config(self):
        return Loss.get_config(self)


class Huber(LossFunctionWrapper):
    """Huber loss with threshold ``delta`` (see ``huber``)."""

    def __init__(self, delta: float = 1.0, reduction: str = "sum_over_batch_size",
                 name: str = "huber_loss", dtype: str | None = None) -> None:
        self.delta = _check_delta(delta)
        super().__init__(huber, reduction, name, dtype, delta=self.delta)

    def get_config(self):
        return {**Loss.get_config(self), "delta": self.delta}


class CategoricalCrossentropy(LossFunctionWrapper):
    """See ``categorical_crossentropy``; ``y_true`` one-hot (or probabilities)."""

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0,
                 axis: int = -1, reduction: str = "sum_over_batch_size",
                 name: str = "categorical_crossentropy", dtype: str | None = None) -> None:
        self.from_logits = _check_bool(from_logits, "from_logits")
        self.label_smoothing = _check_fraction(label_smoothing, "label_smoothing")
        self.axis = axis
        super().__init__(categorical_crossentropy, reduction, name, dtype,
                         from_logits=self.from_logits, label_smoothing=self.label_smoothing,
                         axis=axis)

    def get_config(self):
        return {**Loss.get_config(self), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """See ``sparse_categorical_crossentropy``; ``y_true`` integer labels ``(N,)`` or
    ``(N, 1)``. With ``ignore_class``, the reduction averages over the other labels."""

    def __init__(self, from_logits: bool = False, ignore_class: int | None = None,
                 reduction: str = "sum_over_batch_size",
                 name: str = "sparse_categorical_crossentropy", dtype: str | None = None,
                 axis: int = -1) -> None:
        self.from_logits = _check_bool(from_logits, "from_logits")
        if ignore_class is not None and (isinstance(ignore_class, bool) or
                                         not isinstance(ignore_class, numbers.Integral)):
            raise ValueError(f"ignore_class={ignore_class!r} must be an integer or None")
        self.ignore_class, self.axis = ignore_class, axis
        super().__init__(sparse_categorical_crossentropy, reduction, name, dtype,
                         from_logits=self.from_logits, ignore_class=ignore_class, axis=axis)

    def _call_with_mask(self, y_true, y_pred):
        return _sparse_crossentropy(y_true, y_pred, self.from_logits, self.ignore_class,
                                    self.axis)

    def get_config(self):
        config = {**Loss.get_config(self), "from_logits": self.from_logits,
                  "ignore_class": self.ignore_class}
        if self.axis != -1:
            config["axis"] = self.axis
        return config


class BinaryCrossentropy(LossFunctionWrapper):
    """See ``binary_crossentropy``; ``y_true`` 0/1 targets of ``y_pred``'s shape."""

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0,
                 axis: int = -1, reduction: str = "sum_over_batch_size",
                 name: str = "binary_crossentropy", dtype: str | None = None) -> None:
        self.from_logits = _check_bool(from_logits, "from_logits")
        self.label_smoothing = _check_fraction(label_smoothing, "label_smoothing")
        self.axis = axis
        super().__init__(binary_crossentropy, reduction, name, dtype,
                         from_logits=self.from_logits, label_smoothing=self.label_smoothing,
                         axis=axis)

    def get_config(self):
        return {**Loss.get_config(self), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


_FUNCTIONS = {f.__name__: f for f in (
    mean_squared_error, mean_absolute_error, huber, categorical_crossentropy,
    sparse_categorical_crossentropy, binary_crossentropy)}

_family = Family("loss", module="keras.losses", base=Loss)
for _cls in (Loss, LossFunctionWrapper, SparseCategoricalCrossentropy,
             CategoricalCrossentropy, BinaryCrossentropy, MeanSquaredError,
             MeanAbsoluteError, Huber):
    _family.register(_cls)
_family.register(MeanSquaredError, "mse")
_family.register(MeanAbsoluteError, "mae")
_family.register(BinaryCrossentropy, "bce")
_family.register(Huber, "huber_loss")


def get(identifier, custom_objects: dict | None = None):
    """A loss from a name (``"sparse_categorical_crossentropy"``, ``"mse"``, ``"mae"``,
    ``"huber"``, a class name, ...), a config dict (Keras 3's serialized form included),
    a ``Loss`` instance or a callable ``fn(y_true, y_pred)``; None gives None.

    Names and dicts give ``Loss`` instances (whose call returns the reduced scalar);
    instances and callables are returned as they are (wrap a per-sample function with
    ``LossFunctionWrapper`` to reduce it).

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    obj = _family.get(identifier, custom_objects)
    return obj() if inspect.isclass(obj) else obj


def serialize(loss) -> dict | str | None:
    """Keras 3's ``{"module", "class_name", "config", "registered_name"}`` form (a
    function's name for this module's functions)."""
    return _family.serialize(loss)


def deserialize(config, custom_objects: dict | None = None):
    obj = _family.deserialize(config, custom_objects)
    return obj() if inspect.isclass(obj) else obj
