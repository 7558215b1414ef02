"""Max, average and global pooling: ops against explicit-loop references, gradients,
second derivatives, and the pooling layers."""
import math

import numpy as np
import pytest

import minidl as mdl
from minidl import functional as F
from minidl import layers
from minidl.gradcheck import check_double_grad, check_grad
from minidl.testing import layer_test


def reference_pool(x, pool, strides, padding, mode):
    """Explicit loops over every output pixel, channels_last; "same" windows are clipped
    to the image (TensorFlow's padding rule), average divides by the real pixel count."""
    n, h, w, c = x.shape
    (ph, pw), (sh, sw) = pool, strides
    if padding == "same":
        oh, ow = math.ceil(h / sh), math.ceil(w / sw)
        top = max((oh - 1) * sh + ph - h, 0) // 2
        left = max((ow - 1) * sw + pw - w, 0) // 2
    else:
        oh, ow = (h - ph) // sh + 1, (w - pw) // sw + 1
        top = left = 0
    y = np.zeros((n, oh, ow, c), x.dtype)
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                r0, c0 = i * sh - top, j * sw - left
                window = x[b, max(r0, 0):min(r0 + ph, h), max(c0, 0):min(c0 + pw, w), :]
                y[b, i, j] = window.max(axis=(0, 1)) if mode == "max" else \
                    window.sum(axis=(0, 1)) / (window.shape[0] * window.shape[1])
    return y


POOL_CASES = [  # (input shape NHWC, pool_size, strides, padding)
    ((2, 6, 7, 3), (2, 2), None, "valid"),
    ((2, 7, 6, 3), (3, 3), (2, 2), "same"),
    ((1, 5, 6, 2), (2, 3), (1, 1), "same"),
    ((2, 5, 5, 2), (3, 2), (2, 1), "valid"),
    ((1, 4, 5, 2), (2, 2), (3, 3), "same"),   # stride larger than the pool
    ((1, 2, 2, 3), (3, 3), (1, 1), "same"),   # pool larger than the image
]


def _nchw(x):
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("shape,pool,strides,padding", POOL_CASES)
def test_pool_forward_matches_loops(backend, rng, mode, shape, pool, strides, padding):
    fn = F.max_pool2d if mode == "max" else F.avg_pool2d
    x = rng.standard_normal(shape)
    expected = reference_pool(x, pool, strides or pool, padding, mode)
    y = fn(mdl.tensor(x), pool, strides, padding, "channels_last")
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)
    y_cf = fn(mdl.tensor(_nchw(x)), pool, strides, padding.upper(), "channels_first")
    np.testing.assert_allclose(y_cf.numpy(), _nchw(expected), rtol=1e-12, atol=1e-12)


def test_same_average_divides_by_real_pixel_count():
    # ones everywhere: every window average must stay exactly 1 despite the zero padding
    y = F.avg_pool2d(mdl.tensor(np.ones((1, 5, 4, 1))), 3, 2, "same")
    np.testing.assert_array_equal(y.numpy(), np.ones((1, 3, 2, 1)))
    # a 3x3 window at the corner of a 2x2 image with stride 1 sees 4 real pixels
    x = np.arange(4.0).reshape(1, 2, 2, 1)
    y = F.avg_pool2d(mdl.tensor(x), 3, 1, "same").numpy()[0, :, :, 0]
    np.testing.assert_allclose(y, np.full((2, 2), 1.5))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pool_preserves_dtype(dtype):
    x = mdl.tensor(np.ones((1, 4, 4, 2), dtype))
    assert F.max_pool2d(x, 2).dtype == dtype
    assert F.avg_pool2d(x, 3, 2, "same").dtype == dtype


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("shape,pool,strides,padding", POOL_CASES[:5])
def test_pool_gradcheck(rng, mode, shape, pool, strides, padding):
    fn = F.max_pool2d if mode == "max" else F.avg_pool2d
    x = rng.standard_normal(shape)
    check_grad(lambda t: fn(t, pool, strides, padding), [x])


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool_gradcheck_channels_first_scipy(rng, mode):
    fn = F.max_pool2d if mode == "max" else F.avg_pool2d
    x = rng.standard_normal((1, 2, 5, 6))
    check_grad(lambda t: fn(t, 3, 2, "same", "channels_first"), [x], method="scipy")


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool_double_backward(rng, mode):
    fn = F.max_pool2d if mode == "max" else F.avg_pool2d
    x = rng.standard_normal((1, 5, 6, 2))
    check_double_grad(lambda t: fn(t, (2, 3), (1, 2), "same") ** 2, [x])


def test_max_pool_gradient_goes_to_first_of_tied_maxima():
    x = mdl.tensor(np.array([[1.0, 3.0], [3.0, 3.0]]).reshape(1, 2, 2, 1),
                   requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad[0, :, :, 0], [[0.0, 1.0], [0.0, 0.0]])


