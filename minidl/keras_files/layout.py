"""Keras 3's layout of a model's variables in a weights file (``model.weights.h5``).

Keras walks the model: a model's own variables go to ``vars/``, each of its ``layers``
to ``layers/<key>/`` and a nested model's layers below that. The key is the layer's
*class* in snake case, numbered when repeated (``dense``, ``dense_1``, ...), not the
layer's name, which goes to the group's ``name`` attribute instead. A layer's variables
are the datasets ``0``, ``1``, ... of its ``vars`` group, in Keras's weight order (its
trainable variables, then its non-trainable ones)::

    vars                        (name="sequential")
    layers/conv2d/vars/0        kernel of the Conv2D layer called "stem"
    layers/conv2d/vars/1        bias
    layers/dense/vars/0, 1      kernel, bias of the first Dense layer
    layers/dense_1/vars/...     the second Dense layer
    layers/functional/layers/dense/vars/...   a Dense layer inside a nested model

A ``Sequential`` model's ``layers`` leave out its ``InputLayer``; a functional model's
include them, but not its operations on symbolic tensors (``x + 3.0``). Optimizer
variables (``optimizer/vars``) are not part of the layout.

>>> import minidl as mdl
>>> model = mdl.models.Sequential([mdl.layers.Dense(2, input_shape=(3,), name="a"),
...                                mdl.layers.Dense(1, name="b")], name="mlp")
>>> [(group, name, len(variables)) for group, name, variables in model_groups(model)]
[('', 'mlp', 0), ('layers/dense/', 'a', 2), ('layers/dense_1/', 'b', 2)]
"""
from ..identifiers import snake_case

__all__ = ["model_groups", "config_groups", "variable_keys", "is_model_entry"]

MODEL_CLASSES = ("Sequential", "Functional", "Model")


def _unique(key, counts):
    """Keras's numbering: the first ``dense``, then ``dense_1``, ``dense_2``, ..."""
    if key in counts:
        counts[key] += 1
        return f"{key}_{counts[key]}"
    counts[key] = 0
    return key


def _is_model(layer):
    return hasattr(layer, "layers") and hasattr(layer, "get_config")


def model_groups(model):
    """``[(group, layer name, variables)]`` for a built minidl model: ``group`` is the
    path prefix of the layer's ``vars`` group (``""`` for the model itself), variables
    in Keras's order."""
    out = []
    _walk_model(model, "", out)
    return out


def _walk_model(model, prefix, out):
    out.append((prefix, model.name, []))
    counts = {}
    for layer in model.layers:
        group = f"{prefix}layers/{_unique(snake_case(type(layer).__name__), counts)}/"
        if _is_model(layer):
            _walk_model(layer, group, out)
        else:
            out.append((group, layer.name, list(layer.weights)))


def is_model_entry(entry):
    """Whether a serialized layer is a model (Sequential or functional)."""
    config = entry.get("config")
    return entry.get("class_name") in MODEL_CLASSES and isinstance(config, dict) and \
        isinstance(config.get("layers"), list)


def _is_operation(entry):
    """An operation on symbolic tensors (``x + 3.0``): not among a model's layers."""
    module = entry.get("module")
    return isinstance(module, str) and module.startswith("keras.src.ops")


def config_groups(entry):
    """``[(group, class name, layer config, build input shape)]`` for the layers of a
    serialized Keras 3 model, in the same layout as ``model_groups`` (models themselves
    left out); the shape is None where the config does not say it."""
    out = []
    _walk_config(entry, "", out)
    return out


def _walk_config(entry, prefix, out):
    sequential = entry.get("class_name") == "Sequential"
    counts = {}
    for item in entry["config"]["layers"]:
        if not isinstance(item, dict) or not isinstance(item.get("class_name"), str):
            continue
        class_name = item["class_name"]
        if (sequential and class_name == "InputLayer") or _is_operation(item):
            continue
        group = f"{prefix}layers/{_unique(snake_case(class_name), counts)}/"
        if is_model_entry(item):
            _walk_config(item, group, out)
            continue
        build = item.get("build_config")
        shape = build.get("input_shape") if isinstance(build, dict) else None
        out.append((group, class_name, item.get("config"), shape))


def variable_keys(datasets, group):
    """The dataset paths of ``group``'s variables (``<group>vars/0``, ...), in index
    order; ``datasets`` maps paths to datasets."""
    prefix = f"{group}vars/"
    keys = [key for key in datasets
            if key.startswith(prefix) and "/" not in key[len(prefix):]]
    return sorted(keys, key=lambda k: (len(k), k))
