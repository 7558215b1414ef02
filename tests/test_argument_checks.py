"""Bad arguments are refused at the public boundary with a ``ValueError`` (a bad value) or a
``TypeError`` (a bad type) naming the argument and the value; nothing computes with them.

- gradcheck: its own arguments (tolerances, ``eps``, ``directions``, non-finite inputs)
  can never make it pass a wrong gradient, and a NaN in either gradient never passes;
- optimizers and learning-rate schedules: learning rates (also those a schedule or a
  callable gives at a step), betas, momenta, ``power``, ``decay_rate``, ...;
- initializers: ``stddev`` and the other numbers.

The second half fuzzes the constructors with hypothesis: the values each accepts are
exactly the documented range, every refusal names the argument and the value, and what is
accepted computes finite numbers.
"""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minidl as mdl
from minidl import initializers as I
from minidl import optimizers as O
from minidl.gradcheck import (
    _DEFAULTS,
    GradcheckError,
    check_double_grad,
    check_grad,
    check_layer,
    numerical_grad,
)
from minidl.optimizers import schedules as S


class WrongSquare(mdl.Function):
    """``x ** 2`` with a backward that is 1.5 times too large."""

    def forward(self, x):
        return x * x

    def backward(self, gy):
        (x,) = self.inputs
        return 3 * x * gy


def wrong(t):
    return WrongSquare.apply(t).sum()


X = np.array([0.5, -1.0, 2.0])


# -- gradcheck -----------------------------------------------------------------------------
BAD_GRADCHECK = [
    ("atol", math.nan, ValueError), ("atol", math.inf, ValueError),
    ("atol", -1e-6, ValueError), ("atol", "1e-6", TypeError), ("atol", True, TypeError),
    ("rtol", math.nan, ValueError), ("rtol", math.inf, ValueError),
    ("rtol", -1e-5, ValueError), ("rtol", [1e-5], TypeError),
    ("eps", 0.0, ValueError), ("eps", -1e-6, ValueError), ("eps", math.nan, ValueError),
    ("eps", math.inf, ValueError), ("eps", "small", TypeError),
    ("directions", 0, ValueError), ("directions", -2, ValueError),
    ("directions", 1.5, TypeError), ("directions", True, TypeError),
]


def message_names(info, name, value):
    assert f"{name}={value!r}" in str(info.value), str(info.value)


@pytest.mark.parametrize("method", ["central", "scipy", "directional"])
@pytest.mark.parametrize("name, value, error", BAD_GRADCHECK)
def test_check_grad_refuses_its_bad_arguments(method, name, value, error):
    with pytest.raises(error) as info:
        check_grad(wrong, [X], method=method, **{name: value})
    message_names(info, name, value)


@pytest.mark.parametrize("name, value, error", BAD_GRADCHECK)
def test_check_double_grad_and_check_layer_refuse_them_too(name, value, error):
    with pytest.raises(error) as info:
        check_double_grad(wrong, [X], **{name: value})
    message_names(info, name, value)
    layer = mdl.layers.Dense(2)
    with pytest.raises(error) as info:
        check_layer(layer, np.ones((1, 3)), **{name: value})
    message_names(info, name, value)


@pytest.mark.parametrize("value", [0.0, -1e-3, math.nan, math.inf])
def test_numerical_grad_refuses_a_bad_eps(value):
    with pytest.raises(ValueError, match=f"eps={value!r}"):
        numerical_grad(lambda t: (t * t).sum(), [X], eps=value)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("method", ["central", "scipy", "directional"])
def test_non_finite_inputs_are_refused(bad, method):
    x = X.copy()
    x[1] = bad
    with pytest.raises(ValueError, match=rf"inputs\[1\].*{bad!r} at index \(1,\)"):
        check_grad(lambda a, b: wrong(a) + wrong(b), [X, x], method=method)
    with pytest.raises(ValueError, match=rf"x.*{bad!r} at index \(1,\)"):
        check_double_grad(wrong, [x], names=["x"])


def test_check_layer_refuses_a_non_finite_input_or_weight():
    layer = mdl.layers.Dense(2)
    with pytest.raises(ValueError, match=r"input .*nan at index \(0, 2\)"):
        check_layer(layer, np.array([[1.0, 2.0, np.nan]]))
    layer.kernel.data[1, 0] = np.inf
    with pytest.raises(ValueError,
                       match=r"weight 'dense(_\d+)?/kernel'.*inf at index \(1, 0\)"):
        check_layer(layer, np.ones((1, 3)))


