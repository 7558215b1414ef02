"""Batch normalization: the ops against NumPy formulas, the hand-derived backward against
finite differences and against the composed-ops route, and the BatchNormalization layer."""
import numpy as np
import pytest

import minidl as mdl
from minidl import functional as F
from minidl import layers
from minidl.gradcheck import check_double_grad, check_grad
from minidl.testing import layer_test


def numpy_batch_norm(x, gamma, beta, axis, epsilon):
    """Training-mode batch norm written independently: statistics over the other axes."""
    reduce = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    mu = x.mean(axis=reduce)
    var = ((x - mu.reshape(shape)) ** 2).mean(axis=reduce)
    y = (x - mu.reshape(shape)) / np.sqrt(var.reshape(shape) + epsilon)
    return y * gamma.reshape(shape) + beta.reshape(shape), mu, var


@pytest.mark.parametrize("shape,axis", [((4, 3), -1), ((2, 3, 4, 5), 1), ((2, 3, 4, 5), -1),
                                        ((3, 2, 4), 0), ((1, 1, 3), 2)])
def test_training_forward_matches_numpy(backend, rng, shape, axis):
    x = rng.standard_normal(shape) * 3 + 1
    c = shape[axis]
    gamma, beta = rng.standard_normal(c), rng.standard_normal(c)
    y, mu, var = F.batch_normalization_training(mdl.tensor(x), mdl.tensor(gamma),
                                                mdl.tensor(beta), axis=axis, epsilon=1e-3)
    ey, emu, evar = numpy_batch_norm(x, gamma, beta, axis, 1e-3)
    np.testing.assert_allclose(y.numpy(), ey, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mu.numpy(), emu, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(var.numpy(), evar, rtol=1e-12)


def test_inference_forward_matches_numpy(backend, rng):
    x = rng.standard_normal((2, 3, 4))
    mean, var = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    y = F.batch_normalization(mdl.tensor(x), mdl.tensor(mean), mdl.tensor(var), axis=1,
                              offset=mdl.tensor(beta), scale=mdl.tensor(gamma),
                              epsilon=0.01)
    shape = (1, 3, 1)
    expected = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + 0.01) \
        * gamma.reshape(shape) + beta.reshape(shape)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)
    y = F.batch_normalization(mdl.tensor(x), mdl.tensor(mean), mdl.tensor(var), axis=1)
    np.testing.assert_allclose(y.numpy(), (x - mean.reshape(shape))
                               / np.sqrt(var.reshape(shape) + 1e-3), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved(dtype):
    x = mdl.tensor(np.random.default_rng(0).standard_normal((4, 3)).astype(dtype),
                   requires_grad=True)
    g = mdl.tensor(np.ones(3, dtype), requires_grad=True)
    y, mu, var = F.batch_normalization_training(x, g, None)
    assert y.dtype == mu.dtype == var.dtype == dtype
    y.sum().backward()
    assert x.grad.dtype == g.grad.dtype == dtype
    y = F.batch_normalization(x, mu, var, offset=0 * g, scale=g)
    assert y.dtype == dtype


@pytest.mark.parametrize("shape,axis", [((5, 3), -1), ((2, 3, 2, 2), 1), ((3, 2, 3), 0)])
def test_training_gradcheck(rng, shape, axis):
    c = shape[axis]
    args = [rng.standard_normal(shape), rng.standard_normal(c), rng.standard_normal(c)]
    check_grad(lambda x, g, b: F.batch_normalization_training(x, g, b, axis)[0], args)


def test_training_gradcheck_scipy_and_no_affine(rng):
    x = rng.standard_normal((3, 2, 4))
    check_grad(lambda t: F.batch_normalization_training(t, axis=-1)[0], [x], method="scipy")
    check_grad(lambda t: F.batch_normalization_training(t, axis=1, epsilon=0.5)[0], [x])


def test_training_double_backward(rng):
    args = [rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal(3)]
    check_double_grad(lambda x, g, b: F.batch_normalization_training(x, g, b)[0], args)


def test_hand_backward_matches_composed_ops(rng):
    """The fused array backward against the same maths written as ordinary ops."""
    x0, g0, b0 = (rng.standard_normal(s) for s in ((3, 4, 5), 4, 4))
    gy = rng.standard_normal((3, 4, 5))
    x, g, b = (mdl.tensor(a, requires_grad=True) for a in (x0, g0, b0))
    F.batch_normalization_training(x, g, b, axis=1)[0].backward(gy)
    xc, gc, bc = (mdl.tensor(a, requires_grad=True) for a in (x0, g0, b0))
    mu = F.mean(xc, (0, 2), keepdims=True)
    var = F.var(xc, (0, 2), keepdims=True)
    y = (xc - mu) / F.sqrt(var + 1e-3) * gc.reshape(1, 4, 1) + bc.reshape(1, 4, 1)
    y.backward(gy)
    for fused, composed in ((x, xc), (g, gc), (b, bc)):
        np.testing.assert_allclose(fused.grad, composed.grad, rtol=1e-10, atol=1e-12)
    # the differentiable route (create_graph) gives the same first derivative
    xs = mdl.tensor(x0, requires_grad=True)
    (dx,) = mdl.grad((F.batch_normalization_training(xs, g0, b0, axis=1)[0]
                      * mdl.tensor(gy)).sum(), [xs], create_graph=True)
    np.testing.assert_allclose(dx.numpy(), x.grad, rtol=1e-10, atol=1e-12)


def test_hand_backward_formula(rng):
    """dx = gamma r (g - mean(g) - xhat mean(g xhat)), dgamma = sum(g xhat),
    dbeta = sum(g)."""
    x0, g0, b0 = rng.standard_normal((6, 2)), rng.standard_normal(2), rng.standard_normal(2)
    gy = rng.standard_normal((6, 2))
    x, g, b = (mdl.tensor(a, requires_grad=True) for a in (x0, g0, b0))
    F.batch_normalization_training(x, g, b, epsilon=0.1)[0].backward(gy)
    r = 1 / np.sqrt(x0.var(axis=0) + 0.1)
    xhat = (x0 - x0.mean(axis=0)) * r
    dx = g0 * r * (gy - gy.mean(axis=0) - xhat * (gy * xhat).mean(axis=0))
    np.testing.assert_allclose(x.grad, dx, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g.grad, (gy * xhat).sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(b.grad, gy.sum(axis=0), rtol=1e-12)


def test_inference_gradcheck(rng):
    args = [rng.standard_normal((2, 3, 2)), rng.standard_normal(3), rng.uniform(0.5, 2, 3),
            rng.standard_normal(3), rng.standard_normal(3)]
    check_grad(lambda x, m, v, b, g: F.batch_normalization(x, m, v, 1, b, g), args)


def test_op_bad_arguments():
    x = mdl.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match="axis=2"):
        F.batch_normalization_training(x, axis=2)
    with pytest.raises(ValueError, match=r"scale of shape \(2,\)"):
        F.batch_normalization_training(x, scale=np.ones(2))
    with pytest.raises(ValueError, match=r"variance of shape \(4,\)"):
        F.batch_normalization(x, np.zeros(3), np.ones(4))
    with pytest.raises(ValueError, match="empty"):
        F.batch_normalization_training(mdl.tensor(np.ones((0, 3))))


# -- the layer ------------------------------------------------------------------------
KERAS_CONFIG = {
    "name": "batch_normalization", "trainable": True,
    "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float64"},
              "registered_name": None},
    "axis": 1, "momentum": 0.9, "epsilon": 0.01, "center": True, "scale": True,
    "beta_initializer": {"module": "keras.initializers", "class_name": "Zeros",
                         "config": {}, "registered_name": None},
    "gamma_initializer": {"module": "keras.initializers", "class_name": "Ones",
                          "config": {}, "registered_name": None},
    "moving_mean_initializer": {"module": "keras.initializers", "class_name": "Zeros",
                                "config": {}, "registered_name": None},
    "moving_variance_initializer": {"module": "keras.initializers", "class_name": "Ones",
                                    "config": {}, "registered_name": None},
    "beta_regularizer": None,
    "gamma_regularizer": {"module": "keras.regularizers", "class_name": "L2",
                          "config": {"l2": 0.01}, "registered_name": None},
    "beta_constraint": None, "gamma_constraint": None, "synchronized": False,
    "renorm": False, "renorm_clipping": None, "renorm_momentum": 0.99}


