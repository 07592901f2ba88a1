"""Indicator ids as 128-bit keys: how the PDQ index names millions of rows in 16 bytes each.

Every indicator id the node stores is ``indicator--<uuid4>`` (``node.model.indicators``), so
its 128 bits are the key; a Python ``str`` per row would cost ~100 bytes more, plus a dict
entry (~1.7 GB at 10M). Any other id (tests, tools) gets a small counter key whose version
nibble is 0, which no uuid4 has, and is remembered in a side table.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from types import ModuleType

import numpy as np
import numpy.typing as npt

Keys = npt.NDArray[np.uint64]
"""An (n, 2) array of keys: (high 64 bits, low 64 bits)."""

_PREFIX = "indicator--"
_CANONICAL = re.compile(r"indicator--[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_LENGTH = 47
_HEX_AT = np.array([i for i in range(11, _LENGTH) if i not in (19, 24, 29, 34)], dtype=np.int64)
_TEMPLATE = np.frombuffer(b"indicator--00000000-0000-0000-0000-000000000000", dtype=np.uint8)
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_BATCH = 1 << 20  # ids converted per numpy batch: bounds the transient byte array (~47 MB)


class IdCodec:
    """Converts indicator ids to keys and back; thread-safe (other ids are added under a lock)."""

    def __init__(self, others: Sequence[str] = ()) -> None:
        self._lock = threading.Lock()
        self._other_ids: list[str] = list(others)
        self._other_keys = {text: n + 1 for n, text in enumerate(self._other_ids)}

    def others(self) -> list[str]:
        """The non-canonical ids seen so far, in key order (what ``save`` persists)."""
        with self._lock:
            return list(self._other_ids)

    def key_of(self, indicator_id: str) -> tuple[int, int] | None:
        """The key of a known id, or None for a non-canonical id never encoded."""
        if _CANONICAL.fullmatch(indicator_id):
            value = int(indicator_id[11:].replace("-", ""), 16)
            return value >> 64, value & 0xFFFF_FFFF_FFFF_FFFF
        number = self._other_keys.get(indicator_id)
        return None if number is None else (0, number)

    def encode(self, indicator_id: str) -> tuple[int, int]:
        """The key of ``indicator_id``, assigning one to a new non-canonical id."""
        key = self.key_of(indicator_id)
        if key is not None:
            return key
        with self._lock:
            number = self._other_keys.get(indicator_id)
            if number is None:
                self._other_ids.append(indicator_id)
                number = self._other_keys[indicator_id] = len(self._other_ids)
        return 0, number

    def encode_many(self, ids: Sequence[str]) -> Keys:
        """Keys of many ids; canonical ones are parsed by numpy, in batches."""
        keys = np.empty((len(ids), 2), dtype=np.uint64)
        for start in range(0, len(ids), _BATCH):
            batch = ids[start : start + _BATCH]
            keys[start : start + len(batch)] = self._encode_batch(batch)
        return keys

    def _encode_batch(self, ids: Sequence[str]) -> Keys:
        try:
            raw = np.array(ids, dtype=f"S{_LENGTH}")
        except UnicodeEncodeError:
            raw = np.array([b""] * len(ids), dtype=f"S{_LENGTH}")
        lengths = np.char.str_len(raw) if len(raw) else np.zeros(0, dtype=np.int64)
        keys: Keys
        keys, ok = _key_kernels().parse_uuid_ids(
            raw.view(np.uint8).reshape(len(raw), _LENGTH), lengths, _HEX_AT
        )
        for n in np.flatnonzero(~ok):
            keys[n] = self.encode(ids[int(n)])
        return keys

    def decode(self, high: int, low: int) -> str:
        """The id a key stands for."""
        return self.decode_many(np.array([[high, low]], dtype=np.uint64))[0]

    def decode_many(self, keys: Keys) -> list[str]:
        """The ids of many keys (the hits of a query): spelled out by numpy, all at once."""
        raw = keys.astype(">u8").view(np.uint8).reshape(len(keys), 16)
        text = np.empty((len(keys), _LENGTH), dtype=np.uint8)
        text[:] = _TEMPLATE
        text[:, _HEX_AT[0::2]] = _HEX_DIGITS[raw >> 4]
        text[:, _HEX_AT[1::2]] = _HEX_DIGITS[raw & 15]
        ids: list[str] = text.view(f"S{_LENGTH}").ravel().astype(f"U{_LENGTH}").tolist()
        for n in np.flatnonzero(keys[:, 0] == 0).tolist():
            ids[n] = self._other_ids[int(keys[n, 1]) - 1]
        return ids


def find_live(sorted_keys: Keys, alive: npt.NDArray[np.uint8], wanted: Keys) -> npt.NDArray[np.int64]:
    """Row of each ``wanted`` key in ``sorted_keys`` where that row is live, else -1."""
    return _key_kernels().find_live(sorted_keys, alive, wanted)  # type: ignore[no-any-return]


def sort_by_key(keys: Keys) -> npt.NDArray[np.int64]:
    """A stable order of ``keys`` by (high, low): argsort on the high word, then fix its ties."""
    order = np.argsort(keys[:, 0], kind="stable")
    _key_kernels().sort_ties(keys, order)
    return order


def merge_sorted(first: Keys, second: Keys) -> npt.NDArray[np.int64]:
    """The order of ``first`` then ``second`` (each sorted, concatenated) that sorts them all."""
    return _key_kernels().merge_order(first, second)  # type: ignore[no-any-return]


def _key_kernels() -> ModuleType:
    """The compiled loops, imported on first use (numba alone takes ~0.4 s to import).

    Most ``accord`` commands never search; Python caches the module after the first call.
    """
    from node.match import key_kernels  # noqa: PLC0415

    return key_kernels
