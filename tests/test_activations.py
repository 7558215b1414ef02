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


# -- every activation Keras 3 ships: kinks, second derivatives, Keras's definitions --------
def _np_glu(x, axis=-1):
    a, b = np.split(x, 2, axis=axis)
    return a / (1 + np.exp(-b))


def _np_sparse_plus(x):
    out = np.empty_like(x)
    for i, v in np.ndenumerate(x):  # one branch per element, as the definition reads
        out[i] = 0.0 if v <= -1 else v if v >= 1 else (v + 1) ** 2 / 4
    return out


KERAS_REFERENCES = {
    "glu": _np_glu,
    "tanh_shrink": lambda x: x - np.tanh(x),
    "soft_shrink": lambda x: np.sign(x) * np.maximum(np.abs(x) - 0.5, 0),
    "hard_shrink": lambda x: np.where(np.abs(x) > 0.5, x, 0),
    "squareplus": lambda x: (x + np.hypot(x, 2.0)) / 2,
    "sparse_plus": _np_sparse_plus,
    "sparse_sigmoid": lambda x: np.minimum(np.maximum(x + 1, 0), 2) / 2,
    "hard_swish": lambda x: x * np.clip(x + 3, 0, 6) / 6,
    "swish": lambda x: x * _np_sigmoid(x),
}

# kinks of the piecewise definitions: 0, +-0.5 (shrinks), +-1 (sparse_*, hard_tanh), -3
# and 3 (hard_sigmoid, hard_silu), 6 (relu6); a grid on both sides of each, 1e-3 away
# (central differences use eps = 1e-6, so they never straddle a kink)
KINKS = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 6.0])
NEAR_KINKS = np.sort(np.concatenate([KINKS - 1e-3, KINKS + 1e-3])).reshape(2, 8)

ELEMENTWISE = sorted(set(REFERENCES) - {"softmax", "log_softmax"} |
                     set(KERAS_REFERENCES) - {"glu"})


@pytest.mark.parametrize("name", sorted(KERAS_REFERENCES))
def test_keras_forward_matches_formula(backend, name):
    out = A.get(name)(mdl.tensor(X))
    assert out.backend == backend and out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), KERAS_REFERENCES[name](X), rtol=1e-12,
                               atol=1e-14)
    out32 = A.get(name)(mdl.tensor(X.astype(np.float32)))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32.numpy(), KERAS_REFERENCES[name](X), rtol=2e-6,
                               atol=1e-6)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_values_and_gradients_around_kinks(name):
    fn = A.get(name)
    reference = {**REFERENCES, **KERAS_REFERENCES}[name]
    np.testing.assert_allclose(fn(NEAR_KINKS).numpy(), reference(NEAR_KINKS), rtol=1e-12,
                               atol=1e-14)
    check_grad(fn, [NEAR_KINKS])


PIECEWISE_LINEAR = {"relu", "relu6", "leaky_relu", "hard_sigmoid", "hard_tanh",
                    "soft_shrink", "hard_shrink", "sparse_sigmoid", "linear"}


@pytest.mark.parametrize("name", sorted(set(ELEMENTWISE) - PIECEWISE_LINEAR) +
                         ["glu", "softmax", "log_softmax"])
def test_second_derivative_of_every_activation(name):
    check_double_grad(A.get(name), [X])
    check_double_grad(A.get(name), [NEAR_KINKS])


@pytest.mark.parametrize("name", sorted(PIECEWISE_LINEAR))
def test_piecewise_linear_second_derivative_is_zero(name):
    """The first derivative, taped with create_graph=True, is a constant of x: the
    second derivative is 0 away from the kinks."""
    x = mdl.tensor(NEAR_KINKS, requires_grad=True)
    (g,) = mdl.grad(A.get(name)(x).sum(), [x], create_graph=True)
    if g.requires_grad:
        (gg,) = mdl.grad(g.sum(), [x], allow_unused=True)
        assert gg is None or not np.any(gg.numpy())


@pytest.mark.parametrize("name", ["hard_sigmoid", "hard_silu", "relu6", "sparse_plus",
                                  "soft_shrink", "hard_shrink", "sparse_sigmoid"])
def test_piecewise_derivatives_match_their_definition(name):
    """The tape's derivative equals the derivative of each piece, away from the kinks."""
    x = mdl.tensor(NEAR_KINKS, requires_grad=True)
    A.get(name)(x).sum().backward()
    v = NEAR_KINKS
    expected = {
        "hard_sigmoid": ((v > -3) & (v < 3)) / 6.0,
        "hard_silu": np.where(v <= -3, 0, np.where(v >= 3, 1, (2 * v + 3) / 6)),
        "relu6": ((v > 0) & (v < 6)) * 1.0,
        "sparse_plus": np.where(v <= -1, 0, np.where(v >= 1, 1, (v + 1) / 2)),
        "soft_shrink": (np.abs(v) > 0.5) * 1.0,
        "hard_shrink": (np.abs(v) > 0.5) * 1.0,
        "sparse_sigmoid": (np.abs(v) < 1) * 0.5,
    }[name]
    np.testing.assert_allclose(x.grad, expected, rtol=1e-12, atol=1e-15)


