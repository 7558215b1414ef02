"""The small layers around MobileNet blocks: ZeroPadding2D, Flatten, Reshape, Activation,
ReLU, Dropout (and the dropout op) and Add."""
import numpy as np
import pytest

import minidl as mdl
from minidl import functional as F
from minidl import layers
from minidl.gradcheck import check_grad
from minidl.testing import layer_test


# -- ZeroPadding2D --------------------------------------------------------------------
@pytest.mark.parametrize("padding,expected", [
    (2, ((2, 2), (2, 2))), ((1, 3), ((1, 1), (3, 3))), (((1, 2), (0, 1)), ((1, 2), (0, 1))),
    ([[0, 0], [2, 1]], ((0, 0), (2, 1))),
])
def test_zero_padding_forms_and_values(backend, rng, padding, expected):
    x = rng.standard_normal((2, 3, 4, 2))
    layer = layers.ZeroPadding2D(padding, dtype="float64")
    assert layer.padding == expected
    rows, cols = expected
    np.testing.assert_array_equal(layer(x).numpy(),
                                  np.pad(x, ((0, 0), rows, cols, (0, 0))))
    layer = layers.ZeroPadding2D(padding, data_format="channels_first", dtype="float64")
    np.testing.assert_array_equal(layer(x).numpy(),
                                  np.pad(x, ((0, 0), (0, 0), rows, cols)))


def test_zero_padding_harness():
    layer_test(layers.ZeroPadding2D, dict(padding=((1, 2), (0, 1))), (2, 3, 2, 2),
               expected_output_shape=(2, 6, 3, 2), expected_num_trainable_weights=0)
    layer_test(layers.ZeroPadding2D, dict(padding=1, data_format="channels_first"),
               (1, 2, 2, 3), expected_output_shape=(1, 2, 4, 5))
    assert layers.ZeroPadding2D((1, 2)).compute_output_shape((None, 4, None, 3)) == \
        (None, 6, None, 3)


@pytest.mark.parametrize("padding", [-1, (1, -1), ((1, 2), (3,)), (1, 2, 3), "same", 1.5,
                                     ((1, 2), (0, -1))])
def test_zero_padding_bad_padding(padding):
    with pytest.raises(ValueError, match="padding"):
        layers.ZeroPadding2D(padding)


def test_zero_padding_bad_input():
    with pytest.raises(ValueError, match="4-D"):
        layers.ZeroPadding2D()(np.ones((2, 3, 3)))
    with pytest.raises(ValueError, match="data_format"):
        layers.ZeroPadding2D(data_format="nchw")


