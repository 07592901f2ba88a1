"""Readers for single fields of Accord's indicator profile, shared by the strict bundle reader.

Each function takes one untrusted JSON value and returns a domain value, or raises
:class:`FieldError` naming the field and the rule broken. Messages never repeat the value: it
may be a restricted hash, or anything a peer chose to put there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, NamedTuple, TypeVar

from node.errors import InvalidInput, MalformedStix
from node.model import PDQ_MIN_QUALITY, ContentType, Signal, SignalType, Tlp, parse_category
from node.stix.profile import (
    ADDRESS_PATTERN,
    EXTENSION_DEFINITION_ID,
    HEX_LOWER,
    PATTERN,
    SIGNAL_TYPE_BY_ADDRESS_OBJECT,
    SIGNAL_TYPE_BY_HASH_KEY,
    TLP_BY_MARKING,
    unquote_pattern_string,
)
from node.stix.timestamps import parse_timestamp

_SIGNAL_TYPES: Final = {kind.value: kind for kind in SignalType}
# Keyed by the pattern's hash name (a str): enum-keyed lookups hash in Python and this is hot.
_HEX_LENGTHS: Final = {key: kind.hex_length for key, kind in SIGNAL_TYPE_BY_HASH_KEY.items()}
_CONTENT_TYPES: Final = {kind.value: kind for kind in ContentType}
_EXTENSION_REQUIRED: Final = frozenset({"extension_type", "signal_type", "category", "content_type"})
_EXTENSION_ALLOWED: Final = _EXTENSION_REQUIRED | {"quality", "attestation", "c2pa"}  # see stix.provenance

_Member = TypeVar("_Member")


class FieldError(MalformedStix):
    """One field of one object breaks the profile. The bundle reader adds the object's index."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"field '{field}' {rule}")
        self.field = field


class Labels(NamedTuple):
    """What Accord's property extension says about an indicator. A NamedTuple rather than a
    frozen dataclass: it is built once per indicator on the ingest path, and is ~3x cheaper."""

    signal_type: SignalType
    category: str
    content_type: ContentType
    quality: int | None


def timestamp_field(stix: dict[str, Any], field: str) -> datetime:
    """The timestamp in ``stix[field]``, which must be present."""
    try:
        return parse_timestamp(stix[field])
    except MalformedStix as exc:
        raise FieldError(field, "is not a STIX timestamp (YYYY-MM-DDTHH:MM:SS.mmmZ)") from exc


def signal_from_pattern(pattern: object, signal_type: SignalType) -> Signal:
    """The signal compared in ``pattern``, which must name ``signal_type``'s hash."""
    if signal_type.is_address:
        return _address_signal(pattern, signal_type)
    found = PATTERN.fullmatch(pattern) if isinstance(pattern, str) else None
    if found is None:
        raise FieldError("pattern", "is not of the form [file:hashes.<HASH> = '<hex>']")
    hash_key, value = found.groups()
    if SIGNAL_TYPE_BY_HASH_KEY[hash_key] is not signal_type:
        raise FieldError("pattern", "compares a different hash than the extension's signal_type")
    if signal_type is SignalType.VPDQ or signal_type is SignalType.MODEL:
        return _digest_list_signal(value, signal_type)
    # Checked here rather than left to Signal, which would also accept upper case and spaces:
    # the profile writes lowercase hex and nothing else.
    if len(value) != _HEX_LENGTHS[hash_key] or not HEX_LOWER.fullmatch(value):
        raise FieldError(
            "pattern",
            f"must compare {signal_type.hex_length} lowercase hex characters for {signal_type.value}",
        )
    return Signal(signal_type, value)


def _digest_list_signal(value: str, signal_type: SignalType) -> Signal:
    item = "frame" if signal_type is SignalType.VPDQ else "tensor"
    if not HEX_LOWER.fullmatch(value):
        raise FieldError("pattern", f"must compare lowercase hex {item} hashes for {signal_type.value}")
    try:
        return Signal(signal_type, value)
    except InvalidInput as exc:  # the message names the rule, never the value
        raise FieldError("pattern", f"is not a canonical {signal_type.value} value: {exc}") from exc


