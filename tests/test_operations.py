"""Operations on symbolic tensors (``x + 3.0``, ``x * y``, ...): the nodes they record,
their Keras 3 config, running them, their gradients, and every error; plus which
``module`` of a config entry maps to what."""
import json

import numpy as np
import pytest

import minidl as mdl
from minidl import layers
from minidl.layers import operations as ops
from minidl.layers.node import KerasTensor, node_of
from minidl.models import Functional, Model, model_from_json


def op_of(tensor):
    return tensor._keras_history.operation


def node_args(tensor):
    return node_of(tensor).args


@pytest.mark.parametrize("build, cls, args", [
    (lambda x: x + 3.0, ops.Add, ["x", 3.0]),
    (lambda x: 3.0 + x, ops.Add, [3.0, "x"]),
    (lambda x: x - 1, ops.Subtract, ["x", 1]),
    (lambda x: 3.0 - x, ops.Subtract, [3.0, "x"]),
    (lambda x: x * (1.0 / 6.0), ops.Multiply, ["x", 1.0 / 6.0]),
    (lambda x: 2 * x, ops.Multiply, [2, "x"]),
    (lambda x: x / 6, ops.TrueDivide, ["x", 6]),
    (lambda x: 1.5 / x, ops.TrueDivide, [1.5, "x"]),
    (lambda x: np.float32(0.5) * x, ops.Multiply, [0.5, "x"]),
    (lambda x: x * x, ops.Multiply, ["x", "x"]),
    (lambda x: -x, ops.Negative, ["x"]),
])
def test_operators_record_keras_operations(build, cls, args):
    x = mdl.Input(shape=(3,), name="x")
    y = build(x)
    assert isinstance(y, KerasTensor) and type(op_of(y)) is cls
    assert y.shape == (None, 3) and y.dtype == "float32"
    recorded = ["x" if a is x else a for a in node_args(y)]
    assert recorded == args and all(type(a) is type(b) for a, b in zip(recorded, args))


def test_config_entry_is_keras_exact():
    layers.clear_session()
    x = mdl.Input(shape=(4,), name="img")
    model = Model(x, -(layers.ReLU(6.0, name="relu6")(x + 3.0) * (1.0 / 6.0)))
    entries = {e["name"]: e for e in model.get_config()["layers"]}
    tensor = {"class_name": "__keras_tensor__",
              "config": {"shape": [None, 4], "dtype": "float32",
                         "keras_history": ["img", 0, 0]}}
    assert entries["add"] == {"module": "keras.src.ops.numpy", "class_name": "Add",
                              "config": {"name": "add"}, "registered_name": "Add",
                              "name": "add",
                              "inbound_nodes": [{"args": [tensor, 3.0], "kwargs": {}}]}
    assert entries["multiply"]["inbound_nodes"][0]["args"][1] == 1.0 / 6.0
    assert entries["negative"]["class_name"] == "Negative"
    assert [e["name"] for e in model.get_config()["layers"]] == \
        ["img", "add", "relu6", "multiply", "negative"]


def test_names_share_the_layer_counter():
    layers.clear_session()
    layers.Add()
    x = mdl.Input(shape=(2,))
    assert op_of(x + 1.0).name == "add_1" and op_of(x + 1.0).name == "add_2"
    assert op_of(x / 2).name == "true_divide"
    assert ops.Add(name="mine").name == "mine"


def test_runs_on_tensors_and_keeps_dtype():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(ops.Add()(x, 3.0).numpy(), x + 3.0)
    np.testing.assert_array_equal(ops.Subtract()(3.0, mdl.Tensor(x)).numpy(), 3.0 - x)
    np.testing.assert_array_equal(ops.TrueDivide()(x, 4).numpy(), x / 4)
    np.testing.assert_array_equal(ops.Divide()(x, x + 1).numpy(), x / (x + 1))
    np.testing.assert_array_equal(ops.Negative()(x).numpy(), -x)
    assert ops.Multiply()(x, 1.0 / 6.0).dtype == np.float32


def test_graph_with_operations_against_numpy_and_gradcheck():
    x = mdl.Input(shape=(3,), dtype="float64", name="x")
    hard_sigmoid = layers.ReLU(6.0, dtype="float64")(x + 3.0) * (1.0 / 6.0)
    y = (3.0 - x) * hard_sigmoid / 2 - (-x) / (x * x + 1.0)
    model = Model(x, y)
    data = np.random.default_rng(0).uniform(-4, 4, (2, 3))

    def reference(v):
        hs = np.minimum(np.maximum(v + 3.0, 0.0), 6.0) / 6.0
        return (3.0 - v) * hs / 2 + v / (v * v + 1.0)

    np.testing.assert_allclose(model(data).numpy(), reference(data), rtol=1e-14)
    mdl.gradcheck.check_grad(lambda v: model(v), [data])