def test_max_pool_overlapping_windows_accumulate():
    # the centre pixel is the max of all four overlapping 2x2 windows (stride 1)
    x = np.zeros((1, 3, 3, 1))
    x[0, 1, 1, 0] = 5.0
    t = mdl.tensor(x, requires_grad=True)
    F.max_pool2d(t, 2, 1).sum().backward()
    assert t.grad[0, 1, 1, 0] == 4.0 and t.grad.sum() == 4.0


@pytest.mark.parametrize("kwargs,match", [
    (dict(pool_size=0), "pool_size"),
    (dict(pool_size=(2, -1)), "pool_size"),
    (dict(pool_size=(2, 2, 2)), "pool_size"),
    (dict(pool_size=2, strides=0), "strides"),
    (dict(pool_size=2, padding="full"), "padding"),
    (dict(pool_size=2, padding=1), "padding"),
    (dict(pool_size=2, data_format="nhwc"), "data_format"),
    (dict(pool_size=5), "too small for pool_size"),
])
def test_pool_bad_arguments(kwargs, match):
    x = mdl.tensor(np.ones((1, 4, 4, 1)))
    for fn in (F.max_pool2d, F.avg_pool2d):
        with pytest.raises(ValueError, match=match):
            fn(x, **kwargs)


def test_pool_bad_rank():
    with pytest.raises(ValueError, match="4-D"):
        F.max_pool2d(mdl.tensor(np.ones((4, 4, 1))), 2)


# -- global pooling -------------------------------------------------------------------
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_ops(rng, keepdims):
    x = rng.standard_normal((2, 3, 4, 5))
    y = F.global_avg_pool(mdl.tensor(x), 4, "channels_first", keepdims)
    np.testing.assert_allclose(y.numpy(), x.mean(axis=(2, 3), keepdims=keepdims))
    y = F.global_max_pool(mdl.tensor(x), 4, "channels_last", keepdims)
    np.testing.assert_allclose(y.numpy(), x.max(axis=(1, 2), keepdims=keepdims))
    x1 = x[0]
    y = F.global_avg_pool(mdl.tensor(x1), 3, "channels_last", keepdims)
    np.testing.assert_allclose(y.numpy(), x1.mean(axis=1, keepdims=keepdims))


# -- layers ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls,kwargs,input_shape,output_shape", [
    (layers.MaxPooling2D, {}, (2, 4, 5, 2), (2, 2, 2, 2)),
    (layers.MaxPooling2D, dict(pool_size=3, strides=2, padding="same"), (2, 5, 4, 2),
     (2, 3, 2, 2)),
    (layers.MaxPooling2D, dict(pool_size=(2, 1), data_format="channels_first"),
     (1, 2, 4, 3), (1, 2, 2, 3)),
    (layers.AveragePooling2D, {}, (2, 4, 5, 2), (2, 2, 2, 2)),
    (layers.AveragePooling2D, dict(pool_size=(2, 3), strides=1, padding="SAME"),
     (1, 3, 4, 2), (1, 3, 4, 2)),
    (layers.AveragePooling2D,
     dict(pool_size=2, strides=(1, 2), data_format="channels_first"), (1, 2, 3, 5),
     (1, 2, 2, 2)),
    (layers.GlobalAveragePooling2D, {}, (2, 3, 4, 2), (2, 2)),
    (layers.GlobalAveragePooling2D, dict(keepdims=True, data_format="channels_first"),
     (2, 2, 3, 4), (2, 2, 1, 1)),
    (layers.GlobalMaxPooling2D, {}, (2, 3, 4, 2), (2, 2)),
    (layers.GlobalMaxPooling2D, dict(keepdims=True), (2, 3, 4, 2), (2, 1, 1, 2)),
    (layers.GlobalAveragePooling1D, {}, (2, 5, 3), (2, 3)),
    (layers.GlobalAveragePooling1D, dict(data_format="channels_first", keepdims=True),
     (2, 3, 5), (2, 3, 1)),
])
def test_pooling_layers_harness(cls, kwargs, input_shape, output_shape):
    layer_test(cls, kwargs, input_shape, expected_output_shape=output_shape,
               expected_num_trainable_weights=0, expected_num_non_trainable_weights=0,
               expected_num_losses=0)


def test_pooling_layer_values_and_defaults(rng):
    x = rng.standard_normal((2, 7, 6, 3))
    layer = layers.AveragePooling2D(pool_size=3, strides=2, padding="same",
                                    dtype="float64")
    np.testing.assert_allclose(layer(x).numpy(),
                               reference_pool(x, (3, 3), (2, 2), "same", "avg"), rtol=1e-12)
    layer = layers.MaxPooling2D(dtype="float64")
    assert layer.pool_size == layer.strides == (2, 2) and layer.padding == "valid"
    np.testing.assert_array_equal(layer(x).numpy(),
                                  reference_pool(x, (2, 2), (2, 2), "valid", "max"))
    assert layers.MaxPool2D is layers.MaxPooling2D
    assert isinstance(layers.get("GlobalAvgPool2D"), layers.GlobalAveragePooling2D)


