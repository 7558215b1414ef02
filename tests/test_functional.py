"""The functional API: Input, symbolic wiring, Model(inputs, outputs), training, saving,
configs and errors."""
import json

import numpy as np
import pytest

import minidl as mdl
from minidl import layers
from minidl.models import Functional, Model, load_model
from minidl.models.symbolic import KerasTensor

LOGITS = mdl.losses.SparseCategoricalCrossentropy(from_logits=True)


def blobs(n=96, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centers = np.array([[2.0, 0.0, 0.0, 1.0], [0.0, 2.0, 0.0, -1.0], [0.0, 0.0, 2.0, 0.0]])
    x = (centers[y] + 0.3 * rng.standard_normal((n, 4))).astype(np.float32)
    return x, y


def residual_model(dropout=0.2, name="residual", learning_rate=0.01):
    """Dense -> BN -> ReLU, a residual Add, Dropout, Dense logits."""
    inputs = mdl.Input(shape=(4,), name="features")
    x = layers.Dense(8, name="stem")(inputs)
    h = layers.Dense(8, use_bias=False, name="expand")(x)
    h = layers.BatchNormalization(name="bn")(h)
    h = layers.ReLU(6.0, name="relu6")(h)
    x = layers.Add(name="add")([x, h])
    x = layers.Dropout(dropout, name="drop")(x)
    outputs = layers.Dense(3, name="logits")(x)
    model = Model(inputs, outputs, name=name)
    model.compile(optimizer=mdl.optimizers.Adam(learning_rate), loss=LOGITS,
                  metrics=["accuracy"])
    return model


class Spy(layers.Layer):
    """Records every build and call; its output shape comes from a formula."""

    def __init__(self, units=2, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.builds, self.calls = [], 0

    def build(self, input_shape):
        self.builds.append(input_shape)
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units))

    def call(self, inputs):
        self.calls += 1
        return inputs @ self.kernel

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


# -- symbolic tensors and wiring -------------------------------------------------------
def test_input_is_a_symbolic_tensor():
    x = mdl.Input(shape=(8, 8, 1), name="image")
    assert isinstance(x, KerasTensor) and mdl.Input is mdl.models.Input
    assert x.shape == (None, 8, 8, 1) and x.ndim == 4 and x.dtype == "float32"
    assert x.name == "image" and x._keras_history.layer.name == "image"
    assert mdl.Input(shape=(3,), batch_size=5, dtype="float64").shape == (5, 3)
    assert mdl.Input(batch_shape=(2, None)).shape == (2, None)
    assert mdl.Input(shape=(3,), dtype="int32").dtype == "int32"
    y = layers.Conv2D(4, 3, strides=2, padding="same")(x)
    assert isinstance(y, KerasTensor) and y.shape == (None, 4, 4, 4)


@pytest.mark.parametrize("kwargs,message", [
    (dict(), "needs shape="),
    (dict(shape=8), "shape=8 must be a tuple"),
    (dict(shape=(3, -1)), "non-negative ints"),
    (dict(shape=(3,), batch_shape=(None, 3)), "not both"),
    (dict(shape=(3,), sparse=True), "sparse=True is not supported"),
    (dict(shape=(3,), batch_size=0), "batch_size=0"),
])
def test_input_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mdl.Input(**kwargs)


def test_wiring_builds_layers_and_runs_no_data():
    spy = Spy(3, name="spy")
    inputs = mdl.Input(shape=(5,))
    outputs = layers.Dense(2, name="head")(spy(inputs))
    assert spy.builds == [(None, 5)] and spy.calls == 0 and spy.built
    assert outputs.shape == (None, 2)
    model = Model(inputs=inputs, outputs=outputs)
    assert isinstance(model, Functional) and spy.calls == 0
    assert [w.shape for w in model.weights] == [(5, 3), (3, 2), (2,)]
    assert model(np.ones((4, 5), np.float32)).shape == (4, 2) and spy.calls == 1
    assert model.compute_output_shape((None, 5)) == (None, 2) and spy.calls == 1


def test_calling_the_model_equals_calling_its_layers():
    model = residual_model()
    x, _ = blobs(6)
    get = model.get_layer
    stem = get("stem")(x)
    h = get("relu6")(get("bn")(get("expand")(stem), training=False))
    expected = get("logits")(get("add")([stem, h]))
    np.testing.assert_array_equal(model(x).numpy(), expected.numpy())
    np.testing.assert_array_equal(model.predict(x), expected.numpy())


