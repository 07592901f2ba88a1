"""Deterministic indicators and hypothesis strategies for the STIX codec tests."""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from node.errors import InvalidSignal
from node.model import KNOWN_CATEGORIES, ContentType, Indicator, KeyId, Signal, SignalType, Tlp
from node.stix import build_bundle, read_entry_bundle

ORIGIN = KeyId(hashlib.sha256(b"hotline one public key").hexdigest())
OTHER_ORIGIN = KeyId(hashlib.sha256(b"platform two public key").hexdigest())
ORIGIN_NAMES = {ORIGIN: "Hotline One", OTHER_ORIGIN: "Platform Two"}

T0 = datetime(2025, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
"""Already truncated to milliseconds, as publishers create their datetimes."""

MAX_OBJECTS = 5000


def hex_value(seed: int, length: int) -> str:
    """A random-looking lowercase hex value; distinctive, so a leak into a message is visible."""
    return f"{random.Random(seed).getrandbits(4 * length):0{length}x}"


def indicator_id(seed: int) -> str:
    return f"indicator--{uuid.UUID(int=random.Random(seed).getrandbits(128), version=4)}"


def sample_signal(seed: int, signal_type: SignalType) -> Signal:
    """A signal of ``signal_type`` determined by ``seed`` (a video lists five frames)."""
    if signal_type is SignalType.VPDQ:
        return Signal.vpdq(hex_value(1000 * seed + n, 64) for n in range(5))
    if signal_type is SignalType.MODEL:
        return Signal.model(hex_value(1000 * seed + n, 64) for n in range(5))
    if signal_type is SignalType.URL:
        # A quote and a backslash-free percent escape: the pattern must quote the first.
        return Signal(signal_type, f"https://s{hex_value(seed, 8)}.nudify.example/it's/%C3%A4?q=1")
    if signal_type is SignalType.DOMAIN:
        return Signal(signal_type, f"d{hex_value(seed, 8)}.nudify.example")
    return Signal(signal_type, hex_value(seed, signal_type.hex_length))


def make_indicator(
    seed: int, signal_type: SignalType = SignalType.PDQ, *, origin: KeyId = ORIGIN, **changes: Any
) -> Indicator:
    """A valid indicator determined by ``seed``; ``changes`` override single fields."""
    fields: dict[str, Any] = {
        "id": indicator_id(seed),
        "signal": sample_signal(seed, signal_type),
        "category": "csam",
        "content_type": ContentType.default_for(signal_type),
        "tlp": Tlp.AMBER,
        "origin": origin,
        "created": T0,
        "modified": T0 + timedelta(minutes=seed),
        "quality": 87 if signal_type is SignalType.PDQ else None,
    }
    fields.update(changes)
    return Indicator(**fields)


def every_kind() -> list[Indicator]:
    """Every signal type at every TLP level, plus a revoked, a benign and an expiring one."""
    indicators = [
        make_indicator(10 * n + m, signal_type, tlp=tlp)
        for n, signal_type in enumerate(SignalType)
        for m, tlp in enumerate(Tlp)
    ]
    indicators += [
        make_indicator(100, SignalType.SHA256, revoked=True, tlp=Tlp.RED),
        make_indicator(101, SignalType.PDQ, category="benign", tlp=Tlp.CLEAR, quality=50),
        make_indicator(102, SignalType.MD5, valid_until=T0 + timedelta(days=90), tlp=Tlp.GREEN),
        make_indicator(103, SignalType.SHA1, category="election-deepfake", content_type=ContentType.VIDEO),
    ]
    return indicators


def all_hash_values(indicators: list[Indicator]) -> list[str]:
    return [indicator.signal.value for indicator in indicators]


def as_json(data: Any) -> Any:
    """What a bundle looks like after it travelled as JSON bytes."""
    return json.loads(json.dumps(data))


def small_bundle() -> tuple[dict[str, Any], list[Indicator]]:
    """A bundle of two indicators (md5 then pdq) as JSON data, and those indicators."""
    indicators = [make_indicator(1, SignalType.MD5), make_indicator(2, SignalType.PDQ)]
    return as_json(build_bundle(indicators, origin_names=ORIGIN_NAMES)), indicators


def read_dropping(bundle: object, *, origin: KeyId = ORIGIN) -> tuple[list[Indicator], list[str]]:
    """Read ``bundle`` as ingest does: the indicators kept, and each object dropped, named with why.

    Content checks drop objects, not bundles (feed format 2): a broken object is left out and the
    rest of the bundle is still read.
    """
    contents = read_entry_bundle(bundle, origin=origin, max_objects=MAX_OBJECTS)
    return list(contents.indicators), list(contents.dropped)


def the_drop(bundle: object, *, origin: KeyId = ORIGIN) -> str:
    """Why reading ``bundle`` dropped its one broken object (exactly one object is dropped)."""
    _, dropped = read_dropping(bundle, origin=origin)
    assert len(dropped) == 1, dropped
    return dropped[0]


# --- hypothesis strategies ----------------------------------------------------------------

ms_datetimes = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2999, 12, 31), timezones=st.just(UTC)
).map(lambda dt: dt.replace(microsecond=dt.microsecond // 1000 * 1000))

positive_spans = st.integers(min_value=1, max_value=10**11).map(lambda ms: timedelta(milliseconds=ms))

categories = st.one_of(
    st.sampled_from(KNOWN_CATEGORIES), st.from_regex(r"[a-z0-9][a-z0-9-]{0,62}", fullmatch=True)
)


@st.composite
def signals(draw: st.DrawFn) -> Signal:
    signal_type = draw(st.sampled_from(SignalType))
    if signal_type is SignalType.VPDQ or signal_type is SignalType.MODEL:
        frame = st.text("0123456789abcdef", min_size=64, max_size=64)
        digests = draw(st.lists(frame, min_size=1, max_size=8))
        return Signal.vpdq(digests) if signal_type is SignalType.VPDQ else Signal.model(digests)
    if signal_type.is_address:
        label = draw(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True))
        path = draw(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12))
        text = (
            f"{label}.example.org"
            if signal_type is SignalType.DOMAIN
            else f"https://{label}.example.org/{path}"
        )
        try:
            return Signal(signal_type, text)
        except InvalidSignal:
            return Signal(signal_type, f"https://{label}.example.org/")
    value = draw(
        st.text("0123456789abcdef", min_size=signal_type.hex_length, max_size=signal_type.hex_length)
    )
    return Signal(signal_type, value)


@st.composite
def indicators(draw: st.DrawFn, origin: KeyId = ORIGIN) -> Indicator:
    signal = draw(signals())
    created = draw(ms_datetimes)
    least_quality = 50 if signal.type is SignalType.PDQ else 0
    return Indicator(
        id=f"indicator--{draw(st.uuids(version=4))}",
        signal=signal,
        category=draw(categories),
        content_type=draw(st.sampled_from(ContentType)),
        tlp=draw(st.sampled_from(Tlp)),
        origin=origin,
        created=created,
        modified=created + draw(st.one_of(st.just(timedelta(0)), positive_spans)),
        revoked=draw(st.booleans()),
        quality=draw(st.none() | st.integers(min_value=least_quality, max_value=100)),
        valid_until=draw(st.none() | positive_spans.map(lambda span: created + span)),
    )
