"""The tape: chains, shared subexpressions, accumulation, retain/create graph, no_grad,
dtype rules, memory, and the user-facing Function contract."""
import gc
import tracemalloc

import numpy as np
import pytest

import minidl as mdl
import minidl.functional as F
from minidl.gradcheck import check_grad


def test_chain_of_10000_ops_does_not_hit_the_recursion_limit():
    x = mdl.tensor(np.ones(3), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.full(3, 1.0001 ** 10_000))


def test_diamond_graph_accumulates_both_paths():
    x = mdl.tensor(np.array([1.5, -2.0]), requires_grad=True)
    a = x * 3.0
    y = a.exp() + a * a  # a is used twice
    y.sum().backward()
    expected = 3.0 * np.exp(3.0 * x.numpy()) + 18.0 * x.numpy()
    np.testing.assert_allclose(x.grad, expected)


def test_same_tensor_twice_in_one_op():
    x = mdl.tensor(np.array([3.0]), requires_grad=True)
    (x * x).backward()
    np.testing.assert_allclose(x.grad, [6.0])


def test_gradient_accumulates_across_backward_calls_until_zero_grad():
    x = mdl.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * 2.0).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad, [5.0, 5.0])
    x.zero_grad()
    assert x.grad is None
    (x * 4.0).sum().backward()
    np.testing.assert_allclose(x.grad, [4.0, 4.0])


def test_grad_is_an_array_of_the_input_shape_and_dtype():
    x = mdl.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    (x * 2).sum().backward()
    assert isinstance(x.grad, np.ndarray)
    assert x.grad.shape == (2, 3) and x.grad.dtype == np.float32


def test_grad_keeps_dtype_and_array_type_for_seeds_and_0d_accumulation():
    # a float64 seed on a float32 leaf, and a 0-d gradient accumulated twice (NumPy turns
    # the sum of two 0-d arrays into a scalar), both once broke "grad is an ndarray of x's
    # shape and dtype"
    x = mdl.tensor(np.ones(2, np.float32), requires_grad=True)
    x.backward(np.ones(2, np.float64))
    assert x.grad.dtype == np.float32
    s = mdl.tensor(2.0, requires_grad=True)
    (s * 3).backward()
    (s * 3).backward()
    assert isinstance(s.grad, np.ndarray) and s.grad.shape == () and s.grad == 6.0


def test_broadcast_gradient_is_reduced_to_input_shape():
    b = mdl.tensor(np.zeros((1, 3)), requires_grad=True)
    x = mdl.tensor(np.ones((4, 2, 3)))
    (x + b).sum().backward()
    np.testing.assert_array_equal(b.grad, np.full((1, 3), 8.0))


def test_no_grad_records_nothing():
    x = mdl.tensor(np.ones(2), requires_grad=True)
    with mdl.no_grad():
        y = x * 2
        with mdl.enable_grad():
            z = x * 3
    assert not y.requires_grad and y.creator is None
    assert z.requires_grad
    with pytest.raises(ValueError, match="does not require a gradient"):
        y.sum().backward()


def test_backward_frees_the_tape_unless_retain_graph():
    x = mdl.tensor(np.array([2.0]), requires_grad=True)
    y = (x * x).exp()
    y.backward(retain_graph=True)
    first = x.grad.copy()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * first)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_freed_tape_releases_inputs():
    x = mdl.tensor(np.ones(3), requires_grad=True)
    y = x * 2.0
    z = y.sum()
    z.backward()
    assert z.creator.inputs is None and y.creator.inputs is None


def test_create_graph_gives_differentiable_gradients():
    x = mdl.tensor(np.array([0.3, -1.2]), requires_grad=True)
    y = (x ** 3).sum()
    y.backward(create_graph=True)
    g = x.grad_tensor
    assert g.requires_grad
    np.testing.assert_allclose(x.grad, 3 * x.numpy() ** 2)
    (g2,) = mdl.grad(g.sum(), [x])
    np.testing.assert_allclose(g2.numpy(), 6 * x.numpy())


