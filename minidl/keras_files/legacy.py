"""The legacy HDF5 format of Keras 2 / tf.keras (``model.save("m.h5")``), which Keras 3
still writes when asked for ``.h5``.

A full-model file has the JSON attribute ``model_config`` (the architecture, often in
Keras 2's spellings), optionally ``training_config``, and the group ``model_weights``:
its attribute ``layer_names`` lists the layers; each layer's group lists its weights in
the attribute ``weight_names`` (paths of datasets inside the group, such as
``conv2d/kernel:0``), in the order trainable then non-trainable. A weights-only file
(``save_weights("w.h5")`` in Keras 2) has the same layout at its root. Weights are
matched to the model's layers by order, as Keras does: the layers that have weights,
in ``model.layers`` order, against the saved layers that have weights.

``upgrade_config`` rewrites the Keras 2 spellings that Keras 3 no longer writes:
``groups: 1`` on depthwise and separable layers, ``axis: [3]`` on
``BatchNormalization``, its default renormalization keys, ``Policy`` dtypes and the class
name ``Model`` for a functional model (``batch_input_shape``, ``dtype`` strings and
Keras 2's ``inbound_nodes`` are read as they are).
"""
import math
import os

from ..limits import limit
from . import hdf5
from .architecture import compile_from_keras, rebuild
from .archive import parse_json
from .errors import FormatError, import_h5py
from .layout import is_model_entry
from .screen import expected_weight_shapes, shapes_match

__all__ = ["load_legacy_model", "load_legacy_weights", "upgrade_config"]

BN_KERAS2_DEFAULTS = {"renorm": False, "renorm_clipping": None, "renorm_momentum": 0.99,
                      "fused": None, "virtual_batch_size": None, "adjustment": None}


def _upgrade_entry(entry, path):
    class_name, config = entry["class_name"], entry.get("config")
    if not isinstance(config, dict):
        return
    if class_name == "Model" and "input_layers" in config:
        entry["class_name"] = "Functional"
    if class_name.startswith(("Depthwise", "Separable")) and "groups" in config:
        if config.pop("groups") not in (1, None):
            raise FormatError(path, f"layer {config.get('name')!r} ({class_name}) has "
                                    "groups other than 1")
    if class_name == "BatchNormalization":
        axis = config.get("axis")
        if isinstance(axis, list) and len(axis) == 1:
            config["axis"] = axis[0]
        for key, default in BN_KERAS2_DEFAULTS.items():
            if key in config and config[key] == default:
                del config[key]
    dtype = config.get("dtype")
    if isinstance(dtype, dict) and dtype.get("class_name") == "Policy":
        config["dtype"] = (dtype.get("config") or {}).get("name")


def upgrade_config(config, path):
    """Rewrite Keras 2 spellings in a serialized model, in place (see the module)."""
    pending = [config]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            if isinstance(value.get("class_name"), str):
                _upgrade_entry(value, path)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return config


def _strings(obj, name, path):
    """A string-list attribute (Keras splits long ones into ``name0``, ``name1``...)."""
    if name in obj.attrs:
        keys = [name]
    else:
        keys = []
        while f"{name}{len(keys)}" in obj.attrs:
            keys.append(f"{name}{len(keys)}")
    out = []
    for key in keys:
        attr = obj.attrs.get_id(key)
        if math.prod(attr.shape or ()) * attr.dtype.itemsize > limit("max_config_bytes"):
            raise FormatError(path, f"attribute {key!r} is larger than "
                                    f"{limit('max_config_bytes')} bytes")
        try:
            value = obj.attrs[key]
            items = [value] if isinstance(value, (str, bytes)) else list(getattr(
                value, "flat", value))
            out += [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in items]
        except (OSError, TypeError, ValueError, KeyError, RuntimeError) as err:
            raise FormatError(path, f"attribute {key!r} is not readable text: {err}") \
                from None
    return out


def _saved_layers(h5py, group, datasets, path):
    """``[(layer name, [dataset paths])]`` for the saved layers that have weights."""
    out = []
    for name in _strings(group, "layer_names", path):
        weight_names = _strings(hdf5.group(h5py, group, name, path), "weight_names", path)
        keys = [f"{name}/{w}" for w in weight_names]
        missing = [k for k in keys if k not in datasets]
        if missing:
            raise FormatError(path, f"layer {name!r} lists weights the file lacks: "
                                    f"{missing[:4]}")
        if keys:
            out.append((name, keys))
    return out


