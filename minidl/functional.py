"""Functional ops: Tensors in, Tensor out (kernels in Keras layout).

>>> import minidl as mdl
>>> F = mdl.functional
>>> F.softmax(mdl.tensor([0.0, 0.0])).numpy()
array([0.5, 0.5], dtype=float32)
"""
from .ops.math import (add, sub, mul, div, power, neg, exp, log, sqrt, abs, tanh, sigmoid,
                       relu, maximum, minimum, clip, where, matmul, cast, square)
from .ops.reduction import sum, mean, max, min, var, logsumexp, sum_to, broadcast_to
from .ops.shape import (reshape, transpose, swapaxes, getitem, concatenate, stack, pad,
                        expand_dims, squeeze, flatten)
from .ops.nn import softmax, log_softmax
