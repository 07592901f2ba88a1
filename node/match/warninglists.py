"""Known-benign hashes from MISP's warninglists: a built-in safelist of exact file hashes.

The empty file's md5, a README that ships with every installer, the EICAR test file: hashes
that turn up in every careless hash list and must never become a shared abuse indicator. MISP
curates such lists (``pymispwarninglists`` ships them); :data:`HASH_LISTS` names the ones that
list file hashes (certificate fingerprints, domains and addresses are left out). A held
indicator whose value is on one is stored and counted but never enters the match lists
(:class:`node.match.lists.MatchLists`); ``accord contribute`` refuses it unless forced.

The lists hold about 220,000 values (11 MiB of JSON, ~0.2 s to read), so they are read on
first use, once per process: commands that never match or contribute never pay for them. The
package's JSON is read directly: importing ``pymispwarninglists`` loads jsonschema's format
checkers (~1.2 s, a lark grammar), which every CLI command would pay for at start.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.errors import ConfigError
from node.model import Signal, SignalType

HASH_LISTS = (
    "empty-hashes",  # the empty file, by every digest
    "nioc-filehash",  # known benign files (operating system and application files)
    "ti-falsepositives",  # hashes often put in IOC lists by mistake
    "common-ioc-false-positive",  # common false positives (Florian Roth's list)
    "eicar.com",  # the EICAR anti-virus test file
)
"""The MISP warninglists (by folder name) whose entries are file hashes."""

_HEX_DIGITS = "0123456789abcdef"
_TYPE_BY_LENGTH = {32: SignalType.MD5, 40: SignalType.SHA1, 64: SignalType.SHA256}
"""Hex digits of each exact signal type; other lengths (sha224, sha512, ssdeep) are not ours."""


@dataclass(frozen=True, slots=True)
class Warninglists:
    """Exact signals on a warninglist, with the list's name (what a refusal or status shows)."""

    by_type: dict[SignalType, dict[str, str]]  # type → lowercase hex value → list name

    @classmethod
    def of(cls, lists: Iterable[Mapping[str, Any]]) -> Warninglists:
        """The exact-hash entries of ``lists``, each a MISP warninglist's JSON (``name``,
        ``list``); the first list naming a value names it."""
        by_length: dict[int, dict[str, str]] = {n: {} for n in _TYPE_BY_LENGTH}
        for warninglist in lists:
            name = warninglist["name"]
            for value in map(str.lower, map(str.strip, warninglist["list"])):
                found = by_length.get(len(value))
                # All hex digits when stripping them leaves nothing (lengths above are not 0).
                if found is not None and value not in found and not value.strip(_HEX_DIGITS):
                    found[value] = name
        return cls({_TYPE_BY_LENGTH[n]: values for n, values in by_length.items()})

    def list_of(self, signal: Signal) -> str | None:
        """The name of the warninglist holding ``signal``, or None (perceptual types never are)."""
        values = self.by_type.get(signal.type)
        return None if values is None else values.get(signal.value)

    def __len__(self) -> int:
        return sum(len(values) for values in self.by_type.values())


_lock = threading.Lock()
_builtin: Warninglists | None = None


def builtin_warninglists() -> Warninglists:
    """The hash lists in :data:`HASH_LISTS` as shipped by ``pymispwarninglists`` (read once)."""
    global _builtin  # noqa: PLW0603 - one read per process, shared by every node it opens
    with _lock:
        if _builtin is None:
            root = _package_dir() / "data" / "misp-warninglists" / "lists"
            lists = []
            for name in HASH_LISTS:
                with (root / name / "list.json").open(encoding="utf-8") as stream:
                    lists.append(json.load(stream))
            _builtin = Warninglists.of(lists)
        return _builtin


def _package_dir() -> Path:
    """Where ``pymispwarninglists`` is installed, found without importing it."""
    spec = importlib.util.find_spec("pymispwarninglists")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("pymispwarninglists is not installed: reinstall Accord (pip install -e .)")
    return Path(next(iter(spec.submodule_search_locations)))