def test_grad_returns_tensors_and_leaves_dot_grad_alone():
    x = mdl.tensor(np.array([1.0, 2.0]), requires_grad=True)
    w = mdl.tensor(np.array([3.0, 4.0]), requires_grad=True)
    gx, gw = mdl.grad((x * w).sum(), [x, w])
    assert isinstance(gx, mdl.Tensor)
    np.testing.assert_allclose(gx.numpy(), w.numpy())
    np.testing.assert_allclose(gw.numpy(), x.numpy())
    assert x.grad is None and w.grad is None


def test_grad_of_unused_input():
    x = mdl.tensor(np.ones(2), requires_grad=True)
    u = mdl.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="inputs\\[1\\] is not reached"):
        mdl.grad((x * 2).sum(), [x, u])
    assert mdl.grad((x * 2).sum(), [x, u], allow_unused=True)[1] is None


def test_backward_of_non_scalar_needs_grad():
    x = mdl.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match="needs grad="):
        (x * 2).backward()
    (x * 2).backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(x.grad, [2.0, 4.0, 6.0])
    with pytest.raises(ValueError, match="grad of shape"):
        (x * 2).backward(np.ones(4))


def test_only_inputs_that_need_gradients_get_them():
    calls = []

    class Spy(mdl.Function):
        def forward(self, a, b):
            return a * b

        def backward(self, gy):
            a, b = self.inputs
            calls.append(self.needs_input_grad)
            return (gy * b if self.needs_input_grad[0] else None,
                    gy * a if self.needs_input_grad[1] else None)

    a = mdl.tensor(np.ones(2), requires_grad=True)
    b = mdl.tensor(np.ones(2))
    Spy.apply(a, b).sum().backward()
    assert calls == [(True, False)]
    assert b.grad is None


def test_ndarray_keeps_its_dtype_and_scalars_follow_the_tensor():
    assert mdl.tensor(np.ones(2)).dtype == np.float64
    assert mdl.tensor(np.ones(2, np.float16)).dtype == np.float16
    assert mdl.tensor([1.0, 2.0]).dtype == np.float32
    assert mdl.tensor(3.0).dtype == np.float32
    assert mdl.tensor(np.ones(2), dtype="float32").dtype == np.float32
    x = mdl.tensor(np.ones(2, np.float32), requires_grad=True)
    y = (2.5 * x + 1) / 3.0 - x ** 2.0
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_float32_and_float64_mix_gives_float32_gradients_to_float32_inputs():
    a = mdl.tensor(np.ones(2, np.float32), requires_grad=True)
    b = mdl.tensor(np.ones(2, np.float64), requires_grad=True)
    y = a * b
    assert y.dtype == np.float64
    y.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


def test_integer_and_bool_tensors_never_require_grad():
    with pytest.raises(TypeError, match="floating dtype"):
        mdl.tensor(np.array([1, 2]), requires_grad=True)
    x = mdl.tensor(np.array([1.0, 2.0]), requires_grad=True)
    mask = x > 1.5
    assert mask.dtype == bool and not mask.requires_grad
    i = mdl.tensor(np.array([1, 2])) * x
    assert i.requires_grad


def test_tensor_of_none_is_an_error_not_nan():
    with pytest.raises(ValueError, match="data=None"):
        mdl.tensor(None)


def test_detach_cuts_the_tape():
    x = mdl.tensor(np.array([2.0]), requires_grad=True)
    y = x * x.detach()
    y.backward()
    np.testing.assert_allclose(x.grad, [2.0])


def test_memory_does_not_grow_over_many_iterations():
    w = mdl.tensor(np.random.default_rng(0).standard_normal((64, 64)), requires_grad=True)
    x = mdl.tensor(np.random.default_rng(1).standard_normal((32, 64)))

    def step():
        loss = F.log_softmax((x @ w).tanh() @ w).mean()
        loss.backward()
        w.zero_grad()

    for _ in range(20):
        step()
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(200):
        step()
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert grown < 200_000, f"memory grew by {grown} bytes over 200 iterations"


