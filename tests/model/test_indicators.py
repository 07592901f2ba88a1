"""Indicator values: ids, categories, timestamps and PDQ quality are validated on construction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from node.errors import InvalidInput
from node.model import KNOWN_CATEGORIES, ContentType, Indicator, Signal, SignalType, Tlp, parse_category
from node.model.indicators import parse_indicator_id
from tests.model.keys import key

T0 = datetime(2025, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
ID = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
PDQ = Signal(SignalType.PDQ, "f" * 64)


def make(**changes: Any) -> Indicator:
    fields: dict[str, Any] = {
        "id": ID,
        "signal": PDQ,
        "category": "csam",
        "content_type": ContentType.IMAGE,
        "tlp": Tlp.AMBER,
        "origin": key("origin"),
        "created": T0,
        "modified": T0,
        "quality": 90,
    }
    fields.update(changes)
    return Indicator(**fields)


def test_a_valid_indicator() -> None:
    indicator = make(modified=T0 + timedelta(days=1), revoked=True)
    assert indicator.revoked
    assert indicator.valid_until is None


@pytest.mark.parametrize(
    "bad_id",
    [
        "indicator--8e2e2d2b-17d4-1cbf-938f-98ee46b3cd3f",  # version 1 UUID
        "indicator--8e2e2d2b-17d4-4cbf-738f-98ee46b3cd3f",  # wrong variant
        "indicator--8E2E2D2B-17D4-4CBF-938F-98EE46B3CD3F",
        "malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "indicator--8e2e2d2b17d44cbf938f98ee46b3cd3f",
        "",
    ],
)
def test_bad_ids_are_refused(bad_id: str) -> None:
    with pytest.raises(InvalidInput, match="indicator--<uuid4>"):
        make(id=bad_id)


def test_a_sibling_is_what_the_constructor_makes_with_that_id_and_signal() -> None:
    first = make(valid_until=T0 + timedelta(days=30), revoked=True)
    other_id, other_pdq = "indicator--0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3", Signal(SignalType.PDQ, "0" * 64)
    twin = first.sibling(other_id, other_pdq)
    assert twin == make(id=other_id, signal=other_pdq, valid_until=T0 + timedelta(days=30), revoked=True)
    assert (twin.id, twin.signal) == (other_id, other_pdq) and (first.id, first.signal) == (ID, PDQ)


@pytest.mark.parametrize("bad_id", ["indicator--8e2e2d2b-17d4-1cbf-938f-98ee46b3cd3f", 'indicator--"', ""])
def test_a_sibling_s_id_is_checked_as_the_constructor_checks_it(bad_id: str) -> None:
    with pytest.raises(InvalidInput, match="indicator--<uuid4>"):
        make().sibling(bad_id, PDQ)


def test_a_sibling_keeps_its_signal_type() -> None:
    # The PDQ quality floor was checked for a PDQ signal: an md5 sibling would skip its rule.
    with pytest.raises(InvalidInput, match="signal's type"):
        make().sibling(ID, Signal(SignalType.MD5, "0" * 32))


def test_parse_indicator_id_refuses_non_text() -> None:
    with pytest.raises(InvalidInput):
        parse_indicator_id(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["created", "modified"])
def test_naive_datetimes_are_refused(field: str) -> None:
    naive = datetime(2025, 5, 6, 7, 8, 9)
    with pytest.raises(InvalidInput, match="timezone-aware"):
        make(**{field: naive})


def test_modified_before_created_is_refused() -> None:
    with pytest.raises(InvalidInput, match="precedes"):
        make(modified=T0 - timedelta(milliseconds=1))


def test_pdq_quality_below_the_minimum_is_refused() -> None:
    assert make(quality=50).quality == 50
    with pytest.raises(InvalidInput, match="below 50"):
        make(quality=49)


@pytest.mark.parametrize("quality", [-1, 101])
def test_quality_out_of_range_is_refused(quality: int) -> None:
    with pytest.raises(InvalidInput, match="between 0 and 100"):
        make(quality=quality)


def test_quality_floor_applies_to_pdq_only() -> None:
    md5 = make(signal=Signal(SignalType.MD5, "a" * 32), content_type=ContentType.FILE, quality=10)
    assert md5.quality == 10


def test_pdq_without_quality_is_allowed() -> None:
    assert make(quality=None).quality is None


@pytest.mark.parametrize(
    ("text", "slug"),
    [("csam", "csam"), (" NCII ", "ncii"), ("election-deepfake", "election-deepfake"), ("x1", "x1")],
)
def test_parse_category(text: str, slug: str) -> None:
    assert parse_category(text) == slug


@pytest.mark.parametrize("text", ["", "-csam", "under_score", "with space", "c" * 64, "é"])
def test_bad_categories_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="category"):
        parse_category(text)


def test_indicator_refuses_a_bad_category() -> None:
    with pytest.raises(InvalidInput):
        make(category="Not A Slug")


def test_known_categories_are_valid_slugs() -> None:
    assert all(parse_category(c) == c for c in KNOWN_CATEGORIES)
    assert {"csam", "aig-csam", "csem", "ncii", "tvec", "election-deepfake"} <= set(KNOWN_CATEGORIES)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("image", ContentType.IMAGE),
        ("Photo", ContentType.IMAGE),
        ("VIDEO", ContentType.VIDEO),
        ("file", ContentType.FILE),
    ],
)
def test_content_type_parse(text: str, kind: ContentType) -> None:
    assert ContentType.parse(text) is kind


def test_unknown_content_type_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown content type"):
        ContentType.parse("audio")


def test_default_content_type() -> None:
    assert ContentType.default_for(SignalType.PDQ) is ContentType.IMAGE
    assert ContentType.default_for(SignalType.VPDQ) is ContentType.VIDEO
    perceptual = (SignalType.PDQ, SignalType.VPDQ)
    assert {ContentType.default_for(t) for t in SignalType if t not in perceptual} == {ContentType.FILE}
