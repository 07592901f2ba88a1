"""Third-party STIX 2.1 → candidate indicators, through the ``stix2`` library (DESIGN §7).

TAXII servers of other tools hold STIX that is not in Accord's profile: any indicator whose
pattern compares a file hash this node matches (MD5, SHA-1, SHA-256, PDQ), a URL or a domain
name (:mod:`node.stix.comparisons`) is taken, each value as its own indicator. A value the
signal rules refuse (a malformed hash, a URL that is not http(s), a public suffix such as
``com`` or ``vercel.app``) is refused on its own, with a reason that never echoes it, and the
object's other values are still taken. Objects are low-volume here, so the reference library
validates every one.

Bulk import (``accord contribute`` of a STIX file) reads a whole bundle through
:func:`read_stix_signals`: each object is parsed on its own, so one malformed object is refused
by position and the rest are still read.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from node.errors import InvalidInput, MalformedStix
from node.model import (
    KNOWN_CATEGORIES,
    ContentType,
    Indicator,
    KeyId,
    Signal,
    Tlp,
    parse_category,
)
from node.model.jsontext import MAX_JSON_DEPTH, check_depth
from node.stix.comparisons import READ_TYPES, pattern_comparisons
from node.stix.markings import marking_tlps, object_tlp
from node.stix.profile import ACCORD_NAMESPACE, EXTENSION_DEFINITION_ID
from node.stix.timestamps import parse_timestamp

MAX_STIX_FILE_BYTES = 256 * 1024 * 1024
"""Largest bundle read: it is parsed as one JSON document (~10x its size in memory)."""


@dataclass(frozen=True, slots=True)
class ForeignRefusal:
    """An object that could not be used, and why (never the hash value)."""

    object_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ForeignBatch:
    """What a batch of third-party objects gave: indicators, refusals, and objects skipped."""

    indicators: tuple[Indicator, ...]
    refused: tuple[ForeignRefusal, ...]
    skipped: int


def local_indicator_id(origin: KeyId, foreign_id: str, signal: Signal) -> str:
    """A stable indicator id for one hash of one foreign object: re-imports find the same row."""
    name = f"{origin}\x00{foreign_id}\x00{signal.type.value}:{signal.value}"
    derived = uuid.uuid5(ACCORD_NAMESPACE, name)
    return f"indicator--{uuid.UUID(bytes=derived.bytes, version=4)}"


def indicators_from_foreign_stix(
    objects: list[dict[str, Any]],
    *,
    origin: KeyId,
    default_category: str,
    default_tlp: Tlp,
    now: datetime,
    markings: Mapping[str, Tlp] | None = None,
) -> ForeignBatch:
    """Every usable hash, URL and domain of ``objects`` as an indicator of ``origin`` (the
    unsigned source); each refused value is a refusal of its object, beside its usable ones.

    The TLP comes from the markings (``markings``: TLP marking ids met on earlier pages, beside
    the well-known ids and the marking-definitions among ``objects``), else ``default_tlp``;
    ``valid_until`` is kept, and an indicator it says expired by ``now`` is refused.
    """
    tlps = marking_tlps(objects, known=markings)
    context = _Context(origin, default_category, default_tlp, tlps, now)
    indicators: list[Indicator] = []
    refused: list[ForeignRefusal] = []
    skipped = 0
    for raw in objects:
        object_id = str(raw.get("id", "?"))[:120] if isinstance(raw, dict) else "?"
        if not isinstance(raw, dict) or raw.get("type") != "indicator":
            skipped += 1
            continue
        try:
            check_depth(raw, what="the object")
            taken, reasons = _convert(raw, context)
        except InvalidInput as exc:
            refused.append(ForeignRefusal(object_id, str(exc)))
            continue
        indicators.extend(taken)
        refused.extend(ForeignRefusal(object_id, reason) for reason in reasons)
    return ForeignBatch(tuple(indicators), tuple(refused), skipped)


@dataclass(frozen=True, slots=True)
class _Context:
    origin: KeyId
    default_category: str
    default_tlp: Tlp
    tlps: Mapping[str, Tlp]
    now: datetime


def _convert(raw: dict[str, Any], context: _Context) -> tuple[list[Indicator], list[str]]:
    import stix2  # noqa: PLC0415 - on first use: at the top it costs every CLI start 0.15 s
    from stix2.exceptions import STIXError  # noqa: PLC0415

    try:
        parsed = stix2.parse(raw, allow_custom=True, version="2.1")
    except (STIXError, ValueError, TypeError, KeyError) as exc:
        raise InvalidInput(f"not a valid STIX 2.1 indicator: {type(exc).__name__}") from exc
    if parsed.get("pattern_type") != "stix":
        raise InvalidInput("only STIX patterns are read")
    signals, reasons = _signals(str(parsed["pattern"]))
    if not signals and not reasons:
        raise InvalidInput(f"the pattern compares no file hash, url or domain this node reads ({READ_TYPES})")
    created = _timestamp(raw["created"])
    modified = max(created, _timestamp(raw.get("modified", raw["created"])))
    category = _category(raw, context.default_category)
    tlp = object_tlp(raw, context.tlps) or context.default_tlp
    valid_until = expiry(raw, now=context.now)
    indicators = [
        Indicator(
            id=local_indicator_id(context.origin, str(raw["id"]), signal),
            signal=signal,
            category=category,
            content_type=ContentType.default_for(signal.type),
            tlp=tlp,
            origin=context.origin,
            created=created,
            modified=modified,
            revoked=bool(raw.get("revoked", False)),
            valid_until=valid_until,
        )
        for signal in signals
    ]
    return indicators, reasons


def _signals(pattern: str) -> tuple[list[Signal], list[str]]:
    """The signals ``pattern`` compares, and why each refused value was (never the value)."""
    signals: list[Signal] = []
    reasons: list[str] = []
    for comparison in pattern_comparisons(pattern):
        try:
            signals.append(Signal(comparison.kind, comparison.value))  # normalised here
        except InvalidInput as exc:  # InvalidSignal names the defect only
            reasons.append(str(exc))
    return list(dict.fromkeys(signals)), reasons


def _timestamp(value: object) -> datetime:
    if not isinstance(value, str):
        raise InvalidInput("created/modified must be STIX timestamps")
    return parse_timestamp(value)


def _category(raw: dict[str, Any], default: str) -> str:
    extension = raw.get("extensions", {}).get(EXTENSION_DEFINITION_ID, {})
    if isinstance(extension, dict) and isinstance(extension.get("category"), str):
        return parse_category(extension["category"])
    labels = raw.get("labels", [])
    known = [str(label).lower() for label in labels if str(label).lower() in KNOWN_CATEGORIES]
    return known[0] if known else default


def expiry(raw: Mapping[str, Any], *, now: datetime) -> datetime | None:
    """An indicator's ``valid_until``; InvalidInput when it is not after ``now`` (expired)."""
    value = raw.get("valid_until")
    if value is None:
        return None
    try:
        until = parse_timestamp(value)
    except MalformedStix as exc:
        raise InvalidInput(f"valid_until: {exc}") from None
    if until <= now:
        raise InvalidInput(f"valid_until {value[:30]} is past: the source expired this indicator")
    return until


