"""Grouped convolution (``groups=g``): conv2d / conv1d against an explicit-loop reference
and against a dense convolution with a block-diagonal kernel, float64 gradients against
finite differences, both backward routes, the Conv2D / Conv1D layers through the shared
harness (Keras's kernel shape and channel order), and errors."""
import itertools
import math

import numpy as np
import pytest

import minidl as mdl
from minidl import layers
from minidl.gradcheck import check_double_grad, check_grad
from minidl.testing import layer_test

F = mdl.functional


def loop_grouped_conv(x, w, b, groups, strides, padding, dilation, data_format):
    """Explicit loops over batch, output pixels, filters, taps and the group's channels."""
    rank = w.ndim - 2
    if data_format == "channels_first":
        x = np.moveaxis(x, 1, -1)
    pads, outs = [], []
    for n, k, s, d in zip(x.shape[1:-1], w.shape[:rank], strides, dilation):
        out = math.ceil(n / s) if padding == "same" else (n - (k - 1) * d - 1) // s + 1
        total = max((out - 1) * s + (k - 1) * d + 1 - n, 0) if padding == "same" else 0
        pads.append((total // 2, total - total // 2))
        outs.append(out)
    xpad = np.pad(x, [(0, 0)] + pads + [(0, 0)])
    per_group_in, filters = w.shape[-2], w.shape[-1]
    per_group_out = filters // groups
    y = np.zeros((x.shape[0], *outs, filters))
    positions = itertools.product(*map(range, outs))
    for n, o, f in itertools.product(range(x.shape[0]), positions, range(filters)):
        first = (f // per_group_out) * per_group_in
        total = 0.0 if b is None else b[f]
        for t in itertools.product(*map(range, w.shape[:rank])):
            pos = tuple(oi * s + ti * d for oi, ti, s, d in zip(o, t, strides, dilation))
            for c in range(per_group_in):
                total += xpad[(n, *pos, first + c)] * w[(*t, c, f)]
        y[(n, *o, f)] = total
    if data_format == "channels_first":
        y = np.moveaxis(y, -1, 1)
    return y


def block_diagonal(w, groups):
    """The dense ``(*k, C, F)`` kernel equal to a grouped one (zero across groups)."""
    per_group_in, filters = w.shape[-2], w.shape[-1]
    per_group_out = filters // groups
    dense = np.zeros(w.shape[:-2] + (per_group_in * groups, filters))
    for g in range(groups):
        rows = slice(g * per_group_in, (g + 1) * per_group_in)
        cols = slice(g * per_group_out, (g + 1) * per_group_out)
        dense[..., rows, cols] = w[..., cols]
    return dense


# (channels, filters, groups): two groups, depthwise-like (g = C), g = 1, several filters
GROUPINGS = [(4, 6, 2), (3, 3, 3), (3, 6, 3), (2, 4, 1), (6, 4, 2)]
GEOMETRY_2D = [((3, 3), (1, 1), (1, 1), "same"), ((2, 3), (2, 2), (1, 1), "same"),
               ((3, 2), (1, 1), (2, 1), "valid"), ((1, 1), (2, 1), (1, 1), "valid")]


def _case(rng, shape, kernel_size, channels, filters, groups, data_format, bias=True):
    if data_format == "channels_first":
        shape = (shape[0], channels) + shape[1:]
    else:
        shape = shape + (channels,)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((*kernel_size, channels // groups, filters))
    return x, w, (rng.standard_normal(filters) if bias else None)


@pytest.mark.parametrize("channels,filters,groups", GROUPINGS)
@pytest.mark.parametrize("kernel_size,strides,dilation,padding", GEOMETRY_2D)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv2d_forward_matches_loops(backend, rng, channels, filters, groups, kernel_size,
                                      strides, dilation, padding, data_format):
    x, w, b = _case(rng, (2, 5, 4), kernel_size, channels, filters, groups, data_format)
    kwargs = dict(strides=strides, padding=padding, dilation_rate=dilation,
                  data_format=data_format)
    y = F.conv2d(mdl.tensor(x), mdl.tensor(w), mdl.tensor(b), groups=groups, **kwargs)
    expected = loop_grouped_conv(x, w, b, groups, strides, padding, dilation, data_format)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)
    dense = F.conv2d(mdl.tensor(x), mdl.tensor(block_diagonal(w, groups)), mdl.tensor(b),
                     **kwargs)
    np.testing.assert_allclose(y.numpy(), dense.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("channels,filters,groups", GROUPINGS)
@pytest.mark.parametrize("kernel_size,strides,dilation,padding", GEOMETRY_2D[:3])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv2d_gradcheck(rng, channels, filters, groups, kernel_size, strides, dilation,
                          padding, data_format):
    x, w, b = _case(rng, (1, 5, 4), kernel_size, channels, filters, groups, data_format)

    def fn(x, w, b):
        return F.conv2d(x, w, b, strides=strides, padding=padding, dilation_rate=dilation,
                        data_format=data_format, groups=groups)

    check_grad(fn, [x, w, b], names=["x", "kernel", "bias"])


@pytest.mark.parametrize("channels,filters,groups", GROUPINGS)
@pytest.mark.parametrize("kernel_size,strides,dilation,padding", [
    (3, 1, 1, "same"), (2, 2, 1, "same"), (3, 1, 2, "valid")])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv1d_forward_and_gradcheck(rng, channels, filters, groups, kernel_size, strides,
                                      dilation, padding, data_format):
    x, w, b = _case(rng, (2, 7), (kernel_size,), channels, filters, groups, data_format)

    def fn(x, w, b):
        return F.conv1d(x, w, b, strides=strides, padding=padding, dilation_rate=dilation,
                        data_format=data_format, groups=groups)

    expected = loop_grouped_conv(x, w, b, groups, (strides,), padding, (dilation,),
                                 data_format)
    np.testing.assert_allclose(fn(*map(mdl.tensor, (x, w, b))).numpy(), expected,
                               rtol=1e-12, atol=1e-12)
    check_grad(fn, [x[:1], w, b])


def test_thin_input_with_groups_matches_loops(rng):
    # taps x channels <= filters would take the gathered-columns route without groups
    x, w, b = _case(rng, (2, 5, 5), (3, 3), 2, 18, 2, "channels_last")
    y = F.conv2d(x, w, b, padding="same", groups=2)
    expected = loop_grouped_conv(x, w, b, 2, (1, 1), "same", (1, 1), "channels_last")
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)
    check_grad(lambda x, w: F.conv2d(x, w, padding="same", groups=2), [x[:1], w])


@pytest.mark.parametrize("strides,dilation,padding", [(1, 1, "same"), (2, 1, "same"),
                                                      (1, 2, "valid")])
def test_array_backward_matches_differentiable_backward(rng, strides, dilation, padding):
    x, w, b = _case(rng, (2, 6, 5), (3, 2), 4, 6, 2, "channels_last")
    kwargs = dict(strides=strides, padding=padding, dilation_rate=dilation, groups=2)
    tensors = [mdl.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = F.conv2d(*tensors, **kwargs)
    gy = rng.standard_normal(y.shape)
    y.backward(gy)  # the array route
    taped = mdl.grad(F.conv2d(*tensors, **kwargs), tensors, [gy], create_graph=True)
    assert taped[0].requires_grad and taped[1].requires_grad  # the differentiable route
    for t, g in zip(tensors, taped):
        np.testing.assert_allclose(t.grad, g.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn,x_shape,w_shape", [
    (lambda x, w, b: F.conv2d(x, w, b, strides=2, padding="same", groups=2), (1, 4, 5, 4),
     (2, 2, 2, 4)),
    (lambda x, w, b: F.conv1d(x, w, b, data_format="channels_first", groups=2), (1, 4, 5),
     (2, 2, 4)),
])
def test_double_backward(rng, fn, x_shape, w_shape):
    check_double_grad(fn, [rng.standard_normal(x_shape), rng.standard_normal(w_shape),
                           rng.standard_normal(4)])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_preserved(rng, dtype):
    x = mdl.tensor(rng.standard_normal((1, 5, 5, 4)).astype(dtype), requires_grad=True)
    w = mdl.tensor(rng.standard_normal((3, 3, 2, 6)).astype(dtype), requires_grad=True)
    y = F.conv2d(x, w, padding="same", groups=2)
    assert y.dtype == dtype
    y.sum().backward()
    assert x.grad.dtype == w.grad.dtype == dtype


X4 = np.zeros((1, 5, 5, 4))


@pytest.mark.parametrize("call,message", [
    (lambda: F.conv2d(X4, np.zeros((3, 3, 2, 4)), groups=3), "4 channels"),
    (lambda: F.conv2d(X4, np.zeros((3, 3, 2, 3)), groups=2), "3 filters"),
    (lambda: F.conv2d(X4, np.zeros((3, 3, 4, 4)), groups=2), "expects 8 input channels"),
    (lambda: F.conv2d(X4, np.zeros((3, 3, 2, 4)), groups=0), "groups=0"),
    (lambda: F.conv2d(X4, np.zeros((3, 3, 2, 4)), groups=True), "groups=True"),
    (lambda: F.conv1d(X4[:, 0], np.zeros((3, 1, 4)), groups=2), "expects 2 input channels"),
])
def test_op_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# -- the layers ------------------------------------------------------------------------
@pytest.mark.parametrize("cls,kwargs,shape,out_shape", [
    (layers.Conv2D, dict(filters=4, kernel_size=3, groups=2, padding="same"), (2, 5, 4, 4),
     (2, 5, 4, 4)),
    (layers.Conv2D, dict(filters=6, kernel_size=2, groups=3, strides=2,
                         data_format="channels_first"), (2, 3, 5, 4), (2, 6, 2, 2)),
    (layers.Conv2D, dict(filters=3, kernel_size=(2, 3), groups=3, use_bias=False),
     (2, 4, 5, 3), (2, 3, 3, 3)),
    (layers.Conv1D, dict(filters=4, kernel_size=3, groups=2, dilation_rate=2), (2, 7, 6),
     (2, 3, 4)),
    (layers.Conv1D, dict(filters=2, kernel_size=2, groups=2, data_format="channels_first"),
     (2, 4, 5), (2, 2, 4)),
])
def test_layer_harness(cls, kwargs, shape, out_shape):
    layer_test(cls, dict(kwargs, bias_initializer="random_normal"), shape,
               expected_output_shape=out_shape,
               expected_num_trainable_weights=2 if kwargs.get("use_bias", True) else 1)


def test_layer_kernel_shape_config_and_values(rng):
    layer = layers.Conv2D(6, (3, 2), groups=3, padding="same", dtype="float64")
    x = rng.standard_normal((2, 4, 5, 9))
    y = layer(x)
    assert [w.shape for w in layer.weights] == [(3, 2, 3, 6), (6,)]
    assert layer.get_config()["groups"] == 3
    kernel, bias = layer.get_weights()
    expected = loop_grouped_conv(x, kernel, bias, 3, (1, 1), "same", (1, 1),
                                 "channels_last")
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert layers.Conv1D(4, 3, groups=4).get_config()["groups"] == 4


@pytest.mark.parametrize("make,message", [
    (lambda: layers.Conv2D(3, 3, groups=2), "filters=3 must be divisible by groups=2"),
    (lambda: layers.Conv2D(4, 3, groups=0), "groups=0"),
    (lambda: layers.Conv2D(4, 3, groups=-2), "groups=-2"),
    (lambda: layers.Conv2D(4, 3, groups=2.0), "groups=2.0"),
    (lambda: layers.Conv1D(4, 3, groups=True), "groups=True"),
])
def test_layer_argument_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("layer,shape", [
    (layers.Conv2D(4, 3, groups=2), (1, 5, 5, 3)),
    (layers.Conv2D(4, 3, groups=4, data_format="channels_first"), (1, 6, 5, 5)),
    (layers.Conv1D(6, 3, groups=3), (1, 5, 4)),
])
def test_input_channels_not_divisible_by_groups(layer, shape):
    with pytest.raises(ValueError, match="must be divisible by groups"):
        layer.build(shape)
