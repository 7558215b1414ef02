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
import os

import numpy as np

__all__ = ["load_idx", "save_idx"]

# IDX type code -> big-endian dtype
_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES = {np.dtype(v).newbyteorder("="): k for k, v in _TYPES.items()}


def _open(path):
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def load_idx(path):
    """Read an IDX file (``.gz`` or plain, detected from its content) as a NumPy array in
    native byte order.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a bad magic number, an unknown type code, or a file shorter (or
            longer) than its header says.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no IDX file at {path!r}")
    try:
        with _open(path) as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise ValueError(f"{path!r}: cannot read ({err}); is the gzip file truncated?") \
            from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path!r} is not an IDX file (bad magic number "
                         f"{raw[:4].hex() or 'empty'})")
    code, ndim = raw[2], raw[3]
    if code not in _TYPES:
        raise ValueError(f"{path!r}: unknown IDX type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path!r} is truncated inside its header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_TYPES[code])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path!r} holds {len(raw)} bytes but its header ({shape}, "
                         f"{dtype.newbyteorder('=')}) needs {expected}: the file is "
                         f"{'truncated' if len(raw) < expected else 'too long'}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def save_idx(path, array, compress=None):
    """Write ``array`` as an IDX file (gzip when ``compress`` or ``path`` ends in .gz)."""
    array = np.asarray(array)
    if array.dtype not in _CODES:
        raise ValueError(f"IDX cannot store dtype {array.dtype}; use one of "
                         f"{sorted(str(d) for d in _CODES)}")
    header = bytes([0, 0, _CODES[array.dtype], array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    body = array.astype(array.dtype.newbyteorder(">")).tobytes()
    compress = str(path).endswith(".gz") if compress is None else compress
    with (gzip.open(path, "wb") if compress else open(path, "wb")) as f:
        f.write(header + body)
