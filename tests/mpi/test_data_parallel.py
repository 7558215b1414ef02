"""Data-parallel ``fit``, ``evaluate`` and ``predict`` against one process.

Run under MPI by ``.ci/run``: ``mpiexec -n 2 python -m pytest -q tests/mpi`` (and
``-n 3``). Every process runs every test in the same order; the single-process
reference is computed on each process with no distribution set. Outside ``mpiexec`` the
module is skipped.
"""
import numpy as np
import pytest

import minidl as mdl
from minidl.models.batches import ArrayBatches

WORLD = mdl.distribution.initialize()
pytestmark = pytest.mark.skipif(WORLD.size == 1,
                                reason="runs under mpiexec -n 2 or more (see .ci/run)")
RTOL = 1e-10


@pytest.fixture(autouse=True)
def data_parallel():
    mdl.distribution.set_distribution(mdl.distribution.DataParallel())
    yield
    mdl.distribution.set_distribution(None)


def _data(n=26, seed=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)), rng.integers(0, 3, size=n)


def _model(optimizer, norm=None):
    mdl.random.seed(1)
    layers = [mdl.layers.Dense(5, activation="tanh", input_shape=(4,), dtype="float64")]
    if norm is not None:
        layers.append(mdl.layers.BatchNormalization(synchronized=norm, momentum=0.5,
                                                    dtype="float64"))
    layers.append(mdl.layers.Dense(3, dtype="float64"))
    model = mdl.models.Sequential(layers)
    model.compile(optimizer=mdl.optimizers.get(optimizer),
                  loss=mdl.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def _fit(optimizer, parallel, norm=None, n=26, epochs=2, **kwargs):
    """The weights and history of a run, with the distribution or on one process."""
    x, y = _data(n)
    model = _model(optimizer, norm)
    saved = mdl.distribution.distribution()
    mdl.distribution.set_distribution(saved if parallel else None)
    try:
        history = model.fit(x, y, batch_size=6, epochs=epochs, verbose=0, **kwargs)
    finally:
        mdl.distribution.set_distribution(saved)
    return model, history


def _assert_same_everywhere(array):
    for other in WORLD.allgather_object(np.asarray(array)):
        np.testing.assert_array_equal(other, array)


def _max_relative_error(a, b):
    return max(float(np.max(np.abs(p - q) / np.maximum(np.abs(q), 1e-300)))
               for p, q in zip(a, b))


@pytest.mark.parametrize("optimizer", [
    {"class_name": "SGD", "config": {"learning_rate": 0.1, "momentum": 0.9}},
    {"class_name": "Adam", "config": {"learning_rate": 0.01}}])
def test_fit_equals_one_process_with_the_global_batch(optimizer):
    # 26 samples in batches of 6: the last batch of 2 leaves a process empty at -n 3
    validation = _data(11, seed=9)
    parallel, h_parallel = _fit(optimizer, True, validation_data=validation)
    single, h_single = _fit(optimizer, False, validation_data=validation)
    for a, b in zip(parallel.get_weights(), single.get_weights()):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-14)
        _assert_same_everywhere(a)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(h_parallel.history[key], h_single.history[key],
                                   rtol=RTOL)
    assert parallel.optimizer.iterations == single.optimizer.iterations == 10
    error = _max_relative_error(parallel.get_weights(), single.get_weights())
    print(f"\nprocess {WORLD.rank}: {optimizer['class_name']} weights, largest relative "
          f"difference {error:.1e}")


def test_synchronized_batch_normalization_equals_one_process():
    parallel, _ = _fit("adam", True, norm=True, n=24)
    single, _ = _fit("adam", False, norm=True, n=24)
    names = [w.name for w in single.weights]
    assert "moving_mean" in names and "moving_variance" in names
    for a, b in zip(parallel.get_weights(), single.get_weights()):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-14)
    error = _max_relative_error(parallel.get_weights(), single.get_weights())
    print(f"\nprocess {WORLD.rank}: synchronized BatchNormalization, largest relative "
          f"difference {error:.1e}")


def test_per_process_batch_normalization_differs_but_agrees_everywhere():
    parallel, _ = _fit("adam", True, norm=False, n=24)
    single, _ = _fit("adam", False, norm=False, n=24)
    moving_mean = parallel.layers[1].moving_mean.numpy()
    _assert_same_everywhere(moving_mean)  # averaged at each epoch's end
    assert not np.allclose(moving_mean, single.layers[1].moving_mean.numpy(), rtol=1e-6)


