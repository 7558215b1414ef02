"""Saving and loading models: one file, written atomically, read without running code.

A file is a zip of ``.npy`` arrays (NumPy's ``.npz`` layout), written at exactly the path
given, whatever its suffix:

- ``__minidl__``: a JSON header (format version, the model's architecture as its config,
  the compile config, each weight's name, shape and dtype, the optimizer's config and state
  layout);
- ``weight_<i>``: the weights in ``model.weights`` order;
- ``optimizer_<i>``: the optimizer's state arrays;
- ``rng_state``: the host random generator's state (so a resumed run draws the same
  shuffles and dropout masks as an uninterrupted one; on CuPy, ``fit`` reseeds the device
  generator from it at each epoch);
- ``callback_<i>``: with the header's ``callbacks`` entry, the state of the callbacks of
  the fit that wrote the file (``ModelCheckpoint``), which a resumed fit restores.

Writing goes to a temporary file in the same folder, then ``os.replace``: a save that dies
halfway leaves the previous file intact, a replaced file keeps its permission bits, and
temporary files left by a killed process are removed by the next save into the folder
(``minidl.keras_files.files``). Reading never unpickles and never runs code: classes come
only from minidl's registry or an explicit ``custom_objects``. Before anything is
decompressed or allocated, every member's declared size is checked against its stored
size, every array's ``.npy`` header (numeric dtypes only) against its member and the JSON
header, and the config is screened (``minidl.keras_files.screen``); the model is then
built creating no more weight values than the file stores, and every array is checked
against the rebuilt model's names, shapes and dtypes. A malformed, truncated or hostile
file raises ``FormatError`` (a ``ValueError``) naming the file and the problem. The few
absolute limits (a header of at most 16 MiB, ...) are those of ``minidl.limits``; raise
them with ``load_limits`` or minidl.json's ``load_limits`` key.

Keras's files are chosen by suffix when writing and by content when reading
(``minidl.keras_files``; HDF5 needs the optional ``h5py``, ``pip install
"minidl[keras]"``):

- ``save("m.keras")`` writes a Keras 3 archive and ``save_weights("m.weights.h5")`` a
  Keras 3 weights file; every other suffix gets minidl's own format;
- ``load_model`` reads minidl's files, ``.keras`` archives (a zip holding
  ``config.json``) and Keras 2 / tf.keras HDF5 files; ``load_weights`` reads minidl's
  files, Keras 3 weights files, the weights of a ``.keras`` archive and legacy HDF5
  weights.
"""
import json
import math
import os
import zipfile

import numpy as np

from . import keras_files
from . import random as _random
from .callbacks import pack_state, unpack_state
from .keras_files import FormatError, hdf5
from .keras_files.architecture import rebuild
from .keras_files.archive import parse_json
from .keras_files.members import npy_header, open_zip, read_npy
from .layers import serialize
from .limits import limit, load_limits

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "FormatError",
           "load_limits"]

FORMAT = "minidl"
VERSION = 1


HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _atomic_savez(path, arrays):
    keras_files.atomic_write(path, lambda f: np.savez(f, **arrays))


