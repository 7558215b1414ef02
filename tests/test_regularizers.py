"""Regularizers: values against formulas, penalties on the tape, lookup and config."""
import numpy as np
import pytest

import minidl as mdl
from minidl import regularizers as R
from minidl.gradcheck import check_grad

W = np.array([[0.5, -1.5, 2.0], [-0.25, 1.0, 0.0]])


def _orthogonal_reference(w, factor, mode):
    """Loops over pairs of rows (columns): mean |cos| of distinct pairs, times factor/2."""
    vectors = w if mode == "rows" else w.T
    n = len(vectors)
    total = 0.0
    for i in range(n):
        for j in range(n):
            if i != j:
                a, b = vectors[i], vectors[j]
                total += abs(a @ b) / (max(np.linalg.norm(a), 1e-7) *
                                       max(np.linalg.norm(b), 1e-7))
    return factor * 0.5 * total / (n * (n - 1) / 2)


@pytest.mark.parametrize("reg,expected", [
    (R.L1(), 0.01 * 5.25),
    (R.L1(0.3), 0.3 * 5.25),
    (R.L2(), 0.01 * 7.5625),
    (R.L2(2.0), 2.0 * 7.5625),
    (R.L1L2(l1=0.1, l2=0.2), 0.1 * 5.25 + 0.2 * 7.5625),
    (R.L1L2(), 0.0),
    (R.L1L2(l2=0.5), 0.5 * 7.5625),
])
def test_values(backend, reg, expected):
    penalty = reg(mdl.tensor(W))
    assert isinstance(penalty, mdl.Tensor) and penalty.shape == ()
    assert penalty.backend == backend and penalty.dtype == np.float64
    np.testing.assert_allclose(float(penalty.numpy()), expected, rtol=1e-12)
    assert reg(W.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("mode", ["rows", "columns"])
@pytest.mark.parametrize("factor", [0.01, 0.7])
def test_orthogonal_regularizer(mode, factor):
    w = np.random.default_rng(0).standard_normal((4, 3))
    got = float(R.OrthogonalRegularizer(factor, mode)(w).numpy())
    np.testing.assert_allclose(got, _orthogonal_reference(w, factor, mode), rtol=1e-10)
    eye = R.OrthogonalRegularizer(1.0, mode)(np.eye(3))
    assert float(eye.numpy()) == 0.0
    check_grad(R.OrthogonalRegularizer(factor, mode), [w])


def test_orthogonal_needs_rank_2():
    with pytest.raises(ValueError, match="rank-2"):
        R.OrthogonalRegularizer()(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="mode='diag'"):
        R.OrthogonalRegularizer(mode="diag")


@pytest.mark.parametrize("reg", [R.L1(0.2), R.L2(0.3), R.L1L2(0.1, 0.4)])
def test_penalty_is_on_the_tape(reg):
    w = mdl.Variable(W)
    reg(w).backward()
    l1 = getattr(reg, "l1", 0.0)
    l2 = getattr(reg, "l2", 0.0)
    np.testing.assert_allclose(w.grad, l1 * np.sign(W) + 2 * l2 * W, rtol=1e-12)
    check_grad(reg, [W + 0.01])        # away from the kink of |w| at 0


def test_zero_penalty_still_differentiable():
    w = mdl.Variable(W)
    R.L1L2()(w).backward()
    np.testing.assert_array_equal(w.grad, np.zeros_like(W))


@pytest.mark.parametrize("name,cls", [
    ("l1", R.L1), ("L1", R.L1), ("l2", R.L2), ("L2", R.L2), ("l1l2", R.L1L2),
    ("l1_l2", R.L1L2), ("L1L2", R.L1L2),
    ("orthogonal_regularizer", R.OrthogonalRegularizer),
    ("OrthogonalRegularizer", R.OrthogonalRegularizer),
])
def test_get_by_name(name, cls):
    assert type(R.get(name)) is cls


def test_defaults_as_keras():
    assert R.get("l2").l2 == 0.01 and R.get("l1").l1 == 0.01
    assert R.L2(None).l2 == 0.01
    assert R.L1L2(None, None).get_config() == {"l1": 0.0, "l2": 0.0}
    assert R.OrthogonalRegularizer().get_config() == {"factor": 0.01, "mode": "rows"}


@pytest.mark.parametrize("reg", [R.L1(0.2), R.L2(0.3), R.L1L2(0.1, 0.4),
                                 R.OrthogonalRegularizer(0.5, "columns")])
def test_config_round_trip(reg):
    data = R.serialize(reg)
    assert data == {"module": "keras.regularizers", "class_name": type(reg).__name__,
                    "config": reg.get_config(), "registered_name": None}
    clone = R.deserialize(data)
    assert type(clone) is type(reg) and clone.get_config() == reg.get_config()
    assert R.get({"class_name": type(reg).__name__,
                  "config": reg.get_config()}).get_config() == reg.get_config()


def test_bad_arguments_and_unknown_names():
    with pytest.raises(ValueError, match="l2=-1"):
        R.L2(-1)
    with pytest.raises(ValueError, match="l1=nan"):
        R.L1(float("nan"))
    with pytest.raises(ValueError, match="l1='a'"):
        R.L1L2(l1="a")
    with pytest.raises(ValueError, match="Unknown regularizer: 'l3'.*L1L2"):
        R.get("l3")


def test_callable_passes_through():
    def reg(w):
        return (w * w).sum()
    assert R.get(reg) is reg
    assert R.get(None) is None
