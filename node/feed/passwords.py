"""People's passwords (argon2id, argon2-cffi) and the key that signs HTTP session cookies.

What a caller may rely on: :func:`verify_password` costs the same whether or not there is a
stored hash to check (a missing account is checked against a dummy hash of the same
parameters), so its timing does not tell an unknown name from a wrong password; it returns
True only when ``password`` is the one :func:`hash_password` was given.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
from pathlib import Path
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from node.errors import ConfigError, InvalidInput
from node.feed.private_files import read_private_file, write_private_file

# argon2-cffi's defaults are RFC 9106's "low memory" profile: argon2id, 64 MiB, 3 passes,
# 4 lanes (~0.1 s here). Enough to make an offline guess at a stolen hash expensive.
_HASHER: Final = PasswordHasher()
MIN_PASSWORD_CHARS = 12  # NIST SP 800-63B allows 8; people here guard restricted lists
MAX_PASSWORD_CHARS = 1024  # bounds the work one login costs before argon2 even starts
SESSION_KEY_BYTES = 32  # HMAC-SHA256 key: 256 bits


def check_password_rules(password: str) -> str:
    """``password`` if it is long enough to set, else InvalidInput saying why."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidInput(f"a password has at most {MAX_PASSWORD_CHARS} characters")
    return password


def hash_password(password: str) -> str:
    """The stored form of a password (argon2id, random salt, parameters in the string)."""
    return _HASHER.hash(check_password_rules(password))


def verify_password(stored: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored``; with ``stored`` None, the same work, then False."""
    if len(password) > MAX_PASSWORD_CHARS:
        password = password[:MAX_PASSWORD_CHARS] + "\0"  # never matches, costs the same
    try:
        return _HASHER.verify(_dummy_hash() if stored is None else stored, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password nobody knows, made once (so importing costs nothing)."""
    return _HASHER.hash(secrets.token_urlsafe(16))


def load_session_key(path: Path) -> bytes:
    """The HMAC key that signs session cookies, created (mode 0600) on first use."""
    if not path.exists():
        # Refused (ConfigError) when another process created it first: then read theirs.
        with contextlib.suppress(ConfigError):
            write_private_file(path, secrets.token_bytes(SESSION_KEY_BYTES), replace=False)
    key = read_private_file(path, what="HTTP session key")
    if len(key) != SESSION_KEY_BYTES:
        raise ConfigError(
            f"{path} is not a {SESSION_KEY_BYTES}-byte session key; delete it to make a new one"
        )
    return key
