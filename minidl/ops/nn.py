"""Softmax and log-softmax, stable at any magnitude."""
from ..autograd import Function, Tensor
from .math import exp
from .reduction import sum

__all__ = ["softmax", "log_softmax"]


class Softmax(Function):
    """y = exp(x - max) / sum(exp(x - max)); dx = y * (gy - sum(gy * y))."""

    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        e = self.xp.exp(x - x.max(axis=self.axis, keepdims=True))
        return e / e.sum(axis=self.axis, keepdims=True)

    def backward(self, gy):
        y = self.outputs[0]
        gyy = gy * y
        return gyy - y * sum(gyy, self.axis, keepdims=True)


class LogSoftmax(Function):
    """y = x - logsumexp(x); dx = gy - exp(y) * sum(gy)."""

    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        xp = self.xp
        shifted = x - x.max(axis=self.axis, keepdims=True)
        return shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))

    def backward(self, gy):
        y = self.outputs[0]
        return gy - exp(y) * sum(gy, self.axis, keepdims=True)


def softmax(x, axis: int = -1) -> Tensor:
    return Softmax(axis)(x)


def log_softmax(x, axis: int = -1) -> Tensor:
    return LogSoftmax(axis)(x)