class NaNBackward(mdl.Function):
    """``x ** 2`` whose backward gives NaN."""

    def forward(self, x):
        return x * x

    def backward(self, gy):
        return gy * np.nan


@pytest.mark.parametrize("method", ["central", "scipy", "directional"])
def test_a_nan_gradient_never_passes(method):
    with pytest.raises(GradcheckError, match="nan"):
        check_grad(lambda t: NaNBackward.apply(t).sum(), [X], method=method)


@pytest.mark.filterwarnings("ignore:divide by zero", "ignore:invalid value")
def test_a_non_finite_numerical_derivative_never_passes():
    # sqrt at 0: the tape says inf, the central difference is finite: not checkable
    with pytest.raises(GradcheckError):
        check_grad(lambda t: t.sqrt().sum(), [np.array([0.0, 1.0])], eps=1e-8)


def test_valid_arguments_still_catch_and_pass():
    with pytest.raises(GradcheckError):
        check_grad(wrong, [X], atol=0, rtol=0.1, eps=1e-4, directions=1)
    report = check_grad(lambda t: (t * t).sum(), [X], atol=0.0, rtol=1e-6, eps=1e-3,
                        directions=1, method="directional")
    assert report.max_abs_error[0] < 1e-6


# -- learning rates, schedules, optimizers -------------------------------------------------
@pytest.mark.parametrize("make, name, value, error", [
    (lambda v: S.ExponentialDecay(v, 10, 0.5), "initial_learning_rate", -0.1, ValueError),
    (lambda v: S.ExponentialDecay(v, 10, 0.5), "initial_learning_rate", "0.1", TypeError),
    (lambda v: S.ExponentialDecay(0.1, 10, v), "decay_rate", -0.5, ValueError),
    (lambda v: S.ExponentialDecay(0.1, 10, v), "decay_rate", math.nan, ValueError),
    (lambda v: S.InverseTimeDecay(0.1, 10, v), "decay_rate", -1.0, ValueError),
    (lambda v: S.InverseTimeDecay(v, 10, 0.5), "initial_learning_rate", math.inf,
     ValueError),
    (lambda v: S.PolynomialDecay(0.1, 10, power=v), "power", -1.0, ValueError),
    (lambda v: S.PolynomialDecay(0.1, 10, power=v), "power", None, TypeError),
    (lambda v: S.PolynomialDecay(0.1, 10, end_learning_rate=v), "end_learning_rate", -1e-4,
     ValueError),
    (lambda v: S.CosineDecay(0.1, 10, alpha=v), "alpha", -0.5, ValueError),
    (lambda v: S.CosineDecay(0.1, 10, alpha=v), "alpha", 1.5, ValueError),
    (lambda v: S.CosineDecay(0.1, 10, warmup_target=v, warmup_steps=5), "warmup_target",
     -0.1, ValueError),
    (lambda v: S.CosineDecay(0.1, 10, warmup_target=0.2, warmup_steps=v), "warmup_steps",
     -5, ValueError),
    (lambda v: S.PiecewiseConstantDecay([10], [0.1, v]), "values[1]", -0.1, ValueError),
    (lambda v: S.PiecewiseConstantDecay([10], [0.1, v]), "values[1]", math.nan, ValueError),
    (lambda v: S.PiecewiseConstantDecay([10], [0.1, v]), "values[1]", "0.1", TypeError),
    (lambda v: S.PiecewiseConstantDecay([v], [0.1, 0.2]), "boundaries[0]", math.nan,
     ValueError),
])
def test_schedules_refuse_values_out_of_range(make, name, value, error):
    with pytest.raises(error) as info:
        make(value)
    message_names(info, name, value)


