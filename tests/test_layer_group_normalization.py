"""Layer and group normalization: the ops against slow loop references, the hand-derived
backward against finite differences (float64) and against its differentiable route, the
LayerNormalization and GroupNormalization layers through the shared harness, and errors."""
import itertools
from contextlib import nullcontext

import numpy as np
import pytest

import minidl as mdl
from minidl import layers
from minidl.gradcheck import check_double_grad, check_grad
from minidl.ops.normalization import group_normalization, layer_normalization
from minidl.testing import layer_test


def loop_layer_norm(x, gamma, beta, axes, epsilon, rms_scaling=False):
    """One sample at a time: every index of the kept axes selects a block of values."""
    axes = sorted(a % x.ndim for a in axes)
    kept = [a for a in range(x.ndim) if a not in axes]
    y = np.empty_like(x)
    for index in itertools.product(*(range(x.shape[a]) for a in kept)):
        where = [slice(None)] * x.ndim
        for a, i in zip(kept, index):
            where[a] = i
        block = x[tuple(where)]        # the normalized axes, in increasing order
        values = block.ravel().tolist()
        mean = sum(values) / len(values)
        var = sum((v - mean) ** 2 for v in values) / len(values)
        centered = block if rms_scaling else block - mean
        out = centered / np.sqrt(var + epsilon)
        if gamma is not None:
            out = out * gamma
        if beta is not None:
            out = out + beta
        y[tuple(where)] = out
    return y


def loop_group_norm(x, groups, gamma, beta, axis, epsilon):
    """Per sample and group: gather the group's channels by explicit index lists."""
    axis = axis % x.ndim
    moved = np.moveaxis(x, axis, -1)
    channels = moved.shape[-1]
    size = channels // groups
    y = np.empty_like(moved)
    for n in range(moved.shape[0]):
        for g in range(groups):
            members = list(range(g * size, (g + 1) * size))
            block = moved[n][..., members]
            mean = block.sum() / block.size
            var = ((block - mean) ** 2).sum() / block.size
            for k, c in enumerate(members):
                out = (block[..., k] - mean) / np.sqrt(var + epsilon)
                if gamma is not None:
                    out = out * gamma[c]
                if beta is not None:
                    out = out + beta[c]
                y[n][..., c] = out
    return np.moveaxis(y, -1, axis)


# -- the ops ---------------------------------------------------------------------------
LAYER_CASES = [((2, 5), -1), ((2, 3, 4), [1, 2]), ((2, 3, 4), 1), ((2, 3, 2, 4), [-1, 1]),
               ((3, 4), [0, 1]), ((2, 3, 4), [-2])]


def _on_backend(value):
    return None if value is None else mdl.tensor(value)


def _params(rng, shape, center, scale):
    gamma = rng.standard_normal(shape) if scale else None
    beta = rng.standard_normal(shape) if center else None
    return gamma, beta


@pytest.mark.parametrize("shape,axis", LAYER_CASES)
@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False),
                                          (False, False)])
def test_layer_normalization_forward_matches_loops(backend, rng, shape, axis, center,
                                                   scale):
    x = rng.standard_normal(shape) * 2 + 1
    axes = [axis] if isinstance(axis, int) else axis
    pshape = tuple(shape[a] for a in sorted(a % len(shape) for a in axes))
    gamma, beta = _params(rng, pshape, center, scale)
    y = layer_normalization(mdl.tensor(x), _on_backend(gamma), _on_backend(beta), axis,
                            epsilon=1e-3)
    expected = loop_layer_norm(x, gamma, beta, axes, 1e-3)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape,axis", LAYER_CASES[:4])
def test_rms_scaling_forward_matches_loops(backend, rng, shape, axis):
    x = rng.standard_normal(shape) + 0.5
    axes = [axis] if isinstance(axis, int) else axis
    pshape = tuple(shape[a] for a in sorted(a % len(shape) for a in axes))
    gamma = rng.standard_normal(pshape)
    y = layer_normalization(mdl.tensor(x), mdl.tensor(gamma), None, axis, 0.01,
                            rms_scaling=True)
    expected = loop_layer_norm(x, gamma, None, axes, 0.01, rms_scaling=True)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)


