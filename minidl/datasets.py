"""Reading datasets from files: MNIST-format IDX (gzip or plain).

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the data in C order, big-endian.

>>> import gzip, io, numpy as np, minidl as mdl, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte")
>>> mdl.datasets.save_idx(path, np.array([7, 2, 1], np.uint8))
>>> mdl.datasets.load_idx(path)
array([7, 2, 1], dtype=uint8)
"""
import gzip
import math
import os
import zlib

import numpy as np

from .keras_files.files import atomic_write
from .limits import MAX_EXPANSION, FormatError

__all__ = ["load_idx", "save_idx"]

CHUNK_BYTES = 1 << 20

# IDX type code -> big-endian dtype
_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES = {np.dtype(v).newbyteorder("="): k for k, v in _TYPES.items()}


def _open(path):
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb"), gzipped


def _read(f, size):
    """At most ``size`` bytes of ``f``, in chunks: memory follows what the file holds,
    not what it claims."""
    chunks, left = [], size
    while left > 0:
        chunk = f.read(min(left, CHUNK_BYTES))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def load_idx(path: str | bytes | os.PathLike) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain, detected from its content) as a NumPy array in
    native byte order.

    The header is read first and the size it declares is checked against the file (for
    gzip, against what DEFLATE can expand it to) before the data is read, in chunks and
    never past the declared length.

    Args:
        path: str, bytes or os.PathLike.

    Raises:
        FileNotFoundError: no such file.
        FormatError: (a ``ValueError``) a bad magic number, an unknown type code, a
            corrupt gzip stream, or a file shorter (or longer) than its header says.
    """
    path = os.fsdecode(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no IDX file at {path!r}")
    try:
        f, gzipped = _open(path)
        with f:
            return _parse(f, path, gzipped)
    except (OSError, EOFError, zlib.error) as err:
        raise FormatError(path, f"cannot read it ({err}); is the gzip file truncated?") \
            from None


def _parse(f, path, gzipped):
    magic = _read(f, 4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0:
        raise FormatError(path, f"not an IDX file (bad magic number "
                                f"{magic.hex() or 'empty'})")
    code, ndim = magic[2], magic[3]
    if code not in _TYPES:
        raise FormatError(path, f"unknown IDX type code 0x{code:02x}")
    dims = _read(f, 4 * ndim)
    if len(dims) < 4 * ndim:
        raise FormatError(path, "truncated inside its header")
    shape = tuple(int.from_bytes(dims[4 * i: 4 * i + 4], "big") for i in range(ndim))
    dtype = np.dtype(_TYPES[code])
    size = math.prod(shape) * dtype.itemsize
    stored = os.path.getsize(path)
    header = 4 + 4 * ndim
    if (not gzipped and size > stored - header) or size > MAX_EXPANSION * stored:
        raise FormatError(path, f"its header ({shape}, {dtype.newbyteorder('=')}) "
                                f"declares {size} bytes of data, more than the "
                                f"{stored}-byte file {'can hold' if gzipped else 'holds'}"
                                ": the file is truncated")
    raw = _read(f, size)
    extra = len(f.read(1))
    if len(raw) != size or extra:
        raise FormatError(path, f"it holds {header + len(raw) + extra}"
                                f"{'+' if extra else ''} bytes but its header ({shape}, "
                                f"{dtype.newbyteorder('=')}) needs {header + size}: the "
                                f"file is {'truncated' if len(raw) < size else 'too long'}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def save_idx(path: str | bytes | os.PathLike, array, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file (gzip when ``compress`` or ``path`` ends in .gz),
    atomically (``minidl.keras_files.atomic_write``).

    Raises:
        ValueError: a dtype IDX cannot store.
        TypeError: ``compress`` neither None nor a bool.
    """
    array = np.asarray(array)
    if array.dtype not in _CODES:
        raise ValueError(f"IDX cannot store dtype {array.dtype}; use one of "
                         f"{sorted(str(d) for d in _CODES)}")
    header = bytes([0, 0, _CODES[array.dtype], array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    body = array.astype(array.dtype.newbyteorder(">")).tobytes()
    if compress is not None and not isinstance(compress, bool):
        raise TypeError(f"compress={compress!r} must be None (from the suffix), True or "
                        "False")
    compress = os.fsdecode(path).endswith(".gz") if compress is None else compress
    data = gzip.compress(header + body) if compress else header + body
    atomic_write(path, lambda f: f.write(data))
