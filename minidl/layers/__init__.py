"""Layers with Keras 3's names, arguments, weights and configs.

``Layer`` is the base class (see ``minidl.layers.base``); ``get``, ``serialize`` and
``deserialize`` find layers by class name through the registry every minidl layer joins.
"""
from .base import Layer, get, serialize, deserialize, clear_session
from .core import Dense
from .convolutional import Conv2D, Conv1D, Convolution2D, Convolution1D
from .depthwise import DepthwiseConv2D, DepthwiseConv1D, SeparableConv2D, SeparableConv1D
from .normalization import BatchNormalization
from .pooling import (MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D,
                      GlobalMaxPooling2D, GlobalAveragePooling1D, MaxPool2D, AvgPool2D,
                      GlobalAvgPool2D, GlobalMaxPool2D, GlobalAvgPool1D)
from .reshaping import ZeroPadding2D, Flatten, Reshape
from .activation import Activation, ReLU
from .regularization import Dropout
from .merging import Add
