"""Signals: every type validates its length and alphabet, and errors never echo the value."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.errors import InvalidSignal
from node.model import PDQ_DEFAULT_THRESHOLD, PDQ_MIN_QUALITY, Signal, SignalType

LENGTHS = {
    SignalType.MD5: 32,
    SignalType.SHA1: 40,
    SignalType.SHA256: 64,
    SignalType.PDQ: 64,
    SignalType.VPDQ: 64,
    SignalType.MODEL: 64,  # per tensor digest
    SignalType.URL: 0,  # text, normalised (tests/model/test_web.py)
    SignalType.DOMAIN: 0,
}
HASHES = [t for t in SignalType if not t.is_address]
# Distinctive digits, so a value leaking into a message is easy to spot.
SECRET = "7e3a9c51" * 8


def value_of(signal_type: SignalType) -> str:
    return SECRET[: signal_type.hex_length]


def test_hex_lengths_are_those_of_the_algorithms() -> None:
    assert {t: t.hex_length for t in SignalType} == LENGTHS


def test_only_pdq_and_vpdq_are_perceptual() -> None:
    assert [t for t in SignalType if t.is_perceptual] == [SignalType.PDQ, SignalType.VPDQ]


def test_reference_constants() -> None:
    assert PDQ_MIN_QUALITY == 50
    assert PDQ_DEFAULT_THRESHOLD == 31


@pytest.mark.parametrize("signal_type", HASHES)
def test_parse_accepts_every_type(signal_type: SignalType) -> None:
    signal = Signal.parse(f"{signal_type.value}:{value_of(signal_type)}")
    assert signal == Signal(signal_type, value_of(signal_type))
    assert str(signal) == f"{signal_type.value}:{value_of(signal_type)}"


@pytest.mark.parametrize("signal_type", HASHES)
def test_uppercase_and_whitespace_are_normalised(signal_type: SignalType) -> None:
    signal = Signal.parse(f"  {signal_type.value.upper()}:{value_of(signal_type).upper()}  ")
    assert signal.type is signal_type
    assert signal.value == value_of(signal_type)


@pytest.mark.parametrize("signal_type", HASHES)
@pytest.mark.parametrize("delta", [-1, 1, -2])
def test_wrong_length_is_refused_without_echoing_the_value(signal_type: SignalType, delta: int) -> None:
    value = (SECRET * 2)[: signal_type.hex_length + delta]
    with pytest.raises(InvalidSignal) as caught:
        Signal(signal_type, value)
    message = str(caught.value)
    assert str(signal_type.hex_length) in message
    assert value not in message
    assert value[:8] not in message


@pytest.mark.parametrize("signal_type", HASHES)
@pytest.mark.parametrize("bad", ["g", "z", " ", "-", "é", "٣"])
def test_non_hex_is_refused_without_echoing_the_value(signal_type: SignalType, bad: str) -> None:
    value = value_of(signal_type)[:-2] + bad + "a"
    with pytest.raises(InvalidSignal) as caught:
        Signal(signal_type, value)
    message = str(caught.value)
    assert "not all hex" in message
    assert value_of(signal_type)[:8] not in message


def test_empty_value_is_refused() -> None:
    with pytest.raises(InvalidSignal):
        Signal.parse("md5:")


def test_parse_needs_a_type_prefix() -> None:
    with pytest.raises(InvalidSignal) as caught:
        Signal.parse(SECRET)
    assert SECRET[:8] not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("md5", SignalType.MD5),
        ("MD5", SignalType.MD5),
        ("sha1", SignalType.SHA1),
        ("SHA-1", SignalType.SHA1),
        ("sha256", SignalType.SHA256),
        ("sha-256", SignalType.SHA256),
        ("SHA_256", SignalType.SHA256),
        (" Sha-256 ", SignalType.SHA256),
        ("pdq", SignalType.PDQ),
        ("PDQ", SignalType.PDQ),
    ],
)
def test_signal_type_aliases(text: str, expected: SignalType) -> None:
    assert SignalType.parse(text) is expected


@pytest.mark.parametrize("text", ["", "sha512", "tmk", "sha 256", "pdqf"])
def test_unknown_signal_type_is_refused(text: str) -> None:
    with pytest.raises(InvalidSignal, match="unknown signal type"):
        SignalType.parse(text)


def test_signal_with_unknown_type_is_refused() -> None:
    with pytest.raises(InvalidSignal):
        Signal.parse("sha512:" + "a" * 128)


@pytest.mark.parametrize("signal_type", HASHES)
def test_redacted_shows_type_and_a_short_prefix_only(signal_type: SignalType) -> None:
    signal = Signal(signal_type, value_of(signal_type))
    redacted = signal.redacted()
    assert redacted.startswith(f"{signal_type.value}:{SECRET[:4]}")
    assert SECRET[:5] not in redacted
    assert len(redacted) <= len(signal_type.value) + 6


def test_pdq_bytes_are_the_raw_big_endian_hash() -> None:
    value = "00ff" + "12" * 30
    assert Signal(SignalType.PDQ, value).pdq_bytes() == bytes.fromhex(value)


@pytest.mark.parametrize("signal_type", [SignalType.MD5, SignalType.SHA1, SignalType.SHA256])
def test_pdq_bytes_only_for_pdq(signal_type: SignalType) -> None:
    with pytest.raises(InvalidSignal):
        Signal(signal_type, value_of(signal_type)).pdq_bytes()


@settings(max_examples=200, deadline=None)
@given(signal_type=st.sampled_from(HASHES), data=st.data())
def test_parse_of_str_round_trips(signal_type: SignalType, data: st.DataObject) -> None:
    value = data.draw(
        st.text(
            alphabet="0123456789abcdefABCDEF",
            min_size=signal_type.hex_length,
            max_size=signal_type.hex_length,
        )
    )
    signal = Signal.parse(f"{signal_type.value}:{value}")
    assert signal.value == value.lower()
    assert Signal.parse(str(signal)) == signal


@settings(max_examples=200, deadline=None)
@given(signal_type=st.sampled_from(HASHES), value=st.text(max_size=80))
def test_arbitrary_text_is_a_signal_only_if_it_is_hex_of_the_right_length(
    signal_type: SignalType, value: str
) -> None:
    normal = value.strip().lower()
    valid = len(normal) == signal_type.hex_length and all(c in "0123456789abcdef" for c in normal)
    if valid:
        assert Signal(signal_type, value).value == normal
    else:
        with pytest.raises(InvalidSignal):
            Signal(signal_type, value)


# --- the fast path of validation agrees with the full check -------------------------------------

_REFERENCE_HEX = re.compile(r"[0-9a-f]*")


def reference_normal_form(signal_type: SignalType, value: str) -> str | None:
    """The previous validation, written out: the normal form, or None when it is refused."""
    normal = value.strip().lower()
    if len(normal) != LENGTHS[signal_type] or not _REFERENCE_HEX.fullmatch(normal):
        return None
    return normal


hexish = st.text(alphabet="0123456789abcdefABCDEFgG \t\n\u0130\u212a\uff10", max_size=70)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(HASHES), st.one_of(hexish, st.text(max_size=70)))
def test_validation_agrees_with_the_reference(signal_type: SignalType, value: str) -> None:
    expected = reference_normal_form(signal_type, value)
    if expected is None:
        with pytest.raises(InvalidSignal):
            Signal(signal_type, value)
    else:
        assert Signal(signal_type, value).value == expected


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(HASHES), st.data())
def test_values_in_normal_form_are_kept_as_they_are(signal_type: SignalType, data: st.DataObject) -> None:
    length = LENGTHS[signal_type]
    value = data.draw(st.text(alphabet="0123456789abcdef", min_size=length, max_size=length))
    assert Signal(signal_type, value).value is value


# --- vpdq: a video's distinct frame hashes, in one canonical form ---------------------------


def test_vpdq_builds_canonical_form_and_lists_frames() -> None:
    frames = ["b" * 64, "A" * 64, "b" * 64]
    signal = Signal.vpdq(frames)
    assert signal.value == "a" * 64 + "b" * 64
    assert signal.frames() == ["a" * 64, "b" * 64]
    assert Signal.parse(str(signal)) == signal
    assert signal.type.is_perceptual and signal.redacted() == "vpdq:aaaa…"


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("", "1 to 4096 frame hashes"),
        ("a" * 63, "1 to 4096 frame hashes"),
        ("a" * 64 * 4097, "1 to 4096 frame hashes"),
        ("g" * 64, "not all hex"),
        ("b" * 64 + "a" * 64, "ascending"),
        ("a" * 128, "once each"),
    ],
)
def test_vpdq_refuses_non_canonical_values_without_echoing_them(value: str, rule: str) -> None:
    with pytest.raises(InvalidSignal, match=rule) as caught:
        Signal(SignalType.VPDQ, value)
    assert "bbbb" not in str(caught.value) and "gggg" not in str(caught.value)


def test_only_vpdq_signals_have_frames() -> None:
    with pytest.raises(InvalidSignal):
        Signal(SignalType.PDQ, "a" * 64).frames()
