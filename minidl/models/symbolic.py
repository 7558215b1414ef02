"""Symbolic tensors for functional models, under their former home.

They live in ``minidl.layers.node`` (``KerasTensor``, ``Node``, ``symbolic_call``) and
``minidl.layers.input_layer`` (``Input``, ``InputLayer``); layers record graph nodes
without importing ``minidl.models``. This module re-exports them.
"""
from ..layers.input_layer import Input, InputLayer
from ..layers.node import (
    KerasHistory,
    KerasTensor,
    Node,
    inbound_nodes,
    is_symbolic,
    node_of,
    symbolic_call,
)

__all__ = ["Input", "InputLayer", "KerasTensor", "KerasHistory", "Node", "inbound_nodes",
           "node_of", "symbolic_call", "is_symbolic"]
