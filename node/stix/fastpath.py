"""The strict reader's common case, with what a bundle's indicators share checked once.

An entry's indicators mostly differ only in ``id`` and ``pattern``: the creator, timestamps,
texts, labels and markings repeat. :class:`SharedFields` remembers, per bundle, which
combinations of those fields passed every rule of the profile, so each further indicator costs
a few dictionary lookups plus the checks of its own id and pattern.

This path never decides a refusal and is never more lenient than the full reader: ``read``
returns an indicator only when every rule holds, and None whenever anything is unusual or
wrong; the caller then runs the full reader, which accepts exactly the same objects, builds the
same indicator, and names the rule broken. tests/stix/test_fastpath.py checks both agree.
"""

from __future__ import annotations

import re
from datetime import datetime
from operator import itemgetter
from typing import Any, Final, NamedTuple

from node.errors import InvalidInput, MalformedStix
from node.model import MODEL_MAX_TENSORS, VPDQ_MAX_FRAMES, Indicator, KeyId, Signal, SignalType
from node.model.indicators import parse_indicator_id
from node.stix.fields import Labels, labels_from_extensions, timestamp_field
from node.stix.profile import (
    ADDRESS_OBJECTS,
    EXTENSION_DEFINITION_ID,
    HASH_KEYS,
    INDICATOR_ALLOWED,
    INDICATOR_REQUIRED,
    TLP_BY_MARKING,
    indicator_texts,
    indicator_types_for,
    unquote_pattern_string,
)

_ABSENT: Final = object()  # marks an optional property that is not there (JSON null is None)

# One fullmatch per pattern checks the form, the hash named, the length and lowercase hex: the
# same set of strings the full reader accepts in four steps.
_PATTERNS: Final[dict[SignalType, re.Pattern[str]]] = {
    kind: re.compile(rf"\[file:hashes\.{re.escape(key)} = '([0-9a-f]{{{kind.hex_length}}})'\]")
    for kind, key in HASH_KEYS.items()
    if kind is not SignalType.VPDQ and kind is not SignalType.MODEL
}
# A video lists 1..VPDQ_MAX_FRAMES frame hashes; Signal checks their order (else: full reader).
_PATTERNS[SignalType.VPDQ] = re.compile(
    rf"\[file:hashes\.{HASH_KEYS[SignalType.VPDQ]} = '((?:[0-9a-f]{{64}}){{1,{VPDQ_MAX_FRAMES}}})'\]"
)
_PATTERNS[SignalType.MODEL] = re.compile(
    rf"\[file:hashes\.{HASH_KEYS[SignalType.MODEL]} = '((?:[0-9a-f]{{64}}){{1,{MODEL_MAX_TENSORS}}})'\]"
)
for _kind, _observable in ADDRESS_OBJECTS.items():
    # The value's normal form is checked in ``_indicator`` (normalising it must change nothing).
    _PATTERNS[_kind] = re.compile(rf"\[{_observable}:value = '((?:[^'\\]|\\['\\])*)'\]")


def hash_pattern(kind: SignalType) -> re.Pattern[str] | None:
    """The pattern (fullmatch, one group: the value) the fast path holds a ``kind`` indicator's
    ``pattern`` to, when ``kind`` is a hash (None for addresses, read with normalising)."""
    return None if kind.is_address else _PATTERNS.get(kind)


class _Shared(NamedTuple):
    """What a combination of shared fields stands for once it has passed every rule."""

    labels: Labels
    created: datetime
    modified: datetime
    valid_until: datetime | None
    indicator_types: list[str]
    pattern: re.Pattern[str]