@dataclass(frozen=True, slots=True)
class StixSignal:
    """One signal found in object ``index`` of the bundle; ``category`` from its labels, ``tlp``
    from its markings (None when it has no TLP marking), ``valid_until`` as the source set it."""

    index: int
    signal: Signal
    category: str | None
    revoked: bool
    tlp: Tlp | None = None
    valid_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class StixRefusal:
    """An object that gave no signal, and why (never the hash value)."""

    index: int
    reason: str


def read_stix_signals(
    path: str | os.PathLike[str], *, known_categories: frozenset[str], now: datetime
) -> Iterator[StixSignal | StixRefusal]:
    """The hash, URL and domain signals of every indicator in the STIX 2.1 bundle at ``path``
    (each value refused by the signal rules is a refusal of its own).

    Raises :class:`InvalidInput` when the file is not a JSON bundle at all. A label that is one
    of ``known_categories`` becomes the signal's category. TLP markings (well-known ids and the
    bundle's marking-definitions) give each signal's TLP; an indicator whose ``valid_until`` is
    not after ``now`` is refused as expired.
    """
    import stix2  # noqa: PLC0415 - on first use: at the top it costs every CLI start 0.15 s
    from stix2.exceptions import STIXError  # noqa: PLC0415

    objects = _bundle_objects(os.fspath(path))
    tlps = marking_tlps(objects)
    for index, data in enumerate(objects):
        if not isinstance(data, dict) or data.get("type") != "indicator":
            continue
        try:
            check_depth(data, what="the indicator")
        except InvalidInput as exc:  # stix2 walks objects recursively: refused before it does
            yield StixRefusal(index, str(exc))
            continue
        try:
            indicator = stix2.parse(data, allow_custom=True, version="2.1")
        except (STIXError, ValueError, TypeError) as exc:
            # The library's message may quote the pattern, i.e. the hash: name the class only.
            yield StixRefusal(index, f"the stix2 library refused the indicator ({type(exc).__name__})")
            continue
        try:
            valid_until = expiry(data, now=now)
        except InvalidInput as exc:
            yield StixRefusal(index, str(exc))
            continue
        marked = _Marks(object_tlp(data, tlps), valid_until)
        yield from _bundle_signals(index, indicator, known_categories, marked)


