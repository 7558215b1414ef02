"""Custom ops that explain themselves: a ``Function.backward`` returning a gradient of
the wrong shape is told how to reduce it (``sum_to``, ``.sum()`` for a scalar input,
``broadcast_to``), and every gradient check names the derivative order that failed; the
second-order one adds that ``save_for_backward`` values are constants."""
import numpy as np
import pytest

import minidl as mdl
from minidl.gradcheck import GradcheckError, check_double_grad, check_grad, check_layer


class ScaleForgetsReduction(mdl.Function):
    """``x * s`` whose backward forgets to reduce the gradient of the broadcast ``s``."""

    def forward(self, x, s):
        return x * s

    def backward(self, gy):
        x, s = self.inputs
        return gy * s, gy * x


class SumForgetsBroadcast(mdl.Function):
    def forward(self, x):
        return x.sum()

    def backward(self, gy):
        return gy


class CubeSavesDerivative(mdl.Function):
    """Right first derivative; the saved ``3 x**2`` is a constant, so the second is not."""

    def forward(self, x):
        self.save_for_backward(3 * x ** 2)
        return x ** 3

    def backward(self, gy):
        (slope,) = self.saved_tensors
        return slope * gy


def test_wrong_shape_for_a_broadcast_input_suggests_sum_to():
    x = mdl.tensor(np.ones((2, 3)), requires_grad=True)
    s = mdl.tensor(np.ones((1, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"input 1, of shape \(1, 3\).*sum_to\(grad, "
                                           r"\(1, 3\)\)"):
        ScaleForgetsReduction.apply(x, s).sum().backward()


def test_wrong_shape_for_a_scalar_input_suggests_sum():
    x = mdl.tensor(np.ones((2, 3)), requires_grad=True)
    s = mdl.tensor(np.float64(2.0), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"scalar.*\.sum\(\)"):
        ScaleForgetsReduction.apply(x, s).sum().backward()


def test_wrong_shape_after_a_reduction_suggests_broadcast_to():
    x = mdl.tensor(np.ones(4), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"broadcast_to\(grad, \(4,\)\)"):
        SumForgetsBroadcast.apply(x).backward()


def test_double_grad_failure_names_the_order_and_saved_constants():
    x = np.array([0.5, -1.5, 2.0])
    check_grad(CubeSavesDerivative.apply, [x])           # the first derivative is right
    with pytest.raises(GradcheckError, match=r"second derivative.*save_for_backward.*"
                                             r"constants") as info:
        check_double_grad(CubeSavesDerivative.apply, [x])
    assert "first derivative" not in str(info.value)


@pytest.mark.parametrize("method", ["central", "directional"])
def test_first_order_failure_names_the_order(method):
    class WrongSlope(mdl.Function):
        def forward(self, x):
            return x ** 2

        def backward(self, gy):
            return gy * self.inputs[0]        # should be 2 x

    with pytest.raises(GradcheckError, match="first derivative") as info:
        check_grad(WrongSlope.apply, [np.array([1.0, 2.0])], method=method)
    assert "save_for_backward" not in str(info.value)


def test_check_layer_failure_names_the_order():
    class Double(mdl.Function):
        def forward(self, x):
            return 2 * x

        def backward(self, gy):
            return gy                         # should be 2 gy

    class Doubling(mdl.layers.Layer):
        def call(self, inputs):
            return Double.apply(inputs)

    with pytest.raises(GradcheckError, match="first derivative.*input"):
        check_layer(Doubling(), np.ones((2, 3)))


def test_documented_in_help():
    assert "save_for_backward" in mdl.gradcheck.check_double_grad.__doc__
    assert "constants" in mdl.gradcheck.__doc__
    assert "sum_to" in mdl.Function.__doc__
