"""Preprocessing layers Rescaling and Normalization: values against plain NumPy formulas,
Keras 3's weights (names, shapes, order, dtypes), configs and epsilon rule, ``adapt`` on
arrays and on batches, errors."""
import json

import numpy as np
import pytest

import minidl as mdl
from minidl import layers
from minidl.testing import layer_test

BASE_KEYS = {"name", "trainable", "dtype"}
EPSILON = 1e-7  # Keras's epsilon()


@pytest.fixture
def channels_first():
    mdl.config.set_image_data_format("channels_first")
    yield
    mdl.config.set_image_data_format("channels_last")


# -- Rescaling ----------------------------------------------------------------------------
@pytest.mark.parametrize("scale,offset", [
    (1 / 255, 0.0), (1 / 127.5, -1), ([0.5, 2.0, -1.0], 0.25), (2.0, [0.0, 1.0, 2.0]),
    (np.array([1.0, 2.0, 3.0]), np.float32(0.5)), ((1.0, 0.5, 0.25), (3.0, 2.0, 1.0)),
])
def test_rescaling_values(backend, rng, scale, offset):
    x = rng.standard_normal((2, 4, 3)) * 100
    y = layers.Rescaling(scale, offset, dtype="float64")(x)
    expected = np.empty_like(x)
    s, o = np.broadcast_to(scale, (3,)), np.broadcast_to(offset, (3,))
    for c in range(3):
        expected[..., c] = x[..., c] * s[c] + o[c]
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-14)


def test_rescaling_integer_inputs_give_floats():
    y = layers.Rescaling(1 / 255)(np.array([[0, 51, 255]], dtype=np.uint8))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), [[0.0, 0.2, 1.0]], rtol=1e-6)
    assert layers.Rescaling(2.0, dtype="float64")(np.arange(3)).dtype == np.float64


def test_rescaling_per_channel_channels_first(channels_first, rng):
    x = rng.standard_normal((2, 3, 4, 5))
    y = layers.Rescaling([1.0, 2.0, 3.0], offset=[0.0, -1.0, 1.0], dtype="float64")(x)
    expected = x * np.array([1.0, 2.0, 3.0])[:, None, None] + \
        np.array([0.0, -1.0, 1.0])[:, None, None]
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-14)


def test_rescaling_harness_and_config():
    layer_test(layers.Rescaling, dict(scale=0.5, offset=1.0), (2, 3),
               expected_output_shape=(2, 3), expected_num_trainable_weights=0,
               expected_num_non_trainable_weights=0)
    layer_test(layers.Rescaling, dict(scale=[0.5, 2.0], offset=[1.0, -1.0]), (2, 3, 2))
    layer_test(layers.Rescaling, dict(scale=np.array([0.5, 2.0])), (2, 2))
    cfg = layers.Rescaling(1 / 255).get_config()
    assert set(cfg) == BASE_KEYS | {"scale", "offset"}
    assert (cfg["scale"], cfg["offset"]) == (1 / 255, 0.0)
    # an array is written in Keras's __numpy__ form, and read back from it
    cfg = layers.Rescaling(np.array([1.0, 2.0]), 0.5).get_config()
    assert cfg["scale"] == {"class_name": "__numpy__",
                            "config": {"value": [1.0, 2.0], "dtype": "float64"}}
    json.dumps(cfg)
    rebuilt = layers.Rescaling.from_config(cfg)
    np.testing.assert_allclose(rebuilt(np.ones((1, 2))).numpy(), [[1.5, 2.5]])


@pytest.mark.parametrize("kwargs,match", [
    (dict(scale="half"), "scale='half'"), (dict(scale=None), "scale=None"),
    (dict(scale=1.0, offset=float("inf")), "offset=inf"),
    (dict(scale=[1.0, float("nan")]), "scale"),
])
def test_rescaling_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.Rescaling(**kwargs)


# -- Normalization with given statistics ---------------------------------------------------
def normalize_reference(x, mean, variance, keep, invert=False):
    """Per kept index, ``(x - m) / max(sqrt(v), eps)``; ``mean``/``variance`` are given
    with the shape of the kept axes."""
    out = np.empty_like(x)
    for index in np.ndindex(*x.shape):
        kept = tuple(index[a] for a in keep)
        m, v = mean[kept], variance[kept]
        scale = max(np.sqrt(v), EPSILON)
        out[index] = m + x[index] * scale if invert else (x[index] - m) / scale
    return out