def test_layers_and_weights_follow_keras_order():
    x = mdl.Input(shape=(3,), name="in")
    a = layers.Dense(4, name="a")(x)
    b = layers.Dense(4, name="b")(x)
    c = layers.Dense(4, name="c")(a)
    model = Model(x, layers.Add(name="add")([c, b]))
    # depth from the output, deepest first; ties in the order the walk from the
    # outputs meets them (c before b)
    assert [layer.name for layer in model.layers] == ["in", "a", "c", "b", "add"]
    assert [w.path for w in model.weights] == ["a/kernel", "a/bias", "c/kernel", "c/bias",
                                               "b/kernel", "b/bias"]
    assert model.count_params() == 16 + 20 + 16
    assert model.get_layer(index=-1).name == "add"


def test_a_shared_layer_shares_its_weights_and_runs_once_per_call():
    shared = Spy(2, name="shared")
    left, right = mdl.Input(shape=(3,), name="left"), mdl.Input(shape=(3,), name="right")
    out = layers.Add(name="add")([shared(left), shared(right)])
    model = Model([left, right], out)
    assert len(model.weights) == 1
    assert [layer.name for layer in model.layers].count("shared") == 1
    xl, xr = np.ones((2, 3), np.float32), np.full((2, 3), 2.0, np.float32)
    y = model([xl, xr])
    assert shared.calls == 2
    kernel = shared.kernel.numpy()
    np.testing.assert_allclose(y.numpy(), xl @ kernel + xr @ kernel, rtol=1e-6)
    y.sum().backward()  # both uses contribute to the one kernel's gradient
    np.testing.assert_allclose(shared.kernel.grad, np.full((3, 2), 2 * 1.0 + 2 * 2.0))
    clone = Functional.from_config(model.get_config(), custom_objects={"Spy": Spy})
    assert len(clone.weights) == 1
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone([xl, xr]).numpy(), y.numpy())


class Halves(layers.Layer):
    """Two outputs: the first and the second half of the last axis."""

    def call(self, inputs):
        n = inputs.shape[-1] // 2
        return [inputs[..., :n], inputs[..., n:]]

    def compute_output_shape(self, input_shape):
        n = input_shape[-1] // 2
        return [tuple(input_shape[:-1]) + (n,), tuple(input_shape[:-1]) + (n,)]


def test_a_layer_with_several_outputs():
    x = mdl.Input(shape=(6,), name="x")
    left, right = Halves(name="halves")(x)
    assert left.shape == right.shape == (None, 3)
    assert right._keras_history.tensor_index == 1
    model = Model(x, [layers.Add(name="add")([left, right]), right])
    data = np.arange(12, dtype=np.float32).reshape(2, 6)
    total, second = model(data)
    np.testing.assert_array_equal(total.numpy(), data[:, :3] + data[:, 3:])
    np.testing.assert_array_equal(second.numpy(), data[:, 3:])
    config = model.get_config()
    assert config["output_layers"] == [["add", 0, 0], ["halves", 0, 1]]
    clone = Functional.from_config(config, custom_objects={"Halves": Halves})
    np.testing.assert_array_equal(clone(data)[0].numpy(), total.numpy())
    assert model.compute_output_shape((None, 6)) == [(None, 3), (None, 3)]


def test_training_flag_reaches_every_layer():
    inputs = mdl.Input(shape=(50,))
    outputs = layers.Dropout(0.5)(layers.Dense(50, kernel_initializer="identity")(inputs))
    model = Model(inputs, outputs)
    x = np.ones((2, 50), np.float32)
    np.testing.assert_array_equal(model(x).numpy(), x)
    np.testing.assert_array_equal(model(x, training=False).numpy(), x)
    dropped = model(x, training=True).numpy()
    assert set(np.unique(dropped)) == {0.0, 2.0}
    always = Model(inputs, layers.Dropout(0.5)(inputs, training=True))
    assert (always(x).numpy() == 0).any()  # a call wired with training=True keeps it


# -- training, several inputs and outputs ----------------------------------------------
def test_a_residual_model_trains():
    x, y = blobs()
    model = residual_model()
    history = model.fit(x, y, batch_size=16, epochs=12, verbose=0, validation_split=0.25)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    assert history.history["val_accuracy"][-1] > 0.9
    bn = model.get_layer("bn")
    assert not np.allclose(bn.moving_mean.numpy(), 0.0)  # BN ran in training mode


