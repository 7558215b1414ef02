"""Losses: values against independent NumPy formulas (and Keras's documented numbers),
float64 gradients, a second derivative through the fused cross-entropies, reductions,
sample weights, configs and bad input."""
import numpy as np
import pytest

import minidl as mdl
from minidl import losses as L
from minidl.gradcheck import check_double_grad, check_grad

EPS = 1e-7


# -- independent NumPy references ---------------------------------------------------------
def np_softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def ref_categorical(t, p, from_logits=False, label_smoothing=0.0, axis=-1):
    t = np.asarray(t, np.float64)
    if label_smoothing:
        t = t * (1 - label_smoothing) + label_smoothing / t.shape[axis]
    if from_logits:
        z = p - p.max(axis=axis, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=axis, keepdims=True))
    else:
        logp = np.log(np.clip(p / p.sum(axis=axis, keepdims=True), EPS, 1 - EPS))
    return -(t * logp).sum(axis=axis)


def ref_sparse(labels, p, from_logits=False):
    labels = np.asarray(labels).reshape(-1).astype(int)
    return ref_categorical(np.eye(p.shape[-1])[labels], p, from_logits)


def ref_binary(t, p, from_logits=False, label_smoothing=0.0):
    t = np.asarray(t, np.float64)
    if label_smoothing:
        t = t * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:  # log sigmoid(x) = -log(1 + e^-x), log(1 - sigmoid(x)) = -log(1 + e^x)
        log_p, log_q = -np.logaddexp(0, -p), -np.logaddexp(0, p)
    else:
        q = np.clip(p, EPS, 1 - EPS)
        log_p, log_q = np.log(q), np.log(1 - q)
    return -(t * log_p + (1 - t) * log_q).mean(axis=-1)


def ref_huber(t, p, delta=1.0):
    e = np.abs(p - t)
    return np.where(e <= delta, 0.5 * e ** 2, delta * e - 0.5 * delta ** 2).mean(axis=-1)


def onehot(labels, classes):
    return np.eye(classes)[labels]


# -- values -------------------------------------------------------------------------------
def test_keras_documented_values(backend):
    y_true = [[0, 1, 0], [0, 0, 1]]
    y_pred = [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
    cce = L.CategoricalCrossentropy()
    assert float(cce(y_true, y_pred)) == pytest.approx(1.1769392, rel=1e-5)
    assert float(cce(y_true, y_pred, sample_weight=[0.3, 0.7])) == pytest.approx(0.8135988,
                                                                                 rel=1e-5)
    scce = L.SparseCategoricalCrossentropy(reduction=None)
    np.testing.assert_allclose(scce([1, 2], y_pred).numpy(), [0.0513, 2.3026], atol=1e-4)
    y_true = np.array([[0, 1], [0, 0]])
    y_pred = np.array([[-18.6, 0.51], [2.94, -12.8]])
    bce = L.BinaryCrossentropy(from_logits=True)
    assert float(bce(y_true, y_pred)) == pytest.approx(0.8654, abs=1e-4)
    weighted = bce(y_true, y_pred, sample_weight=[0.8, 0.2])
    assert float(weighted) == pytest.approx(0.243, abs=1e-3)
    assert float(L.huber([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]).mean()) == \
        pytest.approx(0.155, abs=1e-6)
    np.testing.assert_allclose(
        L.binary_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]).numpy(),
        [0.916291, 0.713558], atol=1e-5)


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_categorical_crossentropy_matches_numpy(backend, rng, from_logits, label_smoothing):
    y_pred = rng.standard_normal((5, 4)) if from_logits else rng.uniform(0.05, 1.0, (5, 4))
    y_true = onehot(rng.integers(0, 4, 5), 4)
    out = L.categorical_crossentropy(y_true, mdl.tensor(y_pred), from_logits=from_logits,
                                     label_smoothing=label_smoothing)
    np.testing.assert_allclose(out.numpy(), ref_categorical(y_true, y_pred, from_logits,
                                                            label_smoothing), rtol=1e-12)
    loss = L.CategoricalCrossentropy(from_logits=from_logits,
                                     label_smoothing=label_smoothing)
    assert float(loss(y_true, y_pred)) == pytest.approx(
        ref_categorical(y_true, y_pred, from_logits, label_smoothing).mean(), rel=1e-12)


