"""Device-to-host reads of training: on the NumPy stand-in ``fake_cupy`` (which also runs
minidl's CuPy branches on the CPU), and on a real GPU (``pytest -m gpu``), where a spinning
kernel shows whether the host ever waited for the device."""
import collections

import numpy as np
import pytest

import minidl as mdl
from minidl import checks, layers, metrics

LOSS, METRIC = "checks.py:read", "metrics.py:result"


def places(reads):
    """How many reads each place of minidl made."""
    return collections.Counter(where for _, where in reads)


def mobilenet(backend, classes=4):
    """A tiny MobileNet-style model (every layer kind of the examples)."""
    mdl.random.seed(0)
    return mdl.models.Sequential([
        layers.Conv2D(4, 3, padding="same", use_bias=False, input_shape=(6, 6, 2)),
        layers.BatchNormalization(), layers.ReLU(6.0),
        layers.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False),
        layers.BatchNormalization(), layers.ReLU(6.0),
        layers.SeparableConv2D(8, 3, padding="same"),
        layers.GlobalAveragePooling2D(), layers.Dropout(0.2), layers.Dense(classes),
    ], backend=backend)


def data(n=16, classes=4):
    rng = np.random.default_rng(1)
    return (rng.standard_normal((n, 6, 6, 2)).astype("float32"),
            rng.integers(0, classes, n))


def compiled(backend, optimizer=None, metrics=("accuracy",)):
    model = mobilenet(backend)
    model.compile(optimizer=optimizer or mdl.optimizers.Adam(1e-2),
                  loss=mdl.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=list(metrics))
    return model


@pytest.mark.parametrize("optimizer", [
    lambda: mdl.optimizers.Adam(1e-2),
    lambda: mdl.optimizers.SGD(1e-2, momentum=0.9, clipnorm=1.0),
    lambda: mdl.optimizers.RMSprop(1e-3, global_clipnorm=1.0)])
def test_fit_reads_only_the_loss_and_metrics(fake_cupy, optimizer):
    x, y = data()
    model = compiled("cupy", optimizer())
    with fake_cupy.reads() as reads:
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    steps = 2
    assert places(reads) == {LOSS: steps, METRIC: steps}


def test_fit_takes_device_arrays_and_reads_no_more(fake_cupy):
    x, y = data()
    model = compiled("cupy")
    with fake_cupy.reads() as reads:
        model.fit(fake_cupy.cupy.asarray(x), mdl.tensor(y, backend="cupy"), batch_size=8,
                  epochs=1, verbose=0)
    assert places(reads) == {LOSS: 2, METRIC: 2}


def test_evaluate_reads_the_loss_per_batch_and_metrics_once(fake_cupy):
    x, y = data()
    model = compiled("cupy")
    with fake_cupy.reads() as reads:
        model.evaluate(x, y, batch_size=8, verbose=0)
    assert places(reads) == {LOSS: 2, METRIC: 1}


def test_the_stand_in_records_reads(fake_cupy):
    """The harness itself: a host read inside minidl is caught, with its place."""
    t = mdl.Tensor([1.0, 2.0], backend="cupy")
    assert type(t.data).__module__ == "cupy"
    with fake_cupy.reads() as reads:
        float(t.sum())
        t.numpy()
        t.data[t.data > 1.5]
        fake_cupy.cupy.nonzero(t.data)
    assert reads == [("float", "autograd.py:__float__"), ("asnumpy", "backend.py:to_numpy"),
                     ("mask", "outside minidl"), ("nonzero", "outside minidl")]
    with pytest.raises(TypeError, match="NumPy array mixed"):
        t.data + np.ones(2)
    with pytest.raises(TypeError, match="numpy.testing"):
        np.testing.assert_allclose(t.data, t.data)


def test_cupy_branches_train_like_numpy(fake_cupy):
    """Two steps on the stand-in (``cupy.add.at``, ``cupyx.scipy.special``, the generic
    ``xp`` kernels instead of the compiled ones) give NumPy's weights; dropout is off, so
    the backends' different random streams do not matter."""
    x, y = data()
    results = []
    for backend in ("numpy", "cupy"):
        model = compiled(backend, mdl.optimizers.SGD(0.1, momentum=0.9))
        model.layers[-2].rate = 0.0
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
        results.append([w.numpy() for w in model.weights])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)


