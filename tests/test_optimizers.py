"""Optimizers: several steps against Keras 3's formulas written out here, clipping, weight
decay, constraints, schedules, state and config."""
import json
import math

import numpy as np
import pytest

import minidl as mdl
from minidl import optimizers as O
from minidl.optimizers import schedules as S

RNG = np.random.default_rng(0)
W0 = [RNG.standard_normal((3, 2)), RNG.standard_normal(4)]
GRADS = [[RNG.standard_normal(w.shape) for w in W0] for _ in range(5)]


# -- reference updates (float64 NumPy, one weight at a time) ------------------------------
def ref_sgd(w, g, s, t, lr, momentum=0.0, nesterov=False):
    if not momentum:
        return w - lr * g
    s["m"] = momentum * s.get("m", 0) - lr * g
    return w + (momentum * s["m"] - lr * g if nesterov else s["m"])


def ref_adam(w, g, s, t, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    s["m"] = s.get("m", 0) + (g - s.get("m", 0)) * (1 - beta_1)
    s["v"] = s.get("v", 0) + (g * g - s.get("v", 0)) * (1 - beta_2)
    v = s["v"]
    if amsgrad:
        s["vh"] = np.maximum(s.get("vh", 0), v)
        v = s["vh"]
    alpha = lr * math.sqrt(1 - beta_2 ** (t + 1)) / (1 - beta_1 ** (t + 1))
    return w - alpha * s["m"] / (np.sqrt(v) + epsilon)


def ref_rmsprop(w, g, s, t, lr, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    s["v"] = rho * s.get("v", 0) + (1 - rho) * g * g
    denominator = s["v"] + epsilon
    if centered:
        s["a"] = rho * s.get("a", 0) + (1 - rho) * g
        denominator = s["v"] - s["a"] ** 2 + epsilon
    increment = lr * g / np.sqrt(denominator)
    if momentum:
        s["m"] = momentum * s.get("m", 0) + increment
        return w - s["m"]
    return w - increment


def ref_adagrad(w, g, s, t, lr, initial_accumulator_value=0.1, epsilon=1e-7):
    s["acc"] = s.get("acc", initial_accumulator_value) + g * g
    return w - lr * g / np.sqrt(s["acc"] + epsilon)


def ref_adamax(w, g, s, t, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    s["m"] = s.get("m", 0) + (g - s.get("m", 0)) * (1 - beta_1)
    s["u"] = np.maximum(beta_2 * s.get("u", 0), np.abs(g))
    return w - lr * s["m"] / ((1 - beta_1 ** (t + 1)) * (s["u"] + epsilon))


def ref_nadam(w, g, s, t, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    def u(step):
        return beta_1 * (1 - 0.5 * 0.96 ** step)
    product = np.prod([u(k) for k in range(1, t + 2)])      # u_1 ... u_{t+1}
    s["m"] = s.get("m", 0) + (g - s.get("m", 0)) * (1 - beta_1)
    s["v"] = s.get("v", 0) + (g * g - s.get("v", 0)) * (1 - beta_2)
    m_hat = u(t + 2) * s["m"] / (1 - product * u(t + 2)) + \
        (1 - u(t + 1)) * g / (1 - product)
    v_hat = s["v"] / (1 - beta_2 ** (t + 1))
    return w - lr * m_hat / (np.sqrt(v_hat) + epsilon)


def ref_adadelta(w, g, s, t, lr, rho=0.95, epsilon=1e-7):
    s["ag"] = rho * s.get("ag", 0) + (1 - rho) * g * g
    delta = -np.sqrt(s.get("ad", 0) + epsilon) * g / np.sqrt(s["ag"] + epsilon)
    s["ad"] = rho * s.get("ad", 0) + (1 - rho) * delta * delta
    return w + lr * delta


def ref_lion(w, g, s, t, lr, beta_1=0.9, beta_2=0.99):
    m = s.get("m", 0)
    out = w - lr * np.sign(beta_1 * m + (1 - beta_1) * g)
    s["m"] = beta_2 * m + (1 - beta_2) * g
    return out


def run_reference(rule, lr, steps, weight_decay=None, **kwargs):
    ws = [w.copy() for w in W0]
    states = [{} for _ in ws]
    for t in range(steps):
        rate = lr(t) if callable(lr) else lr
        for i, g in enumerate(GRADS[t]):
            if weight_decay:
                ws[i] = ws[i] - ws[i] * weight_decay * rate
            ws[i] = rule(ws[i], g, states[i], t, rate, **kwargs)
    return ws


def run_minidl(optimizer, steps, dtype="float64", use_step=False):
    ws = [mdl.Variable(w, dtype=dtype) for w in W0]
    for t in range(steps):
        if use_step:
            for w, g in zip(ws, GRADS[t]):
                w.grad = w.xp.asarray(g.astype(dtype))
            optimizer.step(ws)
        else:
            optimizer.apply_gradients(zip([mdl.tensor(g.astype(dtype)) for g in GRADS[t]],
                                          ws))
    return ws


CASES = [
    (O.SGD, ref_sgd, {}),
    (O.SGD, ref_sgd, {"momentum": 0.9}),
    (O.SGD, ref_sgd, {"momentum": 0.5, "nesterov": True}),
    (O.Adam, ref_adam, {}),
    (O.Adam, ref_adam, {"beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3}),
    (O.Adam, ref_adam, {"amsgrad": True}),
    (O.RMSprop, ref_rmsprop, {}),
    (O.RMSprop, ref_rmsprop, {"momentum": 0.8}),
    (O.RMSprop, ref_rmsprop, {"centered": True, "rho": 0.7}),
    (O.RMSprop, ref_rmsprop, {"centered": True, "momentum": 0.3}),
    (O.Adagrad, ref_adagrad, {}),
    (O.Adagrad, ref_adagrad, {"initial_accumulator_value": 1.0, "epsilon": 1e-3}),
    (O.Adamax, ref_adamax, {}),
    (O.Adamax, ref_adamax, {"beta_1": 0.7, "beta_2": 0.9}),
    (O.Nadam, ref_nadam, {}),
    (O.Nadam, ref_nadam, {"beta_1": 0.8, "epsilon": 1e-4}),
    (O.Adadelta, ref_adadelta, {}),
    (O.Adadelta, ref_adadelta, {"rho": 0.5}),
    (O.Lion, ref_lion, {}),
    (O.Lion, ref_lion, {"beta_1": 0.5, "beta_2": 0.7}),
]


@pytest.mark.parametrize("cls,rule,kwargs", CASES)
def test_five_steps_match_formulas(backend, cls, rule, kwargs):
    optimizer = cls(learning_rate=0.05, **kwargs)
    ws = run_minidl(optimizer, 5)
    expected = run_reference(rule, 0.05, 5, **kwargs)
    for w, e in zip(ws, expected):
        assert w.backend == backend and w.dtype == np.float64
        np.testing.assert_allclose(w.numpy(), e, rtol=1e-12, atol=1e-14)
    assert optimizer.iterations == 5


@pytest.mark.parametrize("cls,rule,kwargs", CASES[::3])
def test_float32_and_step(cls, rule, kwargs):
    optimizer = cls(learning_rate=0.05, **kwargs)
    ws = run_minidl(optimizer, 3, dtype="float32", use_step=True)
    expected = run_reference(rule, 0.05, 3, **kwargs)
    for w, e in zip(ws, expected):
        assert w.dtype == np.float32
        np.testing.assert_allclose(w.numpy(), e, rtol=1e-5, atol=1e-6)
    for name, arrays in optimizer._slots.items():
        assert all(a.dtype == np.float32 for a in arrays), name


def test_adamw_decoupled_weight_decay():
    optimizer = O.AdamW(learning_rate=0.01, weight_decay=0.1)
    ws = run_minidl(optimizer, 4)
    expected = run_reference(ref_adam, 0.01, 4, weight_decay=0.1)
    for w, e in zip(ws, expected):
        np.testing.assert_allclose(w.numpy(), e, rtol=1e-12)
    assert O.AdamW().weight_decay == 0.004
    with pytest.raises(ValueError, match="weight_decay"):
        O.AdamW(weight_decay=None)


def test_weight_decay_exclusion():
    w1, w2 = mdl.Variable(np.ones(2), name="kernel"), mdl.Variable(np.ones(2), name="bias")
    optimizer = O.SGD(learning_rate=0.1, weight_decay=0.5)
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    optimizer.apply_gradients([(np.zeros(2), w1), (np.zeros(2), w2)])
    np.testing.assert_allclose(w1.numpy(), [0.95, 0.95])
    np.testing.assert_allclose(w2.numpy(), [1.0, 1.0])


@pytest.mark.parametrize("kwargs,scale", [
    ({"clipvalue": 0.5}, None),
    ({"clipnorm": 0.5}, "each"),
    ({"global_clipnorm": 0.5}, "global"),
])
def test_clipping(kwargs, scale):
    grads = [np.array([3.0, -4.0]), np.array([0.1, 0.2])]
    ws = [mdl.Variable(np.zeros(2)) for _ in grads]
    O.SGD(learning_rate=1.0, **kwargs).apply_gradients(zip(grads, ws))
    if scale is None:
        expected = [np.clip(g, -0.5, 0.5) for g in grads]
    elif scale == "each":
        expected = [g * 0.5 / max(np.linalg.norm(g), 0.5) for g in grads]
    else:
        norm = math.sqrt(sum((g ** 2).sum() for g in grads))
        expected = [g * 0.5 / max(norm, 0.5) for g in grads]
    for w, e in zip(ws, expected):
        np.testing.assert_allclose(-w.numpy(), e, rtol=1e-12)
    with pytest.raises(ValueError, match="only one of"):
        O.SGD(clipnorm=1.0, clipvalue=1.0)


def test_constraint_applied_right_after_update():
    w = mdl.Variable(np.array([1.0, -2.0, 3.0]), constraint=mdl.constraints.NonNeg())
    O.SGD(learning_rate=1.0).apply_gradients([(np.array([2.0, 1.0, -1.0]), w)])
    np.testing.assert_array_equal(w.numpy(), [0.0, 0.0, 4.0])
    seen = []

    def spy(value):
        seen.append(type(value))
        return value * 0.5
    v = mdl.Variable(np.ones(2), constraint=spy)
    O.Adam().apply_gradients([(np.ones(2), v)])
    assert seen == [np.ndarray] and v.numpy().max() < 0.5


def test_none_gradients_skipped_and_errors():
    a, b = mdl.Variable(np.ones(2)), mdl.Variable(np.ones(2))
    optimizer = O.SGD(learning_rate=0.5)
    optimizer.apply_gradients([(None, a), (np.ones(2), b)])
    np.testing.assert_array_equal(a.numpy(), [1, 1])
    np.testing.assert_array_equal(b.numpy(), [0.5, 0.5])
    with pytest.raises(ValueError, match="no gradient"):
        optimizer.apply_gradients([(None, a)])
    with pytest.raises(ValueError, match="no gradient"):
        optimizer.step([a])                           # a.grad is None
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        optimizer.apply_gradients([(np.ones(3), a)])
    with pytest.raises(ValueError, match="Variables as weights, got a ndarray"):
        optimizer.apply_gradients([(np.ones(2), np.ones(2))])
    optimizer.apply_gradients([([2.0, 2.0], b)])     # a list gradient is an array
    np.testing.assert_array_equal(b.numpy(), [-0.5, -0.5])


def test_learning_rate_schedules_and_callables():
    schedule = S.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    optimizer = O.SGD(learning_rate=schedule)
    ws = run_minidl(optimizer, 4)
    expected = run_reference(ref_sgd, schedule, 4)
    for w, e in zip(ws, expected):
        np.testing.assert_allclose(w.numpy(), e, rtol=1e-12)
    assert optimizer.learning_rate == pytest.approx(0.1 * 0.5 ** 2)
    optimizer.learning_rate = lambda: 0.3
    assert optimizer.learning_rate == 0.3
    optimizer.learning_rate = lambda step: 0.01 * step
    assert optimizer.learning_rate == pytest.approx(0.04)
    optimizer.learning_rate = 0.2
    assert optimizer.learning_rate == 0.2
    with pytest.raises(ValueError, match="learning_rate"):
        O.Adam(learning_rate=-1.0)


def test_schedule_formulas():
    e = S.ExponentialDecay(1.0, 10, 0.1, staircase=True)
    assert [e(s) for s in (0, 9, 10, 25)] == pytest.approx([1, 1, 0.1, 0.01])
    assert S.ExponentialDecay(1.0, 10, 0.1)(5) == pytest.approx(0.1 ** 0.5)
    c = S.CosineDecay(2.0, decay_steps=10, alpha=0.1)
    for step in (0, 3, 10, 50):
        s = min(step, 10)
        expected = 2.0 * ((1 - 0.1) * 0.5 * (1 + math.cos(math.pi * s / 10)) + 0.1)
        assert c(step) == pytest.approx(expected)
    w = S.CosineDecay(0.0, decay_steps=10, warmup_target=1.0, warmup_steps=5)
    assert [w(0), w(2), w(5)] == pytest.approx([0.0, 0.4, 1.0])
    assert w(10) == pytest.approx(0.5 * (1 + math.cos(math.pi * 5 / 10)))
    assert w(100) == pytest.approx(0.0)
    p = S.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert [p(s) for s in (0, 10, 11, 20, 21)] == [1.0, 1.0, 0.5, 0.5, 0.1]
    inv = S.InverseTimeDecay(1.0, 2, 0.5)
    assert inv(4) == pytest.approx(1 / (1 + 0.5 * 2))
    poly = S.PolynomialDecay(1.0, 10, end_learning_rate=0.1, power=2.0)
    assert poly(5) == pytest.approx(0.9 * 0.25 + 0.1) and poly(20) == pytest.approx(0.1)
    cyc = S.PolynomialDecay(1.0, 10, end_learning_rate=0.0, cycle=True)
    assert cyc(15) == pytest.approx(1 - 15 / 20)
    with pytest.raises(ValueError, match="one more element"):
        S.PiecewiseConstantDecay([1, 2], [1.0])
    with pytest.raises(ValueError, match="decay_steps"):
        S.ExponentialDecay(1.0, 0, 0.5)


@pytest.mark.parametrize("schedule", [
    S.ExponentialDecay(0.1, 3, 0.9, staircase=True), S.CosineDecay(0.1, 100, alpha=0.2),
    S.PiecewiseConstantDecay([5], [0.1, 0.01]), S.InverseTimeDecay(0.1, 2, 0.5),
    S.PolynomialDecay(0.1, 50, power=0.5)])
def test_schedule_config_round_trip(schedule):
    data = json.loads(json.dumps(S.serialize(schedule)))
    clone = S.deserialize(data)
    assert clone.get_config() == schedule.get_config() and clone(7) == schedule(7)


def test_state_layout_and_restore():
    optimizer = O.Adam(learning_rate=0.01)
    ws = run_minidl(optimizer, 2)
    state = optimizer.get_state()
    # iterations, learning_rate, momentum x2, velocity x2 (Keras's order)
    assert [a.shape for a in state] == [(), (), (3, 2), (4,), (3, 2), (4,)]
    assert int(state[0]) == 2
    fresh = O.Adam(learning_rate=0.5)
    clones = [mdl.Variable(w.numpy()) for w in ws]
    fresh.build(clones)
    fresh.set_state(state)
    assert fresh.iterations == 2 and fresh.learning_rate == pytest.approx(0.01)
    g = [np.ones((3, 2)), np.ones(4)]
    optimizer.apply_gradients(zip(g, ws))
    fresh.apply_gradients(zip(g, clones))
    for a, b in zip(ws, clones):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="build"):
        O.Adam().set_state(state)


def test_nadam_scalar_state_restored():
    optimizer = O.Nadam(learning_rate=0.01)
    ws = run_minidl(optimizer, 3)
    state = optimizer.get_state()
    assert len(state) == 2 + 4 + 1 and float(state[-1]) == optimizer.u_product != 1.0
    clones = [mdl.Variable(w.numpy()) for w in ws]
    fresh = O.Nadam(learning_rate=0.01)
    fresh.build(clones)
    fresh.set_state(state)
    g = [np.ones((3, 2)), np.ones(4)]
    optimizer.apply_gradients(zip(g, ws))
    fresh.apply_gradients(zip(g, clones))
    for a, b in zip(ws, clones):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_state_with_schedule_has_no_learning_rate_entry():
    optimizer = O.SGD(learning_rate=S.ExponentialDecay(0.1, 1, 0.5), momentum=0.9)
    run_minidl(optimizer, 1)
    assert [a.shape for a in optimizer.get_state()] == [(), (3, 2), (4,)]


def test_state_on_weight_backend(backend):
    optimizer = O.RMSprop(momentum=0.5, centered=True)
    run_minidl(optimizer, 1, dtype="float32")
    for arrays in optimizer._slots.values():
        assert all(mdl.backend.backend_of(a) == backend for a in arrays)


def test_ema_and_gradient_accumulation():
    w = mdl.Variable(np.array([1.0]))
    optimizer = O.SGD(learning_rate=1.0, use_ema=True, ema_momentum=0.5)
    values = []
    for _ in range(3):
        optimizer.apply_gradients([(np.array([1.0]), w)])
        values.append(float(w.numpy()[0]))
    # average: step 0 takes the value, then avg = 0.5 avg + 0.5 w
    average = values[0]
    for v in values[1:]:
        average = 0.5 * average + 0.5 * v
    optimizer.finalize_variable_values([w])
    assert float(w.numpy()[0]) == pytest.approx(average)

    w = mdl.Variable(np.array([0.0]))
    optimizer = O.SGD(learning_rate=1.0, gradient_accumulation_steps=2)
    optimizer.apply_gradients([(np.array([1.0]), w)])
    assert float(w.numpy()[0]) == 0.0
    optimizer.apply_gradients([(np.array([3.0]), w)])
    assert float(w.numpy()[0]) == -2.0                 # the mean of 1 and 3
    assert optimizer.iterations == 2


@pytest.mark.parametrize("optimizer", [
    O.SGD(0.1, momentum=0.9, nesterov=True, clipnorm=1.0),
    O.Adam(0.002, beta_1=0.8, amsgrad=True, global_clipnorm=2.0),
    O.AdamW(0.01, weight_decay=0.02), O.RMSprop(0.01, rho=0.8, centered=True),
    O.Adagrad(0.1, initial_accumulator_value=0.5, clipvalue=1.0),
    O.Adam(learning_rate=S.CosineDecay(0.1, 10)), O.Adamax(beta_2=0.9), O.Nadam(0.01),
    O.Adadelta(rho=0.9), O.Lion(beta_1=0.8),
])
def test_config_round_trip(optimizer):
    data = json.loads(json.dumps(O.serialize(optimizer)))
    assert data["module"] == "keras.optimizers"
    clone = O.deserialize(data)
    assert type(clone) is type(optimizer) and clone.get_config() == optimizer.get_config()


def test_keras_config_keys_and_defaults():
    cfg = O.Adam().get_config()
    assert cfg == {"name": "adam", "learning_rate": 0.001, "weight_decay": None,
                   "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
                   "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                   "loss_scale_factor": None, "gradient_accumulation_steps": None,
                   "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False}
    assert O.SGD().learning_rate == 0.01 and O.RMSprop().rho == 0.9
    assert O.Adagrad().initial_accumulator_value == 0.1


@pytest.mark.parametrize("name,cls", [("adam", O.Adam), ("Adam", O.Adam), ("sgd", O.SGD),
                                      ("SGD", O.SGD), ("rmsprop", O.RMSprop),
                                      ("RMSprop", O.RMSprop), ("adamw", O.AdamW),
                                      ("adagrad", O.Adagrad), ("adamax", O.Adamax),
                                      ("nadam", O.Nadam), ("adadelta", O.Adadelta),
                                      ("lion", O.Lion)])
def test_get_by_name(name, cls):
    assert type(O.get(name)) is cls


def test_bad_arguments():
    with pytest.raises(ValueError, match="Unknown optimizer: 'adamax2'.*Adam"):
        O.get("adamax2")
    with pytest.raises(TypeError, match="decay"):
        O.SGD(decay=0.1)
    with pytest.raises(ValueError, match="momentum"):
        O.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="beta_1"):
        O.Adam(beta_1=1.0)
    with pytest.raises(ValueError, match="Could not interpret"):
        O.get(lambda: 0)
    assert O.SGD(lr=0.3).learning_rate == 0.3        # the Keras 2 spelling


def test_trains_a_layer_with_constraint():
    layer = mdl.layers.Layer()
    w = layer.add_weight("w", (3,), "ones", constraint="max_norm")
    optimizer = O.Adam(learning_rate=0.1)
    for _ in range(3):
        loss = ((w - 5.0) * (w - 5.0)).sum()
        loss.backward()
        optimizer.step(layer.trainable_weights)
        w.zero_grad()
    assert np.linalg.norm(w.numpy()) <= 2.0 + 1e-6