@pytest.mark.parametrize("make, name, value, error", [
    (lambda v: O.SGD(learning_rate=v), "learning_rate", -0.01, ValueError),
    (lambda v: O.SGD(learning_rate=v), "learning_rate", math.nan, ValueError),
    (lambda v: O.Adam(learning_rate=v), "learning_rate", math.inf, ValueError),
    (lambda v: O.Adam(learning_rate=v), "learning_rate", "0.01", TypeError),
    (lambda v: O.Adam(beta_1=v), "beta_1", 1.0, ValueError),
    (lambda v: O.Adam(beta_2=v), "beta_2", -0.1, ValueError),
    (lambda v: O.Nadam(beta_2=v), "beta_2", math.nan, ValueError),
    (lambda v: O.Adamax(beta_1=v), "beta_1", "0.9", TypeError),
    (lambda v: O.Lion(beta_2=v), "beta_2", 1.5, ValueError),
    (lambda v: O.RMSprop(momentum=v), "momentum", 1.5, ValueError),
    (lambda v: O.SGD(momentum=v), "momentum", None, TypeError),
    (lambda v: O.Adagrad(epsilon=v), "epsilon", -1e-7, ValueError),
    (lambda v: O.SGD(clipnorm=v), "clipnorm", "1", TypeError),
])
def test_optimizers_refuse_values_out_of_range(make, name, value, error):
    with pytest.raises(error) as info:
        make(value)
    message_names(info, name, value)


class Broken(S.LearningRateSchedule):
    def __init__(self, value):
        self.value = value

    def __call__(self, step):
        return self.value

    def get_config(self):
        return {"value": self.value}


@pytest.mark.parametrize("rate", [-0.1, math.nan, math.inf])
@pytest.mark.parametrize("kind", ["callable", "callable of the step", "schedule"])
def test_a_learning_rate_computed_at_a_step_is_checked_before_the_update(rate, kind):
    lr = {"callable": lambda: rate, "callable of the step": lambda step: rate,
          "schedule": Broken(rate)}[kind]
    optimizer = O.Adam(learning_rate=lr)
    w = mdl.Variable(np.ones(3, np.float32))
    with pytest.raises(ValueError, match=rf"learning_rate.*{rate!r}.*step 0"):
        optimizer.apply_gradients([(np.ones(3, np.float32), w)])
    np.testing.assert_array_equal(w.numpy(), np.ones(3))
    assert optimizer.iterations == 0


def test_an_exponential_growth_that_overflows_is_a_clear_error():
    optimizer = O.SGD(learning_rate=S.ExponentialDecay(1.0, 1, 10.0))
    optimizer.iterations = 400   # 10 ** 400 overflows a float
    w = mdl.Variable(np.ones(2, np.float32))
    with pytest.raises(ValueError, match="learning_rate.*inf.*step 400"):
        optimizer.apply_gradients([(np.ones(2, np.float32), w)])


# -- initializers --------------------------------------------------------------------------
@pytest.mark.parametrize("make, name, value, error", [
    (lambda v: I.RandomNormal(stddev=v), "stddev", -0.05, ValueError),
    (lambda v: I.TruncatedNormal(stddev=v), "stddev", -1.0, ValueError),
    (lambda v: I.RandomNormal(stddev=v), "stddev", math.nan, ValueError),
    (lambda v: I.RandomNormal(mean=v), "mean", "0", TypeError),
    (lambda v: I.RandomUniform(minval=v), "minval", math.inf, ValueError),
    (lambda v: I.VarianceScaling(scale=v), "scale", None, TypeError),
    (lambda v: I.Constant(v), "value", [1.0], TypeError),
])
def test_initializers_refuse_values_out_of_range(make, name, value, error):
    with pytest.raises(error) as info:
        make(value)
    message_names(info, name, value)


@pytest.mark.parametrize("initializer", [
    I.RandomNormal(mean=1e39), I.TruncatedNormal(stddev=1e39), I.RandomUniform(-1e39, 0.0),
    I.Constant(-1e39), I.Identity(gain=1e39), I.Orthogonal(gain=1e39)])
def test_values_beyond_the_dtype_are_refused_not_made_inf(initializer):
    with pytest.raises(ValueError, match="beyond the range of float32"):
        initializer((2, 2))
    values = initializer((2, 2), dtype="float64")
    assert np.isfinite(values).all()


# -- fuzzing -------------------------------------------------------------------------------
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-2.0, 2.0),
    st.sampled_from([0, 0.0, -0.0, 1, 1.0, -1, 0.5, 1e-12, 1 - 1e-12, 1e308, 5e-324]),
    st.integers(-5, 5),
)
ANYTHING = st.one_of(NUMBERS, st.booleans(), st.none(), st.text(max_size=3),
                     st.lists(st.floats(0, 1), max_size=2))
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def finite(v):
    return is_number(v) and math.isfinite(v)


