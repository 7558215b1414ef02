"""1-D pooling: MaxPooling1D, AveragePooling1D and GlobalMaxPooling1D (and the ops
max_pool1d / avg_pool1d) against explicit-loop references, gradients, second derivatives,
shapes, aliases, configs and errors."""
import math

import numpy as np
import pytest

import minidl as mdl
from minidl import layers
from minidl.gradcheck import check_double_grad, check_grad
from minidl.ops.pooling import avg_pool1d, max_pool1d
from minidl.testing import layer_test


def reference_pool1d(x, k, s, padding, mode):
    """Loops over every output step of ``(N, L, C)``; "same" windows are clipped to the
    sequence (TensorFlow's rule), average divides by the real step count."""
    n, length, c = x.shape
    if padding == "same":
        out = math.ceil(length / s)
        before = max((out - 1) * s + k - length, 0) // 2
    else:
        out, before = (length - k) // s + 1, 0
    y = np.zeros((n, out, c))
    for t in range(out):
        start = t * s - before
        window = x[:, max(start, 0):min(start + k, length)]
        y[:, t] = window.max(axis=1) if mode == "max" else window.mean(axis=1)
    return y


CASES = [  # (input shape NLC, pool_size, strides, padding)
    ((2, 7, 3), 2, None, "valid"),
    ((2, 7, 3), 3, 2, "same"),
    ((1, 5, 2), 4, 1, "same"),
    ((2, 6, 2), 3, 1, "valid"),
    ((1, 5, 2), 2, 3, "same"),    # stride longer than the pool
    ((1, 2, 3), 3, 1, "same"),    # pool longer than the sequence
]


def _ncl(x):
    return np.ascontiguousarray(x.transpose(0, 2, 1))


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("shape,k,s,padding", CASES)
def test_forward_matches_loops(backend, rng, mode, shape, k, s, padding):
    x = rng.standard_normal(shape)
    expected = reference_pool1d(x, k, s or k, padding, mode)
    fn = max_pool1d if mode == "max" else avg_pool1d
    np.testing.assert_allclose(fn(mdl.tensor(x), k, s, padding, "channels_last").numpy(),
                               expected, rtol=1e-13, atol=1e-14)
    y_cf = fn(mdl.tensor(_ncl(x)), (k,), s, padding.upper(), "channels_first")
    np.testing.assert_allclose(y_cf.numpy(), _ncl(expected), rtol=1e-13, atol=1e-14)
    cls = layers.MaxPooling1D if mode == "max" else layers.AveragePooling1D
    layer = cls(k, s, padding, data_format="channels_first", dtype="float64")
    np.testing.assert_allclose(layer(_ncl(x)).numpy(), _ncl(expected), rtol=1e-13,
                               atol=1e-14)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("shape,k,s,padding", CASES[:4])
def test_gradients(rng, mode, shape, k, s, padding):
    fn = max_pool1d if mode == "max" else avg_pool1d
    x = rng.standard_normal(shape)
    check_grad(lambda t: fn(t, k, s, padding), [x])
    check_grad(lambda t: fn(t, k, s, padding, "channels_first"), [_ncl(x)])


def test_second_derivatives(rng):
    x = rng.standard_normal((1, 6, 2))
    check_double_grad(lambda t: avg_pool1d(t, 3, 2, "same") ** 2, [x])
    check_double_grad(lambda t: max_pool1d(t, 2, 1, "valid") ** 3, [x])


def test_same_average_excludes_the_padding():
    y = avg_pool1d(mdl.tensor(np.ones((1, 5, 1))), 4, 1, "same")
    np.testing.assert_array_equal(y.numpy(), np.ones((1, 5, 1)))


def test_max_gradient_goes_to_the_first_maximum():
    x = mdl.tensor(np.array([[[1.0], [1.0], [0.0], [2.0]]]), requires_grad=True)
    max_pool1d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad[0, :, 0], [1.0, 0.0, 0.0, 1.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype):
    x = np.ones((1, 4, 2), dtype)
    assert layers.MaxPooling1D(dtype=dtype)(x).dtype == dtype
    assert layers.AveragePooling1D(3, 2, "same", dtype=dtype)(x).dtype == dtype
    assert layers.GlobalMaxPooling1D(dtype=dtype)(x).dtype == dtype