def test_several_inputs_and_outputs_fit_evaluate_and_predict():
    x, y = blobs(64)
    rng = np.random.default_rng(1)
    extra = rng.standard_normal((64, 2)).astype(np.float32)
    target = (x[:, :1] + extra[:, :1]).astype(np.float32)
    a, b = mdl.Input(shape=(4,), name="a"), mdl.Input(shape=(2,), name="b")
    h = layers.Add()([layers.Dense(16, name="ha")(a), layers.Dense(16, name="hb")(b)])
    h = layers.ReLU()(h)
    cls = layers.Dense(3, name="cls")(h)
    reg = layers.Dense(1, name="reg")(h)
    model = Model({"a": a, "b": b}, [cls, reg])
    assert model.output_names == ["cls", "reg"] and model.input_names == ["a", "b"]
    model.compile("adam", loss=[LOGITS, "mse"], metrics={"cls": ["accuracy"]})
    history = model.fit({"a": x, "b": extra}, [y, target], batch_size=16, epochs=8,
                        verbose=0)
    assert list(history.history) == ["loss", "cls_accuracy"]
    assert history.history["loss"][-1] < history.history["loss"][0]
    pred = model.predict({"a": x, "b": extra}, batch_size=10)
    assert [p.shape for p in pred] == [(64, 3), (64, 1)]
    loss, accuracy = model.evaluate({"a": x, "b": extra}, {"cls": y, "reg": target},
                                    verbose=0)
    expected = LOGITS(mdl.tensor(y), mdl.tensor(pred[0])).numpy() + \
        np.mean((pred[1] - target) ** 2)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    assert accuracy == pytest.approx(np.mean(pred[0].argmax(-1) == y))
    # one loss for every output; a dict of losses by output name
    model.compile("sgd", loss="mse")
    assert np.isfinite(model.train_on_batch({"a": x, "b": extra},
                                            [np.zeros((64, 3)), target]))
    model.compile("sgd", loss={"reg": "mse"})
    assert np.isfinite(model.test_on_batch({"a": x, "b": extra}, {"reg": target}))


def test_several_outputs_name_their_metrics_and_check_targets():
    x, y = blobs(32)
    inputs = mdl.Input(shape=(4,))
    first, second = layers.Dense(3, name="first")(inputs), layers.Dense(3, name="second")(
        inputs)
    model = Model(inputs, [first, second])
    model.compile("adam", loss=LOGITS, metrics=["accuracy"])
    logs = model.evaluate(x, [y, y], verbose=0, return_dict=True)
    assert list(logs) == ["loss", "first_accuracy", "second_accuracy"]
    with pytest.raises(ValueError, match="2 outputs"):
        model.evaluate(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"no target for output\(s\) \['second'\]"):
        model.evaluate(x, {"first": y}, verbose=0)
    with pytest.raises(ValueError, match="not outputs"):
        model.compile("adam", loss={"third": "mse"})
    with pytest.raises(ValueError, match="list of 1"):
        model.compile("adam", loss=["mse"])


# -- saving and configs ----------------------------------------------------------------
def test_save_and_load_give_bitwise_equal_predictions(tmp_path):
    x, y = blobs(64)
    model = residual_model()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    model.save(tmp_path / "model.bin")
    loaded = load_model(tmp_path / "model.bin")
    assert isinstance(loaded, Functional) and loaded.name == "residual"
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert [w.path for w in loaded.weights] == [w.path for w in model.weights]
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.optimizer.iterations == model.optimizer.iterations