@pytest.mark.parametrize("from_logits", [False, True])
def test_categorical_crossentropy_along_another_axis(rng, from_logits):
    y_pred = rng.standard_normal((2, 4, 3)) if from_logits else \
        rng.uniform(0.1, 1, (2, 4, 3))
    y_true = np.moveaxis(onehot(rng.integers(0, 4, (2, 3)), 4), -1, 1)
    out = L.categorical_crossentropy(y_true, y_pred, from_logits=from_logits, axis=1)
    expected = ref_categorical(np.moveaxis(y_true, 1, -1), np.moveaxis(y_pred, 1, -1),
                               from_logits)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("label_shape", [(6,), (6, 1)])
def test_sparse_categorical_crossentropy_matches_numpy(backend, rng, from_logits,
                                                       label_shape):
    y_pred = rng.standard_normal((6, 3)) if from_logits else rng.uniform(0.05, 1.0, (6, 3))
    labels = rng.integers(0, 3, label_shape)
    expected = ref_sparse(labels, y_pred, from_logits)
    for y_true in (labels, labels.astype(np.float32), mdl.tensor(labels)):
        out = L.sparse_categorical_crossentropy(y_true, y_pred, from_logits=from_logits)
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    w = rng.uniform(0, 2, 6)
    loss = L.SparseCategoricalCrossentropy(from_logits=from_logits)
    assert float(loss(labels, y_pred, sample_weight=w)) == pytest.approx(
        (expected * w).mean(), rel=1e-12)


def test_sparse_categorical_crossentropy_class_axis_1(rng):
    z = rng.standard_normal((2, 4, 3))
    labels = rng.integers(0, 4, (2, 3))
    out = L.sparse_categorical_crossentropy(labels, z, from_logits=True, axis=1)
    expected = ref_sparse(labels.reshape(-1), np.moveaxis(z, 1, -1).reshape(-1, 4), True)
    np.testing.assert_allclose(out.numpy(), expected.reshape(2, 3), rtol=1e-12)


@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_ignore_class_averages_over_the_other_labels(rng, from_logits):
    y_pred = rng.standard_normal((5, 3)) if from_logits else rng.uniform(0.1, 1, (5, 3))
    labels = np.array([2, -1, 0, -1, 1])
    keep = labels != -1
    per_sample = ref_sparse(labels[keep], y_pred[keep], from_logits)
    loss = L.SparseCategoricalCrossentropy(from_logits=from_logits, ignore_class=-1)
    p = mdl.tensor(y_pred, requires_grad=True)
    value = loss(labels, p)
    assert float(value) == pytest.approx(per_sample.mean(), rel=1e-12)
    value.backward()
    assert np.all(p.grad[~keep] == 0) and np.all(p.grad[keep] != 0)
    w = np.array([1.0, 5.0, 2.0, 5.0, 3.0])
    assert float(loss(labels, y_pred, sample_weight=w)) == pytest.approx(
        (per_sample * w[keep]).sum() / keep.sum(), rel=1e-12)
    values = L.sparse_categorical_crossentropy(labels, y_pred, from_logits, ignore_class=-1)
    np.testing.assert_allclose(values.numpy()[keep], per_sample, rtol=1e-12)
    assert np.all(values.numpy()[~keep] == 0)


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_binary_crossentropy_matches_numpy(backend, rng, from_logits, label_smoothing):
    y_pred = rng.standard_normal((4, 3)) if from_logits else rng.uniform(0.02, 0.98, (4, 3))
    y_true = rng.integers(0, 2, (4, 3)).astype(np.float64)
    out = L.binary_crossentropy(y_true, y_pred, from_logits=from_logits,
                                label_smoothing=label_smoothing)
    np.testing.assert_allclose(out.numpy(), ref_binary(y_true, y_pred, from_logits,
                                                       label_smoothing), rtol=1e-12)


def test_binary_crossentropy_expands_rank_1_labels(rng):
    p = rng.uniform(0.1, 0.9, (5, 1))
    t = rng.integers(0, 2, 5)
    loss = L.BinaryCrossentropy()
    assert float(loss(t, p)) == pytest.approx(ref_binary(t[:, None], p).mean(), rel=1e-12)


