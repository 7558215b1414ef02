"""Activations: values against independent formulas, float64 gradients, dtype, lookup."""
import math

import numpy as np
import pytest
import scipy.special

import minidl as mdl
from minidl import activations as A
from minidl.gradcheck import check_double_grad, check_grad

SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _np_softplus(x):
    return np.log1p(np.exp(x))


def _np_elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * (np.exp(x) - 1))


def _np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_gelu_exact(x):
    return np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x.ravel()]) \
        .reshape(x.shape)


REFERENCES = {
    "relu": lambda x: np.maximum(x, 0),
    "relu6": lambda x: np.minimum(np.maximum(x, 0), 6),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "elu": _np_elu,
    "selu": lambda x: SELU_SCALE * _np_elu(x, SELU_ALPHA),
    "celu": lambda x: np.maximum(x, 0) + np.minimum(0, np.exp(x) - 1),
    "sigmoid": _np_sigmoid,
    "hard_sigmoid": lambda x: np.clip(x + 3, 0, 6) / 6,
    "hard_silu": lambda x: x * np.clip(x + 3, 0, 6) / 6,
    "hard_tanh": lambda x: np.clip(x, -1, 1),
    "tanh": np.tanh,
    "softmax": _np_softmax,
    "log_softmax": lambda x: np.log(_np_softmax(x)),
    "softplus": _np_softplus,
    "log_sigmoid": lambda x: np.log(_np_sigmoid(x)),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "silu": lambda x: x * _np_sigmoid(x),
    "gelu": _np_gelu_exact,
    "mish": lambda x: x * np.tanh(_np_softplus(x)),
    "exponential": np.exp,
    "linear": lambda x: x,
}

# points away from the kinks (0, -3, 3, 6, +-1) so central differences are exact enough
X = np.array([[-7.1, -3.4, -2.2, -0.7, -0.3, 0.2], [0.45, 0.9, 1.3, 2.6, 4.1, 6.7]])


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_forward_matches_formula(backend, name):
    fn = A.get(name)
    out = fn(mdl.tensor(X))
    assert out.backend == backend and out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), REFERENCES[name](X), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_float32_stays_float32(name):
    out = A.get(name)(mdl.tensor(X.astype(np.float32)))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), REFERENCES[name](X), rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_gradient_float64(name):
    fn = A.get(name)
    check_grad(fn, [X])
    if name in ("gelu", "elu", "softplus", "silu", "mish", "selu"):
        check_grad(fn, [X[:1]], method="scipy")


@pytest.mark.parametrize("name", ["gelu", "elu", "softplus", "silu", "mish"])
def test_second_derivative(name):
    check_double_grad(A.get(name), [X[:, 1:4]])


def test_gelu_tanh_form_and_erf():
    t = np.tanh(math.sqrt(2 / math.pi) * (X + 0.044715 * X ** 3))
    np.testing.assert_allclose(A.gelu(X, approximate=True).numpy(), 0.5 * X * (1 + t),
                               rtol=1e-12)
    check_grad(lambda x: A.gelu(x, approximate=True), [X])
    np.testing.assert_allclose(mdl.functional.erf(X).numpy(), scipy.special.erf(X),
                               rtol=1e-14)
    check_grad(mdl.functional.erf, [X * 0.5])


@pytest.mark.parametrize("kwargs,expected", [
    ({}, lambda x: np.maximum(x, 0)),
    ({"negative_slope": 0.1}, lambda x: np.where(x > 0, x, 0.1 * x)),
    ({"max_value": 2.0}, lambda x: np.clip(x, 0, 2)),
    ({"max_value": 6}, lambda x: np.clip(x, 0, 6)),
    ({"threshold": 1.0}, lambda x: np.where(x > 1, x, 0)),
    ({"negative_slope": 0.5, "threshold": 1.0, "max_value": 3.0},
     lambda x: np.where(x > 1, np.minimum(x, 3), 0.5 * (x - 1))),
    ({"negative_slope": 0.3, "max_value": 4.0},
     lambda x: np.where(x > 0, np.minimum(x, 4), 0.3 * x)),
])
def test_relu_keras_options(kwargs, expected):
    np.testing.assert_allclose(A.relu(X, **kwargs).numpy(), expected(X), rtol=1e-12)
    check_grad(lambda x: A.relu(x, **kwargs), [X])


def test_relu_bad_arguments():
    with pytest.raises(ValueError, match="negative_slope"):
        A.relu(X, negative_slope=-1)
    with pytest.raises(ValueError, match="max_value"):
        A.relu(X, max_value=-2.0)
    with pytest.raises(ValueError, match="alpha"):
        A.elu(X, alpha="big")
    with pytest.raises(ValueError, match="alpha"):
        A.celu(X, alpha=0.0)


def test_options_of_other_activations():
    np.testing.assert_allclose(A.leaky_relu(X, negative_slope=0.01).numpy(),
                               np.where(X > 0, X, 0.01 * X), rtol=1e-12)
    np.testing.assert_allclose(A.elu(X, alpha=0.5).numpy(), _np_elu(X, 0.5), rtol=1e-12)
    np.testing.assert_allclose(A.softmax(X, axis=0).numpy(), _np_softmax(X, 0), rtol=1e-12)
    check_grad(lambda x: A.softmax(x, axis=0), [X])


def test_stable_at_extremes():
    big = np.array([-1000.0, -50.0, 50.0, 1000.0], dtype=np.float32)
    for name in ("sigmoid", "softplus", "log_sigmoid", "silu", "gelu", "mish", "softsign",
                 "elu", "selu", "softmax", "log_softmax", "hard_sigmoid"):
        out = A.get(name)(big).numpy()
        assert np.all(np.isfinite(out)), name
    np.testing.assert_allclose(A.softplus(big).numpy(), [0, 0, 50, 1000], atol=1e-6)
    np.testing.assert_allclose(A.mish(big).numpy(), [0, 0, 50, 1000], atol=1e-6)


def test_get_serialize_deserialize():
    assert A.get(None) is A.linear and A.get("linear") is A.linear
    assert A.get("swish") is A.silu and A.get("hard_swish") is A.hard_silu
    assert A.get("LeakyReLU".lower()) is A.leaky_relu
    assert A.serialize(A.get("relu")) == "relu" and A.serialize(None) == "linear"
    assert A.serialize(A.swish) == "silu"
    keras_fn = {"module": "keras.activations", "class_name": "function",
                "config": "gelu", "registered_name": "function"}
    assert A.get(keras_fn) is A.gelu and A.deserialize("tanh") is A.tanh

    def custom(x):
        return x * 2
    assert A.get(custom) is custom
    assert A.get("custom", custom_objects={"custom": custom}) is custom
    with pytest.raises(ValueError, match="Unknown activation: 'rleu'.*relu"):
        A.get("rleu")
    with pytest.raises(ValueError, match="Could not interpret"):
        A.get(3)


def test_exported_from_functional():
    F = mdl.functional
    for name in ("gelu", "silu", "swish", "mish", "elu", "selu", "leaky_relu", "relu6",
                 "softplus", "softsign", "hard_sigmoid", "exponential", "erf"):
        assert callable(getattr(F, name)), name
