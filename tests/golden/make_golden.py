"""Regenerate the Keras golden files in this folder (run by hand, never by tests).

Needs Keras 3 and JAX, which are NOT dependencies of minidl:

    python3 -m venv /tmp/kerasenv
    /tmp/kerasenv/bin/pip install keras jax jaxlib numpy
    KERAS_BACKEND=jax /tmp/kerasenv/bin/python tests/golden/make_golden.py

Each configuration in CASES becomes one ``<name>.npz`` next to this script;
see README.md for the key layout. Everything is computed in float64.
"""

import os

os.environ["KERAS_BACKEND"] = "jax"  # must precede the keras import

import inspect
import json
import pathlib
import re
import sys
import zlib

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras.src.backend.common import dtypes as keras_dtypes  # noqa: E402

# On non-TensorFlow backends Keras's type promotion (`backend.result_type`) maps
# float64 to float32, so ops.mean (GlobalAveragePooling*) and BatchNormalization
# silently compute float64 inputs in float32 (errors ~1e-7). Make it keep float64,
# as it does on the TensorFlow backend; `check_float64` below verifies that no
# 32-bit float remains anywhere in the traced forward and backward pass.
keras_dtypes.BIT64_TO_BIT32_DTYPE["float64"] = "float64"

OUT_DIR = pathlib.Path(__file__).resolve().parent

