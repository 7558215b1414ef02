"""Fused, stable cross-entropies on logits.

Each is one ``Function`` whose forward works through ``log_softmax`` (or the stable
softplus form of the sigmoid cross-entropy), so ``|logits|`` of any size gives finite
values and gradients. The backward formulas are hand-derived and written with minidl ops,
so ``create_graph=True`` can differentiate them again:

- ``softmax_cross_entropy_with_logits(labels, logits)``:
  ``loss = -sum(t * log_softmax(z))``; ``dz = gy * (softmax(z) * sum(t) - t)``
  (``softmax(z) - t`` for labels that sum to 1), ``dt = -gy * log_softmax(z)``.
- ``sparse_softmax_cross_entropy_with_logits(labels, logits)``:
  ``loss = -log_softmax(z)[label]``; ``dz = gy * (softmax(z) - onehot(label))``.
- ``sigmoid_cross_entropy_with_logits(labels, logits)``:
  ``loss = max(x, 0) - x * t + log(1 + exp(-|x|))``; ``dx = gy * (sigmoid(x) - t)``,
  ``dt = -gy * x``.

It also holds Keras's weighting and reduction of per-sample losses
(``reduce_weighted_values``) and its rank-alignment rule
(``squeeze_or_expand_to_same_rank``).

>>> import numpy as np, minidl as mdl
>>> z = mdl.tensor(np.array([[1000.0, 0.0]]))
>>> sparse_softmax_cross_entropy_with_logits(np.array([1]), z).numpy()
array([1000.])
"""
from ..autograd import Function, Tensor, as_tensor, is_grad_enabled
from .math import cast, exp, sigmoid, where
from .nn import log_softmax, softmax
from .reduction import sum as _sum
from .shape import expand_dims

__all__ = ["softmax_cross_entropy_with_logits", "sparse_softmax_cross_entropy_with_logits",
           "sigmoid_cross_entropy_with_logits", "squeeze_or_expand_to_same_rank",
           "reduce_weighted_values", "standardize_reduction", "REDUCTIONS"]

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def _log_softmax_array(xp, z, axis):
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def _softmax_parts(xp, z, axis):
    """``(shifted, p, log_total)``: ``z - max``, ``softmax(z)`` and
    ``log(sum(exp(shifted)))`` (so ``log_softmax = shifted - log_total``), in three passes
    over ``z``."""
    shifted = z - z.max(axis=axis, keepdims=True)
    p = xp.exp(shifted)
    total = p.sum(axis=axis, keepdims=True)
    p /= total
    return shifted, p, xp.log(total)


class SoftmaxCrossEntropy(Function):
    """Inputs ``(logits, labels)`` of one shape; output: that shape without ``axis``.

    ``loss = sum(t) * log_total - sum(t * shifted)``, which is ``-sum(t * log_softmax(z))``
    with both terms non-negative for ``t >= 0``.
    """

    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, z, t):
        shifted, p, log_total = _softmax_parts(self.xp, z, self.axis)
        self.save_for_backward(p)
        loss = t.sum(axis=self.axis, keepdims=True) * log_total - \
            (t * shifted).sum(axis=self.axis, keepdims=True)
        return loss.squeeze(self.axis)

    def backward(self, gy):
        z, t = self.inputs
        if is_grad_enabled():  # create_graph: the same formulas with differentiable ops
            g = expand_dims(gy, self.axis)
            logp = log_softmax(z, self.axis)
            gz = g * (exp(logp) * _sum(t, self.axis, keepdims=True) - t) \
                if self.needs_input_grad[0] else None
            return gz, (-(g * logp) if self.needs_input_grad[1] else None)
        xp, (p,) = self.xp, self._saved
        g = xp.expand_dims(gy.data, self.axis)
        gz = gt = None
        if self.needs_input_grad[0]:
            gz = p * (g * t.data.sum(axis=self.axis, keepdims=True))
            gz -= g * t.data
            gz = Tensor._wrap(gz)
        if self.needs_input_grad[1]:
            gt = Tensor._wrap(-g * _log_softmax_array(xp, z.data, self.axis))
        return gz, gt


