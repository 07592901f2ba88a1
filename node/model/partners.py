"""Pinned partners: the only origins and callers this node trusts (DESIGN §3)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from node.errors import InvalidInput
from node.model.certificates import CertFingerprint, parse_cert_fingerprint
from node.model.ids import KeyId

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_ENDPOINT = re.compile(r"(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})")


def parse_partner_name(text: str) -> str:
    """A partner's local name: letters, digits, '.', '_' and '-', up to 63 characters."""
    if not _NAME.fullmatch(text):
        raise InvalidInput("a partner name is 1-63 letters, digits, '.', '_' or '-' (no spaces)")
    return text


def parse_endpoint(text: str) -> str:
    """``HOST:PORT`` (IPv6 hosts in brackets), with a port between 1 and 65535."""
    match = _ENDPOINT.fullmatch(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 65535:
        raise InvalidInput("an endpoint is HOST:PORT, e.g. 127.0.0.1:7700 or [::1]:7700")
    return text.strip()


def is_loopback_endpoint(endpoint: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: the only places plaintext is acceptable.

    Hosts are compared as IP addresses, never by prefix: a DNS name such as
    ``127.example.net`` can resolve anywhere.
    """
    host = endpoint.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Partner:
    """A pinned partner: its key is trusted for its own origin; its endpoint (if any) is pulled.

    ``cert_fingerprint`` pins the TLS certificate its endpoint presents; without one, this node
    reaches the partner in plaintext only on loopback (or when the operator insists).
    """

    name: str
    key_id: KeyId
    public_key: bytes
    endpoint: str | None = None
    cert_fingerprint: CertFingerprint | None = None

    def __post_init__(self) -> None:
        parse_partner_name(self.name)
        if self.endpoint is not None:
            parse_endpoint(self.endpoint)
        if self.cert_fingerprint is not None:
            parse_cert_fingerprint(self.cert_fingerprint)


@dataclass(frozen=True, slots=True)
class SharingGroup:
    """A named set of partners that restricted (AMBER/RED) entries can be addressed to.

    Members are partner names; contributing resolves them to the partners' key ids, which are
    what the signed entry carries.
    """

    name: str
    members: tuple[str, ...]

    def __post_init__(self) -> None:
        parse_partner_name(self.name)
        for member in self.members:
            parse_partner_name(member)
