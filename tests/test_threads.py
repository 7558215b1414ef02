"""Per-thread state: grad mode (``no_grad``), the training flag of nested layer calls,
``use_backend`` and a layer's call losses (activity penalties, ``add_loss``) belong to the
thread that set them, so ``predict`` in one thread while another thread trains the same
model works and trains exactly as a single thread does.

Threads meet at barriers (no sleeps): each ``predict`` holds still inside its forward pass,
under ``no_grad`` and ``training=False``, while the other thread runs one training step.
"""
import threading

import numpy as np
import pytest

import minidl as mdl
from minidl import layers
from minidl.models import Sequential

TIMEOUT = 20  # seconds; a barrier that waits this long has failed, it never should


def run_in_thread(fn):
    """Start ``fn`` in a thread; returns ``join()``, which gives back ``fn``'s result or
    raises its exception."""
    box = {}

    def target():
        try:
            box["result"] = fn()
        except BaseException as err:  # handed to the joining thread
            box["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def join():
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "the thread did not finish"
        if "error" in box:
            raise box["error"]
        return box.get("result")
    return join


# -- grad mode -----------------------------------------------------------------------------
def test_no_grad_in_one_thread_leaves_another_recording():
    inside, leave = threading.Event(), threading.Event()

    def predicting():
        with mdl.no_grad():
            inside.set()
            leave.wait(TIMEOUT)
            return mdl.is_grad_enabled()

    join = run_in_thread(predicting)
    assert inside.wait(TIMEOUT)
    try:
        assert mdl.is_grad_enabled()
        x = mdl.tensor([1.0, 2.0], requires_grad=True)
        (x * x).sum().backward()
        np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    finally:
        leave.set()
    assert join() is False
    assert mdl.is_grad_enabled()


def test_a_new_thread_records_whatever_the_starting_thread_does():
    def recording():
        x = mdl.tensor([3.0], requires_grad=True)
        (x * x).sum().backward()
        return mdl.is_grad_enabled(), x.grad.tolist()

    with mdl.no_grad():
        assert run_in_thread(recording)() == (True, [6.0])
        assert not mdl.is_grad_enabled()


def test_enable_grad_inside_no_grad_is_per_thread():
    barrier = threading.Barrier(2, timeout=TIMEOUT)

    def enabling():
        with mdl.no_grad(), mdl.enable_grad():
            barrier.wait()  # 1: enable_grad active here, no_grad in the main thread
            barrier.wait()  # 2
            return mdl.is_grad_enabled()

    with mdl.no_grad():
        join = run_in_thread(enabling)
        barrier.wait()
        assert not mdl.is_grad_enabled()
        barrier.wait()
    assert join() is True


def test_no_grad_as_a_decorator_restores_the_mode_of_each_call():
    @mdl.no_grad()
    def depth(n):
        return [mdl.is_grad_enabled()] + (depth(n - 1) if n else [])

    assert depth(2) == [False, False, False]
    assert mdl.is_grad_enabled()
    with mdl.no_grad():
        assert mdl.enable_grad()(mdl.is_grad_enabled)() is True
        assert not mdl.is_grad_enabled()


# -- training flag -------------------------------------------------------------------------
class Seen(layers.Layer):
    """Records the ``training`` value each call receives."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = []

    def call(self, inputs, training=None):
        self.seen.append(training)
        return inputs


class Outer(layers.Layer):
    """Calls ``inner`` without ``training`` (so it inherits this call's flag), after
    waiting at ``barrier`` when one is given."""

    def __init__(self, inner, barrier=None, **kwargs):
        super().__init__(**kwargs)
        self.inner, self.barrier = inner, barrier

    def call(self, inputs, training=None):
        if self.barrier is not None:
            self.barrier.wait()  # 1: this call is in progress
            self.barrier.wait()  # 2: the other thread has called its layer
        return self.inner(inputs)


def test_training_flag_of_a_call_in_progress_stays_in_its_thread():
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    inner, alone = Seen(), Seen()
    outer = Outer(inner, barrier)
    x = np.ones((1, 2), np.float32)
    join = run_in_thread(lambda: outer(x, training=True))
    barrier.wait()
    alone(x)   # called with no training flag while outer(training=True) runs elsewhere
    barrier.wait()
    join()
    assert alone.seen == [None]
    assert inner.seen == [True]


def test_nested_call_inherits_the_training_flag():
    inner = Seen()
    outer = Outer(inner)
    x = np.ones((1, 2), np.float32)
    outer(x, training=True)
    outer(x, training=False)
    outer(x)
    assert inner.seen == [True, False, None]


# -- backend -------------------------------------------------------------------------------
def test_use_backend_stays_in_its_thread(fake_cupy):
    barrier = threading.Barrier(2, timeout=TIMEOUT)

    def on_cupy():
        with mdl.use_backend("cupy"):
            barrier.wait()  # 1: cupy is the default here
            barrier.wait()  # 2
            return mdl.tensor([1.0]).backend.name

    join = run_in_thread(on_cupy)
    barrier.wait()
    name = mdl.tensor([1.0]).backend.name
    barrier.wait()
    assert (name, join()) == ("numpy", "cupy")
    assert mdl.get_backend() == "numpy"


def test_set_backend_is_process_wide(fake_cupy):
    previous = mdl.get_backend()
    try:
        mdl.set_backend("cupy")
        assert run_in_thread(lambda: mdl.get_backend().name)() == "cupy"
    finally:
        mdl.set_backend(previous)


# -- a model trained in one thread, predicting in another ----------------------------------
class Gate(layers.Layer):
    """The identity. In inference (``training`` false) with ``barrier`` set, it holds the
    forward pass still between two waits, under ``no_grad``, while the other thread runs
    one training step."""

    barrier = None

    def call(self, inputs, training=None):
        if not training and self.barrier is not None:
            self.barrier.wait()  # 1: inside predict's forward pass
            self.barrier.wait()  # 2: the training step is done
        return inputs


def gated_model(kind="sequential"):
    """Dense, Gate, Dropout, Dense (functional: with BatchNormalization too); the Gate is
    ``model.gate``."""
    mdl.random.seed(7)
    gate = Gate()
    if kind == "sequential":
        model = Sequential([layers.Dense(6, activation="relu", input_shape=(4,)), gate,
                            layers.Dropout(0.25), layers.Dense(3)])
    else:
        inputs = mdl.Input(shape=(4,))
        x = layers.BatchNormalization()(layers.Dense(6, activation="relu")(inputs))
        outputs = layers.Dense(3)(layers.Dropout(0.25)(gate(x)))
        model = mdl.models.Model(inputs, outputs)
    model.compile(optimizer=mdl.optimizers.Adam(0.01),
                  loss=mdl.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.gate = gate
    return model


def data(n=12):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 4)).astype(np.float32), rng.integers(0, 3, n)


def predict_at_each_step(model, x, steps):
    """Start a thread that runs ``steps`` predicts on ``model``, each one held inside its
    forward pass while the training thread runs one step; returns its ``join``."""
    def predicting():
        return [model.predict(x[:5], batch_size=5, verbose=0) for _ in range(steps)]
    return run_in_thread(predicting)


def check_predictions(predictions, steps):
    assert len(predictions) == steps
    for p in predictions:
        assert p.shape == (5, 3) and np.isfinite(p).all()


def train_on_batches(model, x, y, steps, barrier=None):
    losses = []
    for step in range(steps):
        if barrier is not None:
            barrier.wait()   # 1: predict is inside its forward pass now
        try:
            losses.append(model.train_on_batch(x[step::steps], y[step::steps]))
        finally:
            if barrier is not None:
                barrier.wait()  # 2: let predict finish
    return losses


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_train_on_batch_beside_predict_trains_as_one_thread_does(kind):
    x, y = data()
    steps = 3
    alone = gated_model(kind)
    expected = train_on_batches(alone, x, y, steps)

    model = gated_model(kind)
    model.gate.barrier = barrier = threading.Barrier(2, timeout=TIMEOUT)
    join = predict_at_each_step(model, x, steps)
    losses = train_on_batches(model, x, y, steps, barrier)
    check_predictions(join(), steps)
    assert losses == expected
    for w, w_alone in zip(model.get_weights(), alone.get_weights()):
        np.testing.assert_array_equal(w, w_alone)


class HoldAtEachBatch(mdl.callbacks.Callback):
    """Meets the predicting thread before and after each training batch."""

    def __init__(self, barrier):
        super().__init__()
        self.barrier = barrier

    def on_train_batch_begin(self, batch, logs=None):
        self.barrier.wait()  # 1: predict is inside its forward pass now

    def on_train_batch_end(self, batch, logs=None):
        self.barrier.wait()  # 2: let predict finish


def test_fit_beside_predict_trains_as_one_thread_does():
    x, y = data()
    alone = gated_model()
    expected = alone.fit(x, y, batch_size=4, epochs=2, verbose=0).history["loss"]

    model = gated_model()
    model.gate.barrier = barrier = threading.Barrier(2, timeout=TIMEOUT)
    join = predict_at_each_step(model, x, steps=2 * 3)
    try:
        history = model.fit(x, y, batch_size=4, epochs=2, verbose=0,
                            callbacks=[HoldAtEachBatch(barrier)])
    except Exception:
        barrier.abort()  # the predicting thread stops waiting
        raise
    check_predictions(join(), 2 * 3)
    assert history.history["loss"] == expected
    for w, w_alone in zip(model.get_weights(), alone.get_weights()):
        np.testing.assert_array_equal(w, w_alone)


def test_predict_loop_beside_train_loop_without_barriers():
    """Free-running threads (no ordering forced): both finish without an error."""
    x, y = data()
    steps = 4
    model = gated_model()
    done = threading.Event()

    def predicting():
        count = 0
        while not done.is_set() or count == 0:
            model.predict(x, batch_size=4, verbose=0)
            count += 1
        return count

    join = run_in_thread(predicting)
    try:
        losses = train_on_batches(model, x, y, steps)
    finally:
        done.set()
    assert join() >= 1
    assert all(np.isfinite(losses))


class HoldInTraining(layers.Layer):
    """The identity. In training with ``barrier`` set, it holds the training step still
    (after the layers before it ran) while the other thread runs a whole ``predict``."""

    barrier = None

    def call(self, inputs, training=None):
        if training and self.barrier is not None:
            self.barrier.wait()  # 1: the layers before this one ran for training
            self.barrier.wait()  # 2: a whole predict ran in the other thread
        return inputs


def test_activity_penalty_of_a_training_step_survives_a_predict_beside_it():
    def regularized_model():
        mdl.random.seed(3)
        model = Sequential([layers.Dense(6, activity_regularizer="l2", input_shape=(4,)),
                            HoldInTraining(), layers.Dense(3)])
        model.compile(optimizer="sgd",
                      loss=mdl.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    x, y = data()
    expected = regularized_model().train_on_batch(x, y)
    model = regularized_model()
    model.layers[1].barrier = barrier = threading.Barrier(2, timeout=TIMEOUT)

    def predicting():
        barrier.wait()
        try:
            return model.predict(x[:5], verbose=0)
        finally:
            barrier.wait()

    join = run_in_thread(predicting)
    loss = model.train_on_batch(x, y)
    join()
    assert loss == expected


class AddsItsSum(layers.Layer):
    """The identity, adding the sum of its inputs as a loss."""

    def call(self, inputs):
        self.add_loss(inputs.sum())
        return inputs


def test_each_thread_sees_the_add_loss_losses_of_its_own_call():
    layer = AddsItsSum()
    called = threading.Barrier(2, timeout=TIMEOUT)
    read = threading.Barrier(2, timeout=TIMEOUT)

    def calling(value):
        def fn():
            layer(np.full((2, 3), value, "float32"))
            called.wait()  # both threads called the layer
            losses = [float(loss.numpy()) for loss in layer.losses]
            read.wait()
            return losses
        return fn

    join = run_in_thread(calling(2.0))
    assert calling(1.0)() == [6.0]
    assert join() == [12.0]
    assert run_in_thread(lambda: layer.losses)() == []  # a thread that never called it
    assert [float(loss.numpy()) for loss in layer.losses] == [6.0]
