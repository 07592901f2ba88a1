"""MISP feeds → indicators: events' hash and web attributes, with categories and TLP from tags.

A MISP feed is a ``manifest.json`` (event uuid → summary) and one ``<uuid>.json`` per event.
``md5``, ``sha1``, ``sha256`` (also as ``filename|<hash>``) and ``pdq`` (also the custom
``x-pdq`` / ``x_pdq`` types) attributes become indicators of the feed's source, and so do
``url`` (a url: signal) and ``domain``, ``hostname``, ``domain|ip``, ``hostname|port`` (a
domain: signal of the name part), normalised and refused (a public suffix, a non-http URL)
by the same rules as any url: or domain: value (issue 15). Attribute tags
win over event tags; ``tlp:*`` tags give the TLP, other tags map to a category through a
configurable table. Every refused attribute is reported with its reason, never its value.
Hash attributes with ``to_ids`` false are context, not detection data: they are not imported
and each event reports how many it held.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from node.errors import InvalidInput
from node.model import ContentType, Indicator, KeyId, Signal, SignalType, Tlp, parse_category
from node.model.jsontext import parse_json
from node.stix.foreign import local_indicator_id
from node.sync.sources import ItemRefusal

DEFAULT_TAG_CATEGORIES: Mapping[str, str] = {
    "csam": "csam",
    "child-sexual-abuse-material": "csam",
    "aig-csam": "aig-csam",
    "csem": "csem",
    "ncii": "ncii",
    "non-consensual-intimate-imagery": "ncii",
    "tvec": "tvec",
    "terrorism": "tvec",
    "violent-extremism": "tvec",
    "election-deepfake": "election-deepfake",
    "impersonation-deepfake": "impersonation-deepfake",
    "nudify-service": "nudify-service",
    "abusive-model": "abusive-model",
}
"""Tags (lowercase, also as ``accord:category="X"`` machine tags) → Accord categories."""

_ATTRIBUTE_TYPES = {
    "md5": SignalType.MD5,
    "sha1": SignalType.SHA1,
    "sha256": SignalType.SHA256,
    "pdq": SignalType.PDQ,
    "x-pdq": SignalType.PDQ,
    "x_pdq": SignalType.PDQ,
}
# Web attributes (issue 15): the name part of a composite (``domain|ip``) is the signal.
_ADDRESS_TYPES = {
    "url": SignalType.URL,
    "domain": SignalType.DOMAIN,
    "hostname": SignalType.DOMAIN,
    "domain|ip": SignalType.DOMAIN,
    "hostname|port": SignalType.DOMAIN,
}
_MACHINE_TAG = re.compile(r'accord:category="?([a-z0-9-]+)"?')
_EVENT_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TLP_ORDER = list(Tlp)
# MISP's to_ids flag, as feeds spell "false": such an attribute is context, never for detection,
# so it is refused (counted per event) rather than turned into a matching indicator.
_NOT_FOR_DETECTION = (False, 0, "0", "false", "False")


@dataclass(frozen=True, slots=True)
class MispRules:
    """How tags become labels."""

    tag_categories: Mapping[str, str]
    default_category: str | None = None
    default_tlp: Tlp = Tlp.AMBER  # unmarked data from another tool is treated as restricted


@dataclass(frozen=True, slots=True)
class MispEvent:
    """What one event gave."""

    indicators: tuple[Indicator, ...]
    refused: tuple[ItemRefusal, ...]
    skipped: int


def event_uuids(manifest: bytes) -> list[str]:
    """The event uuids a ``manifest.json`` lists; InvalidInput for anything else (no paths)."""
    document = parse_json(manifest, what="manifest.json")
    if not isinstance(document, dict):
        raise InvalidInput("manifest.json must map event uuids to event summaries")
    bad = [key for key in document if not _EVENT_UUID.fullmatch(key)]
    if bad:
        # An event file name comes from these keys: anything but a uuid could name another path.
        raise InvalidInput(
            f"manifest.json lists {len(bad)} key(s) that are not event uuids, e.g. {bad[0][:40]!r}"
        )
    return sorted(document)


def read_event(data: bytes, *, uuid: str, origin: KeyId, rules: MispRules) -> MispEvent:
    """The indicators of one event file, attributed to ``origin``."""
    document = parse_json(data, what=f"event {uuid}")
    try:
        event = document["Event"]
        if not isinstance(event, dict):
            raise TypeError("Event")
    except (KeyError, TypeError) as exc:
        raise InvalidInput(f"event {uuid}: not a MISP event document") from exc
    event_tags = _tags(event)
    attributes = list(_attributes(event))
    indicators: list[Indicator] = []
    refused: list[ItemRefusal] = []
    skipped = context = 0
    for attribute in attributes:
        kind = _attribute_kind(str(attribute.get("type", "")).lower())
        if kind is None:
            skipped += 1
            continue
        if attribute.get("to_ids", True) in _NOT_FOR_DETECTION:
            context += 1
            continue
        label = f"event {uuid} attribute {str(attribute.get('uuid', '?'))[:36]}"
        try:
            indicators.append(_indicator(attribute, kind, event_tags, origin=origin, rules=rules))
        except InvalidInput as exc:
            refused.append(ItemRefusal(label, str(exc)))
    if context:
        reason = f"skipped {context} attributes with to_ids=false (context, not for detection)"
        refused.append(ItemRefusal(f"event {uuid}", reason))
    return MispEvent(tuple(indicators), tuple(refused), skipped)


def _attribute_kind(type_name: str) -> SignalType | None:
    """The signal type a MISP attribute type gives (a hash type also as ``<anything>|<hash>``)."""
    if type_name in _ADDRESS_TYPES:
        return _ADDRESS_TYPES[type_name]
    return _ATTRIBUTE_TYPES.get(type_name.rsplit("|", maxsplit=1)[-1])


def _attribute_value(attribute: dict[str, Any], kind: SignalType) -> str:
    """The signal's part of the value: the hash of ``filename|<hash>``, the name of ``domain|ip``
    and ``hostname|port``; a ``url``, ``domain`` or ``hostname`` value is taken whole (a ``|``
    in it is then the value's own, refused or encoded by the signal's rules)."""
    value = str(attribute.get("value", ""))
    if not kind.is_address:
        return value.rsplit("|", maxsplit=1)[-1]
    return value.split("|", maxsplit=1)[0] if "|" in str(attribute.get("type", "")) else value


def _attributes(event: dict[str, Any]) -> list[dict[str, Any]]:
    found = _dicts(event, "Attribute")
    for obj in _dicts(event, "Object"):
        found.extend(_dicts(obj, "Attribute"))
    return found


def _tags(holder: dict[str, Any]) -> list[str]:
    return [str(t.get("name", "")).strip().lower() for t in _dicts(holder, "Tag")]


def _dicts(holder: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The objects of ``holder[key]`` when it is a list; anything else a feed sends is ignored."""
    items = holder.get(key)
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _indicator(
    attribute: dict[str, Any], kind: SignalType, event_tags: list[str], *, origin: KeyId, rules: MispRules
) -> Indicator:
    if attribute.get("deleted") in (True, "1", 1):
        raise InvalidInput("the attribute is deleted in MISP")
    signal = Signal(kind, _attribute_value(attribute, kind))  # InvalidSignal: the defect, never the value
    tags = _tags(attribute) + event_tags
    stamp = _timestamp(attribute.get("timestamp"))
    foreign_id = str(attribute.get("uuid") or f"{kind.value}:{signal.value}")
    return Indicator(
        id=local_indicator_id(origin, foreign_id, signal),
        signal=signal,
        category=_category(tags, rules),
        content_type=ContentType.default_for(kind),
        tlp=_tlp(tags, rules.default_tlp),
        origin=origin,
        created=stamp,
        modified=stamp,
    )


def _timestamp(value: object) -> datetime:
    try:
        seconds = int(str(value))
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise InvalidInput("the attribute has no valid timestamp (seconds since 1970)") from exc


def _category(tags: list[str], rules: MispRules) -> str:
    for tag in tags:
        machine = _MACHINE_TAG.fullmatch(tag)
        if machine:
            return parse_category(machine.group(1))
        if tag in rules.tag_categories:
            return parse_category(rules.tag_categories[tag])
    if rules.default_category is None:
        raise InvalidInput(
            "no tag of the attribute or its event maps to a category (see misp.tag_categories)"
        )
    return rules.default_category


def _tlp(tags: list[str], default: Tlp) -> Tlp:
    """The most restricted ``tlp:*`` tag, or ``default`` when there is none."""
    levels: list[Tlp] = []
    for tag in tags:
        if tag.startswith("tlp:"):
            try:
                levels.append(Tlp.parse(tag))
            except InvalidInput:
                continue
    return max(levels, key=_TLP_ORDER.index) if levels else default
