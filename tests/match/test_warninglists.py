"""The built-in safelist of exact hashes read from MISP's warninglists (node/match/warninglists.py)."""

from __future__ import annotations

from node.match import builtin_warninglists
from node.match.warninglists import Warninglists
from node.model import Signal

EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_entries_are_normalised_and_only_hex_digests_of_known_lengths_are_kept() -> None:
    lists = Warninglists.of(
        [
            {"name": "first", "list": [f"  {EMPTY_MD5.upper()}\n", "g" * 32, "ab" * 8, "example.com"]},
            {"name": "second", "list": [EMPTY_MD5, EMPTY_SHA256, "0" * 40, "1" * 128, " " * 32]},
        ]
    )
    assert lists.by_type[Signal.parse(f"md5:{EMPTY_MD5}").type] == {EMPTY_MD5: "first"}  # first names it
    assert lists.list_of(Signal.parse(f"sha256:{EMPTY_SHA256}")) == "second"
    assert lists.list_of(Signal.parse(f"sha1:{'0' * 40}")) == "second"
    assert len(lists) == 3  # not the non-hex 32-character entry, the 16-digit one, sha512, blanks
    assert lists.list_of(Signal.parse(f"pdq:{'0' * 64}")) is None  # perceptual hashes never are


def test_the_shipped_lists_hold_the_empty_file_and_are_read_once() -> None:
    shipped = builtin_warninglists()
    assert shipped.list_of(Signal.parse(f"md5:{EMPTY_MD5}")) is not None
    assert shipped.list_of(Signal.parse(f"sha256:{EMPTY_SHA256}")) is not None
    assert len(shipped) > 100_000
    assert builtin_warninglists() is shipped
