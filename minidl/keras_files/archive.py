"""Keras 3's ``.keras`` archive: a zip of ``config.json`` (the serialized model),
``metadata.json`` (``keras_version``, ``date_saved``) and ``model.weights.h5`` (the
weights, see ``minidl.keras_files.weights``).

Reading opens members by their exact names only (a member name never becomes a file
path: nothing is extracted; see ``minidl.keras_files.members``) and checks each member's
declared size before decompressing it: never more than DEFLATE can expand its stored
size to, the config at most the ``max_config_bytes`` limit (``minidl.limits``), and the
weights file at most ``max_expansion`` times its stored size unless the model the config
describes (or, for ``load_keras_weights``, the model given) has that many weight bytes
(twice them, plus ``HDF5_OVERHEAD`` per layer). Then the config is screened
(``screen.check_config``), the weights file's declared shapes are checked against the
config, the model is built (creating no more weight values than the file stores), and
only then are the weights read.

Writing follows Keras (members stored uncompressed), but leaves out the optimizer state
and the ``compile_config``: Keras loads the model uncompiled.
"""
import datetime
import io
import json
import os
import zipfile

from ..limits import limit
from . import hdf5
from .architecture import compile_from_keras, keras_config, rebuild
from .errors import FormatError, import_h5py
from .files import atomic_write
from .layout import config_groups, is_model_entry, model_groups
from .members import open_zip, read_member
from .weights import assign_datasets, check_config_against, described_bytes, weights_bytes

__all__ = ["load_keras", "load_keras_weights", "save_keras", "parse_json",
           "KERAS_VERSION"]

CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
HDF5_OVERHEAD = 1 << 14       # bytes of HDF5 groups and headers per layer, at most
KERAS_VERSION = "3.15.1"      # the Keras release whose layout these files follow


def parse_json(data, name, path):
    """The JSON document ``data`` (bytes or str) of ``name``.

    Raises:
        FormatError: not UTF-8, not JSON, or nested too deep for the parser.
    """
    try:
        return json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
    except RecursionError:
        raise FormatError(path, f"{name} nests its JSON too deep") from None
    except (UnicodeDecodeError, ValueError) as err:
        raise FormatError(path, f"{name} is not valid JSON: {err}") from None


def _weights_member(archive, path, described_bytes, layer_count):
    try:
        stored = archive.getinfo(WEIGHTS).compress_size
    except KeyError:
        raise FormatError(path, f"the archive has no {WEIGHTS}") from None
    allowed = max(limit("max_expansion") * stored,
                  2 * described_bytes + HDF5_OVERHEAD * (layer_count + 1))
    return read_member(archive, WEIGHTS, path, allowed)


def load_keras(path: str | bytes | os.PathLike, custom_objects: dict | None = None,
               compile: bool = True):
    """The model in a Keras 3 ``.keras`` archive, with its weights (and compiled when
    ``compile`` and the archive holds a compile config).

    Raises:
        FormatError: a malformed, truncated or hostile archive, code or a class minidl
            does not know in the config, or weights that do not fit it.
        ImportError: h5py is missing.
    """
    h5py = import_h5py(path)
    with open_zip(path, "a .keras archive") as archive:
        config = parse_json(read_member(archive, CONFIG, path, limit("max_config_bytes")),
                            CONFIG, path)
        if not isinstance(config, dict) or not is_model_entry(config):
            raise FormatError(path, f"{CONFIG} does not describe a Sequential or "
                                    "functional model")
        groups = config_groups(config)
        weights = _weights_member(archive, path, described_bytes(groups), len(groups))
    with hdf5.open_file(h5py, io.BytesIO(weights), path) as f:
        datasets = hdf5.scan(h5py, f, path)
        check_config_against(groups, datasets, path)
        model = rebuild(config, path, custom_objects, hdf5.stored_values(datasets))
        assign_datasets(model, datasets, path)
    if compile:
        compile_from_keras(model, config.get("compile_config"), path, custom_objects)
    return model


def load_keras_weights(model, path: str | bytes | os.PathLike) -> None:
    """Read the weights of a ``.keras`` archive into a built ``model`` of the same
    architecture (the archive's config is not used)."""
    h5py = import_h5py(path)
    own = sum(w.data.nbytes for w in model.weights)
    with open_zip(path, "a .keras archive") as archive:
        weights = _weights_member(archive, path, own, len(model_groups(model)))
    with hdf5.open_file(h5py, io.BytesIO(weights), path) as f:
        assign_datasets(model, hdf5.scan(h5py, f, path), path)


def save_keras(model, path: str | bytes | os.PathLike) -> None:
    """Write ``model`` as a Keras 3 ``.keras`` archive, atomically."""
    config = json.dumps(keras_config(model))
    metadata = json.dumps({"keras_version": KERAS_VERSION, "date_saved":
                           datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")})
    weights = weights_bytes(model, path)

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(METADATA, metadata)
            archive.writestr(CONFIG, config)
            archive.writestr(WEIGHTS, weights)
    atomic_write(path, write)