def test_resume_from_checkpoint_equals_training_straight_through(tmp_path):
    x, y = blobs(64)

    def run(epochs, initial_epoch=0, model=None):
        model = model or residual_model(dropout=0.3)
        model.fit(x, y, batch_size=16, epochs=epochs, initial_epoch=initial_epoch,
                  verbose=0)
        return model

    mdl.random.seed(5)
    mdl.layers.clear_session()
    straight = run(4)
    mdl.random.seed(5)
    first = run(2)
    first.save(tmp_path / "ckpt")
    mdl.random.seed(999)  # the checkpoint restores the random state
    resumed = run(4, initial_epoch=2, model=load_model(tmp_path / "ckpt"))
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_several_outputs_save_and_load(tmp_path):
    a, b = mdl.Input(shape=(4,), name="a"), mdl.Input(shape=(4,), name="b")
    h = layers.Add(name="sum")([layers.Dense(5, name="da")(a),
                                layers.Dense(5, name="db")(b)])
    model = Model([a, b], {"score": layers.Dense(1, name="score")(h),
                           "probs": layers.Dense(3, activation="softmax", name="probs")(h)})
    model.compile("adam", loss={"score": "mse", "probs": "sparse_categorical_crossentropy"})
    x, y = blobs(16)
    model.fit([x, 2 * x], {"score": x[:, :1], "probs": y}, epochs=1, verbose=0)
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    out, back = model.predict([x, 2 * x]), loaded.predict([x, 2 * x])
    assert sorted(out) == ["probs", "score"] and sorted(back) == sorted(out)
    for key in out:
        np.testing.assert_array_equal(back[key], out[key])
    assert loaded.evaluate([x, 2 * x], {"score": x[:, :1], "probs": y}, verbose=0) == \
        model.evaluate([x, 2 * x], {"score": x[:, :1], "probs": y}, verbose=0)


def test_loading_a_user_layer_needs_custom_objects(tmp_path):
    inputs = mdl.Input(shape=(3,))
    model = Model(inputs, layers.Dense(2)(Spy(4)(inputs)))
    model.save(tmp_path / "m")
    with pytest.raises(ValueError, match="Spy"):
        load_model(tmp_path / "m")
    loaded = load_model(tmp_path / "m", custom_objects={"Spy": Spy})
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_config_has_keras_functional_layout_and_round_trips():
    model = residual_model()
    config = model.get_config()
    json.dumps(config)  # plain JSON
    assert set(config) == {"name", "trainable", "layers", "input_layers", "output_layers"}
    assert config["input_layers"] == ["features", 0, 0]
    assert config["output_layers"] == ["logits", 0, 0]
    by_name = {entry["name"]: entry for entry in config["layers"]}
    assert by_name["features"]["class_name"] == "InputLayer"
    assert by_name["features"]["config"]["batch_shape"] == [None, 4]
    assert by_name["features"]["inbound_nodes"] == []
    (node,) = by_name["add"]["inbound_nodes"]
    assert [t["config"]["keras_history"] for t in node["args"][0]] == [["stem", 0, 0],
                                                                      ["relu6", 0, 0]]
    assert node["args"][0][0]["class_name"] == "__keras_tensor__"
    clone = Functional.from_config(config)
    assert clone.get_config() == config
    clone.set_weights(model.get_weights())
    x, _ = blobs(5)
    np.testing.assert_array_equal(clone(x).numpy(), model(x).numpy())
    again = mdl.layers.deserialize(mdl.layers.serialize(model))
    assert isinstance(again, Functional) and again.get_config() == config
    assert isinstance(Model.from_config(config), Functional)


