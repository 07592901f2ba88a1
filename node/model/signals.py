"""Signals: the hash values the network shares, written ``TYPE:VALUE`` everywhere.

A :class:`Signal` is validated on construction, so holding one means its value has the right
length and alphabet for its type. ``str(signal)`` gives the full ``type:value`` form; use
:meth:`Signal.redacted` wherever the text may reach a log or a partner.
"""

from __future__ import annotations

import enum
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from node.errors import InvalidSignal

PDQ_MIN_QUALITY = 50
"""Meta's reference recommends discarding PDQ hashes below quality 50: such images (flat,
tiny, mostly one colour) produce hashes close to many unrelated images."""

PDQ_DEFAULT_THRESHOLD = 31
"""Hamming distance at which two PDQ hashes are taken as the same image (Meta's reference)."""

VPDQ_MAX_FRAMES = 4096
"""Distinct frame hashes one video signal may list (over an hour at one frame per second).
Bounds one signal in a feed entry (64 hex characters per frame: 256 KiB at most)."""

_FRAME_HEX = 64


class SignalType(enum.Enum):
    """A hash algorithm, with the length of its lowercase hex digest."""

    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    PDQ = "pdq"
    VPDQ = "vpdq"

    @property
    def hex_length(self) -> int:
        """Number of hex characters in a value of this type (for vpdq: in one frame hash)."""
        return _HEX_LENGTHS[self]

    @property
    def is_perceptual(self) -> bool:
        """True for hashes compared by distance rather than equality."""
        return self is SignalType.PDQ or self is SignalType.VPDQ

    @classmethod
    def parse(cls, text: str) -> SignalType:
        """The signal type named ``text`` (case-insensitive, ``sha-256`` accepted)."""
        name = text.strip().lower().replace("-", "").replace("_", "")
        for member in cls:
            if member.value == name:
                return member
        known = ", ".join(m.value for m in cls)
        raise InvalidSignal(f"unknown signal type {text[:20]!r} (known: {known})")


_HEX_LENGTHS = {
    SignalType.MD5: 32,
    SignalType.SHA1: 40,
    SignalType.SHA256: 64,
    SignalType.PDQ: 64,
    SignalType.VPDQ: _FRAME_HEX,
}
# Keyed by the member's value: an Enum member hashes through a Python-level __hash__, a str
# hashes once and caches it. Signals are built per indicator on the ingest path. A vpdq value
# has a variable length, so it never takes the fast path.
_LENGTH_BY_NAME = {kind.value: length for kind, length in _HEX_LENGTHS.items() if kind is not SignalType.VPDQ}
_HEX = re.compile(r"[0-9a-f]*")
_HEX_DIGITS = b"0123456789abcdef"


@dataclass(frozen=True, slots=True)
class Signal:
    """One hash value of one type. ``value`` is lowercase hex of the right length.

    A ``vpdq`` value is a video's distinct frame PDQ hashes (quality >= 50), sorted and
    concatenated: 64 hex characters per frame, 1 to VPDQ_MAX_FRAMES frames, strictly ascending.
    That canonical form is required, not repaired (build one with :meth:`vpdq`), so one video
    has exactly one spelling and two nodes compare the same bytes.
    """

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
        if self.type is SignalType.VPDQ:
            _check_vpdq(value)
        elif len(value) != self.type.hex_length or not _HEX.fullmatch(value):
            # The message describes the defect but never echoes the value: it may be a
            # restricted hash and error messages can reach partners and logs.
            raise InvalidSignal(
                f"a {self.type.value} value must be {self.type.hex_length} hex characters "
                f"(got {len(value)} characters{'' if _HEX.fullmatch(value) else ', not all hex'})"
            )
        if value != self.value:
            object.__setattr__(self, "value", value)

    @classmethod
    def vpdq(cls, frames: Iterable[str]) -> Signal:
        """The video signal listing ``frames`` (PDQ hex), put into canonical form."""
        return cls(SignalType.VPDQ, "".join(sorted({f.strip().lower() for f in frames})))

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

    def frames(self) -> list[str]:
        """The frame PDQ hashes (hex) of a vpdq signal, ascending."""
        if self.type is not SignalType.VPDQ:
            raise InvalidSignal("only vpdq signals list frame hashes")
        value = self.value
        return [value[n : n + _FRAME_HEX] for n in range(0, len(value), _FRAME_HEX)]


def _check_vpdq(value: str) -> None:
    """Refuse a vpdq value that is not in canonical form; never echoes the value."""
    frames, extra = divmod(len(value), _FRAME_HEX)
    if extra or not 1 <= frames <= VPDQ_MAX_FRAMES:
        raise InvalidSignal(
            f"a vpdq value is 1 to {VPDQ_MAX_FRAMES} frame hashes of {_FRAME_HEX} hex characters "
            f"(got {len(value)} characters)"
        )
    if not _HEX.fullmatch(value):
        raise InvalidSignal(
            "a vpdq value must be lowercase hex frame hashes (got characters that are not all hex)"
        )
    listed = [value[n : n + _FRAME_HEX] for n in range(0, len(value), _FRAME_HEX)]
    if any(a >= b for a, b in itertools.pairwise(listed)):
        raise InvalidSignal("a vpdq value lists its frame hashes once each, in ascending order")
