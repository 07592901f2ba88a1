"""Reading other tools' STIX patterns (issue 15): url and domain-name comparisons beside file
hashes, joined by OR or as a set, quoted values unescaped, literals never read inside; each
value normalised or refused by the url:/domain: rules, never taken raw."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import stix2
from hypothesis import given
from hypothesis import strategies as st

from node.model import KeyId, Signal, SignalType, Tlp
from node.stix.comparisons import Comparison, pattern_comparisons
from node.stix.foreign import indicators_from_foreign_stix
from tests.support.feeds import md5_signal

URL, DOMAIN = SignalType.URL, SignalType.DOMAIN
MD5 = md5_signal(1).value
NOW = datetime(2026, 6, 1, tzinfo=UTC)
SOURCE = KeyId("ab" * 32)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("[url:value = 'https://a.example/']", [Comparison(URL, "https://a.example/")]),
        ("[domain-name:value='b.example']", [Comparison(DOMAIN, "b.example")]),
        (
            f"[url:value = 'https://a.example/x' OR domain-name:value = 'b.example'"
            f" OR file:hashes.MD5 = '{MD5}']",
            [
                Comparison(URL, "https://a.example/x"),
                Comparison(DOMAIN, "b.example"),
                Comparison(SignalType.MD5, MD5),
            ],
        ),
        # STIX escapes: \' is a quote and \\ a backslash inside a literal.
        ("[url:value = 'https://a.example/it\\'s\\\\x']", [Comparison(URL, "https://a.example/it's\\x")]),
        (
            "[domain-name:value IN ('a.example', 'b.example' ,'c.example')]",
            [
                Comparison(DOMAIN, "a.example"),
                Comparison(DOMAIN, "b.example"),
                Comparison(DOMAIN, "c.example"),
            ],
        ),
        (
            "[url:value = 'https://a.example/'] OR [url:value = 'https://a.example/']",
            [Comparison(URL, "https://a.example/")],  # once each
        ),
        (
            "[domain-name:value = 'a.example' AND domain-name:resolves_to_refs[*].value = '198.51.100.1']",
            [Comparison(DOMAIN, "a.example")],
        ),
    ],
)
def test_comparisons_are_read_in_order(pattern: str, expected: list[Comparison]) -> None:
    assert pattern_comparisons(pattern) == expected


@pytest.mark.parametrize(
    "pattern",
    [
        # Text inside another literal is never a comparison, escaped quotes included.
        "[file:name = 'url:value = \\'https://a.example/\\'']",
        "[file:name = ' domain-name:value = ']",
        # Not one value to list: inequality, negation, wildcards, regular expressions.
        "[url:value != 'https://a.example/']",
        "[domain-name:value NOT = 'a.example']",
        "[url:value LIKE 'https://a.example/%']",
        "[domain-name:value MATCHES '^a\\\\.example$']",
        # Other objects and properties, and custom objects whose name ends like ours.
        "[x-url:value = 'https://a.example/']",
        "[x-domain-name:value = 'a.example']",
        "[url:x_original = 'https://a.example/']",
        "[email-addr:value = 'a@a.example']",
        "[file:hashes.'SHA-512' = 'aa']",
    ],
)
def test_nothing_else_is_read_as_a_comparison(pattern: str) -> None:
    assert pattern_comparisons(pattern) == []


@given(st.text(max_size=120), st.sampled_from(["url", "domain-name"]))
def test_any_quoted_value_reads_back_unescaped(value: str, observable: str) -> None:
    quoted = value.replace("\\", "\\\\").replace("'", "\\'")  # as STIX escapes it
    kind = URL if observable == "url" else DOMAIN
    pattern = f"[{observable}:value = '{quoted}' OR file:name = '{quoted}']"
    assert pattern_comparisons(pattern) == [Comparison(kind, value)]


@given(st.text(alphabet="[]()' \\=:.-abdefhilmnorsuvxIN", max_size=200))
def test_any_text_gives_a_list_and_never_raises(pattern: str) -> None:
    assert all(isinstance(c, Comparison) for c in pattern_comparisons(pattern))


def indicator(pattern: str, **extra: Any) -> dict[str, Any]:
    made = stix2.Indicator(pattern=pattern, pattern_type="stix", valid_from="2026-01-01T00:00:00Z", **extra)
    serialized: dict[str, Any] = json.loads(made.serialize())  # the library checked its grammar
    return serialized


def test_foreign_values_are_normalised_and_refused_one_by_one() -> None:
    pattern = (
        "[url:value = 'HTTPS://CDN.Nudify.Example:443/a/../%7Eup#x' OR domain-name:value = 'Undress.Example.'"
        " OR domain-name:value = 'com' OR domain-name:value = 'vercel.app' OR url:value = 'ftp://nudify.example/'"
        " OR url:value = 'nudify.example/app']"
    )
    raw = indicator(pattern, labels=["nudify-service"])
    batch = indicators_from_foreign_stix(
        [raw], origin=SOURCE, default_category="unspecified", default_tlp=Tlp.AMBER, now=NOW
    )
    assert [i.signal for i in batch.indicators] == [
        Signal(URL, "https://cdn.nudify.example/~up"),
        Signal(DOMAIN, "undress.example"),
    ]
    assert {i.category for i in batch.indicators} == {"nudify-service"}  # the label names the category
    reasons = [r.reason for r in batch.refused]
    assert len(reasons) == 4 and all(r.object_id == raw["id"] for r in batch.refused)
    assert sum("public suffix" in r for r in reasons) == 2
    assert sum("absolute http or https URL" in r for r in reasons) == 2
    assert not any("nudify" in r.lower() for r in reasons)  # never the value


def test_an_object_with_only_refused_values_gives_their_reasons_and_no_indicator() -> None:
    batch = indicators_from_foreign_stix(
        [indicator("[domain-name:value = 'co.uk']"), indicator("[ipv4-addr:value = '198.51.100.1']")],
        origin=SOURCE,
        default_category="unspecified",
        default_tlp=Tlp.AMBER,
        now=NOW,
    )
    assert batch.indicators == ()
    first, second = (r.reason for r in batch.refused)
    assert "public suffix" in first
    assert "compares no file hash, url or domain" in second
