"""Reading an entry's bundle from its canonical text (node/sync/bundle_text.py) gives exactly
what parsing the whole body and reading it gives, or steps aside (None) so that path runs.

The invariant, checked on published bundles, on every kind of indicator, and on hostile edits
of the text: ``read_entry_text(body)`` is None or equals ``read_entry_bundle(decode_bundle(body))``;
and on an ordinary entry it is not None, reading most indicators without parsing them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.errors import MalformedEntry, MalformedStix, TooLarge
from node.feed import decode_bundle
from node.feed.canonical import canonical_json
from node.model import Siblings, SignalType, Tlp
from node.stix import build_bundle, read_entry_bundle
from node.stix.profile import TLP_BY_MARKING
from node.stix.reader import BundleContents
from node.sync import bundle_text
from node.sync.bundle_text import read_entry_text
from tests.stix.samples import MAX_OBJECTS, ORIGIN, ORIGIN_NAMES, T0, every_kind, make_indicator

Read = BundleContents | str
AMBER_MARKING, GREEN_MARKING = (
    next(ref for ref, tlp in TLP_BY_MARKING.items() if tlp is level).encode()
    for level in (Tlp.AMBER, Tlp.GREEN)
)


def body_of(indicators: list[Any], **extra: Any) -> bytes:
    return canonical_json({**build_bundle(indicators, origin_names=ORIGIN_NAMES), **extra})


def parsed(body: bytes, max_objects: int = MAX_OBJECTS) -> Read:
    """What ingest read before: the whole body parsed strictly, then read (or why it could not)."""
    try:
        return read_entry_bundle(decode_bundle(body), origin=ORIGIN, max_objects=max_objects)
    except (MalformedEntry, MalformedStix, TooLarge) as exc:
        return type(exc).__name__


def walked(body: bytes, max_objects: int = MAX_OBJECTS) -> BundleContents | None:
    new = read_entry_text(body, origin=ORIGIN, max_objects=max_objects)
    assert new is None or new == parsed(body, max_objects)  # the invariant
    return new


def entry(count: int, first: int = 5000, **changes: Any) -> list[Any]:
    """Indicators as one entry carries them: one publication time, one shape, many hashes."""
    return [make_indicator(first + n, **{"modified": T0, **changes}) for n in range(count)]


def test_an_ordinary_entry_is_read_from_its_text_and_mostly_not_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = body_of(entry(300) + entry(200, 6000, signal_type=SignalType.MD5, tlp=Tlp.GREEN))
    parses = []
    real = bundle_text.strict_json_at
    monkeypatch.setattr(bundle_text, "strict_json_at", lambda *a: parses.append(1) or real(*a))
    new = walked(body)
    assert new is not None and len(new.indicators) == 500 and not new.dropped
    assert len(parses) < 10  # two shapes learned, plus the bundle's descriptive objects
    # ... and the rest are kept as the ids and hashes of two runs of siblings, not as objects
    runs = [p for p in new.indicators.parts() if isinstance(p, Siblings)]
    assert [len(r.ids) for r in runs] == [299, 199]


def test_every_kind_and_every_tlp_reads_the_same() -> None:
    new = walked(body_of(every_kind() + entry(50) + entry(50, 6000, revoked=True)))
    assert new is not None


def test_a_repeated_version_is_dropped_the_same_way() -> None:
    repeated = [*entry(3), make_indicator(5000, modified=T0)]  # the first one again
    new = walked(body_of(repeated))
    assert new is not None and len(new.indicators) == 3
    assert new.dropped and "repeats an indicator version" in new.dropped[0]


def test_more_objects_than_allowed_steps_aside_for_the_full_refusal() -> None:
    body = body_of(entry(20))
    assert walked(body, max_objects=10) is None
    assert parsed(body, max_objects=10) == "TooLarge"


def swap(body: bytes, old: bytes, new: bytes, nth: int = 3) -> bytes:
    """``body`` with the ``nth`` occurrence of ``old`` replaced by ``new``."""
    at = -1
    for _ in range(nth):
        at = body.index(old, at + 1)
    return body[:at] + new + body[at + len(old) :]


def overwrite(body: bytes, after: bytes, offset: int, new: bytes, nth: int = 3) -> bytes:
    """``body`` with the bytes ``offset`` past the ``nth`` ``after`` overwritten by ``new``
    (same length: the object keeps its place, only its content changes)."""
    at = -1
    for _ in range(nth):
        at = body.index(after, at + 1)
    at += len(after) + offset
    return body[:at] + new + body[at + len(new) :]


ID = b'"id":"indicator--'
HOSTILE = {
    "duplicate key": lambda b: swap(b, b',"type":"indicator"', b',"type":"indicator","type":"indicator"'),
    "duplicate id": lambda b: swap(b, b'"id":"indicator--', b'"id":"indicator--0","id":"indicator--'),
    "uppercase hex": lambda b: overwrite(b, b"x_pdq = '", 5, b"A"),
    "hex turned non-hex": lambda b: overwrite(b, b"x_pdq = '", 5, b"g"),
    "id not version 4": lambda b: overwrite(b, ID, 14, b"1"),
    "id uppercase": lambda b: overwrite(b, ID, 2, b"F"),
    "id with a quote": lambda b: overwrite(b, ID, 2, b'\\"'),
    "short hash": lambda b: swap(b, b"x_pdq = '", b"x_pdq = '0"),
    "other hash key": lambda b: swap(b, b"x_pdq = '", b"x_pdq2 = '"),
    "uuid not v4": lambda b: swap(b, b'"id":"indicator--', b'"id":"indicator--0'),
    "whitespace": lambda b: swap(b, b"},{", b"}, {"),
    "escaped character": lambda b: swap(b, b'"type":"indicator"', b'"type":"indicato\\u0072"'),
    "trailing bytes": lambda b: b + b" ",
    "extra bundle property": lambda b: b.replace(b'"type":"bundle"}', b'"type":"bundle","x":1}'),
    "no objects": lambda b: b[: b.index(b"[") + 1] + b[b.rindex(b"]") :],
    "bad utf-8": lambda b: swap(b, b'"name":"', b'"name":"\xff'),
    "nan": lambda b: swap(b, b'"quality":87', b'"quality":NaN'),
    "other tlp in one": lambda b: swap(b, AMBER_MARKING, GREEN_MARKING),
    "quality changed in one": lambda b: swap(b, b'"quality":87', b'"quality":88'),
    # Length-preserving edits on either side of the id and the hash: each part of a template's
    # text must be compared, the one after the hash included.
    "created changed in one": lambda b: overwrite(b, b'"created":"', 3, b"1"),
    "valid_from changed in one": lambda b: overwrite(b, b'"valid_from":"', 3, b"1"),
    "spec_version changed in one": lambda b: swap(
        b, b'"spec_version":"2.1","type":"indicator"', b'"spec_version":"2.0","type":"indicator"'
    ),
    "truncated": lambda b: b[: len(b) // 2] + b'],"type":"bundle"}',
    "nested deep": lambda b: swap(b, b'"quality":87', b'"quality":' + b"[" * 5000 + b"]" * 5000),
}


@pytest.mark.parametrize("edit", sorted(HOSTILE))
def test_a_hostile_edit_of_the_text_reads_as_parsing_reads_it_or_steps_aside(edit: str) -> None:
    body = HOSTILE[edit](body_of(entry(8)))
    walked(body)  # asserts the invariant


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_random_edits_never_read_differently(data: st.DataObject) -> None:
    body = body_of(entry(4) + entry(3, signal_type=SignalType.SHA256, valid_until=T0 + timedelta(days=9)))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(body) - 1))
        kind = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = data.draw(st.sampled_from(list(b'{}[],:"\\ 0aAf-4_\x00\xe9')))
        if kind == "replace":
            body = body[:at] + bytes([byte]) + body[at + 1 :]
        elif kind == "insert":
            body = body[:at] + bytes([byte]) + body[at:]
        else:
            body = body[:at] + body[at + 1 :]
    walked(body)
