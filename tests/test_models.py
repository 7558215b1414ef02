"""Sequential models: building, training, evaluation, and saving that loses nothing and
runs nothing."""
import io
import os
import zipfile

import numpy as np
import pytest

import minidl as mdl
from minidl import layers
from minidl.models import Sequential, load_model


def blobs(n=96, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centers = np.array([[2.0, 0.0, 0.0, 1.0], [0.0, 2.0, 0.0, -1.0], [0.0, 0.0, 2.0, 0.0]])
    x = (centers[y] + 0.3 * rng.standard_normal((n, 4))).astype(np.float32)
    return x, y


def small_model(dropout=0.0, **compile_kwargs):
    model = Sequential([
        layers.Dense(8, activation="relu", kernel_regularizer="l2"),
        layers.Dropout(dropout),
        layers.Dense(3),
    ])
    model.compile(optimizer=compile_kwargs.pop("optimizer", mdl.optimizers.Adam(0.01)),
                  loss=mdl.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=compile_kwargs.pop("metrics", ["accuracy"]))
    return model


def test_build_summary_and_counts(capsys):
    model = Sequential([layers.Dense(5, input_shape=(4,)), layers.Dense(2)])
    assert model.built
    assert model.count_params() == 4 * 5 + 5 + 5 * 2 + 2
    assert [w.shape for w in model.weights] == [(4, 5), (5,), (5, 2), (2,)]
    model.summary()
    out = capsys.readouterr().out
    assert "Output Shape" in out and "(None, 5)" in out and "Total params: 37" in out
    assert model.compute_output_shape((None, 4)) == (None, 2)


def test_add_and_pop():
    model = Sequential()
    model.add(layers.Dense(3))
    model.add(layers.Dense(2))
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dense"]
    last = model.pop()
    assert isinstance(last, layers.Dense) and len(model.layers) == 1
    model.build((None, 4))
    assert len(model.weights) == 2
    with pytest.raises(TypeError, match="takes a minidl Layer"):
        model.add("dense")
    with pytest.raises(ValueError, match="no layers"):
        Sequential().pop()


def test_fit_learns_and_returns_history():
    x, y = blobs()
    model = small_model()
    history = model.fit(x, y, batch_size=16, epochs=15, verbose=0,
                        validation_split=0.25)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history.history["loss"]) == 15
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["val_accuracy"][-1] > 0.9
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc > 0.9 and np.isfinite(loss)


def test_verbose_zero_is_silent_and_one_shows_a_bar(capsys):
    x, y = blobs(32)
    model = small_model()
    model.fit(x, y, epochs=1, verbose=0)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    model.fit(x, y, epochs=1, verbose=1)
    out = capsys.readouterr().out  # not a terminal: the epoch's line alone, as Keras
    assert "Epoch 1/1" in out and "loss" in out


def test_model_losses_are_added_to_the_training_loss():
    x, y = blobs(16)
    model = small_model(optimizer=mdl.optimizers.SGD(learning_rate=0.0), metrics=[])
    model.build((None, 4))
    loss = model.train_on_batch(x, y)
    data_loss = model.loss(mdl.tensor(y), model(x, training=True))
    penalty = sum(float(p.data) for p in model.losses)
    assert penalty > 0
    np.testing.assert_allclose(loss, float(data_loss.data) + penalty, rtol=1e-5)


def test_predict_in_batches_matches_one_call():
    x, y = blobs(37)
    model = small_model()
    model.fit(x, y, epochs=1, verbose=0)
    p = model.predict(x, batch_size=8)
    assert isinstance(p, np.ndarray) and p.shape == (37, 3) and p.dtype == np.float32
    np.testing.assert_allclose(p, model(x).numpy(), rtol=1e-6)


def test_train_and_test_on_batch_return_loss_then_metrics():
    x, y = blobs(16)
    model = small_model()
    out = model.train_on_batch(x, y)
    assert isinstance(out, list) and len(out) == 2
    test = model.test_on_batch(x, y)
    assert len(test) == 2 and 0.0 <= test[1] <= 1.0
    model.compile("sgd", loss="mse")
    assert isinstance(model.test_on_batch(x, np.zeros((16, 3), np.float32)), float)