def at_least(low):
    return lambda v: finite(v) and v >= low


def in_closed(low, high):
    return lambda v: finite(v) and low <= v <= high


def in_half_open(low, high):
    return lambda v: finite(v) and low <= v < high


def positive(v):
    return finite(v) and v > 0


def optional(accepts):
    """None means "not set" for this argument."""
    return lambda v: v is None or accepts(v)


# (constructor, argument, predicate of the values it accepts); other arguments default
CONSTRUCTOR_RANGES = [
    (lambda **k: S.ExponentialDecay(**{"initial_learning_rate": 0.1, "decay_steps": 10,
                                       "decay_rate": 0.5, **k}), [
        ("initial_learning_rate", at_least(0)), ("decay_steps", positive),
        ("decay_rate", at_least(0))]),
    (lambda **k: S.InverseTimeDecay(**{"initial_learning_rate": 0.1, "decay_steps": 10,
                                       "decay_rate": 0.5, **k}), [
        ("initial_learning_rate", at_least(0)), ("decay_steps", positive),
        ("decay_rate", at_least(0))]),
    (lambda **k: S.PolynomialDecay(**{"initial_learning_rate": 0.1, "decay_steps": 10,
                                      **k}), [
        ("initial_learning_rate", at_least(0)), ("decay_steps", positive),
        ("end_learning_rate", at_least(0)), ("power", at_least(0))]),
    (lambda **k: S.CosineDecay(**{"initial_learning_rate": 0.1, "decay_steps": 10,
                                  "warmup_target": 0.2, **k}), [
        ("initial_learning_rate", at_least(0)), ("decay_steps", positive),
        ("alpha", in_closed(0, 1)), ("warmup_target", optional(at_least(0))),
        ("warmup_steps", at_least(0))]),
    (lambda **k: O.SGD(**k), [("learning_rate", at_least(0)),
                              ("momentum", in_closed(0, 1))]),
    (lambda **k: O.Adam(**k), [("learning_rate", at_least(0)),
                               ("beta_1", in_half_open(0, 1)),
                               ("beta_2", in_half_open(0, 1)), ("epsilon", at_least(0))]),
    (lambda **k: O.AdamW(**k), [("weight_decay", at_least(0)),
                                ("beta_1", in_half_open(0, 1))]),
    (lambda **k: O.Adamax(**k), [("beta_1", in_half_open(0, 1)),
                                 ("beta_2", in_half_open(0, 1))]),
    (lambda **k: O.Nadam(**k), [("beta_1", in_half_open(0, 1)),
                                ("beta_2", in_half_open(0, 1))]),
    (lambda **k: O.RMSprop(**k), [("rho", in_closed(0, 1)), ("momentum", in_closed(0, 1)),
                                  ("epsilon", at_least(0))]),
    (lambda **k: O.Adagrad(**k), [("initial_accumulator_value", at_least(0)),
                                  ("epsilon", at_least(0))]),
    (lambda **k: O.Adadelta(**k), [("rho", in_closed(0, 1)), ("epsilon", at_least(0))]),
    (lambda **k: O.Lion(**k), [("beta_1", lambda v: finite(v) and 0 < v <= 1),
                               ("beta_2", in_closed(0, 1))]),
    (lambda **k: O.SGD(**k), [("clipnorm", optional(positive)),
                              ("clipvalue", optional(positive)),
                              ("global_clipnorm", optional(positive)),
                              ("weight_decay", optional(at_least(0))),
                              ("ema_momentum", in_closed(0, 1)),
                              ("loss_scale_factor", optional(positive))]),
    (lambda **k: I.RandomNormal(**k), [("mean", finite), ("stddev", at_least(0))]),
    (lambda **k: I.TruncatedNormal(**k), [("mean", finite), ("stddev", at_least(0))]),
    (lambda **k: I.RandomUniform(**{"minval": -1.0, "maxval": 1.0, **k}), [
        ("minval", lambda v: finite(v) and v <= 1),
        ("maxval", lambda v: finite(v) and v >= -1)]),
    (lambda **k: I.VarianceScaling(**k), [("scale", positive)]),
    (lambda **k: I.Constant(**k), [("value", finite)]),
    (lambda **k: I.Orthogonal(**k), [("gain", finite)]),
    (lambda **k: I.Identity(**k), [("gain", finite)]),
]
CASES = [(make, name, accepts) for make, args in CONSTRUCTOR_RANGES
         for name, accepts in args]