def _bn_reference(x, u, gamma):
    xt = mdl.tensor(x, requires_grad=True)
    g = mdl.tensor(gamma, requires_grad=True)
    y, mean, var = mdl.ops.normalization.batch_normalization_training(xt, g, axis=-1)
    ((y * mdl.tensor(u)).sum() / len(x)).backward()
    return y.numpy(), xt.grad, g.grad, mean.numpy(), var.numpy()


def test_synchronized_op_outputs_and_gradients_equal_the_global_batch():
    rng = np.random.default_rng(0)
    n = 4 * WORLD.size + 1          # unequal shares
    x, u, gamma = rng.normal(size=(n, 2, 3)), rng.normal(size=(n, 2, 3)), rng.normal(size=3)
    y, dx, dgamma, mean, var = _bn_reference(x, u, gamma)
    start, stop = mdl.distribution.distribution().bounds(n)
    xt = mdl.tensor(x[start:stop], requires_grad=True)
    g = mdl.tensor(gamma, requires_grad=True)
    y_p, mean_p, var_p = mdl.ops.normalization.batch_normalization_training(
        xt, g, axis=-1, communicator=WORLD)
    ((y_p * mdl.tensor(u[start:stop])).sum() / (stop - start)).backward()
    share = (stop - start) / n      # fit's weight of this process's gradients
    np.testing.assert_allclose(y_p.numpy(), y[start:stop], rtol=RTOL)
    np.testing.assert_allclose(mean_p.numpy(), mean, rtol=RTOL)
    np.testing.assert_allclose(var_p.numpy(), var, rtol=RTOL)
    np.testing.assert_allclose(xt.grad * share, dx[start:stop], rtol=RTOL, atol=1e-15)
    np.testing.assert_allclose(WORLD.allreduce(g.grad * share), dgamma, rtol=RTOL)


def test_the_shares_of_an_epoch_are_disjoint_and_cover_the_data():
    n, batch = 29, 6
    data = np.arange(n)
    mdl.random.seed(5)
    reference = [list(x) for x, _ in ArrayBatches(data, data, batch, True, 0.0).epoch()]
    mdl.random.seed(5)
    batches = ArrayBatches(data, data, batch, True, 0.0)
    batches.shard = mdl.distribution.distribution().bounds
    mine = [list(x) for x, _ in batches.epoch()]
    everyone = WORLD.allgather_object(mine)
    for step, global_batch in enumerate(reference):
        assert [i for shares in everyone for i in shares[step]] == global_batch
    seen = sorted(i for shares in everyone for share in shares for i in share)
    assert seen == list(range(n))


def test_a_checkpoint_written_here_resumes_here_and_on_one_process(tmp_path):
    folder = WORLD.broadcast_object(str(tmp_path))
    path = f"{folder}/epoch-{{epoch}}.minidl"
    straight, _ = _fit("adam", True, epochs=3, callbacks=[
        mdl.callbacks.ModelCheckpoint(path, monitor="loss")])
    WORLD.barrier()
    resumed = mdl.models.load_model(path.format(epoch=1))
    x, y = _data()
    resumed.fit(x, y, batch_size=6, epochs=3, initial_epoch=1, verbose=0)
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-14)
    mdl.distribution.set_distribution(None)
    alone = mdl.models.load_model(path.format(epoch=1))
    alone.fit(x, y, batch_size=6, epochs=3, initial_epoch=1, verbose=0)
    for a, b in zip(alone.get_weights(), straight.get_weights()):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-14)


def test_evaluate_and_predict_return_the_full_result_everywhere():
    model, _ = _fit("sgd", True, epochs=1)
    x, y = _data(31, seed=4)
    predictions = model.predict(x, batch_size=6)
    logs = model.evaluate(x, y, batch_size=6, verbose=0, return_dict=True)
    mdl.distribution.set_distribution(None)
    np.testing.assert_allclose(predictions, model.predict(x, batch_size=6), rtol=RTOL)
    single = model.evaluate(x, y, batch_size=6, verbose=0, return_dict=True)
    assert logs.keys() == single.keys()
    for key in logs:
        np.testing.assert_allclose(logs[key], single[key], rtol=RTOL)


