"""Layers with Keras 3's names, arguments, weights and configs.

``Layer`` is the base class (see ``minidl.layers.base``); ``get``, ``serialize`` and
``deserialize`` find layers by class name through the registry every minidl layer joins.
"""
from . import operations  # Keras's ops on symbolic tensors (x + 3.0): keras.src.ops.numpy
from .activation import ELU, Activation, LeakyReLU, PReLU, ReLU, Softmax
from .augmentation import (
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from .base import Layer, clear_session, deserialize, get, serialize
from .convolutional import Conv1D, Conv2D, Convolution1D, Convolution2D
from .core import Dense, Identity
from .depthwise import DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D
from .group_normalization import GroupNormalization
from .input_layer import Input, InputLayer
from .layer_normalization import LayerNormalization
from .merging import (
    Add,
    Average,
    Concatenate,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    maximum,
    minimum,
    multiply,
    subtract,
)
from .normalization import BatchNormalization
from .pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AvgPool1D,
    AvgPool2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPool1D,
    MaxPool2D,
    MaxPooling1D,
    MaxPooling2D,
)
from .preprocessing import Normalization, Rescaling
from .regularization import Dropout, GaussianNoise, SpatialDropout2D
from .reshaping import (
    Cropping1D,
    Cropping2D,
    Flatten,
    Reshape,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding1D,
    ZeroPadding2D,
)
from .resizing import CenterCrop, Resizing
