"""Dense, Conv2D and Conv1D: the shared layer harness, values, Keras 3 configs and bad
input. (Exact Keras numbers are in test_golden.py; the conv maths in test_conv_ops.py.)"""
import json

import numpy as np
import pytest

import minidl as mdl
from minidl.layers import Conv1D, Conv2D, Dense
from minidl.testing import layer_test

F = mdl.functional


# -- the shared harness ---------------------------------------------------------------
@pytest.mark.parametrize("kwargs,input_shape,output_shape", [
    (dict(units=3), (2, 4), (2, 3)),
    (dict(units=3, activation="tanh", use_bias=False), (2, 2, 4), (2, 2, 3)),
    (dict(units=2, activation="relu", bias_initializer="ones"), (2, 2, 3, 4), (2, 2, 3, 2)),
])
def test_dense_layer_test(kwargs, input_shape, output_shape):
    layer_test(Dense, kwargs, input_shape, expected_output_shape=output_shape,
               expected_num_trainable_weights=1 + kwargs.get("use_bias", True),
               expected_num_non_trainable_weights=0, expected_num_losses=0)


CONV2D_CASES = [
    (dict(filters=3, kernel_size=3), (2, 5, 6, 2), (2, 3, 4, 3)),
    (dict(filters=2, kernel_size=(2, 3), strides=2, padding="same"), (2, 5, 6, 2),
     (2, 3, 3, 2)),
    (dict(filters=2, kernel_size=3, dilation_rate=2, padding="same", activation="tanh"),
     (1, 5, 5, 2), (1, 5, 5, 2)),
    (dict(filters=3, kernel_size=2, strides=(2, 1), data_format="channels_first",
          use_bias=False), (2, 2, 5, 4), (2, 3, 2, 3)),
]


@pytest.mark.parametrize("kwargs,input_shape,output_shape", CONV2D_CASES)
def test_conv2d_layer_test(kwargs, input_shape, output_shape):
    layer_test(Conv2D, kwargs, input_shape, expected_output_shape=output_shape,
               expected_num_trainable_weights=1 + kwargs.get("use_bias", True),
               expected_num_non_trainable_weights=0, expected_num_losses=0)


@pytest.mark.parametrize("kwargs,input_shape,output_shape", [
    (dict(filters=3, kernel_size=3), (2, 7, 2), (2, 5, 3)),
    (dict(filters=2, kernel_size=2, strides=2, padding="same"), (2, 7, 3), (2, 4, 2)),
    (dict(filters=2, kernel_size=3, dilation_rate=2, padding="same",
          data_format="channels_first", activation="relu"), (2, 3, 6), (2, 2, 6)),
])
def test_conv1d_layer_test(kwargs, input_shape, output_shape):
    layer_test(Conv1D, kwargs, input_shape, expected_output_shape=output_shape,
               expected_num_trainable_weights=2, expected_num_non_trainable_weights=0,
               expected_num_losses=0)


@pytest.mark.parametrize("cls,kwargs,input_shape", [
    (Dense, dict(units=2), (2, 3)),
    (Conv2D, dict(filters=2, kernel_size=2), (1, 3, 3, 2)),
    (Conv1D, dict(filters=2, kernel_size=2), (1, 4, 2)),
])
def test_regularizers_add_losses(rng, cls, kwargs, input_shape):
    kwargs = dict(kwargs, kernel_regularizer="l2", bias_regularizer="l1",
                  activity_regularizer="l2", kernel_constraint="max_norm",
                  bias_initializer="ones", bias_constraint="non_neg")
    layer_test(cls, kwargs, input_shape, expected_num_losses=3)
    layer = cls(**kwargs)
    y = layer(rng.standard_normal(input_shape).astype("float32"))
    kernel_penalty = 0.01 * float((layer.kernel.numpy() ** 2).sum())
    bias_penalty = 0.01 * float(np.abs(layer.bias.numpy()).sum())
    activity = 0.01 * float((y.numpy() ** 2).sum()) / input_shape[0]
    losses = sorted(float(loss.numpy()) for loss in layer.losses)
    assert losses == pytest.approx(sorted([kernel_penalty, bias_penalty, activity]),
                                   rel=1e-5)


# -- values ---------------------------------------------------------------------------
def test_dense_values_any_rank(rng):
    x = rng.standard_normal((2, 3, 4))
    layer = Dense(5, activation="relu", dtype="float64")
    y = layer(x)
    kernel, bias = layer.get_weights()
    assert kernel.shape == (4, 5) and bias.shape == (5,)
    np.testing.assert_allclose(y.numpy(), np.maximum(x @ kernel + bias, 0), rtol=1e-12)