def test_fit_on_a_generator_of_global_batches_shares_each_batch():
    x, y = _data()
    batches = [(x[s:s + 6], y[s:s + 6]) for s in range(0, len(x), 6)]
    parallel = _model("adam")
    parallel.fit(batches, epochs=2, verbose=0)
    mdl.distribution.set_distribution(None)
    single = _model("adam")
    single.fit(batches, epochs=2, verbose=0)
    for a, b in zip(parallel.get_weights(), single.get_weights()):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-14)


def test_predict_joins_every_output_of_a_model_with_two():
    inputs = mdl.Input((4,), dtype="float64")
    model = mdl.models.Model(inputs, [mdl.layers.Dense(2, dtype="float64")(inputs),
                                      mdl.layers.Dense(3, dtype="float64")(inputs)])
    x, _ = _data(13)
    shared = model.predict(x, batch_size=6)
    mdl.distribution.set_distribution(None)
    for a, b in zip(shared, model.predict(x, batch_size=6)):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=RTOL)


def test_a_batch_size_not_divisible_by_the_processes_is_a_clear_error():
    x, y = _data()
    model = _model("sgd")
    with pytest.raises(ValueError, match=f"multiple of {WORLD.size}"):
        model.fit(x, y, batch_size=WORLD.size + 1, verbose=0)


def test_a_batch_leaving_a_process_empty_under_synchronized_norm_fails_everywhere():
    x, y = _data(n=6 + 1)  # the last global batch: 1 sample, none on process 1
    model = _model("sgd", norm=True)
    with pytest.raises(ValueError, match=r"at epoch 1, step 2 has 1 samples for "
                                         rf"{WORLD.size} processes") as error:
        model.fit(x, y, batch_size=6, shuffle=False, verbose=0)
    assert "synchronized BatchNormalization" in str(error.value)
    _assert_same_everywhere(str(error.value))


def test_integer_allreduce_sums_exactly_and_refuses_a_mean_everywhere():
    ranks = np.array([WORLD.rank, 1], dtype="int64")
    assert WORLD.allreduce(ranks).tolist() == [sum(range(WORLD.size)), WORLD.size]
    with pytest.raises(TypeError, match="op='mean'.* int64 array"):
        WORLD.allreduce(ranks, op="mean")
    WORLD.barrier()  # every process is still in step after the refusal


def test_different_models_are_detected_at_the_first_step():
    x, y = _data()
    model = _model("sgd") if WORLD.rank == 0 else mdl.models.Sequential(
        [mdl.layers.Dense(3, input_shape=(4,), dtype="float64")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="differs from process 0's"):
        model.fit(x, y, batch_size=6, verbose=0)


def test_a_non_finite_loss_on_one_process_raises_on_every_process():
    x, y = _data()
    if WORLD.rank == WORLD.size - 1:  # in this process's share of the first batch
        start, stop = mdl.distribution.distribution().bounds(6)
        x[start:stop] = np.nan
    model = _model("sgd")
    before = model.get_weights()
    with pytest.raises(FloatingPointError, match="at epoch 1, step 1"):
        model.fit(x, y, batch_size=6, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


class _Sqrt(mdl.layers.Layer):
    """``sqrt``: its gradient at 0 is infinite."""

    def call(self, inputs):
        return inputs.sqrt()


@pytest.mark.filterwarnings("ignore:divide by zero", "ignore:invalid value")
def test_a_non_finite_gradient_on_one_process_is_refused_on_every_process():
    x, y = np.abs(_data()[0]) + 0.1, _data()[1]
    if WORLD.rank == WORLD.size - 1:  # a zero sample in this process's share: sqrt(0)
        x[mdl.distribution.distribution().bounds(6)[0]] = 0.0
    mdl.random.seed(1)
    model = mdl.models.Sequential([
        mdl.layers.Dense(5, use_bias=False, kernel_initializer="ones", input_shape=(4,),
                         dtype="float64"),
        _Sqrt(dtype="float64"), mdl.layers.BatchNormalization(dtype="float64"),
        mdl.layers.Dense(3, dtype="float64")])
    model.compile("sgd", mdl.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.build((None, 4))
    before = model.get_weights()
    with pytest.raises(FloatingPointError, match="NaN or infinite on 1 of .* behind the "
                                                 "loss .* at epoch 1, step 1") as error:
        model.fit(x, y, batch_size=6, shuffle=False, verbose=0)
    _assert_same_everywhere(str(error.value))
    for a, b in zip(model.get_weights(), before):  # moving statistics included
        np.testing.assert_array_equal(a, b)
