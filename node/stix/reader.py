"""STIX 2.1 bundle → indicators, at the trust boundary (DESIGN §2, §4, §7).

Ingest calls :func:`read_bundle` on the bundle of an entry whose signature it has verified, so
the origin is known; everything else in the bundle is still untrusted. The reader is strict: it
accepts Accord's own profile and nothing else, checks every field it relies on, and refuses
what it does not understand instead of skipping it. Afterwards the caller may trust that each
returned indicator was created by ``origin``, carries one known TLP level and a valid signal.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, NamedTuple

from node.errors import InvalidInput, MalformedStix, TooLarge
from node.model import Indicator, Indicators, KeyId, Opinion, Sighting, Tlp
from node.model.indicators import parse_indicator_id
from node.stix.fastpath import SharedFields
from node.stix.fields import (
    FieldError,
    labels_from_extensions,
    signal_from_pattern,
    timestamp_field,
    tlp_from_markings,
)
from node.stix.opinions import opinion_from_stix
from node.stix.profile import (
    EXTENSION_DEFINITION_ID,
    INDICATOR_ALLOWED,
    INDICATOR_REQUIRED,
    indicator_texts,
    indicator_types_for,
    origin_identity_id,
)
from node.stix.provenance import note_from_stix
from node.stix.sightings import sighting_from_stix

_BUNDLE_PROPERTIES: Final = frozenset({"type", "id", "objects"})
_BUNDLE_ID: Final = re.compile(r"bundle--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# Objects that describe the bundle's indicators. The reader permits them, checks their id, and
# relies on nothing in them: the origin comes from the verified envelope, TLP from known ids.
_DESCRIPTIVE_TYPES: Final = frozenset({"identity", "extension-definition", "marking-definition"})
_DESCRIPTIVE_ID: Final = re.compile(
    r"(identity|extension-definition|marking-definition)--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)

_REPEATED: Final = "repeats an {kind} version (same id and modified)"  # the same version twice is ambiguous
_INDICATOR_CONSTANTS: Final = (("spec_version", "2.1"), ("pattern_type", "stix"), ("pattern_version", "2.1"))


class BundleContents(NamedTuple):
    """What an entry's bundle holds: indicators, and opinions and sightings with their TLP."""

    indicators: Indicators
    opinions: list[tuple[Opinion, Tlp]]
    sightings: list[tuple[Sighting, Tlp]]
    dropped: Sequence[str] = ()  # objects left out, each named with why (never their values)


def read_bundle(bundle: object, *, origin: KeyId, max_objects: int) -> list[Indicator]:
    """The indicators of ``bundle`` (parsed JSON), all created by ``origin``.

    Raises :class:`TooLarge` when the bundle holds more than ``max_objects`` objects (counted
    before any is read), and :class:`MalformedStix` when it is not a bundle at all. An object
    outside the profile is dropped (:func:`read_entry_bundle` names it, its index, the field and
    the rule, never a hash value). Opinions are checked like everything else and left out.
    """
    return list(read_entry_bundle(bundle, origin=origin, max_objects=max_objects).indicators)


def read_entry_bundle(bundle: object, *, origin: KeyId, max_objects: int) -> BundleContents:
    """The indicators and opinions of ``bundle``, all created by ``origin`` (see read_bundle).

    Content checks drop objects, not the bundle (DESIGN §5): an object that breaks the profile
    is left out and named in ``dropped``, and the rest is read. Only a body that is not a bundle
    at all (or holds too many objects) raises.
    """
    objects = _bundle_objects(bundle, max_objects)
    reader = BundleReader(origin=origin)
    for index, stix in enumerate(objects):
        reader.take(index, stix)
    return reader.contents


