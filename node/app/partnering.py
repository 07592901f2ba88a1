"""Identity, partners, sharing groups, keys, partner policy and compromise marks: whom we trust.

One use-case family of :class:`node.app.node.AccordNode` (a mixin over :class:`NodeParts`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from node.app import keyfiles
from node.app.encryption_keys import load_encryption_keys, rotate_encryption_key
from node.app.home import rotate_tls
from node.app.parts import NodeParts
from node.errors import NotFound
from node.feed import TlsCredentials, decode_header, public_key_to_text
from node.feed.encryption import encryption_key_from_text, encryption_key_id, encryption_key_to_text
from node.feed.sealing import open_content_key
from node.model import (
    CertFingerprint,
    Compromise,
    KeyId,
    Partner,
    PartnerPolicy,
    Seq,
    SharingGroup,
    fingerprint,
    is_loopback_endpoint,
)
from node.model.clock import format_timestamp, utc_now
from node.sync import partners as partner_ops
from node.sync import trust

log = logging.getLogger(__name__)


class PartneringMixin(NodeParts):
    """Identity, partners, sharing groups, keys, partner policy and compromise marks."""

    def identity_card(self) -> dict[str, str]:
        """What to hand partners: name, key id, short fingerprint, public key."""
        return {
            "name": self.config.node.name,
            "key_id": self.key_id,
            "fingerprint": fingerprint(self.key_id),
            "public_key": public_key_to_text(keyfiles.origin_public_key(self.home, self.identity)),
            "signing_key_id": self.identity.key_id,
            "encryption_key": encryption_key_to_text(self.encryption.current.public),
            "tls_fingerprint": self.tls.fingerprint,
            "listen": self.config.network.listen,
        }

    def rotate_tls(self) -> CertFingerprint:
        """A new TLS key and certificate (a running server uses it after a restart)."""
        self.tls = rotate_tls(self.home, organisation=self.config.node.name)
        return self.tls.fingerprint

    def serves_tls(self, listen: str) -> TlsCredentials | None:
        """The credentials the partner API serves on ``listen``, or None for plaintext.

        TLS unless the address is loopback (and ``network.tls`` is not ``always``), or the
        operator set ``network.insecure_plaintext``.
        """
        network = self.config.network
        if network.insecure_plaintext:
            return None
        if network.tls == "always" or not is_loopback_endpoint(listen):
            return self.tls
        return None

    def add_partner(
        self,
        name: str,
        *,
        public_key: str,
        endpoint: str | None,
        cert_fingerprint: str | None = None,
        encryption_key: str | None = None,
    ) -> Partner:
        """Pin a partner (its key, for TLS its certificate fingerprint, and the encryption key
        restricted bodies are sealed to, compared out of band like the key)."""
        sealed_to = None if encryption_key is None else encryption_key_from_text(encryption_key)
        partner = partner_ops.add_partner(
            self.store,
            name=name,
            public_key=public_key,
            endpoint=endpoint,
            self_key=self.key_id,
            cert_fingerprint=cert_fingerprint,
        )
        if sealed_to is not None:
            with self.store.write() as tx:
                tx.record_encryption_key(
                    node=partner.key_id,
                    key_id=encryption_key_id(sealed_to),
                    key=sealed_to,
                    announced=format_timestamp(utc_now()),
                    source="pinned by the operator",
                )
        self.audit.record(
            "partner-add",
            {
                "partner": name,
                "key_id": partner.key_id,
                "endpoint": endpoint,
                "encryption_key": encryption_key,
            },
        )
        return partner

    def set_partner_endpoint(self, name: str, endpoint: str) -> Partner:
        """Pull partner ``name`` from ``endpoint`` (HOST:PORT; empty: stop pulling it)."""
        partner = partner_ops.set_endpoint(self.store, name, endpoint)
        self.audit.record("partner-endpoint", {"partner": name, "endpoint": partner.endpoint})
        return partner

    def pin_partner_certificate(self, name: str, cert_fingerprint: str) -> Partner:
        """Pin a partner's (new) TLS certificate fingerprint."""
        partner = partner_ops.pin_certificate(self.store, name, cert_fingerprint)
        self.audit.record("partner-pin", {"partner": name, "cert_fingerprint": cert_fingerprint})
        return partner

    def add_to_group(self, group: str, members: Sequence[str]) -> SharingGroup:
        """Create sharing group ``group`` if needed and add partners to it."""
        added = partner_ops.add_to_group(self.store, group, list(members))
        self.audit.record("group-add", {"group": group, "partners": list(members)})
        return added

    def grant_group(self, group: str, partner: str) -> tuple[SharingGroup, tuple[Seq, ...], int]:
        """Add ``partner`` to ``group`` and give it the backlog: every body of ours that was
        sealed to the group, through grant entries of our feed. Returns the group, the grant
        entries' seqs and how many bodies were granted. (Leaving a group affects only entries
        published after it: a body once readable cannot be unread.)"""
        added = partner_ops.add_to_group(self.store, group, [partner])
        found = self.store.partner(partner)
        if found is None:
            raise NotFound(f"no partner named {partner!r}")
        keys: list[tuple[Seq, bytes]] = []
        for seq in self.store.group_entries(group):
            entry = self.store.entry_at(self.origin, seq)
            if entry is None or not entry.sealed:
                continue
            seal = decode_header(entry.envelope.payload).seal
            key = open_content_key(seal.stanzas, self.encryption.all) if seal is not None else None
            if key is not None:
                keys.append((seq, key))
        seqs = self.publisher.grant(found.key_id, keys) if keys else ()
        self._follow_commits()
        self.audit.record(
            "group-grant", {"group": group, "partner": partner, "bodies": len(keys), "entries": list(seqs)}
        )
        return added, seqs, len(keys)

    def remove_from_group(self, group: str, members: Sequence[str]) -> SharingGroup | None:
        """Remove partners from ``group``, or the group itself when none are named."""
        left = partner_ops.remove_from_group(self.store, group, list(members))
        self.audit.record("group-remove", {"group": group, "partners": list(members)})
        return left

    def sharing_groups(self) -> list[SharingGroup]:
        """Every sharing group with its members."""
        return self.store.sharing_groups()

    def remove_partner(self, name: str) -> None:
        """Unpin a partner."""
        partner_ops.remove_partner(self.store, name)
        self.audit.record("partner-remove", {"partner": name})

    def partners(self) -> list[Partner]:
        """Pinned partners."""
        return self.store.partners()

    def set_partner_policy(
        self,
        name: str,
        *,
        categories: Sequence[str] | None,
        signal_types: Sequence[str] | None,
        trust_level: str | None,
        share_sightings: bool | None,
    ) -> PartnerPolicy:
        """Change what this node accepts from partner ``name`` and how far it trusts it."""
        policy = trust.set_policy(
            self.store,
            name,
            categories=categories,
            signal_types=signal_types,
            trust=trust_level,
            share_sightings=share_sightings,
        )
        self.audit.record(
            "partner-policy",
            {
                "partner": name,
                "categories": None if categories is None else list(categories),
                "signal_types": None if signal_types is None else list(signal_types),
                "trust": trust_level,
                "share_sightings": share_sightings,
            },
        )
        return policy

    def partner_policy(self, name: str) -> PartnerPolicy:
        """Partner ``name``'s acceptance policy."""
        return trust.policy_of(self.store, name)

    def mark_compromised(self, name: str, *, from_seq: int) -> Compromise:
        """Mark partner ``name``'s key compromised from feed position ``from_seq``."""
        mark = trust.mark_compromised(self.store, name, from_seq=from_seq, clock=utc_now)
        self.audit.record("partner-compromise", {"partner": name, "from_seq": from_seq})
        return mark

    def clear_compromise(self, name: str) -> None:
        """Lift the compromise mark on partner ``name``'s key."""
        trust.clear_compromise(self.store, name)
        self.audit.record("partner-uncompromise", {"partner": name})

    def compromised(self) -> dict[str, Compromise]:
        """Compromise marks by partner name."""
        return trust.compromised_partners(self.store)

    def rotate_key(self) -> tuple[int, KeyId]:
        """Rotate the signing key: publish the rotation (signed by old and new) and swap the key
        files. Returns the rotation entry's seq and the new key id. The identity stays."""
        new, _ = keyfiles.stage_new_key(self.home, self.identity)
        seq = self.publisher.rotate(new)
        keyfiles.finish_rotation(self.home, self.store, self.origin)
        self.identity = new
        self.audit.use_identity(new)
        self.audit.record("key-rotate", {"entry": int(seq), "new_key_id": new.key_id})
        return int(seq), new.key_id

    def rotate_encryption_key(self) -> tuple[int | None, KeyId]:
        """A new encryption key: partners seal to it once they see its announcement (a feed entry,
        published now) or our next statement; the old private key is kept, only to read old
        bodies. Returns the announcement's seq and the new key id."""
        keys = rotate_encryption_key(self.home)
        self.encryption = load_encryption_keys(self.home)
        self.publisher.use_encryption_key(keys)
        seq = self.publisher.announce_encryption_key()
        self.audit.record("key-rotate-encryption", {"entry": seq, "new_key_id": keys.key_id})
        return seq, keys.key_id
