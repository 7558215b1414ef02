"""Callbacks: state kept in ModelCheckpoint's file so a resumed run equals a straight one;
checks of their arguments; a missing monitor warns once; checkpoint folders and path
templates."""
import warnings

import numpy as np
import pytest

import minidl as mdl
from minidl import callbacks as C
from minidl import layers


def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 3)).astype("float32")
    return x, x @ np.array([[1.0], [-2.0], [0.5]], "float32")


def model():
    mdl.random.seed(1)
    m = mdl.models.Sequential([layers.Dense(4, activation="tanh", input_shape=(3,)),
                               layers.Dense(1)])
    m.compile(mdl.optimizers.SGD(0.05, momentum=0.9), "mse")
    return m


def callbacks(folder):
    # min_delta=10: the loss never counts as improved after the first epoch
    return [C.ModelCheckpoint(str(folder / "ckpt-{epoch}.minidl")),
            C.EarlyStopping(monitor="loss", patience=4, min_delta=10.0,
                            restore_best_weights=True),
            C.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10.0,
                                cooldown=1)]


def test_a_resumed_run_keeps_the_callbacks_counters(tmp_path):
    x, y = data()
    straight_cbs = callbacks(tmp_path / "straight")
    straight = model()
    history = straight.fit(x, y, batch_size=8, epochs=8, verbose=0, callbacks=straight_cbs)
    assert straight_cbs[1].stopped_epoch == 4 and len(history.history["loss"]) == 5

    first = model()
    first.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=callbacks(tmp_path / "a"))
    resumed = mdl.models.load_model(tmp_path / "a" / "ckpt-3.minidl")
    resumed_cbs = callbacks(tmp_path / "b")
    rest = resumed.fit(x, y, batch_size=8, epochs=8, initial_epoch=3, verbose=0,
                       callbacks=resumed_cbs)
    assert resumed_cbs[1].stopped_epoch == 4
    assert rest.history["loss"] == history.history["loss"][3:]
    assert rest.history["learning_rate"] == history.history["learning_rate"][3:]
    for a, b in zip(straight.get_weights(), resumed.get_weights()):  # the best, restored
        np.testing.assert_array_equal(a, b)


def test_a_checkpoint_without_callback_state_still_resumes(tmp_path):
    x, y = data()
    first = model()
    first.fit(x, y, batch_size=8, epochs=1, verbose=0)
    first.save(tmp_path / "plain.minidl")  # outside fit: no callback state in the file
    loaded = mdl.models.load_model(tmp_path / "plain.minidl")
    stop = C.EarlyStopping(monitor="loss")
    loaded.fit(x, y, batch_size=8, epochs=2, initial_epoch=1, verbose=0, callbacks=[stop])
    assert stop.best is not None


def test_model_checkpoint_creates_folders_and_checks_its_template_first(tmp_path):
    x, y = data()
    m = model()
    path = tmp_path / "new" / "deeper" / "{epoch:02d}-{loss:.2f}.minidl"
    m.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[C.ModelCheckpoint(path)])
    assert len(list((tmp_path / "new" / "deeper").iterdir())) == 1
    epochs = []
    seen = C.LambdaCallback(on_epoch_begin=lambda epoch, logs: epochs.append(epoch))
    bad = C.ModelCheckpoint(tmp_path / "{epoch}-{val_accuracy:.2f}.minidl")
    with pytest.raises(ValueError, match=r"names \['val_accuracy'\], which this fit does "
                                         r"not log; it logs \['epoch', 'loss'\]"):
        m.fit(x, y, epochs=1, verbose=0, callbacks=[seen, bad])
    assert epochs == []
    with pytest.raises(ValueError, match="not a valid format template"):
        C.ModelCheckpoint(tmp_path / "{epoch")


