"""Models: ``Sequential``, functional models (``Model(inputs, outputs)``) and the
``Model`` base (training loop, saving, summary)."""
from ..saving import load_model
from .model import Model
from .sequential import Sequential
from .functional import Functional, Input, InputLayer, KerasTensor

__all__ = ["Model", "Sequential", "Functional", "Input", "InputLayer", "KerasTensor",
           "load_model"]
