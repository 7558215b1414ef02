"""minidl's differentiable ops: each a ``Function`` (forward on arrays, backward on
Tensors) plus a lowercase function that applies it.

The ops build on ``minidl.autograd``; importing this package hands ``math``, ``reduction``
and ``shape`` to it (``autograd.bind_ops``) for Tensor's operators and methods, so that
imports point one way, from the ops to the tape. It also sets glibc's ``malloc`` up for
a training loop's large temporaries (``minidl.kernels.memory``; ``MINIDL_MALLOC_TUNING=0``
keeps the defaults).
"""
from .. import autograd
from ..kernels import memory
from . import math, reduction, shape

autograd.bind_ops(math, reduction, shape)
memory.tune()
