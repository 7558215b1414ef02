"""The fused optimizer update (one pass over flat buffers per backend and dtype) against
the per-weight update (``fused = False``, the reference): bit for bit, over several steps,
both dtypes, clipping, weight decay, constraints, frozen weights and saved state."""
import numpy as np
import pytest

import minidl as mdl
from minidl import optimizers as O

SHAPES = [(3, 2), (4,), (), (2, 1, 3), (0, 2)]
CONFIGS = [
    (O.SGD, {"learning_rate": 0.1}),
    (O.SGD, {"momentum": 0.9}),
    (O.SGD, {"momentum": 0.8, "nesterov": True, "weight_decay": 0.01}),
    (O.Adam, {}),
    (O.Adam, {"amsgrad": True, "clipnorm": 0.5}),
    (O.AdamW, {"learning_rate": 0.01, "global_clipnorm": 0.7}),
    (O.Adam, {"clipvalue": 0.3, "loss_scale_factor": 2.0, "use_ema": True}),
    (O.RMSprop, {}),
    (O.RMSprop, {"momentum": 0.5, "centered": True, "weight_decay": 0.02}),
    (O.RMSprop, {"gradient_accumulation_steps": 2}),
    (O.Adamax, {"weight_decay": 0.01}),
    (O.Nadam, {"clipnorm": 0.4}),
    (O.Adagrad, {"initial_accumulator_value": 0.2}),
    (O.Adadelta, {"learning_rate": 0.5}),
    (O.Lion, {"use_ema": True, "ema_overwrite_frequency": 2}),
]


