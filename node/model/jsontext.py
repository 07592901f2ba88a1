"""JSON from outside (STIX bundles, TAXII pages, MISP events, manifests), parsed with a depth limit.

Python's parser recurses once per nesting level, and so does every walk over what it returns:
a few kilobytes of ``[[[[…`` raise RecursionError, which nothing upstream expects, so one hostile
item used to end a whole ``scan``, ``contribute`` or ``sync``. Here it is an InvalidInput that
names the item, like any other malformed input. Stdlib only, no I/O.
"""

from __future__ import annotations

import json
from typing import Any

from node.errors import InvalidInput

MAX_JSON_DEPTH = 64
"""Deepest nesting accepted. A STIX indicator or a MISP event nests fewer than ten levels; 64
leaves room for any real extension while every recursive walk stays far from Python's limit."""


def parse_json(data: str | bytes, *, what: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The value ``data`` holds; InvalidInput naming ``what`` when it is not JSON or nests too deeply."""
    try:
        value = json.loads(data)
    except RecursionError as exc:
        raise InvalidInput(f"{what} nests deeper than {max_depth} levels") from exc
    except (ValueError, TypeError) as exc:  # UnicodeDecodeError is a ValueError
        raise InvalidInput(f"{what} is not valid JSON") from exc
    check_depth(value, what=what, max_depth=max_depth)
    return value


def check_depth(value: object, *, what: str, max_depth: int = MAX_JSON_DEPTH) -> None:
    """InvalidInput when ``value`` (parsed JSON) nests deeper than ``max_depth``; no recursion."""
    pending: list[tuple[dict[str, Any] | list[Any], int]] = (
        [(value, 1)] if isinstance(value, dict | list) else []
    )
    while pending:
        item, depth = pending.pop()
        if depth > max_depth:
            raise InvalidInput(f"{what} nests deeper than {max_depth} levels")
        children = item.values() if isinstance(item, dict) else item
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
