"""minidl: a small, exact, fast deep-learning framework on NumPy and CuPy."""
from . import config, random
from .backend import get_backend, set_backend, use_backend
from .autograd import (Tensor, tensor, Function, no_grad, enable_grad, is_grad_enabled,
                       grad)
from . import functional, gradcheck

__version__ = "0.1.0"

__all__ = ["Tensor", "tensor", "Function", "no_grad", "enable_grad", "is_grad_enabled",
           "grad", "get_backend", "set_backend", "use_backend", "config", "random",
           "functional", "gradcheck"]
