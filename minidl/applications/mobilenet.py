"""MobileNet (v1): a stack of depthwise-separable convolutions (Howard et al., 2017).

The graph, layer names and weight order are Keras 3's ``keras.applications.MobileNet``:
a 3x3 stride-2 ``Conv2D`` stem (``conv1``), then 13 blocks ``conv_dw_<i>`` (3x3
``DepthwiseConv2D`` -> BatchNormalization -> ReLU6) and ``conv_pw_<i>`` (1x1 ``Conv2D``
-> BatchNormalization -> ReLU6), every width times ``alpha``; a stride-2 block pads its
input by one row and column at the bottom and right (``conv_pad_<i>``) and convolves
"valid".

>>> import minidl as mdl
>>> model = mdl.applications.MobileNet(input_shape=(32, 32, 3), alpha=0.25, classes=10)
>>> model.name, model.output_shape, model.count_params()
('mobilenet_0.25_32', (None, 10), 221114)
"""
from .. import layers
from ..models import Model
from .common import (
    channel_axis,
    check_alpha,
    checked_input,
    image_rows,
    load_weights_file,
    pooled,
)

__all__ = ["MobileNet"]

# (pointwise filters before alpha, stride) of the 13 depthwise-separable blocks
BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
          (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]


def MobileNet(input_shape: tuple | list | None = None, alpha: float = 1.0,
              depth_multiplier: int = 1, dropout: float = 1e-3, include_top: bool = True,
              weights: str | None = None, input_tensor=None, pooling: str | None = None,
              classes: int = 1000, classifier_activation: str | None = "softmax",
              name: str | None = None) -> Model:
    """MobileNet as a functional model.

    Args:
        input_shape: image shape without the batch axis, at least 32x32 (default
            ``(224, 224, 3)`` with the top, any size without it).
        alpha: width multiplier: every layer has ``int(filters * alpha)`` filters.
        depth_multiplier: the depthwise convolutions' depth multiplier.
        dropout: dropout rate before the classifier.
        include_top: whether to end with the classifier (global average pooling,
            dropout, a 1x1 ``Conv2D`` to ``classes``, the activation).
        weights: None (random initialization) or the path of a weights file (from
            ``model.save_weights``); nothing is ever downloaded.
        input_tensor: a symbolic tensor to use as the image input.
        pooling: without the top, "avg" or "max" global pooling, or None (the 4-D
            feature map).
        classes: number of classes of the classifier.
        classifier_activation: activation of the classifier's output (None: logits).
        name: the model's name (default ``mobilenet_<alpha>_<rows>``).

    Input shape:
        ``(batch, rows, cols, channels)`` (channels_last).

    Output shape:
        ``(batch, classes)`` with the top; else ``(batch, channels)`` when pooled, else
        the feature map ``(batch, rows / 32, cols / 32, int(1024 * alpha))``.

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
    x = _conv_block(image, int(32 * alpha), axis)
    for block_id, (filters, stride) in enumerate(BLOCKS, start=1):
        x = _depthwise_conv_block(x, int(filters * alpha), depth_multiplier, stride,
                                  block_id, axis)
    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
        x = layers.Reshape((classes,), name="reshape_2")(x)
        x = layers.Activation(classifier_activation, name="predictions")(x)
    else:
        x = pooled(x, pooling)
    if name is None:
        name = f"mobilenet_{alpha:0.2f}_{image_rows(image.shape[1:])}"
    return load_weights_file(Model(inputs, x, name=name), weights)


def _conv_block(x, filters, axis):
    """The stem: 3x3 stride-2 Conv2D -> BatchNormalization -> ReLU6."""
    x = layers.Conv2D(filters, (3, 3), padding="same", use_bias=False, strides=(2, 2),
                      name="conv1")(x)
    x = layers.BatchNormalization(axis=axis, name="conv1_bn")(x)
    return layers.ReLU(6.0, name="conv1_relu")(x)


def _depthwise_conv_block(x, filters, depth_multiplier, stride, block_id, axis):
    """Depthwise 3x3 -> BN -> ReLU6 -> pointwise 1x1 -> BN -> ReLU6."""
    if stride != 1:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
    x = layers.DepthwiseConv2D((3, 3), padding="same" if stride == 1 else "valid",
                               depth_multiplier=depth_multiplier, strides=(stride, stride),
                               use_bias=False, name=f"conv_dw_{block_id}")(x)
    x = layers.BatchNormalization(axis=axis, name=f"conv_dw_{block_id}_bn")(x)
    x = layers.ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = layers.Conv2D(filters, (1, 1), padding="same", use_bias=False, strides=(1, 1),
                      name=f"conv_pw_{block_id}")(x)
    x = layers.BatchNormalization(axis=axis, name=f"conv_pw_{block_id}_bn")(x)
    return layers.ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)
