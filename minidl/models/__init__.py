"""Models: ``Sequential``, functional models (``Model(inputs, outputs)``) and the
``Model`` base (training loop, saving, summary, ``to_json``); ``model_from_json`` reads
minidl's or Keras's JSON back."""
from ..saving import load_model
from .functional import Functional, Input, InputLayer, KerasTensor
from .model import Model, model_from_json
from .sequential import Sequential

__all__ = ["Model", "Sequential", "Functional", "Input", "InputLayer", "KerasTensor",
           "load_model", "model_from_json"]
