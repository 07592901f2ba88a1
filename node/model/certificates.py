"""TLS certificate fingerprints: how partners pin each other's transport certificate (DESIGN §6).

A fingerprint is the SHA-256 of the certificate's DER bytes, written ``sha256:<64 hex>``. The
colon-separated upper-case form ``openssl x509 -fingerprint -sha256`` prints is accepted too,
so operators can paste either.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import NewType

from node.errors import InvalidInput

CertFingerprint = NewType("CertFingerprint", str)
"""``sha256:<64 lowercase hex>`` of a DER-encoded X.509 certificate."""

_PREFIXES = ("sha256:", "sha256 fingerprint=", "sha256=")
_HEX = re.compile(r"[0-9a-f]{64}")


def parse_cert_fingerprint(text: str) -> CertFingerprint:
    """Normalise a pasted certificate fingerprint or raise :class:`InvalidInput` saying the form."""
    body = text.strip().lower()
    for prefix in _PREFIXES:
        body = body.removeprefix(prefix)
    body = body.replace(":", "")
    if not _HEX.fullmatch(body):
        raise InvalidInput(
            "a certificate fingerprint is 'sha256:' followed by 64 hex digits"
            " (as 'accord identity' prints it)"
        )
    return CertFingerprint("sha256:" + body)


def cert_fingerprint_of(der: bytes) -> CertFingerprint:
    """The fingerprint of a DER-encoded certificate."""
    return CertFingerprint("sha256:" + hashlib.sha256(der).hexdigest())


def fingerprints_match(pinned: CertFingerprint, presented: CertFingerprint) -> bool:
    """Constant-time comparison, so a probing peer learns nothing from the timing."""
    return hmac.compare_digest(pinned.encode(), presented.encode())