class SharedFields:
    """The fast path for the indicators of one bundle from one origin."""

    def __init__(self, *, origin: KeyId, creator: str) -> None:
        self._origin = origin
        self._creator = creator
        self._shared: dict[tuple[Any, ...], _Shared | None] = {}

    def read(self, stix: object) -> Indicator | None:
        """The indicator ``stix`` holds if it takes the common shape and passes; else None."""
        if type(stix) is not dict or stix.get("type") != "indicator":
            return None
        revoked = stix.get("revoked", False)
        if revoked is not True and revoked is not False:
            return None
        try:
            shared = self._shared_fields(stix, revoked)
        except (TypeError, KeyError):  # a missing property, or a list or object where text belongs
            return None
        if shared is None or stix["indicator_types"] != shared.indicator_types:
            return None
        return self._indicator(stix, shared, revoked)

    def _indicator(self, stix: dict[str, Any], shared: _Shared, revoked: bool) -> Indicator | None:
        pattern, refs = stix["pattern"], stix["object_marking_refs"]
        found = shared.pattern.fullmatch(pattern) if type(pattern) is str else None
        if found is None or type(refs) is not list or len(refs) != 1 or type(refs[0]) is not str:
            return None
        tlp = TLP_BY_MARKING.get(refs[0])
        if tlp is None:
            return None
        labels = shared.labels
        try:
            signal = _signal(labels.signal_type, found.group(1))
            if signal is None:
                return None
            return Indicator(
                id=parse_indicator_id(stix["id"]),
                signal=signal,
                category=labels.category,
                content_type=labels.content_type,
                tlp=tlp,
                origin=self._origin,
                created=shared.created,
                modified=shared.modified,
                revoked=revoked,
                quality=labels.quality,
                valid_until=shared.valid_until,
            )
        except InvalidInput:
            return None

    def _shared_fields(self, stix: dict[str, Any], revoked: bool) -> _Shared | None:
        extensions = stix["extensions"]
        if type(extensions) is not dict or len(extensions) != 1:
            return None
        extension = extensions.get(EXTENSION_DEFINITION_ID)
        if type(extension) is not dict:
            return None
        # Each value is keyed with its type (JSON's 1, 1.0 and true are equal in Python), or is
        # text, a bool or the absence marker: a hit means the very same values passed before.
        # The property names are part of the key, so the property set is checked once too.
        key = (
            tuple(stix),
            tuple(extension.items()),
            tuple(map(type, extension.values())),
            revoked,
            stix.get("valid_until", _ABSENT),
            _shared_text(stix),
        )
        shared = self._shared.get(key, _ABSENT)
        if shared is _ABSENT:
            shared = self._shared[key] = _check_shared(stix, self._creator)
        return shared  # type: ignore[return-value]


def _signal(signal_type: SignalType, compared: str) -> Signal | None:
    """The signal a pattern compares; None for an address not in normal form (full reader)."""
    if not signal_type.is_address:
        return Signal(signal_type, compared)
    value = unquote_pattern_string(compared)
    signal = Signal(signal_type, value)
    return signal if signal.value == value else None


_shared_text: Final = itemgetter(
    "spec_version",
    "pattern_type",
    "pattern_version",
    "created_by_ref",
    "created",
    "modified",
    "valid_from",
    "name",
    "description",
)
_CONSTANTS: Final = {"spec_version": "2.1", "pattern_type": "stix", "pattern_version": "2.1"}


def _check_shared(stix: dict[str, Any], creator: str) -> _Shared | None:
    """The shared fields of ``stix`` when they pass every rule of the profile, else None."""
    try:
        labels = labels_from_extensions(stix["extensions"])
        created = timestamp_field(stix, "created")
        modified = timestamp_field(stix, "modified")
        valid_from = timestamp_field(stix, "valid_from")
        valid_until = timestamp_field(stix, "valid_until") if "valid_until" in stix else None
    except MalformedStix:
        return None
    valid = (
        INDICATOR_REQUIRED <= stix.keys() <= INDICATOR_ALLOWED
        and all(stix[name] == value for name, value in _CONSTANTS.items())
        and stix["created_by_ref"] == creator
        and all(isinstance(stix[name], str) and stix[name].strip() for name in ("name", "description"))
        and created <= modified
        and valid_from == created
        and (valid_until is None or valid_until > created)
    )
    # A note (the origin's own description, labels, an attestation, a C2PA summary) takes the
    # full reader.
    extension = stix["extensions"][EXTENSION_DEFINITION_ID]
    plain = (
        "labels" not in stix
        and "attestation" not in extension
        and "c2pa" not in extension
        and stix["description"]
        == indicator_texts(labels.signal_type, labels.category, labels.content_type)[1]
    )
    pattern = _PATTERNS.get(labels.signal_type)
    if not valid or not plain or pattern is None:
        return None
    return _Shared(labels, created, modified, valid_until, indicator_types_for(labels.category), pattern)