@pytest.mark.parametrize("cls,kwargs,shape,expected", [
    (layers.MaxPooling1D, {}, (2, 5, 3), (2, 2, 3)),
    (layers.MaxPooling1D, dict(pool_size=3, strides=2, padding="same"), (2, 5, 3),
     (2, 3, 3)),
    (layers.MaxPooling1D, dict(data_format="channels_first"), (2, 3, 4), (2, 3, 2)),
    (layers.AveragePooling1D, dict(pool_size=2), (2, 5, 3), (2, 2, 3)),
    (layers.AveragePooling1D, dict(pool_size=3, strides=1, padding="same",
                                   data_format="channels_first"), (2, 3, 4), (2, 3, 4)),
    (layers.GlobalMaxPooling1D, {}, (2, 4, 3), (2, 3)),
    (layers.GlobalMaxPooling1D, dict(keepdims=True), (2, 4, 3), (2, 1, 3)),
    (layers.GlobalMaxPooling1D, dict(data_format="channels_first", keepdims=True),
     (2, 3, 4), (2, 3, 1)),
])
def test_harness(cls, kwargs, shape, expected):
    layer_test(cls, kwargs, shape, expected_output_shape=expected,
               expected_num_trainable_weights=0, expected_num_non_trainable_weights=0)


def test_global_max_pooling1d_values_and_ties(rng):
    x = rng.standard_normal((2, 5, 3))
    y = layers.GlobalMaxPooling1D(dtype="float64")(x)
    expected = np.array([[max(x[b, :, c]) for c in range(3)] for b in range(2)])
    np.testing.assert_array_equal(y.numpy(), expected)
    y = layers.GlobalMaxPooling1D(data_format="channels_first", dtype="float64")(_ncl(x))
    np.testing.assert_array_equal(y.numpy(), expected)
    t = mdl.tensor(np.array([[[2.0], [1.0], [2.0]]]), requires_grad=True)
    layers.GlobalMaxPooling1D(dtype="float64")(t).sum().backward()
    np.testing.assert_array_equal(t.grad[0, :, 0], [0.5, 0.0, 0.5])   # as JAX's max


def test_output_shapes_with_unknown_sizes():
    assert layers.MaxPooling1D(3, 2, "same").compute_output_shape((None, 7, 2)) == \
        (None, 4, 2)
    assert layers.MaxPooling1D().compute_output_shape((None, None, 2)) == (None, None, 2)
    assert layers.AveragePooling1D(2, data_format="channels_first") \
        .compute_output_shape((None, 3, 9)) == (None, 3, 4)
    assert layers.GlobalMaxPooling1D().compute_output_shape((None, None, 5)) == (None, 5)


def test_aliases_signatures_and_configs():
    assert layers.MaxPool1D is layers.MaxPooling1D
    assert layers.AvgPool1D is layers.AveragePooling1D
    assert layers.GlobalMaxPool1D is layers.GlobalMaxPooling1D
    assert isinstance(layers.get("MaxPool1D"), layers.MaxPooling1D)
    assert isinstance(layers.get({"module": "keras.layers", "class_name": "GlobalMaxPool1D",
                                  "config": {}}),
                      layers.GlobalMaxPooling1D)
    with pytest.raises(TypeError):
        layers.AveragePooling1D()   # pool_size is required, as in Keras 3
    config = layers.MaxPooling1D().get_config()
    assert config["pool_size"] == (2,) and config["strides"] == (2,)
    assert set(config) == {"name", "trainable", "dtype", "pool_size", "padding", "strides",
                           "data_format"}
    assert set(layers.GlobalMaxPooling1D().get_config()) == {
        "name", "trainable", "dtype", "data_format", "keepdims"}
    clone = layers.AveragePooling1D.from_config(
        {"name": "p", "pool_size": [3], "strides": [2], "padding": "same",
         "data_format": "channels_first"})
    assert clone.pool_size == (3,) and clone.strides == (2,) and clone.padding == "same"


def test_errors():
    with pytest.raises(ValueError, match="pool_size"):
        layers.MaxPooling1D(0)
    with pytest.raises(ValueError, match="pool_size"):
        layers.MaxPooling1D((2, 2))
    with pytest.raises(ValueError, match="strides"):
        layers.AveragePooling1D(2, strides=-1)
    with pytest.raises(ValueError, match="padding='full'"):
        layers.MaxPooling1D(padding="full")
    with pytest.raises(ValueError, match="data_format"):
        layers.GlobalMaxPooling1D(data_format="ncl")
    with pytest.raises(ValueError, match="keepdims"):
        layers.GlobalMaxPooling1D(keepdims="yes")
    with pytest.raises(ValueError, match=r"expects a 3-D input \(N, L, C\)"):
        layers.MaxPooling1D()(np.ones((1, 4, 4, 1)))
    with pytest.raises(ValueError, match=r"expects a 3-D input \(N, C, L\)"):
        layers.GlobalMaxPooling1D(data_format="channels_first")(np.ones((1, 4)))
    with pytest.raises(ValueError, match="too small for pool_size"):
        layers.AveragePooling1D(5)(np.ones((1, 4, 2)))
    with pytest.raises(ValueError, match="3-D input"):
        max_pool1d(mdl.tensor(np.ones((1, 4, 4, 1))), 2)
