"""Bad arguments of fit / evaluate / predict / train_on_batch, losses and add_weight are
ValueError / TypeError naming the argument and the value; add_weight takes Keras 3's
argument order and names unnamed weights uniquely."""
import numpy as np
import pytest

import minidl as mdl
from minidl import layers


def compiled():
    model = mdl.models.Sequential([layers.Dense(2, input_shape=(3,))])
    model.compile("sgd", "mse")
    return model


X, Y = np.ones((4, 3), "float32"), np.ones((4, 2), "float32")


@pytest.mark.parametrize("kwargs,error,message", [
    ({"initial_epoch": -1}, ValueError, "initial_epoch=-1"),
    ({"initial_epoch": 1.0}, ValueError, "initial_epoch=1.0"),
    ({"steps_per_epoch": 0}, ValueError, "steps_per_epoch=0"),
    ({"epochs": "2"}, ValueError, "epochs='2'"),
    ({"shuffle": "False"}, TypeError, "shuffle='False'"),
    ({"shuffle": 0}, TypeError, "shuffle=0"),
    ({"validation_split": "0.1"}, ValueError, "validation_split='0.1'"),
    ({"verbose": "1"}, ValueError, "verbose='1'"),
    ({"batch_size": True}, ValueError, "batch_size=True"),
    ({"callbacks": "cb"}, TypeError, "callbacks='cb'"),
    ({"x": None}, ValueError, "x=None"),
    ({"y": None}, ValueError, "y=None"),
])
def test_fit_names_the_bad_argument(kwargs, error, message):
    arguments = {"x": X, "y": Y, "verbose": 0, **kwargs}
    with pytest.raises(error, match=message):
        compiled().fit(**arguments)


@pytest.mark.parametrize("call,error,message", [
    (lambda m: m.evaluate(X, None, verbose=0), ValueError, "evaluate: y=None"),
    (lambda m: m.evaluate(None, Y, verbose=0), ValueError, "evaluate: x=None"),
    (lambda m: m.evaluate(X, Y, verbose=0, return_dict="True"), TypeError,
     "return_dict='True'"),
    (lambda m: m.evaluate(X, Y, verbose=5), ValueError, "verbose=5"),
    (lambda m: m.predict(None), ValueError, "predict: x=None"),
    (lambda m: m.predict(X, batch_size=-2), ValueError, "batch_size=-2"),
    (lambda m: m.train_on_batch(X), ValueError, "train_on_batch: y=None"),
    (lambda m: m.test_on_batch(X, None), ValueError, "test_on_batch: y=None"),
    (lambda m: m.train_on_batch(X, Y, return_dict="no"), TypeError, "return_dict='no'"),
])
def test_evaluate_predict_and_batches_name_the_bad_argument(call, error, message):
    with pytest.raises(error, match=message):
        call(compiled())


@pytest.mark.parametrize("make,error,message", [
    (lambda: mdl.losses.Huber(delta=0.0), ValueError, "delta=0.0"),
    (lambda: mdl.losses.Huber(delta=-1), ValueError, "delta=-1"),
    (lambda: mdl.losses.Huber(delta=float("inf")), ValueError, "delta=inf"),
    (lambda: mdl.losses.Huber(delta=float("nan")), ValueError, "delta=nan"),
    (lambda: mdl.losses.huber([1.0], [2.0], delta=float("inf")), ValueError, "delta=inf"),
    (lambda: mdl.losses.MeanSquaredError(name=3), TypeError, "name=3"),
    (lambda: mdl.metrics.Mean(name=["m"]), TypeError, r"name=\['m'\]"),
])
def test_losses_and_metrics_check_delta_and_names(make, error, message):
    with pytest.raises(error, match=message):
        make()


class Keras3Layer(layers.Layer):
    def build(self, input_shape):
        self.a = self.add_weight((input_shape[-1],), "ones", "float64", False)
        self.b = self.add_weight(shape=(2,), initializer="zeros")
        self.c = self.add_weight((1,), "zeros")
        self.d = self.add_weight("legacy", (3,), "ones", None, None, False)

    def call(self, inputs):
        return inputs


def test_add_weight_takes_keras_3_order_and_names_unnamed_weights_uniquely():
    layer = Keras3Layer(name="k3")
    layer(np.ones((1, 4), "float32"))
    a, b, c, d = layer.a, layer.b, layer.c, layer.d
    assert (a.shape, a.dtype, a.trainable) == ((4,), np.float64, False)
    assert (b.name, c.name, d.name) == ("variable_1", "variable_2", "legacy")
    assert a.name == "variable" and a.path == "k3/variable"
    assert (d.shape, d.trainable) == ((3,), False)
    assert len({w.path for w in layer.weights}) == 4


@pytest.mark.parametrize("args,kwargs,error,message", [
    (((2,),), {"shape": (2,)}, TypeError, "multiple values for argument 'shape'"),
    (((2,), "zeros", None, True, None, None, "n", 1), {}, TypeError, "at most 7"),
    ((), {"shape": (2,), "name": 5}, TypeError, "name=5"),
    ((), {"shape": (2,), "trainable": "False"}, TypeError, "trainable='False'"),
])
def test_add_weight_names_its_bad_arguments(args, kwargs, error, message):
    layer = layers.Layer()
    with pytest.raises(error, match=message):
        layer.add_weight(*args, **kwargs)