class BundleReader:
    """Reads a bundle's objects one at a time, in order (:func:`read_entry_bundle`'s loop, for
    readers that get the objects some other way: node/sync/bundle_text.py)."""

    def __init__(self, *, origin: KeyId) -> None:
        self.origin = origin
        self.creator = origin_identity_id(origin)
        self.shared = SharedFields(origin=origin, creator=self.creator)
        self._dropped: list[str] = []
        self.contents = BundleContents(
            indicators=Indicators(), opinions=[], sightings=[], dropped=self._dropped
        )
        self._versions: set[tuple[str, datetime]] = set()

    def take(self, index: int, stix: object) -> Indicator | None:
        """Read object ``index``; the indicator it added when the fast path read it (a sign
        its shared fields passed every rule), else None."""
        # The fast path reads the common case; anything else takes the full, precise reader.
        found: Indicator | Opinion | Sighting | None = self.shared.read(stix)
        fast = found is not None
        if found is None:
            try:
                found = _read_object(stix, origin=self.origin, creator=self.creator, contents=self.contents)
            except MalformedStix as exc:
                self._dropped.append(f"bundle object {index}: {exc}")
                return None
            if found is None:
                return None
        if not self._new_version(index, found):
            return None
        if isinstance(found, Indicator):
            self.contents.indicators.append(found)
            return found if fast else None
        return None

    def take_sibling(self, index: int, first: Indicator, id_: str, value: str) -> None:
        """Object ``index`` is ``first``'s sibling with ``id_`` and ``value``, read by a caller
        that holds its fast path's proof: the same bytes as ``first`` (an indicator :meth:`take`
        returned) but for an id that is ``INDICATOR_ID`` and a value in ``first``'s signal
        type's normal form."""
        version = (id_, first.modified)
        if version in self._versions:
            self._dropped.append(f"bundle object {index}: {_REPEATED.format(kind='indicator')}")
            return
        self._versions.add(version)
        self.contents.indicators.append_sibling(first, id_, value)

    def _new_version(self, index: int, found: Indicator | Opinion | Sighting) -> bool:
        # Two versions of one object may travel together; the same version twice is ambiguous.
        version = (found.id, found.created if isinstance(found, Sighting) else found.modified)
        if version not in self._versions:
            self._versions.add(version)
            return True
        self._dropped.append(f"bundle object {index}: {_REPEATED.format(kind=type(found).__name__.lower())}")
        # _read_object already added a read opinion or sighting: the dropped repeat goes too.
        if isinstance(found, Opinion):
            self.contents.opinions.pop()
        elif isinstance(found, Sighting):
            self.contents.sightings.pop()
        return False


def indicator_from_stix(stix: dict[str, Any], *, origin: KeyId) -> Indicator:
    """One ``indicator`` object (JSON data) of the profile, created by ``origin``."""
    return _read_indicator(stix, creator=origin_identity_id(origin), origin=origin)


def _bundle_objects(bundle: object, max_objects: int) -> list[object]:
    if not isinstance(bundle, dict) or bundle.get("type") != "bundle":
        raise MalformedStix("the STIX payload is not a bundle (a JSON object of type 'bundle')")
    objects = bundle.get("objects")
    if not isinstance(objects, list):
        raise MalformedStix("the bundle's 'objects' is missing or not a list")
    if len(objects) > max_objects:
        raise TooLarge(f"the bundle holds {len(objects)} objects; the limit is {max_objects}")
    if not objects:
        raise MalformedStix("the bundle's 'objects' is empty")
    if bundle.keys() != _BUNDLE_PROPERTIES:
        raise MalformedStix("a bundle has exactly the properties type, id and objects")
    if not isinstance(bundle["id"], str) or not _BUNDLE_ID.fullmatch(bundle["id"]):
        raise MalformedStix("the bundle's id is not bundle--<uuid>")
    return objects


def _read_object(
    stix: object, *, origin: KeyId, creator: str, contents: BundleContents | None = None
) -> Indicator | Opinion | Sighting | None:
    """The indicator or opinion in ``stix`` (an opinion is also added to ``contents`` with its
    TLP), or None for a permitted descriptive object."""
    if not isinstance(stix, dict):
        raise MalformedStix("is not a JSON object")
    kind = stix.get("type")
    if kind == "indicator":
        return _read_indicator(stix, creator=creator, origin=origin)
    if kind == "opinion":
        opinion, tlp = opinion_from_stix(stix, origin=origin)
        if contents is not None:
            contents.opinions.append((opinion, tlp))
        return opinion
    if kind == "sighting":
        sighting, tlp = sighting_from_stix(stix, origin=origin)
        if contents is not None:
            contents.sightings.append((sighting, tlp))
        return sighting
    if isinstance(kind, str) and kind in _DESCRIPTIVE_TYPES:
        _check_descriptive(stix, kind)
        return None
    raise MalformedStix(
        "has a type Accord does not read"
        " (indicator, opinion, sighting, identity, extension/marking-definition)"
    )


