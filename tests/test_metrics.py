"""Metrics: hand-computed values over several update_state calls with sample weights,
accuracy resolution, configs and bad input."""
import numpy as np
import pytest

import minidl as mdl
from minidl import losses as L
from minidl import metrics as M


def test_accuracy_counts_equal_values(backend):
    m = M.Accuracy()
    m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])        # 3 of 4
    assert m.result() == pytest.approx(0.75)
    m.update_state([1, 2], [1, 0], sample_weight=[2.0, 6.0])          # + 2 of 8
    assert m.result() == pytest.approx((3 + 2) / (4 + 8))
    assert isinstance(m.result(), float)


def test_binary_accuracy_with_threshold_and_rank_2_weights(backend):
    m = M.BinaryAccuracy()
    # per element matches [[1, 0], [0, 1]] -> per sample [0.5, 0.5], weights [1, 3]
    m.update_state(np.array([[1, 0], [1, 1]]), mdl.tensor([[0.7, 0.6], [0.2, 0.9]]),
                   sample_weight=np.array([1.0, 3.0]))
    assert m.result() == pytest.approx(0.5)
    # (N,) labels against (N, 1) scores; no weights: 2 of 3 right (0.5 is not above 0.5)
    m.update_state(np.array([1, 0, 0]), np.array([[0.8], [0.6], [0.5]]))
    assert m.result() == pytest.approx((2.0 + 2.0) / (4.0 + 3.0))
    strict = M.BinaryAccuracy(threshold=0.9)
    strict.update_state([[1.0], [0.0]], [[0.95], [0.91]])
    assert strict.result() == 0.5


def test_categorical_accuracy(backend):
    m = M.CategoricalAccuracy()
    y_true = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]])
    m.update_state(y_true, np.array([[0.1, 0.2, 0.7], [0.5, 0.4, 0.1], [0.6, 0.3, 0.1]]))
    assert m.result() == pytest.approx(2 / 3)
    m.update_state(y_true[:2], np.array([[0.9, 0.0, 0.1], [0.0, 1.0, 0.0]]),
                   sample_weight=np.array([0.5, 1.5]))                # + 1.5 of 2
    assert m.result() == pytest.approx((2 + 1.5) / (3 + 2))


def test_sparse_categorical_accuracy_with_column_labels(backend):
    m = M.SparseCategoricalAccuracy()
    m.update_state(np.array([[2], [1]]), np.array([[0.1, 0.6, 0.3], [0.05, 0.95, 0.0]]))
    m.update_state(np.array([0.0]), np.array([[0.9, 0.05, 0.05]]), sample_weight=[2.0])
    assert m.result() == pytest.approx(0.75)
    m.reset_state()
    assert m.result() == 0.0
    m.update_state([1, 1], [[0.0, 1.0], [1.0, 0.0]])
    assert m.result() == 0.5


def test_top_k_accuracies(backend):
    scores = np.array([[0.1, 0.5, 0.3, 0.1], [0.4, 0.3, 0.2, 0.1],
                       [0.25, 0.25, 0.25, 0.25]])
    labels = np.array([2, 3, 1])  # ranks 2, 4, and a four-way tie (counted in, as in_top_k)
    m = M.SparseTopKCategoricalAccuracy(k=2)
    m.update_state(labels, scores)
    assert m.result() == pytest.approx(2 / 3)
    m.update_state(labels[:1], scores[:1], sample_weight=[3.0])       # + 3 of 3
    assert m.result() == pytest.approx(5 / 6)
    dense = M.TopKCategoricalAccuracy(k=2)
    dense.update_state(np.eye(4)[labels], scores, sample_weight=[1.0, 1.0, 2.0])
    assert dense.result() == pytest.approx(3 / 4)
    top1 = M.TopKCategoricalAccuracy(k=1)
    top1.update_state(np.eye(4)[[1, 0]], scores[:2])
    assert top1.result() == 1.0
    assert M.SparseTopKCategoricalAccuracy().k == 5
    ids = M.SparseTopKCategoricalAccuracy(k=2, from_sorted_ids=True)
    ids.update_state([3, 0], [[3, 1, 0], [2, 1, 0]])
    assert ids.result() == 0.5


def test_mean_of_values_with_weights(backend):
    m = M.Mean()
    m.update_state([1.0, 3.0])
    assert m.result() == 2.0
    m.update_state(np.array([[2.0, 4.0], [6.0, 8.0]]), sample_weight=np.array([1.0, 0.0]))
    assert m.result() == pytest.approx((1 + 3 + 3) / 3)  # per-sample means 3, 7
    m.update_state(5.0)
    assert m.result() == pytest.approx((7 + 5) / 4)
    zero = M.Mean()
    zero.update_state([1.0], sample_weight=[0.0])
    assert zero.result() == 0.0


