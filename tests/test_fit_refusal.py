"""A refused step (NaN/Inf loss, or a NaN/Inf gradient behind a finite loss) leaves the
whole model as it was: weights, optimizer and BatchNormalization's moving statistics; on
CuPy the check rides along with the step's one read."""
import numpy as np
import pytest

import minidl as mdl
from minidl import layers
from minidl.ops import math as M

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the NaN we feed in


class Sqrt(layers.Layer):
    def call(self, inputs):
        return M.sqrt(inputs)


def bn_model(backend="numpy"):
    mdl.random.seed(0)
    model = mdl.models.Sequential([layers.Dense(4, input_shape=(3,)),
                                   layers.BatchNormalization(), layers.Dense(2)],
                                  backend=backend)
    model.compile(mdl.optimizers.Adam(0.01),
                  mdl.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def data(n=16):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 3)).astype("float32"), rng.integers(0, 2, n)


def test_a_nan_batch_leaves_the_moving_statistics_as_they_were():
    x, y = data()
    model = bn_model()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    before = model.get_weights()
    optimizer_before = [a.copy() for a in model.optimizer.get_state()]
    bad = x.copy()
    bad[9] = np.nan
    with pytest.raises(FloatingPointError, match="epoch 1, step 2"):
        model.fit(bad, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    # the first step of that fit was fine: compare with a model that took only it
    reference = bn_model()
    reference.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    reference.fit(x[:8], y[:8], batch_size=8, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert np.isfinite(model.predict(x)).all()
    with pytest.raises(FloatingPointError):
        model.train_on_batch(bad, y)
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(before) == 8 and len(optimizer_before) > 0


def sqrt_model():
    model = mdl.models.Sequential([
        layers.Dense(1, kernel_initializer="zeros", input_shape=(3,)), Sqrt(),
        layers.Dense(1)])
    model.compile(mdl.optimizers.SGD(0.1), "mse")
    return model


def test_an_infinite_gradient_behind_a_finite_loss_is_refused():
    x, _ = data(8)
    y = np.ones((8, 1), "float32")
    model = sqrt_model()
    model.build((None, 3))
    before = model.get_weights()
    with pytest.raises(FloatingPointError, match=r"gradient became NaN or infinite \("
                                                 r".*dense.*kernel.*epoch 1, step 1"):
        model.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0
    with pytest.raises(FloatingPointError, match="in train_on_batch"):
        model.train_on_batch(x, y)


def test_the_gradient_check_adds_no_read_on_the_device(fake_cupy):
    x, y = data()
    model = bn_model("cupy")
    with fake_cupy.reads() as reads:
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    assert sorted({where for _, where in reads}) == ["checks.py:read"]
    assert len(reads) == 2
    model = sqrt_model()
    model.build((None, 3))
    model.to("cupy")
    with fake_cupy.reads() as reads, pytest.raises(FloatingPointError, match="gradient"):
        model.fit(x[:8], np.ones((8, 1), "float32"), epochs=1, verbose=0)
    assert reads[0][1] == "checks.py:read"  # then the error message reads what it names