@pytest.mark.parametrize("invert", [False, True])
@pytest.mark.parametrize("axis,mean,variance,keep", [
    (-1, [0.5, -1.0, 2.0], [1.0, 0.25, 4.0], (2,)),
    (None, 0.5, 2.0, ()),
    ((1, 2), [0.5, -1.5, 0.1], [2.0, 0.5, 3.0], (1, 2)),  # broadcast along axis 1
    ((1, 2), [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], np.full((2, 3), 0.3), (1, 2)),
    (1, 3.0, 9.0, (1,)),  # a scalar is broadcast to every kept index
    ([0, -1], [[1.0, 2.0, 3.0]], [[4.0, 1.0, 0.25]], (0, 2)),
])
def test_normalization_given_values(backend, rng, axis, mean, variance, keep, invert):
    x = rng.standard_normal((2, 2, 3))
    layer = layers.Normalization(axis=axis, mean=mean, variance=variance, invert=invert,
                                 dtype="float64")
    kept_shape = tuple(x.shape[a] for a in keep)
    m = np.broadcast_to(mean, kept_shape)
    v = np.broadcast_to(variance, kept_shape)
    np.testing.assert_allclose(layer(x).numpy(), normalize_reference(x, m, v, keep, invert),
                               rtol=1e-13)
    assert layer.weights == []


def test_normalization_epsilon_rule():
    """Keras divides by max(sqrt(variance), epsilon()), not sqrt(variance + epsilon)."""
    layer = layers.Normalization(mean=[0.0, 0.0, 1.0], variance=[0.0, 1e-16, 1e-12],
                                 dtype="float64")
    y = layer(np.array([[1e-7, 2e-7, 1.0 + 3e-6]])).numpy()
    np.testing.assert_allclose(y, [[1.0, 2.0, 3.0]], rtol=1e-8)
    inverse = layers.Normalization(mean=1.0, variance=0.0, invert=True, dtype="float64")
    np.testing.assert_allclose(inverse(np.array([[2.0]])).numpy(), [[1.0 + 2e-7]],
                               rtol=1e-15)


def test_normalization_harness_given():
    out = layer_test(layers.Normalization, dict(mean=[1.0, 2.0], variance=[4.0, 0.25]),
                     (3, 2), expected_output_shape=(3, 2), expected_num_trainable_weights=0,
                     expected_num_non_trainable_weights=0)
    assert out.dtype == np.float32
    layer_test(layers.Normalization, dict(axis=None, mean=1.0, variance=2.0, invert=True),
               (2, 3, 2))


# -- Normalization.adapt -------------------------------------------------------------------
def test_normalization_weights_are_keras():
    layer = layers.Normalization(axis=(1, 3))
    layer.build((None, 2, 5, 3))
    assert [(w.name, w.shape, str(w.dtype), w.trainable) for w in layer.weights] == [
        ("mean", (2, 3), "float32", False), ("variance", (2, 3), "float32", False),
        ("count", (), "int32", False)]
    assert layer.trainable_weights == []
    np.testing.assert_array_equal(layer(np.ones((1, 2, 5, 3))).numpy(), 1.0)  # 0 and 1
    scalar = layers.Normalization(axis=None)
    scalar.build((None, 4))
    assert [w.shape for w in scalar.weights] == [(), (), ()]


@pytest.mark.parametrize("axis,keep", [(-1, (2,)), (None, ()), ((1, 2), (1, 2)), (0, (0,))])
def test_normalization_adapt_on_array(backend, rng, axis, keep):
    data = rng.standard_normal((6, 3, 4)) * 3 + 1
    layer = layers.Normalization(axis=axis, dtype="float64")
    layer.adapt(data)
    reduce = tuple(a for a in range(3) if a not in keep)
    mean, variance = data.mean(axis=reduce), data.var(axis=reduce)
    np.testing.assert_allclose(layer.weights[0].numpy(), mean, rtol=1e-13)
    np.testing.assert_allclose(layer.weights[1].numpy(), variance, rtol=1e-13)
    assert int(layer.weights[2].numpy()) == 0  # Keras's adapt leaves count at 0
    y = layer(data).numpy()
    np.testing.assert_allclose(y.mean(axis=reduce), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=reduce), 1, rtol=1e-12)
    inverse = layers.Normalization(axis=axis, invert=True, dtype="float64")
    inverse.adapt(data)
    np.testing.assert_allclose(inverse(y).numpy(), data, rtol=1e-12)


def test_normalization_adapt_on_batches_merges_exactly(rng):
    data = rng.standard_normal((10, 3)) * [1.0, 10.0, 0.1] + [0.0, 5.0, -2.0]
    whole = layers.Normalization(dtype="float64")
    whole.adapt(data)
    sources = [
        [data[:3], data[3:4], data[4:]],                             # a list of arrays
        ((data[i:i + 4], np.zeros(4)) for i in range(0, 10, 4)),     # (x, y) batches
        [mdl.tensor(data[:5]), mdl.tensor(data[5:])],                # Tensors
        mdl.tensor(data),
    ]
    for source in sources:
        layer = layers.Normalization(dtype="float64")
        layer.adapt(source)
        for w, expected in zip(layer.weights, whole.weights):
            np.testing.assert_allclose(w.numpy(), expected.numpy(), rtol=1e-12)
    float32 = layers.Normalization()
    float32.adapt(data.astype(np.float32))
    assert float32.weights[0].dtype == np.float32
    np.testing.assert_allclose(float32.weights[1].numpy(), data.var(0), rtol=1e-6)