def test_reads_a_keras_3_functional_config():
    """The layout Keras 3.15 writes for ``Model(x, Add()([Dense(x), Dense(Dense(x))]))``."""
    tensor = lambda name: {"class_name": "__keras_tensor__",  # noqa: E731
                           "config": {"shape": [None, 4], "dtype": "float32",
                                      "keras_history": [name, 0, 0]}}
    dense = lambda name: {  # noqa: E731
        "module": "keras.layers", "class_name": "Dense", "registered_name": None,
        "config": {"name": name, "trainable": True, "units": 4, "activation": "relu",
                   "use_bias": True,
                   "dtype": {"module": "keras", "class_name": "DTypePolicy",
                             "config": {"name": "float32"}, "registered_name": None},
                   "kernel_initializer": {"module": "keras.initializers",
                                          "class_name": "GlorotUniform",
                                          "config": {"seed": None, "input_axes": None,
                                                     "output_axes": None},
                                          "registered_name": None},
                   "bias_initializer": {"module": "keras.initializers",
                                        "class_name": "Zeros", "config": {},
                                        "registered_name": None},
                   "kernel_regularizer": None, "bias_regularizer": None,
                   "kernel_constraint": None, "bias_constraint": None,
                   "quantization_config": None},
        "build_config": {"input_shape": [None, 4]}}
    config = {
        "module": "keras.src.models.functional", "class_name": "Functional",
        "registered_name": "Functional",
        "config": {
            "name": "functional", "trainable": True,
            "layers": [
                {"module": "keras.layers", "class_name": "InputLayer",
                 "registered_name": None, "name": "input_layer", "inbound_nodes": [],
                 "config": {"batch_shape": [None, 4], "dtype": "float32",
                            "sparse": False, "ragged": False, "name": "input_layer",
                            "optional": False}},
                {**dense("dense"), "name": "dense",
                 "inbound_nodes": [{"args": [tensor("input_layer")], "kwargs": {}}]},
                {**dense("dense_1"), "name": "dense_1",
                 "inbound_nodes": [{"args": [tensor("dense")], "kwargs": {"mask": None}}]},
                {"module": "keras.layers", "class_name": "Add", "registered_name": None,
                 "name": "add", "build_config": {"input_shape": [[None, 4], [None, 4]]},
                 "config": {"name": "add", "trainable": True, "dtype": "float32"},
                 "inbound_nodes": [{"args": [[tensor("dense"), tensor("dense_1")]],
                                    "kwargs": {}}]},
            ],
            "input_layers": ["input_layer", 0, 0],
            "output_layers": ["add", 0, 0],
        },
    }
    model = mdl.layers.deserialize(config)
    assert isinstance(model, Functional) and model.built
    assert [layer.name for layer in model.layers] == ["input_layer", "dense", "dense_1",
                                                      "add"]
    assert model(np.ones((2, 4), np.float32)).shape == (2, 4)
    assert model.get_config()["output_layers"] == ["add", 0, 0]
    older = json.loads(json.dumps(config["config"]))  # Keras 3.0-3.3 wrap one input
    older["input_layers"], older["output_layers"] = [["input_layer", 0, 0]], [["add", 0, 0]]
    assert isinstance(Functional.from_config(older).output, KerasTensor)
    # Keras 2 (tf.keras) nodes: [[layer, node, tensor, kwargs], ...]
    legacy = json.loads(json.dumps(config["config"]))
    legacy["layers"][1]["inbound_nodes"] = [[["input_layer", 0, 0, {}]]]
    legacy["layers"][3]["inbound_nodes"] = [[["dense", 0, 0, {}], ["dense_1", 0, 0, {}]]]
    legacy["layers"][2]["inbound_nodes"] = [[["dense", 0, 0, {}]]]
    assert Functional.from_config(legacy).compute_output_shape((None, 4)) == (None, 4)


def test_a_model_inside_a_model():
    inner_in = mdl.Input(shape=(4,), name="inner_in")
    inner = Model(inner_in, layers.Dense(3, name="inner_dense")(inner_in), name="inner")
    outer_in = mdl.Input(shape=(4,), name="outer_in")
    out = layers.Add(name="twice")([inner(outer_in), inner(outer_in)])
    outer = Model(outer_in, out, name="outer")
    assert len(outer.weights) == 2
    x, _ = blobs(3)
    np.testing.assert_allclose(outer(x).numpy(), 2 * inner(x).numpy(), rtol=1e-6)
    config = outer.get_config()
    assert [n["args"][0]["config"]["keras_history"] for n in
            config["layers"][1]["inbound_nodes"]] == [["outer_in", 0, 0]] * 2
    assert config["layers"][2]["inbound_nodes"][0]["args"][0][1]["config"][
        "keras_history"] == ["inner", 1, 0]
    last = Model(outer_in, inner(outer_in)).get_config()
    assert last["output_layers"] == ["inner", 1, 0]  # Keras counts these from 1
    clone = Functional.from_config(config)
    clone.set_weights(outer.get_weights())
    np.testing.assert_array_equal(clone(x).numpy(), outer(x).numpy())


# -- summary ---------------------------------------------------------------------------
def test_summary_shows_connections(capsys):
    model = residual_model()
    model.summary()
    out = capsys.readouterr().out
    assert 'Model: "residual"' in out and "Connected to" in out
    lines = out.splitlines()
    add_row = next(i for i, line in enumerate(lines) if line.startswith("add (Add)"))
    assert "(None, 8)" in lines[add_row] and lines[add_row].endswith("stem[0][0]")
    assert lines[add_row + 1].strip() == "relu6[0][0]"
    assert any(line.startswith("features (InputLayer)") and line.endswith("-")
               for line in lines)
    total = model.count_params()
    assert f"Total params: {total:,}" in out
    assert f"Non-trainable params: {2 * 8}" in out  # BN's moving mean and variance