def test_regression_losses_match_numpy(backend, rng):
    t, p = rng.standard_normal((4, 3)), rng.standard_normal((4, 3)) * 2
    np.testing.assert_allclose(L.mean_squared_error(t, p).numpy(), ((t - p) ** 2).mean(-1),
                               rtol=1e-12)
    np.testing.assert_allclose(L.mean_absolute_error(t, p).numpy(), np.abs(t - p).mean(-1),
                               rtol=1e-12)
    for delta in (1.0, 0.5):
        np.testing.assert_allclose(L.huber(t, p, delta).numpy(), ref_huber(t, p, delta),
                                   rtol=1e-12)
    assert float(L.Huber(0.5)(t, p)) == pytest.approx(ref_huber(t, p, 0.5).mean(),
                                                      rel=1e-12)
    assert float(L.get("mse")(t, p)) == pytest.approx(((t - p) ** 2).mean(), rel=1e-12)
    assert float(L.get("mae")(t, p)) == pytest.approx(np.abs(t - p).mean(), rel=1e-12)
    # (N,) labels against (N, 1) predictions are aligned, not broadcast to (N, N)
    assert float(L.MeanSquaredError()(t[:, 0], p[:, :1])) == pytest.approx(
        ((t[:, 0] - p[:, 0]) ** 2).mean(), rel=1e-12)


def test_from_logits_agrees_with_probabilities(rng):
    z = rng.standard_normal((4, 5))
    labels = rng.integers(0, 5, 4)
    a = L.sparse_categorical_crossentropy(labels, z, from_logits=True).numpy()
    b = L.sparse_categorical_crossentropy(labels, np_softmax(z)).numpy()
    np.testing.assert_allclose(a, b, rtol=1e-10)
    a = L.categorical_crossentropy(onehot(labels, 5), z, from_logits=True).numpy()
    np.testing.assert_allclose(a, b, rtol=1e-10)
    x, t = rng.standard_normal((4, 2)), rng.integers(0, 2, (4, 2))
    np.testing.assert_allclose(L.binary_crossentropy(t, x, from_logits=True).numpy(),
                               L.binary_crossentropy(t, 1 / (1 + np.exp(-x))).numpy(),
                               rtol=1e-10)


def test_probabilities_are_clipped_at_0_and_1(backend):
    p = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    t = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(L.categorical_crossentropy(t, p).numpy(),
                               [-np.log(EPS), -np.log(1 - EPS)], rtol=1e-9)
    np.testing.assert_allclose(L.sparse_categorical_crossentropy([1, 1], p).numpy(),
                               [-np.log(EPS), -np.log(1 - EPS)], rtol=1e-9)
    bce = L.binary_crossentropy(np.array([[1.0, 0.0, 1.0, 0.0]]),
                                np.array([[0.0, 1.0, 1.0, 0.0]])).numpy()
    np.testing.assert_allclose(bce, [(-2 * np.log(EPS) - 2 * np.log(1 - EPS)) / 4],
                               rtol=1e-9)
    x = mdl.tensor(p, requires_grad=True)
    L.CategoricalCrossentropy()(t, x).backward()
    assert np.all(np.isfinite(x.grad))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logits_of_magnitude_1000_are_stable(backend, dtype):
    z = mdl.tensor(np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]], dtype),
                   requires_grad=True)
    loss = L.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
    value = loss(np.array([1, 2]), z)
    assert value.dtype == dtype
    assert float(value) == pytest.approx(2001.0 + np.log1p(np.exp(-1.0)), rel=1e-6)
    value.backward()
    expected = np_softmax(z.numpy().astype(np.float64)) - onehot([1, 2], 3)
    np.testing.assert_allclose(mdl.tensor(z.grad).numpy(), expected, atol=1e-6)
    dense = L.categorical_crossentropy(onehot([1, 2], 3), z, from_logits=True)
    np.testing.assert_allclose(dense.numpy(), [2000.0, 1.0 + np.log1p(np.exp(-1.0))],
                               rtol=1e-6)
    x = mdl.tensor(np.array([[1000.0, -1000.0, 1000.0, -1000.0]], dtype),
                   requires_grad=True)
    bce = L.BinaryCrossentropy(from_logits=True)(np.array([[0, 1, 1, 0]]), x)
    assert float(bce) == pytest.approx(500.0, rel=1e-6)
    bce.backward()
    np.testing.assert_allclose(mdl.tensor(x.grad).numpy(), [[0.25, -0.25, 0.0, 0.0]],
                               atol=1e-7)