def test_loss_metrics_average_the_per_sample_losses(backend, rng):
    p = rng.uniform(0.05, 1, (4, 3))
    labels = rng.integers(0, 3, 4)
    t = np.eye(3)[labels]
    w = np.array([1.0, 2.0, 0.0, 1.0])
    cases = [(M.CategoricalCrossentropy(), L.categorical_crossentropy(t, p)),
             (M.SparseCategoricalCrossentropy(),
              L.sparse_categorical_crossentropy(labels, p)),
             (M.BinaryCrossentropy(), L.binary_crossentropy(t, p / 1.1)),
             (M.MeanSquaredError(), L.mean_squared_error(t, p)),
             (M.MeanAbsoluteError(), L.mean_absolute_error(t, p))]
    for metric, per_sample in cases:
        first = labels if isinstance(metric, M.SparseCategoricalCrossentropy) else t
        pred = p / 1.1 if isinstance(metric, M.BinaryCrossentropy) else p
        metric.update_state(first, pred)
        metric.update_state(first, pred, sample_weight=w)
        v = per_sample.numpy()
        assert metric.result() == pytest.approx((v.sum() + (v * w).sum()) / (4 + w.sum()),
                                                rel=1e-12), metric.name


def test_update_reads_tensors_off_the_tape():
    p = mdl.tensor(np.array([[0.2, 0.8], [0.6, 0.4]]), requires_grad=True)
    m = M.SparseCategoricalCrossentropy()
    m.update_state(np.array([1, 1]), p)
    assert m.result() == pytest.approx(-(np.log(0.8) + np.log(0.4)) / 2)
    acc = M.SparseCategoricalAccuracy()
    assert acc(np.array([1, 1]), p) == 0.5  # __call__ updates and returns the result
    assert p.grad is None


# -- "accuracy" ---------------------------------------------------------------------------
@pytest.mark.parametrize("loss, cls, threshold", [
    ("sparse_categorical_crossentropy", M.SparseCategoricalAccuracy, None),
    (L.SparseCategoricalCrossentropy(from_logits=True), M.SparseCategoricalAccuracy, None),
    (L.sparse_categorical_crossentropy, M.SparseCategoricalAccuracy, None),
    ("categorical_crossentropy", M.CategoricalAccuracy, None),
    (L.CategoricalCrossentropy(from_logits=True), M.CategoricalAccuracy, None),
    ("binary_crossentropy", M.BinaryAccuracy, 0.5),
    (L.BinaryCrossentropy(from_logits=True), M.BinaryAccuracy, 0.0)])
def test_accuracy_resolves_against_the_loss(loss, cls, threshold):
    for name in ("accuracy", "acc"):
        metric = M.get(name, loss=loss)
        assert type(metric) is cls and metric.name == name
        if threshold is not None:
            assert metric.threshold == threshold
    assert type(M.resolve_accuracy(loss)) is cls


def test_accuracy_resolves_against_shapes_like_keras():
    assert type(M.resolve_accuracy("mse", (8,), (8, 1))) is M.BinaryAccuracy
    assert type(M.resolve_accuracy(None, (8,), (8, 10))) is M.SparseCategoricalAccuracy
    assert type(M.resolve_accuracy(None, np.zeros((8, 1)), np.zeros((8, 10)))) is \
        M.SparseCategoricalAccuracy
    assert type(M.get("accuracy", y_true=np.zeros((8, 10)), y_pred=mdl.tensor(
        np.zeros((8, 10))))) is M.CategoricalAccuracy
    assert type(M.get("accuracy")) is M.Accuracy
    with pytest.raises(ValueError, match="pass y_true and y_pred"):
        M.resolve_accuracy("mse")


# -- lookup and configs -------------------------------------------------------------------
@pytest.mark.parametrize("name, cls", [
    ("sparse_categorical_accuracy", M.SparseCategoricalAccuracy),
    ("categorical_accuracy", M.CategoricalAccuracy), ("binary_accuracy", M.BinaryAccuracy),
    ("top_k_categorical_accuracy", M.TopKCategoricalAccuracy),
    ("sparse_top_k_categorical_accuracy", M.SparseTopKCategoricalAccuracy),
    ("mse", M.MeanSquaredError), ("mae", M.MeanAbsoluteError), ("mean", M.Mean),
    ("BinaryCrossentropy", M.BinaryCrossentropy)])
