"""Keras's small image classifiers as functional models: ``MobileNet``, ``MobileNetV2``,
``MobileNetV3Small``, ``MobileNetV3Large`` and ``EfficientNetB0``.

Each builder takes Keras 3's arguments and builds the same graph, with the same layer
names and weight order, as ``keras.applications``, so a model's ``get_weights()`` lines
up with the Keras model's. ``weights`` is None (random initialization) or the path of a
weights file; minidl never downloads anything.

>>> import numpy as np, minidl as mdl
>>> model = mdl.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, classes=10,
...                                      classifier_activation=None)
>>> model.predict(np.zeros((2, 32, 32, 3), np.float32), verbose=0).shape
(2, 10)
"""
from .efficientnet import EfficientNetB0
from .mobilenet import MobileNet
from .mobilenet_v2 import MobileNetV2
from .mobilenet_v3 import MobileNetV3Large, MobileNetV3Small

__all__ = ["MobileNet", "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large",
           "EfficientNetB0"]