# (file name, Keras class name, constructor kwargs, input shape, training flag)
CASES = [
    # Dense
    ("dense_rank2", "Dense", dict(units=4), (2, 3), False),
    ("dense_rank3", "Dense", dict(units=5), (2, 3, 4), False),
    ("dense_relu", "Dense", dict(units=4, activation="relu"), (2, 3), False),
    ("dense_nobias", "Dense", dict(units=4, use_bias=False), (2, 3), False),
    # Conv2D
    ("conv2d_k3_valid", "Conv2D", dict(filters=4, kernel_size=3), (2, 6, 7, 3), False),
    ("conv2d_k3_same", "Conv2D", dict(filters=4, kernel_size=3, padding="same"), (2, 6, 7, 3), False),
    ("conv2d_k23_same_s2", "Conv2D",
     dict(filters=3, kernel_size=(2, 3), strides=2, padding="same"), (2, 7, 6, 2), False),
    ("conv2d_k3_same_d2", "Conv2D",
     dict(filters=3, kernel_size=3, dilation_rate=2, padding="same"), (2, 7, 7, 2), False),
    ("conv2d_cf_k3_same_s2", "Conv2D",
     dict(filters=4, kernel_size=3, strides=2, padding="same", data_format="channels_first"),
     (2, 3, 7, 6), False),
    ("conv2d_s21_valid", "Conv2D", dict(filters=3, kernel_size=3, strides=(2, 1)), (2, 7, 6, 2), False),
    ("conv2d_small_input_same", "Conv2D",
     dict(filters=3, kernel_size=3, padding="same"), (2, 2, 2, 2), False),
    # Conv1D
    ("conv1d_k3_valid", "Conv1D", dict(filters=4, kernel_size=3), (2, 7, 3), False),
    ("conv1d_k2_same_s2", "Conv1D", dict(filters=4, kernel_size=2, strides=2, padding="same"), (2, 7, 3), False),
    ("conv1d_k3_same_d2", "Conv1D",
     dict(filters=3, kernel_size=3, dilation_rate=2, padding="same"), (2, 7, 2), False),
    ("conv1d_cf_k3_same", "Conv1D",
     dict(filters=4, kernel_size=3, padding="same", data_format="channels_first"), (2, 3, 7), False),
    # BatchNormalization
    ("batch_normalization_train", "BatchNormalization", dict(axis=-1), (2, 4, 5, 3), True),
    ("batch_normalization_infer", "BatchNormalization", dict(axis=-1), (2, 4, 5, 3), False),
    ("batch_normalization_axis1_train", "BatchNormalization", dict(axis=1), (2, 3, 4, 5), True),
    ("batch_normalization_nocenter_noscale_train", "BatchNormalization",
     dict(axis=-1, center=False, scale=False), (2, 4, 5, 3), True),
    # MaxPooling2D
    ("max_pooling2d_p2_valid", "MaxPooling2D", dict(pool_size=2), (2, 7, 6, 3), False),
    ("max_pooling2d_p3_s2_same", "MaxPooling2D", dict(pool_size=3, strides=2, padding="same"), (2, 7, 6, 3), False),
    ("max_pooling2d_cf_p2", "MaxPooling2D", dict(pool_size=2, data_format="channels_first"), (2, 3, 7, 6), False),
    # AveragePooling2D
    ("average_pooling2d_p2_valid", "AveragePooling2D", dict(pool_size=2), (2, 7, 6, 3), False),
    ("average_pooling2d_p3_s2_same", "AveragePooling2D",
     dict(pool_size=3, strides=2, padding="same"), (2, 7, 6, 3), False),
    ("average_pooling2d_p23_s1_same", "AveragePooling2D",
     dict(pool_size=(2, 3), strides=1, padding="same"), (2, 5, 6, 2), False),
    ("average_pooling2d_cf_p2", "AveragePooling2D",
     dict(pool_size=2, data_format="channels_first"), (2, 3, 7, 6), False),
    # Global pooling
    ("global_average_pooling2d", "GlobalAveragePooling2D", dict(), (2, 5, 4, 3), False),
    ("global_average_pooling2d_keepdims", "GlobalAveragePooling2D", dict(keepdims=True), (2, 5, 4, 3), False),
    ("global_max_pooling2d", "GlobalMaxPooling2D", dict(), (2, 5, 4, 3), False),
    ("global_max_pooling2d_keepdims", "GlobalMaxPooling2D", dict(keepdims=True), (2, 5, 4, 3), False),
    ("global_average_pooling1d", "GlobalAveragePooling1D", dict(), (2, 6, 3), False),
    # ZeroPadding2D
    ("zero_padding2d_12_01", "ZeroPadding2D", dict(padding=((1, 2), (0, 1))), (2, 4, 5, 3), False),
    # DepthwiseConv2D
    ("depthwise_conv2d_k3_valid_dm1", "DepthwiseConv2D", dict(kernel_size=3), (2, 6, 7, 3), False),
    ("depthwise_conv2d_same_s2_dm2", "DepthwiseConv2D",
     dict(kernel_size=3, strides=2, padding="same", depth_multiplier=2), (2, 7, 6, 3), False),
    ("depthwise_conv2d_k22_same_s2", "DepthwiseConv2D",
     dict(kernel_size=(2, 2), strides=2, padding="same"), (2, 7, 6, 3), False),
    ("depthwise_conv2d_k32_d21_same", "DepthwiseConv2D",
     dict(kernel_size=(3, 2), dilation_rate=(2, 1), padding="same"), (2, 7, 6, 2), False),
    # No strides > 1 together with dilation > 1: Keras 3.15 accepts it for depthwise
    # layers, minidl rejects it (the documented TensorFlow rule), so there is no golden.
    ("depthwise_conv2d_cf_same_dm2", "DepthwiseConv2D",
     dict(kernel_size=3, padding="same", depth_multiplier=2, data_format="channels_first"),
     (2, 3, 6, 7), False),
    ("depthwise_conv2d_s21_valid_dm3", "DepthwiseConv2D",
     dict(kernel_size=3, strides=(2, 1), depth_multiplier=3), (2, 7, 6, 2), False),
    ("depthwise_conv2d_small_input_same", "DepthwiseConv2D",
     dict(kernel_size=3, padding="same"), (2, 2, 2, 3), False),
    ("depthwise_conv2d_relu", "DepthwiseConv2D",
     dict(kernel_size=3, padding="same", activation="relu"), (2, 5, 5, 3), False),
    # SeparableConv2D
    ("separable_conv2d_k3_same", "SeparableConv2D", dict(filters=3, kernel_size=3, padding="same"),
     (2, 6, 7, 2), False),
    ("separable_conv2d_s2_same_dm2", "SeparableConv2D",
     dict(filters=4, kernel_size=3, strides=2, padding="same", depth_multiplier=2), (2, 7, 6, 3), False),
    ("separable_conv2d_cf", "SeparableConv2D",
     dict(filters=4, kernel_size=3, padding="same", data_format="channels_first"), (2, 3, 6, 5), False),
    ("separable_conv2d_d2_valid", "SeparableConv2D",
     dict(filters=3, kernel_size=3, dilation_rate=2), (2, 7, 7, 2), False),
    ("separable_conv2d_nobias", "SeparableConv2D",
     dict(filters=3, kernel_size=3, padding="same", use_bias=False), (2, 5, 6, 2), False),
    # DepthwiseConv1D
    ("depthwise_conv1d_k3_valid", "DepthwiseConv1D", dict(kernel_size=3), (2, 7, 3), False),
    ("depthwise_conv1d_k2_same_s2_dm2", "DepthwiseConv1D",
     dict(kernel_size=2, strides=2, padding="same", depth_multiplier=2), (2, 7, 3), False),
    ("depthwise_conv1d_cf", "DepthwiseConv1D",
     dict(kernel_size=3, padding="same", data_format="channels_first"), (2, 3, 7), False),
    ("depthwise_conv1d_k3_same_d2", "DepthwiseConv1D",
     dict(kernel_size=3, dilation_rate=2, padding="same"), (2, 7, 2), False),
    # SeparableConv1D
    ("separable_conv1d_k3_same", "SeparableConv1D", dict(filters=4, kernel_size=3, padding="same"),
     (2, 7, 3), False),
    ("separable_conv1d_s2_same_dm2", "SeparableConv1D",
     dict(filters=4, kernel_size=3, strides=2, padding="same", depth_multiplier=2), (2, 7, 3), False),
    ("separable_conv1d_cf", "SeparableConv1D",
     dict(filters=4, kernel_size=3, padding="same", data_format="channels_first"), (2, 3, 7), False),
]


