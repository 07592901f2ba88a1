"""Accord's STIX 2.1 profile as constants: fixed ids, TLP markings, pattern spellings (DESIGN §7).

Both directions of the codec (``writer`` and ``reader``) and the reference-library helpers
take every id and spelling from here, so the profile is stated once.

Pattern spelling of PDQ: ``[file:hashes.x_pdq = '<64 hex>']``. STIX has no PDQ entry in its
hash-algorithm vocabulary, and stix2-validator 3.2.0 accepts a custom hash name only when it
starts with ``x_`` (check 241 warns for ``PDQ``, ``pdq`` and ``x-pdq`` as keys of a File's
``hashes``). Inside a pattern the validator does not check hash names at all, so ``x_pdq`` is
the one spelling that is clean in both places; it is also a plain pattern identifier, so it
needs no quotes, unlike ``'SHA-256'``. A video is ``[file:hashes.x_vpdq = '<64 hex per
frame>']`` by the same reasoning: its distinct frame PDQ hashes, sorted and concatenated
(``Signal`` checks that canonical form). A model file is ``[file:hashes.x_model = '<64 hex per
tensor>']``, its sorted distinct tensor digests, the same way.

Web addresses (issue 15) use the STIX cyber-observable their value is:
``[url:value = '<normalised URL>']`` and ``[domain-name:value = '<domain>']``. Inside the
quotes a ``'`` or ``\\`` is escaped with a backslash, as STIX patterning requires; a normalised
value never holds a backslash (it is percent-encoded), but may hold a ``'``.
"""

from __future__ import annotations

import re
import uuid
from functools import lru_cache
from typing import Any, Final

from node.model import ContentType, KeyId, Signal, SignalType, Tlp
from node.model.provenance import ATTESTED_CATEGORY

ACCORD_NAMESPACE: Final = uuid.UUID("3e1c1d11-fe22-4792-adad-c268546c3330")
"""Namespace of the name-based ids Accord derives from key ids. Fixed forever: changing it
changes every origin's STIX identity id."""

ACCORD_IDENTITY_ID: Final = "identity--f7388d84-092a-4b4c-93a9-a8fde11e4bd8"
"""The "Accord project" identity, creator of the extension definition."""

EXTENSION_DEFINITION_ID: Final = "extension-definition--bfbda700-0675-470e-ad25-73a701ee516f"
"""The published definition of Accord's property extension, version 1.0.0."""

EXTENSION_VERSION: Final = "1.0.0"

PROFILE_PUBLISHED: Final = "2025-01-01T00:00:00.000Z"
"""created/modified of the two fixed objects above: the same id must always carry the same
version, so their timestamps are constants rather than the time of writing."""

