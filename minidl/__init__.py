"""minidl: a small, exact, fast deep-learning framework on NumPy and CuPy.

``import minidl`` makes every submodule available (``minidl.layers``, ``minidl.models``,
``minidl.functional``, ...).
"""
import os

# OpenBLAS's threads spin for ~0.1 s after each call and take the cores from minidl's own
# threads (compiled kernels, the NumPy path's pool): 1.6x slower training measured on 2
# cores. OpenBLAS reads this when NumPy loads, so it helps when minidl is imported first.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from . import (  # noqa: E402
    activations,
    applications,
    callbacks,
    config,
    constraints,
    data,
    datasets,
    distribution,
    functional,
    gradcheck,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    random,
    regularizers,
    saving,
)
from .autograd import Function, Tensor, enable_grad, grad, is_grad_enabled, no_grad, tensor
from .backend import get_backend, set_backend, use_backend
from .models import Input
from .variable import Variable

__version__ = "0.1.0"

__all__ = ["Tensor", "tensor", "Function", "Variable", "Input", "no_grad", "enable_grad",
           "is_grad_enabled", "grad", "get_backend", "set_backend", "use_backend",
           "config", "random", "functional", "gradcheck", "initializers", "regularizers",
           "constraints", "activations", "layers", "optimizers", "losses", "metrics",
           "callbacks", "data", "datasets", "saving", "models", "distribution",
           "applications"]
