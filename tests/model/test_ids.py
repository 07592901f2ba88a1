"""Key ids, digests and fingerprints: easy-to-mix-up identifiers with strict forms."""

from __future__ import annotations

import pytest

from node.errors import InvalidInput
from node.model import fingerprint, parse_digest, parse_key_id

KEY_ID = "0123456789abcdef" * 4


def test_parse_key_id() -> None:
    assert parse_key_id(KEY_ID) == KEY_ID


@pytest.mark.parametrize(
    "text",
    ["", KEY_ID[:-1], KEY_ID + "0", KEY_ID.upper(), KEY_ID[:-1] + "g", " " + KEY_ID[1:], f"sha256:{KEY_ID}"],
)
def test_parse_key_id_refuses(text: str) -> None:
    with pytest.raises(InvalidInput, match="key id"):
        parse_key_id(text)


@pytest.mark.parametrize("value", [None, 5, KEY_ID.encode()])
def test_parse_key_id_refuses_non_text(value: object) -> None:
    with pytest.raises(InvalidInput):
        parse_key_id(value)  # type: ignore[arg-type]


def test_parse_digest() -> None:
    assert parse_digest(f"sha256:{KEY_ID}") == f"sha256:{KEY_ID}"


@pytest.mark.parametrize(
    "text",
    [KEY_ID, f"sha256:{KEY_ID[:-1]}", f"SHA256:{KEY_ID}", f"sha256:{KEY_ID.upper()}", f"sha512:{KEY_ID}", ""],
)
def test_parse_digest_refuses(text: str) -> None:
    with pytest.raises(InvalidInput, match="digest"):
        parse_digest(text)


@pytest.mark.parametrize("value", [None, 1, b"sha256:" + KEY_ID.encode()])
def test_parse_digest_refuses_non_text(value: object) -> None:
    with pytest.raises(InvalidInput):
        parse_digest(value)  # type: ignore[arg-type]


def test_fingerprint_is_four_groups_of_four_from_the_start() -> None:
    assert fingerprint(parse_key_id(KEY_ID)) == "0123 4567 89ab cdef"


def test_fingerprints_of_different_prefixes_differ() -> None:
    other = parse_key_id("f" + KEY_ID[1:])
    assert fingerprint(other) != fingerprint(parse_key_id(KEY_ID))
