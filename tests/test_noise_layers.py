"""SpatialDropout2D and GaussianNoise (seeded statistics, reproducibility, the identity at
inference, gradients, Keras 3's configs and errors) and the Identity layer."""
import numpy as np
import pytest
import scipy.stats

import minidl as mdl
from minidl import layers
from minidl.testing import layer_test


def _maps_constant(y, data_format):
    """True when every (sample, channel) feature map of ``y`` is constant."""
    maps = y if data_format == "channels_first" else y.transpose(0, 3, 1, 2)
    flat = maps.reshape(maps.shape[0], maps.shape[1], -1)
    return bool((flat == flat[:, :, :1]).all())


# -- SpatialDropout2D ---------------------------------------------------------------------
@pytest.mark.parametrize("rate", [0.25, 0.6])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_spatial_dropout_drops_whole_maps(backend, rate, data_format):
    shape = (100, 3, 2, 40) if data_format == "channels_last" else (100, 40, 3, 2)
    x = np.full(shape, 2.0, np.float32)
    layer = layers.SpatialDropout2D(rate, data_format=data_format)
    y = layer(x, training=True).numpy()
    assert y.dtype == np.float32 and y.shape == shape
    assert _maps_constant(y, data_format)
    assert set(np.unique(y)) <= {0.0, np.float32(2.0 / (1 - rate))}
    per_map = y[:, :, 0, 0] if data_format == "channels_first" else y[:, 0, 0, :]
    dropped = (per_map == 0).mean()
    # 4,000 independent maps: the dropped fraction is within 4.5 standard deviations
    assert abs(dropped - rate) < 4.5 * np.sqrt(rate * (1 - rate) / per_map.size)


def test_spatial_dropout_identity_at_inference():
    x = np.random.default_rng(0).standard_normal((2, 3, 3, 4)).astype(np.float32)
    layer_test(layers.SpatialDropout2D, dict(rate=0.5), (2, 3, 3, 4),
               expected_output_shape=(2, 3, 3, 4), training=False, expected_output=x,
               expected_num_trainable_weights=0)
    for training in (None, False):
        np.testing.assert_array_equal(layers.SpatialDropout2D(0.9)(x, training=training)
                                      .numpy(), x)
    np.testing.assert_array_equal(layers.SpatialDropout2D(0.0)(x, training=True).numpy(), x)


def test_spatial_dropout_gradient_is_the_scaled_mask():
    x = mdl.tensor(np.ones((3, 2, 2, 5)), requires_grad=True)
    y = layers.SpatialDropout2D(0.5, dtype="float64")(x, training=True)
    (y * y).sum().backward()
    np.testing.assert_array_equal(x.grad, 2 * y.numpy() * y.numpy())  # 2 y dy/dx, dy/dx = y


def test_spatial_dropout_reproducible():
    x = np.ones((4, 2, 2, 6), np.float32)
    mdl.random.seed(3)
    a = layers.SpatialDropout2D(0.5)(x, training=True).numpy()
    mdl.random.seed(3)
    b = layers.SpatialDropout2D(0.5)(x, training=True).numpy()
    np.testing.assert_array_equal(a, b)
    one, two = layers.SpatialDropout2D(0.5, seed=7), layers.SpatialDropout2D(0.5, seed=7)
    m1, m2 = one(x, training=True).numpy(), one(x, training=True).numpy()
    np.testing.assert_array_equal(m1, two(x, training=True).numpy())
    assert not np.array_equal(m1, m2)


def test_spatial_dropout_config_is_keras(monkeypatch):
    cfg = layers.SpatialDropout2D(0.3, seed=2).get_config()
    assert set(cfg) == {"rate", "seed", "name", "dtype", "data_format"}  # Keras's keys
    assert (cfg["rate"], cfg["seed"], cfg["data_format"]) == (0.3, 2, "channels_last")
    assert layers.SpatialDropout2D.from_config(cfg).get_config() == cfg
    keras_cfg = {"rate": 0.3, "seed": None, "name": "spatial_dropout2d",
                 "dtype": "float32", "data_format": "channels_first"}
    assert layers.SpatialDropout2D.from_config(keras_cfg).data_format == "channels_first"
    mdl.config.set_image_data_format("channels_first")
    try:
        assert layers.SpatialDropout2D(0.1).data_format == "channels_first"
    finally:
        mdl.config.set_image_data_format("channels_last")
    assert "batch_input_shape" in layers.SpatialDropout2D(0.1, input_shape=(2, 2, 1)) \
        .get_config()


