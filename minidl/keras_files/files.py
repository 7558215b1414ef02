"""Writing a file atomically: to a temporary file in the same folder, then ``os.replace``,
so a save that dies halfway leaves the previous file intact.

- Replacing a file keeps its permission bits (a ``0600`` checkpoint stays private, and is
  never readable by others while it is being written); a new file gets the usual
  ``0666`` less the umask, as ``open`` gives.
- The temporary file is ``.minidl-<16 hex digits>.tmp``; it is created inside the block
  that removes it on any exception, ``KeyboardInterrupt`` included.
- A process killed outright (``SIGKILL``, power cut) cannot clean up: the next save into
  the folder removes minidl's temporary files older than ``STALE_SECONDS`` (only names of
  exactly that pattern, so nothing else is touched).
"""
import os
import re
import secrets
import stat
import time

__all__ = ["atomic_write", "remove_stale_temporaries", "STALE_SECONDS"]

STALE_SECONDS = 3600            # no save takes this long between creating and replacing
TEMPORARY = re.compile(r"\.minidl-[0-9a-f]{16}\.tmp")


def atomic_write(path: str | bytes | os.PathLike, write) -> None:
    """Call ``write(binary_file)`` on a temporary file beside ``path``, flush it to disk,
    then move it to ``path`` (see the module).

    Raises:
        FileNotFoundError: the folder of ``path`` does not exist.
    """
    path = os.fsdecode(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot save to {path!r}: folder {directory!r} does not "
                                "exist")
    remove_stale_temporaries(directory)
    mode = _kept_mode(path)
    tmp = os.path.join(directory, f".minidl-{secrets.token_hex(8)}.tmp")
    try:
        # not mkstemp (0600): created as open() creates, or with the replaced file's bits
        bits = 0o666 if mode is None else mode & 0o666
        with open(tmp, "xb", opener=lambda name, flags: os.open(name, flags, bits)) as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if not isinstance(err, FileExistsError):  # a name not ours (64 random bits)
            _remove(tmp)
        raise


def _kept_mode(path):
    """The permission bits of the file ``path`` replaces, or None for a new file."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return stat.S_IMODE(info.st_mode) if stat.S_ISREG(info.st_mode) else None


def _remove(name):
    try:
        os.unlink(name)
    except OSError:
        pass


def remove_stale_temporaries(directory, now=None):
    """Remove minidl's temporary files in ``directory`` last written more than
    ``STALE_SECONDS`` ago (left by a killed process); returns their names."""
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if not TEMPORARY.fullmatch(entry.name):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and now - info.st_mtime > STALE_SECONDS:
            _remove(entry.path)
            removed.append(entry.name)
    return removed