def test_graph_is_freed_by_reference_counting():
    import weakref
    x = mdl.tensor(np.ones(1000), requires_grad=True)
    y = (x * 2).exp()
    ref = weakref.ref(y.creator)
    del y
    assert ref() is None


class Cube(mdl.Function):
    def forward(self, x):
        return x ** 3

    def backward(self, gy):
        (x,) = self.inputs
        return 3 * x ** 2 * gy


class ScaledTanh(mdl.Function):
    """Uses save_for_backward and a parameter."""

    def __init__(self, scale):
        self.scale = scale

    def forward(self, x):
        y = self.xp.tanh(x) * self.scale
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved_tensors
        return gy * (self.scale - y * y / self.scale)


def test_user_defined_function_first_and_second_derivatives():
    x = mdl.tensor(np.array([0.5, -1.0]), requires_grad=True)
    y = Cube.apply(x)
    np.testing.assert_allclose(y.numpy(), x.numpy() ** 3)
    check_grad(Cube.apply, [np.array([0.5, -1.0, 2.0])])
    (g,) = mdl.grad(Cube.apply(x).sum(), [x], create_graph=True)
    (h,) = mdl.grad(g.sum(), [x])
    np.testing.assert_allclose(h.numpy(), 6 * x.numpy())


def test_user_function_with_saved_tensors_and_parameters():
    check_grad(lambda t: ScaledTanh.apply(t, scale=2.5), [np.array([0.1, -0.7, 1.3])])
    x = mdl.tensor(np.array([0.2]), requires_grad=True)
    y = ScaledTanh.apply(x, scale=2.0)
    assert y.creator.saved_tensors[0].requires_grad is False


def test_function_returning_wrong_number_of_gradients_is_reported():
    class Bad(mdl.Function):
        def forward(self, a, b):
            return a + b

        def backward(self, gy):
            return gy

    a = mdl.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(RuntimeError, match="returned 1 gradients for 2 inputs"):
        Bad.apply(a, a).sum().backward()


def test_function_returning_wrong_shape_is_reported():
    class Bad(mdl.Function):
        def forward(self, a):
            return a.sum()

        def backward(self, gy):
            return gy

    a = mdl.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(RuntimeError, match="gradient of shape"):
        Bad.apply(a).backward()


def test_multi_output_function_with_one_output_unused():
    class Split(mdl.Function):
        def forward(self, x):
            return x * 2, x * 3

        def backward(self, g1, g2):
            return g1 * 2 + g2 * 3

    x = mdl.tensor(np.ones(2), requires_grad=True)
    first, second = Split.apply(x)
    first.sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 2.0])
    x.zero_grad()
    first = Split.apply(x)[0]  # the second output is garbage-collected at once
    first.sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 2.0])


def test_tensor_repr_numpy_item_and_len():
    t = mdl.tensor(np.array([[1.5, 2.0]]), requires_grad=True)
    assert "requires_grad=True" in repr(t)
    assert t.numpy() is not t.data and len(t) == 1
    assert t.sum().item() == 3.5


def test_comparisons_return_bool_tensors():
    t = mdl.tensor(np.array([1.0, 2.0]))
    assert (t == 1.0).numpy().tolist() == [True, False]
    assert (t >= mdl.tensor(np.array([2.0, 2.0]))).numpy().tolist() == [False, True]


def test_leaf_gradients_never_share_arrays():
    a = mdl.tensor(np.ones(3), requires_grad=True)
    b = mdl.tensor(np.ones(3), requires_grad=True)
    seed = np.array([1.0, 2.0, 3.0])
    (a + b).backward(seed)
    assert a.grad is not b.grad and a.grad is not seed and b.grad is not seed
    a.grad[0] = 99.0
    np.testing.assert_array_equal(b.grad, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(seed, [1.0, 2.0, 3.0])
