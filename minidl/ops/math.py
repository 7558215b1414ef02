"""Elementwise arithmetic, unary functions, selection and matmul.

Binary ops broadcast like NumPy; their backward reduces each gradient to its input's shape
with ``sum_to``. Every backward is written with these same ops, so it can be taped again
(``create_graph=True``) for second derivatives.
"""
from .. import config
from ..autograd import Function, Tensor, as_tensor, is_grad_enabled
from .reduction import sum_to
from .shape import transpose

__all__ = ["add", "sub", "mul", "div", "power", "neg", "exp", "log", "sqrt", "abs", "tanh",
           "sigmoid", "relu", "maximum", "minimum", "clip", "where", "matmul", "cast",
           "square"]


def _const(array):
    return Tensor._wrap(array)


class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        a, b = self.inputs
        return sum_to(gy, a.shape), sum_to(gy, b.shape)


class Sub(Function):
    def forward(self, a, b):
        return a - b

    def backward(self, gy):
        a, b = self.inputs
        return sum_to(gy, a.shape), sum_to(-gy, b.shape)


class Mul(Function):
    def forward(self, a, b):
        return a * b

    def backward(self, gy):
        a, b = self.inputs
        need = self.needs_input_grad
        if a.shape == b.shape == gy.shape and not is_grad_enabled():  # arrays, no tape
            g = gy.data
            return (Tensor._wrap(g * b.data) if need[0] else None,
                    Tensor._wrap(g * a.data) if need[1] else None)
        ga = sum_to(gy * b, a.shape) if need[0] else None
        gb = sum_to(gy * a, b.shape) if need[1] else None
        return ga, gb


