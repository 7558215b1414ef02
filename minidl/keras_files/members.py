"""Zip archives read defensively: Keras's ``.keras`` archives and minidl's own files (a
zip of ``.npy`` arrays).

Members are opened by their exact names only (a member name never becomes a file path:
nothing is extracted). ``open_zip`` refuses more than ``max_objects`` members
(``minidl.limits``), two of one name and any member declaring more than
``MAX_EXPANSION`` times its stored size (DEFLATE's limit); ``read_member`` checks a
member's declared size against the caller's limit before decompressing it and reads no
more than it declares. For ``.npy`` members, ``npy_header`` reads only the array header
(numeric dtypes only: no pickled objects, strings or records) and checks that shape times
item size is exactly what the member declares; ``read_npy`` then reads that many bytes.
"""
import math
import tokenize
import zipfile
import zlib

import numpy as np

from ..limits import MAX_EXPANSION, FormatError, limit

__all__ = ["open_zip", "read_member", "npy_header", "read_npy", "MAX_EXPANSION",
           "SMALL_BYTES"]

SMALL_BYTES = 1 << 16     # members this small are never refused for their ratio
NPY_HEADER_BYTES = 10_000
READ_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError,
               RuntimeError, ValueError)   # a truncated, corrupt or encrypted member


def open_zip(path, what="a zip archive"):
    """``zipfile.ZipFile`` for reading, its directory checked (see the module).

    Raises:
        FormatError: not a zip file, too many members, a repeated name, or a member
            declaring more than DEFLATE can expand to.
    """
    try:
        archive = zipfile.ZipFile(path, "r")
    except READ_ERRORS as err:
        raise FormatError(path, f"not {what} (a zip file): {err}") from None
    try:
        _check_directory(archive.infolist(), path)
    except FormatError:
        archive.close()
        raise
    return archive


def _check_directory(infos, path):
    if len(infos) > limit("max_objects"):
        raise FormatError(path, f"the archive holds {len(infos)} members, more than the "
                                f"{limit('max_objects')} allowed")
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        raise FormatError(path, "the archive holds two members of one name")
    for info in infos:
        if info.file_size > MAX_EXPANSION * max(info.compress_size, 1):
            raise FormatError(path, f"{info.filename} declares {info.file_size} bytes but "
                                    f"stores {info.compress_size}; refusing a possible "
                                    "zip bomb")


def _info(archive, name, path):
    try:
        return archive.getinfo(name)
    except KeyError:
        raise FormatError(path, f"the archive has no {name}") from None


def _open(archive, info, name, path):
    try:
        return archive.open(info)
    except READ_ERRORS as err:
        raise FormatError(path, f"cannot read {name}: {err}") from None


def read_member(archive, name, path, limit_bytes):
    """The bytes of member ``name``, its declared size checked against ``limit_bytes``
    first.

    Raises:
        FormatError: no such member, a size over the limit, or a member that is
            truncated, corrupt or longer than it declares.
    """
    info = _info(archive, name, path)
    if info.file_size > limit_bytes:
        raise FormatError(path, f"{name} declares {info.file_size} bytes, more than the "
                                f"{limit_bytes} allowed (stored: {info.compress_size}); "
                                "refusing a possible zip bomb")
    with _open(archive, info, name, path) as member:
        return _read_exact(member, info.file_size, name, path)


def _read_exact(member, size, name, path):
    try:
        data = member.read(size + 1)
    except READ_ERRORS as err:
        raise FormatError(path, f"cannot read {name}: {err}") from None
    if len(data) != size:
        raise FormatError(path, f"{name} holds {len(data)} bytes, declared {size}")
    return data


def npy_header(archive, name, path):
    """``(shape, dtype, fortran_order)`` of the ``.npy`` member ``name``, read from its
    header alone and checked against the member's declared and stored sizes.

    Raises:
        FormatError: not a ``.npy`` array, a non-numeric dtype (other than a text
            scalar), or sizes that disagree.
    """
    info = _info(archive, name, path)
    if info.file_size > max(limit("max_expansion") * info.compress_size, SMALL_BYTES):
        raise FormatError(path, f"{name} declares {info.file_size} bytes but stores "
                                f"{info.compress_size}; minidl stores arrays "
                                "uncompressed, refusing a possible zip bomb")
    with _open(archive, info, name, path) as member:
        shape, dtype, fortran = _parse_header(member, name, path)
        offset = member.tell()
    _check_array(shape, dtype, name, path)
    declared = math.prod(shape) * dtype.itemsize
    if offset + declared != info.file_size:
        raise FormatError(path, f"array {name} declares shape {shape} {dtype} "
                                f"({declared} bytes) but the member holds "
                                f"{info.file_size - offset} bytes of data")
    return shape, dtype, fortran


def _parse_header(member, name, path):  # host
    try:
        version = np.lib.format.read_magic(member)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(member, max_header_size=NPY_HEADER_BYTES)
        return shape, dtype, fortran
    except READ_ERRORS + (TypeError, SyntaxError, tokenize.TokenError, RecursionError,
                          MemoryError) as err:
        raise FormatError(path, f"not a readable minidl file: array {name} has no valid "
                                f".npy header ({err})") from None


def _check_array(shape, dtype, name, path):
    numeric = dtype.kind in "biufc" and dtype.fields is None and dtype.subdtype is None
    text = dtype.kind == "U" and shape == ()
    if not (numeric or text) or dtype.hasobject:
        raise FormatError(path, f"not a readable minidl file: array {name} has dtype "
                                f"{dtype}; only numbers are read (pickled objects never)")
    if not all(isinstance(n, int) and n >= 0 for n in shape):
        raise FormatError(path, f"array {name} has shape {shape}")


def read_npy(archive, name, path):  # host
    """The array in the ``.npy`` member ``name`` (``npy_header`` checks first), read
    without ever reading more than it declares."""
    shape, dtype, fortran = npy_header(archive, name, path)
    info = _info(archive, name, path)
    with _open(archive, info, name, path) as member:
        _parse_header(member, name, path)
        data = _read_exact(member, info.file_size - member.tell(), name, path)
    array = np.frombuffer(data, dtype=dtype, count=math.prod(shape))
    return array.reshape(shape, order="F" if fortran else "C")
