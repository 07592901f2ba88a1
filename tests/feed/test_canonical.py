"""canonical_json: byte-identical to the rfc8785 reference, fast path or not.

The fast path (the standard library's C encoder) is taken for documents of dicts with ASCII
keys, lists, strings, safe integers, booleans and null; everything else goes to rfc8785. Both
must give the reference's bytes, or the reference's error.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from node.feed import canonical_json
from node.feed.canonical import _is_plain
from tests.support.feeds import FeedWriter, identity, indicator, md5_signal, pdq_signal

SAFE = 2**53 - 1

# Text that exercises every escaping rule: controls (named and \u00xx), quote and backslash,
# DEL, U+2028/2029, the BMP's edges, non-BMP characters; and, rarely, a lone surrogate.
awkward_chars = st.one_of(
    st.characters(min_codepoint=0, max_codepoint=0x7F),
    st.sampled_from(["\u2028", "\u2029", "\x7f", "\u00e9", "\ufeff", "\uffff", "\U0001f600", "\U0010ffff"]),
    st.characters(codec="utf-8"),
)
texts = st.text(awkward_chars, max_size=12)
ascii_keys = st.text(st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=8)
safe_ints = st.integers(min_value=-SAFE, max_value=SAFE)
plain_scalars = st.one_of(st.none(), st.booleans(), safe_ints, texts)


def plain_documents() -> st.SearchStrategy[Any]:
    """Documents of the shape Accord signs: the fast path's whole domain."""
    return st.recursive(
        plain_scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(ascii_keys, inner, max_size=5)),
        max_leaves=40,
    )


def any_documents() -> st.SearchStrategy[Any]:
    """Documents with anything JSON-ish: floats, big integers, non-ASCII keys, tuples, surrogates."""
    scalars = st.one_of(
        plain_scalars,
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.sampled_from(["\ud800", "a\udfffb"]),
    )
    keys = st.one_of(ascii_keys, texts, st.sampled_from(["\U0001f600", "\uff61", "é", "\ud800"]))
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.lists(inner, max_size=3).map(tuple),
            st.dictionaries(keys, inner, max_size=4),
        ),
        max_leaves=25,
    )


def reference(document: Any) -> bytes | type[BaseException]:
    """rfc8785's bytes, or the class of the error it raises."""
    try:
        return bytes(rfc8785.dumps(document))
    except Exception as exc:
        return type(exc)


def ours(document: Any) -> bytes | type[BaseException]:
    try:
        return canonical_json(document)
    except Exception as exc:
        return type(exc)


@settings(max_examples=500, deadline=None)
@given(plain_documents())
def test_plain_documents_take_the_fast_path_and_match_rfc8785(document: Any) -> None:
    expected = reference(document)
    if isinstance(expected, bytes):  # everything but a lone surrogate
        assert _is_plain(document)
    assert ours(document) == expected


@settings(max_examples=500, deadline=None)
@given(any_documents())
def test_any_document_matches_rfc8785_or_its_error(document: Any) -> None:
    assert ours(document) == reference(document)


def test_real_entries_match_rfc8785() -> None:
    writer = FeedWriter(identity(1), name="ngo")
    items = [indicator(writer.origin, pdq_signal(n)) for n in range(50)]
    items += [indicator(writer.origin, md5_signal(n), revoked=True) for n in range(5)]
    entry = writer.entry(items)
    assert entry.body is not None
    for document in (json.loads(entry.header.payload), json.loads(entry.body)):
        assert _is_plain(document)
        assert canonical_json(document) == rfc8785.dumps(document)


@pytest.mark.parametrize(
    "text",
    ["\x00\x01\x1f", '"\\', "\b\f\n\r\t", "\x7f", "\u2028\u2029", "\U0001f600", "é", "\u0085"],
)
def test_string_escapes_match(text: str) -> None:
    document = {"k": text, "list": [text], text.encode("ascii", "replace").decode(): 1}
    assert canonical_json(document) == rfc8785.dumps(document)


@pytest.mark.parametrize(
    "document",
    [
        {"x": 1.0},
        {"x": [0.1, -0.0, 1e21, 5e-324]},
        {"é": 1},
        {"\U0001f600": 1, "\uff61": 2},  # UTF-16 order differs from code point order
        {"x": 2**53},
        {"x": -(2**53)},
        [2**60],
        {"x": (1, 2)},
        {1: "integer key"},
        {None: "null key"},
    ],
)
def test_documents_outside_the_fast_path_take_the_reference(document: Any) -> None:
    assert not _is_plain(document)
    assert ours(document) == reference(document)


@pytest.mark.parametrize("document", [{"x": math.nan}, {"x": math.inf}, {"x": "\ud800"}, {"\udfff": 1}])
def test_what_jcs_cannot_represent_raises_as_the_reference_does(document: Any) -> None:
    assert ours(document) == reference(document)
    assert isinstance(reference(document), type)


class Text(str):
    """A str subclass: json writes its content, rfc8785 too; the fast path leaves it alone."""


def test_subclasses_are_left_to_the_reference() -> None:
    document = {"k": Text("v"), Text("key"): [Text("x")]}
    assert not _is_plain(document)
    assert canonical_json(document) == rfc8785.dumps(document)


def test_a_cycle_raises_as_the_reference_does() -> None:
    document: dict[str, Any] = {}
    document["self"] = document
    assert ours(document) == reference(document)


def test_scalars_at_the_top_level() -> None:
    for document in (None, True, 0, SAFE, -SAFE, "text", [], {}):
        assert _is_plain(document)
        assert canonical_json(document) == rfc8785.dumps(document)
    assert not _is_plain(SAFE + 1)
    assert ours(SAFE + 1) == reference(SAFE + 1)