def random_weight(rng, variable):
    """Random value for one weight; variances must stay positive."""
    if variable.name == "moving_variance":
        return rng.uniform(0.5, 1.5, size=variable.shape)
    return rng.standard_normal(variable.shape) * 0.5


def check_float64(name, jaxpr):
    """Fail if any intermediate of the traced computation is a low-precision float."""
    low = sorted(set(re.findall(r"\b(?:bf16|f16|f32)\[", str(jaxpr))))
    assert not low, f"{name}: Keras computes part of the layer in {low}, not float64"


class Rejected(Exception):
    """Keras refused to construct or build the configuration."""


def make_golden(name, class_name, kwargs, input_shape, training):
    # Seeded from the file name, so adding or reordering cases leaves other files unchanged.
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    try:
        layer = getattr(keras.layers, class_name)(dtype="float64", **kwargs)
        layer.build(input_shape)
        layer.compute_output_shape(input_shape)
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise Rejected(f"{type(exc).__name__}: {exc}") from exc
    # stateless_call forwards kwargs verbatim, so only pass `training` where call() takes it.
    call_kwargs = {"training": training} if "training" in inspect.signature(layer.call).parameters else {}
    x = rng.standard_normal(input_shape)
    layer.set_weights([random_weight(rng, v) for v in layer.weights])
    weights = layer.get_weights()

    trainable = [jnp.asarray(v.value) for v in layer.trainable_variables]
    non_trainable = [jnp.asarray(v.value) for v in layer.non_trainable_variables]

    def forward(trainable, x):  # -> (outputs, updated non-trainable variables)
        return layer.stateless_call(trainable, non_trainable, x, **call_kwargs)

    y, moving_after = forward(trainable, jnp.asarray(x))
    y = np.asarray(y, dtype=np.float64)
    gy = rng.standard_normal(y.shape)

    def objective(trainable, x):
        out, aux = forward(trainable, x)
        return jnp.sum(out * gy), aux

    grad_fn = jax.grad(objective, argnums=(0, 1), has_aux=True)
    check_float64(name, jax.make_jaxpr(grad_fn)(trainable, jnp.asarray(x)))
    (dw, dx), _ = grad_fn(trainable, jnp.asarray(x))

    arrays = dict(
        class_name=np.array(class_name),
        config=np.array(json.dumps(layer.get_config())),
        training=np.array(bool(training)),
        x=x,
        n_weights=np.array(len(weights)),
        y=y,
        gy=gy,
        dx=np.asarray(dx, dtype=np.float64),
        n_trainable=np.array(len(trainable)),
    )
    arrays.update({f"w{i}": np.asarray(w, dtype=np.float64) for i, w in enumerate(weights)})
    arrays.update({f"dw{i}": np.asarray(g, dtype=np.float64) for i, g in enumerate(dw)})
    if class_name == "BatchNormalization" and training:
        arrays.update({f"moving_after{i}": np.asarray(m, dtype=np.float64)
                       for i, m in enumerate(moving_after)})
    for key, value in arrays.items():
        assert value.dtype != object, key
        if value.dtype.kind == "f":
            assert value.dtype == np.float64, key
    np.savez(OUT_DIR / f"{name}.npz", **arrays)
    return arrays


def main():
    print(f"keras {keras.__version__}, jax {jax.__version__}, numpy {np.__version__}")
    names = [case[0] for case in CASES]
    assert len(names) == len(set(names)), "duplicate file names"
    written, skipped = [], []
    for name, class_name, kwargs, input_shape, training in CASES:
        try:
            arrays = make_golden(name, class_name, kwargs, input_shape, training)
        except Rejected as exc:
            skipped.append(name)
            print(f"SKIPPED {name}: {exc}")
            continue
        written.append(name)
        print(f"wrote {name}.npz  x{arrays['x'].shape} -> y{arrays['y'].shape}, "
              f"{int(arrays['n_weights'])} weights, {int(arrays['n_trainable'])} trainable")
    print(f"{len(written)} files written, {len(skipped)} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
