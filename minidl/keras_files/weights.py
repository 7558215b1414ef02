"""Keras 3's weights file (``.weights.h5``, and ``model.weights.h5`` inside a ``.keras``
archive): reading it into a minidl model and writing one from it, in the layout of
``minidl.keras_files.layout``.

Reading matches every dataset to a variable by group and index and checks counts,
shapes and dtypes before reading any values; datasets the model has no variable for
(other than the optimizer's, which are skipped) are an error, as are variables the file
lacks.
"""
import io
import math
import os

from . import hdf5
from .errors import FormatError, import_h5py
from .files import atomic_write
from .layout import model_groups, variable_keys
from .screen import expected_weight_shapes, shapes_match

__all__ = ["load_weights", "save_weights", "weights_bytes", "check_config_against",
           "described_bytes", "assign_datasets"]


def described_bytes(groups):
    """The weight bytes (at 8 bytes a value) of the layers in ``config_groups`` output
    whose weight shapes follow from their config: a lower bound of the model's size."""
    total = 0
    for _, class_name, config, input_shape in groups:
        for shape in expected_weight_shapes(class_name, config, input_shape) or []:
            if None not in shape:
                total += 8 * math.prod(shape)
    return total


def check_config_against(groups, datasets, path):
    """Before building: each layer in ``config_groups`` output whose weights follow a
    formula must declare the shapes the file holds for it.

    Raises:
        FormatError: naming the layer, the shapes its config implies and those stored.
    """
    for group, class_name, config, input_shape in groups:
        expected = expected_weight_shapes(class_name, config, input_shape)
        if expected is None:
            continue
        stored = [tuple(datasets[key].shape) for key in variable_keys(datasets, group)]
        if not shapes_match(expected, stored):
            name = config.get("name") if isinstance(config, dict) else None
            raise FormatError(path, f"layer {name!r} ({class_name}, group {group}vars) "
                                    f"has weights of shapes {expected} by its config, "
                                    f"but the file holds {stored}")


def _plan(model, datasets, path):
    """``[(variable, dataset path)]`` for every variable of ``model``, checked."""
    pairs, used = [], set()
    for group, name, variables in model_groups(model):
        keys = variable_keys(datasets, group)
        wanted = [f"{group}vars/{i}" for i in range(len(variables))]
        if keys != wanted:
            raise FormatError(path, f"layer {name!r} (group {group}vars) has "
                                    f"{len(variables)} weights, the file holds "
                                    f"{len(keys)} there ({keys[:4]})")
        for variable, key in zip(variables, keys):
            dataset = datasets[key]
            if tuple(dataset.shape) != variable.shape:
                raise FormatError(path, f"weight {variable.path!r} has shape "
                                        f"{variable.shape}, the file holds "
                                        f"{tuple(dataset.shape)} at {key!r}")
            if dataset.dtype.kind != "f" and variable.dtype.kind == "f":
                raise FormatError(path, f"weight {variable.path!r} is {variable.dtype}, "
                                        f"the file holds {dataset.dtype} at {key!r}")
            pairs.append((variable, key))
        used.update(keys)
    extra = sorted(k for k in datasets if k not in used and not k.startswith("optimizer/"))
    if extra:
        raise FormatError(path, f"the file holds weights the model has no place for: "
                                f"{extra[:4]}{' ...' if len(extra) > 4 else ''}")
    return pairs


def assign_datasets(model, datasets, path):
    """Match, check, then read and assign every variable of ``model`` (see module)."""
    pairs = _plan(model, datasets, path)
    values = [hdf5.read(datasets[key], key, path) for _, key in pairs]
    for (variable, _), value in zip(pairs, values):
        variable.assign(value)


def load_weights(model, path: str | bytes | os.PathLike) -> None:
    """Read a Keras 3 ``.weights.h5`` file into a built ``model`` of the same
    architecture.

    Raises:
        FormatError: a malformed or hostile file, or weights that do not fit the model.
        ImportError: h5py is missing.
    """
    h5py = import_h5py(path)
    with hdf5.open_file(h5py, path, path) as f:
        assign_datasets(model, hdf5.scan(h5py, f, path), path)


def weights_bytes(model, path):
    """A Keras 3 weights file for ``model``, as bytes."""
    h5py = import_h5py(path)
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        for group, name, variables in model_groups(model):
            vars_group = f.require_group(f"{group}vars")
            vars_group.attrs["name"] = name
            for i, variable in enumerate(variables):
                vars_group.create_dataset(str(i), data=variable.numpy())
    return buffer.getvalue()


def save_weights(model, path: str | bytes | os.PathLike) -> None:
    """Write ``model``'s weights as a Keras 3 ``.weights.h5`` file, atomically."""
    data = weights_bytes(model, path)
    atomic_write(path, lambda f: f.write(data))
