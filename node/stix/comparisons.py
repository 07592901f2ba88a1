"""The comparisons of a third-party STIX pattern that name a signal this node matches.

Other tools' indicators compare file hashes (``file:hashes.MD5 = '…'``) and web addresses
(``url:value = '…'``, ``domain-name:value = '…'``, issue 15), often several in one pattern
joined by ``OR`` (or as a set: ``domain-name:value IN ('a.example', 'b.example')``). The
pattern is read as a sequence of tokens: a string literal that is not the right-hand side of
such a comparison is consumed whole, so text inside a literal (``file:name = 'url:value =
…'``) is never mistaken for a comparison. Only equality and set membership are read:
``!=``, ``NOT =``, ``LIKE`` and ``MATCHES`` name no one value to list.

The caller has had the stix2 library check the pattern's grammar first; values are returned
unescaped (STIX escapes ``\\'`` and ``\\\\`` only) and raw: :class:`node.model.Signal`
normalises or refuses each one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from node.model import SignalType
from node.stix.profile import SIGNAL_TYPE_BY_ADDRESS_OBJECT, unquote_pattern_string

HASH_NAMES: Final = {
    "md5": SignalType.MD5,
    "sha1": SignalType.SHA1,
    "sha-1": SignalType.SHA1,
    "sha256": SignalType.SHA256,
    "sha-256": SignalType.SHA256,
    "pdq": SignalType.PDQ,
    "x_pdq": SignalType.PDQ,
    "x-pdq": SignalType.PDQ,
}
"""Hash names (lowercased, unquoted) read after ``file:hashes.``, as other tools spell them."""

READ_TYPES: Final = "md5, sha1, sha256 or pdq file hash, url or domain-name value"
"""What a pattern must compare to give a signal: for the refusal of one that compares none."""

_LITERAL = r"'(?:[^'\\]|\\.)*'"
_TOKEN: Final = re.compile(
    r"(?<![\w-])(?:file:hashes\.(?:'(?P<quoted>[^'\\]+)'|(?P<bare>[A-Za-z0-9_-]+))"
    r"|(?P<object>url|domain-name):value)"
    rf"\s*(?:=\s*'(?P<value>(?:[^'\\]|\\.)*)'|IN\s*\((?P<set>\s*{_LITERAL}(?:\s*,\s*{_LITERAL})*)\s*\))"
    rf"|{_LITERAL}",  # any other string literal: consumed, never read inside
    re.DOTALL,  # a literal may hold any character, a line break after a backslash included
)
_SET_MEMBER: Final = re.compile(r"'((?:[^'\\]|\\.)*)'", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Comparison:
    """One value compared in a pattern, and the signal type it would be (not yet validated)."""

    kind: SignalType
    value: str


def pattern_comparisons(pattern: str) -> list[Comparison]:
    """Every equality or set comparison of a hash, url or domain-name in ``pattern``, in order,
    once each; comparisons of anything else (other hashes, other objects) are left out."""
    found: list[Comparison] = []
    for token in _TOKEN.finditer(pattern):
        kind = _kind(token)
        if kind is None:
            continue
        values = [token["value"]] if token["set"] is None else _SET_MEMBER.findall(token["set"])
        found.extend(Comparison(kind, unquote_pattern_string(value)) for value in values)
    return list(dict.fromkeys(found))


def _kind(token: re.Match[str]) -> SignalType | None:
    if token["object"] is not None:
        return SIGNAL_TYPE_BY_ADDRESS_OBJECT[token["object"]]
    name = token["quoted"] or token["bare"]
    return None if name is None else HASH_NAMES.get(name.lower())
