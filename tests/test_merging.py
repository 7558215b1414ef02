"""Merging layers (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate) and
their lowercase functional forms: Keras 3's broadcasting rule against an explicit-loop
reference, gradients (broadcast inputs included), the tie rule of Maximum/Minimum, shapes,
configs and errors."""
import json
import pathlib

import numpy as np
import pytest

import minidl as mdl
from minidl import layers
from minidl.gradcheck import check_double_grad
from minidl.testing import layer_test

OPS = {"Add": lambda a, b: a + b, "Subtract": lambda a, b: a - b,
       "Multiply": lambda a, b: a * b, "Maximum": max, "Minimum": min}


def reference_merge(name, xs):
    """Loops over every output element. An axis of an input lines up with the output
    counting from the last axis (the batch axis always with the batch axis); a size-1 axis
    repeats its only entry."""
    rank = max(x.ndim for x in xs)
    out_shape = [max(x.shape[0] for x in xs)]
    for k in range(1, rank):   # k-th axis of the output, counted after the batch axis
        sizes = [x.shape[x.ndim - rank + k] for x in xs if x.ndim - rank + k >= 1]
        out_shape.append(max(sizes))
    out = np.zeros(out_shape)
    for index in np.ndindex(*out_shape):
        values = []
        for x in xs:
            lead = rank - x.ndim
            pos = [index[0]] + [0 if x.shape[a] == 1 else index[a + lead]
                                for a in range(1, x.ndim)]
            values.append(float(x[tuple(pos)]))
        if name == "Average":
            out[index] = sum(values) / len(values)
            continue
        acc = values[0]
        for v in values[1:]:
            acc = OPS[name](acc, v)
        out[index] = acc
    return out


SHAPE_CASES = [  # lists of input shapes, broadcast and rank differences included
    [(2, 3, 4), (2, 3, 4)],
    [(2, 3, 4), (2, 1, 4)],
    [(2, 3, 1), (2, 1, 4)],
    [(2, 3, 4), (2, 4)],
    [(2, 4), (2, 3, 4)],
    [(2, 5), (2, 1)],
    [(1, 2, 3, 2), (1, 3, 1), (1, 2)],
]
ELEMENTWISE = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]


def _cases(shape_cases):
    """``(name, shapes)`` for every layer and shape list; Subtract takes two inputs only."""
    return [(name, shapes) for shapes in shape_cases for name in ELEMENTWISE
            if name != "Subtract" or len(shapes) == 2]


def _inputs(rng, shapes):
    return [rng.standard_normal(s) for s in shapes]


@pytest.mark.parametrize("name, shapes", _cases(SHAPE_CASES))
def test_forward_matches_loops(backend, rng, name, shapes):
    xs = _inputs(rng, shapes)
    y = getattr(layers, name)(dtype="float64")([mdl.tensor(x) for x in xs])
    expected = reference_merge(name, xs)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("name, shapes", _cases([[(2, 3, 4), (2, 1, 4)],
                                                  [(2, 3, 1), (2, 4)],
                                                  [(2, 3), (2, 3), (2, 1)]]))
def test_harness_and_gradients(name, shapes):
    layer_test(getattr(layers, name), {}, shapes, expected_output_shape=(2, 3, 4)
               if len(shapes[0]) == 3 else (2, 3), expected_num_trainable_weights=0,
               expected_num_non_trainable_weights=0)


def test_average_divides_by_the_count():
    xs = [np.full((1, 2), v) for v in (1.0, 2.0, 4.0)]
    y = layers.Average(dtype="float64")(xs)
    np.testing.assert_array_equal(y.numpy(), np.full((1, 2), 7.0 / 3.0))


def test_broadcast_gradient_is_summed_to_each_input(rng):
    a = mdl.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    b = mdl.tensor(rng.standard_normal((2, 4)), requires_grad=True)
    layers.Multiply(dtype="float64")([a, b]).sum().backward()
    np.testing.assert_allclose(b.grad, a.numpy().sum(axis=1), rtol=1e-14)
    np.testing.assert_allclose(a.grad, np.broadcast_to(b.numpy()[:, None], (2, 3, 4)))