# mode given: with mode="auto" a name that is no compiled metric is a ValueError (Keras 3)
@pytest.mark.parametrize("make,what", [
    (lambda: C.EarlyStopping(monitor="val_acc", mode="max"), "Early stopping"),
    (lambda: C.ReduceLROnPlateau(monitor="val_acc", mode="max"), "Learning rate reduction"),
    (lambda: C.ModelCheckpoint("unused.minidl", monitor="val_acc", save_best_only=True,
                               mode="max"), "Saving the best model"),
])
def test_an_unknown_monitor_warns_once_at_the_first_epoch_end(tmp_path, monkeypatch, make,
                                                              what):
    monkeypatch.chdir(tmp_path)
    x, y = data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model().fit(x, y, epochs=3, verbose=0, callbacks=[make()])
    messages = [str(w.message) for w in caught if "val_acc" in str(w.message)]
    assert messages == [f"{what} is conditioned on metric `val_acc` which is not "
                        "available. Available metrics are: loss" +
                        (", learning_rate" if "rate" in what else "")]
    assert not (tmp_path / "unused.minidl").exists()


@pytest.mark.parametrize("make,error,message", [
    (lambda: C.EarlyStopping(patience="3"), ValueError, "patience='3'"),
    (lambda: C.EarlyStopping(patience=1.5), ValueError, "patience=1.5"),
    (lambda: C.EarlyStopping(min_delta=float("nan")), ValueError, "min_delta=nan"),
    (lambda: C.EarlyStopping(min_delta="0.1"), ValueError, "min_delta='0.1'"),
    (lambda: C.EarlyStopping(baseline=float("inf")), ValueError, "baseline=inf"),
    (lambda: C.EarlyStopping(restore_best_weights="False"), TypeError,
     "restore_best_weights='False'"),
    (lambda: C.EarlyStopping(monitor=3), TypeError, "monitor=3"),
    (lambda: C.EarlyStopping(start_from_epoch=-1), ValueError, "start_from_epoch=-1"),
    (lambda: C.ReduceLROnPlateau(factor=0.0), ValueError, "factor=0.0"),
    (lambda: C.ReduceLROnPlateau(factor="0.5"), ValueError, "factor='0.5'"),
    (lambda: C.ReduceLROnPlateau(cooldown=-1), ValueError, "cooldown=-1"),
    (lambda: C.ReduceLROnPlateau(min_delta=-1e-4), ValueError, "min_delta=-0.0001"),
    (lambda: C.ReduceLROnPlateau(patience=None), ValueError, "patience=None"),
    (lambda: C.ReduceLROnPlateau(min_lr=float("nan")), ValueError, "min_lr=nan"),
    (lambda: C.ModelCheckpoint("m", save_best_only="False"), TypeError,
     "save_best_only='False'"),
    (lambda: C.ModelCheckpoint("m", save_weights_only=1), TypeError, "save_weights_only=1"),
    (lambda: C.ModelCheckpoint("m", save_freq=True), ValueError, "save_freq=True"),
    (lambda: C.ModelCheckpoint(3), TypeError, "filepath=3"),
    (lambda: C.ModelCheckpoint("m", monitor=None), TypeError, "monitor=None"),
    (lambda: C.CSVLogger("log.csv", append="yes"), TypeError, "append='yes'"),
    (lambda: C.CSVLogger("log.csv", separator=1), TypeError, "separator=1"),
])
def test_bad_callback_arguments_name_the_argument(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_callback_state_packs_arrays_apart():
    state = {"EarlyStopping": {"best": 0.5, "best_weights": [np.ones(2), np.zeros(3)]}}
    value, arrays = C.pack_state(state)
    assert value == {"EarlyStopping": {"best": 0.5,
                                       "best_weights": [{"array": 0}, {"array": 1}]}}
    back = C.unpack_state(value, arrays)
    np.testing.assert_array_equal(back["EarlyStopping"]["best_weights"][1], np.zeros(3))
    with pytest.raises(ValueError, match="array 2 of 2"):
        C.unpack_state({"x": {"array": 2}}, arrays)
