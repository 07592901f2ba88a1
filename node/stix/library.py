"""The ``stix2`` reference library's side of the codec: STIX that did not come from our writer.

About 50x slower than :mod:`node.stix.reader`, so never on the ingest hot path. It serves
imports of STIX made by other tools, and the tests use the library as the oracle that our own
codec is checked against (DESIGN §7).
"""

from __future__ import annotations

import json
from typing import Any

from node.errors import InvalidInput, MalformedStix
from node.model import Indicator, KeyId, parse_key_id
from node.stix.fields import FieldError
from node.stix.profile import EXTENSION_DEFINITION_ID, origin_identity_id
from node.stix.reader import indicator_from_stix


def parse_with_stix2(bundle_json: str) -> list[Indicator]:
    """The Accord-profile indicators of a STIX 2.1 bundle, parsed with the ``stix2`` library.

    Each indicator's origin is the key id that its creator's identity carries in Accord's
    property extension, checked against the identity id derived from that key. Objects of
    other types are parsed by the library and ignored. Raises :class:`MalformedStix`.
    """
    objects = _parse(bundle_json).get("objects", [])
    origins = _origins(objects)
    indicators = []
    for index, stix in enumerate(objects):
        if stix.get("type") != "indicator":
            continue
        try:
            indicators.append(indicator_from_stix(stix, origin=_creator(stix, origins)))
        except MalformedStix as exc:
            raise MalformedStix(f"bundle object {index}: {exc}") from exc
    return indicators


def _parse(bundle_json: str) -> dict[str, Any]:
    """The bundle as the library understands it, back in JSON data form."""
    import stix2  # noqa: PLC0415 - on first use: at the top it costs every CLI start 0.15 s
    from stix2.exceptions import STIXError  # noqa: PLC0415

    try:
        parsed = stix2.parse(bundle_json, allow_custom=True)
    except (STIXError, ValueError, TypeError) as exc:
        # Not chained: the library's messages quote the offending values, which may be hashes.
        raise MalformedStix(f"the stix2 library refused the STIX ({type(exc).__name__})") from None
    if not isinstance(parsed, stix2.v21.Bundle):
        raise MalformedStix("the STIX is not a STIX 2.1 bundle")
    # Serialising again gives plain JSON data with STIX timestamps, the reader's input form.
    data: dict[str, Any] = json.loads(parsed.serialize())
    return data


def _origins(objects: list[dict[str, Any]]) -> dict[str, KeyId]:
    """Identity id → key id, for the identities that carry a key id deriving their own id."""
    origins: dict[str, KeyId] = {}
    for stix in objects:
        if stix.get("type") != "identity":
            continue
        extension = stix.get("extensions", {}).get(EXTENSION_DEFINITION_ID, {})
        try:
            key_id = parse_key_id(extension.get("key_id"))
        except InvalidInput:
            continue  # an identity that is not an Accord origin
        if origin_identity_id(key_id) == stix["id"]:
            origins[stix["id"]] = key_id
    return origins


def _creator(stix: dict[str, Any], origins: dict[str, KeyId]) -> KeyId:
    origin = origins.get(stix.get("created_by_ref", ""))
    if origin is None:
        raise FieldError("created_by_ref", "names no identity of an Accord origin in the bundle")
    return origin