def exercise(obj):
    """What an accepted object computes is finite: a schedule's rates, an optimizer's
    update of a weight, an initializer's values."""
    if isinstance(obj, S.LearningRateSchedule):
        for step in (0, 1, 5, 10, 15, 1000):
            # a growing ExponentialDecay may reach inf (optimizers refuse it)
            rate = obj(step)
            assert rate >= 0, (obj.get_config(), step, rate)
    elif isinstance(obj, O.Optimizer):
        w = mdl.Variable(np.array([0.5, -1.0, 2.0], np.float32))
        with np.errstate(all="ignore"):   # a huge learning rate may overflow float32
            for _ in range(2):
                obj.apply_gradients([(np.array([0.1, -0.2, 0.3], np.float32), w)])
    else:
        shape = (3, 3) if isinstance(obj, (I.Orthogonal, I.Identity)) else (2, 3)
        try:
            values = mdl.backend.get_backend().to_numpy(obj(shape))
        except ValueError as err:  # a finite argument whose values overflow float32
            assert f"{obj!r} gives values beyond the range of float32" in str(err)
            return
        assert values.shape == shape and np.isfinite(values).all()


@pytest.mark.parametrize("make, name, accepts", CASES,
                         ids=[f"{k}-{name}" for k, (_, name, _) in enumerate(CASES)])
@FUZZ
@given(value=ANYTHING)
def test_fuzz_each_constructor_accepts_exactly_its_documented_range(make, name, accepts,
                                                                    value):
    expected = accepts(value)
    try:
        obj = make(**{name: value})
    except (ValueError, TypeError) as err:
        assert not expected, f"{name}={value!r} refused: {err}"
        assert f"{name}={value!r}" in str(err), str(err)
        if is_number(value) or (value is None and name == "weight_decay"):  # AdamW: Keras's
            assert isinstance(err, ValueError), str(err)
        else:
            assert isinstance(err, TypeError), str(err)
        return
    assert expected, f"{name}={value!r} accepted"
    exercise(obj)


BAD_OR_GOOD_TOLERANCE = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                                  st.floats(0, 1e-2), st.none(),
                                  st.sampled_from(["1", True]))
BAD_OR_GOOD_EPS = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                            st.floats(1e-6, 1e-2), st.none())


@FUZZ
@given(method=st.sampled_from(["central", "scipy", "directional"]),
       atol=BAD_OR_GOOD_TOLERANCE, rtol=BAD_OR_GOOD_TOLERANCE, eps=BAD_OR_GOOD_EPS,
       directions=st.one_of(st.integers(-3, 4), st.sampled_from([None, 2.0, True])),
       x=st.floats(allow_nan=True, allow_infinity=True, width=64))
def test_fuzz_gradcheck_never_passes_a_wrong_gradient(method, atol, rtol, eps, directions,
                                                      x):
    """Whatever the arguments, a backward 1.5 times too large (off by ``|x|``) fails the
    check, or the arguments are refused naming the bad one; it passes only where ``|x|``
    is within the valid tolerances (at most 0.01 + 0.02 |x| here)."""
    kwargs = {"atol": atol, "rtol": rtol, "eps": eps, "directions": directions}
    valid = all(v is None or (finite(v) and v >= 0) for v in (atol, rtol)) and \
        (eps is None or positive(eps)) and math.isfinite(x) and \
        isinstance(directions, int) and not isinstance(directions, bool) and directions >= 1
    try:
        check_grad(wrong, [np.array([x])], method=method, **kwargs)
    except GradcheckError:
        return
    except (ValueError, TypeError) as err:
        assert not valid, str(err)
        named = [f"{k}={v!r}" in str(err) for k, v in kwargs.items()] + \
            ["inputs[0]" in str(err)]
        assert any(named), str(err)
        return
    default_eps, default_atol, default_rtol = _DEFAULTS[method]
    numerical = 2 * x + (default_eps if eps is None else eps) * (method == "scipy")
    tolerance = (default_atol if atol is None else atol) + \
        (default_rtol if rtol is None else rtol) * abs(numerical)
    assert valid and abs(3 * x - numerical) <= tolerance * (1 + 1e-9) + 1e-9, \
        f"a wrong gradient passed with {kwargs}, x={x!r}, method={method!r}"