@pytest.mark.parametrize("kwargs,input_shape,training,counts", [
    ({}, (4, 3), False, (2, 2, 0)),
    (dict(beta_initializer="ones"), (3, 2, 2, 3), True, (2, 2, 0)),
    (dict(axis=1, gamma_regularizer="l2", beta_regularizer="l1",
          moving_variance_initializer="ones"), (2, 3, 2, 2), False, (2, 2, 2)),
    (dict(axis=1, center=False, scale=False), (3, 2, 3), True, (0, 2, 0)),
    (dict(center=False, gamma_constraint="non_neg"), (4, 2), True, (1, 2, 0)),
])
def test_layer_harness(kwargs, input_shape, training, counts):
    layer_test(layers.BatchNormalization, kwargs, input_shape, training=training,
               expected_output_shape=input_shape, expected_num_trainable_weights=counts[0],
               expected_num_non_trainable_weights=counts[1], expected_num_losses=counts[2])


def test_weights_in_keras_order():
    bn = layers.BatchNormalization(axis=1)
    bn(np.ones((2, 5, 3)))
    assert [w.name for w in bn.weights] == ["gamma", "beta", "moving_mean",
                                            "moving_variance"]
    assert [w.shape for w in bn.weights] == [(5,)] * 4
    assert [w.name for w in bn.trainable_weights] == ["gamma", "beta"]
    np.testing.assert_array_equal(bn.get_weights()[0], np.ones(5))
    np.testing.assert_array_equal(bn.get_weights()[2], np.zeros(5))
    bn = layers.BatchNormalization(scale=False)
    bn(np.ones((2, 3)))
    assert [w.name for w in bn.weights] == ["beta", "moving_mean", "moving_variance"]


