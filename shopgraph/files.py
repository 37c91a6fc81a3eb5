"""Opening files that users name (catalogs, mappings, images): regular files only.

Opening a FIFO for reading blocks until some process writes to it, and a device may never end, so a
path is opened without blocking and checked to be a regular file before a byte is read; anything else
is NotRegularFileError naming what it is.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import BinaryIO

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
_CHUNK = 1 << 20


class NotRegularFileError(OSError):
    """The path names a directory, FIFO, socket or device instead of a regular file."""


def kind_of(mode: int) -> str:
    """What a file of this st_mode is, in words ("a FIFO (named pipe)", ...)."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path: str | Path) -> BinaryIO:
    """path opened for binary reading; NotRegularFileError (an OSError) unless it is a regular file
    (symbolic links followed), other OSErrors as open() raises them."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(f"{path} is {kind_of(mode)}, not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | Path) -> bytes:
    """The bytes of a regular file (see open_regular)."""
    with open_regular(path) as f:
        return f.read()


def file_digest(path: str | Path, max_bytes: int | None = None) -> str:
    """SHA-256 (hex) of a regular file's bytes, read in 1 MB chunks. ValueError when the file is larger
    than max_bytes; OSError (NotRegularFileError included) when it cannot be read."""
    digest = hashlib.sha256()
    size = 0
    with open_regular(path) as f:
        while chunk := f.read(_CHUNK):
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise ValueError(f"larger than {max_bytes:,} bytes")
            digest.update(chunk)
    return digest.hexdigest()
