"""Exact-match index for cryptographic hashes: a dictionary from value to indicator ids."""

from __future__ import annotations

from node.model import IndexHit


class ExactIndex:
    """Constant-time lookup of equal values. Not thread-safe on its own; see MatchLists."""

    def __init__(self) -> None:
        self._ids_by_value: dict[str, set[str]] = {}
        self._value_by_id: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._value_by_id)

    def add(self, indicator_id: str, value: str) -> None:
        """Make ``indicator_id`` match ``value`` (replacing any value it had)."""
        self.remove(indicator_id)
        self._ids_by_value.setdefault(value, set()).add(indicator_id)
        self._value_by_id[indicator_id] = value

    def remove(self, indicator_id: str) -> None:
        """Stop ``indicator_id`` matching; a no-op when it is not listed."""
        value = self._value_by_id.pop(indicator_id, None)
        if value is None:
            return
        ids = self._ids_by_value[value]
        ids.discard(indicator_id)
        if not ids:
            del self._ids_by_value[value]

    def query(self, value: str) -> list[IndexHit]:
        """Every indicator listed with exactly ``value``."""
        return [IndexHit(i, 0) for i in sorted(self._ids_by_value.get(value, ()))]
