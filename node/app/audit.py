"""The audit log: every operator and analyst action, append-only, hash-chained and signed.

Call :meth:`AuditLog.record` after an action succeeded. Details are small JSON objects of
counts, ids, names and levels; keys that would carry hash values are refused (restricted hash
values never leave the indicator tables). Each row commits to the previous row's hash and is
signed by the node key, so ``accord audit verify`` finds an edited, deleted, inserted or
reordered row, and a forger without the key cannot re-seal the chain after editing it.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import getpass
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from node.feed import NodeIdentity, verify_signature
from node.model import KeyId
from node.model.audit import GENESIS, AuditRecord, ChainBreak, details_text, first_break, row_hash
from node.model.clock import format_timestamp, utc_now
from node.store import Store
from node.store.analyst import audit_records

log = logging.getLogger(__name__)


_ACTING = contextvars.ContextVar[str | None]("accord_audit_actor", default=None)


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Within the block, audit rows without an explicit actor name ``actor`` (e.g. ``api:NAME``
    for a use case an HTTP API account called) instead of the operating-system user."""
    token = _ACTING.set(actor)
    try:
        yield
    finally:
        _ACTING.reset(token)


def local_actor() -> str:
    """Who runs this CLI process: the operating-system user."""
    try:
        return f"user:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers): still say it was local
        return "user:unknown"


@dataclass(frozen=True, slots=True)
class AuditVerdict:
    """The result of checking the whole log."""

    rows: int
    head: str  # the last row's hash (or the genesis value): keep it elsewhere to detect truncation
    broken: ChainBreak | None


class AuditLog:
    """Appends to and checks one node's audit log."""

    def __init__(
        self,
        *,
        store: Store,
        identity: NodeIdentity,
        origin: KeyId | None = None,
        origin_key: bytes | None = None,
    ) -> None:
        """``origin`` / ``origin_key``: the node's identity and its first public key. Rows signed
        before a key rotation stay valid: any key that has signed for ``origin`` verifies."""
        self._store = store
        self._identity = identity
        self._origin = origin
        self._origin_key = origin_key

    def use_identity(self, identity: NodeIdentity) -> None:
        """Sign from now on with ``identity`` (after a key rotation)."""
        self._identity = identity

    def record(self, action: str, details: Mapping[str, Any], *, actor: str | None = None) -> AuditRecord:
        """Append one action; the chain link, hash and signature are made inside one transaction."""
        text = details_text(details)
        with self._store.write() as tx:
            last = tx.last_audit()
            seq, prev = (1, GENESIS) if last is None else (last[0] + 1, last[1])
            at = format_timestamp(utc_now())
            who = actor or _ACTING.get() or local_actor()
            digest = row_hash(seq=seq, at=at, actor=who, action=action, details=text, prev_hash=prev)
            signature = base64.b64encode(self._identity.sign(digest.encode())).decode()
            record = AuditRecord(seq, at, who, action, text, prev, digest, signature)
            tx.append_audit(record)
        log.info("audit: %s by %s (row %d)", action, who, seq)
        return record

    def records(self, *, since: datetime | None = None) -> list[AuditRecord]:
        """The rows, oldest first."""
        return audit_records(self._store, since=since)

    def verify(self) -> AuditVerdict:
        """Check every row: sequence, chain, contents and the node's signature over each hash."""
        records = audit_records(self._store)
        chain = first_break(records)
        checked = records if chain is None else records[: chain.position]
        signed = (self._signature_break(p, r) for p, r in enumerate(checked))
        broken = next((b for b in signed if b is not None), chain)
        head = records[-1].row_hash if records else GENESIS
        return AuditVerdict(rows=len(records), head=head, broken=broken)

    def _signature_break(self, position: int, record: AuditRecord) -> ChainBreak | None:
        if record.signature is None:
            return ChainBreak(position, record.seq, "it carries no signature")
        try:
            signature = base64.b64decode(record.signature, validate=True)
        except (binascii.Error, ValueError):
            return ChainBreak(position, record.seq, "its signature is not base64")
        message = record.row_hash.encode()
        if not any(verify_signature(key, message, signature) for key in self._own_keys()):
            return ChainBreak(position, record.seq, "its signature does not verify with this node's key")
        return None

    def _own_keys(self) -> list[bytes]:
        """Every key that has signed for this node: its first key and each one rotated in since
        (the node records its own rotations), never merely the key this process holds."""
        if self._origin is None or self._origin_key is None:
            return [self._identity.public_key]
        rotated = (k.public_key for k in self._store.signing_keys().values() if k.origin == self._origin)
        return [self._origin_key, *rotated]
