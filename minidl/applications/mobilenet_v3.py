"""MobileNetV3 Small and Large (Howard et al., 2019).

The graphs, layer names and weight order are Keras 3's ``keras.applications.
MobileNetV3Small`` / ``MobileNetV3Large``: optional rescaling of [0, 255] pixels to
[-1, 1], a 3x3 stride-2 stem (``conv``) with hard-swish, a stack of inverted residual
blocks ``expanded_conv[_<i>]`` (1x1 expansion, depthwise ``k x k``, optional
squeeze-and-excitation, 1x1 linear projection, each convolution followed by
BatchNormalization with epsilon 1e-3 and momentum 0.999) and a 1x1 ``conv_1`` to six
times the last width. The top pools globally, applies a 1x1 ``conv_2`` (1024 or 1280
channels), dropout and a 1x1 ``logits`` convolution.

Squeeze-and-excitation scales the channels by ``hard_sigmoid(conv(relu(conv(mean))))``,
with ``hard_sigmoid(x) = relu6(x + 3) / 6`` written, as in Keras, as operations on
symbolic tensors: ``ReLU(6.0)(x + 3.0) * (1.0 / 6.0)``. ``minimalistic=True`` drops the
squeeze-and-excitation, uses 3x3 kernels throughout and ReLU instead of hard-swish.

>>> import minidl as mdl
>>> model = mdl.applications.MobileNetV3Small(input_shape=(32, 32, 3), alpha=0.75,
...                                           classes=10)
>>> model.name, model.output_shape, model.count_params()
('MobileNetV3Small', (None, 10), 1036802)
"""
from .. import layers
from ..models import Model
from .common import (
    channel_axis,
    check_alpha,
    checked_input,
    correct_pad,
    load_weights_file,
    make_divisible,
    pooled,
)

__all__ = ["MobileNetV3Small", "MobileNetV3Large"]

# Each block: (expansion, filters before alpha, kernel, stride, squeeze-excite, activation)
# with "k" the model's kernel (5, or 3 when minimalistic), "se" its squeeze-excite ratio
# (0.25, or none when minimalistic) and "act" its activation (hard-swish, or ReLU).
SMALL_BLOCKS = [
    (1, 16, 3, 2, "se", "relu"), (72 / 16, 24, 3, 2, None, "relu"),
    (88 / 24, 24, 3, 1, None, "relu"), (4, 40, "k", 2, "se", "act"),
    (6, 40, "k", 1, "se", "act"), (6, 40, "k", 1, "se", "act"),
    (3, 48, "k", 1, "se", "act"), (3, 48, "k", 1, "se", "act"),
    (6, 96, "k", 2, "se", "act"), (6, 96, "k", 1, "se", "act"),
    (6, 96, "k", 1, "se", "act")]
LARGE_BLOCKS = [
    (1, 16, 3, 1, None, "relu"), (4, 24, 3, 2, None, "relu"), (3, 24, 3, 1, None, "relu"),
    (3, 40, "k", 2, "se", "relu"), (3, 40, "k", 1, "se", "relu"),
    (3, 40, "k", 1, "se", "relu"), (6, 80, 3, 2, None, "act"),
    (2.5, 80, 3, 1, None, "act"), (2.3, 80, 3, 1, None, "act"),
    (2.3, 80, 3, 1, None, "act"), (6, 112, 3, 1, "se", "act"),
    (6, 112, 3, 1, "se", "act"), (6, 160, "k", 2, "se", "act"),
    (6, 160, "k", 1, "se", "act"), (6, 160, "k", 1, "se", "act")]


def MobileNetV3Small(input_shape: tuple | list | None = None, alpha: float = 1.0,
                     minimalistic: bool = False, include_top: bool = True,
                     weights: str | None = None, input_tensor=None, classes: int = 1000,
                     pooling: str | None = None, dropout_rate: float = 0.2,
                     classifier_activation: str | None = "softmax",
                     include_preprocessing: bool = True,
                     name: str = "MobileNetV3Small") -> Model:
    """MobileNetV3Small as a functional model; the arguments as ``MobileNetV3Large``'s
    (its top convolution ``conv_2`` has 1024 channels)."""
    return _mobilenet_v3(SMALL_BLOCKS, 1024, input_shape, alpha, minimalistic,
                         include_top, weights, input_tensor, classes, pooling,
                         dropout_rate, classifier_activation, include_preprocessing, name)


