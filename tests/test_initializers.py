"""Initializers: fan rule, bounds, variances, seeds, lookup and config."""
import math

import numpy as np
import pytest

import minidl as mdl
from minidl import initializers as I

CONV_SHAPE = (3, 3, 8, 16)         # rf = 9, fan_in = 72, fan_out = 144


@pytest.mark.parametrize("shape,fans", [
    ((), (1, 1)), ((5,), (5, 5)), ((4, 7), (4, 7)), ((3, 8, 16), (24, 48)),
    (CONV_SHAPE, (72, 144)), ((2, 3, 3, 4, 5), (72, 90)),
])
def test_compute_fans(shape, fans):
    assert I.compute_fans(shape) == fans


def _fan(shape, mode):
    rf = math.prod(shape[:-2])
    fan_in, fan_out = rf * shape[-2], rf * shape[-1]
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]


@pytest.mark.parametrize("cls,scale,mode", [
    (I.GlorotUniform, 1.0, "fan_avg"), (I.HeUniform, 2.0, "fan_in"),
    (I.LecunUniform, 1.0, "fan_in"),
])
def test_uniform_presets_bounds_and_variance(cls, scale, mode):
    shape = (5, 5, 16, 32)
    w = cls(seed=1)(shape)
    limit = math.sqrt(3 * scale / _fan(shape, mode))
    assert w.dtype == np.float32 and w.shape == shape
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit
    np.testing.assert_allclose(w.var(), limit ** 2 / 3, rtol=0.03)


@pytest.mark.parametrize("cls,scale,mode", [
    (I.GlorotNormal, 1.0, "fan_avg"), (I.HeNormal, 2.0, "fan_in"),
    (I.LecunNormal, 1.0, "fan_in"),
])
def test_truncated_normal_presets(cls, scale, mode):
    shape = (5, 5, 16, 32)
    w = cls(seed=2)(shape)
    stddev = math.sqrt(scale / _fan(shape, mode)) / 0.87962566103423978
    assert np.abs(w).max() <= 2 * stddev
    # the truncation at 2 sigma brings the variance back to scale / fan
    np.testing.assert_allclose(w.var(), scale / _fan(shape, mode), rtol=0.03)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["uniform", "untruncated_normal",
                                          "truncated_normal", "normal"])
def test_variance_scaling(mode, distribution):
    init = I.VarianceScaling(scale=0.5, mode=mode, distribution=distribution, seed=3)
    w = np.asarray(init(CONV_SHAPE, dtype="float64"))
    assert w.dtype == np.float64
    np.testing.assert_allclose(w.var(), 0.5 / _fan(CONV_SHAPE, mode), rtol=0.06)
    assert abs(w.mean()) < 0.01


def test_variance_scaling_small_fan_uses_one():
    w = I.VarianceScaling(scale=1.0, mode="fan_in", distribution="uniform", seed=0)((0, 4))
    assert w.shape == (0, 4)
    w = I.VarianceScaling(distribution="uniform", seed=0)((1, 200000))   # fan_in = 1
    np.testing.assert_allclose(w.var(), 1.0, rtol=0.02)


def test_random_normal_uniform_truncated():
    w = I.RandomNormal(mean=1.0, stddev=2.0, seed=0)((200, 300))
    np.testing.assert_allclose([w.mean(), w.std()], [1.0, 2.0], rtol=0.02)
    u = I.RandomUniform(minval=-1.0, maxval=3.0, seed=0)((200, 300))
    assert u.min() >= -1 and u.max() < 3
    np.testing.assert_allclose([u.mean(), u.var()], [1.0, 16 / 12], rtol=0.02)
    t = I.TruncatedNormal(mean=0.5, stddev=0.1, seed=0)((200, 300))
    assert t.min() >= 0.3 and t.max() <= 0.7
    # a normal cut at +-2 sigma has variance sigma^2 * 0.7737413
    np.testing.assert_allclose(t.var(), 0.01 * 0.77374130, rtol=0.02)
    d = I.RandomNormal()((100, 100))
    np.testing.assert_allclose(d.std(), 0.05, rtol=0.03)


def test_constant_zeros_ones_identity(backend):
    assert I.get("zeros")((2, 3)).sum() == 0
    ones = I.get("ones")((2, 3), dtype="int32")
    assert ones.dtype == np.int32 and int(ones.sum()) == 6
    c = I.Constant(2.5)((4,))
    assert mdl.backend.backend_of(c) == backend
    np.testing.assert_array_equal(mdl.tensor(c).numpy(), [2.5] * 4)
    eye = mdl.tensor(I.Identity(gain=2.0)((2, 3))).numpy()
    np.testing.assert_array_equal(eye, 2 * np.eye(2, 3))
    with pytest.raises(ValueError, match="rank-2"):
        I.Identity()((2, 2, 2))