def test_nan_loss_stops_with_epoch_and_step():
    x, y = blobs(32)
    x[20] = np.nan
    model = small_model()
    model.build((None, 4))
    before = model.get_weights()
    with pytest.raises(FloatingPointError, match="epoch 1, step 3"):
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    fresh = small_model()
    fresh.build((None, 4))
    fresh.set_weights(before)
    fresh.fit(x[:16], y[:16], batch_size=8, epochs=1, shuffle=False, verbose=0)
    # the bad step changed nothing
    for a, b in zip(model.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_fit_on_a_generator():
    x, y = blobs(48)

    def batches():
        while True:
            for s in range(0, 48, 16):
                yield x[s:s + 16], y[s:s + 16]

    model = small_model()
    history = model.fit(batches(), steps_per_epoch=3, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


def test_a_generator_that_runs_out_stops_instead_of_repeating_old_logs():
    x, y = blobs(32)

    def once():
        for s in range(0, 32, 16):
            yield x[s:s + 16], y[s:s + 16]

    with pytest.warns(UserWarning, match="ran out of data at epoch 2"):
        history = small_model().fit(once(), epochs=3, verbose=0)
    assert len(history.history["loss"]) == 1
    with pytest.raises(ValueError, match="no batches"):
        small_model().fit(iter([]), epochs=1, verbose=0)


def test_a_single_callback_needs_no_list():
    x, y = blobs(16)
    seen = []
    cb = mdl.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
    model = small_model()
    model.fit(x, y, epochs=2, callbacks=cb, verbose=0)
    model.evaluate(x, y, callbacks=cb, verbose=0)
    assert seen == [0, 1]


def test_validation_data_must_be_a_pair():
    x, y = blobs(16)
    with pytest.raises(ValueError, match="validation_data must be a pair"):
        small_model().fit(x, y, validation_data=x, verbose=0)


@pytest.mark.parametrize("kwargs,message", [
    (dict(batch_size=0), "batch_size=0"),
    (dict(epochs=-1), "epochs=-1"),
    (dict(validation_split=1.5), "validation_split=1.5"),
    (dict(verbose=3), "verbose=3"),
])
def test_fit_rejects_bad_arguments(kwargs, message):
    x, y = blobs(16)
    with pytest.raises(ValueError, match=message):
        small_model().fit(x, y, **kwargs)


def test_fit_needs_compile_and_matching_lengths():
    x, y = blobs(16)
    with pytest.raises(ValueError, match="compile"):
        Sequential([layers.Dense(2)]).fit(x, y)
    with pytest.raises(ValueError, match="16 samples but y has 15"):
        small_model().fit(x, y[:15])


def test_config_round_trip():
    model = Sequential([layers.Dense(4, activation="relu", input_shape=(3,)),
                        layers.Dense(2, use_bias=False)], name="tiny")
    clone = Sequential.from_config(model.get_config())
    assert clone.name == "tiny" and clone.built
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]
    clone.set_weights(model.get_weights())
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(clone(x).numpy(), model(x).numpy())


# -- saving ----------------------------------------------------------------------------
def trained(tmp_path=None):
    x, y = blobs(64)
    model = small_model(dropout=0.2)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    return model, x, y


def test_save_and_load_give_bitwise_equal_predictions(tmp_path):
    model, x, y = trained()
    path = tmp_path / "model.weird-suffix"
    model.save(path)
    assert os.listdir(tmp_path) == ["model.weird-suffix"]
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert [w.name for w in loaded.weights] == [w.name for w in model.weights]
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.iterations == model.optimizer.iterations


def test_save_weights_and_load_weights(tmp_path):
    model, x, _ = trained()
    model.save_weights(tmp_path / "w.bin")
    other = small_model()
    other.build((None, 4))
    other.load_weights(tmp_path / "w.bin")
    np.testing.assert_array_equal(other.predict(x), model.predict(x))
    wrong = Sequential([layers.Dense(5), layers.Dense(3)])
    wrong.build((None, 4))
    with pytest.raises(ValueError, match="weights"):
        wrong.load_weights(tmp_path / "w.bin")
    with pytest.raises(ValueError, match="weights only"):
        load_model(tmp_path / "w.bin")


def test_resume_from_checkpoint_equals_training_straight_through(tmp_path):
    x, y = blobs(64)

    def run(epochs, initial_epoch=0, model=None):
        model = model or small_model(dropout=0.3)
        model.fit(x, y, batch_size=16, epochs=epochs, initial_epoch=initial_epoch,
                  verbose=0)
        return model

    mdl.random.seed(5)
    straight = run(4)
    mdl.random.seed(5)
    first = run(2)
    first.save(tmp_path / "ckpt")
    mdl.random.seed(999)  # the checkpoint restores the random state
    resumed = run(4, initial_epoch=2, model=load_model(tmp_path / "ckpt"))
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_save_that_dies_halfway_leaves_the_previous_file(tmp_path, monkeypatch):
    model, x, _ = trained()
    path = tmp_path / "model.minidl"
    model.save(path)
    before = path.read_bytes()

    def dying_savez(file, **arrays):
        file.write(b"PK partial")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(np, "savez", dying_savez)
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.minidl"]


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_file_carrying_a_pickled_object_is_refused_without_running_it(tmp_path):
    model, _, _ = trained()
    good = tmp_path / "good"
    model.save(good)
    with np.load(good, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["weight_0"] = np.array([_Exploit()], dtype=object)
    hostile = tmp_path / "hostile"
    with open(hostile, "wb") as f:
        np.savez(f, **arrays)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(ValueError, match="not a readable minidl file"):
            load_model(hostile)
    finally:
        os.chdir(cwd)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "pickle", "no_header",
                                    "bad_json", "unknown_class", "shape", "dtype"])
