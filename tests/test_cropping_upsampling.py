"""Cropping1D, Cropping2D, ZeroPadding1D, UpSampling1D and UpSampling2D (nearest and
bilinear): values against explicit-loop references, gradients, shapes, configs and
errors."""
import math

import numpy as np
import pytest

import minidl as mdl
from minidl import layers
from minidl.gradcheck import check_double_grad
from minidl.ops.upsampling import upsample_linear, upsample_nearest
from minidl.testing import layer_test


def _nchw(x):
    return np.ascontiguousarray(np.moveaxis(x, -1, 1))


# -- Cropping -------------------------------------------------------------------------
def reference_crop2d(x, cropping):
    """Loops over the output pixels of a channels_last batch."""
    (top, bottom), (left, right) = cropping
    n, h, w, c = x.shape
    out = np.zeros((n, h - top - bottom, w - left - right, c))
    for b in range(n):
        for i in range(out.shape[1]):
            for j in range(out.shape[2]):
                out[b, i, j] = x[b, top + i, left + j]
    return out


@pytest.mark.parametrize("cropping,pairs", [
    (1, ((1, 1), (1, 1))), ((1, 0), ((1, 1), (0, 0))), (((1, 2), (0, 1)), ((1, 2), (0, 1))),
    ([[0, 0], [2, 0]], ((0, 0), (2, 0))), (((0, 0), (0, 0)), ((0, 0), (0, 0))),
])
def test_cropping2d_values(backend, rng, cropping, pairs):
    x = rng.standard_normal((2, 5, 4, 3))
    layer = layers.Cropping2D(cropping, dtype="float64")
    assert layer.cropping == pairs
    expected = reference_crop2d(x, pairs)
    np.testing.assert_array_equal(layer(x).numpy(), expected)
    layer = layers.Cropping2D(cropping, data_format="channels_first", dtype="float64")
    np.testing.assert_array_equal(layer(_nchw(x)).numpy(), _nchw(expected))


@pytest.mark.parametrize("cropping,expected",
                         [(1, (1, 1)), ((2, 0), (2, 0)), ([0, 3], (0, 3))])
def test_cropping1d_values(backend, rng, cropping, expected):
    x = rng.standard_normal((2, 5, 3))
    layer = layers.Cropping1D(cropping, dtype="float64")
    assert layer.cropping == expected
    out = layer(x).numpy()
    left, right = expected
    assert out.shape == (2, 5 - left - right, 3)
    for t in range(out.shape[1]):
        np.testing.assert_array_equal(out[:, t], x[:, left + t])


def test_cropping_harness():
    layer_test(layers.Cropping1D, {}, (2, 4, 3), expected_output_shape=(2, 2, 3),
               expected_num_trainable_weights=0)
    layer_test(layers.Cropping2D, dict(cropping=((1, 0), (0, 2))), (2, 3, 4, 2),
               expected_output_shape=(2, 2, 2, 2))
    layer_test(layers.Cropping2D, dict(cropping=1, data_format="channels_first"),
               (1, 2, 3, 4), expected_output_shape=(1, 2, 1, 2))


def test_cropping_output_shape_with_unknown_sizes():
    assert layers.Cropping1D((1, 2)).compute_output_shape((None, 5, 3)) == (None, 2, 3)
    assert layers.Cropping1D().compute_output_shape((None, None, 3)) == (None, None, 3)
    assert layers.Cropping2D(((1, 0), (2, 2)), data_format="channels_first") \
        .compute_output_shape((None, 3, None, 6)) == (None, 3, None, 2)


@pytest.mark.parametrize("cropping", [-1, (1, -1), ((1, 2), (3,)), (1, 2, 3), "same", 1.5,
                                      ((1, 2), (0, -1))])
def test_cropping2d_bad_cropping(cropping):
    with pytest.raises(ValueError, match="cropping"):
        layers.Cropping2D(cropping)


@pytest.mark.parametrize("cropping", [-1, (1, 2, 3), (1.5, 1), "1"])
def test_cropping1d_bad_cropping(cropping):
    with pytest.raises(ValueError, match="cropping"):
        layers.Cropping1D(cropping)


def test_cropping_bad_inputs():
    with pytest.raises(ValueError, match=r"cropping=\(2, 2\) must leave at least one"):
        layers.Cropping1D(2)(np.ones((1, 4, 2)))
    with pytest.raises(ValueError, match=r"cropping=\(\(1, 1\), \(0, 0\)\) must leave"):
        layers.Cropping2D((1, 0)).compute_output_shape((None, 2, 5, 1))
    with pytest.raises(ValueError, match="expects a 3-D input"):
        layers.Cropping1D()(np.ones((1, 4, 2, 2)))
    with pytest.raises(ValueError, match="expects a 4-D input"):
        layers.Cropping2D()(np.ones((1, 4, 2)))
    with pytest.raises(ValueError, match="data_format"):
        layers.Cropping2D(data_format="nchw")