class SparseSoftmaxCrossEntropy(Function):
    """Input ``logits``; ``labels`` (integer array, the logits' shape without ``axis``)
    is a constant parameter. ``loss = log_total - shifted[label]``."""

    def __init__(self, labels, axis=-1):
        self.labels, self.axis = labels, axis

    def forward(self, z):
        xp = self.xp
        shifted, p, log_total = _softmax_parts(xp, z, self.axis)
        self.save_for_backward(p)
        self.index = xp.expand_dims(self.labels, self.axis)
        picked = xp.take_along_axis(shifted, self.index, axis=self.axis)
        return (log_total - picked).squeeze(self.axis)

    def _at_label(self, z):
        """Bool array of ``z``'s shape, True at each sample's label along ``axis``."""
        xp, axis = self.xp, self.axis % z.ndim
        classes = xp.arange(z.shape[axis]).reshape((-1,) + (1,) * (z.ndim - axis - 1))
        return classes == self.index

    def _onehot(self, z):
        return Tensor._wrap(self._at_label(z).astype(z.dtype))

    def backward(self, gy):
        (z,) = self.inputs
        if is_grad_enabled():  # create_graph: softmax(z) - onehot with differentiable ops
            return expand_dims(gy, self.axis) * (softmax(z, self.axis) - self._onehot(z))
        xp, (p,) = self.xp, self._saved
        g = xp.expand_dims(gy.data, self.axis)
        gz = p * g  # then subtract g at each label: g * (p - onehot)
        # a mask rather than put_along_axis, which CuPy only has from version 14
        return Tensor._wrap(xp.where(self._at_label(p), gz - g, gz))


class SigmoidCrossEntropy(Function):
    """Inputs ``(logits, labels)`` of one shape; output: the elementwise loss."""

    def forward(self, x, t):
        xp = self.xp
        return xp.maximum(x, 0) - x * t + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, gy):
        x, t = self.inputs
        gx = gy * (sigmoid(x) - t) if self.needs_input_grad[0] else None
        gt = -(gy * x) if self.needs_input_grad[1] else None
        return gx, gt


def _pair(labels, logits):
    logits = as_tensor(logits)
    labels = as_tensor(labels, logits)
    if labels.shape != logits.shape:
        raise ValueError(f"labels of shape {labels.shape} and logits of shape "
                         f"{logits.shape} must have the same shape")
    if labels.dtype != logits.dtype:
        labels = labels.astype(logits.dtype)
    return labels, logits


def softmax_cross_entropy_with_logits(labels, logits, axis: int = -1) -> Tensor:
    """``-sum(labels * log_softmax(logits), axis)``, stable for any logits.

    Args:
        labels: class probabilities (e.g. one-hot), the shape of ``logits``.
        logits: unnormalized scores.
        axis: the class axis.

    Returns:
        Tensor of ``logits.shape`` without ``axis``.
    """
    labels, logits = _pair(labels, logits)
    return SoftmaxCrossEntropy(axis)(logits, labels)


def sparse_softmax_cross_entropy_with_logits(labels, logits, axis: int = -1) -> Tensor:
    """``-log_softmax(logits, axis)[label]``, stable for any logits.

    Args:
        labels: integer class indices in ``[0, num_classes)``, of ``logits.shape``
            without ``axis`` (array or Tensor; no gradient).
        logits: unnormalized scores.
        axis: the class axis.

    Returns:
        Tensor of the labels' shape.
    """
    logits = as_tensor(logits)
    labels = labels.data if isinstance(labels, Tensor) else labels
    labels = logits.backend.asarray(labels)
    expected = logits.shape[:axis % logits.ndim] + logits.shape[axis % logits.ndim + 1:]
    if labels.shape != expected:
        raise ValueError(f"labels of shape {labels.shape} do not fit logits of shape "
                         f"{logits.shape}: expected {expected} (the logits' shape without "
                         f"axis {axis})")
    return SparseSoftmaxCrossEntropy(labels.astype("int64", copy=False), axis)(logits)


