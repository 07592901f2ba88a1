"""Partners' encryption keys: confirmed by statements they sign, used to seal bodies to them.

A partner confirms its X25519 key to us with a statement signed by the key that signs its feed:
in every Pull and Heads request it makes to us, in the Heads answers it gives us, and in a
header of its own feed (ingest records those). An origin seals only to keys confirmed this way
(DESIGN §5); a statement of another node, or signed by a key we have not pinned, is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime

from node.errors import Rejected, Unauthenticated
from node.feed.encryption import (
    EncryptionKeyPair,
    encryption_key_id,
    open_encryption_key,
    sign_encryption_key,
)
from node.feed.keys import NodeIdentity
from node.model import Envelope, KeyId
from node.model.clock import format_timestamp
from node.store import Store
from node.sync.signers import signers_of

log = logging.getLogger(__name__)


def confirm_encryption_key(
    store: Store, statement: Envelope, *, node: KeyId | None, pinned: Mapping[KeyId, bytes], source: str
) -> bool:
    """Verify a signed statement (``node``'s own, or, with ``node`` None, any pinned node's that
    a peer passed on) and record its key.

    Returns True when the key is new to us. Raises a Rejected subclass (bad signature, unknown
    signer, malformed) or Unauthenticated when the statement is not ``node``'s.
    """
    signers = signers_of(store, pinned)
    confirmed = open_encryption_key(statement, pinned=signers.keys, signer_origin=signers.origin_of)
    if node is not None and confirmed.node != node:
        raise Unauthenticated("the encryption key statement is another node's")
    with store.write() as tx:
        fresh = tx.record_encryption_key(
            node=confirmed.node,
            key_id=encryption_key_id(confirmed.key),
            key=confirmed.key,
            announced=format_timestamp(confirmed.created),
            source=source,
            statement=statement,
        )
    if fresh:
        log.info(
            "encryption key %s of %s confirmed (%s)",
            encryption_key_id(confirmed.key)[:12],
            confirmed.node[:12],
            source,
        )
    return fresh


def confirm_passed_on(
    store: Store, statements: Iterable[Envelope], *, peer: str, pinned: Mapping[KeyId, bytes], self_key: KeyId
) -> dict[str, int]:
    """Record the statements ``peer`` passed on (its own and other nodes'); those of nodes we
    have not pinned are ignored, like their heads. Returns refusals by reason."""
    refused: dict[str, int] = {}
    signers = signers_of(store, pinned)
    for statement in statements:
        if not any(s.keyid in signers.keys for s in statement.signatures):
            continue
        try:
            confirm_encryption_key(store, statement, node=None, pinned=pinned, source=f"passed on by {peer}")
        except (Rejected, Unauthenticated) as exc:
            refused[exc.reason] = refused.get(exc.reason, 0) + 1
            log.warning("refused an encryption key statement passed on by %s: %s", peer, exc)
    return refused


def own_statement(
    identity: NodeIdentity, keys: EncryptionKeyPair, *, origin: KeyId, now: datetime
) -> Envelope:
    """Our encryption key, signed by the key that signs our feed now, naming our identity."""
    return sign_encryption_key(identity, keys.public, now=now, node=origin)