def test_gelu_string_is_keras_exact_form():
    """Keras 3's ``activations.gelu`` defaults to ``approximate=False`` (the erf form),
    and so does the string "gelu"."""
    x = np.linspace(-4, 4, 17)
    exact = 0.5 * x * (1 + scipy.special.erf(x / np.sqrt(2)))
    np.testing.assert_allclose(A.get("gelu")(x).numpy(), exact, rtol=1e-14, atol=1e-16)
    tanh_form = A.gelu(x, approximate=True).numpy()
    assert np.abs(tanh_form - exact).max() > 1e-5  # the two forms really differ
    check_double_grad(lambda t: A.gelu(t, approximate=True), [X])
    # d/dx of x Phi(x) is Phi(x) + x phi(x)
    t = mdl.tensor(x, requires_grad=True)
    A.gelu(t).sum().backward()
    pdf = np.exp(-x * x / 2) / np.sqrt(2 * np.pi)
    np.testing.assert_allclose(t.grad, 0.5 * (1 + scipy.special.erf(x / np.sqrt(2)))
                               + x * pdf, rtol=1e-13, atol=1e-15)


def test_hard_sigmoid_is_keras3_relu6_form():
    """Keras 3: relu6(x + 3) / 6, i.e. slope 1/6 and saturation at +-3 (Keras 2 used
    0.2 x + 0.5)."""
    x = np.array([-3.5, -3.0, -1.5, 0.0, 1.5, 3.0, 3.5])
    np.testing.assert_allclose(A.hard_sigmoid(x).numpy(),
                               [0, 0, 0.25, 0.5, 0.75, 1, 1], rtol=1e-15)
    np.testing.assert_allclose(A.hard_swish(x).numpy(), x * [0, 0, 0.25, 0.5, 0.75, 1, 1],
                               rtol=1e-15)


def test_glu_axis_and_gradient():
    x = np.random.default_rng(3).standard_normal((4, 3, 2))
    for axis in (0, 2, -1, -3):
        np.testing.assert_allclose(A.glu(x, axis=axis).numpy(), _np_glu(x, axis),
                                   rtol=1e-13)
        check_grad(lambda t, axis=axis: A.glu(t, axis=axis), [x])
    assert A.glu(x, axis=0).shape == (2, 3, 2)


def test_options_of_keras_activations():
    x = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(A.soft_shrink(x, threshold=1.0).numpy(),
                               np.sign(x) * np.maximum(np.abs(x) - 1, 0), rtol=1e-14)
    np.testing.assert_allclose(A.hard_shrink(x, threshold=1.2).numpy(),
                               np.where(np.abs(x) > 1.2, x, 0), rtol=1e-14)
    np.testing.assert_allclose(A.squareplus(x, b=0.5).numpy(),
                               (x + np.sqrt(x * x + 0.5)) / 2, rtol=1e-14)
    np.testing.assert_allclose(A.threshold(x, 0.5, -2.0).numpy(),
                               np.where(x > 0.5, x, -2.0), rtol=1e-14)
    check_grad(lambda t: A.threshold(t, 0.25, 3.0), [X])
    check_grad(lambda t: A.squareplus(t, b=0.5), [X])
    assert A.threshold(x.astype(np.float32), 0.5, -2.0).dtype == np.float32


@pytest.mark.parametrize("call,match", [
    (lambda: A.glu(np.ones((2, 3))), "even"),
    (lambda: A.glu(np.ones((2, 4)), axis=2), "axis=2"),
    (lambda: A.glu(np.ones((2, 4)), axis=1.0), "axis=1.0"),
    (lambda: A.soft_shrink(X, threshold=-0.1), "threshold=-0.1"),
    (lambda: A.hard_shrink(X, threshold="big"), "threshold='big'"),
    (lambda: A.squareplus(X, b=-1), "b=-1"),
    (lambda: A.threshold(X, None, 0.0), "threshold=None"),
    (lambda: A.threshold(X, 0.0, float("nan")), "default_value=nan"),
    (lambda: A.elu(X, alpha=float("inf")), "alpha=inf"),
])
def test_bad_arguments_name_the_value(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_every_keras3_activation_name_is_known():
    keras3 = {"relu", "leaky_relu", "relu6", "softmax", "celu", "elu", "selu", "softplus",
              "softsign", "squareplus", "soft_shrink", "sparse_plus", "silu", "gelu", "glu",
              "tanh", "tanh_shrink", "threshold", "sigmoid", "sparse_sigmoid",
              "exponential", "hard_sigmoid", "hard_silu", "hard_tanh", "hard_shrink",
              "linear", "mish", "log_softmax", "log_sigmoid", "swish", "hard_swish"}
    for name in keras3:
        fn = A.get(name)
        canonical = {"swish": "silu", "hard_swish": "hard_silu"}.get(name, name)
        assert A.serialize(fn) == canonical
        assert A.deserialize(A.serialize(fn)) is fn
    with pytest.raises(ValueError, match="sparsemax"):  # Keras's sparsemax is not offered
        A.get("sparsemax")