GROUP_CASES = [((2, 5, 4), 2, -1), ((2, 3, 3, 4), 1, -1), ((2, 3, 3, 4), 4, -1),
               ((2, 4, 3, 3), 2, 1), ((2, 3, 6, 2), 3, -2), ((3, 6), 3, 1)]


@pytest.mark.parametrize("shape,groups,axis", GROUP_CASES)
@pytest.mark.parametrize("center,scale", [(True, True), (False, False), (True, False)])
def test_group_normalization_forward_matches_loops(backend, rng, shape, groups, axis,
                                                   center, scale):
    x = rng.standard_normal(shape) * 2 - 1
    gamma, beta = _params(rng, (shape[axis],), center, scale)
    y = group_normalization(mdl.tensor(x), groups, _on_backend(gamma), _on_backend(beta),
                            axis, epsilon=1e-3)
    expected = loop_group_norm(x, groups, gamma, beta, axis, 1e-3)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape,axis", LAYER_CASES)
@pytest.mark.parametrize("center,scale,rms", [(True, True, False), (False, False, False),
                                              (False, True, False), (True, False, False),
                                              (False, True, True), (False, False, True)])
def test_layer_normalization_gradcheck(rng, shape, axis, center, scale, rms):
    x = rng.standard_normal(shape)
    axes = [axis] if isinstance(axis, int) else axis
    pshape = tuple(shape[a] for a in sorted(a % len(shape) for a in axes))
    gamma, beta = _params(rng, pshape, center, scale)
    inputs = [x] + [p for p in (gamma, beta) if p is not None]

    def fn(x, *params):
        params = list(params)
        g = params.pop(0) if scale else None
        b = params.pop(0) if center else None
        return layer_normalization(x, g, b, axis, epsilon=0.01, rms_scaling=rms)

    check_grad(fn, inputs)


@pytest.mark.parametrize("shape,groups,axis", GROUP_CASES)
@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (False, False)])
def test_group_normalization_gradcheck(rng, shape, groups, axis, center, scale):
    x = rng.standard_normal(shape)
    gamma, beta = _params(rng, (shape[axis],), center, scale)
    inputs = [x] + [p for p in (gamma, beta) if p is not None]

    def fn(x, *params):
        params = list(params)
        g = params.pop(0) if scale else None
        b = params.pop(0) if center else None
        return group_normalization(x, groups, g, b, axis, epsilon=0.01)

    check_grad(fn, inputs)