def _check_descriptive(stix: dict[str, Any], kind: str) -> None:
    identifier = stix.get("id")
    if not isinstance(identifier, str) or not _DESCRIPTIVE_ID.fullmatch(identifier):
        raise FieldError("id", "is not <type>--<uuid>")
    if not identifier.startswith(kind + "--"):
        raise FieldError("id", "names a different object type than 'type'")


def _read_indicator(stix: dict[str, Any], *, creator: str, origin: KeyId) -> Indicator:
    _check_properties(stix, creator)
    labels = labels_from_extensions(stix["extensions"])
    created, modified = _read_versions(stix)
    _check_texts(stix, labels.category)
    try:
        return Indicator(
            id=_read_id(stix["id"]),
            signal=signal_from_pattern(stix["pattern"], labels.signal_type),
            category=labels.category,
            content_type=labels.content_type,
            tlp=tlp_from_markings(stix["object_marking_refs"]),
            origin=origin,
            created=created,
            modified=modified,
            revoked=_read_revoked(stix),
            quality=labels.quality,
            valid_until=_read_validity(stix, created),
            note=note_from_stix(
                stix,
                stix["extensions"][EXTENSION_DEFINITION_ID],
                generated_description=indicator_texts(
                    labels.signal_type, labels.category, labels.content_type
                )[1],
                category=labels.category,
            ),
        )
    except InvalidInput as exc:
        # Defence in depth: the checks above cover the model's rules today, but the model may
        # gain new ones. Its messages never hold hash values.
        raise MalformedStix(f"indicator: {exc}") from exc


def _check_properties(stix: dict[str, Any], creator: str) -> None:
    if not stix.keys() >= INDICATOR_REQUIRED:
        raise FieldError(min(INDICATOR_REQUIRED - stix.keys()), "is missing")
    if not stix.keys() <= INDICATOR_ALLOWED:
        # The unknown names are not echoed: a peer chose them. granular_markings would be the
        # dangerous one (a second TLP on part of the object), so all of them are refused.
        raise MalformedStix("indicator has properties outside Accord's profile")
    for field, expected in _INDICATOR_CONSTANTS:
        if stix[field] != expected:
            raise FieldError(field, f"must be '{expected}'")
    if stix["created_by_ref"] != creator:
        raise FieldError("created_by_ref", "must be the STIX identity of the entry's origin")


def _read_id(identifier: object) -> str:
    if isinstance(identifier, str):
        with contextlib.suppress(InvalidInput):
            return parse_indicator_id(identifier)
    raise FieldError("id", "must be indicator--<uuid4>")


def _read_versions(stix: dict[str, Any]) -> tuple[datetime, datetime]:
    created = timestamp_field(stix, "created")
    modified = timestamp_field(stix, "modified")
    if modified < created:
        raise FieldError("modified", "precedes 'created'")
    # The profile's indicators are valid from their creation (see writer); a different
    # valid_from would be information the domain value cannot carry, so it is refused.
    if timestamp_field(stix, "valid_from") != created:
        raise FieldError("valid_from", "must equal 'created'")
    return created, modified


def _read_validity(stix: dict[str, Any], created: datetime) -> datetime | None:
    if "valid_until" not in stix:
        return None
    valid_until = timestamp_field(stix, "valid_until")
    if valid_until <= created:
        raise FieldError("valid_until", "must be later than 'valid_from'")
    return valid_until


def _read_revoked(stix: dict[str, Any]) -> bool:
    revoked = stix.get("revoked", False)
    if not isinstance(revoked, bool):
        raise FieldError("revoked", "must be true or false")
    return revoked


def _check_texts(stix: dict[str, Any], category: str) -> None:
    for field in ("name", "description"):
        if not isinstance(stix[field], str) or not stix[field].strip():
            raise FieldError(field, "must be a non-empty string")
    if stix["indicator_types"] != indicator_types_for(category):
        raise FieldError("indicator_types", "does not match the extension's category")
