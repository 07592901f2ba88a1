"""Signals: the hash values (and web addresses) the network shares, written ``TYPE:VALUE``.

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
from node.model.web import normal_domain, normal_url

PDQ_MIN_QUALITY = 50
"""Meta's reference recommends discarding PDQ hashes below quality 50: such images (flat,
tiny, mostly one colour) produce hashes close to many unrelated images."""

PDQ_DEFAULT_THRESHOLD = 31
"""Hamming distance at which two PDQ hashes are taken as the same image (Meta's reference)."""

VPDQ_MAX_FRAMES = 4096
"""Distinct frame hashes one video signal may list (over an hour at one frame per second).
Bounds one signal in a feed entry (64 hex characters per frame: 256 KiB at most)."""

MODEL_MAX_TENSORS = 4096
"""Distinct tensors one model signal may list. A Stable Diffusion XL checkpoint (UNet, both
text encoders, VAE) holds about 2,600; like a vpdq value, it bounds one signal in a feed
entry to 256 KiB."""

_FRAME_HEX = 64


class SignalType(enum.Enum):
    """A hash algorithm, with the length of its lowercase hex digest."""

    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    PDQ = "pdq"
    VPDQ = "vpdq"
    # Issue 15: web addresses (normalised text, node.model.web) and model weight files (the
    # sorted distinct digests of their tensors, node.hashing.models).
    URL = "url"
    DOMAIN = "domain"
    MODEL = "model"

    @property
    def hex_length(self) -> int:
        """Number of hex characters in a value of this type (for vpdq: in one frame hash; for
        model: in one tensor digest); 0 for url and domain, whose values are text."""
        return _HEX_LENGTHS.get(self, 0)

    @property
    def is_address(self) -> bool:
        """True for url and domain: normalised web addresses, not hashes."""
        return self is SignalType.URL or self is SignalType.DOMAIN

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
    SignalType.MODEL: _FRAME_HEX,
}
# Keyed by the member's value: an Enum member hashes through a Python-level __hash__, a str
# hashes once and caches it. Signals are built per indicator on the ingest path. A vpdq value
# has a variable length, so it never takes the fast path.
_LENGTH_BY_NAME = {
    kind.value: length
    for kind, length in _HEX_LENGTHS.items()
    if kind is not SignalType.VPDQ and kind is not SignalType.MODEL
}
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
        if self.type.is_address:
            value = normal_url(value) if self.type is SignalType.URL else normal_domain(value)
            if value != self.value:
                object.__setattr__(self, "value", value)
            return
        value = value.strip().lower()
        if self.type is SignalType.VPDQ:
            _check_digests(value, kind="vpdq", item="frame", most=VPDQ_MAX_FRAMES)
        elif self.type is SignalType.MODEL:
            _check_digests(value, kind="model", item="tensor", most=MODEL_MAX_TENSORS)
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
    def model(cls, tensor_digests: Iterable[str]) -> Signal:
        """The model signal listing ``tensor_digests`` (SHA-256 hex), put into canonical form."""
        return cls(SignalType.MODEL, "".join(sorted({d.strip().lower() for d in tensor_digests})))

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

    def tensor_digests(self) -> list[str]:
        """The tensor digests (SHA-256 hex) of a model signal, ascending."""
        if self.type is not SignalType.MODEL:
            raise InvalidSignal("only model signals list tensor digests")
        value = self.value
        return [value[n : n + _FRAME_HEX] for n in range(0, len(value), _FRAME_HEX)]


def _check_digests(value: str, *, kind: str, item: str, most: int) -> None:
    """Refuse a vpdq or model value that is not in canonical form; never echoes the value."""
    count, extra = divmod(len(value), _FRAME_HEX)
    if extra or not 1 <= count <= most:
        raise InvalidSignal(
            f"a {kind} value is 1 to {most} {item} hashes of {_FRAME_HEX} hex characters "
            f"(got {len(value)} characters)"
        )
    if not _HEX.fullmatch(value):
        raise InvalidSignal(
            f"a {kind} value must be lowercase hex {item} hashes (got characters that are not all hex)"
        )
    listed = [value[n : n + _FRAME_HEX] for n in range(0, len(value), _FRAME_HEX)]
    if any(a >= b for a, b in itertools.pairwise(listed)):
        raise InvalidSignal(f"a {kind} value lists its {item} hashes once each, in ascending order")
