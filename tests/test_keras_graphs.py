"""Small Keras functional and Sequential models read from Keras's own JSON: outputs and
input gradients against Keras in float64, re-serialization, and a training step.

The files in ``golden/graphs/`` come from ``golden/make_golden_graphs.py`` (Keras 3.15.1
on JAX, float64): ops on symbolic tensors (``x + 3.0``, ``3.0 - x``, ``x / 6``, ``-x``,
``x * y``, ``keras.ops.divide``), a squeeze-and-excite block with a hard sigmoid written
with ops, nested models, feature extraction and a Sequential model with ``keras.Input``.
"""
import json
import pathlib

import numpy as np
import pytest

import minidl as mdl
from minidl.models import Model, model_from_json

GRAPHS = pathlib.Path(__file__).parent / "golden" / "graphs"
NAMES = ["scalar_ops", "squeeze_excite", "nested_models", "feature_extraction",
         "sequential_input"]


def golden(name):
    with np.load(GRAPHS / f"{name}.npz", allow_pickle=False) as f:
        return {key: f[key] for key in f.files}


def weights(data):
    return [data[f"w{i}"] for i in range(int(data["n_weights"]))]


def loaded(data, key="config"):
    model = model_from_json(str(data[key]))
    model.set_weights(weights(data))
    return model


def check_against_keras(model, data):
    """y and dx equal Keras's in float64; returns the largest relative errors."""
    x = mdl.Tensor(data["x"], requires_grad=True)
    y = model(x, training=False)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y.numpy(), data["y"], rtol=1e-10, atol=1e-12)
    (y * mdl.Tensor(data["gy"])).sum().backward()
    np.testing.assert_allclose(x.grad, data["dx"], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_matches_keras_in_float64(name):
    data = golden(name)
    check_against_keras(loaded(data), data)


@pytest.mark.parametrize("name", NAMES)
def test_reserialization_round_trips_and_keeps_keras_layout(name):
    data = golden(name)
    model = loaded(data)
    text = model.to_json()
    clone = model_from_json(text)
    assert clone.to_json() == text
    clone.set_weights(weights(data))
    np.testing.assert_array_equal(clone(data["x"]).numpy(), model(data["x"]).numpy())
    ours, keras = json.loads(text), json.loads(str(data["config"]))
    assert (ours["module"], ours["class_name"], ours["registered_name"]) == \
        (keras["module"], keras["class_name"], keras["registered_name"])
    if ours["class_name"] == "Sequential":
        assert [e["class_name"] for e in ours["config"]["layers"]] == \
            [e["class_name"] for e in keras["config"]["layers"]]
        return
    for key in ("input_layers", "output_layers"):
        assert ours["config"][key] == keras["config"][key]
    by_name = {e["name"]: e for e in ours["config"]["layers"]}
    assert list(by_name) == [e["name"] for e in keras["config"]["layers"]]
    for entry in keras["config"]["layers"]:   # operation entries: exactly Keras's
        if entry["module"].startswith("keras.src.ops"):
            assert by_name[entry["name"]] == entry


@pytest.mark.parametrize("name", NAMES)
def test_one_training_step(name):
    data = golden(name)
    model = loaded(data)
    model.compile(optimizer=mdl.optimizers.SGD(0.01), loss="mse")
    before = [w.copy() for w in model.get_weights()]
    target = np.zeros_like(data["y"])
    loss = model.train_on_batch(data["x"], target)
    assert np.isfinite(loss)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    after = model.predict(data["x"], verbose=0)
    assert np.all(np.isfinite(after)) and not np.allclose(after, data["y"], rtol=1e-12)


def test_feature_extraction_from_a_loaded_keras_model():
    data = golden("feature_extraction")
    base = model_from_json(str(data["base_config"]))
    features = Model(base.input, base.get_layer(str(data["layer"])).output)
    features.set_weights(weights(data))
    check_against_keras(features, data)
    assert all(a is b for a, b in zip(features.weights, base.weights))   # shared weights


def test_operations_are_not_layers_of_the_loaded_model():
    model = loaded(golden("scalar_ops"))
    names = [type(op).__name__ for op in model.operations]
    assert {"Add", "Subtract", "Multiply", "Divide", "TrueDivide", "Negative"} <= set(names)
    assert [layer.name for layer in model.layers] == ["x", "dense"]
