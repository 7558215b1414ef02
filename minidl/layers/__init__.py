"""Layers with Keras 3's names, arguments, weights and configs.

``Layer`` is the base class (see ``minidl.layers.base``); ``get``, ``serialize`` and
``deserialize`` find layers by class name through the registry every minidl layer joins.
"""
from .base import Layer, get, serialize, deserialize, clear_session
from .input_layer import Input, InputLayer
from . import operations  # Keras's ops on symbolic tensors (x + 3.0): keras.src.ops.numpy
from .core import Dense, Identity
from .convolutional import Conv2D, Conv1D, Convolution2D, Convolution1D
from .depthwise import DepthwiseConv2D, DepthwiseConv1D, SeparableConv2D, SeparableConv1D
from .normalization import BatchNormalization
from .layer_normalization import LayerNormalization
from .group_normalization import GroupNormalization
from .pooling import (MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D,
                      GlobalMaxPooling2D, GlobalAveragePooling1D, MaxPool2D, AvgPool2D,
                      GlobalAvgPool2D, GlobalMaxPool2D, GlobalAvgPool1D, MaxPooling1D,
                      AveragePooling1D, GlobalMaxPooling1D, MaxPool1D, AvgPool1D,
                      GlobalMaxPool1D)
from .reshaping import (ZeroPadding2D, Flatten, Reshape, Cropping1D, Cropping2D,
                        ZeroPadding1D, UpSampling1D, UpSampling2D)
from .activation import Activation, ReLU, Softmax, LeakyReLU, PReLU, ELU
from .regularization import Dropout, SpatialDropout2D, GaussianNoise
from .preprocessing import Rescaling, Normalization
from .resizing import Resizing, CenterCrop
from .augmentation import (RandomFlip, RandomTranslation, RandomRotation, RandomZoom,
                           RandomCrop, RandomContrast, RandomBrightness)
from .merging import (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, add,
                      subtract, multiply, average, maximum, minimum, concatenate)
