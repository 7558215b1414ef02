"""The Layer base, Variable, the layer registry and the shared layer harness."""
import json

import numpy as np
import pytest

import minidl as mdl
from minidl.layers import Layer
from minidl.testing import layer_test


class MyDense(Layer):
    """A small Dense-like layer: ``activation(x @ kernel + bias)``."""

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", kernel_regularizer=None,
                 kernel_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"units={units!r} must be a positive int")
        self.units = units
        self.activation = mdl.activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = mdl.initializers.get(kernel_initializer)
        self.kernel_regularizer = mdl.regularizers.get(kernel_regularizer)
        self.kernel_constraint = mdl.constraints.get(kernel_constraint)

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units),
                                      self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self.add_weight("bias", (self.units,), "zeros") if self.use_bias \
            else None

    def call(self, inputs):
        y = inputs @ self.kernel
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": mdl.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": mdl.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": mdl.regularizers.serialize(self.kernel_regularizer),
                "kernel_constraint": mdl.constraints.serialize(self.kernel_constraint)}


class Counter(Layer):
    """A non-trainable weight that counts training calls (tests training propagation)."""

    def build(self, input_shape):
        self.count = self.add_weight("count", (), "zeros", trainable=False)

    def call(self, inputs, training=None):
        if training:
            self.count.assign(self.count.data + 1)
        return inputs


