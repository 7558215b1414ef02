"""Each callback against a stand-in model, then a few inside a real ``fit``."""
import csv
import math

import numpy as np
import pytest

import minidl as mdl
from minidl import callbacks as C


class FakeOptimizer:
    def __init__(self, lr):
        self.learning_rate = lr


class FakeModel:
    def __init__(self, lr=0.1, metrics=()):
        self.optimizer = FakeOptimizer(lr)
        self.compiled_metrics = list(metrics)
        self.stop_training = False
        self.w = [np.zeros(2)]

    def get_weights(self):
        return [a.copy() for a in self.w]

    def set_weights(self, ws):
        self.w = [a.copy() for a in ws]


def drive(callback, values, key="val_loss", model=None, weights=None):
    """Run epochs with ``key`` taking ``values``; returns the epochs that ran."""
    model = model or FakeModel()
    callback.set_model(model)
    callback.on_train_begin()
    ran = []
    for epoch, value in enumerate(values):
        callback.on_epoch_begin(epoch)
        if weights is not None:
            model.w = [np.full(2, float(epoch))]
        callback.on_epoch_end(epoch, {key: value})
        ran.append(epoch)
        if model.stop_training:
            break
    callback.on_train_end()
    return ran, model


def test_history_records_every_key():
    h = C.History()
    h.on_epoch_end(0, {"loss": 1.0, "accuracy": 0.5})
    h.on_epoch_end(1, {"loss": 0.5, "accuracy": 0.7})
    assert h.history == {"loss": [1.0, 0.5], "accuracy": [0.5, 0.7]} and h.epoch == [0, 1]


def test_early_stopping_patience_and_restore_best_weights():
    cb = C.EarlyStopping(patience=2, restore_best_weights=True)
    ran, model = drive(cb, [1.0, 0.5, 0.6, 0.55, 0.4], weights=True)
    assert ran == [0, 1, 2, 3]
    assert cb.stopped_epoch == 3 and cb.best == 0.5
    np.testing.assert_array_equal(model.w[0], [1.0, 1.0])


def test_early_stopping_max_mode_and_min_delta():
    cb = C.EarlyStopping(monitor="val_accuracy", patience=1, min_delta=0.05)
    model = FakeModel(metrics=[mdl.metrics.Accuracy()])  # "up": auto means max
    ran, _ = drive(cb, [0.5, 0.52, 0.9], key="val_accuracy", model=model)
    assert ran == [0, 1]


# Keras 3.15's EarlyStopping (mode="min" unless given) driven with the same values:
# after each epoch (wait, best, best_epoch, stop_training); then the final weights, where
# the model's weights at epoch e are [e].
KERAS_EARLY_STOPPING = [
    ([1.0, 0.9, 0.8], dict(baseline=0.5, patience=2),
     [(1, 1.0, 0, False), (2, 0.9, 1, False), (3, 0.8, 2, False)], 2.0),
    ([1.0, 0.9, 0.95, 0.97, 0.99, 0.98],
     dict(baseline=0.5, patience=2, restore_best_weights=True),
     [(1, 1.0, 0, False), (2, 0.9, 1, False), (3, 0.9, 1, True)], 1.0),
    ([0.6, 0.4, 0.45, 0.3, 0.6, 0.7, 0.8],
     dict(baseline=0.5, patience=2, restore_best_weights=True),
     [(1, 0.6, 0, False), (0, 0.4, 1, False), (1, 0.4, 1, False), (0, 0.3, 3, False),
      (1, 0.3, 3, False), (2, 0.3, 3, True)], 3.0),
    ([0.9, 0.8, 0.85, 0.7, 0.75, 0.76],
     dict(baseline=0.5, patience=1, start_from_epoch=1, restore_best_weights=True),
     [(0, None, 0, False), (1, 0.8, 1, False), (2, 0.8, 1, True)], 1.0),
    ([0.5, 0.7, 0.6, 0.65], dict(baseline=0.55, patience=1, mode="max", min_delta=0.02),
     [(1, 0.5, 0, False), (0, 0.7, 1, False), (1, 0.7, 1, True)], 2.0),
]


