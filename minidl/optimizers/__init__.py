"""Optimizers with Keras 3's names, defaults and update formulas: SGD (momentum,
Nesterov), Adam (amsgrad), AdamW, Adamax, Nadam, RMSprop (momentum, centered), Adagrad,
Adadelta, Lion; learning-rate schedules in ``minidl.optimizers.schedules``.

``get`` accepts a name (``"adam"``, ``"SGD"``, case-insensitive), a config dict (Keras 3's
serialized form included), an instance, or an Optimizer class. See
``minidl.optimizers.base`` for the update order and the state layout used for saving.

>>> import minidl as mdl
>>> mdl.optimizers.get("adam").learning_rate
0.001
"""
from ..identifiers import Family
from . import schedules
from .adadelta import Adadelta, Lion
from .adagrad import Adagrad
from .adam import Adam, Adamax, AdamW, Nadam
from .base import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adamax", "Nadam", "RMSprop", "Adagrad",
           "Adadelta", "Lion", "schedules", "get", "serialize", "deserialize"]

_family = Family("optimizer", module="keras.optimizers", base=Optimizer)
for _cls in (SGD, Adam, AdamW, Adamax, Nadam, RMSprop, Adagrad, Adadelta, Lion):
    _family.register(_cls)


def get(identifier, custom_objects=None):
    """An optimizer from a name, a config dict, an instance or a class.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if identifier is not None and not isinstance(identifier, (str, dict, Optimizer, type)):
        raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")
    return _family.get(identifier, custom_objects)


def serialize(optimizer):
    """Keras 3's ``{"module", "class_name", "config", "registered_name"}`` form."""
    return _family.serialize(optimizer)


def deserialize(config, custom_objects=None):
    return _family.deserialize(config, custom_objects)
