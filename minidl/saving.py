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
  generator from it at each epoch).

Writing goes to a temporary file in the same folder, then ``os.replace``: a save that dies
halfway leaves the previous file intact. Reading uses ``allow_pickle=False`` and
``json``; classes come only from minidl's registry or an explicit ``custom_objects``; every
array is checked against the rebuilt model's names, shapes and dtypes. A malformed,
truncated or hostile file raises ``ValueError``.
"""
import json
import os
import secrets
import zipfile

import numpy as np

from . import random as _random

__all__ = ["save_model", "load_model", "save_weights", "load_weights"]

FORMAT = "minidl"
VERSION = 1


def _atomic_savez(path, arrays):
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot save to {path!r}: folder {directory!r} does not "
                                "exist")
    # not mkstemp: its files are 0600; created like open() does, the umask sets the mode
    tmp = os.path.join(directory, f".minidl-{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _rng_array():
    state = _random.get_state()
    if state["bit_generator"] != "PCG64":
        return None
    words = []
    for key in ("state", "inc"):
        value = int(state["state"][key])
        words += [value >> 64, value & (2 ** 64 - 1)]
    return np.array(words + [state["has_uint32"], state["uinteger"]], dtype=np.uint64)


def _restore_rng(words):
    words = [int(w) for w in words]
    if len(words) != 6:
        raise ValueError(f"rng_state has {len(words)} words, expected 6")
    _random.set_state({"bit_generator": "PCG64",
                       "state": {"state": (words[0] << 64) | words[1],
                                 "inc": (words[2] << 64) | words[3]},
                       "has_uint32": words[4], "uinteger": words[5]})


def _weights_header(weights):
    return [{"name": w.name, "shape": list(w.shape), "dtype": str(w.dtype)} for w in weights]


def _payload(model, include_optimizer=True, kind="model"):
    weights = model.weights
    header = {"format": FORMAT, "version": VERSION, "kind": kind,
              "weights": _weights_header(weights)}
    arrays = {f"weight_{i}": w.numpy() for i, w in enumerate(weights)}
    if kind == "model":
        from .layers import serialize
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
    arrays["__minidl__"] = np.array(json.dumps(header))
    return arrays


def _weights_header_arrays(arrays):
    return [{"shape": list(a.shape), "dtype": str(a.dtype)} for a in arrays]


def save_model(model, path, include_optimizer=True):
    """Write ``model`` (architecture, weights, compile config, optimizer state, RNG state)
    to one file at exactly ``path``."""
    _check_built(model)
    _atomic_savez(path, _payload(model, include_optimizer, kind="model"))


def save_weights(model, path):
    """Write only the weights (with their names, shapes and dtypes) at exactly ``path``."""
    _check_built(model)
    _atomic_savez(path, _payload(model, kind="weights"))


def _check_built(model):
    if not getattr(model, "built", False):
        raise ValueError(f"model {model.name!r} has no weights yet: build it (call it on "
                         "data, fit it, or pass an input shape) before saving")


def _read(path):
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no file at {path!r}")
    try:
        f = np.load(path, allow_pickle=False)
        if not isinstance(f, np.lib.npyio.NpzFile):  # a .npy file: an ndarray, no `with`
            raise ValueError("not a zip archive of arrays")
        with f:
            arrays = {name: f[name] for name in f.files}
        header = json.loads(str(arrays.pop("__minidl__")[()]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile,
            UnicodeDecodeError, AttributeError) as err:
        raise ValueError(f"{path!r} is not a readable minidl file: {err}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not a minidl file (no minidl header)")
    if header.get("version") != VERSION:
        raise ValueError(f"{path!r} has format version {header.get('version')!r}; this "
                         f"minidl reads version {VERSION}")
    return path, header, arrays


def _check_and_set_weights(path, model, header, arrays):
    weights = model.weights
    saved = header.get("weights")
    if not isinstance(saved, list) or len(saved) != len(weights):
        raise ValueError(f"{path!r} holds {len(saved) if isinstance(saved, list) else '?'} "
                         f"weights; model {model.name!r} has {len(weights)}")
    values = []
    for i, (w, meta) in enumerate(zip(weights, saved)):
        key = f"weight_{i}"
        if key not in arrays:
            raise ValueError(f"{path!r} is missing array {key} ({meta.get('name')!r})")
        a = arrays[key]
        if tuple(a.shape) != tuple(w.shape) or str(a.dtype) != str(w.dtype):
            raise ValueError(f"{path!r}: weight {i} {meta.get('name')!r} is {a.dtype} "
                             f"{tuple(a.shape)}; model weight {w.name!r} is {w.dtype} "
                             f"{tuple(w.shape)}")
        if meta.get("name") != w.name:
            raise ValueError(f"{path!r}: weight {i} is named {meta.get('name')!r}, model "
                             f"weight is {w.name!r}")
        values.append(a)
    model.set_weights(values)


def load_weights(model, path):
    """Load weights saved by ``save_weights`` or ``save`` into a built ``model``."""
    path, header, arrays = _read(path)
    _check_built(model)
    _check_and_set_weights(path, model, header, arrays)


def load_model(path, custom_objects=None, compile=True):
    """Rebuild a model saved with ``model.save``: architecture, weights, and (with
    ``compile=True``) the optimizer with its state. Restores minidl's host random state,
    so training resumed from a checkpoint continues as an uninterrupted run would.

    Raises:
        ValueError: the file is not a minidl model file, is truncated, holds a pickled
            object, names a class minidl does not know (pass it in ``custom_objects``),
            or its arrays do not match the rebuilt model.
    """
    from .layers import deserialize
    path, header, arrays = _read(path)
    if header.get("kind") != "model" or "model" not in header:
        raise ValueError(f"{path!r} holds weights only; build the model and call "
                         "model.load_weights")
    model = deserialize(header["model"], custom_objects=custom_objects)
    if not model.built:
        raise ValueError(f"{path!r}: the saved architecture does not say its input shape, "
                         "so the model cannot be rebuilt")
    _check_and_set_weights(path, model, header, arrays)
    config = header.get("compile")
    if compile and config:
        model._compile_from_config(config, custom_objects)
        state_meta = header.get("optimizer_state")
        if state_meta is not None:
            state = []
            for i, meta in enumerate(state_meta):
                key = f"optimizer_{i}"
                if key not in arrays:
                    raise ValueError(f"{path!r} is missing optimizer array {key}")
                state.append(arrays[key])
            optimizer = model.optimizer
            if len(state) != len(optimizer.variables):  # saved after a step: it has slots
                optimizer.build(model.trainable_weights)
            optimizer.set_state(state)
    if "rng_state" in arrays:
        _restore_rng(arrays["rng_state"])
    return model