def MobileNetV3Large(input_shape: tuple | list | None = None, alpha: float = 1.0,
                     minimalistic: bool = False, include_top: bool = True,
                     weights: str | None = None, input_tensor=None, classes: int = 1000,
                     pooling: str | None = None, dropout_rate: float = 0.2,
                     classifier_activation: str | None = "softmax",
                     include_preprocessing: bool = True,
                     name: str = "MobileNetV3Large") -> Model:
    """MobileNetV3Large as a functional model.

    Args:
        input_shape: image shape without the batch axis, at least 32x32; default any
            size with 3 channels (the top pools globally, so no size is needed).
        alpha: width multiplier; block widths are ``filters * alpha`` rounded to a
            multiple of 8 (the top ``conv_2`` grows only for ``alpha > 1``).
        minimalistic: no squeeze-and-excitation, 3x3 kernels and ReLU throughout.
        include_top: whether to end with the classifier (pooling, ``conv_2``, dropout,
            ``logits``, flatten, activation).
        weights: None (random initialization) or the path of a weights file (from
            ``model.save_weights``); nothing is ever downloaded.
        input_tensor: a symbolic tensor to use as the image input.
        classes: number of classes of the classifier.
        pooling: without the top, "avg" (``avg_pool``) or "max" (``max_pool``) global
            pooling, or None (the 4-D feature map).
        dropout_rate: dropout rate before ``logits`` (0: no Dropout layer).
        classifier_activation: activation of the classifier (None: logits).
        include_preprocessing: whether the model starts with ``Rescaling`` from [0, 255]
            to [-1, 1].
        name: the model's name.

    Input shape:
        ``(batch, rows, cols, channels)`` (channels_last), pixels in [0, 255] with
        preprocessing.

    Output shape:
        ``(batch, classes)`` with the top; else pooled ``(batch, channels)`` or the
        feature map.

    Returns:
        A ``minidl.models.Functional``.

    Raises:
        ValueError: weights other than None or a file, a bad input shape, alpha,
            pooling or classes.
    """
    return _mobilenet_v3(LARGE_BLOCKS, 1280, input_shape, alpha, minimalistic,
                         include_top, weights, input_tensor, classes, pooling,
                         dropout_rate, classifier_activation, include_preprocessing, name)


def _mobilenet_v3(blocks, last_point_ch, input_shape, alpha, minimalistic, include_top,
                  weights, input_tensor, classes, pooling, dropout_rate,
                  classifier_activation, include_preprocessing, name):
    check_alpha(alpha)
    image, inputs = checked_input(weights, pooling, classes, input_shape, input_tensor,
                                  default_size=None, require_flatten=False)
    axis = channel_axis()
    kernel, se_ratio = (3, None) if minimalistic else (5, 0.25)
    activation = _relu if minimalistic else _hard_swish
    x = image
    if include_preprocessing:
        x = layers.Rescaling(scale=1.0 / 127.5, offset=-1.0)(x)
    x = layers.Conv2D(16, kernel_size=3, strides=(2, 2), padding="same", use_bias=False,
                      name="conv")(x)
    x = _batch_norm(axis, "conv_bn")(x)
    x = activation(x)
    for block_id, (expansion, filters, k, stride, se, act) in enumerate(blocks):
        x = _inverted_res_block(x, expansion, make_divisible(filters * alpha),
                                kernel if k == "k" else k, stride,
                                se_ratio if se else None,
                                activation if act == "act" else _relu, block_id, axis)
    last_conv_ch = make_divisible(x.shape[axis] * 6)
    if alpha > 1.0:
        last_point_ch = make_divisible(last_point_ch * alpha)
    x = layers.Conv2D(last_conv_ch, kernel_size=1, padding="same", use_bias=False,
                      name="conv_1")(x)
    x = _batch_norm(axis, "conv_1_bn")(x)
    x = activation(x)
    if include_top:
        x = _top(x, last_point_ch, activation, dropout_rate, classes,
                 classifier_activation)
    else:
        x = pooled(x, pooling, avg_name="avg_pool", max_name="max_pool")
    return load_weights_file(Model(inputs, x, name=name), weights)


