"""EfficientNet (Tan and Le, 2019): MobileNetV2-style blocks with squeeze-and-excitation
and swish, scaled in width and depth.

The graph, layer names and weight order are Keras 3's ``keras.applications.
EfficientNetB0``: ``Rescaling`` of [0, 255] pixels to [0, 1] and a ``Normalization``
(mean 0 and variance 1 until set), a 3x3 stride-2 stem (``stem_conv``), seven stages of
MBConv blocks ``block<stage><letter>_`` (1x1 ``expand_conv`` unless the expansion is 1,
depthwise ``dwconv``, squeeze-and-excitation ``se_*``, 1x1 ``project_conv``; a block
that keeps stride 1 and its width adds its input after a per-sample ``Dropout``, the
"drop connect", whose rate grows linearly from 0 to 0.2 over the blocks), and a 1x1
``top_conv`` to 1280 channels. Convolution kernels start from
``VarianceScaling(2.0, "fan_out", "truncated_normal")`` and the classifier's from
``VarianceScaling(1/3, "fan_out", "uniform")``.

>>> import minidl as mdl
>>> model = mdl.applications.EfficientNetB0(input_shape=(32, 32, 3), classes=10)
>>> model.name, model.output_shape, model.count_params()
('efficientnetb0', (None, 10), 4062381)
"""
import math

from .. import initializers, layers
from ..models import Model
from .common import (
    channel_axis,
    checked_input,
    correct_pad,
    load_weights_file,
    make_divisible,
    pooled,
)

__all__ = ["EfficientNetB0"]

# (kernel, repeats, filters in, filters out, expansion, stride) of the seven stages; every
# block has squeeze-and-excitation with ratio 0.25 and an identity skip where it fits
STAGES = [(3, 1, 32, 16, 1, 1), (3, 2, 16, 24, 6, 2), (5, 2, 24, 40, 6, 2),
          (3, 3, 40, 80, 6, 2), (5, 3, 80, 112, 6, 1), (5, 4, 112, 192, 6, 2),
          (3, 1, 192, 320, 6, 1)]
SE_RATIO = 0.25


def _conv_init():
    return initializers.VarianceScaling(scale=2.0, mode="fan_out",
                                        distribution="truncated_normal")


def _dense_init():
    return initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_out",
                                        distribution="uniform")


def EfficientNetB0(include_top: bool = True, weights: str | None = None, input_tensor=None,
                   input_shape: tuple | list | None = None, pooling: str | None = None,
                   classes: int = 1000, classifier_activation: str | None = "softmax",
                   name: str = "efficientnetb0") -> Model:
    """EfficientNetB0 as a functional model (width and depth coefficients 1.0).

    Args:
        include_top: whether to end with global average pooling (``avg_pool``), dropout
            0.2 (``top_dropout``) and a ``Dense`` classifier (``predictions``).
        weights: None (random initialization) or the path of a weights file (from
            ``model.save_weights``); nothing is ever downloaded.
        input_tensor: a symbolic tensor to use as the image input.
        input_shape: image shape without the batch axis, at least 32x32 (default
            ``(224, 224, 3)`` with the top, any size without it).
        pooling: without the top, "avg" (``avg_pool``) or "max" (``max_pool``) global
            pooling, or None (the 4-D feature map).
        classes: number of classes of the classifier.
        classifier_activation: activation of the classifier (None: logits).
        name: the model's name.

    Input shape:
        ``(batch, rows, cols, channels)`` (channels_last), pixels in [0, 255].

    Output shape:
        ``(batch, classes)`` with the top; else pooled ``(batch, 1280)`` or the feature
        map ``(batch, rows / 32, cols / 32, 1280)``.

    Returns:
        A ``minidl.models.Functional``.

    Raises:
        ValueError: weights other than None or a file, a bad input shape, pooling or
            classes.
    """
    return _efficientnet(1.0, 1.0, 224, 0.2, include_top, weights, input_tensor,
                         input_shape, pooling, classes, classifier_activation, name)


