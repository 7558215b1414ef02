"""Every core op: float64 gradients against central differences (and scipy on a subset),
second derivatives, forward values against NumPy, on each backend."""
import numpy as np
import pytest

import minidl as mdl
import minidl.functional as F
from minidl.gradcheck import check_double_grad, check_grad


def positive(shape):
    return lambda rng: rng.uniform(0.5, 2.0, shape)


def normal(shape):
    return lambda rng: rng.standard_normal(shape)


def spread(shape):
    """Values whose pairwise gaps are large, so max/min/abs/relu/clip have no ties or kinks
    within the finite-difference step."""
    def make(rng):
        n = int(np.prod(shape))
        values = (rng.permutation(n) - n / 2 + 0.5) * 0.37
        return values.reshape(shape)
    return make


# name, function, input makers, NumPy reference for the forward
OPS = [
    ("add_broadcast", lambda a, b: a + b, [normal((2, 3, 4)), normal((3, 1))], np.add),
    ("sub_broadcast", lambda a, b: a - b, [normal((4,)), normal((2, 3, 4))], np.subtract),
    ("mul_broadcast", lambda a, b: a * b, [normal((2, 1, 4)), normal((3, 1))], np.multiply),
    ("div_broadcast", lambda a, b: a / b, [normal((2, 3)), positive((3,))], np.divide),
    ("scalar_ops", lambda a: (2.0 - a) * 3.0 / (a + 4.0), [positive((3, 2))],
     lambda a: (2.0 - a) * 3.0 / (a + 4.0)),
    ("rdiv", lambda a: 1.5 / a, [positive((5,))], lambda a: 1.5 / a),
    ("pow_scalar", lambda a: a ** 3, [normal((2, 3))], lambda a: a ** 3),
    ("pow_fractional", lambda a: a ** 0.5, [positive((4,))], np.sqrt),
    ("pow_tensor", lambda a, b: a ** b, [positive((2, 3)), normal((3,))], np.power),
    ("rpow", lambda a: 2.0 ** a, [normal((3,))], lambda a: 2.0 ** a),
    ("neg", lambda a: -a, [normal((2, 2))], np.negative),
    ("exp", F.exp, [normal((2, 3))], np.exp),
    ("log", F.log, [positive((2, 3))], np.log),
    ("sqrt", F.sqrt, [positive((4,))], np.sqrt),
    ("abs", F.abs, [spread((2, 3))], np.abs),
    ("tanh", F.tanh, [normal((2, 3))], np.tanh),
    ("sigmoid", F.sigmoid, [normal((2, 3))], lambda a: 1 / (1 + np.exp(-a))),
    ("relu", F.relu, [spread((3, 4))], lambda a: np.maximum(a, 0)),
    ("maximum", F.maximum, [spread((2, 3)), spread((3,))], np.maximum),
    ("minimum", F.minimum, [spread((3,)), spread((2, 3))], np.minimum),
    ("clip", lambda a: F.clip(a, -0.5, 0.7), [spread((3, 4))],
     lambda a: np.clip(a, -0.5, 0.7)),
    ("where", lambda a, b: F.where(a.data > 0, a, b), [spread((2, 3)), normal((3,))],
     lambda a, b: np.where(a > 0, a, b)),
    ("matmul_2d", lambda a, b: a @ b, [normal((3, 4)), normal((4, 2))], np.matmul),
    ("matmul_batched_broadcast", lambda a, b: a @ b, [normal((2, 3, 4)), normal((4, 5))],
     np.matmul),
    ("matmul_vec_left", lambda a, b: a @ b, [normal((4,)), normal((2, 4, 3))], np.matmul),
    ("matmul_vec_right", lambda a, b: a @ b, [normal((2, 3, 4)), normal((4,))], np.matmul),
    ("sum_all", lambda a: a.sum(), [normal((2, 3))], np.sum),
    ("sum_axis", lambda a: a.sum(axis=1), [normal((2, 3, 4))], lambda a: a.sum(axis=1)),
    ("sum_axes_keepdims", lambda a: a.sum(axis=(0, 2), keepdims=True), [normal((2, 3, 4))],
     lambda a: a.sum(axis=(0, 2), keepdims=True)),
    ("mean_neg_axis", lambda a: a.mean(axis=-1), [normal((2, 5))], lambda a: a.mean(-1)),
    ("mean_keepdims", lambda a: a.mean(axis=0, keepdims=True), [normal((3, 2))],
     lambda a: a.mean(0, keepdims=True)),
    ("max_axis", lambda a: a.max(axis=1), [spread((3, 4))], lambda a: a.max(1)),
    ("max_keepdims", lambda a: a.max(axis=0, keepdims=True), [spread((3, 4))],
     lambda a: a.max(0, keepdims=True)),
    ("min_all", lambda a: a.min(), [spread((3, 4))], np.min),
    ("var_axis", lambda a: a.var(axis=0), [normal((4, 3))], lambda a: a.var(0)),
    ("var_keepdims", lambda a: F.var(a, axis=1, keepdims=True), [normal((2, 5))],
     lambda a: a.var(1, keepdims=True)),
    ("logsumexp", lambda a: F.logsumexp(a, axis=1), [normal((2, 4))],
     lambda a: np.log(np.exp(a).sum(1))),
    ("softmax", lambda a: F.softmax(a, axis=1), [normal((2, 3, 2))],
     lambda a: np.exp(a) / np.exp(a).sum(1, keepdims=True)),
    ("log_softmax", F.log_softmax, [normal((3, 4))],
     lambda a: a - np.log(np.exp(a).sum(-1, keepdims=True))),
    ("reshape", lambda a: a.reshape(3, -1), [normal((2, 3, 2))],
     lambda a: a.reshape(3, -1)),
    ("transpose", lambda a: a.transpose(2, 0, 1), [normal((2, 3, 4))],
     lambda a: a.transpose(2, 0, 1)),
    ("T", lambda a: a.T, [normal((2, 3))], lambda a: a.T),
    ("getitem_basic", lambda a: a[1:, ::2, None, -1], [normal((3, 4, 2))],
     lambda a: a[1:, ::2, None, -1]),
    ("getitem_int_array_repeats", lambda a: a[np.array([0, 2, 0, 0])], [normal((3, 2))],
     lambda a: a[np.array([0, 2, 0, 0])]),
    ("getitem_pairs", lambda a: a[np.array([0, 1, 1]), np.array([2, 0, 2])],
     [normal((2, 3))], lambda a: a[np.array([0, 1, 1]), np.array([2, 0, 2])]),
    ("concatenate", lambda a, b: F.concatenate([a, b, a], axis=1),
     [normal((2, 1)), normal((2, 3))], lambda a, b: np.concatenate([a, b, a], 1)),
    ("stack", lambda a, b: F.stack([a, b], axis=-1), [normal((2, 3)), normal((2, 3))],
     lambda a, b: np.stack([a, b], -1)),
    ("pad", lambda a: F.pad(a, ((1, 0), (2, 1))), [normal((2, 3))],
     lambda a: np.pad(a, ((1, 0), (2, 1)))),
    ("broadcast_to", lambda a: F.broadcast_to(a, (2, 3, 4)), [normal((3, 1))],
     lambda a: np.broadcast_to(a, (2, 3, 4))),
    ("sum_to", lambda a: F.sum_to(a, (3, 1)), [normal((2, 3, 4))],
     lambda a: a.sum(axis=(0, 2)).reshape(3, 1)),
    ("squeeze_expand", lambda a: F.expand_dims(F.squeeze(a, 1), 0), [normal((2, 1, 3))],
     lambda a: a.squeeze(1)[None]),
]
IDS = [op[0] for op in OPS]
# linear ops (zero second derivative) and ops with kinks are left out here
SMOOTH = {"mul_broadcast", "div_broadcast", "scalar_ops",
          "rdiv", "pow_scalar", "pow_fractional", "pow_tensor", "rpow", "exp", "log",
          "sqrt", "tanh", "sigmoid", "matmul_batched_broadcast", "matmul_vec_left",
          "var_axis", "logsumexp", "softmax", "log_softmax"}


