"""Sightings in Accord's STIX profile, both directions (DESIGN §7 feedback).

A sighting names one indicator (``sighting_of_ref``), is created by the entry's origin, which
is also the only ``where_sighted_refs``: a node reports its own matches, never someone else's.
"""

from __future__ import annotations

import contextlib
from typing import Any, Final

from node.errors import InvalidInput, MalformedStix
from node.model import KeyId, Tlp
from node.model.indicators import parse_indicator_id
from node.model.sightings import MAX_SIGHTING_COUNT, Sighting, parse_sighting_id
from node.stix.fields import FieldError, timestamp_field, tlp_from_markings
from node.stix.profile import TLP_MARKINGS, origin_identity_id
from node.stix.timestamps import format_timestamp

SIGHTING_PROPERTIES: Final = frozenset(
    {
        "type",
        "spec_version",
        "id",
        "created_by_ref",
        "created",
        "modified",
        "sighting_of_ref",
        "count",
        "first_seen",
        "last_seen",
        "where_sighted_refs",
        "object_marking_refs",
    }
)


def sighting_to_stix(sighting: Sighting, *, tlp: Tlp) -> dict[str, Any]:
    """One sighting as a STIX ``sighting`` object (JSON data), marked with ``tlp``."""
    creator = origin_identity_id(sighting.origin)
    created = format_timestamp(sighting.created)
    return {
        "type": "sighting",
        "spec_version": "2.1",
        "id": sighting.id,
        "created_by_ref": creator,
        "created": created,
        "modified": created,
        "sighting_of_ref": sighting.indicator_id,
        "count": sighting.count,
        "first_seen": format_timestamp(sighting.first_seen),
        "last_seen": format_timestamp(sighting.last_seen),
        "where_sighted_refs": [creator],
        "object_marking_refs": [TLP_MARKINGS[tlp]],
    }


def sighting_from_stix(stix: dict[str, Any], *, origin: KeyId) -> tuple[Sighting, Tlp]:
    """The sighting in ``stix`` by ``origin`` and its TLP; :class:`MalformedStix` otherwise."""
    if stix.keys() != SIGHTING_PROPERTIES:
        raise MalformedStix("a sighting has exactly the properties of Accord's profile")
    creator = origin_identity_id(origin)
    if stix["spec_version"] != "2.1":
        raise FieldError("spec_version", "must be '2.1'")
    if stix["created_by_ref"] != creator:
        raise FieldError("created_by_ref", "must be the STIX identity of the entry's origin")
    if stix["where_sighted_refs"] != [creator]:
        raise FieldError("where_sighted_refs", "must name the entry's origin alone")
    created = timestamp_field(stix, "created")
    if timestamp_field(stix, "modified") != created:
        raise FieldError("modified", "must equal 'created' (sightings are not versioned)")
    count = stix["count"]
    if type(count) is not int or not 1 <= count <= MAX_SIGHTING_COUNT:
        raise FieldError("count", f"must be an integer from 1 to {MAX_SIGHTING_COUNT}")
    try:
        sighting = Sighting(
            id=_id(stix["id"]),
            origin=origin,
            indicator_id=_target(stix["sighting_of_ref"]),
            count=count,
            first_seen=timestamp_field(stix, "first_seen"),
            last_seen=timestamp_field(stix, "last_seen"),
            created=created,
        )
    except InvalidInput as exc:
        raise MalformedStix(f"sighting: {exc}") from exc
    return sighting, tlp_from_markings(stix["object_marking_refs"])


def _id(identifier: object) -> str:
    if isinstance(identifier, str):
        with contextlib.suppress(InvalidInput):
            return parse_sighting_id(identifier)
    raise FieldError("id", "must be sighting--<uuid4>")


def _target(ref: object) -> str:
    if isinstance(ref, str):
        with contextlib.suppress(InvalidInput):
            return parse_indicator_id(ref)
    raise FieldError("sighting_of_ref", "must name an indicator--<uuid4>")
