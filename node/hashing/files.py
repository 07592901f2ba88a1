"""Opening the files ``hashing`` reads (media, hash lists), with errors an operator can act on.

Both readers take paths from people and scripts, so a path may be missing, a directory, a
FIFO or a device. Each case becomes one error naming the file and the reason, raised before
any byte is hashed or parsed.
"""

from __future__ import annotations

import io
import os
import stat

from node.errors import InvalidInput

# Opening a FIFO for reading blocks until a writer appears; O_NONBLOCK makes the open return
# at once so fstat can refuse it. It changes nothing for regular files, and is cleared again
# before the file is read.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def open_regular_file(name: str, *, what: str, error: type[InvalidInput]) -> io.BufferedReader:
    """Open ``name`` for binary reading, or raise ``error`` saying why it cannot be read.

    ``what`` names the kind of file in the message (e.g. "media file", "hash list").
    """
    try:
        fd = os.open(name, _OPEN_FLAGS)
    except OSError as exc:
        raise error(f"cannot read {what} {name!r}: {describe_os_error(exc)}") from exc
    try:
        _require_regular(os.fstat(fd).st_mode)
        os.set_blocking(fd, True)
    except (OSError, _NotRegular) as exc:
        os.close(fd)
        reason = str(exc) if isinstance(exc, _NotRegular) else describe_os_error(exc)
        raise error(f"cannot read {what} {name!r}: {reason}") from exc
    return os.fdopen(fd, "rb")


def describe_os_error(exc: OSError) -> str:
    """A short human reason for an OS error on a file."""
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "it is a directory"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return f"unreadable ({exc.strerror or type(exc).__name__})"


class _NotRegular(Exception):
    """The path names something other than a regular file."""


def _require_regular(mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise _NotRegular("it is a directory")
    if not stat.S_ISREG(mode):
        raise _NotRegular("not a regular file (a pipe, socket or device)")