def test_broadcasting_shapes():
    a = mdl.Input(shape=(None, 1, 4))
    b = mdl.Input(shape=(5, 3, 1))
    assert (a * b).shape == (None, 5, 3, 4)
    assert (a + mdl.Input(batch_shape=(4,))).shape == (None, None, 1, 4)
    assert ops.broadcast_shapes((None, 1), (1, None)) == (None, None)
    with pytest.raises(ValueError, match=r"\(None, 3\) and \(None, 4\) cannot be"):
        mdl.Input(shape=(3,)) + mdl.Input(shape=(4,))
    se = mdl.Input(shape=(1, 1, 4))
    image = mdl.Input(shape=(5, 6, 4))
    model = Model([image, se], image * se)
    out = model([np.ones((2, 5, 6, 4)), np.full((2, 1, 1, 4), 2.0)])
    np.testing.assert_array_equal(out.numpy(), np.full((2, 5, 6, 4), 2.0))


@pytest.mark.parametrize("call, error, message", [
    (lambda x: x + "3", TypeError, r"x2='3' must be a tensor or a real number"),
    (lambda x: x * True, TypeError, r"x2=True must be a tensor or a real number"),
    (lambda x: x - None, TypeError, r"x2=None"),
    (lambda x: x / [1.0, 2.0], TypeError, r"x2=\[1.0, 2.0\]"),
    (lambda x: ops.Add()(x), TypeError, r"takes 2 argument\(s\) \(x1, x2\), got 1"),
    (lambda x: ops.Negative()(x, x), TypeError, r"takes 1 argument\(s\) \(x\), got 2"),
    (lambda x: ops.Add()(x, 1.0, training=True), TypeError, "no keyword arguments"),
    (lambda x: ops.Add()(2.0, 3.0), TypeError, "at least one tensor"),
    (lambda x: ops.Add()(x, np.ones((1, 3))), TypeError, "symbolic and concrete"),
    (lambda x: x @ x, TypeError, "supports"),
    (lambda x: x ** 2, TypeError, "supports"),
    (lambda x: x[0], TypeError, "supports"),
    (lambda x: bool(x), TypeError, "supports"),
    (lambda x: ops.Add(name="a/b"), ValueError, "without '/'"),
    (lambda x: ops.Add.from_config({"name": "add", "code": "print(1)"}), ValueError,
     r"takes only 'name', got \['code'\]"),
])
def test_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call(mdl.Input(shape=(3,)))


# -- configs: the module of an entry decides what it is --------------------------------
def tensor_entry(name):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": [None, 3], "dtype": "float32",
                       "keras_history": [name, 0, 0]}}


def graph_config(entry, args):
    """A Keras 3 functional config: input ``x`` (None, 3) -> ``entry`` called on args."""
    return {"module": "keras.src.models.functional", "class_name": "Functional",
            "registered_name": "Functional",
            "config": {"name": "g", "trainable": True, "layers": [
                {"module": "keras.layers", "class_name": "InputLayer",
                 "registered_name": None, "name": "x", "inbound_nodes": [],
                 "config": {"batch_shape": [None, 3], "dtype": "float32", "sparse": False,
                            "ragged": False, "name": "x", "optional": False}},
                {**entry, "name": entry["config"]["name"],
                 "inbound_nodes": [{"args": args, "kwargs": {}}]}],
                "input_layers": ["x", 0, 0], "output_layers": [entry["config"]["name"], 0,
                                                               0]}}


def op_entry(class_name, name, module="keras.src.ops.numpy"):
    return {"module": module, "class_name": class_name, "config": {"name": name},
            "registered_name": class_name}


def test_ops_add_in_a_config_is_not_the_add_layer():
    config = graph_config(op_entry("Add", "add"), [tensor_entry("x"), 3.0])
    model = model_from_json(json.dumps(config))
    assert type(model.operations[-1]) is ops.Add
    np.testing.assert_array_equal(model(np.ones((2, 3), np.float32)).numpy(),
                                  np.full((2, 3), 4.0))


