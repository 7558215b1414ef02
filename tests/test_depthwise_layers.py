"""DepthwiseConv2D, DepthwiseConv1D, SeparableConv2D, SeparableConv1D: the shared layer
harness, values against a per-channel scipy reference, Keras 3 arguments and configs, and
bad input. (Keras's exact numbers are in test_golden.py; the op maths in
test_depthwise_ops.py.)"""
import importlib.util
import json

import numpy as np
import pytest
import scipy.signal

import minidl as mdl
from minidl.layers import DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D
from minidl.testing import layer_test


def correlate_depthwise(x, kernel, padding):
    """Stride 1, dilation 1, channels_last: scipy.signal.correlate2d per channel and
    multiplier, "same" padded as TensorFlow does (extra row/column at the end)."""
    n, h, w, c = x.shape
    kh, kw, _, m = kernel.shape
    top, left = ((kh - 1) // 2, (kw - 1) // 2) if padding == "same" else (0, 0)
    bottom, right = ((kh - 1) - top, (kw - 1) - left) if padding == "same" else (0, 0)
    out = np.stack([np.stack([
        scipy.signal.correlate2d(np.pad(x[b, :, :, ch], ((top, bottom), (left, right))),
                                 kernel[:, :, ch, k], "valid")
        for ch in range(c) for k in range(m)], axis=-1) for b in range(n)])
    return out


# -- the shared harness --------------------------------------------------------------------

DEPTHWISE2D_CASES = [
    (dict(kernel_size=3), (2, 5, 6, 2), (2, 3, 4, 2)),
    (dict(kernel_size=(2, 3), strides=2, padding="same", depth_multiplier=2,
          activation="tanh"), (2, 5, 6, 2), (2, 3, 3, 4)),
    (dict(kernel_size=3, dilation_rate=2, padding="SAME", data_format="channels_first",
          use_bias=False, activation="relu"), (1, 2, 5, 5), (1, 2, 5, 5)),
    (dict(kernel_size=5, padding="same", activation="sigmoid"), (1, 3, 2, 2), (1, 3, 2, 2)),
    (dict(kernel_size=(3, 1), strides=(1, 3), depth_multiplier=3, activation="elu"),
     (2, 4, 7, 1), (2, 2, 3, 3)),
]


@pytest.mark.parametrize("kwargs,input_shape,output_shape", DEPTHWISE2D_CASES)
def test_depthwise_conv2d_layer_test(kwargs, input_shape, output_shape):
    layer_test(DepthwiseConv2D, kwargs, input_shape, expected_output_shape=output_shape,
               expected_num_trainable_weights=1 + kwargs.get("use_bias", True),
               expected_num_non_trainable_weights=0, expected_num_losses=0)


@pytest.mark.parametrize("kwargs,input_shape,output_shape", [
    (dict(kernel_size=3), (2, 7, 2), (2, 5, 2)),
    (dict(kernel_size=2, strides=2, padding="same", depth_multiplier=2, activation="tanh"),
     (2, 7, 3), (2, 4, 6)),
    (dict(kernel_size=3, dilation_rate=2, padding="same", data_format="channels_first",
          use_bias=False), (2, 3, 6), (2, 3, 6)),
])
def test_depthwise_conv1d_layer_test(kwargs, input_shape, output_shape):
    layer_test(DepthwiseConv1D, kwargs, input_shape, expected_output_shape=output_shape,
               expected_num_trainable_weights=1 + kwargs.get("use_bias", True),
               expected_num_non_trainable_weights=0, expected_num_losses=0)


@pytest.mark.parametrize("kwargs,input_shape,output_shape", [
    (dict(filters=3, kernel_size=3), (2, 5, 6, 2), (2, 3, 4, 3)),
    (dict(filters=2, kernel_size=3, strides=2, padding="same", depth_multiplier=2,
          activation="relu"), (2, 5, 5, 2), (2, 3, 3, 2)),
    (dict(filters=4, kernel_size=(2, 3), dilation_rate=(2, 1), padding="same",
          data_format="channels_first", use_bias=False, activation="tanh"), (1, 3, 4, 5),
     (1, 4, 4, 5)),
])
def test_separable_conv2d_layer_test(kwargs, input_shape, output_shape):
    layer_test(SeparableConv2D, kwargs, input_shape, expected_output_shape=output_shape,
               expected_num_trainable_weights=2 + kwargs.get("use_bias", True),
               expected_num_non_trainable_weights=0, expected_num_losses=0)


@pytest.mark.parametrize("kwargs,input_shape,output_shape", [
    (dict(filters=3, kernel_size=3), (2, 7, 2), (2, 5, 3)),
    (dict(filters=2, kernel_size=3, strides=2, padding="same", depth_multiplier=3,
          data_format="channels_first", activation="sigmoid"), (2, 2, 7), (2, 2, 4)),
])
def test_separable_conv1d_layer_test(kwargs, input_shape, output_shape):
    layer_test(SeparableConv1D, kwargs, input_shape, expected_output_shape=output_shape,
               expected_num_trainable_weights=3, expected_num_non_trainable_weights=0,
               expected_num_losses=0)


def test_regularizers_and_constraints_reach_the_weights():
    kwargs = dict(filters=2, kernel_size=2, depthwise_regularizer="l2",
                  pointwise_regularizer="l1", bias_regularizer="l2",
                  activity_regularizer="l1", depthwise_constraint="non_neg",
                  pointwise_constraint="max_norm", bias_constraint="non_neg")
    layer_test(SeparableConv2D, kwargs, (2, 4, 4, 2), expected_output_shape=(2, 3, 3, 2),
               expected_num_trainable_weights=3, expected_num_losses=4)
    layer = SeparableConv2D(**kwargs)
    layer(np.ones((1, 3, 3, 2)))
    assert layer.depthwise_kernel.constraint is not None
    assert layer.pointwise_kernel.regularizer is not None
    dw = DepthwiseConv2D(2, depthwise_regularizer="l2", bias_regularizer="l1",
                         activity_regularizer="l2")
    dw(np.ones((1, 3, 3, 2)))
    assert len(dw.losses) == 3


@pytest.mark.parametrize("cls,kwargs,shape", [
    (DepthwiseConv2D, dict(kernel_size=(2, 3), strides=(2, 1), depth_multiplier=2,
                           padding="same", activation="tanh"), (2, 5, 4, 2)),
    (SeparableConv1D,
     dict(filters=2, kernel_size=2, dilation_rate=2, activation="softplus"), (2, 6, 2)),
])
def test_layer_gradients_scipy_method(cls, kwargs, shape):
    layer = cls(**kwargs)
    x = np.random.default_rng(3).standard_normal(shape)
    mdl.gradcheck.check_layer(layer, x, method="scipy")


# -- values --------------------------------------------------------------------------------

@pytest.mark.parametrize("padding", ["same", "valid"])
def test_depthwise_layer_values_match_scipy(padding, rng):
    x = rng.standard_normal((2, 6, 5, 3))
    layer = DepthwiseConv2D((3, 2), padding=padding, depth_multiplier=2, activation="relu",
                            dtype="float64")
    layer(x)
    kernel, bias = rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(6)
    layer.set_weights([kernel, bias])
    expected = np.maximum(correlate_depthwise(x, kernel, padding) + bias, 0)
    np.testing.assert_allclose(layer(x).numpy(), expected, atol=1e-12)


def test_separable_layer_values_and_channels_first(rng):
    x = rng.standard_normal((2, 5, 6, 2))
    kernel, pointwise, bias = (rng.standard_normal((3, 3, 2, 2)),
                               rng.standard_normal((1, 1, 4, 3)), rng.standard_normal(3))
    expected = np.tanh(correlate_depthwise(x, kernel, "same") @ pointwise[0, 0] + bias)
    for data_format in ("channels_last", "channels_first"):
        layer = SeparableConv2D(3, 3, padding="same", depth_multiplier=2, activation="tanh",
                                data_format=data_format, dtype="float64")
        x_in = np.moveaxis(x, -1, 1) if data_format == "channels_first" else x
        layer(x_in)
        layer.set_weights([kernel, pointwise, bias])
        y = layer(x_in).numpy()
        y = np.moveaxis(y, 1, -1) if data_format == "channels_first" else y
        np.testing.assert_allclose(y, expected, atol=1e-12)


def test_float32_layer_stays_float32(rng):
    layer = SeparableConv2D(4, 3, padding="same")
    x = mdl.tensor(rng.standard_normal((2, 6, 6, 3)).astype("float32"), requires_grad=True)
    y = layer(x)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32
    assert all(w.grad.dtype == np.float32 for w in layer.weights)


@pytest.mark.parametrize("path", [pytest.param("numba", marks=pytest.mark.skipif(
    importlib.util.find_spec("numba") is None, reason="Numba is not installed")), "numpy"])
@pytest.mark.parametrize("layer", [
    lambda: SeparableConv1D(7, 2, padding="same", dilation_rate=2, bias_initializer="ones"),
    lambda: DepthwiseConv1D(2, padding="same", dilation_rate=2, depth_multiplier=2,
                            bias_initializer="ones"),
    lambda: DepthwiseConv2D(2, padding="same", dilation_rate=2, bias_initializer="ones"),
])
def test_same_padding_on_an_input_smaller_than_the_dilated_kernel(layer, path, rng):
    """One input position and a kernel spanning three: ``ceil(L / s)`` outputs, which no
    tap reaches, so the output is the bias (Keras gives the same)."""
    saved = mdl.config.get("cpu_kernels")
    mdl.config.set_cpu_kernels(path)
    try:
        layer = layer()
        x = rng.standard_normal((2, 1, 3) if layer.rank == 1 else (2, 1, 1, 3))
        y = layer(x).numpy()
        np.testing.assert_array_equal(y, np.ones(layer.compute_output_shape(x.shape)))
        mdl.gradcheck.check_layer(layer, x)
    finally:
        mdl.config.set_cpu_kernels(saved)


# -- Keras 3 arguments, weights and configs ------------------------------------------------

def test_weights_names_shapes_and_alias():
    dw = DepthwiseConv2D(3, depth_multiplier=2)
    dw(np.ones((1, 5, 5, 3)))
    assert [w.name for w in dw.weights] == ["kernel", "bias"]
    assert [w.shape for w in dw.weights] == [(3, 3, 3, 2), (6,)]
    assert dw.depthwise_kernel is dw.kernel
    sep = SeparableConv2D(4, (2, 3), depth_multiplier=2, use_bias=False)
    sep(np.ones((1, 5, 5, 3)))
    assert [w.name for w in sep.weights] == ["depthwise_kernel", "pointwise_kernel"]
    assert [w.shape for w in sep.weights] == [(2, 3, 3, 2), (1, 1, 6, 4)]
    assert sep.count_params() == 2 * 3 * 3 * 2 + 6 * 4
    sep1 = SeparableConv1D(4, 3)
    sep1(np.ones((1, 5, 2)))
    assert [w.shape for w in sep1.weights] == [(3, 2, 1), (1, 2, 4), (4,)]
    # Keras's glorot rule for conv kernels: fan_in = 3*3*3, fan_out = 3*3*2
    limit = np.sqrt(6.0 / (27 + 18))
    assert np.abs(dw.kernel.numpy()).max() <= limit and dw.kernel.numpy().std() > limit / 4


def test_positional_arguments_follow_keras():
    dw = DepthwiseConv2D(3, 2, "same", 2, "channels_first", 1, "relu", False)
    assert (dw.kernel_size, dw.strides, dw.padding, dw.depth_multiplier, dw.data_format,
            dw.dilation_rate, dw.use_bias) == ((3, 3), (2, 2), "same", 2, "channels_first",
                                               (1, 1), False)
    sep = SeparableConv2D(4, 3, 1, "same", "channels_last", 2, 3, "tanh")
    assert (sep.filters, sep.dilation_rate, sep.depth_multiplier) == (4, (2, 2), 3)
    assert mdl.activations.serialize(sep.activation) == "tanh"
    dw1 = DepthwiseConv1D(5, 2, "valid", 3)
    assert (dw1.kernel_size, dw1.strides, dw1.depth_multiplier) == ((5,), (2,), 3)


DEPTHWISE_KEYS = {"name", "trainable", "dtype", "depth_multiplier", "kernel_size",
                  "strides", "padding", "data_format", "dilation_rate", "activation",
                  "use_bias", "depthwise_initializer", "bias_initializer",
                  "depthwise_regularizer", "bias_regularizer", "activity_regularizer",
                  "depthwise_constraint",
                  "bias_constraint"}
SEPARABLE_KEYS = DEPTHWISE_KEYS | {"filters", "pointwise_initializer",
                                   "pointwise_regularizer", "pointwise_constraint"}


def test_get_config_has_keras_keys_and_round_trips():
    dw = DepthwiseConv2D(3, depth_multiplier=2, activation="relu", name="dw")
    config = dw.get_config()
    assert set(config) == DEPTHWISE_KEYS
    assert config["activation"] == "relu" and config["depth_multiplier"] == 2
    assert config["kernel_size"] == (3, 3) and config["dilation_rate"] == (1, 1)
    assert config["data_format"] == "channels_last"
    assert DepthwiseConv2D(3).get_config()["activation"] == "linear"
    assert set(DepthwiseConv1D(3).get_config()) == DEPTHWISE_KEYS
    sep = SeparableConv1D(2, 3, pointwise_regularizer="l2", bias_constraint="non_neg")
    config = sep.get_config()
    assert set(config) == SEPARABLE_KEYS and config["filters"] == 2
    assert config["pointwise_regularizer"]["class_name"] == "L2"
    json.dumps(config)
    assert SeparableConv1D.from_config(config).get_config() == config
    assert set(SeparableConv2D(2, 3).get_config()) == SEPARABLE_KEYS


def test_keras3_configs_are_accepted_as_they_come():
    """Configs exactly as Keras 3's get_config() writes them (lists, serialized objects,
    "linear", a DTypePolicy dtype)."""
    initializer = {"module": "keras.initializers", "class_name": "GlorotUniform",
                   "config": {"seed": None}, "registered_name": None}
    zeros = {"module": "keras.initializers", "class_name": "Zeros", "config": {},
             "registered_name": None}
    l2 = {"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01},
          "registered_name": None}
    max_norm = {"module": "keras.constraints", "class_name": "MaxNorm",
                "config": {"max_value": 2.0, "axis": 0}, "registered_name": None}
    config = {"name": "separable_conv2d_3", "trainable": True,
              "dtype": {"module": "keras", "class_name": "DTypePolicy",
                        "config": {"name": "float64"}, "registered_name": None},
              "depth_multiplier": 2, "filters": 4, "kernel_size": [3, 3], "strides": [2, 2],
              "padding": "same", "data_format": "channels_last", "dilation_rate": [1, 1],
              "activation": "linear", "use_bias": True,
              "depthwise_initializer": initializer,
              "pointwise_initializer": initializer, "bias_initializer": zeros,
              "depthwise_regularizer": l2, "pointwise_regularizer": None,
              "bias_regularizer": None, "activity_regularizer": None,
              "depthwise_constraint": max_norm, "pointwise_constraint": None,
              "bias_constraint": None}
    layer = SeparableConv2D.from_config(config)
    assert layer.dtype == "float64" and layer.strides == (2, 2)
    y = layer(np.ones((2, 7, 6, 3)))
    assert y.shape == (2, 4, 3, 4) and y.dtype == np.float64 and len(layer.losses) == 1
    config = {k: v for k, v in config.items() if "pointwise" not in k and k != "filters"}
    dw = DepthwiseConv2D.from_config(dict(config, kernel_size=[2, 2], activation="relu"))
    assert dw(np.ones((1, 4, 4, 3))).shape == (1, 2, 2, 6)
    assert dw.get_config()["depthwise_regularizer"]["config"]["l2"] == pytest.approx(0.01)


def test_common_keyword_arguments(rng):
    kernel, bias = rng.standard_normal((3, 3, 2, 1)), rng.standard_normal(2)
    layer = DepthwiseConv2D(3, name="dw_frozen", trainable=False, dtype="float64",
                            input_shape=(5, 5, 2), weights=[kernel, bias])
    assert layer.batch_input_shape == (None, 5, 5, 2)
    y = layer(np.ones((1, 5, 5, 2)))
    assert layer.name == "dw_frozen" and layer.trainable_weights == []
    assert y.dtype == "float64"
    np.testing.assert_array_equal(layer.get_weights()[0], kernel)
    sized = SeparableConv1D(2, 3, batch_input_shape=(4, 6, 3))
    assert sized.batch_input_shape == (4, 6, 3)
    sized = DepthwiseConv1D(3, batch_size=8, input_shape=(6, 2))
    assert sized.batch_input_shape == (8, 6, 2)


def test_data_format_none_reads_the_config():
    previous = mdl.config.image_data_format()
    mdl.config.set_image_data_format("channels_first")
    try:
        layer = DepthwiseConv2D(3, padding="same", depth_multiplier=2)
    finally:
        mdl.config.set_image_data_format(previous)
    assert layer.data_format == "channels_first"
    assert layer(np.ones((1, 3, 5, 4))).shape == (1, 6, 5, 4)


def test_compute_output_shape_with_unknown_sizes():
    assert DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=3) \
        .compute_output_shape((None, 7, None, 4)) == (None, 4, None, 12)
    assert SeparableConv2D(5, 3, data_format="channels_first") \
        .compute_output_shape((2, 3, 9, 8)) == (2, 5, 7, 6)


