"""What goes wrong at the boundary of a model file: ``FormatError`` (defined with the
limits every loader shares, ``minidl.limits``), and the optional ``h5py`` import.

>>> str(FormatError("m.keras", "config.json is missing"))
"cannot load 'm.keras': config.json is missing"
"""
import os

from ..limits import FormatError

__all__ = ["FormatError", "import_h5py"]


def import_h5py(path: str | bytes | os.PathLike):
    """The ``h5py`` module, or ImportError naming the extra that installs it.

    Raises:
        ImportError: h5py is not installed.
    """
    try:
        import h5py
    except ImportError:
        raise ImportError(f"reading or writing {os.fsdecode(path)!r} (a Keras HDF5 file) "
                          "needs h5py: pip install \"minidl[keras]\" (or pip install h5py)"
                          ) from None
    return h5py
