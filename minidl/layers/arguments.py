"""The initializer, regularizer and constraint arguments of a layer's weights.

A weight ``w`` (``kernel``, ``bias``, ``gamma``, ...) takes up to three arguments, named as
Keras names them: ``w_initializer``, ``w_regularizer`` and ``w_constraint``. A layer keeps
each as an attribute of that name holding the object (``initializers.get`` of the value,
and so on); ``set_weight_arguments`` stores them and ``weight_arguments_config`` writes
them back in Keras's ``get_config()`` order: every initializer, then every regularizer
(then ``activity_regularizer`` where Keras puts it there), then every constraint.

>>> from minidl.layers import Layer
>>> layer = Layer()
>>> set_weight_arguments(layer, "kernel", "ones", None, "non_neg")
>>> list(weight_arguments_config(layer, ["kernel"]))
['kernel_initializer', 'kernel_regularizer', 'kernel_constraint']
"""
from .. import constraints, initializers, regularizers

__all__ = ["set_weight_arguments", "weight_arguments_config"]

_KINDS = (("initializer", initializers), ("regularizer", regularizers),
          ("constraint", constraints))


def set_weight_arguments(layer, weight: str, *arguments) -> None:
    """Store a weight's arguments on ``layer``.

    Args:
        layer: the layer.
        weight: the name the arguments start with (``"kernel"``, ``"depthwise"``, ...).
        *arguments: its initializer, then optionally its regularizer and constraint:
            anything ``initializers.get`` (``regularizers.get``, ``constraints.get``)
            accepts. A weight with an initializer only (a moving statistic) passes one.

    Raises:
        ValueError: an argument that its ``get`` refuses.
    """
    for (kind, module), value in zip(_KINDS, arguments):
        setattr(layer, f"{weight}_{kind}", module.get(value))


def weight_arguments_config(layer, weights: list[str],
                            initializer_only: list[str] | tuple = (),
                            activity_regularizer=False) -> dict:
    """The serialized arguments of ``weights`` as ``get_config()`` entries, in Keras's
    order.

    Args:
        layer: the layer.
        weights: the names whose initializer, regularizer and constraint are listed.
        initializer_only: names listed with their initializer only, after ``weights``'.
        activity_regularizer: whether ``activity_regularizer`` follows the regularizers.

    Returns:
        A dict ``{"<weight>_<kind>": serialized value}``.
    """
    config = {}
    for kind, module in _KINDS:
        names = list(weights) + list(initializer_only) if kind == "initializer" else weights
        config.update({f"{name}_{kind}": module.serialize(getattr(layer, f"{name}_{kind}"))
                       for name in names})
        if kind == "regularizer" and activity_regularizer:
            config["activity_regularizer"] = regularizers.serialize(
                layer.activity_regularizer)
    return config