@dataclass(frozen=True, slots=True)
class _Marks:
    tlp: Tlp | None
    valid_until: datetime | None


def _bundle_objects(name: str) -> list[Any]:
    try:
        size = os.stat(name).st_size
        if size > MAX_STIX_FILE_BYTES:
            raise InvalidInput(f"STIX file {name!r} is {size} bytes, above {MAX_STIX_FILE_BYTES}")
        with open(name, encoding="utf-8") as stream:
            data = json.load(stream)
    except OSError as exc:
        raise InvalidInput(f"cannot read STIX file {name!r}: {exc.strerror}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"STIX file {name!r} is not JSON text: {type(exc).__name__}") from None
    except RecursionError:
        raise InvalidInput(
            f"STIX file {name!r} nests too deeply to parse (at most {MAX_JSON_DEPTH} levels)"
        ) from None
    if (
        not isinstance(data, dict)
        or data.get("type") != "bundle"
        or not isinstance(data.get("objects"), list)
    ):
        raise InvalidInput(f"STIX file {name!r} is not a STIX bundle (type 'bundle' with 'objects')")
    objects: list[Any] = data["objects"]
    return objects


def _bundle_signals(
    index: int, indicator: Any, known_categories: frozenset[str], marks: _Marks
) -> Iterator[StixSignal | StixRefusal]:
    if indicator.get("pattern_type") != "stix":
        yield StixRefusal(index, f"pattern type {str(indicator.get('pattern_type'))[:20]!r} is not 'stix'")
        return
    category = _label_category(indicator, known_categories)
    revoked = bool(indicator.get("revoked", False))
    signals, reasons = _signals(str(indicator["pattern"]))
    for reason in reasons:
        yield StixRefusal(index, reason)
    for signal in signals:
        yield StixSignal(index, signal, category, revoked, marks.tlp, marks.valid_until)
    if not signals and not reasons:
        yield StixRefusal(index, f"the pattern compares no {READ_TYPES}")


def _label_category(indicator: Any, known: frozenset[str]) -> str | None:
    for label in indicator.get("labels", []) or []:
        try:
            slug = parse_category(str(label))
        except InvalidInput:
            continue
        if slug in known:
            return slug
    return None
