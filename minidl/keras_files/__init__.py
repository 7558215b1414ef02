"""Keras's model files, read and written without running code.

- ``archive``: Keras 3's ``.keras`` archive (``config.json``, ``metadata.json``,
  ``model.weights.h5``);
- ``weights``: Keras 3's ``.weights.h5`` file, in the layout of ``layout``;
- ``legacy``: the HDF5 format of Keras 2 / tf.keras (``.h5``);
- ``screen``: what a config may hold (no code, no foreign classes, bounded shapes);
- ``hdf5``: HDF5 read defensively (no links, declared sizes checked against stored ones);
- ``members``: zip archives read defensively (Keras's and minidl's own files);
- ``architecture``: rebuilding a model from a config (creating no more weight values than
  the file stores) and writing one Keras reads;
- ``errors``: ``FormatError`` and the optional ``h5py`` import;
- ``files``: atomic writes that keep the replaced file's permission bits and clean up
  after killed saves.

The limits these share with every other loader are ``minidl.limits``.

HDF5 goes through ``h5py``, an optional dependency: ``pip install "minidl[keras]"``.
``minidl.saving`` chooses among these formats and minidl's own.
"""
from .archive import load_keras, load_keras_weights, save_keras
from .errors import FormatError, import_h5py
from .files import atomic_write
from .legacy import load_legacy_model, load_legacy_weights
from .weights import load_weights, save_weights

__all__ = ["FormatError", "import_h5py", "atomic_write", "load_keras", "load_keras_weights",
           "save_keras", "load_weights", "save_weights", "load_legacy_model",
           "load_legacy_weights"]