def _top(x, last_point_ch, activation, dropout_rate, classes, classifier_activation):
    """Pool -> 1x1 conv_2 -> activation -> dropout -> 1x1 logits -> flatten -> softmax."""
    x = layers.GlobalAveragePooling2D(keepdims=True)(x)
    x = layers.Conv2D(last_point_ch, kernel_size=1, padding="same", use_bias=True,
                      name="conv_2")(x)
    x = activation(x)
    if dropout_rate > 0:
        x = layers.Dropout(dropout_rate)(x)
    x = layers.Conv2D(classes, kernel_size=1, padding="same", name="logits")(x)
    x = layers.Flatten()(x)
    return layers.Activation(classifier_activation, name="predictions")(x)


def _batch_norm(axis, name):
    return layers.BatchNormalization(axis=axis, epsilon=1e-3, momentum=0.999, name=name)


def _relu(x):
    return layers.ReLU()(x)


def _hard_sigmoid(x):
    return layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)


def _hard_swish(x):
    return layers.Activation("hard_swish")(x)


def _se_block(inputs, filters, se_ratio, prefix):
    """Squeeze-and-excitation: ``inputs * hard_sigmoid(conv(relu(conv(mean(inputs)))))``."""
    x = layers.GlobalAveragePooling2D(keepdims=True,
                                      name=f"{prefix}squeeze_excite_avg_pool")(inputs)
    x = layers.Conv2D(make_divisible(filters * se_ratio), kernel_size=1, padding="same",
                      name=f"{prefix}squeeze_excite_conv")(x)
    x = layers.ReLU(name=f"{prefix}squeeze_excite_relu")(x)
    x = layers.Conv2D(filters, kernel_size=1, padding="same",
                      name=f"{prefix}squeeze_excite_conv_1")(x)
    x = _hard_sigmoid(x)
    return layers.Multiply(name=f"{prefix}squeeze_excite_mul")([inputs, x])


def _inverted_res_block(x, expansion, filters, kernel_size, stride, se_ratio, activation,
                        block_id, axis):
    """Expand (1x1) -> depthwise (k x k) -> [squeeze-excite] -> project (1x1) [+ x]."""
    shortcut, in_channels = x, x.shape[axis]
    prefix = f"expanded_conv_{block_id}_" if block_id else "expanded_conv_"
    expanded = make_divisible(in_channels * expansion)
    if block_id:
        x = layers.Conv2D(expanded, kernel_size=1, padding="same", use_bias=False,
                          name=f"{prefix}expand")(x)
        x = _batch_norm(axis, f"{prefix}expand_bn")(x)
        x = activation(x)
    if stride == 2:
        x = layers.ZeroPadding2D(padding=correct_pad(x, kernel_size),
                                 name=f"{prefix}depthwise_pad")(x)
    x = layers.DepthwiseConv2D(kernel_size, strides=stride,
                               padding="same" if stride == 1 else "valid", use_bias=False,
                               name=f"{prefix}depthwise")(x)
    x = _batch_norm(axis, f"{prefix}depthwise_bn")(x)
    x = activation(x)
    if se_ratio:
        x = _se_block(x, expanded, se_ratio, prefix)
    x = layers.Conv2D(filters, kernel_size=1, padding="same", use_bias=False,
                      name=f"{prefix}project")(x)
    x = _batch_norm(axis, f"{prefix}project_bn")(x)
    if stride == 1 and in_channels == filters:
        x = layers.Add(name=f"{prefix}add")([shortcut, x])
    return x