# -- ZeroPadding1D --------------------------------------------------------------------
@pytest.mark.parametrize("padding,expected",
                         [(1, (1, 1)), ((2, 0), (2, 0)), ([0, 3], (0, 3))])
def test_zero_padding1d_values(backend, rng, padding, expected):
    x = rng.standard_normal((2, 4, 3))
    layer = layers.ZeroPadding1D(padding, dtype="float64")
    assert layer.padding == expected
    out = layer(x).numpy()
    left, right = expected
    reference = np.zeros((2, 4 + left + right, 3))
    for t in range(4):
        reference[:, left + t] = x[:, t]
    np.testing.assert_array_equal(out, reference)
    layer = layers.ZeroPadding1D(padding, data_format="channels_first", dtype="float64")
    np.testing.assert_array_equal(layer(_nchw(x)).numpy(), _nchw(reference))


def test_zero_padding1d_harness_and_errors():
    layer_test(layers.ZeroPadding1D, {}, (2, 3, 2), expected_output_shape=(2, 5, 2),
               expected_num_trainable_weights=0)
    layer_test(layers.ZeroPadding1D, dict(padding=(0, 2), data_format="channels_first"),
               (2, 3, 2), expected_output_shape=(2, 3, 4))
    assert layers.ZeroPadding1D(2).compute_output_shape((None, None, 3)) == (None, None, 3)
    for padding in (-1, (1, 2, 3), "same", 1.5):
        with pytest.raises(ValueError, match="padding"):
            layers.ZeroPadding1D(padding)
    with pytest.raises(ValueError, match="expects a 3-D input"):
        layers.ZeroPadding1D()(np.ones((1, 4, 2, 2)))


# -- UpSampling -----------------------------------------------------------------------
def reference_nearest(x, sh, sw):
    n, h, w, c = x.shape
    out = np.zeros((n, h * sh, w * sw, c))
    for i in range(h * sh):
        for j in range(w * sw):
            out[:, i, j] = x[:, i // sh, j // sw]
    return out


def _tap(o, size, n):
    """Lower input index and weight of the upper one for output ``o`` (half-pixel centers,
    the sample position clamped to the image)."""
    p = min(max((o + 0.5) / size - 0.5, 0.0), n - 1.0)
    lo = math.floor(p)
    return lo, min(lo + 1, n - 1), p - lo


def reference_bilinear(x, sh, sw):
    n, h, w, c = x.shape
    out = np.zeros((n, h * sh, w * sw, c))
    for i in range(h * sh):
        i0, i1, fi = _tap(i, sh, h)
        for j in range(w * sw):
            j0, j1, fj = _tap(j, sw, w)
            top = x[:, i0, j0] * (1 - fj) + x[:, i0, j1] * fj
            bottom = x[:, i1, j0] * (1 - fj) + x[:, i1, j1] * fj
            out[:, i, j] = top * (1 - fi) + bottom * fi
    return out


SIZES = [(2, 2), (3, 2), (1, 3), (4, 5), (3, 3)]
IMAGES = [(2, 3, 4, 2), (1, 1, 2, 1), (1, 2, 1, 3)]


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("shape", IMAGES)
def test_upsampling2d_matches_loops(backend, rng, interpolation, size, shape):
    x = rng.standard_normal(shape)
    reference = reference_nearest if interpolation == "nearest" else reference_bilinear
    expected = reference(x, *size)
    layer = layers.UpSampling2D(size, interpolation=interpolation, dtype="float64")
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-13, atol=1e-14)
    layer = layers.UpSampling2D(size, data_format="channels_first",
                                interpolation=interpolation.upper(), dtype="float64")
    np.testing.assert_allclose(layer(_nchw(x)).numpy(), _nchw(expected), rtol=1e-13,
                               atol=1e-14)


def test_bilinear_known_values():
    # Keras 3 (JAX): UpSampling2D((3, 2), interpolation="bilinear") of [[0, 1, 2],
    # [3, 4, 5]]
    x = np.arange(6.0).reshape(1, 2, 3, 1)
    y = layers.UpSampling2D((3, 2), interpolation="bilinear", dtype="float64")(x)
    row = [0.0, 0.25, 0.75, 1.25, 1.75, 2.0]
    expected = [row, row, [v + 1 for v in row], [v + 2 for v in row], [v + 3 for v in row],
                [v + 3 for v in row]]
    np.testing.assert_allclose(y.numpy()[0, :, :, 0], expected, rtol=1e-15)


