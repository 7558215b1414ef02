"""A model's architecture in Keras's words: rebuilding a minidl model from a Keras config
(after ``screen.check_config``) and writing a minidl model's config so that Keras reads
it.

minidl serializes layers and models with Keras 3's keys and modules; only a
``Sequential`` model built without an ``InputLayer`` needs one written for Keras.
"""
from .. import layers as layers_module
from ..limits import build_budget
from .errors import FormatError
from .screen import check_config

__all__ = ["rebuild", "deserialize_screened", "keras_config", "compile_from_keras"]

def rebuild(config, path, custom_objects=None, stored_values=None):
    """A built minidl model from a serialized model config, screened first; with
    ``stored_values`` (the weight values the file holds), building may create no more
    weight values than that (``minidl.limits.build_budget``), so absurd sizes in a
    config are refused before they are allocated.

    Raises:
        FormatError: a screened-out config, a config minidl cannot rebuild (an unknown
            class, bad arguments), one describing more weights than the file stores, or
            one that does not say its input shape.
    """
    model = deserialize_screened(config, path, custom_objects, stored_values)
    if not model.built:
        raise FormatError(path, "the architecture does not say its input shape, so the "
                                "model cannot be built")
    return model


def deserialize_screened(config, path, custom_objects=None, stored_values=None):
    """The model a serialized config describes (built or not), after ``check_config``;
    every failure to rebuild it is a ``FormatError`` naming ``path``."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise FormatError(path, "the model config is not a serialized Keras object")
    check_config(config, path, custom_objects)
    try:
        if stored_values is None:
            model = layers_module.deserialize(config, custom_objects=custom_objects)
        else:
            with build_budget(stored_values, path):
                model = layers_module.deserialize(config, custom_objects=custom_objects)
    except FormatError:
        raise
    except RecursionError:
        raise FormatError(path, "the architecture nests too deep to rebuild") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError,
            NotImplementedError, OverflowError) as err:
        raise FormatError(path, f"the architecture cannot be rebuilt: {err}") from None
    if not hasattr(model, "layers"):
        raise FormatError(path, f"the config describes a {type(model).__name__} layer, "
                                "not a model")
    return model


def keras_config(model):
    """``model``'s serialized config as Keras 3 reads it: a ``Sequential`` model's input
    as an ``InputLayer`` entry rather than its first layer's ``batch_input_shape``
    (which Keras 3 layers refuse)."""
    config = layers_module.serialize(model)
    pending = [config]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            if value.get("class_name") == "Sequential":
                _input_layer_first(value["config"])
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return config


def _input_layer_first(config):
    entries = config.get("layers") or []
    shapes = [entry["config"].pop("batch_input_shape", None) for entry in entries
              if isinstance(entry.get("config"), dict) and entry.get("class_name") !=
              "InputLayer"]
    shape = (shapes[0] if shapes else None) or config.get("build_input_shape")
    if shape is None or (entries and entries[0].get("class_name") == "InputLayer"):
        return
    dtype = entries[0]["config"].get("dtype", "float32") if entries else "float32"
    entries.insert(0, {"module": "keras.layers", "class_name": "InputLayer",
                       "config": {"batch_shape": list(shape), "dtype": dtype,
                                  "sparse": False, "name": "input_layer"},
                       "registered_name": None})


def compile_from_keras(model, compile_config, path, custom_objects=None):
    """Compile ``model`` from a Keras ``compile_config`` (optimizer, loss, metrics).

    Raises:
        FormatError: naming what minidl could not rebuild.
    """
    if not isinstance(compile_config, dict) or compile_config.get("optimizer") is None:
        return
    config = {"optimizer": compile_config["optimizer"],
              "loss": compile_config.get("loss"),
              "metrics": compile_config.get("metrics") or []}
    try:
        model._compile_from_config(config, custom_objects)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError,
            OverflowError) as err:
        raise FormatError(path, f"the compile config cannot be rebuilt ({err}); load "
                                "with compile=False") from None