def _kind_of_file(path):
    """``"hdf5"``, ``"keras"`` or ``"minidl"``: from the first bytes (HDF5's signature; a
    zip holding ``config.json``), else, for a damaged file, from the suffix."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no file at {path!r}")
    with open(path, "rb") as f:
        head = f.read(len(HDF5_MAGIC))
    if head == HDF5_MAGIC:
        return "hdf5"
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
        return "keras" if "config.json" in names and "__minidl__.npy" not in names \
            else "minidl"
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError):
        pass
    if path.endswith(".keras"):
        return "keras"
    return "hdf5" if path.endswith((".h5", ".hdf5")) else "minidl"


def _rng_array():
    state = _random.get_state()
    if state["bit_generator"] != "PCG64":
        return None
    words = []
    for key in ("state", "inc"):
        value = int(state["state"][key])
        words += [value >> 64, value & (2 ** 64 - 1)]
    return np.array(words + [state["has_uint32"], state["uinteger"]], dtype=np.uint64)


def _restore_rng(path, words):
    if words.shape != (6,) or words.dtype != np.uint64:
        raise FormatError(path, f"rng_state is {words.dtype} {words.shape}, expected "
                                "6 uint64 words")
    words = [int(w) for w in words]
    try:
        _random.set_state({"bit_generator": "PCG64",
                           "state": {"state": (words[0] << 64) | words[1],
                                     "inc": (words[2] << 64) | words[3]},
                           "has_uint32": words[4], "uinteger": words[5]})
    except (ValueError, TypeError, OverflowError) as err:
        raise FormatError(path, f"rng_state is not a random generator state: {err}") \
            from None


def _weights_header(weights):
    return [{"name": w.name, "shape": list(w.shape), "dtype": str(w.dtype)}
            for w in weights]


def _payload(model, include_optimizer=True, kind="model"):
    weights = model.weights
    header = {"format": FORMAT, "version": VERSION, "kind": kind,
              "weights": _weights_header(weights)}
    arrays = {f"weight_{i}": w.numpy() for i, w in enumerate(weights)}
    if kind == "model":
        header["model"] = serialize(model)
        header["compile"] = model._compile_config()
        optimizer = getattr(model, "optimizer", None)
        if include_optimizer and optimizer is not None:
            state = [np.asarray(a.get() if hasattr(a, "get") else a)
                     for a in optimizer.get_state()]
            header["optimizer_state"] = _weights_header_arrays(state)
            arrays.update({f"optimizer_{i}": a for i, a in enumerate(state)})
        rng = _rng_array()
        if rng is not None:
            arrays["rng_state"] = rng
        _add_callbacks_state(model, header, arrays)
    arrays["__minidl__"] = np.array(json.dumps(header))
    return arrays


def _add_callbacks_state(model, header, arrays):
    """The counters of the callbacks of a fit in progress (a ``ModelCheckpoint`` save)."""
    state = model._callbacks_state() if hasattr(model, "_callbacks_state") else None
    if state:
        header["callbacks"], extra = pack_state(state)
        arrays.update({f"callback_{i}": np.asarray(a) for i, a in enumerate(extra)})


def _callbacks_state(path, value, arrays):
    """The saved state of the callbacks (``callbacks.unpack_state``), for a resumed fit."""
    if not isinstance(value, dict):
        raise FormatError(path, "its header's 'callbacks' is not a JSON object")
    extra = []
    while f"callback_{len(extra)}" in arrays:
        extra.append(arrays[f"callback_{len(extra)}"])
    try:
        return unpack_state(value, extra)
    except ValueError as err:
        raise FormatError(path, f"its callbacks' state: {err}") from None


def _weights_header_arrays(arrays):
    return [{"shape": list(a.shape), "dtype": str(a.dtype)} for a in arrays]


def save_model(model, path: str | bytes | os.PathLike,
               include_optimizer: bool = True) -> None:
    """Write ``model`` (architecture, weights, compile config, optimizer state, RNG state)
    to one file at exactly ``path`` (str, bytes or os.PathLike); a ``.keras`` path gets a
    Keras 3 archive (architecture and weights only)."""
    _check_built(model)
    path = os.fsdecode(path)
    if path.endswith(".keras"):
        keras_files.save_keras(model, path)
        return
    _atomic_savez(path, _payload(model, include_optimizer, kind="model"))


def save_weights(model, path: str | bytes | os.PathLike) -> None:
    """Write only the weights (with their names, shapes and dtypes) at exactly ``path``;
    a ``.weights.h5`` path gets a Keras 3 weights file."""
    _check_built(model)
    path = os.fsdecode(path)
    if path.endswith(".weights.h5"):
        keras_files.save_weights(model, path)
        return
    _atomic_savez(path, _payload(model, kind="weights"))


def _check_built(model):
    if not getattr(model, "built", False):
        raise ValueError(f"model {model.name!r} has no weights yet: build it (call it on "
                         "data, fit it, or pass an input shape) before saving")


def _read(path):
    """``(header, arrays)`` of minidl's file at ``path``: every declared size checked
    against the stored ones and against the header before any array is read."""
    with open_zip(path, "a readable minidl file") as archive:
        names = {name[:-4]: name for name in archive.namelist() if name.endswith(".npy")}
        header = _read_header(archive, names, path)
        declared = {key: npy_header(archive, name, path) for key, name in names.items()
                    if key != "__minidl__"}
        _check_declared(header, declared, path)
        arrays = {key: read_npy(archive, names[key], path) for key in declared}
    return header, arrays


def _read_header(archive, names, path):
    if "__minidl__" not in names:
        raise FormatError(path, "not a minidl file (no minidl header)")
    size = archive.getinfo(names["__minidl__"]).file_size
    if size > limit("max_config_bytes"):
        raise FormatError(path, f"its header declares {size} bytes, more than the "
                                f"{limit('max_config_bytes')} allowed (max_config_bytes)")
    text = read_npy(archive, names["__minidl__"], path)
    if text.dtype.kind != "U":
        raise FormatError(path, "not a readable minidl file: its header is not text")
    header = parse_json(str(text[()]), "its header", path)
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise FormatError(path, "not a minidl file (no minidl header)")
    if header.get("version") != VERSION:
        raise FormatError(path, f"format version {header.get('version')!r}; this minidl "
                                f"reads version {VERSION}")
    _check_header(header, path)
    return header


def _is_shape(value):
    return isinstance(value, list) and all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value)


def _is_entry(entry, named):
    return isinstance(entry, dict) and _is_shape(entry.get("shape")) and \
        isinstance(entry.get("dtype"), str) and \
        (not named or isinstance(entry.get("name"), str))


def _check_entries(entries, what, path, named):
    if not isinstance(entries, list) or not all(_is_entry(e, named) for e in entries):
        raise FormatError(path, f"its header's {what!r} is not a list of "
                                f"{'names, ' if named else ''}shapes and dtypes")


def _check_header(header, path):
    """The header's fields have the types the loaders use."""
    _check_entries(header.get("weights"), "weights", path, named=True)
    if header.get("optimizer_state") is not None:
        _check_entries(header["optimizer_state"], "optimizer_state", path, named=False)
    if header.get("kind") not in ("model", "weights"):
        raise FormatError(path, f"its header's kind is {header.get('kind')!r}, not "
                                "'model' or 'weights'")
    for key in ("model", "compile"):
        if header.get(key) is not None and not isinstance(header[key], dict):
            raise FormatError(path, f"its header's {key!r} is not a JSON object")


