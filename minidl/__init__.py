"""minidl: a small, exact, fast deep-learning framework on NumPy and CuPy.

``import minidl`` makes every submodule available (``minidl.layers``, ``minidl.models``,
``minidl.functional``, ...).
"""
import os

# OpenBLAS's threads spin for ~0.1 s after each call and take the cores from minidl's own
# threads (compiled kernels, the NumPy path's pool): 1.6x slower training measured on 2
# cores. OpenBLAS reads this when NumPy loads, so it helps when minidl is imported first.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from . import config, random  # noqa: E402
from .backend import get_backend, set_backend, use_backend
from .autograd import (Tensor, tensor, Function, no_grad, enable_grad, is_grad_enabled,
                       grad)
from .variable import Variable
from . import functional, gradcheck
from . import (initializers, regularizers, constraints, activations, layers, optimizers,
               losses, metrics, callbacks, data, datasets, saving, models, distribution)
from .models import Input
from . import applications

__version__ = "0.1.0"

__all__ = ["Tensor", "tensor", "Function", "Variable", "Input", "no_grad", "enable_grad",
           "is_grad_enabled", "grad", "get_backend", "set_backend", "use_backend",
           "config", "random", "functional", "gradcheck", "initializers", "regularizers",
           "constraints", "activations", "layers", "optimizers", "losses", "metrics",
           "callbacks", "data", "datasets", "saving", "models", "distribution",
           "applications"]