@pytest.mark.parametrize("shape", [(4, 4), (3, 6), (6, 3), (2, 3, 4)])
def test_orthogonal(shape):
    w = np.asarray(I.Orthogonal(gain=1.5, seed=0)(shape, dtype="float64"))
    flat = w.reshape(-1, shape[-1])
    if flat.shape[0] >= flat.shape[1]:
        np.testing.assert_allclose(flat.T @ flat, 2.25 * np.eye(flat.shape[1]), atol=1e-12)
    else:
        np.testing.assert_allclose(flat @ flat.T, 2.25 * np.eye(flat.shape[0]), atol=1e-12)
    with pytest.raises(ValueError, match="rank >= 2"):
        I.Orthogonal()((3,))


def test_seed_reproducibility():
    a = I.GlorotUniform(seed=7)((3, 4))
    np.testing.assert_array_equal(a, I.GlorotUniform(seed=7)((3, 4)))
    init = I.HeNormal(seed=7)
    np.testing.assert_array_equal(init((3, 4)), init((3, 4)))      # same every call
    assert not np.array_equal(a, I.GlorotUniform(seed=8)((3, 4)))
    # unseeded: successive draws differ, but the sequence repeats after minidl.random.seed
    mdl.random.seed(5)
    first = [I.GlorotUniform()((3, 4)), I.GlorotUniform()((3, 4))]
    assert not np.array_equal(*first)
    mdl.random.seed(5)
    again = [I.GlorotUniform()((3, 4)), I.GlorotUniform()((3, 4))]
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])


def test_same_values_on_every_backend(backend):
    w = I.GlorotUniform(seed=3)((2, 5))
    assert mdl.backend.backend_of(w) == backend
    with mdl.use_backend("numpy"):
        host = I.GlorotUniform(seed=3)((2, 5))
    np.testing.assert_array_equal(mdl.tensor(w).numpy(), host)


@pytest.mark.parametrize("name,cls", [
    ("glorot_uniform", I.GlorotUniform), ("GlorotUniform", I.GlorotUniform),
    ("he_normal", I.HeNormal), ("lecun_uniform", I.LecunUniform), ("zeros", I.Zeros),
    ("ones", I.Ones), ("uniform", I.RandomUniform), ("normal", I.RandomNormal),
    ("random_normal", I.RandomNormal), ("truncated_normal", I.TruncatedNormal),
    ("orthogonal", I.Orthogonal), ("variance_scaling", I.VarianceScaling),
    ("constant", I.Constant), ("identity", I.Identity),
])
def test_get_by_name(name, cls):
    assert type(I.get(name)) is cls


@pytest.mark.parametrize("init", [
    I.Zeros(), I.Constant(0.3), I.RandomNormal(0.1, 0.2, seed=4), I.RandomUniform(-1, 2),
    I.TruncatedNormal(stddev=0.3), I.VarianceScaling(2.0, "fan_out", "uniform", seed=9),
    I.GlorotNormal(seed=1), I.HeUniform(), I.Orthogonal(gain=0.5), I.Identity(3.0),
])
def test_config_round_trip(init):
    data = I.serialize(init)
    assert data["module"] == "keras.initializers" and data["registered_name"] is None
    assert data["class_name"] == type(init).__name__
    clone = I.get(data)
    assert type(clone) is type(init) and clone.get_config() == init.get_config()
    assert I.deserialize({"class_name": type(init).__name__,
                          "config": init.get_config()}).get_config() == init.get_config()


def test_keras_configs():
    assert I.GlorotUniform().get_config() == {"seed": None}
    assert I.VarianceScaling().get_config() == {
        "scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal", "seed": None}
    assert I.RandomUniform().get_config() == {"minval": -0.05, "maxval": 0.05, "seed": None}
    assert I.Orthogonal().get_config() == {"gain": 1.0, "seed": None}


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode='fan_sum'"):
        I.VarianceScaling(mode="fan_sum")
    with pytest.raises(ValueError, match="distribution='gamma'"):
        I.VarianceScaling(distribution="gamma")
    with pytest.raises(ValueError, match="scale=0"):
        I.VarianceScaling(scale=0)
    with pytest.raises(ValueError, match="seed=-1"):
        I.GlorotUniform(seed=-1)
    with pytest.raises(ValueError, match="maxval"):
        I.RandomUniform(minval=1.0, maxval=0.0)
    with pytest.raises(ValueError, match="floating"):
        I.GlorotUniform()((2, 2), dtype="int32")
    with pytest.raises(ValueError, match="shape"):
        I.Zeros()((2, -1))
    with pytest.raises(ValueError, match="Unknown initializer: 'glorot'.*GlorotUniform"):
        I.get("glorot")
    with pytest.raises(ValueError, match="Could not interpret"):
        I.get(3.5)


def test_callable_and_custom_objects():
    def halves(shape, dtype=None):
        return np.full(shape, 0.5, dtype=dtype)
    assert I.get(halves) is halves
    assert I.get("halves", custom_objects={"halves": halves}) is halves

    class MyInit(I.Initializer):
        def __call__(self, shape, dtype=None):
            return np.zeros(shape)
    data = I.serialize(MyInit())
    assert data["registered_name"] == "MyInit"
    assert isinstance(I.deserialize(data, custom_objects={"MyInit": MyInit}), MyInit)
