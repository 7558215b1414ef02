"""The gradient checker must pass correct ops tightly and catch a wrong backward."""
import numpy as np
import pytest

import minidl as mdl
from minidl.gradcheck import GradcheckError, check_double_grad, check_grad, numerical_grad


class BrokenSquare(mdl.Function):
    """x ** 2 with a backward that is off by 1 % in one element."""

    def forward(self, x):
        return x * x

    def backward(self, gy):
        (x,) = self.inputs
        g = 2 * x * gy
        bump = self.xp.ones(x.shape)
        bump.reshape(-1)[-1] = 1.01
        return g * bump


@pytest.mark.parametrize("method", ["central", "scipy", "directional"])
def test_catches_a_wrong_backward(method):
    x = np.array([[0.5, 1.0], [1.5, 2.0]])
    with pytest.raises(GradcheckError) as info:
        check_grad(lambda t: BrokenSquare.apply(t).sum(), [x], method=method)
    assert isinstance(info.value, AssertionError)
    message = str(info.value)
    assert "inputs[0]" in message and "tape gradient" in message and "numerical" in message
    if method != "directional":
        assert "index (1, 1)" in message


@pytest.mark.parametrize("method", ["central", "scipy", "directional"])
def test_passes_a_correct_op_at_its_tolerance_and_reports(method):
    rng = np.random.default_rng(0)
    report = check_grad(lambda a, b: (a @ b).tanh(),
                        [rng.random((3, 4)), rng.random((4, 2))], method=method)
    assert len(report.max_abs_error) == 2
    assert max(report.max_abs_error) < (1e-6 if method == "scipy" else 1e-8)
    assert "passed" in repr(report)


def test_float32_inputs_are_checked_in_float64_copies():
    x = np.array([0.1, 0.2, 0.3], np.float32)
    report = check_grad(lambda t: (t.exp() * t).sum(), [x], atol=1e-9, rtol=1e-8)
    assert report.max_abs_error[0] < 1e-9
    assert x.dtype == np.float32


def test_non_floating_inputs_pass_through():
    idx = np.array([2, 0])
    check_grad(lambda t, i: t[i].sum() * t.sum(), [np.array([1.0, 2.0, 3.0]), idx])


def test_numerical_grad_matches_known_derivative():
    (g,) = numerical_grad(lambda t: (t ** 3).sum(), [np.array([1.0, 2.0])])
    np.testing.assert_allclose(g, [3.0, 12.0], rtol=1e-8)
    (g,) = numerical_grad(lambda t: (t ** 3).sum(), [np.array([1.0, 2.0])], method="scipy")
    np.testing.assert_allclose(g, [3.0, 12.0], rtol=1e-6)


def test_double_grad_catches_a_wrong_second_derivative():
    class WrongSecond(mdl.Function):
        """sin-like: forward x**3 but backward claims 3*x*|x| (right first derivative
        for x > 0 only in value, wrong second derivative for negative x)."""

        def forward(self, x):
            return x ** 3

        def backward(self, gy):
            (x,) = self.inputs
            return 3 * x * x.detach() * gy  # drops a term of the second derivative

    check_grad(lambda t: WrongSecond.apply(t).sum(), [np.array([0.5, -1.0])])
    with pytest.raises(GradcheckError):
        check_double_grad(lambda t: WrongSecond.apply(t).sum(), [np.array([0.5, -1.0])])


def test_bad_arguments():
    with pytest.raises(ValueError, match="method='forward'"):
        check_grad(lambda t: t.sum(), [np.ones(2)], method="forward")
    with pytest.raises(ValueError, match="no floating input"):
        check_grad(lambda t: mdl.tensor(np.ones(1)), [np.array([1, 2])])
    with pytest.raises(TypeError, match="must return a Tensor"):
        check_grad(lambda t: 3.0, [np.ones(2)])


def test_non_contiguous_inputs_are_perturbed_correctly():
    x = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    report = check_grad(lambda t: (t * t).sum(), [x.T])
    assert report.max_abs_error[0] < 1e-8
