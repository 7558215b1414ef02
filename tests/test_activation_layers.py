"""Activation layers Softmax, LeakyReLU, PReLU and ELU: the shared harness, values against
slow references written element by element, Keras 3's configs and weights, errors."""
import itertools
import json
import math

import numpy as np
import pytest

import minidl as mdl
from minidl import layers
from minidl.testing import layer_test

BASE_KEYS = {"name", "trainable", "dtype"}


# -- slow references ----------------------------------------------------------------------
def softmax_reference(x, axes):
    """Softmax over ``axes`` with explicit loops over every other index."""
    axes = sorted(a % x.ndim for a in axes)
    others = [a for a in range(x.ndim) if a not in axes]
    out = np.empty_like(x)
    for outer in itertools.product(*(range(x.shape[a]) for a in others)):
        index = [slice(None)] * x.ndim
        for a, i in zip(others, outer):
            index[a] = i
        block = x[tuple(index)]
        total = sum(math.exp(v) for v in block.ravel())
        out[tuple(index)] = np.vectorize(lambda v, total=total: math.exp(v) / total)(block)
    return out


def prelu_reference(x, alpha):
    """``x`` or ``alpha * x`` per element; ``alpha`` indexed with 0 on shared axes."""
    out = np.empty_like(x)
    for index in np.ndindex(*x.shape):
        a = alpha[tuple(i if n > 1 else 0 for i, n in zip(index[1:], alpha.shape))]
        v = x[index]
        out[index] = v if v >= 0 else a * v
    return out


# -- Softmax ------------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [-1, 0, 1, [1, 2], (0, 2), [-1]])
def test_softmax_values(backend, rng, axis):
    x = rng.standard_normal((2, 3, 4)) * 3
    y = layers.Softmax(axis=axis, dtype="float64")(x)
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    np.testing.assert_allclose(y.numpy(), softmax_reference(x, axes), rtol=1e-12)


@pytest.mark.parametrize("axis", [-1, 1, [1, 2]])
def test_softmax_harness(axis):
    out = layer_test(layers.Softmax, dict(axis=axis), (2, 3, 4),
                     expected_output_shape=(2, 3, 4), expected_num_trainable_weights=0,
                     expected_num_non_trainable_weights=0)
    assert out.dtype == np.float32


def test_softmax_config_is_keras():
    cfg = layers.Softmax(axis=[1, 2]).get_config()
    assert set(cfg) == BASE_KEYS | {"axis"} and cfg["axis"] == [1, 2]
    keras_cfg = {"name": "softmax", "trainable": True, "axis": -1,
                 "dtype": {"module": "keras", "class_name": "DTypePolicy",
                           "config": {"name": "float32"}, "registered_name": None}}
    layer = layers.Softmax.from_config(keras_cfg)
    np.testing.assert_allclose(layer(np.array([1.0, 2.0, 1.0])).numpy(),
                               [0.21194157, 0.5761169, 0.21194157], rtol=1e-6)
    assert layer(np.array([1e4, 0.0])).numpy().tolist() == [1.0, 0.0]  # stable


@pytest.mark.parametrize("axis", ["last", 1.5, [], [1, "2"], True])
def test_softmax_bad_axis(axis):
    with pytest.raises(ValueError, match="axis"):
        layers.Softmax(axis=axis)


def test_softmax_axis_out_of_range_and_mask():
    with pytest.raises(ValueError, match=r"axis=3.*\(2, 3\)"):
        layers.Softmax(axis=3)(np.ones((2, 3)))
    layer = layers.Softmax()
    np.testing.assert_allclose(layer(np.zeros((1, 2)), mask=None).numpy(), [[0.5, 0.5]])
    with pytest.raises(ValueError, match="mask=None"):
        layer(np.zeros((1, 2)), mask=np.ones((1, 2), bool))


# -- LeakyReLU ----------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,slope", [({}, 0.3), (dict(negative_slope=0.01), 0.01),
                                          (dict(negative_slope=0), 0.0),
                                          (dict(alpha=0.2), 0.2)])
def test_leaky_relu_values(backend, kwargs, slope):
    x = np.linspace(-4, 4, 17)
    y = layers.LeakyReLU(**kwargs, dtype="float64")(x)
    np.testing.assert_allclose(y.numpy(), [v if v >= 0 else slope * v for v in x],
                               rtol=1e-15)


def test_leaky_relu_harness_and_config():
    layer_test(layers.LeakyReLU, dict(negative_slope=0.1), (3, 4),
               expected_output_shape=(3, 4), expected_num_trainable_weights=0)
    cfg = layers.LeakyReLU().get_config()
    assert set(cfg) == BASE_KEYS | {"negative_slope"} and cfg["negative_slope"] == 0.3
    # Keras 2 wrote the slope as "alpha"
    legacy = layers.LeakyReLU.from_config({"name": "lr", "trainable": True,
                                           "dtype": "float32", "alpha": 0.25})
    assert legacy.negative_slope == 0.25 and "alpha" not in legacy.get_config()


@pytest.mark.parametrize("kwargs", [dict(negative_slope=-0.1), dict(negative_slope=None),
                                    dict(negative_slope="0.1"), dict(alpha=-1.0),
                                    dict(negative_slope=float("nan"))])
def test_leaky_relu_bad_slope(kwargs):
    value = next(iter(kwargs.values()))
    with pytest.raises(ValueError, match=f"negative_slope={value!r}"):
        layers.LeakyReLU(**kwargs)