# -- errors ----------------------------------------------------------------------------
def test_bad_wiring_raises_clear_errors():
    a, b = mdl.Input(shape=(3,), name="a"), mdl.Input(shape=(3,), name="b")
    both = layers.Add()([a, b])
    with pytest.raises(ValueError, match="graph disconnected.*'b'"):
        Model(a, both)
    with pytest.raises(TypeError, match="symbolic tensor.*ndarray"):
        Model(np.ones((2, 3)), both)
    with pytest.raises(TypeError, match=r"outputs\[1\]"):
        Model([a, b], [both, "logits"])
    hidden = layers.Dense(2)(a)
    with pytest.raises(ValueError, match="minidl.Input"):
        Model(hidden, layers.Dense(1)(hidden))
    with pytest.raises(ValueError, match="given twice"):
        Model([a, a], layers.Dense(1)(a))
    with pytest.raises(ValueError, match="'twin' is used by 2 layers"):
        Model(a, layers.Dense(1, name="twin")(layers.Dense(2, name="twin")(a)))
    with pytest.raises(TypeError, match="mixed"):
        layers.Add()([a, np.ones((1, 3))])
    with pytest.raises(TypeError, match="supports"):
        a @ b
    with pytest.raises(TypeError, match="no values"):
        np.asarray(a)
    with pytest.raises(ValueError, match="shape"):
        layers.Add()([a, mdl.Input(shape=(4,))])


def test_calling_a_model_with_wrong_inputs_raises():
    a, b = mdl.Input(shape=(3,), name="a"), mdl.Input(shape=(3,), name="b")
    model = Model([a, b], layers.Add()([a, b]))
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"takes 2 inputs \['a', 'b'\]"):
        model(x)
    with pytest.raises(ValueError, match=r"missing \['b'\]"):
        model({"a": x})
    with pytest.raises(ValueError, match=r"input 'b' expects shape \(None, 3\)"):
        model([x, np.ones((2, 4), np.float32)])
    np.testing.assert_array_equal(model({"b": x, "a": 2 * x}).numpy(), 3 * x)


def test_runs_on_every_backend(backend):
    model = residual_model()
    x, y = blobs(16)
    assert model.backend.name == backend
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert model.predict(x).shape == (16, 3)


# -- Keras conveniences: Input in layers, layer.input/output, get_layer, models as layers,
# -- to_json / model_from_json, Sequential with an Input, Keras 3 and Keras 2 configs --
def test_input_and_input_layer_are_exported_from_layers():
    from minidl.models import symbolic
    assert mdl.layers.Input is mdl.Input is mdl.models.Input is symbolic.Input
    assert mdl.layers.InputLayer is mdl.models.InputLayer is symbolic.InputLayer
    layer = mdl.layers.InputLayer(shape=(3,), name="raw")
    assert layer.output.shape == (None, 3) and layer.output._keras_history.layer is layer
    assert layer.get_config() == {"batch_shape": [None, 3], "dtype": "float32",
                                  "sparse": False, "ragged": False, "name": "raw",
                                  "optional": False}


def test_layer_input_and_output_are_those_of_the_first_call():
    a, b = mdl.Input(shape=(3,), name="a"), mdl.Input(shape=(3,), name="b")
    dense = layers.Dense(2)
    with pytest.raises(AttributeError, match=f"The layer {dense.name} has never been "
                                             "called and thus has no defined output"):
        _ = dense.output
    with pytest.raises(AttributeError, match="no defined input"):
        _ = dense.input
    first, second = dense(a), dense(b)
    assert dense.input is a and dense.output is first and second is not first
    add = layers.Add()
    out = add([a, b])
    assert add.input == [a, b] and add.output is out
    negative = (-out)._keras_history.operation
    assert negative.input is out and negative.output.shape == (None, 3)


def test_feature_extraction_with_get_layer_output():
    model = residual_model()
    assert model.get_layer("bn") is model.layers[3]
    features = Model(model.input, model.get_layer("relu6").output)
    x, _ = blobs(4)
    expected = model.get_layer("relu6")(model.get_layer("bn")(
        model.get_layer("expand")(model.get_layer("stem")(x)), training=False))
    np.testing.assert_allclose(features(x).numpy(), expected.numpy(), rtol=1e-6)
    assert all(a is b for a, b in zip(features.weights, model.weights))
    assert [layer.name for layer in features.layers] == ["features", "stem", "expand", "bn",
                                                         "relu6"]


