"""Hash signals out of third-party STIX 2.1 bundles (bulk import, issue 5).

Other tools (MISP, OpenCTI, a partner's scripts) write indicators with patterns such as
``[file:hashes.MD5 = '…']`` or ``[file:hashes.'SHA-256' = '…' OR file:hashes.MD5 = '…']``.
Each object is parsed on its own with the ``stix2`` library, so one malformed object is
refused by position and the rest are still read. Only file-hash comparisons are taken from a
pattern; an indicator with no usable comparison is refused with the reason.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import stix2
from stix2.exceptions import STIXError

from node.errors import InvalidInput
from node.model import Signal, SignalType, parse_category

MAX_STIX_FILE_BYTES = 256 * 1024 * 1024
"""Largest bundle read: it is parsed as one JSON document (~10x its size in memory)."""

# ``file:hashes.NAME = 'VALUE'`` with NAME bare or quoted; the STIX names of our signal types.
_COMPARISON = re.compile(r"file:hashes\.(?:'([^']+)'|([A-Za-z0-9_-]+))\s*=\s*'([^']*)'")
_HASH_NAMES = {
    "md5": SignalType.MD5,
    "sha-1": SignalType.SHA1,
    "sha1": SignalType.SHA1,
    "sha-256": SignalType.SHA256,
    "sha256": SignalType.SHA256,
    "x_pdq": SignalType.PDQ,
    "pdq": SignalType.PDQ,
}


@dataclass(frozen=True, slots=True)
class StixSignal:
    """One signal found in object ``index`` of the bundle; ``category`` from its labels."""

    index: int
    signal: Signal
    category: str | None
    revoked: bool


@dataclass(frozen=True, slots=True)
class StixRefusal:
    """An object that gave no signal, and why (never the hash value)."""

    index: int
    reason: str


def read_stix_signals(
    path: str | os.PathLike[str], *, known_categories: frozenset[str]
) -> Iterator[StixSignal | StixRefusal]:
    """The hash signals of every indicator in the STIX 2.1 bundle at ``path``.

    Raises :class:`InvalidInput` when the file is not a JSON bundle at all. A label that is one
    of ``known_categories`` becomes the signal's category.
    """
    objects = _bundle_objects(os.fspath(path))
    for index, data in enumerate(objects):
        if not isinstance(data, dict) or data.get("type") != "indicator":
            continue
        try:
            indicator = stix2.parse(data, allow_custom=True, version="2.1")
        except (STIXError, ValueError, TypeError) as exc:
            # The library's message may quote the pattern, i.e. the hash: name the class only.
            yield StixRefusal(index, f"the stix2 library refused the indicator ({type(exc).__name__})")
            continue
        yield from _signals(index, indicator, known_categories)


def _bundle_objects(name: str) -> list[Any]:
    try:
        size = os.stat(name).st_size
        if size > MAX_STIX_FILE_BYTES:
            raise InvalidInput(f"STIX file {name!r} is {size} bytes, above {MAX_STIX_FILE_BYTES}")
        with open(name, encoding="utf-8") as stream:
            data = json.load(stream)
    except OSError as exc:
        raise InvalidInput(f"cannot read STIX file {name!r}: {exc.strerror}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"STIX file {name!r} is not JSON text: {type(exc).__name__}") from None
    if (
        not isinstance(data, dict)
        or data.get("type") != "bundle"
        or not isinstance(data.get("objects"), list)
    ):
        raise InvalidInput(f"STIX file {name!r} is not a STIX bundle (type 'bundle' with 'objects')")
    objects: list[Any] = data["objects"]
    return objects


def _signals(
    index: int, indicator: Any, known_categories: frozenset[str]
) -> Iterator[StixSignal | StixRefusal]:
    if indicator.get("pattern_type") != "stix":
        yield StixRefusal(index, f"pattern type {str(indicator.get('pattern_type'))[:20]!r} is not 'stix'")
        return
    category = _category(indicator, known_categories)
    revoked = bool(indicator.get("revoked", False))
    found = 0
    for quoted, bare, value in _COMPARISON.findall(indicator["pattern"]):
        kind = _HASH_NAMES.get((quoted or bare).lower())
        if kind is None:
            continue
        try:
            signal = Signal(kind, value)
        except InvalidInput as exc:
            yield StixRefusal(index, str(exc))
            continue
        found += 1
        yield StixSignal(index, signal, category, revoked)
    if not found:
        yield StixRefusal(index, "the pattern compares no md5, sha1, sha256 or pdq file hash")


def _category(indicator: Any, known: frozenset[str]) -> str | None:
    for label in indicator.get("labels", []) or []:
        try:
            slug = parse_category(str(label))
        except InvalidInput:
            continue
        if slug in known:
            return slug
    return None