# -- Flatten and Reshape --------------------------------------------------------------
def test_flatten_orders(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    np.testing.assert_array_equal(layers.Flatten(dtype="float64")(x).numpy(),
                                  x.reshape(2, -1))
    cf = layers.Flatten(data_format="channels_first", dtype="float64")(x).numpy()
    np.testing.assert_array_equal(cf, x.transpose(0, 2, 3, 1).reshape(2, -1))
    assert layers.Flatten()(np.ones(3)).shape == (3, 1)
    assert layers.Flatten().compute_output_shape((None, 2, 3)) == (None, 6)
    with pytest.raises(ValueError, match="rank >= 1"):
        layers.Flatten()(np.float32(1.0))


def test_flatten_and_reshape_harness():
    layer_test(layers.Flatten, {}, (2, 3, 2), expected_output_shape=(2, 6))
    layer_test(layers.Flatten, dict(data_format="channels_first"), (2, 3, 2, 2),
               expected_output_shape=(2, 12))
    layer_test(layers.Reshape, dict(target_shape=(2, -1)), (2, 6),
               expected_output_shape=(2, 2, 3))
    layer_test(layers.Reshape, dict(target_shape=[1, 1, 4]), (3, 2, 2),
               expected_output_shape=(3, 1, 1, 4))


def test_reshape_values_and_shapes(rng):
    x = rng.standard_normal((2, 3, 4))
    np.testing.assert_array_equal(layers.Reshape((4, 3), dtype="float64")(x).numpy(),
                                  x.reshape(2, 4, 3))
    assert layers.Reshape((-1, 2)).compute_output_shape((None, 3, 4)) == (None, 6, 2)
    assert layers.Reshape((-1, 2)).compute_output_shape((None, None, 4)) == (None, None, 2)
    assert layers.Reshape([3, 4]).get_config()["target_shape"] == (3, 4)


@pytest.mark.parametrize("target_shape", [(-1, -1), (0, 3), (2, -2), (2.0, 3), 5, ("a",)])
def test_reshape_bad_target_shape(target_shape):
    with pytest.raises(ValueError, match="target_shape"):
        layers.Reshape(target_shape)


def test_reshape_size_mismatch():
    with pytest.raises(ValueError, match="cannot reshape"):
        layers.Reshape((5,))(np.ones((2, 6)))
    with pytest.raises(ValueError, match="cannot reshape"):
        layers.Reshape((-1, 4))(np.ones((2, 6)))


# -- Activation and ReLU --------------------------------------------------------------
@pytest.mark.parametrize("name,fn", [
    ("relu", lambda x: np.maximum(x, 0)), ("tanh", np.tanh), ("linear", lambda x: x),
    ("sigmoid", lambda x: 1 / (1 + np.exp(-x))), ("relu6", lambda x: np.clip(x, 0, 6)),
])
def test_activation_layer(rng, name, fn):
    x = rng.standard_normal((3, 4)) * 4
    y = layers.Activation(name, dtype="float64")(x)
    np.testing.assert_allclose(y.numpy(), fn(x), rtol=1e-12, atol=1e-15)
    assert layers.Activation(name).get_config()["activation"] == name


def test_activation_harness_and_config():
    layer_test(layers.Activation, dict(activation="tanh"), (2, 3),
               expected_output_shape=(2, 3))
    layer = layers.Activation.from_config({"name": "act", "trainable": True,
                                           "dtype": "float32", "activation": "silu"})
    assert layer.get_config() == {"name": "act", "trainable": True, "dtype": "float32",
                                  "activation": "silu"}
    square = layers.Activation(lambda t: t * t)
    np.testing.assert_allclose(square(np.array([2.0])).numpy(), [4.0])
    with pytest.raises(ValueError, match="no_such_activation"):
        layers.Activation("no_such_activation")


def keras_relu(x, max_value, negative_slope, threshold):
    """Keras's definition, elementwise."""
    out = np.where(x > threshold, x, negative_slope * (x - threshold))
    return out if max_value is None else np.where(x > threshold,
                                                  np.minimum(out, max_value), out)


@pytest.mark.parametrize("kwargs", [
    {}, dict(max_value=6.0), dict(negative_slope=0.1), dict(threshold=0.5),
    dict(max_value=1.0, negative_slope=0.2, threshold=0.3), dict(max_value=0.0),
])
def test_relu_layer_keras_semantics(kwargs):
    x = np.linspace(-3, 8, 45)
    full = dict(max_value=None, negative_slope=0.0, threshold=0.0) | kwargs
    y = layers.ReLU(**kwargs, dtype="float64")(x)
    np.testing.assert_allclose(y.numpy(), keras_relu(x, **full), rtol=1e-12, atol=1e-15)


def test_relu_harness():
    layer_test(layers.ReLU, dict(max_value=1.5, negative_slope=0.1, threshold=0.2),
               (3, 4), expected_output_shape=(3, 4))
    cfg = layers.ReLU(max_value=6.0).get_config()
    assert {k: cfg[k] for k in ("max_value", "negative_slope", "threshold")} == \
        {"max_value": 6.0, "negative_slope": 0.0, "threshold": 0.0}


@pytest.mark.parametrize("kwargs,match", [
    (dict(max_value=-1.0), "max_value"), (dict(negative_slope=-0.1), "negative_slope"),
    (dict(negative_slope=None), "negative_slope"), (dict(threshold=-0.5), "threshold"),
    (dict(threshold="0"), "threshold"), (dict(max_value=float("inf")), "max_value"),
])
def test_relu_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.ReLU(**kwargs)


# -- Dropout --------------------------------------------------------------------------
def test_dropout_inference_is_identity_and_gradcheck():
    layer_test(layers.Dropout, dict(rate=0.5), (3, 4), expected_output_shape=(3, 4),
               training=False, expected_output=np.random.default_rng(0)
               .standard_normal((3, 4)).astype("float32"))
    x = np.ones((2, 3), np.float32)
    for training in (None, False):
        np.testing.assert_array_equal(layers.Dropout(0.9)(x, training=training).numpy(), x)


@pytest.mark.parametrize("rate", [0.2, 0.5, 0.8])
def test_dropout_mask_statistics_and_scaling(backend, rate):
    x = np.full((200, 100), 3.0, np.float32)
    y = layers.Dropout(rate)(x, training=True).numpy()
    dropped = y == 0
    # 20,000 Bernoulli draws: the fraction is within 4.5 standard deviations of the rate
    assert abs(dropped.mean() - rate) < 4.5 * np.sqrt(rate * (1 - rate) / x.size)
    np.testing.assert_allclose(y[~dropped], 3.0 / (1 - rate), rtol=1e-6)
    assert abs(y.mean() - 3.0) < 0.1
    assert y.dtype == np.float32


def test_dropout_gradient_is_the_scaled_mask():
    x = mdl.tensor(np.ones((4, 5)), requires_grad=True)
    y = layers.Dropout(0.4, dtype="float64")(x, training=True)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, y.numpy())  # mask / (1 - rate), times ones
    check_grad(lambda t: F.dropout(t, 0.4, seed=7), [np.random.default_rng(1)
                                                      .standard_normal((3, 4))])