def test_get_layer_follows_keras():
    x = mdl.Input(shape=(3,), name="x")
    model = Model(x, layers.Dense(2, name="d")(x) + 1.0)
    assert [layer.name for layer in model.layers] == ["x", "d"]
    assert [type(op).__name__ for op in model.operations] == ["InputLayer", "Dense", "Add"]
    assert model.get_layer(index=1).name == "d" and model.get_layer(index=-1).name == "d"
    with pytest.raises(ValueError, match=r"No such layer: add\. Existing layers are: "
                                         r"\['x', 'd'\]"):
        model.get_layer("add")
    with pytest.raises(ValueError, match="at index 2 but model only has 2 layers"):
        model.get_layer(index=2)
    with pytest.raises(ValueError, match="Provide only a layer name or a layer index"):
        model.get_layer("d", index=0)
    with pytest.raises(ValueError, match="Provide either a layer name or layer index"):
        model.get_layer()
    seq = mdl.models.Sequential([layers.Dense(2, name="s")])
    assert seq.get_layer("s") is seq.layers[0]


def test_summary_lists_operations_with_no_parameters(capsys):
    x = mdl.Input(shape=(3,), name="x")
    Model(x, layers.Dense(2, name="d")(x) * 2.0, name="m").summary()
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("multiply"))
    assert "(Multiply)" in row and "(None, 2)" in row and row.endswith("d[0][0]")
    assert "Total params: 8" in out


def test_sequential_with_an_input():
    for first in (mdl.Input(shape=(3,), name="seq_in"),
                  mdl.layers.InputLayer(shape=(3,), name="seq_in")):
        model = mdl.models.Sequential([first, layers.Dense(4, name="h"),
                                       layers.ReLU(name="r"), layers.Dense(2, name="o")])
        assert model.built and [layer.name for layer in model.layers] == ["h", "r", "o"]
        assert model.inputs[0].shape == (None, 3) and model.outputs[0].shape == (None, 2)
        assert model.input is model.inputs[0] and model.output is model.outputs[0]
        features = Model(model.inputs, model.get_layer("r").output)
        x, _ = blobs(3)
        x = x[:, :3]
        np.testing.assert_allclose(features(x).numpy(), model.layers[1](model.layers[0](
            x)).numpy(), rtol=1e-6)
        config = model.get_config()
        assert config["layers"][0]["class_name"] == "InputLayer"
        assert config["layers"][0]["config"]["name"] == "seq_in"
        assert config["build_input_shape"] == [None, 3]
        clone = mdl.models.Sequential.from_config(config)
        assert clone.get_config() == config and clone.inputs[0].shape == (None, 3)
    with pytest.raises(AttributeError, match="no defined inputs"):
        _ = mdl.models.Sequential([layers.Dense(2)]).inputs
    with pytest.raises(ValueError, match="an Input can only come first"):
        mdl.models.Sequential([layers.Dense(2), mdl.Input(shape=(3,))])
    with pytest.raises(ValueError, match=r"has input shape \(None, 3\)"):
        mdl.models.Sequential([mdl.Input(shape=(3,)), layers.Dense(2)]).build((None, 4))


def test_models_as_layers_share_weights_and_nest_their_configs():
    inner_in = mdl.Input(shape=(3,), name="inner_in")
    inner = Model(inner_in, layers.Dense(3, name="inner_d")(inner_in) * 0.5, name="inner")
    seq = mdl.models.Sequential([mdl.Input(shape=(3,), name="seq_in"),
                                 layers.Dense(2, name="seq_d")], name="seq")
    x = mdl.Input(shape=(3,), name="x")
    outer = Model(x, seq(inner(inner(x)) - x), name="outer")
    assert [layer.name for layer in outer.layers] == ["x", "inner", "seq"]
    assert len(outer.weights) == 4 and outer.weights[0] is inner.weights[0]
    data, _ = blobs(2)
    data = data[:, :3]
    np.testing.assert_allclose(outer(data).numpy(),
                               seq(inner(inner(data)) - data).numpy(), rtol=1e-6)
    config = json.loads(outer.to_json())
    assert (config["module"], config["class_name"], config["registered_name"]) == (
        "keras.src.models.functional", "Functional", "Functional")
    nested = {e["name"]: e for e in config["config"]["layers"]}
    assert nested["inner"]["class_name"] == "Functional"
    assert nested["seq"]["module"] == "keras" and nested["seq"]["registered_name"] is None
    clone = mdl.models.model_from_json(outer.to_json())
    assert clone.to_json() == outer.to_json()
    clone.set_weights(outer.get_weights())
    np.testing.assert_array_equal(clone(data).numpy(), outer(data).numpy())


