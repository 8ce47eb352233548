"""Reading a file a network names, safely: only a regular file, and only so much of it.

A FIFO would block the read forever, ``/dev/zero`` or ``/dev/urandom`` would fill the memory, a
symlink loop or a directory has nothing to read: each is refused with a reason instead.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["PYTHON_LIMIT", "READ_LIMIT", "UnreadableFile", "read_regular"]

# The largest TOML network file or CSV gradstep reads. A network one steps through by hand is
# far smaller; 64 MB still takes a 50 MB file of inline data.
READ_LIMIT = 64 * 2**20
# The largest Python network file: compiling one takes about 80 times its size in memory (a
# 50 MB list literal needs over 4 GB), and data that big belongs in a file the code reads.
PYTHON_LIMIT = 8 * 2**20


class UnreadableFile(OSError):
    """Why a file cannot be read, as a phrase: ``"is a FIFO, not a regular file"``.

    ``too_big``: it is a regular file, only larger than the limit.
    """

    too_big = False


class TooBig(UnreadableFile):
    """A regular file larger than the limit."""

    too_big = True


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_regular(path: Path, limit: int = READ_LIMIT) -> bytes:
    """The bytes of the regular file at ``path`` (symlinks followed), at most ``limit`` of them.

    Raises
    ------
    UnreadableFile
        With a phrase saying why: missing, a directory, a FIFO or device, a symlink loop, too
        big, or the system's own reason (``strerror``).
    """
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below).
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UnreadableFile("does not exist") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnreadableFile("is a symlink loop (it points back at itself)") from None
        if exc.errno == errno.EISDIR:
            raise UnreadableFile("is a directory") from None
        raise UnreadableFile(f"cannot be read ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFile(f"is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise TooBig(f"is {info.st_size / 2**20:,.1f} MB, more than gradstep reads "
                                 f"({limit // 2**20} MB for this kind of file)")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as file:
            data = file.read(limit + 1)
    except OSError as exc:
        if isinstance(exc, UnreadableFile):
            raise
        raise UnreadableFile(f"cannot be read ({exc.strerror})") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise TooBig(f"is more than gradstep reads ({limit // 2**20} MB for this kind "
                             f"of file)")
    return data
