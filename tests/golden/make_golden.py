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
    # -- merging, cropping, upsampling, 1-D padding and 1-D pooling --
    # merging layers take a list of inputs: the input shape is a list of shapes
    ("merge_add_broadcast", "Add", dict(), [(2, 3, 4), (2, 1, 4)], False),
    ("merge_add_rank", "Add", dict(), [(2, 3, 4), (2, 4)], False),
    ("merge_add_three", "Add", dict(), [(2, 3), (2, 3), (2, 3)], False),
    ("merge_subtract_broadcast", "Subtract", dict(), [(2, 3, 1), (2, 1, 4)], False),
    ("merge_multiply_broadcast", "Multiply", dict(), [(2, 3, 4), (2, 1, 4), (2, 3, 1)], False),
    ("merge_multiply_rank", "Multiply", dict(), [(2, 4), (2, 3, 4)], False),
    ("merge_average_three", "Average", dict(), [(2, 3, 4), (2, 3, 4), (2, 1, 4)], False),
    ("merge_maximum_broadcast", "Maximum", dict(), [(2, 3, 4), (2, 1, 4)], False),
    ("merge_maximum_three", "Maximum", dict(), [(2, 3, 2), (2, 3, 2), (2, 3, 2)], False),
    ("merge_minimum_rank", "Minimum", dict(), [(2, 3, 4), (2, 4)], False),
    ("merge_minimum_three", "Minimum", dict(), [(2, 5), (2, 5), (2, 1)], False),
    ("merge_concatenate_last", "Concatenate", dict(), [(2, 3, 4), (2, 3, 2)], False),
    ("merge_concatenate_axis1", "Concatenate", dict(axis=1), [(2, 3, 4), (2, 1, 4), (2, 2, 4)], False),
    # Cropping1D / Cropping2D
    ("cropping1d_default", "Cropping1D", dict(), (2, 5, 3), False),
    ("cropping1d_20", "Cropping1D", dict(cropping=(2, 0)), (2, 5, 3), False),
    ("cropping2d_12_01", "Cropping2D", dict(cropping=((1, 2), (0, 1))), (2, 5, 4, 3), False),
    ("cropping2d_cf_1", "Cropping2D", dict(cropping=1, data_format="channels_first"), (2, 3, 4, 5), False),
    # ZeroPadding1D
    ("zero_padding1d_default", "ZeroPadding1D", dict(), (2, 4, 3), False),
    ("zero_padding1d_21", "ZeroPadding1D", dict(padding=(2, 1)), (2, 4, 3), False),
    ("zero_padding1d_cf_02", "ZeroPadding1D", dict(padding=(0, 2), data_format="channels_first"),
     (2, 3, 4), False),
    # UpSampling1D / UpSampling2D
    ("up_sampling1d_default", "UpSampling1D", dict(), (2, 3, 2), False),
    ("up_sampling1d_3", "UpSampling1D", dict(size=3), (2, 3, 2), False),
    ("up_sampling2d_nearest", "UpSampling2D", dict(), (2, 3, 2, 2), False),
    ("up_sampling2d_nearest_23_cf", "UpSampling2D", dict(size=(2, 3), data_format="channels_first"),
     (2, 2, 3, 2), False),
    ("up_sampling2d_bilinear", "UpSampling2D", dict(interpolation="bilinear"), (2, 3, 4, 2), False),
    ("up_sampling2d_bilinear_32", "UpSampling2D", dict(size=(3, 2), interpolation="bilinear"),
     (2, 3, 2, 2), False),
    ("up_sampling2d_bilinear_cf_13", "UpSampling2D",
     dict(size=(1, 3), interpolation="bilinear", data_format="channels_first"), (2, 2, 3, 4), False),
    ("up_sampling2d_bilinear_single_pixel", "UpSampling2D", dict(size=(4, 5), interpolation="bilinear"),
     (1, 1, 2, 1), False),
    # MaxPooling1D / AveragePooling1D / GlobalMaxPooling1D
    ("max_pooling1d_p2_valid", "MaxPooling1D", dict(), (2, 7, 3), False),
    ("max_pooling1d_p3_s2_same", "MaxPooling1D", dict(pool_size=3, strides=2, padding="same"), (2, 7, 3), False),
    ("max_pooling1d_cf_p3_s1_valid", "MaxPooling1D",
     dict(pool_size=3, strides=1, data_format="channels_first"), (2, 3, 6), False),
    ("average_pooling1d_p2_valid", "AveragePooling1D", dict(pool_size=2), (2, 7, 3), False),
    ("average_pooling1d_p3_s2_same", "AveragePooling1D",
     dict(pool_size=3, strides=2, padding="same"), (2, 7, 3), False),
    ("average_pooling1d_p4_s1_same", "AveragePooling1D",
     dict(pool_size=4, strides=1, padding="same"), (2, 5, 2), False),
    ("average_pooling1d_cf_p3_s2_same", "AveragePooling1D",
     dict(pool_size=3, strides=2, padding="same", data_format="channels_first"), (2, 3, 7), False),
    ("global_max_pooling1d", "GlobalMaxPooling1D", dict(), (2, 6, 3), False),
    ("global_max_pooling1d_cf_keepdims", "GlobalMaxPooling1D",
     dict(data_format="channels_first", keepdims=True), (2, 3, 6), False),
    # -- activation layers, preprocessing, noise and identity --
    ("softmax_last", "Softmax", dict(), (2, 3, 4), False),
    ("softmax_axis1", "Softmax", dict(axis=1), (2, 3, 4), False),
    ("softmax_axes12", "Softmax", dict(axis=[1, 2]), (2, 3, 4), False),
    ("leaky_relu_default", "LeakyReLU", dict(), (2, 3, 4), False),
    ("leaky_relu_slope01", "LeakyReLU", dict(negative_slope=0.1), (2, 5), False),
    ("prelu", "PReLU", dict(), (2, 3, 4), False),
    ("prelu_shared_12", "PReLU", dict(shared_axes=[1, 2]), (2, 3, 4, 5), False),
    ("prelu_shared_1", "PReLU", dict(shared_axes=1), (2, 3, 4), False),
    ("elu_default", "ELU", dict(), (2, 3, 4), False),
    ("elu_alpha05", "ELU", dict(alpha=0.5), (2, 5), False),
    ("rescaling_scalar", "Rescaling", dict(scale=1 / 127.5, offset=-1.0), (2, 3, 4), False),
    ("rescaling_per_channel", "Rescaling",
     dict(scale=[0.5, 2.0, -1.5], offset=[0.25, 0.0, 1.0]), (2, 4, 3), False),
    # mean and variance exact in float32: Keras reads Python floats as float32 first
    ("normalization_given", "Normalization",
     dict(mean=[0.5, -1.0, 2.0], variance=[1.0, 0.25, 4.0]), (2, 4, 3), False),
    ("normalization_given_invert", "Normalization",
     dict(mean=[0.5, -1.0, 2.0], variance=[1.0, 0.25, 4.0], invert=True), (2, 4, 3), False),
    ("normalization_given_scalar", "Normalization",
     dict(axis=None, mean=0.5, variance=2.0), (2, 3, 4), False),
    ("normalization_given_axes12", "Normalization",
     dict(axis=(1, 2), mean=[0.5, -1.5, 0.0], variance=[2.0, 0.5, 1e-16]), (2, 2, 3), False),
    ("identity", "Identity", dict(), (2, 3, 4), False),
    ("activation_hard_sigmoid", "Activation", dict(activation="hard_sigmoid"), (2, 3, 4), False),
    ("activation_hard_silu", "Activation", dict(activation="hard_silu"), (2, 3, 4), False),
    ("activation_hard_swish", "Activation", dict(activation="hard_swish"), (2, 3, 4), False),
    ("activation_silu", "Activation", dict(activation="silu"), (2, 3, 4), False),
    ("activation_swish", "Activation", dict(activation="swish"), (2, 3, 4), False),
    ("activation_gelu", "Activation", dict(activation="gelu"), (2, 3, 4), False),
    ("activation_mish", "Activation", dict(activation="mish"), (2, 3, 4), False),
    ("activation_relu6", "Activation", dict(activation="relu6"), (2, 3, 4), False),
    ("activation_softplus", "Activation", dict(activation="softplus"), (2, 3, 4), False),
    ("activation_softsign", "Activation", dict(activation="softsign"), (2, 3, 4), False),
    ("activation_selu", "Activation", dict(activation="selu"), (2, 3, 4), False),
    ("activation_elu", "Activation", dict(activation="elu"), (2, 3, 4), False),
    ("activation_leaky_relu", "Activation", dict(activation="leaky_relu"), (2, 3, 4), False),
    ("activation_celu", "Activation", dict(activation="celu"), (2, 3, 4), False),
    ("activation_log_softmax", "Activation", dict(activation="log_softmax"), (2, 3, 4), False),
    ("activation_log_sigmoid", "Activation", dict(activation="log_sigmoid"), (2, 3, 4), False),
    ("activation_hard_tanh", "Activation", dict(activation="hard_tanh"), (2, 3, 4), False),
    ("activation_glu", "Activation", dict(activation="glu"), (2, 3, 4), False),
    ("activation_tanh_shrink", "Activation", dict(activation="tanh_shrink"), (2, 3, 4), False),
    ("activation_soft_shrink", "Activation", dict(activation="soft_shrink"), (2, 3, 4), False),
    ("activation_hard_shrink", "Activation", dict(activation="hard_shrink"), (2, 3, 4), False),
    ("activation_squareplus", "Activation", dict(activation="squareplus"), (2, 3, 4), False),
    ("activation_sparse_plus", "Activation", dict(activation="sparse_plus"), (2, 3, 4), False),
    ("activation_sparse_sigmoid", "Activation", dict(activation="sparse_sigmoid"), (2, 3, 4),
     False),
    # -- layer and group normalization, grouped convolutions --
    ("layer_normalization_last", "LayerNormalization", dict(), (2, 3, 4), False),
    ("layer_normalization_axes12", "LayerNormalization", dict(axis=[1, 2]), (2, 3, 4), False),
    ("layer_normalization_axes13", "LayerNormalization", dict(axis=[3, 1]), (2, 3, 2, 4), False),
    ("layer_normalization_noscale", "LayerNormalization", dict(axis=1, scale=False),
     (2, 5, 3), False),
    ("layer_normalization_nocenter_noscale", "LayerNormalization",
     dict(center=False, scale=False, epsilon=0.1), (2, 3, 4), False),
    ("layer_normalization_rms", "LayerNormalization", dict(rms_scaling=True), (2, 3, 5), False),
    ("group_normalization_g2", "GroupNormalization", dict(groups=2), (2, 5, 4), False),
    ("group_normalization_g1", "GroupNormalization", dict(groups=1), (2, 3, 3, 4), False),
    ("group_normalization_instance", "GroupNormalization", dict(groups=-1), (2, 3, 3, 4), False),
    ("group_normalization_cf_g2", "GroupNormalization", dict(groups=2, axis=1), (2, 4, 3, 3), False),
    ("group_normalization_nocenter_g3", "GroupNormalization",
     dict(groups=3, center=False, epsilon=0.01), (2, 4, 6), False),
    ("conv2d_groups2_same", "Conv2D", dict(filters=4, kernel_size=3, padding="same", groups=2),
     (2, 5, 6, 4), False),
    ("conv2d_groups3_s2", "Conv2D",
     dict(filters=6, kernel_size=(3, 2), strides=2, padding="same", groups=3), (2, 5, 5, 3), False),
    ("conv2d_groups2_cf", "Conv2D",
     dict(filters=2, kernel_size=2, groups=2, data_format="channels_first"), (2, 4, 5, 4), False),
    ("conv1d_groups2_d2", "Conv1D", dict(filters=6, kernel_size=3, dilation_rate=2, groups=2),
     (2, 8, 4), False),
    ("conv1d_groups3_cf", "Conv1D",
     dict(filters=3, kernel_size=3, padding="same", groups=3, data_format="channels_first"),
     (2, 3, 7), False),
    # -- resizing and cropping for augmentation --
    ("resizing_bilinear_up", "Resizing", dict(height=7, width=9), (2, 4, 5, 2), False),
    ("resizing_bilinear_down", "Resizing", dict(height=3, width=2), (2, 7, 5, 2), False),
    ("resizing_bilinear_antialias", "Resizing", dict(height=3, width=4, antialias=True),
     (2, 7, 9, 2), False),
    ("resizing_bilinear_crop_aspect", "Resizing",
     dict(height=4, width=3, crop_to_aspect_ratio=True), (2, 5, 8, 2), False),
    ("resizing_bilinear_pad_aspect", "Resizing",
     dict(height=4, width=6, pad_to_aspect_ratio=True, fill_value=0.5), (2, 5, 4, 2), False),
    ("resizing_bilinear_cf", "Resizing", dict(height=5, width=3, data_format="channels_first"),
     (2, 2, 4, 6), False),
    # No "nearest" Resizing: JAX computes its source indices in float32, which
    # check_float64 rejects; tests/test_augmentation.py holds it against a loop reference.
    ("center_crop_inside", "CenterCrop", dict(height=3, width=4), (2, 6, 7, 2), False),
    ("center_crop_cf", "CenterCrop", dict(height=2, width=3, data_format="channels_first"),
     (2, 2, 5, 4), False),
    ("center_crop_larger", "CenterCrop", dict(height=6, width=3), (2, 4, 5, 2), False),
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