def test_to_json_and_model_from_json():
    model = residual_model()
    text = model.to_json(indent=1)
    clone = mdl.models.model_from_json(text)
    assert clone.get_config() == model.get_config() and clone.optimizer is None
    seq = mdl.models.Sequential([layers.Dense(2, input_shape=(3,))])
    assert json.loads(seq.to_json())["module"] == "keras"
    assert mdl.models.model_from_json(seq.to_json()).get_config() == seq.get_config()
    with pytest.raises(ValueError, match="not JSON text"):
        mdl.models.model_from_json("{nope")
    with pytest.raises(ValueError, match="expected the JSON of a serialized model"):
        mdl.models.model_from_json("[1, 2]")
    with pytest.raises(ValueError, match="describes a Dense layer, not a model"):
        mdl.models.model_from_json(json.dumps(layers.serialize(layers.Dense(2))))
    with_compile = {**json.loads(text), "compile_config": {"optimizer": "bogus"}}
    assert mdl.models.model_from_json(json.dumps(with_compile)).optimizer is None


KERAS3_DTYPE = {"module": "keras", "class_name": "DTypePolicy",
                "config": {"name": "float32"}, "registered_name": None}


def test_reads_a_keras_3_sequential_config():
    """``keras.Sequential([keras.Input((5,), name="sin"), Dense(2, name="sd")]).to_json()``
    as Keras 3.15 writes it."""
    dense = {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
             "config": {"name": "sd", "trainable": True, "dtype": KERAS3_DTYPE, "units": 2,
                        "activation": "linear", "use_bias": True,
                        "kernel_initializer": {"module": "keras.initializers",
                                               "class_name": "GlorotUniform",
                                               "config": {"seed": None, "input_axes": None,
                                                          "output_axes": None},
                                               "registered_name": None},
                        "bias_initializer": {"module": "keras.initializers",
                                             "class_name": "Zeros", "config": {},
                                             "registered_name": None},
                        "kernel_regularizer": None, "bias_regularizer": None,
                        "kernel_constraint": None, "bias_constraint": None,
                        "quantization_config": None},
             "build_config": {"input_shape": [None, 5]}}
    text = json.dumps({
        "module": "keras", "class_name": "Sequential", "registered_name": None,
        "config": {"name": "seq", "trainable": True, "dtype": KERAS3_DTYPE,
                   "layers": [{"module": "keras.layers", "class_name": "InputLayer",
                               "registered_name": None,
                               "config": {"batch_shape": [None, 5], "dtype": "float32",
                                          "sparse": False, "ragged": False, "name": "sin",
                                          "optional": False}}, dense],
                   "build_input_shape": [None, 5]},
        "build_config": {"input_shape": [None, 5]}, "compile_config": {}})
    model = mdl.models.model_from_json(text)
    assert isinstance(model, mdl.models.Sequential) and model.built
    assert [layer.name for layer in model.layers] == ["sd"]
    assert model.inputs[0].shape == (None, 5)
    assert model.predict(np.ones((2, 5))).shape == (2, 2)


def test_reads_keras_2_configs():
    dense = {"class_name": "Dense", "config": {"name": "d", "units": 2, "dtype": "float32",
                                               "activation": "relu", "use_bias": True}}
    sequential = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer",
         "config": {"batch_input_shape": [None, 4], "dtype": "float32", "sparse": False,
                    "ragged": False, "name": "in"}}, dense]}}
    model = mdl.models.model_from_json(json.dumps(sequential))
    assert model.built and model.inputs[0].shape == (None, 4)
    functional = {"class_name": "Model", "config": {
        "name": "f", "layers": [
            {"class_name": "InputLayer", "name": "in", "inbound_nodes": [],
             "config": {"batch_input_shape": [None, 4], "dtype": "float32", "name": "in"}},
            {**dense, "name": "d", "inbound_nodes": [[["in", 0, 0, {}]]]}],
        "input_layers": [["in", 0, 0]], "output_layers": [["d", 0, 0]]}}
    for class_name in ("Model", "Functional"):
        functional["class_name"] = class_name
        model = mdl.models.model_from_json(json.dumps(functional))
        assert isinstance(model, Functional) and model.output_shape == (None, 2)