@pytest.mark.parametrize("entry, args, message", [
    (op_entry("Einsum", "einsum"), [tensor_entry("x")],
     r"Unknown operation keras\.src\.ops\.numpy\.Einsum: minidl runs the operations Add, "),
    (op_entry("Relu", "relu", module="keras.src.ops.nn"), [tensor_entry("x")],
     r"keras\.src\.ops\.nn\.Relu"),
    (op_entry("Add", "add", module="keras.src.legacy.layers"), [tensor_entry("x"), 1.0],
     r"Unknown layer: 'Add' from module 'keras\.src\.legacy\.layers'"),
    (op_entry("Dense", "d", module="os"), [tensor_entry("x")],
     r"Dense 'd' from module 'os', which is neither Keras's nor minidl's"),
    ({"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
      "config": {"name": "lam", "function": {"class_name": "__lambda__",
                                             "config": {"code": "ZGVm"}}}},
     [tensor_entry("x")], "carries Python code; minidl never runs code"),
    (op_entry("Add", "add"), [tensor_entry("x"), "three"],
     r"call of 'add' \(Add\) failed: .*x2='three' must be a tensor or a real number"),
    (op_entry("Add", "add"), [tensor_entry("x")],
     r"call of 'add' \(Add\) failed: .*takes 2 argument"),
    (op_entry("Multiply", "multiply"), [tensor_entry("x"), tensor_entry("nowhere")],
     "refers to an unknown layer 'nowhere'"),
    (op_entry("Add", "add"), [{"class_name": "__keras_tensor__", "config": {}}, 1.0],
     "malformed call of 'add'"),
])
def test_config_errors(entry, args, message):
    with pytest.raises(ValueError, match=message):
        model_from_json(json.dumps(graph_config(entry, args)))


def test_legacy_code_layers_are_refused():
    for name in ("Lambda", "TFOpLambda", "SlicingOpLambda"):
        with pytest.raises(ValueError, match="never runs code"):
            layers.deserialize({"class_name": name, "config": {"name": "f"}})


def test_unknown_layer_lists_public_layers_only():
    with pytest.raises(ValueError, match="Unknown layer: 'Nope'") as info:
        layers.deserialize({"module": "keras.layers", "class_name": "Nope", "config": {}})
    known = str(info.value)
    assert "Dense" in known and "InputLayer" in known
    for hidden in ("BaseConv", "ConvLayerBase", "BaseDepthwiseConv"):
        assert hidden not in known


def test_modules_map_to_families():
    dense = {"class_name": "Dense", "config": {"units": 2}}
    assert isinstance(layers.deserialize({**dense, "module": "keras.layers"}), layers.Dense)
    nested = {**dense, "module": "keras.src.layers.core.dense"}
    assert isinstance(layers.deserialize(nested), layers.Dense)
    assert isinstance(layers.deserialize({**dense, "module": "minidl.layers.core"}),
                      layers.Dense)
    with pytest.raises(ValueError, match="from module 'keras'"):
        layers.deserialize({**dense, "module": "keras"})
    assert isinstance(layers.deserialize(op_entry("Add", "a")), ops.Add)
    assert isinstance(layers.deserialize(op_entry("Add", "a", "keras.ops")), ops.Add)

    class Custom(layers.Layer):
        pass

    custom = {"module": "my.package", "class_name": "Custom", "config": {"name": "c"},
              "registered_name": "my>Custom"}
    with pytest.raises(ValueError, match="Unknown layer: 'Custom' from module 'my.pa"):
        layers.deserialize(custom)
    assert isinstance(layers.deserialize(custom, custom_objects={"Custom": Custom}), Custom)
    assert isinstance(layers.deserialize({**custom, "module": "keras.layers"},
                                         custom_objects={"Custom": Custom}), Custom)


def test_operations_save_and_load(tmp_path):
    x = mdl.Input(shape=(3,))
    h = layers.Dense(4)(x)
    model = Model(x, h * (1.0 / 6.0) + 3.0 - h / 2)
    model.save(tmp_path / "m")
    loaded = mdl.models.load_model(tmp_path / "m")
    data = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(loaded.predict(data), model.predict(data))
    assert isinstance(Functional.from_config(model.get_config()), Functional)


def test_operations_train_on_every_backend(backend):
    x = mdl.Input(shape=(4,))
    h = layers.Dense(4)(x)
    model = Model(x, layers.Dense(2)(layers.ReLU(6.0)(h + 3.0) * (1.0 / 6.0) * h - x))
    model.compile(optimizer="sgd", loss="mse")
    data = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    model.fit(data, np.zeros((8, 2), np.float32), epochs=1, batch_size=4, verbose=0)
    assert model.backend.name == backend
    assert model.predict(data).shape == (8, 2)