def _inputs(makers, seed=0):
    rng = np.random.default_rng(seed)
    return [make(rng) for make in makers]


@pytest.mark.parametrize("name,fn,makers,reference", OPS, ids=IDS)
def test_forward_matches_numpy(backend, name, fn, makers, reference):
    arrays = _inputs(makers)
    out = fn(*[mdl.tensor(a) for a in arrays])
    np.testing.assert_allclose(out.numpy(), reference(*arrays), rtol=1e-12, atol=1e-12)
    assert out.dtype == np.float64


@pytest.mark.parametrize("name,fn,makers,reference", OPS, ids=IDS)
def test_gradient_central_differences(backend, name, fn, makers, reference):
    report = check_grad(fn, [mdl.tensor(a) for a in _inputs(makers)])
    assert max(report.max_abs_error) < 1e-6


@pytest.mark.parametrize("name,fn,makers,reference", OPS[::4], ids=IDS[::4])
def test_gradient_scipy(name, fn, makers, reference):
    check_grad(fn, _inputs(makers, seed=1), method="scipy")


@pytest.mark.parametrize("name,fn,makers,reference",
                         [op for op in OPS if op[0] in SMOOTH],
                         ids=[i for i in IDS if i in SMOOTH])
def test_second_derivative(name, fn, makers, reference):
    check_double_grad(fn, _inputs(makers, seed=2), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name,fn,makers,reference", OPS, ids=IDS)
def test_float32_stays_float32(name, fn, makers, reference):
    tensors = [mdl.tensor(a.astype(np.float32), requires_grad=True)
               for a in _inputs(makers)]
    out = fn(*tensors)
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, np.float32))
    for t in tensors:
        assert t.grad is None or t.grad.dtype == np.float32