@pytest.mark.parametrize("kwargs,match", [
    (dict(rate=1.0), "rate=1.0"), (dict(rate=-0.1), "rate=-0.1"), (dict(rate="a"), "rate"),
    (dict(rate=0.5, data_format="nhwc"), "data_format='nhwc'"),
    (dict(rate=0.5, seed=-2), "seed=-2"), (dict(rate=0.5, seed=0.5), "seed=0.5"),
])
def test_spatial_dropout_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.SpatialDropout2D(**kwargs)


def test_spatial_dropout_needs_4d_inputs():
    with pytest.raises(ValueError, match=r"4-D.*\(2, 3, 4\)"):
        layers.SpatialDropout2D(0.5)(np.ones((2, 3, 4)), training=True)
    with pytest.raises(TypeError, match="noise_shape"):
        layers.SpatialDropout2D(0.5, noise_shape=(1, 1, 1, 1))


# -- GaussianNoise -------------------------------------------------------------------------
@pytest.mark.parametrize("stddev", [0.1, 1.0])
def test_gaussian_noise_statistics(backend, stddev):
    x = np.full((200, 100), 3.0, np.float32)
    y = layers.GaussianNoise(stddev)(x, training=True).numpy()
    assert y.dtype == np.float32
    noise = (y.astype(np.float64) - 3.0) / stddev
    n = noise.size
    assert abs(noise.mean()) < 4.5 / np.sqrt(n)
    assert abs(noise.std() - 1) < 4.5 / np.sqrt(2 * n)
    assert scipy.stats.kstest(noise.ravel(), "norm").pvalue > 1e-4


def test_gaussian_noise_identity_at_inference_and_float64():
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    layer_test(layers.GaussianNoise, dict(stddev=0.5), (3, 4), training=False,
               expected_output=x, expected_output_shape=(3, 4),
               expected_num_trainable_weights=0)
    for training in (None, False):
        np.testing.assert_array_equal(layers.GaussianNoise(1.0)(x, training=training)
                                      .numpy(), x)
    np.testing.assert_array_equal(layers.GaussianNoise(0.0)(x, training=True).numpy(), x)
    y = layers.GaussianNoise(0.5, dtype="float64")(x.astype(np.float64), training=True)
    assert y.dtype == np.float64 and not np.array_equal(y.numpy(), x)


def test_gaussian_noise_gradient_passes_unchanged():
    x = mdl.tensor(np.ones((4, 5)), requires_grad=True)
    y = layers.GaussianNoise(0.3, dtype="float64")(x, training=True)
    (y * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((4, 5), 2.0))


def test_gaussian_noise_reproducible():
    x = np.zeros((5, 6), np.float32)
    mdl.random.seed(11)
    a = layers.GaussianNoise(0.2)(x, training=True).numpy()
    mdl.random.seed(11)
    b = layers.GaussianNoise(0.2)(x, training=True).numpy()
    np.testing.assert_array_equal(a, b)
    one, two = layers.GaussianNoise(0.2, seed=4), layers.GaussianNoise(0.2, seed=4)
    n1, n2 = one(x, training=True).numpy(), one(x, training=True).numpy()
    np.testing.assert_array_equal(n1, two(x, training=True).numpy())
    assert not np.array_equal(n1, n2)


def test_gaussian_noise_config_and_errors():
    cfg = layers.GaussianNoise(0.1, seed=3).get_config()
    assert set(cfg) == {"name", "trainable", "dtype", "stddev", "seed"}
    assert (cfg["stddev"], cfg["seed"]) == (0.1, 3)
    assert layers.GaussianNoise.from_config(cfg).get_config() == cfg
    for stddev in (-0.1, 1.5, "0.1", None, float("nan")):
        with pytest.raises(ValueError, match=f"stddev={stddev!r}"):
            layers.GaussianNoise(stddev)
    with pytest.raises(ValueError, match="seed=-1"):
        layers.GaussianNoise(0.1, seed=-1)


# -- Identity ------------------------------------------------------------------------------
def test_identity(backend, rng):
    x = rng.standard_normal((2, 3))
    out = layer_test(layers.Identity, {}, input_data=x.astype(np.float32),
                     expected_output=x.astype(np.float32), expected_num_trainable_weights=0)
    assert out.shape == (2, 3)
    assert set(layers.Identity().get_config()) == {"name", "trainable", "dtype"}
    assert layers.Identity().compute_output_shape((None, 4, 5)) == (None, 4, 5)
    t = mdl.tensor(x, requires_grad=True)
    layers.Identity(dtype="float64")(t).sum().backward()
    np.testing.assert_array_equal(t.backend.to_numpy(t.grad), np.ones_like(x))