def test_bilinear_keeps_constants_and_dtype():
    for dtype in (np.float32, np.float64):
        x = np.full((1, 3, 2, 2), 1.5, dtype)
        y = layers.UpSampling2D(3, interpolation="bilinear", dtype=dtype)(x)
        assert y.dtype == dtype
        np.testing.assert_array_equal(y.numpy(), np.full((1, 9, 6, 2), 1.5, dtype))


@pytest.mark.parametrize("kwargs,shape,expected", [
    ({}, (2, 2, 3, 2), (2, 4, 6, 2)),
    (dict(size=(3, 1), interpolation="bilinear"), (1, 3, 2, 2), (1, 9, 2, 2)),
    (dict(size=(2, 3), interpolation="bilinear", data_format="channels_first"),
     (1, 2, 2, 3), (1, 2, 4, 9)),
    (dict(size=(1, 2), data_format="channels_first"), (1, 2, 3, 2), (1, 2, 3, 4)),
])
def test_upsampling2d_harness(kwargs, shape, expected):
    layer_test(layers.UpSampling2D, kwargs, shape, expected_output_shape=expected,
               expected_num_trainable_weights=0)


def test_upsampling_second_derivatives(rng):
    x = rng.standard_normal((1, 2, 3, 2))
    check_double_grad(lambda t: upsample_linear(upsample_linear(t, 3, 1), 2, 2) ** 3, [x])
    check_double_grad(lambda t: upsample_nearest(t, 2, -1) ** 3, [x])


def test_upsampling_output_shapes_with_unknown_sizes():
    assert layers.UpSampling2D((2, 3)).compute_output_shape((None, None, 4, 1)) == \
        (None, None, 12, 1)
    assert layers.UpSampling2D(2, data_format="channels_first").compute_output_shape(
        (None, 3, 5, None)) == (None, 3, 10, None)
    assert layers.UpSampling1D(3).compute_output_shape((None, None, 2)) == (None, None, 2)
    assert layers.UpSampling1D(3).compute_output_shape((None, 4, 2)) == (None, 12, 2)


@pytest.mark.parametrize("size", [1, 2, 3])
def test_upsampling1d_values_and_harness(backend, rng, size):
    x = rng.standard_normal((2, 3, 2))
    out = layers.UpSampling1D(size, dtype="float64")(x).numpy()
    for t in range(3 * size):
        np.testing.assert_array_equal(out[:, t], x[:, t // size])
    layer_test(layers.UpSampling1D, dict(size=size), (2, 3, 2),
               expected_output_shape=(2, 3 * size, 2), expected_num_trainable_weights=0)


def test_upsampling_errors():
    with pytest.raises(ValueError, match=r"interpolation='bicubic' is not supported"):
        layers.UpSampling2D(interpolation="bicubic")
    with pytest.raises(ValueError, match="interpolation=3"):
        layers.UpSampling2D(interpolation=3)
    for size in (0, (2, 0), (1, 2, 3), 1.5):
        with pytest.raises(ValueError, match="size"):
            layers.UpSampling2D(size)
    with pytest.raises(ValueError, match="expects a 4-D input"):
        layers.UpSampling2D()(np.ones((1, 2, 2)))
    with pytest.raises(TypeError, match=r"size=\(2,\) must be an int"):
        layers.UpSampling1D((2,))
    with pytest.raises(ValueError, match="size=0 must be a positive int"):
        layers.UpSampling1D(0)
    with pytest.raises(ValueError, match="expects a 3-D input"):
        layers.UpSampling1D()(np.ones((1, 2, 2, 1)))
    with pytest.raises(ValueError, match="size=0"):
        upsample_linear(mdl.tensor(np.ones((1, 2))), 0, 1)
    with pytest.raises(ValueError, match="axis=2 is out of range"):
        upsample_nearest(mdl.tensor(np.ones((1, 2))), 2, 2)


def test_configs():
    config = layers.UpSampling2D((2, 3), interpolation="Bilinear").get_config()
    assert config["size"] == (2, 3) and config["interpolation"] == "bilinear"
    assert config["data_format"] == "channels_last"
    assert set(layers.Cropping1D().get_config()) == {"name", "trainable", "dtype",
                                                      "cropping"}
    assert set(layers.ZeroPadding1D().get_config()) == {"name", "trainable", "dtype",
                                                         "padding", "data_format"}
    clone = layers.Cropping2D.from_config({"name": "c", "cropping": [[1, 0], [0, 2]],
                                           "data_format": "channels_first"})
    assert clone.cropping == ((1, 0), (0, 2)) and clone.data_format == "channels_first"