def test_conv_layers_match_the_functional_ops(rng):
    x = rng.standard_normal((2, 3, 6, 5))
    layer = Conv2D(4, (3, 2), strides=(1, 2), padding="same", data_format="channels_first",
                   activation="sigmoid", bias_initializer="random_normal", dtype="float64")
    y = layer(x)
    kernel, bias = layer.get_weights()
    assert kernel.shape == (3, 2, 3, 4)
    expected = F.sigmoid(F.conv2d(x, kernel, bias, strides=(1, 2), padding="same",
                                  data_format="channels_first"))
    np.testing.assert_allclose(y.numpy(), expected.numpy(), rtol=1e-12)
    x1 = rng.standard_normal((2, 7, 3))
    layer1 = Conv1D(2, 3, dilation_rate=2, dtype="float64")
    kernel1 = layer1(x1) is not None and layer1.get_weights()[0]
    assert kernel1.shape == (3, 3, 2)
    np.testing.assert_allclose(layer1(x1).numpy(), F.conv1d(x1, kernel1, dilation_rate=2)
                               .numpy(), rtol=1e-12)


def test_float32_stays_float32():
    for layer, shape in ((Dense(3), (2, 4)), (Conv2D(2, 3), (1, 4, 4, 2)),
                         (Conv1D(2, 3), (1, 5, 2))):
        y = layer(np.ones(shape, "float32"))
        assert y.dtype == np.float32 and all(w.dtype == np.float32 for w in layer.weights)


def test_default_data_format_follows_config():
    previous = mdl.config.image_data_format()
    mdl.config.set_image_data_format("channels_first")
    try:
        layer = Conv2D(4, 3)
        assert layer.data_format == "channels_first"
        assert layer(np.ones((1, 2, 5, 5), "float32")).shape == (1, 4, 3, 3)
    finally:
        mdl.config.set_image_data_format(previous)


def test_glorot_uniform_fans_follow_keras():
    layer = Conv2D(8, (3, 3))
    layer.build((None, 10, 10, 4))
    limit = np.sqrt(6 / (9 * 4 + 9 * 8))
    kernel = layer.kernel.numpy()
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.8 * limit
    assert np.all(layer.bias.numpy() == 0)


# -- Keras 3 configs ------------------------------------------------------------------
KERAS_INIT = {"module": "keras.initializers", "class_name": "GlorotUniform",
              "config": {"seed": None}, "registered_name": None}
KERAS_ZEROS = {"module": "keras.initializers", "class_name": "Zeros", "config": {},
               "registered_name": None}
KERAS_DTYPE = {"module": "keras", "class_name": "DTypePolicy",
               "config": {"name": "float64"}, "registered_name": None}
COMMON = {"trainable": True, "dtype": KERAS_DTYPE, "activation": "linear", "use_bias": True,
          "kernel_initializer": KERAS_INIT, "bias_initializer": KERAS_ZEROS,
          "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None,
          "bias_constraint": None}
KERAS_CONFIGS = {
    "Dense": dict(COMMON, name="dense_1", units=5, quantization_config=None),
    "Conv2D": dict(COMMON, name="conv2d_1", filters=4, kernel_size=[3, 3], strides=[1, 1],
                   padding="same", data_format="channels_last", dilation_rate=[1, 1],
                   groups=1, activity_regularizer=None),
    "Conv1D": dict(COMMON, name="conv1d_1", filters=4, kernel_size=[3], strides=[2],
                   padding="valid", data_format="channels_first", dilation_rate=[1],
                   groups=1, activity_regularizer=None),
}
CONV_KEYS = {"name", "trainable", "dtype", "filters", "kernel_size", "strides", "padding",
             "data_format", "dilation_rate", "groups", "activation", "use_bias",
             "kernel_initializer", "bias_initializer", "kernel_regularizer",
             "bias_regularizer", "activity_regularizer", "kernel_constraint",
             "bias_constraint"}


@pytest.mark.parametrize("class_name", sorted(KERAS_CONFIGS))
def test_keras3_configs_are_accepted_as_they_come(class_name):
    config = json.loads(json.dumps(KERAS_CONFIGS[class_name]))
    layer = mdl.layers.deserialize({"module": "keras.layers", "class_name": class_name,
                                    "config": config, "registered_name": None})
    assert type(layer).__name__ == class_name and layer.dtype == "float64"
    out = layer.get_config()
    if class_name == "Dense":
        assert set(out) == {"name", "trainable", "dtype", "units", "activation", "use_bias",
                            "kernel_initializer", "bias_initializer", "kernel_regularizer",
                            "bias_regularizer", "kernel_constraint", "bias_constraint",
                            "quantization_config"}
    else:
        assert set(out) == CONV_KEYS
        assert out["kernel_size"] == tuple(config["kernel_size"])
        assert out["padding"] == config["padding"] and out["groups"] == 1
    assert out["activation"] == "linear" and out["name"] == config["name"]
    assert out["kernel_initializer"]["class_name"] == "GlorotUniform"
    assert type(layer).from_config(json.loads(json.dumps(out))).get_config() == out


