"""Opinions in Accord's STIX profile, both directions (DESIGN §7 feedback).

An opinion names exactly one indicator in ``object_refs``, is created by the entry's origin,
carries the entry's TLP marking like an indicator, and may carry an ``explanation``. The reader
is as strict as the indicator reader: it checks every property it relies on and refuses any
other property instead of skipping it.
"""

from __future__ import annotations

import contextlib
from typing import Any, Final

from node.errors import InvalidInput, MalformedStix
from node.model import KeyId, Opinion, OpinionValue, Tlp
from node.model.indicators import parse_indicator_id
from node.model.opinions import MAX_EXPLANATION, parse_opinion_id
from node.stix.fields import FieldError, timestamp_field, tlp_from_markings
from node.stix.profile import TLP_MARKINGS, origin_identity_id
from node.stix.timestamps import format_timestamp

OPINION_REQUIRED: Final = frozenset(
    {
        "type",
        "spec_version",
        "id",
        "created_by_ref",
        "created",
        "modified",
        "opinion",
        "object_refs",
        "object_marking_refs",
    }
)
OPINION_ALLOWED: Final = OPINION_REQUIRED | {"explanation", "revoked"}
_VALUES: Final = {value.value: value for value in OpinionValue}


def opinion_to_stix(opinion: Opinion, *, tlp: Tlp) -> dict[str, Any]:
    """One opinion as a STIX ``opinion`` object (JSON data), marked with ``tlp``."""
    stix: dict[str, Any] = {
        "type": "opinion",
        "spec_version": "2.1",
        "id": opinion.id,
        "created_by_ref": origin_identity_id(opinion.origin),
        "created": format_timestamp(opinion.created),
        "modified": format_timestamp(opinion.modified),
        "opinion": opinion.value.value,
        "object_refs": [opinion.indicator_id],
        "object_marking_refs": [TLP_MARKINGS[tlp]],
    }
    if opinion.explanation is not None:
        stix["explanation"] = opinion.explanation
    if opinion.revoked:
        stix["revoked"] = True
    return stix


def opinion_from_stix(stix: dict[str, Any], *, origin: KeyId) -> tuple[Opinion, Tlp]:
    """The opinion in ``stix`` created by ``origin``, and the TLP level it is marked with.

    Raises :class:`MalformedStix` naming the field and the rule broken.
    """
    _check_properties(stix, origin)
    created = timestamp_field(stix, "created")
    modified = timestamp_field(stix, "modified")
    if modified < created:
        raise FieldError("modified", "precedes 'created'")
    try:
        opinion = Opinion(
            id=_opinion_id(stix["id"]),
            origin=origin,
            indicator_id=_target(stix["object_refs"]),
            value=_value(stix["opinion"]),
            created=created,
            modified=modified,
            explanation=_explanation(stix),
            revoked=_revoked(stix),
        )
    except InvalidInput as exc:
        raise MalformedStix(f"opinion: {exc}") from exc
    return opinion, tlp_from_markings(stix["object_marking_refs"])


def _check_properties(stix: dict[str, Any], origin: KeyId) -> None:
    if not stix.keys() >= OPINION_REQUIRED:
        raise FieldError(min(OPINION_REQUIRED - stix.keys()), "is missing")
    if not stix.keys() <= OPINION_ALLOWED:
        raise MalformedStix("opinion has properties outside Accord's profile")
    if stix["spec_version"] != "2.1":
        raise FieldError("spec_version", "must be '2.1'")
    if stix["created_by_ref"] != origin_identity_id(origin):
        raise FieldError("created_by_ref", "must be the STIX identity of the entry's origin")


def _opinion_id(identifier: object) -> str:
    if isinstance(identifier, str):
        with contextlib.suppress(InvalidInput):
            return parse_opinion_id(identifier)
    raise FieldError("id", "must be opinion--<uuid4>")


def _target(refs: object) -> str:
    # One indicator per opinion: an aggregate over several objects could not be replaced or
    # withdrawn for one of them alone.
    if not isinstance(refs, list) or len(refs) != 1 or not isinstance(refs[0], str):
        raise FieldError("object_refs", "must name exactly one indicator")
    try:
        return parse_indicator_id(refs[0])
    except InvalidInput as exc:
        raise FieldError("object_refs", "must name an indicator--<uuid4>") from exc


def _value(value: object) -> OpinionValue:
    found = _VALUES.get(value) if isinstance(value, str) else None
    if found is None:
        raise FieldError("opinion", "must be one of " + ", ".join(_VALUES))
    return found


def _explanation(stix: dict[str, Any]) -> str | None:
    if "explanation" not in stix:
        return None
    text = stix["explanation"]
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_EXPLANATION:
        raise FieldError("explanation", f"must be a non-blank string of at most {MAX_EXPLANATION} characters")
    return text


def _revoked(stix: dict[str, Any]) -> bool:
    revoked = stix.get("revoked", False)
    if not isinstance(revoked, bool):
        raise FieldError("revoked", "must be true or false")
    return revoked
