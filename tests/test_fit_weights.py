"""``sample_weight`` and ``class_weight`` in fit / evaluate / train_on_batch /
test_on_batch, against losses and metrics computed here with plain NumPy (Keras 3's
rules: the weighted per-sample losses are summed and divided by the number of samples,
not by the sum of the weights; ``weighted_metrics`` divide by the sum of the weights)."""
import numpy as np
import pytest

import minidl as mdl
from minidl import layers

KERNEL = np.array([[0.5, -0.2, 0.1], [0.3, 0.4, -0.6]])
BIAS = np.array([0.1, 0.0, -0.1])


def data(n=10, seed=0):
    rng = np.random.default_rng(seed)
    # values exact in float32
    x = rng.standard_normal((n, 2)).astype(np.float32).astype(np.float64)
    return x, rng.integers(0, 3, n), rng.uniform(0.1, 2.0, n)


def model(weighted_metrics=None, lr=0.0):
    m = mdl.models.Sequential([layers.Dense(3, dtype="float64", input_shape=(2,))])
    m.compile(mdl.optimizers.SGD(lr),
              mdl.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"], weighted_metrics=weighted_metrics)
    m.set_weights([KERNEL, BIAS])
    return m


def per_sample(x, y):
    """Cross-entropy of each sample and whether it is classified right, by hand."""
    logits = x @ KERNEL + BIAS
    logits = logits - logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(y)), y], (logits.argmax(axis=1) == y).astype(float)


def test_evaluate_divides_the_weighted_sum_by_the_number_of_samples():
    x, y, w = data()
    losses, right = per_sample(x, y)
    m = model(weighted_metrics=["accuracy"])
    logs = m.evaluate(x, y, sample_weight=w, batch_size=4, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "accuracy", "weighted_accuracy"]
    np.testing.assert_allclose(logs["loss"], np.sum(w * losses) / len(y), rtol=1e-12)
    np.testing.assert_allclose(logs["accuracy"], right.mean(), rtol=1e-12)
    np.testing.assert_allclose(logs["weighted_accuracy"], np.sum(w * right) / w.sum(),
                               rtol=1e-12)
    plain = m.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    np.testing.assert_allclose(plain["loss"], losses.mean(), rtol=1e-12)
    assert plain["weighted_accuracy"] == plain["accuracy"]


def test_class_weight_is_a_weight_per_sample_by_its_class():
    x, y, _ = data()
    losses, _ = per_sample(x, y)
    cw = {0: 0.5, 2: 3.0}  # class 1 missing: weight 1
    w = np.array([cw.get(c, 1.0) for c in y])
    m = model(lr=0.1)
    loss = m.train_on_batch(x, y, class_weight=cw, return_dict=True)["loss"]
    np.testing.assert_allclose(loss, np.sum(w * losses) / len(y), rtol=1e-12)
    again = model(lr=0.1)
    again.train_on_batch(x, y, sample_weight=w)
    for a, b in zip(m.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    one_hot = np.eye(3)[y]
    np.testing.assert_array_equal(mdl.models.batches.class_weights(one_hot, cw), w)


def test_a_weighted_step_follows_the_weighted_gradient():
    x, y, w = data()
    m = model(lr=0.5)
    m.train_on_batch(x, y, sample_weight=w)
    logits = x @ KERNEL + BIAS
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    g = (p - np.eye(3)[y]) * (w / len(y))[:, None]  # d(sum(w * loss) / n) / d logits
    kernel, bias = m.get_weights()
    np.testing.assert_allclose(kernel, KERNEL - 0.5 * x.T @ g, rtol=1e-12)
    np.testing.assert_allclose(bias, BIAS - 0.5 * g.sum(axis=0), rtol=1e-12)


def test_fit_logs_weighted_losses_and_validation_with_weights():
    x, y, w = data(12)
    xv, yv, wv = data(6, seed=1)
    losses, _ = per_sample(x, y)
    val_losses, val_right = per_sample(xv, yv)
    m = model(weighted_metrics=["accuracy"])  # lr 0: the weights stay
    history = m.fit(x, y, sample_weight=w, batch_size=5, epochs=1, verbose=0,
                    validation_data=(xv, yv, wv)).history
    np.testing.assert_allclose(history["loss"][0], np.sum(w * losses) / len(y), rtol=1e-12)
    np.testing.assert_allclose(history["val_loss"][0], np.sum(wv * val_losses) / len(yv),
                               rtol=1e-12)
    np.testing.assert_allclose(history["val_weighted_accuracy"][0],
                               np.sum(wv * val_right) / wv.sum(), rtol=1e-12)


def test_validation_split_takes_the_weights_of_the_held_out_samples():
    x, y, w = data(10)
    val_losses, _ = per_sample(x[8:], y[8:])
    m = model()
    history = m.fit(x, y, sample_weight=w, validation_split=0.2, epochs=1, verbose=0)
    np.testing.assert_allclose(history.history["val_loss"][0],
                               np.sum(w[8:] * val_losses) / 2, rtol=1e-12)


def test_generators_may_yield_weights_and_get_class_weights():
    x, y, w = data(8)
    losses, _ = per_sample(x, y)
    m = model()
    batches = [(x[:4], y[:4], w[:4]), (x[4:], y[4:], w[4:])]
    history = m.fit(batches, epochs=1, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], np.sum(w * losses) / 8,
                               rtol=1e-12)
    cw = {1: 2.0}
    history = m.fit([(x, y)], class_weight=cw, epochs=1, verbose=0)
    expected = np.sum(np.where(y == 1, 2.0, 1.0) * losses) / 8
    np.testing.assert_allclose(history.history["loss"][0], expected, rtol=1e-12)