def test_moving_statistics_follow_keras_rule(rng):
    bn = layers.BatchNormalization(momentum=0.9, epsilon=0.01, dtype="float64")
    mm, mv = np.zeros(3), np.ones(3)
    for step in range(3):
        x = rng.standard_normal((5, 2, 3)) * (step + 1) + step
        y = bn(x, training=True)
        ey, mu, var = numpy_batch_norm(x, np.ones(3), np.zeros(3), -1, 0.01)
        np.testing.assert_allclose(y.numpy(), ey, rtol=1e-12, atol=1e-12)
        mm, mv = mm * 0.9 + mu * 0.1, mv * 0.9 + var * 0.1  # biased batch variance
        np.testing.assert_allclose(bn.moving_mean.numpy(), mm, rtol=1e-12)
        np.testing.assert_allclose(bn.moving_variance.numpy(), mv, rtol=1e-12)
    # inference (training False or None) uses and keeps the moving statistics
    x = rng.standard_normal((4, 2, 3))
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    bn.set_weights([gamma, beta, mm, mv])
    for training in (False, None):
        y = bn(x, training=training)
        np.testing.assert_allclose(y.numpy(), (x - mm) / np.sqrt(mv + 0.01) * gamma + beta,
                                   rtol=1e-12)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), mm)


def test_frozen_layer_runs_in_inference_mode(rng):
    bn = layers.BatchNormalization(dtype="float64")
    x = rng.standard_normal((4, 3)) + 2
    bn.build((4, 3))
    bn.trainable = False
    y = bn(x, training=True)
    np.testing.assert_allclose(y.numpy(), x / np.sqrt(1 + 1e-3), rtol=1e-12)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), np.zeros(3))


def test_float32_training_keeps_dtype(rng):
    bn = layers.BatchNormalization()
    y = bn(rng.standard_normal((4, 3)), training=True)
    assert y.dtype == np.float32 and bn.moving_variance.dtype == np.float32


def test_accepts_keras_config():
    bn = layers.BatchNormalization.from_config(KERAS_CONFIG)
    assert (bn.axis, bn.momentum, bn.epsilon, bn.dtype) == (1, 0.9, 0.01, "float64")
    bn(np.ones((2, 3, 4)), training=True)
    assert len(bn.losses) == 1
    cfg = bn.get_config()
    assert set(cfg) == set(KERAS_CONFIG)
    assert cfg["gamma_regularizer"]["config"]["l2"] == pytest.approx(0.01)
    assert cfg["beta_initializer"]["class_name"] == "Zeros"
    old_keras = {k: v for k, v in KERAS_CONFIG.items() if not k.startswith("renorm")}
    assert layers.BatchNormalization.from_config(old_keras).get_config() == cfg


@pytest.mark.parametrize("kwargs,match", [
    (dict(axis=1.5), "axis"), (dict(axis=[1, 2]), "axis"),
    (dict(momentum=1.5), "momentum"), (dict(momentum=-0.1), "momentum"),
    (dict(epsilon=-1e-3), "epsilon"), (dict(epsilon="small"), "epsilon"),
    (dict(center="yes"), "center"), (dict(scale=None), "scale"),
    (dict(renorm=True), "renorm"),
    (dict(beta_initializer="no_such_initializer"), "no_such_initializer"),
    (dict(gamma_regularizer="l3"), "l3"),
])
def test_layer_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.BatchNormalization(**kwargs)


def test_layer_bad_inputs():
    with pytest.raises(ValueError, match="axis=3"):
        layers.BatchNormalization(axis=3)(np.ones((2, 3)))
    bn = layers.BatchNormalization()
    bn(np.ones((2, 4, 3)))
    with pytest.raises(ValueError, match="3 features"):
        bn(np.ones((2, 4, 5)), training=True)
    with pytest.raises(ValueError, match="rank 3"):
        bn(np.ones((2, 3)))
    with pytest.raises(ValueError, match="known positive size"):
        layers.BatchNormalization().build((None, None))