class Div(Function):
    def forward(self, a, b):
        return a / b

    def backward(self, gy):
        a, b = self.inputs
        ga = sum_to(gy / b, a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(-gy * a / (b * b), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class PowScalar(Function):
    """``x ** c`` for a constant exponent: d/dx = c * x ** (c - 1)."""

    def __init__(self, exponent):
        self.exponent = exponent

    def forward(self, x):
        if x.dtype.kind == "f":
            return x ** x.dtype.type(self.exponent)
        return x ** self.exponent

    def backward(self, gy):
        (x,) = self.inputs
        c = self.exponent
        if c == 0:  # d/dx x**0 = 0, also at x = 0
            return gy * 0.0
        return gy * (c * x ** (c - 1)) if c != 2 else gy * (2 * x)


class Power(Function):
    """``a ** b``: d/da = b a^(b-1), d/db = a^b log a."""

    def forward(self, a, b):
        return a ** b

    def backward(self, gy):
        a, b = self.inputs
        (y,) = self.outputs
        ga = sum_to(gy * b * a ** (b - 1), a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(gy * y * log(a), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Exp(Function):
    def forward(self, x):
        return self.xp.exp(x)

    def backward(self, gy):
        return gy * self.outputs[0]


class Log(Function):
    def forward(self, x):
        return self.xp.log(x)

    def backward(self, gy):
        return gy / self.inputs[0]


class Sqrt(Function):
    def forward(self, x):
        return self.xp.sqrt(x)

    def backward(self, gy):
        return gy / (2 * self.outputs[0])


class Abs(Function):
    def forward(self, x):
        return self.xp.abs(x)

    def backward(self, gy):
        x = self.inputs[0]
        return gy * _const(x.xp.sign(x.data))


class Tanh(Function):
    def forward(self, x):
        return self.xp.tanh(x)

    def backward(self, gy):
        y = self.outputs[0]
        return gy * (1 - y * y)


class Sigmoid(Function):
    """1 / (1 + exp(-x)), computed as 0.5 tanh(x / 2) + 0.5 (no overflow)."""

    def forward(self, x):
        return self.xp.tanh(x * 0.5) * 0.5 + 0.5

    def backward(self, gy):
        y = self.outputs[0]
        return gy * y * (1 - y)


class Relu(Function):
    def forward(self, x):
        return self.xp.maximum(x, 0)

    def backward(self, gy):
        x = self.inputs[0]
        if not is_grad_enabled():  # one pass, the mask read as 0/1 by the multiply
            return Tensor._wrap(self.xp.multiply(gy.data, x.data > 0, dtype=gy.dtype))
        return gy * _const((x.data > 0).astype(x.dtype))


class Where(Function):
    """``where(condition, a, b)``; the condition is a constant bool array."""

    def __init__(self, condition):
        self.condition = condition

    def forward(self, a, b):
        return self.xp.where(self.condition, a, b)

    def backward(self, gy):
        a, b = self.inputs
        zero = _const(gy.xp.zeros((), gy.dtype))
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = sum_to(where(self.condition, gy, zero), a.shape)
        if self.needs_input_grad[1]:
            gb = sum_to(where(self.condition, zero, gy), b.shape)
        return ga, gb


class Clip(Function):
    """``clip(x, lo, hi)``; dx = gy where x is inside the bounds, else 0."""

    def __init__(self, a_min, a_max, strict=False):
        self.a_min, self.a_max, self.strict = a_min, a_max, strict

    def forward(self, x):
        y = self.xp.clip(x, self.a_min, self.a_max)
        return y.astype(x.dtype, copy=False)

    def backward(self, gy):
        x, xp = self.inputs[0].data, self.xp
        compiled = _compiled_clip(xp, x, gy.data)
        scalars = all(b is None or xp.ndim(b) == 0 for b in (self.a_min, self.a_max))
        if compiled is not None and scalars and not is_grad_enabled():
            return Tensor._wrap(compiled.clip_grad(x, gy.data, self.a_min, self.a_max,
                                                   self.strict, config.num_threads()))
        inside = None
        if self.a_min is not None:
            inside = (x > self.a_min) if self.strict else (x >= self.a_min)
        if self.a_max is not None:
            below = (x < self.a_max) if self.strict else (x <= self.a_max)
            inside = below if inside is None else xp.logical_and(inside, below, out=inside)
        if inside is None:
            return gy
        if not is_grad_enabled():  # one pass, the mask read as 0/1 by the multiply
            return Tensor._wrap(xp.multiply(gy.data, inside, dtype=gy.dtype))
        return gy * _const(inside.astype(gy.dtype))


def _compiled_clip(xp, x, g):
    """``minidl.kernels.elementwise`` when the compiled CPU kernels are chosen and fit
    (NumPy, float32/float64, contiguous, at least ``_MIN_COMPILED`` elements), else None."""
    if (xp.__name__ != "numpy" or x.size < _MIN_COMPILED or x.dtype.char not in "fd" or
            g.dtype != x.dtype or not (x.flags.c_contiguous and g.flags.c_contiguous) or
            config.cpu_kernels() != "numba"):
        return None
    from ..kernels import elementwise
    return elementwise


_MIN_COMPILED = 1 << 14  # elements; smaller arrays take the NumPy code


class MatMul(Function):
    """Batched ``a @ b`` with NumPy's rules (1-D operands are promoted and squeezed)."""

    def forward(self, a, b):
        return a @ b

    def backward(self, gy):
        a, b = self.inputs
        a2 = a if a.ndim > 1 else a.reshape(1, -1)
        b2 = b if b.ndim > 1 else b.reshape(-1, 1)
        out_shape = gy.shape + (1,) if b.ndim == 1 else gy.shape
        if a.ndim == 1:
            out_shape = out_shape[:-1] + (1, out_shape[-1])
        gy2 = gy.reshape(out_shape)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = sum_to(matmul(gy2, _swap(b2)), a2.shape).reshape(a.shape)
        if self.needs_input_grad[1]:
            gb = sum_to(matmul(_swap(a2), gy2), b2.shape).reshape(b.shape)
        return ga, gb


def _swap(x):
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return transpose(x, axes)


class Cast(Function):
    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        return x.astype(self.dtype)

    def backward(self, gy):
        return cast(gy, self.inputs[0].dtype)


def add(a, b) -> Tensor:
    return Add()(a, b)


def sub(a, b) -> Tensor:
    return Sub()(a, b)


def mul(a, b) -> Tensor:
    return Mul()(a, b)


def div(a, b) -> Tensor:
    return Div()(a, b)


def neg(x) -> Tensor:
    return Neg()(x)


def power(a, b) -> Tensor:
    """``a ** b``; a Python-number exponent is a constant (no gradient, dtype kept)."""
    if isinstance(b, (int, float)) and not isinstance(b, bool) and isinstance(a, Tensor):
        return PowScalar(b)(a)
    return Power()(a, b)


def square(x) -> Tensor:
    return PowScalar(2)(x)


def exp(x) -> Tensor:
    return Exp()(x)


def log(x) -> Tensor:
    return Log()(x)


def sqrt(x) -> Tensor:
    return Sqrt()(x)


def abs(x) -> Tensor:  # noqa: A001 - NumPy's name
    return Abs()(x)


def tanh(x) -> Tensor:
    return Tanh()(x)


def sigmoid(x) -> Tensor:
    return Sigmoid()(x)


def relu(x) -> Tensor:
    return Relu()(x)


def where(condition, a, b) -> Tensor:
    """Elementwise ``a`` where ``condition`` else ``b`` (``condition``: a bool array or
    Tensor)."""
    if isinstance(condition, Tensor):
        condition = condition.data
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else None
    a, b = as_tensor(a, like), as_tensor(b, like)
    return Where(condition)(a, b)


def maximum(a, b) -> Tensor:
    """Elementwise maximum; at ties the gradient goes to ``a``."""
    like = a if isinstance(a, Tensor) else b
    a, b = as_tensor(a, like), as_tensor(b, like)
    return where(a.data >= b.data, a, b)


def minimum(a, b) -> Tensor:
    """Elementwise minimum; at ties the gradient goes to ``a``."""
    like = a if isinstance(a, Tensor) else b
    a, b = as_tensor(a, like), as_tensor(b, like)
    return where(a.data <= b.data, a, b)


def clip(x, a_min=None, a_max=None, strict: bool = False) -> Tensor:
    """Clip to ``[a_min, a_max]`` (constants; None for no bound). The gradient passes where
    ``a_min <= x <= a_max``, or strictly inside with ``strict=True`` (ReLU6's rule)."""
    x = as_tensor(x)
    bound = lambda v: v.data if isinstance(v, Tensor) else v  # noqa: E731
    return Clip(bound(a_min), bound(a_max), strict)(x)


def matmul(a, b) -> Tensor:
    return MatMul()(a, b)


def cast(x, dtype) -> Tensor:
    """``x`` as ``dtype``; the gradient is cast back to ``x``'s dtype."""
    x = as_tensor(x)
    if x.dtype == dtype:
        return x
    return Cast(dtype)(x)
