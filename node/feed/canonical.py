"""RFC 8785 (JCS) canonical JSON: the bytes an entry is signed as, produced fast.

The ``rfc8785`` package is the reference, but it serialises in pure Python (~2 µs per value,
half the cost of publishing). For the documents Accord signs — dicts with ASCII keys, lists,
strings, integers within ±(2**53 - 1), booleans and null; no floats — the standard library's C
encoder with sorted keys, no whitespace and no ASCII escaping writes exactly the same bytes:

* keys: JCS sorts by UTF-16 code units; for ASCII keys that is Python's ``str`` order;
* strings: both escape ``"``, ``\\``, ``\\b \\f \\n \\r \\t`` by name and the other controls
  below U+0020 as lowercase ``\\u00xx``, and write everything else (DEL, U+2028/2029, non-BMP)
  as UTF-8; a lone surrogate cannot be encoded as UTF-8 and fails both ways;
* integers in the safe range print the same decimal digits; ``true``/``false``/``null`` agree.

Anything outside that set (a float, a non-ASCII or non-string key, a big integer, a tuple, a
``str`` subclass, a cycle) takes the ``rfc8785`` path, so the output is always RFC 8785 or the
reference's error. tests/feed/test_canonical.py proves the equality with hypothesis.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from itertools import compress
from typing import Any, Final

import rfc8785

# JSON numbers are IEEE doubles: JCS refuses integers beyond 2**53 - 1 in magnitude.
_SAFE_INTS: Final = range(-(2**53) + 1, 2**53)
_STR: Final = frozenset({str})
_INT: Final = frozenset({int})
_SCALARS: Final = frozenset({str, int, bool, type(None)})
_CONTAINERS: Final = frozenset({dict, list})
_PLAIN: Final = _SCALARS | _CONTAINERS


def canonical_json(document: Any) -> bytes:
    """``document`` serialised as RFC 8785 canonical JSON (UTF-8 bytes).

    Raises what ``rfc8785.dumps`` raises for documents JCS cannot represent (NaN, integers
    beyond 2**53, lone surrogates, unsupported types).
    """
    try:
        text = json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        if _is_plain(document):
            return text.encode("utf-8")
    except (ValueError, TypeError, RecursionError):
        # ValueError: a cycle, NaN/Infinity, or (as UnicodeEncodeError) a lone surrogate;
        # TypeError: a type or key json cannot encode. The reference decides what they mean.
        pass
    return bytes(rfc8785.dumps(document))


def _is_plain(document: Any) -> bool:
    """True when every value has an exact type of the safe set and every key is ASCII.

    Runs after ``json.dumps`` succeeded, so the document is known to be finite and acyclic.
    Checks a container at a time with C-level ``map``/``compress`` rather than per value.
    """
    pending = [document]
    while pending:
        node = pending.pop()
        if type(node) is dict:
            if node and (set(map(type, node)) != _STR or not all(map(str.isascii, node))):
                return False
            values: Any = node.values()
        elif type(node) is list:
            values = node
        else:
            return type(node) in _SCALARS and (type(node) is not int or node in _SAFE_INTS)
        kinds = set(map(type, values))
        if not kinds <= _PLAIN:
            return False
        if int in kinds and not all(map(_SAFE_INTS.__contains__, _of_types(values, _INT))):
            return False
        if not kinds.isdisjoint(_CONTAINERS):
            pending.extend(_of_types(values, _CONTAINERS))
    return True


def _of_types(values: Iterable[Any], kinds: frozenset[type]) -> Iterator[Any]:
    """The items of ``values`` whose exact type is in ``kinds``."""
    return compress(values, map(kinds.__contains__, map(type, values)))
