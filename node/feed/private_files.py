"""Private key files written so a crash leaves the old file or the new one, never half of one.

Mode 0600 from the first byte (temp file, fsync, rename); read back only while no one else can
read them (DESIGN §3).
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
from typing import Final

from node.errors import ConfigError

_PRIVATE_MODE: Final = 0o600


def write_private_file(path: Path, data: bytes, *, replace: bool) -> None:
    """Write ``data`` to ``path`` with mode 0600 so that a crash leaves the old file or the new one.

    The bytes go to a fresh temp file in the same directory, are fsynced, then renamed (or, without
    ``replace``, hard-linked, which fails instead of overwriting); the directory is fsynced last.
    """
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, _PRIVATE_MODE)  # umask may have narrowed it; make it exact
        _install(temp, path, replace=replace)
    finally:
        temp.unlink(missing_ok=True)
    _fsync_directory(path.parent)


def _install(temp: Path, path: Path, *, replace: bool) -> None:
    if replace:
        os.replace(temp, path)
        return
    try:
        os.link(temp, path)
    except FileExistsError as exc:
        raise ConfigError(f"{path} exists already; refusing to overwrite a private key") from exc


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_private_file(path: Path, *, what: str) -> bytes:
    """The bytes of a private key file; ConfigError when unreadable or not mode 0600 (or stricter)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {path}: {exc.strerror}") from exc
    if mode & 0o077:
        raise ConfigError(f"the {what} {path} has mode {mode:04o}; it must be 0600 (chmod 600 {path})")
    return data