def test_aliases_and_case_insensitive_padding():
    assert mdl.layers.Convolution2D is Conv2D
    assert type(mdl.layers.get({"class_name": "Convolution1D",
                                "config": {"filters": 2, "kernel_size": 3}})) is Conv1D
    assert Conv2D(2, 3, padding="SAME").get_config()["padding"] == "same"


# -- bad input ------------------------------------------------------------------------
@pytest.mark.parametrize("make,message", [
    (lambda: Dense(0), "units=0"),
    (lambda: Dense(-2), "units=-2"),
    (lambda: Dense(2.5), "units=2.5"),
    (lambda: Dense(3, lora_rank=4), "lora_rank"),
    (lambda: Conv2D(0, 3), "filters=0"),
    (lambda: Conv2D(-1, 3), "filters=-1"),
    (lambda: Conv2D(2, 0), "kernel_size=0"),
    (lambda: Conv2D(2, (3, -1)), "kernel_size"),
    (lambda: Conv2D(2, (3, 3, 3)), "kernel_size"),
    (lambda: Conv2D(2, 3, strides=0), "strides=0"),
    (lambda: Conv2D(2, 3, dilation_rate=-1), "dilation_rate=-1"),
    (lambda: Conv2D(2, 3, padding="full"), "padding='full'"),
    (lambda: Conv2D(2, 3, padding=2), "padding=2"),
    (lambda: Conv2D(2, 3, data_format="NHWC"), "data_format='NHWC'"),
    (lambda: Conv2D(2, 3, strides=2, dilation_rate=2), "dilation"),
    (lambda: Conv2D(2, 3, strides=(2, 1), dilation_rate=(1, 2)), "dilation"),
    (lambda: Conv2D(3, 3, groups=2), "groups=2"),
    (lambda: Conv1D(2, 3, padding="causal"), "padding='causal'"),
    (lambda: Conv1D(2, (3, 3)), "kernel_size"),
    (lambda: Conv1D(2, 3, data_format="channels_middle"), "data_format"),
])
def test_bad_arguments_raise_value_error(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


@pytest.mark.parametrize("layer,first,second,message", [
    (Dense(2), (2, 3), (2,), "rank >= 2"),
    (Dense(2), (2, 3), (2, 4), "last axis 3"),
    (Conv2D(2, 3), (1, 5, 5, 3), (5, 5, 3), "4-D input"),
    (Conv2D(2, 3), (1, 5, 5, 3), (1, 5, 5, 4), "built for 3 input channels"),
    (Conv2D(2, 3, data_format="channels_first"), (1, 3, 5, 5), (1, 4, 5, 5),
     "built for 3 input channels"),
    (Conv2D(2, 3), (1, 5, 5, 3), (1, 2, 5, 3), "too small"),
    (Conv1D(2, 3), (1, 5, 3), (1, 5, 5, 3), "3-D input"),
    (Conv1D(2, 3), (1, 5, 3), (1, 5, 2), "built for 3 input channels"),
    (Conv1D(2, 3), (1, 5, 3), (1, 2, 3), "too small"),
])
def test_bad_inputs_raise_value_error(layer, first, second, message):
    layer(np.ones(first, "float32"))
    with pytest.raises(ValueError, match=message):
        layer(np.ones(second, "float32"))


@pytest.mark.parametrize("layer,shape,message", [
    (Dense(2), (3,), "rank >= 2"),
    (Dense(2), (None, None), "must be known"),
    (Conv2D(2, 3), (None, 5, 5), "4-D input"),
    (Conv2D(2, 3), (None, 5, 5, None), "must be known"),
    (Conv2D(2, 5), (None, 4, 8, 3), "too small"),
    (Conv1D(2, 3), (None, 0, 3), "too small"),
])
def test_bad_build_shapes_raise_value_error(layer, shape, message):
    with pytest.raises(ValueError, match=message):
        layer.build(shape)


def test_compute_output_shape_keeps_unknown_sizes():
    assert Conv2D(3, 3, strides=2, padding="same").compute_output_shape(
        (None, None, 7, 2)) == (None, None, 4, 3)
    assert Dense(4).compute_output_shape((None, None, 6)) == (None, None, 4)
