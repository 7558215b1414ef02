"""The convolution layers check an input shape once and keep its geometry: a layer
called with several input shapes gives each its own correct output, and a wrong shape
after a cached one is still refused with the layer's message."""
import numpy as np
import pytest

import minidl as mdl
from minidl import layers
from minidl.gradcheck import check_grad


def slow_conv2d(x, w, stride, padding):
    """Channels_last 2-D cross-correlation by explicit loops (TensorFlow's "same")."""
    n, h, wd, _ = x.shape
    kh, kw, _, f = w.shape
    if padding == "same":
        oh, ow = -(-h // stride), -(-wd // stride)
        ph = max((oh - 1) * stride + kh - h, 0)
        pw = max((ow - 1) * stride + kw - wd, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    y = np.zeros((n, oh, ow, f))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            y[:, i, j, :] = np.tensordot(patch, w, axes=([1, 2, 3], [0, 1, 2]))
    return y


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("stride", [1, 2])
def test_conv2d_called_with_two_shapes_matches_loops(padding, stride):
    layer = layers.Conv2D(3, 3, strides=stride, padding=padding, use_bias=False,
                          dtype="float64")
    rng = np.random.default_rng(0)
    for shape in [(2, 6, 5, 2), (1, 7, 9, 2), (2, 6, 5, 2), (3, 6, 5, 2)]:
        x = rng.standard_normal(shape)
        y = layer(x).numpy()
        np.testing.assert_allclose(y, slow_conv2d(x, layer.kernel.numpy(), stride,
                                                  padding), atol=1e-12)


def test_conv2d_channels_first_two_shapes():
    layer = layers.Conv2D(2, 3, padding="same", data_format="channels_first",
                          use_bias=False, dtype="float64")
    rng = np.random.default_rng(1)
    for shape in [(1, 2, 5, 5), (2, 2, 4, 6)]:
        x = rng.standard_normal(shape)
        y = layer(x).numpy()
        expected = slow_conv2d(x.transpose(0, 2, 3, 1), layer.kernel.numpy(), 1, "same")
        np.testing.assert_allclose(y, expected.transpose(0, 3, 1, 2), atol=1e-12)


@pytest.mark.parametrize("make", [
    lambda: layers.Conv2D(4, 3, padding="same"),
    lambda: layers.DepthwiseConv2D(3, padding="same"),
    lambda: layers.SeparableConv2D(4, 3, padding="same"),
])
def test_wrong_channels_after_a_cached_shape_is_refused(make):
    layer = make()
    layer(np.ones((2, 5, 5, 3), dtype="float32"))
    layer(np.ones((2, 5, 5, 3), dtype="float32"))
    with pytest.raises(ValueError, match=r"was built for 3 input channels.*with 2"):
        layer(np.ones((2, 5, 5, 2), dtype="float32"))
    with pytest.raises(ValueError, match=r"expects a 4-D input"):
        layer(np.ones((2, 5, 3), dtype="float32"))


def test_too_small_input_after_a_cached_shape_is_refused():
    layer = layers.Conv2D(2, 3)
    layer(np.ones((1, 5, 5, 1), dtype="float32"))
    with pytest.raises(ValueError, match="kernel_size"):
        layer(np.ones((1, 2, 5, 1), dtype="float32"))


def test_conv2d_gradients_with_two_batch_sizes():
    layer = layers.Conv2D(2, 3, strides=2, padding="same", dtype="float64")
    rng = np.random.default_rng(2)
    for batch in (2, 3):
        x = mdl.tensor(rng.standard_normal((batch, 5, 4, 2)), requires_grad=True)
        y = layer(x)
        y.sum().backward()
        # d(sum y)/dx: each input pixel times the sum of the filters of the taps reading it
        w = layer.kernel.numpy()
        expected = np.zeros(x.shape)
        for i in range(y.shape[1]):
            for j in range(y.shape[2]):
                for a in range(3):
                    for b in range(3):
                        r, c = 2 * i + a - 1, 2 * j + b  # "same": pads 1 before H, 0 W
                        if 0 <= r < 5 and 0 <= c < 4:
                            expected[:, r, c, :] += w[a, b].sum(axis=-1)
        np.testing.assert_allclose(np.asarray(x.grad), expected, atol=1e-12)


@pytest.mark.parametrize("stride", [1, 2])
def test_columns_route_up_to_twice_the_filters(stride):
    """taps x channels in (filters, 2 filters]: the gathered-columns route (a 3-channel
    stem), against the loops and numerical derivatives."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 5, 4, 3)), rng.standard_normal((3, 3, 3, 14))
    y = mdl.functional.conv2d(x, w, strides=stride, padding="same")
    np.testing.assert_allclose(y.numpy(), slow_conv2d(x, w, stride, "same"), atol=1e-12)
    check_grad(lambda x, w: mdl.functional.conv2d(x, w, strides=stride, padding="same"),
               [x[:1], w])
