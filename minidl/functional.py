"""Functional ops: Tensors in, Tensor out (kernels in Keras layout).

>>> import minidl as mdl
>>> F = mdl.functional
>>> F.softmax(mdl.tensor([0.0, 0.0])).numpy()
array([0.5, 0.5], dtype=float32)
"""
from .activations import (
    celu,
    elu,
    exponential,
    gelu,
    hard_sigmoid,
    hard_silu,
    hard_swish,
    hard_tanh,
    leaky_relu,
    linear,
    log_sigmoid,
    mish,
    relu6,
    selu,
    silu,
    softplus,
    softsign,
    swish,
)
from .losses import (
    binary_crossentropy,
    categorical_crossentropy,
    huber,
    mean_absolute_error,
    mean_squared_error,
    sparse_categorical_crossentropy,
)
from .ops.activation import erf
from .ops.conv import conv1d, conv2d
from .ops.depthwise import (
    depthwise_conv1d,
    depthwise_conv2d,
    separable_conv1d,
    separable_conv2d,
)
from .ops.dropout import dropout
from .ops.math import (
    abs,
    add,
    cast,
    clip,
    div,
    exp,
    log,
    matmul,
    maximum,
    minimum,
    mul,
    neg,
    power,
    relu,
    sigmoid,
    sqrt,
    square,
    sub,
    tanh,
    where,
)
from .ops.nn import log_softmax, softmax
from .ops.normalization import batch_normalization, batch_normalization_training
from .ops.pooling import avg_pool2d, global_avg_pool, global_max_pool, max_pool2d
from .ops.reduction import broadcast_to, logsumexp, max, mean, min, sum, sum_to, var
from .ops.shape import (
    concatenate,
    expand_dims,
    flatten,
    getitem,
    pad,
    reshape,
    squeeze,
    stack,
    swapaxes,
    transpose,
)
