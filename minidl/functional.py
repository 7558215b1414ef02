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
from .ops.depthwise import (depthwise_conv2d, separable_conv2d, depthwise_conv1d,
                            separable_conv1d)
from .ops.pooling import max_pool2d, avg_pool2d, global_avg_pool, global_max_pool
from .ops.normalization import batch_normalization, batch_normalization_training
from .ops.dropout import dropout
from .ops.conv import conv2d, conv1d
from .activations import (relu6, leaky_relu, elu, selu, celu, hard_sigmoid, hard_silu,
                          hard_swish, hard_tanh, softplus, log_sigmoid, softsign, silu,
                          swish, gelu, mish, exponential, linear)
from .ops.activation import erf
from .losses import (mean_squared_error, mean_absolute_error, huber,
                     categorical_crossentropy, sparse_categorical_crossentropy,
                     binary_crossentropy)