@pytest.mark.parametrize("values,kwargs,expected,weight", KERAS_EARLY_STOPPING)
def test_early_stopping_baseline_as_keras(values, kwargs, expected, weight):
    cb = C.EarlyStopping(**{"mode": "min", **kwargs})
    model = FakeModel()
    cb.set_model(model)
    cb.on_train_begin()
    seen = []
    for epoch, value in enumerate(values):
        model.w = [np.full(1, float(epoch))]
        cb.on_epoch_end(epoch, {"val_loss": value})
        seen.append((cb.wait, cb.best, cb.best_epoch, model.stop_training))
        if model.stop_training:
            break
    cb.on_train_end()
    assert seen == expected
    assert model.w[0][0] == weight


def test_auto_mode_follows_the_metric_direction():
    metrics = [mdl.metrics.get("accuracy"), mdl.metrics.MeanSquaredError(name="mse"),
               mdl.metrics.MeanMetricWrapper(mdl.losses.mean_absolute_error),
               mdl.metrics.Mean(name="mean")]
    cases = {"val_accuracy": [0.5, 0.6, 0.55], "accuracy": [0.5, 0.6, 0.55],
             "val_mse": [0.6, 0.5, 0.55], "mean_absolute_error": [0.6, 0.5, 0.55],
             "loss": [0.6, 0.5, 0.55], "val_loss": [0.6, 0.5, 0.55]}
    for key, values in cases.items():  # the second value is the best either way
        cb = C.EarlyStopping(monitor=key, patience=1)
        ran, _ = drive(cb, values, key=key, model=FakeModel(metrics=metrics))
        assert (ran, cb.best) == ([0, 1, 2], values[1]), key
    for key in ("mean", "val_mean", "val_acc", "val_val_loss"):
        for make in (C.EarlyStopping, C.ReduceLROnPlateau,
                     lambda **kw: C.ModelCheckpoint("x", save_best_only=True, **kw)):
            with pytest.raises(ValueError, match=f"monitor='{key}'.*mode='min'"):
                drive(make(monitor=key), [1.0], key=key, model=FakeModel(metrics=metrics))
    cb = C.EarlyStopping(monitor="mean", mode="max", patience=1)
    ran, _ = drive(cb, [0.5, 0.6, 0.55], key="mean", model=FakeModel(metrics=metrics))
    assert (ran, cb.best, cb.mode) == ([0, 1, 2], 0.6, "max")


def test_reduce_lr_on_plateau():
    cb = C.ReduceLROnPlateau(factor=0.5, patience=2, min_lr=0.02, cooldown=1)
    model = FakeModel(0.1)
    drive(cb, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], model=model)
    # epochs 1, 2 no improvement -> 0.05; cooldown; 2 more -> 0.025; 2 more -> 0.02 floor
    assert math.isclose(model.optimizer.learning_rate, 0.02)


def test_a_reused_callback_starts_each_fit_afresh(capsys):
    stopping = C.EarlyStopping(monitor="loss", patience=1, verbose=1)
    drive(stopping, [1.0, 2.0], key="loss")
    assert stopping.stopped_epoch == 1
    capsys.readouterr()
    ran, _ = drive(stopping, [1.0, 0.5], key="loss")   # improves: no stop this time
    assert ran == [0, 1] and stopping.stopped_epoch == 0
    assert "early stopping" not in capsys.readouterr().out
    reducing = C.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1)
    drive(reducing, [0.1, 0.2], key="loss")
    model = FakeModel(0.1)
    drive(reducing, [1.0, 0.9], key="loss", model=model)  # best 0.1 is the last fit's
    assert model.optimizer.learning_rate == 0.1 and reducing.best == 0.9