# -- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize("build,words", [
    (lambda: DepthwiseConv2D(3, strides=2, dilation_rate=2), ["strides", "dilation_rate"]),
    (lambda: DepthwiseConv2D(3, strides=(2, 1), dilation_rate=(1, 2)),
     ["strides=(2, 1)", "dilation_rate=(1, 2)"]),
    (lambda: SeparableConv2D(3, 4, 3, 2), ["padding=2"]),
    (lambda: DepthwiseConv2D(3, padding="causal"), ["padding='causal'"]),
    (lambda: DepthwiseConv2D(0), ["kernel_size=0"]),
    (lambda: DepthwiseConv2D((3, -1)), ["kernel_size=(3, -1)"]),
    (lambda: DepthwiseConv2D((3, 3, 3)), ["kernel_size=(3, 3, 3)"]),
    (lambda: DepthwiseConv2D(3, strides=0), ["strides=0"]),
    (lambda: DepthwiseConv2D(3, strides=(1, 2, 1)), ["strides=(1, 2, 1)"]),
    (lambda: DepthwiseConv2D(3, dilation_rate=-2), ["dilation_rate=-2"]),
    (lambda: SeparableConv2D(2, 3, dilation_rate=(1, 2, 1)), ["dilation_rate=(1, 2, 1)"]),
    (lambda: DepthwiseConv1D(3, dilation_rate=0), ["dilation_rate=0"]),
    (lambda: DepthwiseConv2D(3, depth_multiplier=0), ["depth_multiplier=0"]),
    (lambda: DepthwiseConv1D(3, depth_multiplier=-1), ["depth_multiplier=-1"]),
    (lambda: DepthwiseConv1D((3, 3)), ["kernel_size=(3, 3)"]),
    (lambda: SeparableConv2D(0, 3), ["filters=0"]),
    (lambda: SeparableConv1D(-2, 3), ["filters=-2"]),
    (lambda: SeparableConv1D(2, 3, strides=2, dilation_rate=2),
     ["strides", "dilation_rate"]),
    (lambda: DepthwiseConv2D(3, data_format="NHWC"), ["data_format='NHWC'"]),
])
def test_bad_arguments_raise_at_construction(build, words):
    with pytest.raises(ValueError) as err:
        build()
    for word in words:
        assert word in str(err.value)


def test_bad_inputs_raise_at_call():
    layer = DepthwiseConv2D(3)
    with pytest.raises(ValueError, match=r"expects a 4-D input .* got shape \(5, 5, 2\)"):
        layer(np.ones((5, 5, 2)))
    layer(np.ones((1, 5, 5, 2)))
    with pytest.raises(ValueError, match="built for 2 input channels.* with 3"):
        layer(np.ones((1, 5, 5, 3)))
    with pytest.raises(ValueError, match="too small for kernel_size=.*empty"):
        DepthwiseConv2D(3)(np.ones((1, 2, 5, 2)))
    with pytest.raises(ValueError, match="too small"):
        SeparableConv2D(2, 2, dilation_rate=4)(np.ones((1, 4, 4, 2)))
    with pytest.raises(ValueError, match=r"expects a 3-D input \(N, L, C\)"):
        SeparableConv1D(2, 3)(np.ones((1, 5, 5, 2)))
    sep = SeparableConv1D(2, 3, data_format="channels_first")
    sep(np.ones((1, 3, 6)))
    with pytest.raises(ValueError, match="built for 3 input channels"):
        sep(np.ones((1, 4, 6)))