def numerical_hessian(f, x, eps=1e-4):
    n = x.size
    h = np.empty((n, n))
    for i in range(n):
        def grad_at(v):
            g = np.empty(n)
            for j in range(n):
                e = np.zeros(n)
                e[j] = eps
                g[j] = (f(v + e) - f(v - e)) / (2 * eps)
            return g
        e = np.zeros(n)
        e[i] = eps
        h[i] = (grad_at(x + e) - grad_at(x - e)) / (2 * eps)
    return h


@pytest.mark.parametrize("expr", [
    lambda t: (t.tanh() * t.exp()).sum(),
    lambda t: F.logsumexp(t * t, axis=0).sum(),
    lambda t: (F.softmax(t) * t ** 3).sum(),
    lambda t: (t.reshape(2, 2) @ t.reshape(2, 2).T).sigmoid().sum(),
])
def test_hessian_vector_product_matches_numerical_hessian(expr, rng):
    x0 = rng.standard_normal(4) * 0.5
    v = rng.standard_normal(4)
    x = mdl.tensor(x0, requires_grad=True)
    (g,) = mdl.grad(expr(x), [x], create_graph=True)
    (hv,) = mdl.grad((g * v).sum(), [x])
    h = numerical_hessian(lambda a: float(expr(mdl.tensor(a)).data), x0)
    np.testing.assert_allclose(hv.numpy(), h @ v, rtol=1e-5, atol=1e-6)


def test_logsumexp_and_softmax_are_stable_at_1000():
    x = mdl.tensor(np.array([[1000.0, 999.0, -1000.0]]), requires_grad=True)
    y = F.logsumexp(x, axis=1)
    np.testing.assert_allclose(y.numpy(), [1000.0 + np.log1p(np.exp(-1.0))])
    y.sum().backward()
    assert np.all(np.isfinite(x.grad))
    np.testing.assert_allclose(x.grad.sum(), 1.0)
    for op in (F.softmax, F.log_softmax):
        assert np.all(np.isfinite(op(mdl.tensor([[-1000.0, 1000.0]])).numpy()))


def test_max_shares_gradient_between_ties():
    x = mdl.tensor(np.array([1.0, 3.0, 3.0]), requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.5, 0.5])


def test_getitem_repeated_indices_accumulate():
    x = mdl.tensor(np.zeros(3), requires_grad=True)
    x[np.array([0, 0, 2, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 0.0, 1.0])


def test_getitem_with_int_tensor_index():
    x = mdl.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    idx = mdl.tensor(np.array([2, 0]))
    y = x[idx]
    np.testing.assert_array_equal(y.numpy(), [[4.0, 5.0], [0.0, 1.0]])


@pytest.mark.parametrize("call,message", [
    (lambda: mdl.tensor(np.ones((2, 3))).reshape(4, 2), "cannot reshape"),
    (lambda: mdl.tensor(np.ones((2, 3))).sum(axis=2), "axis=2"),
    (lambda: mdl.tensor(np.ones((2, 3))).transpose(0, 0), "permutation"),
    (lambda: F.pad(mdl.tensor(np.ones(2)), ((1, -1),)), "pad_width"),
    (lambda: F.stack([mdl.tensor(np.ones(2)), mdl.tensor(np.ones(3))]), "one shape"),
    (lambda: F.squeeze(mdl.tensor(np.ones((2, 3))), 0), "squeeze axis=0"),
    (lambda: F.concatenate([]), "at least one"),
])
def test_bad_input_raises_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_cast_gradient_comes_back_in_the_input_dtype():
    x = mdl.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    y = F.cast(x, "float64")
    assert y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_power_zero_has_zero_gradient_at_zero():
    x = mdl.tensor(np.array([0.0, 2.0]), requires_grad=True)
    (x ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])