def _check_declared(header, declared, path):
    """Each array the header lists exists with the shape and dtype it says."""
    listed = [(f"weight_{i}", meta) for i, meta in enumerate(header["weights"])]
    listed += [(f"optimizer_{i}", meta)
               for i, meta in enumerate(header.get("optimizer_state") or [])]
    for key, meta in listed:
        if key not in declared:
            raise FormatError(path, f"array {key} ({meta.get('name', 'optimizer state')!r})"
                                    " is missing")
        shape, dtype, _ = declared[key]
        if tuple(shape) != tuple(meta["shape"]) or str(dtype) != meta["dtype"]:
            raise FormatError(path, f"array {key} is {dtype} {tuple(shape)}, its header "
                                    f"says {meta['dtype']} {tuple(meta['shape'])}")


def _stored_values(arrays):
    return sum(math.prod(a.shape) for key, a in arrays.items() if key.startswith("weight_"))


def _check_and_set_weights(path, model, header, arrays):
    weights = model.weights
    saved = header.get("weights")
    if not isinstance(saved, list) or len(saved) != len(weights):
        count = len(saved) if isinstance(saved, list) else "?"
        raise FormatError(path, f"it holds {count} weights; model {model.name!r} has "
                                f"{len(weights)}")
    values = []
    for i, (w, meta) in enumerate(zip(weights, saved)):
        key = f"weight_{i}"
        if key not in arrays:
            raise FormatError(path, f"array {key} ({meta.get('name')!r}) is missing")
        a = arrays[key]
        if tuple(a.shape) != tuple(w.shape) or str(a.dtype) != str(w.dtype):
            raise FormatError(path, f"weight {i} {meta.get('name')!r} is {a.dtype} "
                                    f"{tuple(a.shape)}; model weight {w.name!r} is "
                                    f"{w.dtype} {tuple(w.shape)}")
        if meta.get("name") != w.name:
            raise FormatError(path, f"weight {i} is named {meta.get('name')!r}, model "
                                    f"weight is {w.name!r}")
        values.append(a)
    model.set_weights(values)


