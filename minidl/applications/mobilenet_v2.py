"""MobileNetV2: inverted residual blocks with linear bottlenecks (Sandler et al., 2018).

The graph, layer names and weight order are Keras 3's ``keras.applications.MobileNetV2``:
a 3x3 stride-2 stem (``Conv1``), 17 inverted residual blocks and a 1x1 ``Conv_1`` to
1280 channels. Block ``i`` expands its input ``expansion``-fold with a 1x1 convolution
(``block_<i>_expand``; block 0, named ``expanded_conv``, has none), filters it with a 3x3
depthwise convolution (``..._depthwise``, stride 2 after a ``correct_pad`` zero padding)
and projects it linearly with a 1x1 convolution (``..._project``); each is followed by
BatchNormalization (epsilon 1e-3, momentum 0.999) and, except the projection, ReLU6. A
block that keeps the stride at 1 and the channel count adds its input (``..._add``).

>>> import minidl as mdl
>>> model = mdl.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, classes=10)
>>> model.name, model.output_shape, model.count_params()
('mobilenetv2_0.35_32', (None, 10), 423018)
"""
from .. import layers
from ..models import Model
from .common import (
    channel_axis,
    check_alpha,
    checked_input,
    correct_pad,
    image_rows,
    load_weights_file,
    make_divisible,
    pooled,
)

__all__ = ["MobileNetV2"]

# (filters before alpha, stride, expansion) of the 17 inverted residual blocks
BLOCKS = [(16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6),
          (64, 2, 6), (64, 1, 6), (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6),
          (96, 1, 6), (160, 2, 6), (160, 1, 6), (160, 1, 6), (320, 1, 6)]


def _batch_norm(axis, name):
    return layers.BatchNormalization(axis=axis, epsilon=1e-3, momentum=0.999, name=name)


def MobileNetV2(input_shape: tuple | list | None = None, alpha: float = 1.0,
                include_top: bool = True, weights: str | None = None, input_tensor=None,
                pooling: str | None = None, classes: int = 1000,
                classifier_activation: str | None = "softmax",
                name: str | None = None) -> Model:
    """MobileNetV2 as a functional model.

    Args:
        input_shape: image shape without the batch axis, at least 32x32 (default
            ``(224, 224, 3)`` with the top, any size without it).
        alpha: width multiplier; block widths are ``int(filters * alpha)`` rounded to a
            multiple of 8, and the last convolution grows above 1280 only for
            ``alpha > 1``.
        include_top: whether to end with global average pooling and a ``Dense``
            classifier (``predictions``).
        weights: None (random initialization) or the path of a weights file (from
            ``model.save_weights``); nothing is ever downloaded.
        input_tensor: a symbolic tensor to use as the image input.
        pooling: without the top, "avg" or "max" global pooling, or None (the 4-D
            feature map).
        classes: number of classes of the classifier.
        classifier_activation: activation of the classifier (None: logits).
        name: the model's name (default ``mobilenetv2_<alpha>_<rows>``).

    Input shape:
        ``(batch, rows, cols, channels)`` (channels_last).

    Output shape:
        ``(batch, classes)`` with the top; else ``(batch, 1280)`` when pooled (more for
        ``alpha > 1``), else the feature map ``(batch, rows / 32, cols / 32, 1280)``.

    Returns:
        A ``minidl.models.Functional``.

    Raises:
        ValueError: weights other than None or a file, a bad input shape, alpha,
            pooling or classes.
    """
    check_alpha(alpha)
    image, inputs = checked_input(weights, pooling, classes, input_shape, input_tensor,
                                  default_size=224, require_flatten=include_top)
    axis = channel_axis()
    x = layers.Conv2D(make_divisible(32 * alpha, 8), kernel_size=3, strides=(2, 2),
                      padding="same", use_bias=False, name="Conv1")(image)
    x = _batch_norm(axis, "bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    for block_id, (filters, stride, expansion) in enumerate(BLOCKS):
        x = _inverted_res_block(x, expansion, stride, alpha, filters, block_id, axis)
    last_filters = make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = layers.Conv2D(last_filters, kernel_size=1, use_bias=False, name="Conv_1")(x)
    x = _batch_norm(axis, "Conv_1_bn")(x)
    x = layers.ReLU(6.0, name="out_relu")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D()(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = pooled(x, pooling)
    if name is None:
        name = f"mobilenetv2_{alpha:0.2f}_{image_rows(image.shape[1:])}"
    return load_weights_file(Model(inputs, x, name=name), weights)


def _inverted_res_block(inputs, expansion, stride, alpha, filters, block_id, axis):
    """Expand (1x1, ReLU6) -> depthwise 3x3 (ReLU6) -> project (1x1, linear) [+ input]."""
    in_channels = inputs.shape[axis]
    out_channels = make_divisible(int(filters * alpha), 8)
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    x = inputs
    if block_id:
        x = layers.Conv2D(expansion * in_channels, kernel_size=1, padding="same",
                          use_bias=False, activation=None, name=f"{prefix}expand")(x)
        x = _batch_norm(axis, f"{prefix}expand_BN")(x)
        x = layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)
    if stride == 2:
        x = layers.ZeroPadding2D(padding=correct_pad(x, 3), name=f"{prefix}pad")(x)
    x = layers.DepthwiseConv2D(kernel_size=3, strides=stride, activation=None,
                               use_bias=False, padding="same" if stride == 1 else "valid",
                               name=f"{prefix}depthwise")(x)
    x = _batch_norm(axis, f"{prefix}depthwise_BN")(x)
    x = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = layers.Conv2D(out_channels, kernel_size=1, padding="same", use_bias=False,
                      activation=None, name=f"{prefix}project")(x)
    x = _batch_norm(axis, f"{prefix}project_BN")(x)
    if in_channels == out_channels and stride == 1:
        return layers.Add(name=f"{prefix}add")([inputs, x])
    return x