def weights(dtypes, constraint=None):
    rng = np.random.default_rng(1)
    out = []
    for i, shape in enumerate(SHAPES * len(dtypes)):
        dtype = dtypes[i // len(SHAPES)]
        out.append(mdl.Variable(rng.standard_normal(shape), dtype=dtype, name=f"w{i}",
                                constraint=constraint if i == 0 else None))
    return out


def run(cls, kwargs, fused, dtypes, steps=5, constraint=None, frozen=None):
    """``steps`` updates with the same gradients; weight ``frozen`` has none at step 2."""
    optimizer = cls(**kwargs)
    optimizer.fused = fused
    ws = weights(dtypes, constraint)
    rng = np.random.default_rng(2)
    for step in range(steps):
        grads = [rng.standard_normal(w.shape).astype(w.dtype) for w in ws]
        if frozen is not None and step == 2:
            grads[frozen] = None
        optimizer.apply_gradients(zip(grads, ws))
    return optimizer, ws


def assert_same(a, b):
    (opt_a, ws_a), (opt_b, ws_b) = a, b
    for wa, wb in zip(ws_a, ws_b):
        assert wa.dtype == wb.dtype
        np.testing.assert_array_equal(wa.numpy(), wb.numpy(), strict=True)
    state_a, state_b = opt_a.get_state(), opt_b.get_state()
    assert len(state_a) == len(state_b)
    for sa, sb in zip(state_a, state_b):
        np.testing.assert_array_equal(sa, sb, strict=True)


@pytest.mark.parametrize("dtypes", [("float32",), ("float64",), ("float32", "float64")])
@pytest.mark.parametrize("cls,kwargs", CONFIGS)
def test_fused_equals_per_weight(cls, kwargs, dtypes):
    assert_same(run(cls, kwargs, True, dtypes), run(cls, kwargs, False, dtypes))


@pytest.mark.parametrize("cls,kwargs", CONFIGS[1::3])
def test_constraint_and_frozen_weight(cls, kwargs):
    constraint = mdl.constraints.NonNeg()
    fused = run(cls, kwargs, True, ("float32",), constraint=constraint, frozen=1)
    assert_same(fused, run(cls, kwargs, False, ("float32",), constraint=constraint,
                           frozen=1))
    assert fused[1][0].numpy().min() >= 0


def test_the_fused_path_runs_and_slots_are_views():
    optimizer, ws = run(O.Adam, {}, True, ("float32", "float64"), steps=1)
    assert len(optimizer._flat) == 2
    flats = optimizer._flat[(np.ndarray, np.dtype("float32"))][1]
    assert flats["momentum"].size == sum(w.size for w in ws[:len(SHAPES)])
    assert optimizer._slots["momentum"][0].base is flats["momentum"]


@pytest.mark.parametrize("cls,kwargs", [CONFIGS[1], CONFIGS[4], CONFIGS[8]])
def test_state_restored_across_paths(cls, kwargs):
    """State saved by either path loads into the other and continues bit for bit."""
    saved, ws = run(cls, kwargs, False, ("float32",), steps=2)
    for fused in (True, False):
        optimizer = cls(**kwargs)
        optimizer.fused = fused
        copies = [mdl.Variable(w.numpy(), name=w.name) for w in ws]
        optimizer.build(copies)
        optimizer.set_state(saved.get_state())
        rng = np.random.default_rng(3)
        for _ in range(2):
            grads = [rng.standard_normal(w.shape).astype(w.dtype) for w in copies]
            optimizer.apply_gradients(zip(grads, copies))
        if fused:
            first = (optimizer, copies)
        else:
            assert_same(first, (optimizer, copies))


def test_subclass_overriding_update_step_is_not_fused():
    class Halved(O.SGD):
        def update_step(self, gradient, weight, learning_rate):
            super().update_step(gradient * 0.5, weight, learning_rate)

    w = mdl.Variable([1.0, 2.0])
    Halved(learning_rate=1.0).apply_gradients([(np.ones(2, np.float32), w)])
    np.testing.assert_array_equal(w.numpy(), [0.5, 1.5])


def test_a_weight_given_twice_is_updated_twice():
    w = mdl.Variable([1.0, 2.0])
    g = np.ones(2, np.float32)
    for fused in (True, False):
        optimizer = O.SGD(learning_rate=0.5, momentum=0.5)
        optimizer.fused = fused
        w.assign([1.0, 2.0])
        optimizer.apply_gradients([(g, w), (g, w)])
        np.testing.assert_array_equal(w.numpy(), [-0.25, 0.75])


def test_numpy_and_cupy_weights_are_separate_groups(fake_cupy):
    """On the CuPy stand-in, beside NumPy weights: the same result, no host read."""
    results = []
    for fused in (True, False):
        optimizer = O.Adam(amsgrad=True, clipnorm=0.5)
        optimizer.fused = fused
        ws = [mdl.Variable(np.full(shape, 0.5), backend=backend)
              for shape in SHAPES[:3] for backend in ("numpy", "cupy")]
        rng = np.random.default_rng(4)
        with fake_cupy.reads() as reads:
            for _ in range(3):
                grads = [w.backend.asarray(rng.standard_normal(w.shape), dtype=w.dtype)
                         for w in ws]
                optimizer.apply_gradients(zip(grads, ws))
        assert not reads
        results.append([w.numpy() for w in ws])
        if fused:
            assert len(optimizer._flat) == 2
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b, strict=True)


def test_weights_stay_views_of_the_flat_buffer_and_assign_is_seen():
    """A fused step copies no weight: the weights are views of one flat buffer; a weight
    given new data (``assign``) is taken into a new buffer at the next step."""
    w1, w2 = mdl.Variable([1.0, 2.0]), mdl.Variable([[3.0], [4.0]])
    optimizer = O.SGD(learning_rate=0.5)
    g1, g2 = np.ones(2, np.float32), np.ones((2, 1), np.float32)
    optimizer.apply_gradients([(g1, w1), (g2, w2)])
    flat = optimizer._flat[(np.ndarray, np.dtype("float32"))][3]
    assert w1.data.base is flat and w2.data.base is flat
    np.testing.assert_array_equal(flat, [0.5, 1.5, 2.5, 3.5])
    w1.assign([10.0, 20.0])
    optimizer.apply_gradients([(g1, w1), (g2, w2)])
    np.testing.assert_array_equal(w1.numpy(), [9.5, 19.5])
    np.testing.assert_array_equal(w2.numpy(), [[2.0], [3.0]])
    assert w1.data.base is w2.data.base