def _efficientnet(width_coefficient, depth_coefficient, default_size, dropout_rate,
                  include_top, weights, input_tensor, input_shape, pooling, classes,
                  classifier_activation, name, drop_connect_rate=0.2,
                  activation="swish"):
    image, inputs = checked_input(weights, pooling, classes, input_shape, input_tensor,
                                  default_size, require_flatten=include_top)
    axis = 3 if channel_axis() == -1 else 1
    x = layers.Rescaling(1.0 / 255.0)(image)
    x = layers.Normalization(axis=axis)(x)
    x = layers.ZeroPadding2D(padding=correct_pad(x, 3), name="stem_conv_pad")(x)
    x = layers.Conv2D(_round_filters(32, width_coefficient), 3, strides=2, padding="valid",
                      use_bias=False, kernel_initializer=_conv_init(), name="stem_conv")(x)
    x = layers.BatchNormalization(axis=axis, name="stem_bn")(x)
    x = layers.Activation(activation, name="stem_activation")(x)
    x = _stages(x, width_coefficient, depth_coefficient, drop_connect_rate, activation,
                axis)
    x = layers.Conv2D(_round_filters(1280, width_coefficient), 1, padding="same",
                      use_bias=False, kernel_initializer=_conv_init(), name="top_conv")(x)
    x = layers.BatchNormalization(axis=axis, name="top_bn")(x)
    x = layers.Activation(activation, name="top_activation")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name="top_dropout")(x)
        x = layers.Dense(classes, activation=classifier_activation,
                         kernel_initializer=_dense_init(), name="predictions")(x)
    else:
        x = pooled(x, pooling, avg_name="avg_pool", max_name="max_pool")
    return load_weights_file(Model(inputs, x, name=name), weights)


def _round_filters(filters, width_coefficient):
    """``filters`` scaled by the width coefficient, to a multiple of 8."""
    return make_divisible(filters * width_coefficient, 8)


def _stages(x, width_coefficient, depth_coefficient, drop_connect_rate, activation, axis):
    """The seven stages of MBConv blocks; the drop-connect rate grows linearly over them."""
    repeats = [math.ceil(depth_coefficient * stage[1]) for stage in STAGES]
    total, b = float(sum(repeats)), 0
    for i, (stage, n) in enumerate(zip(STAGES, repeats)):
        kernel, _, filters_in, filters_out, expansion, stride = stage
        filters_in = _round_filters(filters_in, width_coefficient)
        filters_out = _round_filters(filters_out, width_coefficient)
        for j in range(n):
            x = _block(x, activation, drop_connect_rate * b / total, f"block{i + 1}"
                       f"{chr(j + 97)}_", filters_in if j == 0 else filters_out,
                       filters_out, kernel, stride if j == 0 else 1, expansion, axis)
            b += 1
    return x


def _block(inputs, activation, drop_rate, name, filters_in, filters_out, kernel_size,
           strides, expand_ratio, axis):
    """MBConv: expand (1x1) -> depthwise -> squeeze-excite -> project (1x1) [+ input]."""
    filters = filters_in * expand_ratio
    x = inputs
    if expand_ratio != 1:
        x = layers.Conv2D(filters, 1, padding="same", use_bias=False,
                          kernel_initializer=_conv_init(), name=f"{name}expand_conv")(x)
        x = layers.BatchNormalization(axis=axis, name=f"{name}expand_bn")(x)
        x = layers.Activation(activation, name=f"{name}expand_activation")(x)
    if strides == 2:
        x = layers.ZeroPadding2D(padding=correct_pad(x, kernel_size),
                                 name=f"{name}dwconv_pad")(x)
    x = layers.DepthwiseConv2D(kernel_size, strides=strides,
                               padding="valid" if strides == 2 else "same", use_bias=False,
                               depthwise_initializer=_conv_init(), name=f"{name}dwconv")(x)
    x = layers.BatchNormalization(axis=axis, name=f"{name}bn")(x)
    x = layers.Activation(activation, name=f"{name}activation")(x)
    x = _squeeze_excite(x, activation, name, filters, max(1, int(filters_in * SE_RATIO)),
                        axis)
    x = layers.Conv2D(filters_out, 1, padding="same", use_bias=False,
                      kernel_initializer=_conv_init(), name=f"{name}project_conv")(x)
    x = layers.BatchNormalization(axis=axis, name=f"{name}project_bn")(x)
    if strides == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1),
                               name=f"{name}drop")(x)
        x = layers.Add(name=f"{name}add")([x, inputs])
    return x


def _squeeze_excite(x, activation, name, filters, filters_se, axis):
    """``x * sigmoid(conv(activation(conv(mean(x)))))`` with ``filters_se`` in between."""
    se = layers.GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
    se_shape = (1, 1, filters) if axis == 3 else (filters, 1, 1)
    se = layers.Reshape(se_shape, name=f"{name}se_reshape")(se)
    se = layers.Conv2D(filters_se, 1, padding="same", activation=activation,
                       kernel_initializer=_conv_init(), name=f"{name}se_reduce")(se)
    se = layers.Conv2D(filters, 1, padding="same", activation="sigmoid",
                       kernel_initializer=_conv_init(), name=f"{name}se_expand")(se)
    return layers.Multiply(name=f"{name}se_excite")([x, se])