def _check_config_against(config, saved, datasets, path):
    """Before building: the weights of each top-level layer whose weights follow a
    formula must have the shapes its config implies."""
    stored = dict(saved)
    for item in config["config"]["layers"]:
        if not isinstance(item, dict) or is_model_entry(item):
            continue
        layer_config = item.get("config") or {}
        expected = expected_weight_shapes(item.get("class_name"), layer_config, None)
        name = layer_config.get("name") if isinstance(layer_config, dict) else None
        if expected is None or (not expected and name not in stored):
            continue
        shapes = [tuple(datasets[k].shape) for k in stored.get(name, [])]
        if not shapes_match(expected, shapes):
            raise FormatError(path, f"layer {name!r} ({item.get('class_name')}) has "
                                    f"weights of shapes {expected} by its config, but "
                                    f"the file holds {shapes}")


def _assign(model, saved, datasets, path):
    layers = [layer for layer in model.layers if layer.weights]
    if len(layers) != len(saved):
        raise FormatError(path, f"the file holds weights for {len(saved)} layers "
                                f"{[name for name, _ in saved][:6]}, the model has "
                                f"{len(layers)} layers with weights")
    pairs = []
    for layer, (name, keys) in zip(layers, saved):
        variables = layer.trainable_weights + layer.non_trainable_weights
        shapes = [tuple(datasets[k].shape) for k in keys]
        if [v.shape for v in variables] != shapes:
            raise FormatError(path, f"layer {layer.name!r} has weights of shapes "
                                    f"{[v.shape for v in variables]}, the file holds "
                                    f"{shapes} for layer {name!r}")
        pairs += zip(variables, keys)
    values = [hdf5.read(datasets[key], key, path) for _, key in pairs]
    for (variable, _), value in zip(pairs, values):
        variable.assign(value)


def _json_attr(f, name, path):
    if name not in f.attrs:
        return None
    text = _strings(f, name, path)
    return parse_json(text[0], f"attribute {name!r}", path) if len(text) == 1 else None


def load_legacy_model(path: str | bytes | os.PathLike, custom_objects: dict | None = None,
                      compile: bool = True):
    """The model in a Keras 2 / tf.keras ``.h5`` file (architecture and weights).

    Raises:
        FormatError: a malformed, truncated or hostile file, a weights-only file, code
            or an unknown class in the config, or weights that do not fit it.
        ImportError: h5py is missing.
    """
    h5py = import_h5py(path)
    with hdf5.open_file(h5py, path, path) as f:
        config = _json_attr(f, "model_config", path)
        if config is None:
            raise FormatError(path, "no model_config attribute: a weights-only file? "
                                    "Build the model and call model.load_weights")
        if isinstance(config, dict):
            upgrade_config(config, path)
        if not isinstance(config, dict) or not is_model_entry(config):
            raise FormatError(path, "model_config does not describe a Sequential or "
                                    "functional model")
        group = hdf5.group(h5py, f, "model_weights", path)
        datasets = hdf5.scan(h5py, group, path)
        saved = _saved_layers(h5py, group, datasets, path)
        _check_config_against(config, saved, datasets, path)
        model = rebuild(config, path, custom_objects, hdf5.stored_values(datasets))
        _assign(model, saved, datasets, path)
        training = _json_attr(f, "training_config", path) if compile else None
    if isinstance(training, dict):
        compile_from_keras(model, {**training, "optimizer":
                                   training.get("optimizer_config")}, path, custom_objects)
    return model


def load_legacy_weights(model, path: str | bytes | os.PathLike) -> None:
    """Read a legacy ``.h5`` weights file (or a full-model file's weights) into a built
    ``model``, layer by layer in order.

    Raises:
        FormatError: a malformed or hostile file, or weights that do not fit the model.
    """
    h5py = import_h5py(path)
    with hdf5.open_file(h5py, path, path) as f:
        group = hdf5.group(h5py, f, "model_weights", path) if "model_weights" in f else f
        datasets = hdf5.scan(h5py, group, path)
        _assign(model, _saved_layers(h5py, group, datasets, path), datasets, path)
