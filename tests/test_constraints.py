"""Constraints: outputs against formulas, kind preserved, axes, lookup and config."""
import numpy as np
import pytest

import minidl as mdl
from minidl import constraints as C

EPS = 1e-7
RNG = np.random.default_rng(0)
DENSE = RNG.standard_normal((4, 3)) * 2          # (input_dim, units)
CONV = RNG.standard_normal((3, 3, 2, 4))         # (kh, kw, in, filters)


def _filters(w, axis):
    """The filters of ``w`` as rows: one per index of the axes not in ``axis``."""
    axis = [axis] if isinstance(axis, int) else list(axis)
    rest = [a for a in range(w.ndim) if a not in axis]
    moved = np.transpose(w, rest + axis)
    return moved.reshape(int(np.prod([w.shape[a] for a in rest])), -1), rest + axis


def _per_filter(w, axis, fn):
    """Apply ``fn(vector) -> vector`` to every filter with a Python loop."""
    flat, order = _filters(w, axis)
    out = np.stack([fn(v) for v in flat]).reshape(np.transpose(w, order).shape)
    return np.transpose(out, np.argsort(order))


def _max_norm(max_value):
    return lambda v: v * min(np.linalg.norm(v), max_value) / (EPS + np.linalg.norm(v))


def _unit(v):
    return v / (EPS + np.linalg.norm(v))


def _min_max(lo, hi, rate):
    def fn(v):
        n = np.linalg.norm(v)
        return v * (rate * np.clip(n, lo, hi) + (1 - rate) * n) / (EPS + n)
    return fn


@pytest.mark.parametrize("w,axis", [(DENSE, 0), (DENSE, 1), (CONV, [0, 1, 2]),
                                    (CONV, [0, 1])])
def test_max_norm(backend, w, axis):
    out = C.MaxNorm(max_value=1.5, axis=axis)(mdl.tensor(w))
    assert isinstance(out, mdl.Tensor) and out.backend == backend
    np.testing.assert_allclose(out.numpy(), _per_filter(w, axis, _max_norm(1.5)),
                               rtol=1e-12)
    norms = np.linalg.norm(_filters(out.numpy(), axis)[0], axis=1)
    assert norms.max() <= 1.5 + 1e-9


@pytest.mark.parametrize("w,axis", [(DENSE, 0), (CONV, [0, 1, 2]), (CONV, [0, 1])])
def test_unit_norm(w, axis):
    out = C.UnitNorm(axis=axis)(w)
    assert isinstance(out, np.ndarray)             # arrays in, arrays out
    np.testing.assert_allclose(out, _per_filter(w, axis, _unit), rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(_filters(out, axis)[0], axis=1), 1, rtol=1e-6)


@pytest.mark.parametrize("rate", [1.0, 0.5, 0.0])
@pytest.mark.parametrize("w,axis", [(DENSE, 0), (CONV, [0, 1, 2])])
def test_min_max_norm(w, axis, rate):
    out = C.MinMaxNorm(min_value=0.8, max_value=1.2, rate=rate, axis=axis)(w)
    np.testing.assert_allclose(out, _per_filter(w, axis, _min_max(0.8, 1.2, rate)),
                               rtol=1e-12)


def test_non_neg():
    out = C.NonNeg()(DENSE.astype(np.float32))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.where(DENSE >= 0, DENSE, 0).astype(np.float32))
    t = C.NonNeg()(mdl.tensor(DENSE))
    assert isinstance(t, mdl.Tensor) and (t.numpy() >= 0).all()


def test_default_axis_is_zero_dense_columns():
    w = np.array([[3.0, 0.1], [4.0, 0.1]])        # column norms 5 and ~0.14
    out = C.MaxNorm()(w)                           # max_value 2, axis 0
    np.testing.assert_allclose(out[:, 0], [1.2, 1.6], rtol=1e-6)
    np.testing.assert_allclose(out[:, 1], [0.1, 0.1], rtol=1e-6)
    assert C.MaxNorm().get_config() == {"max_value": 2.0, "axis": 0}
    assert C.MinMaxNorm().get_config() == {"min_value": 0.0, "max_value": 1.0,
                                           "rate": 1.0, "axis": 0}


def test_dtype_kept_and_tensor_on_tape():
    w = mdl.tensor(DENSE.astype(np.float32), requires_grad=True)
    out = C.UnitNorm()(w)
    assert out.dtype == np.float32 and out.requires_grad
    mdl.gradcheck.check_grad(lambda x: C.MaxNorm(1.0)(x), [DENSE])


@pytest.mark.parametrize("name,cls", [
    ("max_norm", C.MaxNorm), ("MaxNorm", C.MaxNorm), ("maxnorm", C.MaxNorm),
    ("non_neg", C.NonNeg), ("NonNeg", C.NonNeg), ("unit_norm", C.UnitNorm),
    ("min_max_norm", C.MinMaxNorm),
])
def test_get_by_name(name, cls):
    assert type(C.get(name)) is cls


@pytest.mark.parametrize("c", [C.MaxNorm(3, axis=[0, 1, 2]), C.NonNeg(), C.UnitNorm(1),
                               C.MinMaxNorm(0.5, 2.0, 0.3, axis=[0, 1])])
def test_config_round_trip(c):
    data = C.serialize(c)
    assert data["module"] == "keras.constraints" and data["class_name"] == type(c).__name__
    clone = C.get(data)
    assert type(clone) is type(c) and clone.get_config() == c.get_config()


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_value=-1"):
        C.MaxNorm(-1)
    with pytest.raises(ValueError, match="min_value"):
        C.MinMaxNorm(min_value=2.0, max_value=1.0)
    with pytest.raises(ValueError, match="rate=1.5"):
        C.MinMaxNorm(rate=1.5)
    with pytest.raises(ValueError, match="axis='0'"):
        C.UnitNorm(axis="0")
    with pytest.raises(ValueError, match="Unknown constraint: 'max'.*MaxNorm"):
        C.get("max")


def test_callables_pass_through():
    def clip(w):
        return w
    assert C.get(clip) is clip and C.get(None) is None