@pytest.mark.parametrize("fn", [
    lambda x, g, b: layer_normalization(x, g, b, [1, 2]),
    lambda x, g, b: layer_normalization(x, g, None, [1, 2], rms_scaling=True) + 0 * b.sum(),
    lambda x, g, b: group_normalization(x, 2, g.reshape(-1)[:4], b.reshape(-1)[:4]),
])
def test_double_backward_and_both_backward_routes(rng, fn):
    x, g, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 4)), \
        rng.standard_normal((3, 4))
    check_double_grad(fn, [x, g, b])
    tensors = [mdl.tensor(a, requires_grad=True) for a in (x, g, b)]
    gy = rng.standard_normal((2, 3, 4))
    fn(*tensors).backward(gy)  # the array route
    taped = mdl.grad(fn(*tensors), tensors, [gy], create_graph=True)
    for t, grad in zip(tensors, taped):
        np.testing.assert_allclose(t.grad, grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ops_preserve_dtype(rng, dtype):
    x = mdl.tensor(rng.standard_normal((2, 3, 4)).astype(dtype), requires_grad=True)
    g = mdl.tensor(np.ones(4, dtype), requires_grad=True)
    for y in (layer_normalization(x, g, g), group_normalization(x, 2, g, g),
              layer_normalization(x, g, rms_scaling=True)):
        assert y.dtype == dtype
        y.sum().backward()
        assert x.grad.dtype == g.grad.dtype == dtype


@pytest.mark.parametrize("call,error,message", [
    (lambda x: layer_normalization(x, axis=3), ValueError, "axis=3"),
    (lambda x: layer_normalization(x, axis=[1, -2]), ValueError, "each once"),
    (lambda x: layer_normalization(x, axis=[]), ValueError, "at least one"),
    (lambda x: layer_normalization(x, axis="last"), ValueError, "axis='last'"),
    (lambda x: layer_normalization(x, np.ones(3)), ValueError, r"gamma of shape \(3,\)"),
    (lambda x: layer_normalization(x, None, np.ones(4), rms_scaling=True), ValueError,
     "rms_scaling"),
    (lambda x: group_normalization(x, 3), ValueError, "groups=3"),
    (lambda x: group_normalization(x, 0), ValueError, "groups=0"),
    (lambda x: group_normalization(x, 2, axis=0), ValueError, "batch axis"),
    (lambda x: group_normalization(x, 2, axis=5), ValueError, "axis=5"),
    (lambda x: group_normalization(x, 2, beta=np.ones(2)), ValueError, "beta of shape"),
])
def test_op_errors(call, error, message):
    with pytest.raises(error, match=message):
        call(mdl.tensor(np.zeros((2, 3, 4))))


# -- the layers ------------------------------------------------------------------------
RANDOM = dict(beta_initializer="random_normal", gamma_initializer="random_normal")


@pytest.mark.parametrize("kwargs,shape", [
    (dict(), (2, 3, 4)), (dict(axis=[1, 2]), (2, 3, 4)), (dict(axis=1), (2, 4, 3)),
    (dict(axis=(-1, 1), epsilon=0.1), (2, 3, 2, 2)), (dict(center=False), (2, 5)),
    (dict(scale=False), (2, 5)), (dict(rms_scaling=True, scale=False), (2, 3, 4)),
])
def test_layer_normalization_harness(kwargs, shape):
    kwargs = dict(RANDOM, **kwargs)
    deprecated = kwargs.get("rms_scaling", False)
    with pytest.warns(UserWarning, match="rms_scaling") if deprecated else nullcontext():
        layer_test(layers.LayerNormalization, kwargs, shape, expected_output_shape=shape,
                   expected_num_non_trainable_weights=0)


@pytest.mark.parametrize("kwargs,shape", [
    (dict(groups=2), (2, 3, 4)), (dict(groups=1), (2, 3, 2, 4)),
    (dict(groups=-1), (2, 3, 3)), (dict(groups=2, axis=1), (2, 4, 3, 2)),
    (dict(groups=3, axis=-2), (2, 3, 2)), (dict(groups=2, scale=False), (2, 3, 4)),
    (dict(groups=2, center=False, scale=False), (2, 4)),
])
def test_group_normalization_harness(kwargs, shape):
    layer_test(layers.GroupNormalization, dict(RANDOM, **kwargs), shape,
               expected_output_shape=shape, expected_num_non_trainable_weights=0)


def test_layer_normalization_weights_and_config():
    layer = layers.LayerNormalization(axis=[3, 1])
    assert layer.get_config()["axis"] == [3, 1]
    layer.build((None, 3, 2, 4))
    assert [(w.name, w.shape) for w in layer.weights] == [("gamma", (3, 4)),
                                                          ("beta", (3, 4))]
    assert layer.get_config()["axis"] == [1, 3]   # sorted at build, as Keras reports it
    assert layer.compute_output_shape((None, 3, 2, 4)) == (None, 3, 2, 4)
    assert set(layer.get_config()) == {
        "name", "trainable", "dtype", "axis", "epsilon", "center", "scale", "rms_scaling",
        "beta_initializer", "gamma_initializer", "beta_regularizer", "gamma_regularizer",
        "beta_constraint", "gamma_constraint"}
    with pytest.warns(UserWarning):
        rms = layers.LayerNormalization(rms_scaling=True, scale=False, center=True)
    rms.build((None, 5))
    assert [w.name for w in rms.weights] == ["gamma"]    # no beta with rms_scaling
    plain = layers.LayerNormalization(scale=False, center=False)
    plain.build((None, 5))
    assert plain.weights == [] and layers.LayerNormalization().get_config()["axis"] == -1


def test_group_normalization_weights_and_config():
    layer = layers.GroupNormalization(groups=-1, axis=1, gamma_regularizer="l2")
    assert layer.get_config()["groups"] == -1
    layer(np.ones((2, 6, 3), "float32"))
    assert layer.get_config()["groups"] == 6
    assert [(w.name, w.shape) for w in layer.weights] == [("gamma", (6,)), ("beta", (6,))]
    assert len(layer.losses) == 1
    assert set(layer.get_config()) == {
        "name", "trainable", "dtype", "groups", "axis", "epsilon", "center", "scale",
        "beta_initializer", "gamma_initializer", "beta_regularizer", "gamma_regularizer",
        "beta_constraint", "gamma_constraint"}
    assert layers.GroupNormalization().groups == 32


def test_group_normalization_one_group_is_not_layer_normalization_over_all_axes(rng):
    # the same statistics, but gamma/beta per channel rather than per value
    x = rng.standard_normal((2, 3, 4))
    gn = layers.GroupNormalization(groups=1, dtype="float64")
    ln = layers.LayerNormalization(axis=[1, 2], dtype="float64")
    np.testing.assert_allclose(gn(x).numpy(), ln(x).numpy(), rtol=1e-12, atol=1e-12)
    assert gn.gamma.shape == (4,) and ln.gamma.shape == (3, 4)


@pytest.mark.parametrize("make,error,message", [
    (lambda: layers.LayerNormalization(axis=1.0), TypeError, "axis=1.0"),
    (lambda: layers.LayerNormalization(axis=[1, "2"]), TypeError, "axis"),
    (lambda: layers.LayerNormalization(axis=[]), TypeError, "axis"),
    (lambda: layers.LayerNormalization(epsilon=-1.0), ValueError, "epsilon=-1.0"),
    (lambda: layers.LayerNormalization(center="yes"), ValueError, "center='yes'"),
    (lambda: layers.LayerNormalization(rms_scaling=1), ValueError, "rms_scaling=1"),
    (lambda: layers.LayerNormalization(gamma_initializer="nope"), ValueError, "nope"),
    (lambda: layers.GroupNormalization(groups=0), ValueError, "groups=0"),
    (lambda: layers.GroupNormalization(groups=-2), ValueError, "groups=-2"),
    (lambda: layers.GroupNormalization(groups=2.0), ValueError, "groups=2.0"),
    (lambda: layers.GroupNormalization(axis=[1]), ValueError, r"axis=\[1\]"),
    (lambda: layers.GroupNormalization(scale=None), ValueError, "scale=None"),
])
def test_layer_argument_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize("make,shape,message", [
    (lambda: layers.LayerNormalization(axis=3), (2, 3, 4), "out of bounds"),
    (lambda: layers.LayerNormalization(axis=[1, -2]), (2, 3, 4), "more than once"),
    (lambda: layers.LayerNormalization(axis=1), (None, None, 4), "must be known"),
    (lambda: layers.GroupNormalization(groups=3), (2, 3, 4), "groups=3"),
    (lambda: layers.GroupNormalization(groups=8), (2, 3, 4), "groups=8"),
    (lambda: layers.GroupNormalization(groups=2, axis=0), (2, 3, 4), "non-batch axis"),
    (lambda: layers.GroupNormalization(groups=2, axis=3), (2, 3, 4), "non-batch axis"),
    (lambda: layers.GroupNormalization(groups=2), (2, 3, None), "known size"),
])
def test_build_errors(make, shape, message):
    with pytest.raises(ValueError, match=message):
        make().build(shape)


@pytest.mark.parametrize("layer,first,second", [
    (layers.LayerNormalization(), (2, 3, 4), (2, 3, 5)),
    (layers.LayerNormalization(axis=[1, 2]), (2, 3, 4), (2, 3)),
    (layers.GroupNormalization(groups=2), (2, 3, 4), (2, 3, 6)),
    (layers.GroupNormalization(groups=2), (2, 3, 4), (2, 4)),
])
def test_call_with_another_shape_raises(layer, first, second):
    layer(np.zeros(first, "float32"))
    with pytest.raises(ValueError, match="was built for"):
        layer(np.zeros(second, "float32"))