# -- PReLU --------------------------------------------------------------------------------
@pytest.mark.parametrize("input_shape,shared_axes,alpha_shape", [
    ((2, 3, 4), None, (3, 4)),
    ((2, 3, 4, 5), [1, 2], (1, 1, 5)),
    ((2, 3, 4), 1, (1, 4)),
    ((2, 3, 4, 5), (3,), (3, 4, 1)),
    ((3, 5), [1], (1,)),
])
def test_prelu_weight_shape_and_values(backend, rng, input_shape, shared_axes, alpha_shape):
    layer = layers.PReLU(shared_axes=shared_axes, dtype="float64")
    x = rng.standard_normal(input_shape)
    layer(x)
    assert [(w.name, w.shape, w.trainable) for w in layer.weights] == \
        [("alpha", alpha_shape, True)]
    alpha = rng.standard_normal(alpha_shape)
    layer.set_weights([alpha])
    np.testing.assert_allclose(layer(x).numpy(), prelu_reference(x, alpha), rtol=1e-14)


def test_prelu_starts_as_relu_and_learns():
    x = np.linspace(-2, 2, 9).reshape(1, 9)
    np.testing.assert_array_equal(layers.PReLU(dtype="float64")(x).numpy(),
                                  np.maximum(x, 0))
    layer_test(layers.PReLU, dict(alpha_initializer="random_normal"), (2, 3, 4),
               expected_output_shape=(2, 3, 4), expected_num_trainable_weights=1)
    layer_test(layers.PReLU, dict(alpha_initializer="ones", shared_axes=[1, 2],
                                  alpha_regularizer="l2"), (2, 2, 3, 4),
               expected_num_trainable_weights=1, expected_num_losses=1)


def test_prelu_gradient_of_alpha_is_the_negative_part():
    x = mdl.tensor(np.array([[-2.0, 1.0, -0.5], [3.0, -1.0, 0.0]]), requires_grad=True)
    layer = layers.PReLU(alpha_initializer="ones", shared_axes=None, dtype="float64")
    layer(x).sum().backward()
    np.testing.assert_array_equal(layer.alpha.grad, np.minimum(x.numpy(), 0).sum(0))
    np.testing.assert_array_equal(x.grad, [[1, 1, 1], [1, 1, 0]])  # 0 at 0, as Keras


def test_prelu_config_is_keras():
    cfg = layers.PReLU(shared_axes=2, alpha_constraint="non_neg").get_config()
    assert set(cfg) == BASE_KEYS | {"alpha_initializer", "alpha_regularizer",
                                    "alpha_constraint", "shared_axes"}
    assert cfg["shared_axes"] == [2]
    assert cfg["alpha_initializer"] == {"module": "keras.initializers",
                                        "class_name": "Zeros", "config": {},
                                        "registered_name": None}
    json.dumps(cfg)
    rebuilt = layers.PReLU.from_config(cfg)
    assert rebuilt.get_config() == cfg
    layer = layers.PReLU(alpha_initializer="ones", alpha_constraint="non_neg")
    layer(np.ones((1, 2)))
    layer.alpha.assign(np.array([-1.0, 2.0]))
    mdl.optimizers.SGD(0.0).apply_gradients([(np.zeros(2), layer.alpha)])
    np.testing.assert_array_equal(layer.alpha.numpy(), [0.0, 2.0])


@pytest.mark.parametrize("shared_axes", [0, -1, [1, 0], "1", 1.0, [True]])
def test_prelu_bad_shared_axes(shared_axes):
    with pytest.raises(ValueError, match="shared_axes"):
        layers.PReLU(shared_axes=shared_axes)


def test_prelu_bad_inputs():
    with pytest.raises(ValueError, match=r"shared_axes=\[3\].*< 3"):
        layers.PReLU(shared_axes=3)(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="non-shared axis known"):
        layers.PReLU().build((None, None, 4))
    layers.PReLU(shared_axes=1).build((None, None, 4))  # the unknown axis is shared
    layer = layers.PReLU()
    layer(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(2, 3, 5\)"):
        layer(np.ones((2, 3, 5)))
    shared = layers.PReLU(shared_axes=[1, 2])
    shared(np.ones((1, 2, 2, 3)))
    assert shared(np.ones((2, 5, 7, 3))).shape == (2, 5, 7, 3)  # shared axes may vary


# -- ELU ----------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [1.0, 0.5, 2, -0.3])
def test_elu_values(backend, alpha):
    x = np.linspace(-5, 3, 17)
    y = layers.ELU(alpha=alpha, dtype="float64")(x)
    expected = [v if v > 0 else alpha * math.expm1(v) for v in x]
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-14, atol=1e-16)


def test_elu_harness_config_and_errors():
    layer_test(layers.ELU, dict(alpha=0.7), (3, 4), expected_output_shape=(3, 4))
    cfg = layers.ELU(alpha=0.5).get_config()
    assert set(cfg) == BASE_KEYS | {"alpha"} and cfg["alpha"] == 0.5
    assert layers.ELU().alpha == 1.0
    for alpha in ("1", None, float("inf")):
        with pytest.raises(ValueError, match=f"alpha={alpha!r}"):
            layers.ELU(alpha=alpha)


@pytest.mark.parametrize("cls", [layers.Softmax, layers.LeakyReLU, layers.PReLU,
                                 layers.ELU])
def test_dtype_and_compute_output_shape(cls):
    layer = cls()
    assert layer(np.ones((2, 3), np.float64)).dtype == np.float32  # the layer's dtype
    assert layer.compute_output_shape((None, 3)) == (None, 3)
    assert mdl.layers.deserialize(mdl.layers.serialize(layer)).get_config() == \
        layer.get_config()