def test_maximum_minimum_ties_share_the_gradient():
    # Keras on JAX: at a tie of a pair each operand gets half; pairs fold from the left
    a, b, c = ([[1.0, 2.0, 3.0]], [[1.0, 0.0, 3.0]], [[1.0, 2.0, 0.0]])
    xs = [mdl.tensor(np.array(v), requires_grad=True) for v in (a, b, c)]
    y = layers.Maximum(dtype="float64")(xs)
    np.testing.assert_array_equal(y.numpy(), [[1.0, 2.0, 3.0]])
    y.sum().backward()
    np.testing.assert_array_equal(xs[0].grad, [[0.25, 0.5, 0.5]])
    np.testing.assert_array_equal(xs[1].grad, [[0.25, 0.0, 0.5]])
    np.testing.assert_array_equal(xs[2].grad, [[0.5, 0.5, 0.0]])
    ys = [mdl.tensor(-np.array(v), requires_grad=True) for v in (a, b, c)]
    layers.Minimum(dtype="float64")(ys).sum().backward()
    for x, y in zip(xs, ys):
        np.testing.assert_array_equal(y.grad, x.grad)


def test_maximum_tie_with_broadcast_input():
    a = mdl.tensor(np.array([[[1.0, 5.0], [2.0, 0.0]]]), requires_grad=True)
    b = mdl.tensor(np.array([[2.0, 0.0]]), requires_grad=True)   # (1, 2) -> (1, 1, 2)
    layers.Maximum(dtype="float64")([a, b]).sum().backward()
    np.testing.assert_array_equal(a.grad, [[[0.0, 1.0], [0.5, 0.5]]])
    np.testing.assert_array_equal(b.grad, [[1.5, 0.5]])


def test_maximum_second_derivative(rng):
    xs = [rng.standard_normal((2, 3)), rng.standard_normal((2, 1))]
    layer = layers.Maximum(dtype="float64")
    check_double_grad(lambda a, b: layer([a, b]) ** 3, xs)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_kept(rng, dtype):
    xs = [rng.standard_normal((2, 3)).astype(dtype) for _ in range(2)]
    for name in ELEMENTWISE + ["Concatenate"]:
        assert getattr(layers, name)(dtype=dtype)(xs).dtype == dtype


# -- Concatenate ----------------------------------------------------------------------
def reference_concatenate(xs, axis):
    rank = xs[0].ndim
    axis %= rank
    out_shape = list(xs[0].shape)
    out_shape[axis] = sum(x.shape[axis] for x in xs)
    out = np.zeros(out_shape)
    for index in np.ndindex(*out_shape):
        pos, which = index[axis], 0
        while pos >= xs[which].shape[axis]:
            pos -= xs[which].shape[axis]
            which += 1
        source = list(index)
        source[axis] = pos
        out[index] = xs[which][tuple(source)]
    return out


@pytest.mark.parametrize("shapes,axis", [
    ([(2, 3, 4), (2, 3, 2)], -1), ([(2, 3, 4), (2, 1, 4), (2, 2, 4)], 1),
    ([(1, 2), (3, 2)], 0), ([(2, 2, 3), (2, 2, 1)], 2), ([(2, 3)], -1),
])
def test_concatenate_values_and_harness(backend, rng, shapes, axis):
    xs = _inputs(rng, shapes)
    y = layers.Concatenate(axis=axis, dtype="float64")([mdl.tensor(x) for x in xs])
    np.testing.assert_array_equal(y.numpy(), reference_concatenate(xs, axis))
    layer_test(layers.Concatenate, dict(axis=axis), shapes,
               expected_output_shape=reference_concatenate(xs, axis).shape,
               expected_num_trainable_weights=0)


def test_concatenate_output_shape_with_unknown_sizes():
    layer = layers.Concatenate(axis=1)
    assert layer.compute_output_shape([(None, 3, 4), (None, 2, 4)]) == (None, 5, 4)
    assert layer.compute_output_shape([(None, None, 4), (None, 2, 4)]) == (None, None, 4)
    assert layers.Concatenate().compute_output_shape([(2, None, 4), (None, 3, 1)]) == \
        (2, 3, 5)