def _address_signal(pattern: object, signal_type: SignalType) -> Signal:
    """A url or domain signal: ``[url:value = '…']`` or ``[domain-name:value = '…']``, with the
    value already in the normal form ``Signal`` gives it (the profile writes nothing else)."""
    found = ADDRESS_PATTERN.fullmatch(pattern) if isinstance(pattern, str) else None
    if found is None:
        raise FieldError(
            "pattern", "is not of the form [url:value = '<url>'] or [domain-name:value = '<domain>']"
        )
    observable, quoted = found.groups()
    if SIGNAL_TYPE_BY_ADDRESS_OBJECT[observable] is not signal_type:
        raise FieldError("pattern", "compares a different observable than the extension's signal_type")
    value = unquote_pattern_string(quoted)
    try:
        signal = Signal(signal_type, value)
    except InvalidInput as exc:  # names the rule (e.g. a public suffix), never the value
        raise FieldError("pattern", f"is not a valid {signal_type.value} value: {exc}") from exc
    if signal.value != value:
        raise FieldError("pattern", f"must compare a {signal_type.value} in normal form")
    return signal


def tlp_from_markings(refs: object) -> Tlp:
    """The TLP level of ``object_marking_refs``: exactly one TLP 2.0 marking, nothing else."""
    if not isinstance(refs, list) or len(refs) != 1:
        raise FieldError("object_marking_refs", "must hold exactly one TLP 2.0 marking-definition id")
    ref = refs[0]
    tlp = TLP_BY_MARKING.get(ref) if isinstance(ref, str) else None
    if tlp is None:
        raise FieldError("object_marking_refs", "is not a TLP 2.0 marking-definition id")
    return tlp


def labels_from_extensions(extensions: object) -> Labels:
    """The labels in ``extensions``, which must hold Accord's property extension and nothing else."""
    if not isinstance(extensions, dict) or len(extensions) != 1 or EXTENSION_DEFINITION_ID not in extensions:
        raise FieldError("extensions", "must hold Accord's property extension and nothing else")
    extension = extensions[EXTENSION_DEFINITION_ID]
    if not isinstance(extension, dict) or extension.get("extension_type") != "property-extension":
        raise FieldError("extensions", "must hold a property-extension object")
    if not _EXTENSION_REQUIRED <= extension.keys() <= _EXTENSION_ALLOWED:
        raise FieldError("extensions", "must hold signal_type, category, content_type and optional quality")
    signal_type = _enum_value(_SIGNAL_TYPES, extension["signal_type"], "signal_type")
    return Labels(
        signal_type=signal_type,
        category=_category(extension["category"]),
        content_type=_enum_value(_CONTENT_TYPES, extension["content_type"], "content_type"),
        quality=_quality(extension, signal_type),
    )


def _enum_value(members: dict[str, _Member], value: object, field: str) -> _Member:
    member = members.get(value) if isinstance(value, str) else None
    if member is None:
        raise FieldError(f"extensions.{field}", "must be one of " + ", ".join(members))
    return member


def _category(value: object) -> str:
    try:
        # parse_category also lowercases and strips; the profile only writes the normal form.
        if isinstance(value, str) and parse_category(value) == value:
            return value
    except InvalidInput:
        pass
    raise FieldError("extensions.category", "must be a lowercase slug of letters, digits and '-'")


def _quality(extension: dict[str, Any], signal_type: SignalType) -> int | None:
    if "quality" not in extension:
        return None
    value = extension["quality"]
    # bool is an int in Python but not in JSON: refuse true/false as a quality.
    if type(value) is not int or not 0 <= value <= 100:
        raise FieldError("extensions.quality", "must be an integer from 0 to 100")
    if signal_type is SignalType.PDQ and value < PDQ_MIN_QUALITY:
        raise FieldError("extensions.quality", f"is below {PDQ_MIN_QUALITY}, the minimum for pdq")
    return value
