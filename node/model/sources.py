"""Unsigned sources: TAXII collections and MISP feeds whose indicators the node imports.

Their objects carry no signature an Accord node can verify, so they are attributed to a
synthetic origin derived from the source's local name (never a real key id: no key hashes to
it) and trusted only as the operator configured, in the same vocabulary as partners
(:class:`node.model.policy.Trust`): ``auto`` and ``review`` match (each match says which),
``observe`` keeps them aside, counted and never matched, until ``accord partner accept``.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from node.errors import InvalidInput
from node.model.ids import KeyId
from node.model.indicators import parse_category
from node.model.partners import parse_partner_name
from node.model.policy import Trust

__all__ = ["Source", "SourceKind", "Trust", "source_origin"]

_ORIGIN_DOMAIN = b"accord unsigned source\x00"


class SourceKind(enum.Enum):
    """What protocol a source speaks."""

    TAXII = "taxii"
    MISP = "misp"


def source_origin(kind: SourceKind, name: str) -> KeyId:
    """The synthetic origin of a source's indicators: a domain-separated SHA-256 of its name."""
    digest = hashlib.sha256(_ORIGIN_DOMAIN + kind.value.encode() + b"\x00" + name.encode()).hexdigest()
    return KeyId(digest)


@dataclass(frozen=True, slots=True)
class Source:
    """A configured unsigned source. ``secret`` (a password or token) is never printed."""

    name: str
    kind: SourceKind
    url: str
    trust: Trust
    collection: str | None = None
    username: str | None = None
    secret: str | None = None
    category: str | None = None  # for objects that carry none
    added_after: str | None = None

    def __post_init__(self) -> None:
        parse_partner_name(self.name)
        if self.trust is Trust.OWN:
            raise InvalidInput("'own' is not a trust level for a source (auto, review, observe)")
        if self.category is not None:
            parse_category(self.category)
        if self.kind is SourceKind.TAXII and not self.url.startswith(("http://", "https://")):
            raise InvalidInput("a TAXII API root URL starts with http:// or https://")

    @property
    def origin(self) -> KeyId:
        """The synthetic origin its indicators are attributed to."""
        return source_origin(self.kind, self.name)
