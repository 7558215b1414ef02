"""Activation ops whose composition from basic ops would be slow or unstable.

Each forward works on backend arrays through ``self.xp``; each backward is written with
minidl ops on Tensors, so it can be differentiated again:

- ``erf(x)``: d/dx = 2/sqrt(pi) exp(-x^2). The forward calls ``scipy.special.erf`` on NumPy
  and ``cupyx.scipy.special.erf`` on CuPy, chosen in ``special_functions`` (the one place).
- ``leaky_relu(x, negative_slope)``: x for x > 0 else slope * x.
- ``elu(x, alpha)``: x for x > 0 else alpha (exp(x) - 1); d/dx = alpha exp(x) there.
- ``softplus(x)``: log(1 + exp(x)) as max(x, 0) + log1p(exp(-|x|)); d/dx = sigmoid(x).
- ``silu(x)``: x sigmoid(x); d/dx = s (1 + x (1 - s)).
- ``gelu(x, approximate)``: x Phi(x) with Phi(x) = (1 + erf(x / sqrt 2)) / 2, d/dx =
  Phi(x) + x phi(x); the tanh form 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3).

>>> import minidl as mdl
>>> from minidl.ops.activation import softplus
>>> softplus(mdl.tensor([-1000.0, 1000.0])).numpy()   # no overflow
array([   0., 1000.], dtype=float32)
"""
import math

from ..autograd import Function, Tensor
from . import math as M

__all__ = ["erf", "leaky_relu", "elu", "softplus", "silu", "gelu", "special_functions"]

_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def special_functions(xp):
    """``scipy.special`` for NumPy arrays, ``cupyx.scipy.special`` for CuPy arrays."""
    if xp.__name__ == "cupy":
        import cupyx.scipy.special
        return cupyx.scipy.special
    import scipy.special
    return scipy.special


def _mask(condition, dtype):
    return Tensor._wrap(condition.astype(dtype))


class Erf(Function):
    def forward(self, x):
        return special_functions(self.xp).erf(x).astype(x.dtype, copy=False)

    def backward(self, gy):
        (x,) = self.inputs
        return gy * (_TWO_OVER_SQRT_PI * M.exp(-(x * x)))


class LeakyRelu(Function):
    def __init__(self, negative_slope=0.2):
        self.negative_slope = negative_slope

    def forward(self, x):
        return self.xp.where(x > 0, x, x * x.dtype.type(self.negative_slope))

    def backward(self, gy):
        x = self.inputs[0].data
        slope = self.xp.where(x > 0, x.dtype.type(1), x.dtype.type(self.negative_slope))
        return gy * Tensor._wrap(slope)


class Elu(Function):
    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def forward(self, x):
        xp = self.xp
        negative = x.dtype.type(self.alpha) * xp.expm1(xp.minimum(x, 0))
        return xp.where(x > 0, x, negative)

    def backward(self, gy):
        (x,) = self.inputs
        positive = x.data > 0
        slope = self.alpha * M.exp(M.minimum(x, 0.0)) * _mask(~positive, x.dtype)
        return gy * (slope + _mask(positive, x.dtype))


class Softplus(Function):
    def forward(self, x):
        xp = self.xp
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, gy):
        return gy * M.sigmoid(self.inputs[0])


class Silu(Function):
    def forward(self, x):
        half = x.dtype.type(0.5)
        return x * (self.xp.tanh(x * half) * half + half)

    def backward(self, gy):
        (x,) = self.inputs
        s = M.sigmoid(x)
        return gy * (s * (1.0 + x * (1.0 - s)))


class Gelu(Function):
    def __init__(self, approximate=False):
        self.approximate = approximate

    def forward(self, x):
        xp, t = self.xp, x.dtype.type
        if self.approximate:
            u = t(_SQRT_2_OVER_PI) * (x + t(0.044715) * x ** 3)
            return t(0.5) * x * (t(1) + xp.tanh(u))
        cdf = t(0.5) * (t(1) + special_functions(xp).erf(x / t(_SQRT_2)).astype(x.dtype))
        return x * cdf

    def backward(self, gy):
        (x,) = self.inputs
        if self.approximate:
            th = M.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))
            du = _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x * x)
            return gy * (0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * du)
        cdf = 0.5 * (1.0 + erf(x * (1.0 / _SQRT_2)))
        pdf = _INV_SQRT_2PI * M.exp(-0.5 * (x * x))
        return gy * (cdf + x * pdf)


def erf(x) -> Tensor:
    """The error function, elementwise."""
    return Erf()(x)


def leaky_relu(x, negative_slope: float = 0.2) -> Tensor:
    return LeakyRelu(negative_slope)(x)


def elu(x, alpha: float = 1.0) -> Tensor:
    return Elu(alpha)(x)


def softplus(x) -> Tensor:
    return Softplus()(x)


def silu(x) -> Tensor:
    return Silu()(x)


def gelu(x, approximate: bool = False) -> Tensor:
    return Gelu(bool(approximate))(x)
