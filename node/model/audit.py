"""The audit log's hash chain as pure values: how a row's hash is computed and checked.

Each row commits to its predecessor's hash, so editing, deleting, inserting or reordering a
row breaks the chain at that row. A chain alone cannot reveal a truncated tail; the node signs
every row hash, and ``accord audit verify`` prints the head so operators can keep it elsewhere.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "sha256:" + "0" * 64
"""The ``prev_hash`` of the first row."""

RESTRICTED_DETAIL_KEYS = frozenset({"value", "values", "signal", "signals", "hash", "hashes", "near"})
"""Detail keys that would carry hash values; the log refuses them (hashes of restricted lists
must not leave the indicator tables, and the audit log is read by more people)."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One row of the audit log as stored."""

    seq: int
    at: str
    actor: str
    action: str
    details: str  # canonical JSON text
    prev_hash: str
    row_hash: str
    signature: str | None = None  # base64 Ed25519 over the row hash, by the node key


def details_text(details: Mapping[str, Any]) -> str:
    """The details as canonical JSON text; refuses keys that would carry hash values."""
    bad = sorted(_keys(details) & RESTRICTED_DETAIL_KEYS)
    if bad:
        raise ValueError(f"audit details must not carry hash values (keys {', '.join(bad)})")
    return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _keys(value: object) -> set[str]:
    if isinstance(value, Mapping):
        found = {str(k) for k in value}
        for item in value.values():
            found |= _keys(item)
        return found
    if isinstance(value, list | tuple):
        return set().union(*(_keys(v) for v in value)) if value else set()
    return set()


def row_hash(*, seq: int, at: str, actor: str, action: str, details: str, prev_hash: str) -> str:
    """``sha256:<hex>`` over the row's fields and its predecessor's hash, unambiguously framed."""
    framed = json.dumps(
        [seq, at, actor, action, details, prev_hash], separators=(",", ":"), ensure_ascii=False
    )
    return "sha256:" + hashlib.sha256(framed.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first row where the chain does not hold (its place in stored order and its seq), and why."""

    position: int
    seq: int
    reason: str


def first_break(records: Iterable[AuditRecord]) -> ChainBreak | None:
    """Walk the rows in stored order; the first one that breaks the chain, or None."""
    expected_seq, prev = 1, GENESIS
    for position, record in enumerate(records):
        if record.seq != expected_seq:
            missing = "deleted or reordered" if record.seq > expected_seq else "inserted or reordered"
            return ChainBreak(position, record.seq, f"expected row {expected_seq} here: a row was {missing}")
        if record.prev_hash != prev:
            return ChainBreak(position, record.seq, "its prev_hash is not the previous row's hash")
        recomputed = row_hash(
            seq=record.seq,
            at=record.at,
            actor=record.actor,
            action=record.action,
            details=record.details,
            prev_hash=record.prev_hash,
        )
        if recomputed != record.row_hash:
            return ChainBreak(position, record.seq, "its contents do not match its hash: the row was edited")
        expected_seq, prev = expected_seq + 1, record.row_hash
    return None
