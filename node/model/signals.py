"""Signals: the hash values the network shares, written ``TYPE:VALUE`` everywhere.

A :class:`Signal` is validated on construction, so holding one means its value has the right
length and alphabet for its type. ``str(signal)`` gives the full ``type:value`` form; use
:meth:`Signal.redacted` wherever the text may reach a log or a partner.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from node.errors import InvalidSignal

PDQ_MIN_QUALITY = 50
"""Meta's reference recommends discarding PDQ hashes below quality 50: such images (flat,
tiny, mostly one colour) produce hashes close to many unrelated images."""

PDQ_DEFAULT_THRESHOLD = 31
"""Hamming distance at which two PDQ hashes are taken as the same image (Meta's reference)."""


class SignalType(enum.Enum):
    """A hash algorithm, with the length of its lowercase hex digest."""

    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    PDQ = "pdq"

    @property
    def hex_length(self) -> int:
        """Number of hex characters in a value of this type."""
        return _HEX_LENGTHS[self]

    @property
    def is_perceptual(self) -> bool:
        """True for hashes compared by distance rather than equality."""
        return self is SignalType.PDQ

    @classmethod
    def parse(cls, text: str) -> SignalType:
        """The signal type named ``text`` (case-insensitive, ``sha-256`` accepted)."""
        name = text.strip().lower().replace("-", "").replace("_", "")
        for member in cls:
            if member.value == name:
                return member
        known = ", ".join(m.value for m in cls)
        raise InvalidSignal(f"unknown signal type {text[:20]!r} (known: {known})")


_HEX_LENGTHS = {SignalType.MD5: 32, SignalType.SHA1: 40, SignalType.SHA256: 64, SignalType.PDQ: 64}
# Keyed by the member's value: an Enum member hashes through a Python-level __hash__, a str
# hashes once and caches it. Signals are built per indicator on the ingest path.
_LENGTH_BY_NAME = {kind.value: length for kind, length in _HEX_LENGTHS.items()}
_HEX = re.compile(r"[0-9a-f]*")
_HEX_DIGITS = b"0123456789abcdef"


@dataclass(frozen=True, slots=True)
class Signal:
    """One hash value of one type. ``value`` is lowercase hex of the right length."""

    type: SignalType
    value: str

    def __post_init__(self) -> None:
        # Fast path: a value already in normal form (what the codec and the store always hold)
        # is exactly one that strip().lower() leaves unchanged and the check below accepts.
        value = self.value
        if (
            len(value) == _LENGTH_BY_NAME.get(self.type._value_)
            and value.isascii()
            and not value.encode().translate(None, _HEX_DIGITS)
        ):
            return
        value = value.strip().lower()
        if len(value) != self.type.hex_length or not _HEX.fullmatch(value):
            # The message describes the defect but never echoes the value: it may be a
            # restricted hash and error messages can reach partners and logs.
            raise InvalidSignal(
                f"a {self.type.value} value must be {self.type.hex_length} hex characters "
                f"(got {len(value)} characters{'' if _HEX.fullmatch(value) else ', not all hex'})"
            )
        object.__setattr__(self, "value", value)

    @classmethod
    def parse(cls, text: str) -> Signal:
        """Parse ``TYPE:VALUE`` (e.g. ``pdq:f8f8...``)."""
        kind, sep, value = text.strip().partition(":")
        if not sep:
            raise InvalidSignal("a signal is written TYPE:VALUE, e.g. md5:<32 hex>")
        return cls(SignalType.parse(kind), value)

    def __str__(self) -> str:
        return f"{self.type.value}:{self.value}"

    def redacted(self) -> str:
        """A form safe for logs above DEBUG: the type and a short prefix only."""
        return f"{self.type.value}:{self.value[:4]}…"

    def pdq_bytes(self) -> bytes:
        """The 32 raw bytes of a PDQ hash (big-endian hex order)."""
        if self.type is not SignalType.PDQ:
            raise InvalidSignal("only pdq signals have a PDQ bit vector")
        return bytes.fromhex(self.value)
