"""Attesting original media: publish a provenance record through our own feed (issue 15).

One use-case family of :class:`node.app.node.AccordNode` (a mixin over :class:`NodeParts`).
The record's hashes become indicators of the reserved category ``attested-original``, each
carrying the record, signed and shared like every entry (TLP and recipients respected). They
are never part of a block list: matching reports them beside block-list matches.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from node.app.parts import NodeParts
from node.errors import InvalidInput
from node.hashing import MediaHashes, hash_file
from node.hashing.video import hash_video
from node.model import PDQ_MIN_QUALITY, Distribution, Signal, Tlp
from node.model.provenance import (
    ATTESTED_CATEGORY,
    MAX_FRAMES,
    Attestation,
    AttestedFrame,
    note_of,
)
from node.sync import partners as partner_ops
from node.sync.publish import Contribution, PublishReport

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AttestReport:
    """What ``accord attest`` published: the record, the signals it lists, the feed entries."""

    record: Attestation
    signals: tuple[Signal, ...]
    publish: PublishReport


class AttestingMixin(NodeParts):
    """Publishing provenance records of original media."""

    def attest(
        self,
        path: Path,
        *,
        publisher: str,
        published_at: datetime,
        where: str,
        tlp: Tlp = Tlp.CLEAR,
        recipients: Iterable[str] = (),
        groups: Iterable[str] = (),
        description: str | None = None,
        labels: Sequence[str] = (),
    ) -> AttestReport:
        """Hash the original at ``path`` (md5, sha256, and pdq for an image or vpdq with frame
        times for a video) and publish its provenance record. Raises :class:`InvalidInput` for
        a text or label that breaks the rules (checked before anything is hashed or written)."""
        if published_at.tzinfo is None:
            raise InvalidInput("--published-at needs a time zone (e.g. 2026-11-03T09:00:00Z)")
        keys = partner_ops.resolve_recipients(self.store, partners=list(recipients), groups=list(groups))
        distribution = Distribution(tlp=tlp, recipients=keys if tlp.names_recipients else frozenset())
        # Checked before hashing: a bad text or label must not cost a video's decode.
        note_of(description=description, labels=list(labels))
        hashes = hash_file(path)
        record = Attestation(
            record_id=Attestation.new_record_id(),
            publisher=publisher,
            published_at=published_at,
            where=where,
            frames=_frames(path, hashes),
        )
        note = note_of(description=description, labels=list(labels), attestation=record)
        items = [Contribution(s, hashes.content_type, quality, note=note) for s, quality in _signals(hashes)]
        report = self.publisher.contribute(items, category=ATTESTED_CATEGORY, distribution=distribution)
        self._follow_commits()
        self.audit.record(
            "attest",
            {
                "record_id": record.record_id,
                "tlp": tlp.value,
                "items": len(items),
                "entries": list(report.seqs),
            },
        )
        log.info("attested record %s: %d signals in entries %s", record.record_id, len(items), report.seqs)
        return AttestReport(record=record, signals=tuple(s for s, _ in _signals(hashes)), publish=report)


def _signals(hashes: MediaHashes) -> list[tuple[Signal, int | None]]:
    """md5 and sha256 always; pdq when its quality is usable; vpdq for a video."""
    signals: list[tuple[Signal, int | None]] = [(hashes.md5, None), (hashes.sha256, None)]
    if hashes.pdq is not None and (hashes.pdq_quality or 0) >= PDQ_MIN_QUALITY:
        signals.append((hashes.pdq, hashes.pdq_quality))
    if hashes.vpdq is not None:
        signals.append((hashes.vpdq, None))
    return signals


def _frames(path: Path, hashes: MediaHashes) -> tuple[AttestedFrame, ...]:
    """A video's good frames with their times (the vpdq signal keeps no times)."""
    if hashes.vpdq is None:
        return ()
    frames = [f for f in hash_video(path) if f.quality >= PDQ_MIN_QUALITY][:MAX_FRAMES]
    return tuple(AttestedFrame(timestamp=f.timestamp, pdq=f.pdq) for f in frames)