TLP_MARKINGS: Final[dict[Tlp, str]] = {
    # The TLP 2.0 marking-definition ids published by OASIS/FIRST (DESIGN §7). The objects are
    # not put in bundles: their ids are well known, and stix2-validator does not ask for them.
    Tlp.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    Tlp.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    Tlp.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    Tlp.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    Tlp.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
TLP_BY_MARKING: Final[dict[str, Tlp]] = {marking: tlp for tlp, marking in TLP_MARKINGS.items()}

HASH_KEYS: Final[dict[SignalType, str]] = {
    # How each signal type is named after ``file:hashes.`` in a pattern. Names with a dash are
    # quoted, as STIX patterning requires.
    SignalType.MD5: "MD5",
    SignalType.SHA1: "'SHA-1'",
    SignalType.SHA256: "'SHA-256'",
    SignalType.PDQ: "x_pdq",
    SignalType.VPDQ: "x_vpdq",
    SignalType.MODEL: "x_model",
}
SIGNAL_TYPE_BY_HASH_KEY: Final[dict[str, SignalType]] = {key: kind for kind, key in HASH_KEYS.items()}

PATTERN: Final = re.compile(r"\[file:hashes\.(MD5|'SHA-1'|'SHA-256'|x_pdq|x_vpdq|x_model) = '([^']*)'\]")
"""The pattern form of the profile for hashes: one comparison of one file hash."""

ADDRESS_OBJECTS: Final[dict[SignalType, str]] = {
    SignalType.URL: "url",
    SignalType.DOMAIN: "domain-name",
}
SIGNAL_TYPE_BY_ADDRESS_OBJECT: Final[dict[str, SignalType]] = {
    obj: kind for kind, obj in ADDRESS_OBJECTS.items()
}
ADDRESS_PATTERN: Final = re.compile(r"\[(url|domain-name):value = '((?:[^'\\]|\\['\\])*)'\]")
"""The pattern form of the profile for web addresses: one comparison of one ``value``."""


def address_pattern(kind: SignalType, value: str) -> str:
    """The pattern comparing ``value`` (a url or domain signal's normal form)."""
    quoted = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"[{ADDRESS_OBJECTS[kind]}:value = '{quoted}']"


def indicator_pattern(signal: Signal) -> str:
    """The one pattern of an indicator listing ``signal``."""
    if signal.type.is_address:
        return address_pattern(signal.type, signal.value)
    return f"[file:hashes.{HASH_KEYS[signal.type]} = '{signal.value}']"


def unquote_pattern_string(quoted: str) -> str:
    """The text of a STIX pattern string literal's inside (``\\'`` → ``'``, ``\\\\`` → ``\\``)."""
    return re.sub(r"\\(['\\])", r"\1", quoted)


HEX_LOWER: Final = re.compile(r"[0-9a-f]+")

SIGNAL_LABELS: Final[dict[SignalType, str]] = {
    SignalType.MD5: "MD5",
    SignalType.SHA1: "SHA-1",
    SignalType.SHA256: "SHA-256",
    SignalType.PDQ: "PDQ",
    SignalType.VPDQ: "vPDQ",
    SignalType.URL: "URL",
    SignalType.DOMAIN: "domain",
    SignalType.MODEL: "model tensor",
}
"""Human names of the signal types, for indicator names and descriptions."""

EXTENSION_SCHEMA: Final = (
    "Accord property extension 1.0.0 (plain-text schema). On an indicator: signal_type "
    "(required; md5, sha1, sha256, pdq, vpdq, model, url or domain, and equal to the hash or "
    "observable named in the pattern), category "
    "(required; lowercase slug of letters, digits and '-', at most 63 characters, e.g. csam, "
    "aig-csam, csem, ncii, tvec, election-deepfake, impersonation-deepfake, benign), "
    "content_type (required; image, video or file; file for model, url and domain), quality "
    "(optional; integer 0-100, the PDQ quality, at least 50 for pdq). On an identity: key_id "
    "(required; lowercase hex SHA-256 of the origin's raw Ed25519 public key)."
    " Optional on an indicator of category attested-original, and required there: attestation"
    " (object: record_id, a version-4 UUID shared by the record's indicators; publisher and"
    " where, text of at most 200 characters; published_at, a STIX timestamp; frames, optional"
    " list of objects with time_ms, integer milliseconds, and pdq, 64 hex)."
    " Optional on an indicator of any other category: c2pa (object: the C2PA manifest summary"
    " the origin read from the file the signal was hashed from, the origin's reading and never"
    " a reason to trust the file; validation_state, text; valid and trusted, booleans, trusted"
    " only when valid; ai_generated, boolean; optional claim_generator, signer, issuer and"
    " signing_time, text of at most 200 characters; optional actions, list of at most 32 texts)."
    " An attestation may carry the same object in its record as attestation.c2pa."
)


def origin_identity_id(key_id: KeyId) -> str:
    """The STIX identity id of the origin with ``key_id``, the same on every node.

    The id is the name-based UUID ``uuid5(ACCORD_NAMESPACE, key_id)`` with its version field
    set to 4. stix2-validator requires UUIDv4 ids on SDOs (check 103 warns, and fails in strict
    mode, on a version-5 id); a SHA-1 derived id is as collision-resistant as a random one, and
    only the version nibble distinguishes it, so the id stays deterministic and validator-clean.
    """
    return _derive_identity_id(key_id)


@lru_cache(maxsize=1024)  # a bundle names few origins, each on every one of its indicators
def _derive_identity_id(key_id: str) -> str:
    derived = uuid.uuid5(ACCORD_NAMESPACE, key_id)
    return f"identity--{uuid.UUID(bytes=derived.bytes, version=4)}"


def indicator_types_for(category: str) -> list[str]:
    """The ``indicator_types`` (indicator-type-ov) of an indicator with ``category``.

    An attestation (provenance of original media) is ``benign`` too: it says the media is
    authentic, never that it is harmful.
    """
    return ["benign"] if category in ("benign", ATTESTED_CATEGORY) else ["malicious-activity"]


@lru_cache(maxsize=1024)
def indicator_texts(signal_type: SignalType, category: str, content_type: ContentType) -> tuple[str, str]:
    """Name and description. They name the signal type and category, never the hash value."""
    label = SIGNAL_LABELS[signal_type]
    if signal_type.is_address:
        return f"{label}: {category}", f"A {label} labelled '{category}', shared through Accord."
    name = f"{label} hash: {category}"
    description = (
        f"A {label} hash of {content_type.value} content labelled '{category}', shared through Accord."
    )
    return name, description


def accord_identity() -> dict[str, Any]:
    """The identity of the Accord project, which publishes the extension definition."""
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": ACCORD_IDENTITY_ID,
        "created": PROFILE_PUBLISHED,
        "modified": PROFILE_PUBLISHED,
        "name": "Accord project",
        "identity_class": "organization",
    }


def extension_definition() -> dict[str, Any]:
    """The published definition of Accord's property extension."""
    return {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": EXTENSION_DEFINITION_ID,
        "created_by_ref": ACCORD_IDENTITY_ID,
        "created": PROFILE_PUBLISHED,
        "modified": PROFILE_PUBLISHED,
        "name": "Accord media hash labels",
        "description": "Signal type, harm category, content type and PDQ quality of an Accord "
        "indicator, and the key id of an Accord origin's identity.",
        "schema": EXTENSION_SCHEMA,
        "version": EXTENSION_VERSION,
        "extension_types": ["property-extension"],
    }


# The properties an Accord indicator must carry, and those it may; anything else is refused.
INDICATOR_REQUIRED: Final = frozenset(
    {
        "type",
        "spec_version",
        "id",
        "created_by_ref",
        "created",
        "modified",
        "name",
        "description",
        "indicator_types",
        "pattern",
        "pattern_type",
        "pattern_version",
        "valid_from",
        "object_marking_refs",
        "extensions",
    }
)
INDICATOR_ALLOWED: Final = INDICATOR_REQUIRED | {"valid_until", "revoked", "labels"}
