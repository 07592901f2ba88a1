"""Indicators → STIX 2.1 bundle, on the publishing hot path (DESIGN §2, §7).

The publish use case hands a batch of domain indicators here and signs the returned JSON data
inside a feed entry. Objects are built as plain dicts, never through the ``stix2`` library,
which is 30-60x slower (bench/stix_codec.py); the tests prove both agree and that
stix2-validator passes the result with no warnings.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from node.errors import InvalidInput
from node.model import Indicator, KeyId, Opinion, Sighting, Tlp, fingerprint
from node.model.provenance import ATTESTED_CATEGORY
from node.stix.markings import tlp_marking_definition
from node.stix.opinions import opinion_to_stix
from node.stix.profile import (
    EXTENSION_DEFINITION_ID,
    PROFILE_PUBLISHED,
    TLP_MARKINGS,
    accord_identity,
    extension_definition,
    indicator_pattern,
    indicator_texts,
    indicator_types_for,
    origin_identity_id,
)
from node.stix.provenance import note_to_stix
from node.stix.sightings import sighting_to_stix
from node.stix.timestamps import format_timestamp, parse_timestamp

_IDENTITY_CREATED = parse_timestamp(PROFILE_PUBLISHED)


def build_bundle(
    indicators: Sequence[Indicator],
    *,
    origin_names: Mapping[KeyId, str],
    opinions: Sequence[tuple[Opinion, Tlp]] = (),
    sightings: Sequence[tuple[Sighting, Tlp]] = (),
) -> dict[str, Any]:
    """A STIX 2.1 bundle (JSON data) holding ``indicators`` in Accord's profile.

    The bundle also holds the identity of every origin of ``indicators`` (named from
    ``origin_names``, which must cover them all), the Accord project identity and the
    extension definition, then ``opinions`` and ``sightings`` (each marked with its TLP). Timestamps are
    truncated to milliseconds. Raises
    :class:`InvalidInput` for an origin without a name or a ``valid_until`` not after
    ``created`` (STIX requires ``valid_until`` > ``valid_from``).
    """
    versions = [(i.origin, i.modified) for i in indicators] + [(o.origin, o.modified) for o, _ in opinions]
    versions += [(s.origin, s.created) for s, _ in sightings]
    objects = _origin_identities(versions, origin_names)
    objects += [accord_identity(), extension_definition()]
    objects += [indicator_to_stix(indicator) for indicator in indicators]
    objects += [opinion_to_stix(opinion, tlp=tlp) for opinion, tlp in opinions]
    objects += [sighting_to_stix(sighting, tlp=tlp) for sighting, tlp in sightings]
    return {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}


def build_export_bundle(
    indicators: Sequence[Indicator], *, origin_names: Mapping[KeyId, str]
) -> dict[str, Any]:
    """:func:`build_bundle` for readers outside Accord (files, analysts' STIX, TAXII clients).

    It also holds the official TLP 2.0 marking-definition of each TLP its indicators carry:
    the ``stix2`` library and OpenCTI's pycti do not know TLP 2.0's ids, and pycti drops a
    marking reference whose definition is not in the bundle. Signed entries stay without them
    (every Accord node knows the ids).
    """
    bundle = build_bundle(indicators, origin_names=origin_names)
    levels = sorted({indicator.tlp for indicator in indicators}, key=list(Tlp).index)
    bundle["objects"][:0] = [tlp_marking_definition(level) for level in levels]
    return bundle


def indicator_to_stix(indicator: Indicator) -> dict[str, Any]:
    """One indicator as a STIX ``indicator`` object (JSON data)."""
    signal = indicator.signal
    created = format_timestamp(indicator.created)
    name, description = indicator_texts(signal.type, indicator.category, indicator.content_type)
    stix: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": indicator.id,
        "created_by_ref": origin_identity_id(indicator.origin),
        "created": created,
        "modified": format_timestamp(indicator.modified),
        "name": name,
        "description": description,
        "indicator_types": indicator_types_for(indicator.category),
        "pattern": indicator_pattern(signal),
        "pattern_type": "stix",
        "pattern_version": "2.1",
        # The profile has no separate start of validity: an indicator is valid once created.
        "valid_from": created,
        "object_marking_refs": [TLP_MARKINGS[indicator.tlp]],
        "extensions": {EXTENSION_DEFINITION_ID: _extension(indicator)},
    }
    if indicator.valid_until is not None:
        stix["valid_until"] = _valid_until(indicator.valid_until, created)
    if indicator.revoked:
        stix["revoked"] = True
    attested = indicator.note is not None and indicator.note.attestation is not None
    if attested != (indicator.category == ATTESTED_CATEGORY):
        raise InvalidInput(
            f"an attestation record goes with, and only with, the category {ATTESTED_CATEGORY}"
        )
    if indicator.note is not None:
        note_to_stix(indicator.note, stix, stix["extensions"][EXTENSION_DEFINITION_ID])
    return stix


def _extension(indicator: Indicator) -> dict[str, Any]:
    extension: dict[str, Any] = {
        "extension_type": "property-extension",
        "signal_type": indicator.signal.type.value,
        "category": indicator.category,
        "content_type": indicator.content_type.value,
    }
    if indicator.quality is not None:
        extension["quality"] = indicator.quality
    return extension


def _valid_until(valid_until: datetime, created: str) -> str:
    text = format_timestamp(valid_until)
    # Same format and width, so text order is time order.
    if text <= created:
        raise InvalidInput("an indicator's valid_until must be later than its created time")
    return text


def _origin_identities(
    versions: Iterable[tuple[KeyId, datetime]], origin_names: Mapping[KeyId, str]
) -> list[dict[str, Any]]:
    """One identity per origin of the (origin, modified) ``versions``, in key id order, so equal
    input gives equal output."""
    latest: dict[KeyId, datetime] = {}
    for origin, modified in versions:
        seen = latest.get(origin)
        if seen is None or modified > seen:
            latest[origin] = modified
    return [
        _identity(origin, _origin_name(origin, origin_names), latest[origin]) for origin in sorted(latest)
    ]


def _origin_name(origin: KeyId, origin_names: Mapping[KeyId, str]) -> str:
    name = origin_names.get(origin)
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"no display name given for origin {fingerprint(origin)}")
    return name


def _identity(origin: KeyId, name: str, latest: datetime) -> dict[str, Any]:
    """An origin's identity. Its version follows the origin's newest object in the bundle, so a
    renamed origin shows up as a newer version, and no clock is read."""
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": origin_identity_id(origin),
        "created": PROFILE_PUBLISHED,
        "modified": format_timestamp(max(latest, _IDENTITY_CREATED)),
        "name": name,
        "identity_class": "organization",
        # The key id makes the bundle self-describing: a reader can tie each creator to a key
        # and check that the id is the one derived from it (see library.parse_with_stix2).
        "extensions": {EXTENSION_DEFINITION_ID: {"extension_type": "property-extension", "key_id": origin}},
    }