def test_float32_stays_float32(backend, rng):
    p = mdl.tensor(rng.uniform(0.1, 0.9, (3, 4)).astype(np.float32), requires_grad=True)
    t = onehot([0, 3, 1], 4)  # float64 labels do not promote the loss
    for loss in (L.CategoricalCrossentropy(), L.CategoricalCrossentropy(from_logits=True),
                 L.BinaryCrossentropy(label_smoothing=0.1), L.MeanSquaredError(),
                 L.MeanAbsoluteError(), L.Huber()):
        value = loss(t, p, sample_weight=np.ones(3))
        assert value.dtype == np.float32, type(loss).__name__
        value.backward()
        assert p.grad.dtype == np.float32
        p.zero_grad()
    assert L.SparseCategoricalCrossentropy()(np.array([0, 3, 1]), p).dtype == np.float32
    assert L.MeanSquaredError(dtype="float64")(t, p).dtype == np.float64


def test_reductions(rng):
    t, p = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    per_sample = ((t - p) ** 2).mean(-1)
    w = np.array([1.0, 0.0, 2.0, 3.0])
    values = L.MeanSquaredError(reduction=None)(t, p, sample_weight=w).numpy()
    np.testing.assert_allclose(values, per_sample * w, rtol=1e-12)
    assert float(L.MeanSquaredError(reduction="sum")(t, p, sample_weight=w)) == \
        pytest.approx((per_sample * w).sum(), rel=1e-12)
    assert float(L.MeanSquaredError(reduction="mean_with_sample_weight")(
        t, p, sample_weight=w)) == pytest.approx((per_sample * w).sum() / w.sum(),
                                                 rel=1e-12)
    # a (N, 1) weight and a scalar weight broadcast over the per-sample values
    assert float(L.MeanSquaredError()(t, p, sample_weight=w[:, None])) == pytest.approx(
        (per_sample * w).mean(), rel=1e-12)
    assert float(L.MeanSquaredError()(t, p, sample_weight=2.0)) == pytest.approx(
        2 * per_sample.mean(), rel=1e-12)


def test_loss_function_wrapper_wraps_a_per_sample_function(rng):
    t, p = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    loss = L.LossFunctionWrapper(lambda a, b: ((a - b) ** 4).mean(axis=-1), name="quartic")
    assert float(loss(t, p)) == pytest.approx(((t - p) ** 4).mean(), rel=1e-12)
    wrapped = L.LossFunctionWrapper(L.huber, delta=0.3)
    assert float(wrapped(t, p)) == pytest.approx(ref_huber(t, p, 0.3).mean(), rel=1e-12)
    again = L.get({"class_name": "LossFunctionWrapper", "config": wrapped.get_config()})
    assert float(again(t, p)) == pytest.approx(float(wrapped(t, p)), rel=1e-12)


# -- gradients ----------------------------------------------------------------------------
def _probabilities(rng, shape):
    return rng.uniform(0.1, 0.9, shape)


GRAD_CASES = [
    ("cce_probs", lambda: L.CategoricalCrossentropy(label_smoothing=0.1), "onehot",
     _probabilities),
    ("cce_logits", lambda: L.CategoricalCrossentropy(from_logits=True), "soft",
     lambda rng, s: rng.standard_normal(s)),
    ("scce_probs", lambda: L.SparseCategoricalCrossentropy(), "sparse", _probabilities),
    ("scce_logits", lambda: L.SparseCategoricalCrossentropy(from_logits=True), "sparse",
     lambda rng, s: rng.standard_normal(s) * 3),
    ("bce_probs", lambda: L.BinaryCrossentropy(label_smoothing=0.2), "binary",
     _probabilities),
    ("bce_logits", lambda: L.BinaryCrossentropy(from_logits=True), "binary",
     lambda rng, s: rng.standard_normal(s) * 3),
    ("mse", lambda: L.MeanSquaredError(), "real", lambda rng, s: rng.standard_normal(s)),
    ("mae", lambda: L.MeanAbsoluteError(), "real",
     lambda rng, s: rng.standard_normal(s) + 5),
    ("huber", lambda: L.Huber(delta=0.7), "real",
     lambda rng, s: (rng.permutation(12).reshape(s) - 5.5) * 0.23),
]