def per_input(key, value, several):
    """``{key: value}``, or ``{key0: value[0], key1: value[1], ...}`` for several inputs."""
    if not several:
        return {key: np.asarray(value, dtype=np.float64)}
    return {f"{key}{i}": np.asarray(v, dtype=np.float64) for i, v in enumerate(value)}


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
    several = isinstance(input_shape, list)  # a merging layer: one array per shape
    x = [rng.standard_normal(s) for s in input_shape] if several else rng.standard_normal(input_shape)
    x_jax = [jnp.asarray(v) for v in x] if several else jnp.asarray(x)
    layer.set_weights([random_weight(rng, v) for v in layer.weights])
    weights = layer.get_weights()

    trainable = [jnp.asarray(v.value) for v in layer.trainable_variables]
    non_trainable = [jnp.asarray(v.value) for v in layer.non_trainable_variables]

    def forward(trainable, x):  # -> (outputs, updated non-trainable variables)
        return layer.stateless_call(trainable, non_trainable, x, **call_kwargs)

    y, moving_after = forward(trainable, x_jax)
    y = np.asarray(y, dtype=np.float64)
    gy = rng.standard_normal(y.shape)

    def objective(trainable, x):
        out, aux = forward(trainable, x)
        return jnp.sum(out * gy), aux

    grad_fn = jax.grad(objective, argnums=(0, 1), has_aux=True)
    check_float64(name, jax.make_jaxpr(grad_fn)(trainable, x_jax))
    (dw, dx), _ = grad_fn(trainable, x_jax)

    arrays = dict(
        class_name=np.array(class_name),
        config=np.array(json.dumps(layer.get_config())),
        training=np.array(bool(training)),
        **per_input("x", x, several),
        n_weights=np.array(len(weights)),
        y=y,
        gy=gy,
        **per_input("dx", dx, several),
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


def main(argv):
    """``make_golden.py [PATTERN]``: write every case, or those whose name matches the
    regular expression PATTERN."""
    print(f"keras {keras.__version__}, jax {jax.__version__}, numpy {np.__version__}")
    names = [case[0] for case in CASES]
    assert len(names) == len(set(names)), "duplicate file names"
    pattern = re.compile(argv[0]) if argv else None
    written, skipped = [], []
    for name, class_name, kwargs, input_shape, training in CASES:
        if pattern is not None and not pattern.search(name):
            continue
        try:
            arrays = make_golden(name, class_name, kwargs, input_shape, training)
        except Rejected as exc:
            skipped.append(name)
            print(f"SKIPPED {name}: {exc}")
            continue
        written.append(name)
        x_shapes = arrays["x"].shape if "x" in arrays else \
            [v.shape for k, v in arrays.items() if re.fullmatch(r"x\d+", k)]
        print(f"wrote {name}.npz  x{x_shapes} -> y{arrays['y'].shape}, "
              f"{int(arrays['n_weights'])} weights, {int(arrays['n_trainable'])} trainable")
    print(f"{len(written)} files written, {len(skipped)} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
