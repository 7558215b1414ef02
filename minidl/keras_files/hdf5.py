"""HDF5 read defensively: what a file declares is checked before anything is read.

``scan(h5file, path)`` walks every group from the root and returns the datasets it
finds, ``{"layers/dense/vars/0": Dataset, ...}``, after checking each one:

- only hard links (a soft or external link could point outside the file);
- no external or virtual storage (data kept in other files);
- a numeric dtype (no strings, objects, compound or variable-length types);
- the declared size (shape times item size) agrees with the bytes stored: no more than
  them for an uncompressed dataset, at most ``MAX_EXPANSION`` times more for a compressed
  one (datasets under ``SMALL_BYTES`` excepted);
- at most ``max_objects`` groups and datasets in all (``minidl.limits``).

So a dataset with a huge declared shape but a few stored bytes, or a truncated file, is
refused before its values are read, and ``read`` then only reads what the caller has
matched against a model's weights.
"""
import contextlib
import math

import numpy as np

from ..limits import MAX_EXPANSION, limit
from .errors import FormatError

__all__ = ["open_file", "scan", "group", "read", "declared_bytes", "stored_values",
           "MAX_EXPANSION"]

SMALL_BYTES = 1 << 16     # datasets this small are never refused for their ratio


@contextlib.contextmanager
def open_file(h5py, source, path):
    """``with open_file(h5py, source, path) as f``: ``h5py.File`` for reading ``source``
    (a file name or a file object); an error of h5py inside the block (a corrupt object
    header, a broken link table) becomes ``FormatError``.

    Raises:
        FormatError: not an HDF5 file, truncated or corrupt.
    """
    try:
        f = h5py.File(source, "r")
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        raise FormatError(path, f"not a readable HDF5 file (truncated or corrupt?): "
                                f"{err}") from None
    try:
        with f:
            yield f
    except FormatError:
        raise
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as err:
        raise FormatError(path, f"a corrupt HDF5 file: {err}") from None


def scan(h5py, root, path):
    """Every dataset under ``root``, by its path (no leading ``/``), checked as the module
    says.

    Raises:
        FormatError: a link, external or virtual storage, a non-numeric dtype, a size
            that disagrees with the stored bytes, or too many objects.
    """
    found, pending, count, most = {}, [("", root)], 0, limit("max_objects")
    while pending:
        prefix, group = pending.pop()
        for name in _names(group, prefix, path):
            count += 1
            if count > most:
                raise FormatError(path, f"more than {most} HDF5 objects")
            where = f"{prefix}{name}"
            link = group.get(name, getlink=True)
            if not isinstance(link, h5py.HardLink):
                raise FormatError(path, f"HDF5 object {where!r} is a "
                                        f"{type(link).__name__}; links are not allowed")
            obj = group[name]
            if isinstance(obj, h5py.Group):
                pending.append((where + "/", obj))
            elif isinstance(obj, h5py.Dataset):
                _check_dataset(obj, where, path)
                found[where] = obj
            else:
                raise FormatError(path, f"HDF5 object {where!r} is a "
                                        f"{type(obj).__name__}")
    return found


def group(h5py, parent, name, path):
    """The group ``name`` directly under ``parent``, reached through a hard link.

    Raises:
        FormatError: no such group, a path-like name, or a link.
    """
    if not name or "/" in name or name not in parent:
        raise FormatError(path, f"the file has no HDF5 group {name!r}")
    if not isinstance(parent.get(name, getlink=True), h5py.HardLink):
        raise FormatError(path, f"HDF5 object {name!r} is a link; links are not allowed")
    child = parent[name]
    if not isinstance(child, h5py.Group):
        raise FormatError(path, f"HDF5 object {name!r} is not a group")
    return child


def _names(group, prefix, path):
    try:
        return list(group.keys())
    except (OSError, RuntimeError, KeyError) as err:
        raise FormatError(path, f"cannot list HDF5 group {prefix or '/'!r} (truncated or "
                                f"corrupt?): {err}") from None


def _check_dataset(dataset, where, path):
    if dataset.external:
        raise FormatError(path, f"HDF5 dataset {where!r} keeps its data in other files "
                                f"{dataset.external}")
    if dataset.is_virtual:
        raise FormatError(path, f"HDF5 dataset {where!r} is virtual")
    dtype = dataset.dtype
    if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
        raise FormatError(path, f"HDF5 dataset {where!r} has dtype {dtype}; only numbers "
                                "are read")
    declared = declared_bytes(dataset)
    stored = dataset.id.get_storage_size()
    if dataset.id.get_create_plist().get_nfilters() == 0:
        if stored < declared:
            raise FormatError(path, f"HDF5 dataset {where!r} declares shape "
                                    f"{dataset.shape} {dtype} ({declared} bytes) but "
                                    f"stores {stored} bytes")
    elif declared > SMALL_BYTES and declared > MAX_EXPANSION * stored:
        raise FormatError(path, f"HDF5 dataset {where!r} declares shape {dataset.shape} "
                                f"{dtype} ({declared} bytes) but stores only {stored} "
                                "compressed bytes; refusing a possible decompression bomb")


def declared_bytes(dataset):
    """Shape times item size, without reading anything."""
    return math.prod(dataset.shape or ()) * dataset.dtype.itemsize


def stored_values(datasets):
    """The values the checked ``datasets`` (``scan`` output) hold in all."""
    return sum(math.prod(d.shape or ()) for d in datasets.values())


def read(dataset, where, path):  # host
    """The values of a dataset already checked by ``scan``, as a NumPy array.

    Raises:
        FormatError: the values cannot be read (a truncated or corrupt file).
    """
    try:
        value = np.asarray(dataset[()])
    except (OSError, ValueError, RuntimeError) as err:
        raise FormatError(path, f"cannot read HDF5 dataset {where!r} (truncated or "
                                f"corrupt?): {err}") from None
    if value.shape != tuple(dataset.shape):
        raise FormatError(path, f"HDF5 dataset {where!r} read back with shape "
                                f"{value.shape}, declared {dataset.shape}")
    return value