def _labels(kind, rng, shape):
    if kind == "sparse":
        return rng.integers(0, shape[-1], shape[:-1])
    if kind == "onehot":
        return onehot(rng.integers(0, shape[-1], shape[:-1]), shape[-1])
    if kind == "soft":
        return np_softmax(rng.standard_normal(shape))
    if kind == "binary":
        return rng.integers(0, 2, shape).astype(np.float64)
    return np.zeros(shape)


@pytest.mark.parametrize("name, make, kind, make_pred", GRAD_CASES,
                         ids=[c[0] for c in GRAD_CASES])
def test_gradients_wrt_y_pred(rng, name, make, kind, make_pred):
    shape = (4, 3)
    y_pred = make_pred(rng, shape)
    y_true = _labels(kind, rng, shape)
    w = rng.uniform(0.5, 2.0, shape[0])
    loss = make()
    check_grad(lambda p: loss(y_true, p, sample_weight=w), [y_pred])
    if name in ("cce_logits", "bce_probs"):
        check_grad(lambda p: loss(y_true, p), [y_pred], method="scipy")


@pytest.mark.parametrize("from_logits", [False, True])
def test_gradients_with_an_ignored_class(rng, from_logits):
    y_pred = rng.standard_normal((5, 3)) if from_logits else rng.uniform(0.1, 0.9, (5, 3))
    loss = L.SparseCategoricalCrossentropy(from_logits=from_logits, ignore_class=-1)
    check_grad(lambda p: loss(np.array([2, -1, 0, -1, 1]), p), [y_pred])


def test_gradients_wrt_soft_labels_of_the_fused_ops(rng):
    z, t = rng.standard_normal((3, 4)), rng.uniform(0, 1, (3, 4))
    check_grad(lambda z_, t_: L.categorical_crossentropy(t_, z_, from_logits=True), [z, t])
    check_grad(lambda z_, t_: L.binary_crossentropy(t_, z_, from_logits=True), [z, t])


def test_fused_backward_routes_agree(rng):
    """The array route (ordinary backward) and the op route (create_graph) of each fused
    cross-entropy give the same first derivatives."""
    z, t = rng.standard_normal((3, 4)) * 4, rng.uniform(0, 1, (3, 4))
    labels = rng.integers(0, 4, 3)
    cases = [lambda z_, t_: L.categorical_crossentropy(t_, z_, from_logits=True),
             lambda z_, t_: L.sparse_categorical_crossentropy(labels, z_, from_logits=True)
             + 0 * t_.sum(axis=-1),
             lambda z_, t_: L.binary_crossentropy(t_, z_, from_logits=True, axis=0)]
    for fn in cases:
        zt, tt = mdl.tensor(z, requires_grad=True), mdl.tensor(t, requires_grad=True)
        cot = rng.standard_normal(fn(zt, tt).shape)
        plain = mdl.grad((fn(zt, tt) * cot).sum(), [zt, tt])
        taped = mdl.grad((fn(zt, tt) * cot).sum(), [zt, tt], create_graph=True)
        for a, b in zip(plain, taped):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-14)


def test_second_derivatives_of_the_fused_crossentropies(rng):
    z, t = rng.standard_normal((3, 4)), np_softmax(rng.standard_normal((3, 4)))
    labels = rng.integers(0, 4, 3)
    check_double_grad(lambda z_, t_: L.categorical_crossentropy(t_, z_, from_logits=True),
                      [z, t])
    check_double_grad(lambda z_: L.sparse_categorical_crossentropy(labels, z_,
                                                                   from_logits=True), [z])
    check_double_grad(lambda z_, t_: L.binary_crossentropy(t_, z_, from_logits=True),
                      [z, t])


# -- lookup and configs -------------------------------------------------------------------
@pytest.mark.parametrize("name, cls", [
    ("sparse_categorical_crossentropy", L.SparseCategoricalCrossentropy),
    ("categorical_crossentropy", L.CategoricalCrossentropy),
    ("binary_crossentropy", L.BinaryCrossentropy), ("bce", L.BinaryCrossentropy),
    ("mse", L.MeanSquaredError), ("mean_squared_error", L.MeanSquaredError),
    ("mae", L.MeanAbsoluteError), ("mean_absolute_error", L.MeanAbsoluteError),
    ("huber", L.Huber), ("MeanSquaredError", L.MeanSquaredError)])