def test_test_on_batch_weighs_like_evaluate():
    x, y, w = data()
    m = model(weighted_metrics=["accuracy"])
    batch = m.test_on_batch(x, y, sample_weight=w)
    whole = m.evaluate(x, y, sample_weight=w, batch_size=len(x), verbose=0)
    np.testing.assert_allclose(batch, whole, rtol=1e-12)


def test_functional_models_weigh_each_output():
    x, y, w = data()
    losses, _ = per_sample(x, y)
    inputs = mdl.Input((2,), dtype="float64")
    dense = layers.Dense(3, dtype="float64")
    outputs = [dense(inputs), layers.Identity(name="copy", dtype="float64")(dense(inputs))]
    m = mdl.models.Model(inputs, outputs)
    m.compile(mdl.optimizers.SGD(0.0),
              mdl.losses.SparseCategoricalCrossentropy(from_logits=True),
              weighted_metrics=["accuracy"])
    dense.set_weights([KERNEL, BIAS])
    expected = np.sum(w * losses) / len(y)
    logs = m.evaluate(x, [y, y], sample_weight=w, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["loss"], 2 * expected, rtol=1e-12)
    logs = m.evaluate(x, [y, y], sample_weight=[w, np.zeros_like(w)], verbose=0,
                      return_dict=True)
    np.testing.assert_allclose(logs["loss"], expected, rtol=1e-12)


@pytest.mark.parametrize("kwargs,error,message", [
    ({"class_weight": {0: 1.0}, "sample_weight": np.ones(10)}, ValueError, "not both"),
    ({"class_weight": [1.0, 2.0]}, ValueError, "class_weight=.* must be a dict"),
    ({"class_weight": {"a": 1.0}}, ValueError, "key 'a'"),
    ({"class_weight": {0: float("nan")}}, ValueError, "finite"),
    ({"sample_weight": np.ones(9)}, ValueError, "sample_weight has 9"),
])
def test_bad_weights_are_clear_errors(kwargs, error, message):
    x, y, _ = data()
    with pytest.raises(error, match=message):
        model().fit(x, y, verbose=0, **kwargs)


def test_weights_read_nothing_more_on_the_device(fake_cupy):
    from tests.test_host_reads import LOSS, METRIC, compiled, places
    from tests.test_host_reads import data as image_data
    x, y = image_data()
    m = compiled("cupy")
    with fake_cupy.reads() as reads:
        m.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False,
              class_weight={0: 2.0, 1: 0.5})
    assert places(reads) == {LOSS: 2, METRIC: 2}


def test_the_numbers_agree_with_keras():
    """Keras 3.15.1 (JAX) on the same Dense model, data and weights: ``evaluate(x, y,
    sample_weight=w, batch_size=4)``, then ``train_on_batch(x, y, class_weight={0: 0.5,
    2: 3.0})`` with SGD(0.5) and the bias after it (Keras keeps its metric totals in
    float32, hence the tolerance)."""
    x, y, w = data()
    m = model(weighted_metrics=["accuracy"], lr=0.5)
    logs = m.evaluate(x, y, sample_weight=w, batch_size=4, verbose=0, return_dict=True)
    np.testing.assert_allclose([logs["loss"], logs["accuracy"], logs["weighted_accuracy"]],
                               [1.3283389806747437, 0.3, 0.3336005210876465], rtol=1e-7)
    logs = m.train_on_batch(x, y, class_weight={0: 0.5, 2: 3.0}, return_dict=True)
    np.testing.assert_allclose([logs["loss"], logs["weighted_accuracy"]],
                               [1.0139780044555664, 0.21052631735801697], rtol=1e-7)
    np.testing.assert_allclose(m.get_weights()[1], [0.07626356929540634,
                                                    0.020048584789037704,
                                                    -0.09631215035915375], rtol=1e-7)