def test_learning_rate_scheduler():
    model = FakeModel(1.0)
    seen = []
    cb = C.LearningRateScheduler(lambda epoch, lr: seen.append(lr) or 0.5 ** epoch)
    cb.set_model(model)
    for epoch in range(3):
        cb.on_epoch_begin(epoch)
    assert seen == [1.0, 1.0, 0.5] and model.optimizer.learning_rate == 0.25
    with pytest.raises(TypeError, match="callable"):
        C.LearningRateScheduler(3)


def test_csv_logger(tmp_path):
    path = tmp_path / "log.csv"
    cb = C.CSVLogger(path)
    drive(cb, [0.3, 0.2], key="loss")
    rows = list(csv.DictReader(open(path)))
    assert [(r["epoch"], r["loss"]) for r in rows] == [("0", "0.3"), ("1", "0.2")]
    drive(C.CSVLogger(path, append=True), [0.1], key="loss")
    assert len(list(csv.DictReader(open(path)))) == 3


def test_terminate_on_nan():
    model = FakeModel()
    cb = C.TerminateOnNaN()
    cb.set_model(model)
    cb.on_train_batch_end(0, {"loss": 1.0})
    assert not model.stop_training
    cb.on_train_batch_end(1, {"loss": float("nan")})
    assert model.stop_training


def test_lambda_callback_and_unknown_hook():
    log = []
    cb = C.LambdaCallback(on_train_begin=lambda logs: log.append("begin"),
                          on_epoch_end=lambda epoch, logs: log.append(epoch))
    drive(cb, [1.0, 2.0])
    assert log == ["begin", 0, 1]
    with pytest.raises(TypeError, match="on_nothing"):
        C.LambdaCallback(on_nothing=print)


def test_auto_mode_inside_fit_reads_the_compiled_metrics():
    from minidl import layers
    rng = np.random.default_rng(1)
    x = rng.standard_normal((24, 3)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    model = mdl.models.Sequential([layers.Dense(1, activation="sigmoid")])
    model.compile(mdl.optimizers.SGD(0.1), "binary_crossentropy", metrics=["accuracy"])
    stop = C.EarlyStopping(monitor="val_accuracy", patience=50)
    model.fit(x, y, epochs=2, verbose=0, validation_data=(x, y), callbacks=[stop])
    assert stop._mode == "max"
    with pytest.raises(ValueError, match="monitor='val_auc'"):
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[C.ReduceLROnPlateau(monitor="val_auc")])


@pytest.mark.parametrize("make,message", [
    (lambda: C.EarlyStopping(mode="up"), "mode='up'"),
    (lambda: C.ReduceLROnPlateau(factor=2.0), "factor=2.0"),
    (lambda: C.ModelCheckpoint("x", save_freq=0), "save_freq=0"),
    (lambda: C.EarlyStopping(patience=-1), "patience=-1"),
])
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_callbacks_inside_fit(tmp_path):
    from minidl import layers
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-1.0], [2.0]], np.float32)
    model = mdl.models.Sequential([layers.Dense(1)])
    model.compile(mdl.optimizers.SGD(0.05), "mse")
    events = []
    hooks = C.LambdaCallback(on_train_begin=lambda logs: events.append("train"),
                             on_train_batch_end=lambda b, logs: events.append("batch"),
                             on_epoch_end=lambda e, logs: events.append(sorted(logs)))
    stop = C.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    log = C.CSVLogger(tmp_path / "log.csv")
    sched = C.LearningRateScheduler(lambda epoch, lr: 0.05)
    history = model.fit(x, y, batch_size=20, epochs=10, verbose=0,
                        validation_data=(x, y), callbacks=[sched, stop, log, hooks])
    assert len(history.history["loss"]) == 2  # stopped after the second epoch
    assert events[:3] == ["train", "batch", "batch"]
    assert ["learning_rate", "loss", "val_loss"] in events
    header = "epoch,learning_rate,loss,val_loss"
    assert (tmp_path / "log.csv").read_text().startswith(header)