def sigmoid_cross_entropy_with_logits(labels, logits) -> Tensor:
    """Elementwise ``-(t log sigmoid(x) + (1 - t) log(1 - sigmoid(x)))``, computed as
    ``max(x, 0) - x t + log(1 + exp(-|x|))`` (stable for any ``x``)."""
    labels, logits = _pair(labels, logits)
    return SigmoidCrossEntropy()(logits, labels)


# -- weighting and reduction (Keras's rules) ---------------------------------------------
def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1: bool = True) -> tuple:
    """Keras's rule: when the ranks differ by one and the longer has a trailing axis of
    size 1, squeeze it (or, when the shorter is rank 1, expand the shorter). Works on
    Tensors and arrays alike."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1 and expand_rank_1:
            x2 = x2.reshape(x2.shape + (1,))
        else:
            x1 = x1.reshape(x1.shape[:-1])
    elif x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1 and expand_rank_1:
            x1 = x1.reshape(x1.shape + (1,))
        else:
            x2 = x2.reshape(x2.shape[:-1])
    return x1, x2


def _broadcast_shape(a, b):
    shape = []
    for i in range(1, max(len(a), len(b)) + 1):
        m = a[-i] if i <= len(a) else 1
        n = b[-i] if i <= len(b) else 1
        if m != n and 1 not in (m, n):
            return None
        shape.append(max(m, n) if 0 not in (m, n) else 0)
    return tuple(reversed(shape))


def reduce_weighted_values(values, sample_weight=None, mask=None,
                           reduction: str | None = "sum_over_batch_size") -> Tensor:
    """Weight per-sample ``values`` and reduce them as Keras does.

    ``mask`` (a bool array of ``values``' shape) zeroes entries; under
    ``"sum_over_batch_size"``/``"mean"`` the result is then the sum over the valid count.
    """
    if mask is not None:
        xp = values.xp
        weights = mask.astype(values.dtype)
        if reduction in ("mean", "sum_over_batch_size"):
            valid = weights.sum()
            weights = weights * (weights.size / xp.maximum(valid, 1))
        if sample_weight is None:
            sample_weight = Tensor._wrap(weights)
        else:
            sample_weight = _weights_tensor(sample_weight, values)
            w, sample_weight = squeeze_or_expand_to_same_rank(Tensor._wrap(weights),
                                                              sample_weight)
            sample_weight = sample_weight * w
    if sample_weight is not None:
        sample_weight = _weights_tensor(sample_weight, values)
        original = values.shape
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        if _broadcast_shape(values.shape, sample_weight.shape) != values.shape:
            raise ValueError(f"sample_weight of shape {sample_weight.shape} does not fit "
                             f"the per-sample losses of shape {original}")
        values = values * sample_weight
    if reduction in (None, "none") or values.shape in ((), (0,)):
        return values
    total = _sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = _sum(sample_weight.detach())
        zero = divisor.data == 0
        return total / where(zero, Tensor._wrap(values.xp.ones((), values.dtype)), divisor)
    return total * (1.0 / values.size)


def _weights_tensor(sample_weight, values):
    if isinstance(sample_weight, Tensor):
        if sample_weight.backend != values.backend:
            raise ValueError(f"sample_weight lives on {sample_weight.backend.name} but "
                             f"y_pred on {values.backend.name}")
        return sample_weight if sample_weight.dtype == values.dtype else \
            cast(sample_weight, values.dtype)
    return Tensor._wrap(values.backend.asarray(sample_weight, dtype=values.dtype))


def standardize_reduction(reduction: str | None) -> str | None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction={reduction!r} is not one of {REDUCTIONS}")
    return reduction