class Block(Layer):
    """Nested layers: MyDense then Counter, plus a scale weight of its own."""

    def __init__(self, units=2, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dense = MyDense(units, kernel_regularizer="l2")
        self.counter = Counter()

    def build(self, input_shape):
        self.scale = self.add_weight("scale", (self.units,), "ones")

    def call(self, inputs, training=None):
        return self.counter(self.dense(inputs)) * self.scale

    def get_config(self):
        return {**super().get_config(), "units": self.units}


# -- the harness on the test layer --------------------------------------------------------
@pytest.mark.parametrize("kwargs,num_losses", [
    ({"units": 3}, 0),
    ({"units": 2, "activation": "tanh", "kernel_regularizer": "l2"}, 1),
    ({"units": 3, "use_bias": False, "activity_regularizer": "l1",
      "kernel_regularizer": {"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.2}}}, 2),
    ({"units": 2, "kernel_constraint": "max_norm", "activation": "gelu"}, 0),
])
def test_harness_on_custom_dense(backend, kwargs, num_losses):
    out = layer_test(MyDense, kwargs, (4, 3), expected_output_shape=(4, kwargs["units"]),
                     expected_num_trainable_weights=1 + kwargs.get("use_bias", True),
                     expected_num_non_trainable_weights=0, expected_num_losses=num_losses)
    assert out.backend == backend


def test_harness_values_and_float64_layer():
    x = np.arange(6.0).reshape(2, 3)
    kernel = np.ones((3, 1))
    out = layer_test(MyDense, {"units": 1, "dtype": "float64", "weights": [kernel, [0.5]]},
                     input_data=x, expected_output=[[3.5], [12.5]])
    assert out.dtype == np.float64


def test_harness_detects_wrong_shape():
    with pytest.raises(AssertionError, match="shape"):
        layer_test(MyDense, {"units": 2}, (3, 4), expected_output_shape=(3, 5))


def test_harness_on_nested_block():
    layer_test(Block, {"units": 2}, (3, 4), expected_output_shape=(3, 2),
               expected_num_trainable_weights=3, expected_num_non_trainable_weights=1,
               expected_num_losses=1, custom_objects={"Block": Block, "MyDense": MyDense,
                                                      "Counter": Counter})


def test_check_layer_computes_in_float64_and_restores():
    layer = MyDense(2)
    x = np.random.default_rng(0).standard_normal((3, 4))
    report = mdl.gradcheck.check_layer(layer, x)
    assert report.names == ["input", f"weight {layer.kernel.path!r}",
                            f"weight {layer.bias.path!r}"]
    assert max(report.max_abs_error) < 1e-8          # only possible in float64
    assert layer.kernel.dtype == np.float32 and layer.dtype == "float32"
    assert layer(x).dtype == np.float32


def test_check_layer_finds_a_wrong_gradient():
    class Bad(mdl.Function):
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            return gy * 3

    class BadLayer(Layer):
        def call(self, inputs):
            return Bad()(inputs)

    with pytest.raises(mdl.gradcheck.GradcheckError, match="input"):
        mdl.gradcheck.check_layer(BadLayer(), np.ones((2, 2)))


# -- calling ------------------------------------------------------------------------------
def test_call_converts_casts_and_builds(backend):
    layer = MyDense(2)
    assert not layer.built and layer.weights == []
    out = layer([[1.0, 2.0, 3.0]])
    assert layer.built and isinstance(out, mdl.Tensor) and out.dtype == np.float32
    assert out.backend == backend and layer.backend == backend
    assert layer.kernel.backend == backend
    out64 = layer(np.ones((1, 3)))                     # float64 input cast to float32
    assert out64.dtype == np.float32
    ints = Layer()(np.arange(3))                        # non-floating inputs are kept
    assert ints.dtype == np.arange(3).dtype


def test_autocast_off_keeps_input_dtype():
    assert Layer(autocast=False)(np.ones(3)).dtype == np.float64


def test_gradient_flows_through_cast():
    x = mdl.tensor(np.ones((2, 3)), requires_grad=True)     # float64
    layer = MyDense(2)
    layer(x).sum().backward()
    assert x.grad.dtype == np.float64 and x.grad.shape == (2, 3)
    np.testing.assert_allclose(x.grad, np.tile(layer.kernel.numpy().sum(1), (2, 1)),
                               rtol=1e-6)


def test_build_gets_full_shape_and_list_inputs():
    shapes = []

    class Pair(Layer):
        def build(self, input_shape):
            shapes.append(input_shape)

        def call(self, inputs):
            a, b = inputs
            return a + b

    out = Pair()([np.ones((2, 3)), np.ones((2, 3))])
    assert shapes == [[(2, 3), (2, 3)]]
    np.testing.assert_array_equal(out.numpy(), 2 * np.ones((2, 3)))


def test_training_passed_only_when_accepted_and_propagated():
    block = Block()
    x = np.ones((1, 3))
    block(x)
    block(x, training=True)
    block(x, training=True)
    assert float(block.counter.count.numpy()) == 2     # inherited from the outer call
    MyDense(2)(x, training=True)                        # call() has no training argument


def test_mixing_backends_is_a_clear_error():
    layer = MyDense(2, backend="numpy")
    layer(np.ones((1, 3)))

    layer._backend = mdl.backend.Backend("cupy", None)     # pretend it lives on a GPU
    with pytest.raises(ValueError, match="weights on cupy but got a numpy tensor"):
        layer(mdl.tensor(np.ones((1, 3))))


# -- weights ------------------------------------------------------------------------------
def test_weight_order_nested_and_trainable_flag():
    block = Block(units=2)
    block(np.ones((1, 3)))
    names = [w.name for w in block.weights]
    assert names == ["scale", "kernel", "bias", "count"]
    assert [w.name for w in block.trainable_weights] == ["scale", "kernel", "bias"]
    assert [w.name for w in block.non_trainable_weights] == ["count"]
    assert block.count_params() == 2 + 3 * 2 + 2 + 1
    block.trainable = False
    assert block.trainable_weights == [] and len(block.non_trainable_weights) == 4
    assert not block.dense.trainable and not block.dense.kernel.requires_grad
    assert block.losses == []                           # no trainable weight regularized
    block.trainable = True
    assert len(block.trainable_weights) == 3 and block.dense.kernel.requires_grad
    assert not block.counter.count.requires_grad


def test_variable_basics():
    v = mdl.Variable(np.zeros((2, 2)), name="k", dtype="float32")
    assert isinstance(v, mdl.Tensor) and v.requires_grad and v.trainable
    v.trainable = False
    assert not v.requires_grad
    v.assign(np.ones((2, 2)))
    assert v.dtype == np.float32 and v.numpy().sum() == 4
    v.assign_add(np.ones((2, 2)))
    v.assign_sub(mdl.tensor(np.full((2, 2), 0.5)))
    np.testing.assert_array_equal(v.numpy(), np.full((2, 2), 1.5))
    with pytest.raises(ValueError, match="shape"):
        v.assign(np.ones(3))
    with pytest.raises(TypeError, match="trainable"):
        mdl.Variable(np.arange(3), trainable=True)
    source = np.ones(2, dtype=np.float32)
    w = mdl.Variable(source)
    source[0] = 5
    assert w.numpy()[0] == 1                            # the initial value is copied
    assert "Variable" in repr(w)


def test_get_set_weights_and_errors():
    layer = MyDense(2)
    layer(np.ones((1, 3)))
    values = [np.full((3, 2), 0.5), np.array([1.0, 2.0])]
    layer.set_weights(values)
    got = layer.get_weights()
    assert all(isinstance(a, np.ndarray) and a.dtype == np.float32 for a in got)
    np.testing.assert_array_equal(got[1], [1.0, 2.0])
    with pytest.raises(ValueError, match="expects 2 weights"):
        layer.set_weights(values[:1])
    with pytest.raises(ValueError, match=r"kernel.*\(3, 2\).*\(2, 3\)"):
        layer.set_weights([np.ones((2, 3)), np.ones(2)])


def test_weights_kwarg_applied_at_build():
    layer = MyDense(1, weights=[np.full((2, 1), 2.0), np.array([1.0])])
    np.testing.assert_allclose(layer(np.ones((1, 2))).numpy(), [[5.0]])


def test_count_params_needs_build():
    with pytest.raises(ValueError, match="not built"):
        MyDense(2).count_params()


def test_add_weight_defaults_and_errors():
    layer = Layer(name="holder")
    w = layer.add_weight("w", (2, 3))                   # glorot_uniform by default
    assert w.path == "holder/w" and w.dtype == np.float32 and np.abs(w.numpy()).max() > 0
    n = layer.add_weight("n", (2,), dtype="int64", trainable=False)
    assert n.dtype == np.int64 and not n.numpy().any()
    with pytest.raises(ValueError, match="Unknown initializer"):
        layer.add_weight("x", (2,), "no_such_init")
    with pytest.raises(ValueError, match="fully known"):
        layer.add_weight("y", (None, 2))


def test_losses_on_tape_and_activity_divided_by_batch():
    layer = MyDense(2, kernel_regularizer=mdl.regularizers.L2(0.5),
                    activity_regularizer=mdl.regularizers.L1(1.0))
    x = np.ones((4, 3))
    out = layer(x)
    activity, weight_penalty = layer.losses
    np.testing.assert_allclose(float(activity.numpy()), np.abs(out.numpy()).sum() / 4,
                               rtol=1e-6)
    k = layer.kernel.numpy()
    np.testing.assert_allclose(float(weight_penalty.numpy()), 0.5 * (k ** 2).sum(),
                               rtol=1e-6)
    weight_penalty.backward()
    np.testing.assert_allclose(layer.kernel.grad, k, rtol=1e-6)   # d(0.5 sum k^2)/dk
    layer(x[:2])
    assert len(layer.losses) == 2                       # activity loss replaced, not added


def test_add_loss_cleared_each_call():
    class WithLoss(Layer):
        def call(self, inputs):
            self.add_loss(inputs.sum())
            return inputs

    layer = WithLoss()
    layer(np.ones(2))
    layer(np.ones(2))
    assert len(layer.losses) == 1


def test_to_moves_every_weight(backend):
    block = Block()
    block(np.ones((1, 3)))
    block.to(backend)
    assert all(w.backend == backend for w in block.weights)
    assert block.backend == backend and block.dense.backend == backend
    assert block(np.ones((1, 3))).backend == backend
    block.to("numpy")
    assert all(w.backend == "numpy" for w in block.weights)


# -- names, config, registry --------------------------------------------------------------
def test_auto_names_unique_snake_case():
    mdl.layers.clear_session()
    assert [MyDense(1).name for _ in range(3)] == ["my_dense", "my_dense_1", "my_dense_2"]
    assert Block().name == "block"
    assert MyDense(1, name="head").name == "head"
    with pytest.raises(ValueError, match="name"):
        MyDense(1, name="")


def test_unknown_kwargs_raise_type_error():
    with pytest.raises(TypeError, match="unitz"):
        MyDense(2, unitz=3)
    with pytest.raises(ValueError, match="float dtype"):
        Layer(dtype="int32")


def test_input_shape_kwargs():
    assert Layer(input_shape=(3,)).batch_input_shape == (None, 3)
    assert Layer(input_shape=[3, 4], batch_size=8).batch_input_shape == (8, 3, 4)
    assert Layer(batch_input_shape=[2, 5]).batch_input_shape == (2, 5)
    assert Layer(input_dim=7).batch_input_shape == (None, 7)
    cfg = Layer(input_shape=(3,)).get_config()
    assert Layer.from_config(json.loads(json.dumps(cfg))).batch_input_shape == (None, 3)


def test_base_config_keys():
    cfg = MyDense(2, name="d", activity_regularizer="l2").get_config()
    assert cfg["name"] == "d" and cfg["trainable"] is True and cfg["dtype"] == "float32"
    assert cfg["activity_regularizer"]["class_name"] == "L2"
    assert "activity_regularizer" not in MyDense(2).get_config()


def test_from_keras3_config():
    keras_cfg = {
        "name": "dense_7", "trainable": False,
        "dtype": {"module": "keras", "class_name": "DTypePolicy",
                  "config": {"name": "float64"}, "registered_name": None},
        "units": 3, "activation": "relu", "use_bias": True,
        "kernel_initializer": {"module": "keras.initializers", "class_name": "RandomNormal",
                               "config": {"mean": 0.0, "stddev": 1.0, "seed": 3},
                               "registered_name": None},
        "kernel_regularizer": {"module": "keras.regularizers", "class_name": "L2",
                               "config": {"l2": 0.01}, "registered_name": None},
        "kernel_constraint": None,
    }
    layer = MyDense.from_config(keras_cfg)
    assert layer.dtype == "float64" and not layer.trainable and layer.name == "dense_7"
    assert isinstance(layer.kernel_initializer, mdl.initializers.RandomNormal)
    assert layer.kernel_initializer.seed == 3
    assert layer.activation is mdl.activations.relu
    assert layer(np.ones((1, 2))).dtype == np.float64
    with pytest.raises(TypeError, match="bogus"):
        MyDense.from_config({**keras_cfg, "bogus": 1})


def test_tuple_values_from_keras():
    class Shaped(Layer):
        def __init__(self, size=(1, 1), **kwargs):
            super().__init__(**kwargs)
            self.size = tuple(size)

    layer = Shaped.from_config({"size": {"class_name": "__tuple__",
                                         "config": {"value": [2, 3]}}})
    assert layer.size == (2, 3)


def test_registry_serialize_deserialize():
    assert "Layer" in mdl.layers.base._family.known()
    assert "MyDense" not in mdl.layers.base._family.known()   # user classes don't register
    layer = MyDense(2, name="d")
    layer(np.ones((1, 3)))
    data = json.loads(json.dumps(mdl.layers.serialize(layer)))
    assert data["class_name"] == "MyDense" and data["build_config"]["input_shape"] == [1, 3]
    with pytest.raises(ValueError, match="Unknown layer: 'MyDense'.*Layer"):
        mdl.layers.deserialize(data)
    clone = mdl.layers.deserialize(data, custom_objects={"MyDense": MyDense})
    assert clone.built and [w.shape for w in clone.weights] == [(3, 2), (2,)]
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(np.ones((1, 3))).numpy(),
                                  layer(np.ones((1, 3))).numpy())
    assert isinstance(mdl.layers.get({"class_name": "Layer", "config": {}}), Layer)
    assert mdl.layers.get(layer) is layer


def test_minidl_subclasses_register():
    import types
    module = types.ModuleType("minidl.fake_layers")
    exec("from minidl.layers import Layer\nclass FakeRegistered(Layer):\n    pass\n",
         module.__dict__)
    assert mdl.layers.get("FakeRegistered").__class__.__name__ == "FakeRegistered"
    assert mdl.layers.get("fake_registered").__class__.__name__ == "FakeRegistered"


def test_compute_output_shape_default_runs_the_layer():
    assert Layer().compute_output_shape((None, 4)) == (None, 4)
    assert MyDense(3).compute_output_shape((None, 4)) == (None, 3)


def test_nested_layer_before_super_init_is_an_error():
    class Early(Layer):
        def __init__(self):
            self.inner = Layer()
            super().__init__()

    with pytest.raises(RuntimeError, match="super"):
        Early()


def test_direct_build_marks_built_once():
    layer = MyDense(2, weights=[np.ones((3, 2)), np.zeros(2)])
    layer.build((None, 3))
    assert layer.built and len(layer.weights) == 2
    np.testing.assert_array_equal(layer.kernel.numpy(), np.ones((3, 2)))
    layer(np.ones((1, 3)))
    assert len(layer.weights) == 2                      # not built a second time
    assert layer.get_build_config() == {"input_shape": (None, 3)}

    class Wider(MyDense):
        def build(self, input_shape):
            super().build(input_shape)                  # the inner build does not finish
            self.extra = self.add_weight("extra", (1,), "zeros")

    wide = Wider(2, weights=[np.ones((3, 2)), np.zeros(2), np.ones(1)])
    wide.build((None, 3))
    assert [w.name for w in wide.weights] == ["kernel", "bias", "extra"]
    assert wide.extra.numpy()[0] == 1