def test_dropout_reproducible():
    x = np.ones((6, 7), np.float32)
    mdl.random.seed(5)
    a = layers.Dropout(0.5)(x, training=True).numpy()
    mdl.random.seed(5)
    b = layers.Dropout(0.5)(x, training=True).numpy()
    np.testing.assert_array_equal(a, b)
    # a seeded layer owns its generator: same sequence for two layers with one seed,
    # different masks at successive calls
    first, second = layers.Dropout(0.5, seed=3), layers.Dropout(0.5, seed=3)
    m1, m2 = first(x, training=True).numpy(), first(x, training=True).numpy()
    np.testing.assert_array_equal(m1, second(x, training=True).numpy())
    assert not np.array_equal(m1, m2)
    # the functional form with an int seed repeats its mask
    np.testing.assert_array_equal(F.dropout(x, 0.5, seed=11).numpy(),
                                  F.dropout(x, 0.5, seed=11).numpy())


def test_dropout_noise_shape_drops_whole_maps():
    x = np.ones((3, 4, 4, 8), np.float32)
    y = layers.Dropout(0.5, noise_shape=(None, 1, 1, None))(x, training=True).numpy()
    per_map = y.reshape(3, 16, 8)
    assert (per_map == per_map[:, :1, :]).all()  # constant over each feature map
    assert set(np.unique(y)) <= {0.0, 2.0}
    cfg = layers.Dropout(0.3, noise_shape=[None, 1], seed=2).get_config()
    assert (cfg["rate"], cfg["noise_shape"], cfg["seed"]) == (0.3, (None, 1), 2)
    assert layers.Dropout(0.1).get_config()["noise_shape"] is None


@pytest.mark.parametrize("kwargs,match", [
    (dict(rate=-0.1), "rate"), (dict(rate=1.0), "rate"), (dict(rate=1.5), "rate"),
    (dict(rate="0.5"), "rate"), (dict(rate=None), "rate"),
    (dict(rate=0.5, seed=-1), "seed"), (dict(rate=0.5, seed=1.5), "seed"),
    (dict(rate=0.5, noise_shape=3), "noise_shape"),
])
def test_dropout_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.Dropout(**kwargs)


def test_dropout_bad_noise_shape_for_input():
    with pytest.raises(ValueError, match="noise_shape"):
        layers.Dropout(0.5, noise_shape=(None, 3))(np.ones((2, 4)), training=True)
    with pytest.raises(ValueError, match="noise_shape"):
        F.dropout(mdl.tensor(np.ones((2, 4))), 0.5, noise_shape=(2, 4, 1))
    with pytest.raises(ValueError, match="rate"):
        F.dropout(mdl.tensor(np.ones(3)), 1.0)


# -- Add ------------------------------------------------------------------------------
def test_add_values_and_harness(rng):
    xs = [rng.standard_normal((2, 3, 2)) for _ in range(3)]
    y = layers.Add(dtype="float64")(xs)
    np.testing.assert_allclose(y.numpy(), xs[0] + xs[1] + xs[2], rtol=1e-15)
    layer_test(layers.Add, {}, [(2, 3), (2, 3)], expected_output_shape=(2, 3),
               expected_num_trainable_weights=0)
    assert layers.Add().compute_output_shape([(None, 4), (None, 4)]) == (None, 4)


def test_add_gradient_reaches_every_input(rng):
    xs = [mdl.tensor(rng.standard_normal((2, 2)), requires_grad=True) for _ in range(3)]
    (layers.Add(dtype="float64")(xs) * 2).sum().backward()
    for x in xs:
        np.testing.assert_array_equal(x.grad, np.full((2, 2), 2.0))


def test_add_bad_inputs():
    with pytest.raises(ValueError, match=r"input 1 has shape \(2, 4\)"):
        layers.Add()([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(ValueError, match="list"):
        layers.Add()(np.ones((2, 3)))
    # Keras 3 broadcasts inputs of different rank: (2, 3) + (2, 3, 1) -> (2, 3, 3)
    add = layers.Add()
    assert add([np.ones((2, 3)), np.ones((2, 3, 1))]).shape == (2, 3, 3)