def test_get_by_name(name, cls):
    assert type(L.get(name)) is cls


def test_get_passes_instances_and_callables_and_none():
    loss = L.Huber(2.0)
    assert L.get(loss) is loss
    assert L.get(L.huber) is L.huber
    assert L.get(None) is None


@pytest.mark.parametrize("loss", [
    L.SparseCategoricalCrossentropy(from_logits=True, ignore_class=3),
    L.CategoricalCrossentropy(label_smoothing=0.1, axis=1),
    L.BinaryCrossentropy(from_logits=True, reduction="sum"),
    L.MeanSquaredError(name="m"), L.MeanAbsoluteError(), L.Huber(delta=2.5)])
def test_config_round_trips(loss):
    config = loss.get_config()
    again = type(loss).from_config(config)
    assert again.get_config() == config
    assert L.deserialize(L.serialize(loss)).get_config() == config


def test_reads_keras_serialized_losses():
    keras_form = {"module": "keras.losses", "class_name": "SparseCategoricalCrossentropy",
                  "config": {"name": "sparse_categorical_crossentropy",
                             "reduction": "sum_over_batch_size", "from_logits": True,
                             "ignore_class": None}, "registered_name": None}
    loss = L.get(keras_form)
    assert isinstance(loss, L.SparseCategoricalCrossentropy) and loss.from_logits
    function_form = {"module": "builtins", "class_name": "function",
                     "config": "mean_squared_error", "registered_name": "function"}
    assert isinstance(L.get(function_form), L.MeanSquaredError)
    assert L.get({"class_name": "Huber", "config": {"delta": 3.0}}).delta == 3.0
    assert L.Huber.from_config({"name": "h", "reduction": "sum", "dtype": {
        "module": "keras", "class_name": "DTypePolicy", "config": {"name": "float64"},
        "registered_name": None}}).dtype == "float64"


# -- bad input ----------------------------------------------------------------------------
def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="Unknown loss: 'crossentropy'.*MeanSquaredError"):
        L.get("crossentropy")


@pytest.mark.parametrize("loss", [L.MeanSquaredError(), L.CategoricalCrossentropy(),
                                  L.BinaryCrossentropy(), L.Huber(), L.MeanAbsoluteError()])
def test_shape_mismatch_names_y_true_and_y_pred(loss):
    with pytest.raises(ValueError,
                       match=r"y_true of shape \(4, 2\).*y_pred of shape \(4, 3\)"):
        loss(np.zeros((4, 2)), np.full((4, 3), 0.5))


def test_sparse_label_errors():
    p = np.full((3, 4), 0.25)
    with pytest.raises(ValueError, match=r"y_true of shape \(3, 4\).*shape \(3,\)"):
        L.SparseCategoricalCrossentropy()(np.zeros((3, 4)), p)
    with pytest.raises(ValueError, match=r"y_true holds the label 4, not a class index in "
                                         r"\[0, 4\)"):
        L.SparseCategoricalCrossentropy(from_logits=True)(np.array([0, 4, 1]), p)
    with pytest.raises(ValueError, match="label -1"):
        L.sparse_categorical_crossentropy(np.array([0, -1, 1]), p)
    with pytest.raises(ValueError, match="label 1.5"):
        L.sparse_categorical_crossentropy(np.array([0.0, 1.5, 1.0]), p)
    with pytest.raises(ValueError, match="must hold integer class labels"):
        L.sparse_categorical_crossentropy(np.array(["a", "b", "c"]), p)
    # the ignored class may lie outside the range
    L.SparseCategoricalCrossentropy(ignore_class=255)(np.array([0, 255, 1]), p)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="sample_weight of shape"):
        L.MeanSquaredError()(np.zeros((4, 3)), np.ones((4, 3)), sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="label_smoothing=1.5"):
        L.CategoricalCrossentropy(label_smoothing=1.5)
    with pytest.raises(ValueError, match="from_logits='yes'"):
        L.BinaryCrossentropy(from_logits="yes")
    with pytest.raises(ValueError, match="reduction='avg'"):
        L.MeanSquaredError(reduction="avg")
    with pytest.raises(ValueError, match="delta=0"):
        L.Huber(delta=0)
    with pytest.raises(ValueError, match="axis=2"):
        L.categorical_crossentropy(np.ones((2, 3)), np.ones((2, 3)), axis=2)
