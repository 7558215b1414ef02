"""minidl's differentiable ops: each a ``Function`` (forward on arrays, backward on
Tensors) plus a lowercase function that applies it."""
from .. import autograd
from . import math, reduction, shape

autograd.bind_ops(math, reduction, shape)