def load_weights(model, path: str | bytes | os.PathLike) -> None:
    """Load weights saved by ``save_weights`` or ``save`` (minidl's or Keras's files, see
    the module) into a built ``model``; ``path`` is str, bytes or os.PathLike.

    Raises:
        FormatError: a malformed, truncated or hostile file, or weights that do not fit.
    """
    _check_built(model)
    path = os.fsdecode(path)
    kind = _kind_of_file(path)
    if kind == "keras":
        keras_files.load_keras_weights(model, path)
    elif kind == "hdf5":
        _load_hdf5_weights(model, path)
    else:
        header, arrays = _read(path)
        _check_and_set_weights(path, model, header, arrays)


def _load_hdf5_weights(model, path):
    h5py = keras_files.import_h5py(path)
    with hdf5.open_file(h5py, path, path) as f:
        legacy = "layer_names" in f.attrs or "model_weights" in f
    if legacy:
        keras_files.load_legacy_weights(model, path)
    else:
        keras_files.load_weights(model, path)


def load_model(path: str | bytes | os.PathLike, custom_objects: dict | None = None,
               compile: bool = True):
    """Rebuild a model saved with ``model.save``: architecture, weights, and (with
    ``compile=True``) the optimizer with its state. Restores minidl's host random state,
    so training resumed from a checkpoint continues as an uninterrupted run would.

    Raises:
        FormatError: the file is not a model file, is truncated, holds a pickled
            object, names a class minidl does not know (pass it in ``custom_objects``),
            or its arrays do not match the rebuilt model.
    """
    path = os.fsdecode(path)
    kind = _kind_of_file(path)
    if kind == "keras":
        return keras_files.load_keras(path, custom_objects, compile)
    if kind == "hdf5":
        return keras_files.load_legacy_model(path, custom_objects, compile)
    header, arrays = _read(path)
    if header.get("kind") != "model" or header.get("model") is None:
        raise FormatError(path, "it holds weights only; build the model and call "
                                "model.load_weights")
    model = rebuild(header["model"], path, custom_objects, _stored_values(arrays))
    _check_and_set_weights(path, model, header, arrays)
    config = header.get("compile")
    if compile and config:
        _compile(path, model, config, header, arrays, custom_objects)
    if "rng_state" in arrays:
        _restore_rng(path, arrays["rng_state"])
    if header.get("callbacks") is not None:
        model._saved_callbacks_state = _callbacks_state(path, header["callbacks"], arrays)
    return model


def _compile(path, model, config, header, arrays, custom_objects):
    """Compile ``model`` from the header and restore its optimizer's state (the
    arrays ``_read`` matched with the header)."""
    try:
        model._compile_from_config(config, custom_objects)
        state_meta = header.get("optimizer_state")
        if state_meta is not None:
            state = [arrays[f"optimizer_{i}"] for i in range(len(state_meta))]
            optimizer = model.optimizer
            if len(state) != len(optimizer.variables):  # saved after a step: it has slots
                optimizer.build(model.trainable_weights)
            optimizer.set_state(state)
    except FormatError:
        raise
    except RecursionError:
        raise FormatError(path, "the compile config nests too deep") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError,
            OverflowError) as err:
        raise FormatError(path, f"the compile config or optimizer state cannot be "
                                f"restored ({err}); load with compile=False") from None
