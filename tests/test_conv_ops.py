"""conv2d / conv1d: forward against an explicit-loop reference, gradients against finite
differences, the array backward against the differentiable one, and bad input."""
import itertools
import math

import numpy as np
import pytest

import minidl as mdl
from minidl.gradcheck import check_double_grad, check_grad

F = mdl.functional


def reference_conv(x, w, b, strides, padding, dilation, data_format):
    """Explicit loops over batch, output pixels and kernel taps (channels_last inside)."""
    rank = w.ndim - 2
    if data_format == "channels_first":
        x = np.moveaxis(x, 1, -1)
    pads, outs = [], []
    for n, k, s, d in zip(x.shape[1:-1], w.shape[:rank], strides, dilation):
        if padding == "same":
            out = math.ceil(n / s)
            total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
            pads.append((total // 2, total - total // 2))
        else:
            out = (n - (k - 1) * d - 1) // s + 1
            pads.append((0, 0))
        outs.append(out)
    xpad = np.pad(x, [(0, 0)] + pads + [(0, 0)])
    y = np.zeros((x.shape[0], *outs, w.shape[-1]))
    for n in range(x.shape[0]):
        for o in itertools.product(*map(range, outs)):
            for t in itertools.product(*map(range, w.shape[:rank])):
                pos = tuple(oi * s + ti * d
                            for oi, ti, s, d in zip(o, t, strides, dilation))
                y[(n, *o)] += xpad[(n, *pos)] @ w[t]
    if b is not None:
        y += b
    if data_format == "channels_first":
        y = np.moveaxis(y, -1, 1)
    return y


# (kernel_size, strides, dilation_rate): 1/2/3 kernels, stride 1/2, dilation 1/2
GRID_2D = [((1, 1), (1, 1), (1, 1)), ((2, 2), (2, 2), (1, 1)), ((3, 3), (1, 1), (2, 2)),
           ((3, 2), (2, 1), (1, 1)), ((2, 3), (1, 1), (1, 2)), ((3, 3), (2, 2), (1, 1)),
           ((2, 2), (1, 1), (1, 1))]
SIZES_2D = [(5, 7), (6, 6)]  # odd and even


def _case_2d(rng, size, kernel_size, data_format, bias=True, channels=2, filters=3):
    shape = (2, *size, channels) if data_format == "channels_last" else (2, channels, *size)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((*kernel_size, channels, filters))
    b = rng.standard_normal(filters) if bias else None
    return x, w, b


@pytest.mark.parametrize("kernel_size,strides,dilation", GRID_2D)
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("size", SIZES_2D)
def test_conv2d_forward_matches_loops(backend, rng, kernel_size, strides, dilation,
                                      padding, data_format, size):
    x, w, b = _case_2d(rng, size, kernel_size, data_format)
    y = F.conv2d(mdl.tensor(x), mdl.tensor(w), mdl.tensor(b), strides=strides,
                 padding=padding, dilation_rate=dilation, data_format=data_format)
    expected = reference_conv(x, w, b, strides, padding, dilation, data_format)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel_size,strides,dilation", GRID_2D)
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv2d_gradcheck(rng, kernel_size, strides, dilation, padding, data_format):
    x, w, b = _case_2d(rng, (5, 6), kernel_size, data_format, filters=2)
    x = x[:1]

    def fn(x, w, b):
        return F.conv2d(x, w, b, strides=strides, padding=padding, dilation_rate=dilation,
                        data_format=data_format)

    check_grad(fn, [x, w, b], names=["x", "kernel", "bias"])


@pytest.mark.parametrize("padding,strides", [("same", 2), ("valid", 1)])
def test_conv2d_gradcheck_scipy(rng, padding, strides):
    x, w, b = _case_2d(rng, (4, 5), (3, 2), "channels_last", filters=2)
    check_grad(lambda x, w, b: F.conv2d(x, w, b, strides=strides, padding=padding),
               [x[:1], w, b], method="scipy")


@pytest.mark.parametrize("kernel_size,strides,dilation", [(1, 1, 1), (2, 2, 1), (3, 1, 2),
                                                          (3, 2, 1)])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("length", [7, 6])
def test_conv1d_forward_and_gradcheck(backend, rng, kernel_size, strides, dilation, padding,
                                      data_format, length):
    shape = (2, length, 2) if data_format == "channels_last" else (2, 2, length)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((kernel_size, 2, 3))
    b = rng.standard_normal(3)

    def fn(x, w, b):
        return F.conv1d(x, w, b, strides=strides, padding=padding, dilation_rate=dilation,
                        data_format=data_format)

    expected = reference_conv(x, w, b, (strides,), padding, (dilation,), data_format)
    y = fn(mdl.tensor(x), mdl.tensor(w), mdl.tensor(b))
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)
    if backend == "numpy":
        check_grad(fn, [x, w, b])


def test_conv2d_without_bias_and_without_input_grad(rng):
    x, w, _ = _case_2d(rng, (5, 5), (3, 3), "channels_last", bias=False)
    check_grad(lambda w: F.conv2d(x, w, padding="same"), [w])
    check_grad(lambda x: F.conv2d(x, w, strides=2), [x[:1]])
    np.testing.assert_allclose(F.conv2d(x, w).numpy(),
                               reference_conv(x, w, None, (1, 1), "valid", (1, 1),
                                              "channels_last"), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("strides,dilation,padding", [
    (1, 1, "same"), (2, 1, "same"), (1, 2, "valid"), ((2, 1), 1, "valid")])
def test_array_backward_matches_differentiable_backward(rng, strides, dilation, padding):
    x, w, b = _case_2d(rng, (6, 5), (3, 2), "channels_last")
    gy_shape = F.conv2d(x, w, b, strides=strides, padding=padding,
                        dilation_rate=dilation).shape
    gy = rng.standard_normal(gy_shape)
    tensors = [mdl.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = F.conv2d(*tensors, strides=strides, padding=padding, dilation_rate=dilation)
    y.backward(gy)  # the array route
    taped = mdl.grad(F.conv2d(*tensors, strides=strides, padding=padding,
                              dilation_rate=dilation), tensors, [gy], create_graph=True)
    assert taped[0].requires_grad and taped[1].requires_grad  # the differentiable route
    for t, g in zip(tensors, taped):
        np.testing.assert_allclose(t.grad, g.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn,x_shape", [
    (lambda x, w, b: F.conv2d(x, w, b, strides=2, padding="same"), (1, 4, 5, 2)),
    (lambda x, w, b: F.conv2d(x, w, b, dilation_rate=(1, 2), data_format="channels_first"),
     (1, 2, 4, 5)),
])
def test_conv2d_double_backward(rng, fn, x_shape):
    w = rng.standard_normal((2, 2, 2, 2))
    check_double_grad(fn, [rng.standard_normal(x_shape), w, rng.standard_normal(2)])


def test_conv1d_double_backward(rng):
    check_double_grad(lambda x, w: F.conv1d(x, w, strides=2, padding="same"),
                      [rng.standard_normal((1, 5, 2)), rng.standard_normal((3, 2, 2))])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_preserved(rng, dtype):
    x = mdl.tensor(rng.standard_normal((1, 5, 5, 2)).astype(dtype), requires_grad=True)
    w = mdl.tensor(rng.standard_normal((3, 3, 2, 3)).astype(dtype), requires_grad=True)
    b = mdl.tensor(np.zeros(3, dtype), requires_grad=True)
    y = F.conv2d(x, w, b, padding="same")
    assert y.dtype == dtype
    y.sum().backward()
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == dtype
    assert F.conv1d(x[:, 0], w[0], b).dtype == dtype


def test_small_input_same_padding_skips_taps_outside(rng):
    # a 2x2 image with a 5x5 kernel: several taps never overlap the input
    x, w, b = _case_2d(rng, (2, 2), (5, 5), "channels_last")
    expected = reference_conv(x, w, b, (1, 1), "same", (1, 1), "channels_last")
    np.testing.assert_allclose(F.conv2d(x, w, b, padding="SAME").numpy(), expected,
                               rtol=1e-12, atol=1e-12)
    check_grad(lambda x, w: F.conv2d(x, w, padding="same"), [x[:1], w[:, :, :, :1]])


X4 = np.zeros((1, 5, 5, 2))
W4 = np.zeros((3, 3, 2, 4))


@pytest.mark.parametrize("call,message", [
    (lambda: F.conv2d(np.zeros((5, 5, 2)), W4), "x of shape"),
    (lambda: F.conv2d(X4, np.zeros((3, 2, 4))), "kernel of shape"),
    (lambda: F.conv2d(X4, np.zeros((0, 3, 2, 4))), "kernel of shape"),
    (lambda: F.conv2d(X4, np.zeros((3, 3, 3, 4))), "channels"),
    (lambda: F.conv2d(X4, W4, np.zeros(3)), "bias of shape"),
    (lambda: F.conv2d(X4, W4, strides=0), "strides=0"),
    (lambda: F.conv2d(X4, W4, strides=(1, -1)), "strides"),
    (lambda: F.conv2d(X4, W4, dilation_rate=0), "dilation_rate"),
    (lambda: F.conv2d(X4, W4, padding="full"), "padding='full'"),
    (lambda: F.conv2d(X4, W4, padding=2), "padding=2"),
    (lambda: F.conv2d(X4, W4, data_format="nhwc"), "data_format='nhwc'"),
    (lambda: F.conv2d(X4, W4, strides=2, dilation_rate=2), "dilation"),
    (lambda: F.conv2d(X4, W4, strides=(2, 1), dilation_rate=(1, 2)), "dilation"),
    (lambda: F.conv2d(X4, np.zeros((6, 6, 2, 4))), "too small"),
    (lambda: F.conv2d(np.zeros((1, 0, 5, 2)), W4, padding="same"), "zero-size"),
    (lambda: F.conv1d(np.zeros((1, 5, 2)), np.zeros((3, 3, 4))), "channels"),
    (lambda: F.conv1d(X4, np.zeros((3, 2, 4))), "x of shape"),
    (lambda: F.conv1d(np.zeros((1, 5, 2)), np.zeros((3, 2, 4)), strides=(1, 1)), "strides"),
])
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


# taps x channels <= filters takes the gathered-columns route (a thin stem)
THIN = [((3, 3), 1, 1, "same", 1, 9), ((2, 3), 2, 1, "same", 1, 8),
        ((3, 3), 1, 2, "valid", 2, 18), ((3, 2), (2, 1), 1, "valid", 1, 6)]


@pytest.mark.parametrize("kernel_size,strides,dilation,padding,channels,filters", THIN)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_thin_input_route(backend, rng, kernel_size, strides, dilation, padding, channels,
                          filters, data_format):
    x, w, b = _case_2d(rng, (6, 5), kernel_size, data_format, channels=channels,
                       filters=filters)
    kwargs = dict(strides=strides, padding=padding, dilation_rate=dilation,
                  data_format=data_format)
    y = F.conv2d(mdl.tensor(x), mdl.tensor(w), mdl.tensor(b), **kwargs)
    strides2 = (strides,) * 2 if isinstance(strides, int) else strides
    expected = reference_conv(x, w, b, strides2, padding, (dilation,) * 2, data_format)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)
    check_grad(lambda x, w, b: F.conv2d(x, w, b, **kwargs), [x[:1], w, b])
    tensors = [mdl.tensor(a, requires_grad=True) for a in (x, w, b)]
    gy = mdl.tensor(rng.standard_normal(y.shape))
    F.conv2d(*tensors, **kwargs).backward(gy)
    taped = mdl.grad(F.conv2d(*tensors, **kwargs), tensors, [gy], create_graph=True)
    for t, g in zip(tensors, taped):
        np.testing.assert_allclose(mdl.tensor(t.grad).numpy(), g.numpy(), rtol=1e-12,
                                   atol=1e-12)
