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
    def __init__(self, lr=0.1):
        self.optimizer = FakeOptimizer(lr)
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
    ran, _ = drive(cb, [0.5, 0.52, 0.9], key="val_accuracy")
    assert ran == [0, 1]


def test_reduce_lr_on_plateau():
    cb = C.ReduceLROnPlateau(factor=0.5, patience=2, min_lr=0.02, cooldown=1)
    model = FakeModel(0.1)
    drive(cb, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], model=model)
    # epochs 1, 2 no improvement -> 0.05; cooldown; 2 more -> 0.025; 2 more -> 0.02 floor
    assert math.isclose(model.optimizer.learning_rate, 0.02)


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
    assert (tmp_path / "log.csv").read_text().startswith("epoch,learning_rate,loss,val_loss")