def test_pooling_configs_match_keras():
    cfg = layers.MaxPooling2D(pool_size=3, strides=[2, 1], padding="Same",
                              data_format="channels_first", name="p").get_config()
    assert cfg == {"name": "p", "trainable": True, "dtype": "float32", "pool_size": (3, 3),
                   "padding": "same", "strides": (2, 1), "data_format": "channels_first"}
    keras_cfg = {"name": "average_pooling2d", "trainable": True,
                 "dtype": {"module": "keras", "class_name": "DTypePolicy",
                           "config": {"name": "float64"}, "registered_name": None},
                 "pool_size": [2, 3], "padding": "same", "strides": [1, 1],
                 "data_format": "channels_last"}
    layer = layers.AveragePooling2D.from_config(keras_cfg)
    assert (layer.pool_size, layer.strides, layer.dtype) == ((2, 3), (1, 1), "float64")
    g = layers.GlobalAveragePooling1D.from_config(
        {"name": "g", "trainable": True, "dtype": "float32", "data_format": "channels_last",
         "keepdims": False})
    assert set(g.get_config()) == {"name", "trainable", "dtype", "data_format", "keepdims"}


def test_pooling_compute_output_shape_unknown_batch():
    assert layers.MaxPooling2D(3, 2, "same").compute_output_shape((None, 7, 6, 3)) == \
        (None, 4, 3, 3)
    assert layers.AveragePooling2D(2).compute_output_shape((None, 5, None, 3)) == \
        (None, 2, None, 3)
    assert layers.GlobalMaxPooling2D(data_format="channels_first").compute_output_shape(
        (None, 3, 5, 5)) == (None, 3)


@pytest.mark.parametrize("cls,kwargs,match", [
    (layers.MaxPooling2D, dict(pool_size=0), "pool_size"),
    (layers.MaxPooling2D, dict(pool_size=(2, -2)), "pool_size"),
    (layers.AveragePooling2D, dict(strides=-1), "strides"),
    (layers.AveragePooling2D, dict(strides=(1, 2, 3)), "strides"),
    (layers.MaxPooling2D, dict(padding="full"), "padding"),
    (layers.AveragePooling2D, dict(data_format="NHWC"), "data_format"),
    (layers.GlobalAveragePooling2D, dict(data_format="channels_middle"), "data_format"),
    (layers.GlobalMaxPooling2D, dict(keepdims="yes"), "keepdims"),
])
def test_pooling_layer_bad_arguments(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


@pytest.mark.parametrize("cls,shape", [
    (layers.MaxPooling2D, (2, 4, 4)), (layers.AveragePooling2D, (1, 2, 4, 4, 1)),
    (layers.GlobalAveragePooling2D, (2, 4, 3)), (layers.GlobalMaxPooling2D, (2, 3)),
    (layers.GlobalAveragePooling1D, (2, 4, 4, 3)),
])
def test_pooling_layer_wrong_rank(cls, shape):
    with pytest.raises(ValueError, match="expects a"):
        cls()(np.ones(shape))


def test_pooling_layer_input_too_small():
    with pytest.raises(ValueError, match="too small for pool_size"):
        layers.MaxPooling2D(3)(np.ones((1, 2, 5, 1)))
    # "same" padding always has an output
    assert layers.MaxPooling2D(3, padding="same")(np.ones((1, 2, 5, 1))).shape == \
        (1, 1, 2, 1)


def test_pool_and_conv_layers_share_one_output_size_rule():
    # conv_utils.output_shape: one rule and one message for Conv2D, DepthwiseConv2D and
    # the pooling layers (unknown sizes stay None)
    shape = (None, 3, None, 2)
    assert layers.MaxPooling2D(3).compute_output_shape(shape) == (None, 1, None, 2)
    assert layers.Conv2D(4, 3).compute_output_shape(shape) == (None, 1, None, 4)
    assert layers.DepthwiseConv2D(3).compute_output_shape(shape) == (None, 1, None, 2)
    for layer, name in [(layers.MaxPooling2D(4), "pool_size"), (layers.Conv2D(4, 4),
                        "kernel_size"), (layers.DepthwiseConv2D(4), "kernel_size")]:
        with pytest.raises(ValueError, match=rf"\({type(layer).__name__}\): input shape "
                                             rf".* too small for {name}=\(4, 4\)"):
            layer.compute_output_shape(shape)