def test_malformed_files_raise_clear_errors(tmp_path, damage):
    model, _, _ = trained()
    path = tmp_path / "m"
    model.save(path)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(os.urandom(256))
    elif damage == "pickle":
        import pickle
        path.write_bytes(pickle.dumps({"a": 1}))
    else:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        header = str(arrays["__minidl__"][()])
        if damage == "no_header":
            del arrays["__minidl__"]
        elif damage == "bad_json":
            arrays["__minidl__"] = np.array(header[:-5])
        elif damage == "unknown_class":
            arrays["__minidl__"] = np.array(header.replace('"Dense"', '"Evil"', 1))
        elif damage == "shape":
            arrays["weight_0"] = arrays["weight_0"][:2]
        elif damage == "dtype":
            arrays["weight_0"] = arrays["weight_0"].astype(np.float64)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        path.write_bytes(buf.getvalue())
    with pytest.raises(ValueError):
        load_model(path)


def test_loading_a_plain_npy_file_is_a_clear_error(tmp_path):
    np.save(tmp_path / "a.npy", np.ones(3))
    with pytest.raises(ValueError, match="not a readable minidl file"):
        load_model(tmp_path / "a.npy")


def test_a_compiled_model_saved_before_training_loads(tmp_path):
    model = small_model()
    model.build((None, 4))
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.optimizer.iterations == 0
    x, y = blobs(16)
    loaded.fit(x, y, epochs=1, verbose=0)


def test_saved_files_get_the_usual_permissions_not_0600(tmp_path):
    model, _, _ = trained()
    model.save(tmp_path / "m")
    mask = os.umask(0o022)
    os.umask(mask)
    assert os.stat(tmp_path / "m").st_mode & 0o777 == 0o666 & ~mask
    with pytest.raises(FileNotFoundError, match="does not exist"):
        model.save(tmp_path / "missing" / "m")


def test_loading_needs_custom_objects_for_user_layers(tmp_path):
    class Twice(layers.Layer):
        def call(self, inputs):
            return inputs * 2.0

    model = Sequential([layers.Dense(2, input_shape=(3,)), Twice()])
    model.save(tmp_path / "m")
    with pytest.raises(ValueError, match="Twice"):
        load_model(tmp_path / "m")
    loaded = load_model(tmp_path / "m", custom_objects={"Twice": Twice})
    x = np.ones((1, 3), np.float32)
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())


def test_saving_an_unbuilt_model_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no weights yet"):
        Sequential([layers.Dense(2)]).save(tmp_path / "m")


def test_model_checkpoint_save_best_only(tmp_path):
    x, y = blobs(64)
    model = small_model()
    pattern = str(tmp_path / "best-{epoch:02d}.minidl")
    ckpt = mdl.callbacks.ModelCheckpoint(pattern, monitor="loss", save_best_only=True)
    history = model.fit(x, y, epochs=4, batch_size=16, verbose=0, callbacks=[ckpt])
    saved = sorted(os.listdir(tmp_path))
    losses = history.history["loss"]
    improving = [i for i in range(4) if losses[i] == min(losses[: i + 1])]
    assert saved == [f"best-{i + 1:02d}.minidl" for i in improving]
    assert zipfile.is_zipfile(tmp_path / saved[-1])


def test_model_to_moves_weights_and_optimizer_state(backend):
    x, y = blobs(32)
    model = small_model()
    model.fit(x, y, epochs=1, verbose=0)
    before = model.predict(x)
    model.to(backend)
    assert all(w.backend == backend for w in model.weights)
    assert all(mdl.backend.resolve(backend).owns(a)
               for arrays in model.optimizer._slots.values() for a in arrays)
    np.testing.assert_allclose(model.predict(x), before, rtol=1e-5, atol=1e-6)
    model.fit(x, y, epochs=1, verbose=0)
    model.to("numpy")
    assert np.isfinite(model.predict(x)).all()