def test_resumed_run_draws_the_same_dropout_masks_on_the_device(fake_cupy, tmp_path):
    """A checkpoint holds the host random state; fit reseeds the device generator from it
    each epoch, so resuming equals training straight through."""
    x, y = data()

    def run(epochs, initial_epoch=0, model=None):
        model = model or compiled("cupy")
        model.fit(x, y, batch_size=8, epochs=epochs, initial_epoch=initial_epoch, verbose=0)
        return model

    straight = run(3)
    first = run(1)
    first.save(tmp_path / "ckpt")
    mdl.random.seed(999)
    with mdl.use_backend("cupy"):
        loaded = mdl.models.load_model(tmp_path / "ckpt")
    assert loaded.backend == "cupy"  # built there, it stays there outside the block
    resumed = run(3, initial_epoch=1, model=loaded)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.get_weights()[0], straight.get_weights()[0])


def test_bad_label_raises_on_device_with_the_loss_read(fake_cupy):
    x, y = data()
    y[5] = 7
    model = compiled("cupy")
    with pytest.raises(ValueError, match=r"label 7, not a class index in \[0, 4\)"):
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    with pytest.raises(ValueError, match="label 7"):
        model.evaluate(x, y, batch_size=8, verbose=0)


SPIN = r"""
extern "C" __global__ void spin(long long cycles) {
    long long start = clock64();
    while (clock64() - start < cycles) { }
}
"""


@pytest.mark.gpu  # skipped without a GPU (conftest.py)
def test_fit_waits_for_the_gpu_only_to_read_the_loss_and_metrics(monkeypatch):
    """At each step's start and after each allowed read, a kernel keeps the GPU busy for
    about half a second; an event recorded after it must still be pending when the next
    allowed read or step begins, i.e. nothing in between waited for the device (every
    device-to-host copy waits)."""
    import cupy
    spin = cupy.RawKernel(SPIN, "spin")
    busy, seen = [], []

    def occupy():
        spin((1,), (1,), (np.int64(10 ** 9),))  # about 0.5 s at 2 GHz
        done = cupy.cuda.Event(disable_timing=True)
        done.record()
        busy.append(done)

    read, result = checks.read, metrics.Mean.result

    def batch_begin(batch, logs=None):
        if busy:
            seen.append(("begin", busy[-1].done))
        occupy()

    def watched_read(value, pending=()):
        seen.append(("loss", busy[-1].done))
        value = read(value, pending)
        occupy()
        return value

    def watched_result(self):
        seen.append(("metric", busy[-1].done))
        value = result(self)
        occupy()
        return value

    x, y = data()
    model = compiled("cupy")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # compiles kernels, fills the pool
    monkeypatch.setattr(checks, "read", watched_read)
    monkeypatch.setattr(metrics.Mean, "result", watched_result)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False,
              callbacks=[mdl.callbacks.LambdaCallback(on_train_batch_begin=batch_begin)])
    assert seen == [("loss", False), ("metric", False), ("begin", False),
                    ("loss", False), ("metric", False)]


def test_checks_raise_at_once_outside_a_step_and_at_the_read_inside():
    def error(message):
        return lambda: ValueError(message)

    checks.check(np.asarray(False), error("never"))
    with pytest.raises(ValueError, match="now"):
        checks.check(np.asarray(True), error("now"))
    with checks.deferred() as pending:
        checks.check(np.asarray(False), error("fine"))
        checks.check(np.asarray(True), error("first"))
        checks.check(np.asarray(True), error("second"))
    assert len(pending) == 3
    with pytest.raises(ValueError, match="first"):
        checks.read(np.asarray(2.5, dtype="float32"), pending)
    assert checks.read(np.asarray(2.5, dtype="float32"), pending[:1]) == 2.5
    with pytest.raises(ValueError, match="after"):  # the block has ended: at once again
        checks.check(np.asarray(True), error("after"))