# -- shapes, configs, functional forms ----------------------------------------------
@pytest.mark.parametrize("shapes,expected", [
    ([(None, 3, 4), (None, 1, 4)], (None, 3, 4)),
    ([(None, None, 4), (None, 3, 1)], (None, None, 4)),
    ([(2, 3), (None, 3)], (2, 3)),
    ([(None, 3, 4), (None, 4)], (None, 3, 4)),
    ([(None, 4), (None, 2, 3, 1)], (None, 2, 3, 4)),
])
def test_compute_output_shape(shapes, expected):
    for name in ELEMENTWISE:
        assert getattr(layers, name)().compute_output_shape(shapes) == expected


def test_functional_forms_match_the_layers(rng):
    xs = _inputs(rng, [(2, 3, 4), (2, 1, 4)])
    for name in ELEMENTWISE:
        expected = getattr(layers, name)(dtype="float64")(xs).numpy()
        y = getattr(layers, name.lower())(xs, dtype="float64")
        np.testing.assert_array_equal(y.numpy(), expected)
    y = layers.concatenate([xs[0], xs[1]], axis=1, dtype="float64")
    np.testing.assert_array_equal(y.numpy(), np.concatenate(xs, axis=1))


def test_functional_model_with_merges(rng):
    a, b = mdl.Input(shape=(3, 4)), mdl.Input(shape=(4,))
    added = layers.add([a, b])
    maxed = layers.maximum([added, a])
    out = layers.concatenate([layers.multiply([maxed, b]), layers.average([a, added])])
    assert out.shape == (None, 3, 8)
    model = mdl.models.Model([a, b], out)
    xa, xb = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4))
    s = xa + xb[:, None]
    expected = np.concatenate([np.maximum(s, xa) * xb[:, None], (xa + s) / 2], axis=-1)
    np.testing.assert_allclose(model.predict([xa, xb], verbose=0), expected, rtol=1e-5,
                               atol=1e-6)


def test_config_keys_equal_keras():
    golden = pathlib.Path(__file__).parent / "golden"
    names = {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"}
    seen = set()
    for path in sorted(golden.glob("merge_*.npz")):
        data = np.load(path, allow_pickle=False)
        keras_config = json.loads(str(data["config"]))
        name = str(data["class_name"])
        layer = getattr(layers, name).from_config(keras_config)
        assert set(layer.get_config()) == set(keras_config), path.name
        seen.add(name)
    assert seen == names


def test_serialize_round_trip():
    layer = layers.Concatenate(axis=1, name="cat")
    rebuilt = layers.deserialize(layers.serialize(layer))
    assert isinstance(rebuilt, layers.Concatenate) and rebuilt.axis == 1
    assert layers.get("Maximum").__class__ is layers.Maximum


# -- errors ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_errors(name):
    cls = getattr(layers, name)
    with pytest.raises(ValueError, match=r"input 1 has shape \(2, 4\), incompatible"):
        cls()([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(ValueError, match="different batch sizes"):
        cls()([np.ones((2, 3)), np.ones((3, 3))])
    with pytest.raises(ValueError, match="list of inputs"):
        cls()(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"list of inputs \(at least one\)"):
        cls().compute_output_shape((2, 3))
    with pytest.raises(ValueError, match=r"list of inputs \(at least one\)"):
        cls().build([])


def test_subtract_needs_exactly_two_inputs():
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        layers.Subtract()([np.ones((2, 3))] * 3)
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        layers.subtract([np.ones((2, 3))])


def test_concatenate_errors():
    with pytest.raises(ValueError, match="matching shapes except for the concatenation"):
        layers.Concatenate()([np.ones((2, 3, 4)), np.ones((2, 2, 4))])
    with pytest.raises(ValueError, match="matching shapes except for the concatenation"):
        layers.Concatenate()([np.ones((2, 3, 4)), np.ones((2, 3))])
    with pytest.raises(ValueError, match="axis=3 is out of range"):
        layers.Concatenate(axis=3)([np.ones((2, 3, 4)), np.ones((2, 3, 4))])
    with pytest.raises(ValueError, match=r"axis='1' must be an int"):
        layers.Concatenate(axis="1")
    with pytest.raises(ValueError, match="list of inputs"):
        layers.Concatenate()(np.ones((2, 3)))