def test_normalization_keras_examples():
    layer = layers.Normalization(axis=None)
    layer.adapt(np.array([1.0, 2.0, 3.0, 4.0, 5.0], np.float32))
    np.testing.assert_allclose(layer(np.array([1.0, 2.0, 3.0])).numpy(),
                               [-1.4142135, -0.70710677, 0.0], rtol=1e-6)
    data = np.array([[0.0, 7.0, 4.0], [2.0, 9.0, 6.0], [0.0, 7.0, 4.0], [2.0, 9.0, 6.0]])
    layer = layers.Normalization(axis=-1, invert=True)
    layer.adapt(data)
    np.testing.assert_allclose(layer(np.array([[1.0, 2.0, 3.0]])).numpy(), [[2, 10, 8]])
    layer = layers.Normalization(mean=3.0, variance=2.0)
    np.testing.assert_allclose(layer(np.array([[1.0], [2.0], [3.0]])).numpy(),
                               [[-1.4142135], [-0.70710677], [0.0]], rtol=1e-6)


def test_normalization_harness_adapted(rng):
    layer_test(layers.Normalization, dict(axis=-1), (4, 3), expected_output_shape=(4, 3),
               expected_num_trainable_weights=0, expected_num_non_trainable_weights=3)
    layer = layers.Normalization()
    layer.adapt(rng.standard_normal((8, 2)) * 2 + 1)
    clone = layers.Normalization.from_config(layer.get_config())
    clone.build((None, 2))
    clone.set_weights(layer.get_weights())
    x = rng.standard_normal((3, 2)).astype(np.float32)
    np.testing.assert_array_equal(clone(x).numpy(), layer(x).numpy())
    mdl.gradcheck.check_layer(layer, x)


def test_normalization_config_is_keras():
    cfg = layers.Normalization().get_config()
    assert set(cfg) == BASE_KEYS | {"axis", "invert", "mean", "variance"}
    assert (cfg["axis"], cfg["invert"], cfg["mean"], cfg["variance"]) == \
        ((-1,), False, None, None)
    cfg = layers.Normalization(axis=None, mean=3, variance=np.float32(2)).get_config()
    assert (cfg["axis"], cfg["mean"], cfg["variance"]) == ((), 3, 2.0)
    cfg = layers.Normalization(axis=[1, 2], mean=np.array([1.0, 2.0]),
                               variance=(1.0, 4.0)).get_config()
    assert (cfg["axis"], cfg["mean"], cfg["variance"]) == ((1, 2), [1.0, 2.0], [1.0, 4.0])
    keras_cfg = json.loads(json.dumps(cfg))  # as a Keras file holds it: lists
    assert layers.Normalization.from_config(keras_cfg).get_config() == cfg


@pytest.mark.parametrize("kwargs,match", [
    (dict(mean=1.0), "mean and variance must be given together"),
    (dict(variance=1.0), "variance=1.0"),
    (dict(mean=[1.0, 2.0], variance=[1.0]), r"same shape.*\(2,\).*\(1,\)"),
    (dict(mean=[[1.0]], variance=[[1.0]]), r"more axes than axis=\(-1,\)"),
    (dict(mean=[0.0, 1.0], variance=[1.0, -1.0]), "variance=.*>= 0"),
    (dict(mean="a", variance=1.0), "mean='a'"),
    (dict(axis="last"), "axis='last'"),
    (dict(axis=[1.5]), r"axis=\[1.5\]"),
])
def test_normalization_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.Normalization(**kwargs)


def test_normalization_bad_inputs_and_adapt():
    with pytest.raises(ValueError, match=r"axis=\(2,\).*\[-2, 2\)"):
        layers.Normalization(axis=2)(np.ones((2, 3)))
    with pytest.raises(ValueError, match="kept axes"):
        layers.Normalization().build((None, None))
    with pytest.raises(ValueError, match="do not broadcast"):
        layers.Normalization(mean=[1.0, 2.0], variance=[1.0, 1.0])(np.ones((2, 3)))
    layer = layers.Normalization()
    layer(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"built for inputs of shape \(2, 3\)"):
        layer(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"adapt\(\) got a batch of shape \(5, 4\)"):
        layer.adapt(np.ones((5, 4)))
    with pytest.raises(ValueError, match="empty iterable"):
        layers.Normalization().adapt([])
    with pytest.raises(TypeError, match="int"):
        layers.Normalization().adapt(3)
    with pytest.raises(TypeError, match="str"):
        layers.Normalization().adapt(["abc"])
    with pytest.raises(ValueError, match="given mean and variance"):
        layers.Normalization(mean=1.0, variance=1.0).adapt(np.ones((2, 1)))