def test_get_by_name(name, cls):
    metric = M.get(name)
    assert type(metric) is cls and metric.name == name


@pytest.mark.parametrize("metric", [
    M.Accuracy(), M.BinaryAccuracy(threshold=0.3), M.CategoricalAccuracy(name="ca"),
    M.SparseCategoricalAccuracy(), M.TopKCategoricalAccuracy(k=3),
    M.SparseTopKCategoricalAccuracy(k=2), M.Mean(name="avg", dtype="float64"),
    M.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
    M.SparseCategoricalCrossentropy(from_logits=True), M.BinaryCrossentropy()])
def test_config_round_trips(metric):
    config = metric.get_config()
    assert type(metric).from_config(config).get_config() == config
    assert M.deserialize(M.serialize(metric)).get_config() == config


def test_keras_config_and_instances():
    keras_form = {"module": "keras.metrics", "class_name": "SparseTopKCategoricalAccuracy",
                  "config": {"name": "top3", "dtype": "float32", "k": 3},
                  "registered_name": None}
    metric = M.get(keras_form)
    assert metric.k == 3 and metric.name == "top3"
    assert M.get(metric) is metric
    assert M.get(None) is None
    wrapped = M.MeanMetricWrapper(lambda t, p: (np.asarray(t) == np.asarray(p)) * 1.0,
                                  name="same")
    wrapped.update_state([1, 2, 3], [1, 2, 0])
    assert wrapped.result() == pytest.approx(2 / 3)


# -- bad input ----------------------------------------------------------------------------
def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="Unknown metric: 'precision_at_1'.*Accuracy"):
        M.get("precision_at_1")


@pytest.mark.parametrize("metric, y_true, y_pred", [
    (M.Accuracy(), np.zeros((4, 2)), np.zeros((4, 3))),
    (M.BinaryAccuracy(), np.zeros((4, 2)), np.zeros((4, 3))),
    (M.CategoricalAccuracy(), np.zeros((4, 2)), np.zeros((4, 3))),
    (M.SparseCategoricalAccuracy(), np.zeros((4, 3)), np.zeros((4, 3))),
    (M.TopKCategoricalAccuracy(), np.zeros(4), np.zeros((4, 3))),
    (M.SparseTopKCategoricalAccuracy(), np.zeros(5), np.zeros((4, 3)))])
def test_shape_mismatch_names_y_true(metric, y_true, y_pred):
    with pytest.raises(ValueError, match=r"y_true of shape .* y_pred of shape"):
        metric.update_state(y_true, y_pred)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="sample_weight of shape"):
        M.Accuracy().update_state([1, 2, 3], [1, 2, 3], sample_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="k=0"):
        M.TopKCategoricalAccuracy(k=0)
    with pytest.raises(ValueError, match="threshold='high'"):
        M.BinaryAccuracy(threshold="high")


def test_out_of_range_sparse_labels_never_match():
    m = M.SparseTopKCategoricalAccuracy(k=3)
    m.update_state([5, -1, 0], np.full((3, 3), 1 / 3))
    assert m.result() == pytest.approx(1 / 3)


def test_each_metric_has_keras_direction():
    # keras.metrics' _direction in Keras 3.15 (None: Keras sets none)
    expected = [
        (M.Accuracy(), "up"), (M.BinaryAccuracy(), "up"), (M.CategoricalAccuracy(), "up"),
        (M.SparseCategoricalAccuracy(), "up"), (M.TopKCategoricalAccuracy(), "up"),
        (M.SparseTopKCategoricalAccuracy(), "up"), (M.MeanSquaredError(), "down"),
        (M.MeanAbsoluteError(), "down"), (M.CategoricalCrossentropy(), "down"),
        (M.SparseCategoricalCrossentropy(), "down"), (M.BinaryCrossentropy(), "down"),
        (M.Mean(), None), (M.MeanMetricWrapper(mdl.losses.mean_squared_error), "down"),
        (M.MeanMetricWrapper(mdl.losses.Huber()), "down"),
        (M.MeanMetricWrapper(M.accuracy), None),
        (M.MeanMetricWrapper(lambda y_true, y_pred: y_pred), None)]
    for metric, direction in expected:
        assert metric._direction == direction, type(metric).__name__
    assert M.get("acc")._direction == "up" and M.get("mse")._direction == "down"
    assert M.get("accuracy", loss="binary_crossentropy")._direction == "up"
