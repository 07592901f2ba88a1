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
from node.errors import InvalidInput, MediaError, extra_install_hint
from node.hashing import MediaHashes, hash_file
from node.hashing.credentials import credentials_available, load_trust_anchors, read_credentials
from node.hashing.video import hash_video
from node.model import PDQ_MIN_QUALITY, Distribution, Signal, Tlp
from node.model.provenance import (
    ATTESTED_CATEGORY,
    MAX_FRAMES,
    Attestation,
    AttestedFrame,
    ContentCredentials,
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
    c2pa_note: str | None = None  # why the C2PA manifest was not read (the extra missing)


class AttestingMixin(NodeParts):
    """Publishing provenance records of original media, and reading C2PA content credentials."""

    def media_credentials(self, data: bytes) -> ContentCredentials | None:
        """The C2PA manifest summary of media ``data`` (None: it carries none), trusted only
        under ``match.c2pa_trust_anchors``. MediaError when the c2pa extra is not installed."""
        return read_credentials(data, trust_anchors=self._trust_anchors())

    def file_credentials(self, path: Path) -> ContentCredentials | None:
        """:meth:`media_credentials` of the file at ``path``."""
        return read_credentials(read_media_for_credentials(path), trust_anchors=self._trust_anchors())

    def _trust_anchors(self) -> bytes | None:
        name = self.config.match.c2pa_trust_anchors
        return load_trust_anchors(self.home.root / name) if name else None

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
        credentials, c2pa_note = self._attested_credentials(path)
        record = Attestation(
            record_id=Attestation.new_record_id(),
            publisher=publisher,
            published_at=published_at,
            where=where,
            frames=_frames(path, hashes),
            c2pa=credentials,
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
        return AttestReport(
            record=record, signals=tuple(s for s, _ in _signals(hashes)), publish=report, c2pa_note=c2pa_note
        )

    def _attested_credentials(self, path: Path) -> tuple[ContentCredentials | None, str | None]:
        """The original's C2PA summary for the record, or why none was checked."""
        if not credentials_available():
            return None, "C2PA not checked: " + extra_install_hint("c2pa")
        return self.file_credentials(path), None


def _signals(hashes: MediaHashes) -> list[tuple[Signal, int | None]]:
    """md5 and sha256 always; pdq when its quality is usable; vpdq for a video."""
    signals: list[tuple[Signal, int | None]] = [(hashes.md5, None), (hashes.sha256, None)]
    if hashes.pdq is not None and (hashes.pdq_quality or 0) >= PDQ_MIN_QUALITY:
        signals.append((hashes.pdq, hashes.pdq_quality))
    if hashes.vpdq is not None:
        signals.append((hashes.vpdq, None))
    return signals


MAX_CREDENTIAL_BYTES = 512 * 1024 * 1024
"""Largest file whose C2PA manifest is read (c2pa reads the file through memory here)."""


def read_media_for_credentials(path: Path) -> bytes:
    """The bytes of ``path`` for c2pa, up to MAX_CREDENTIAL_BYTES (MediaError beyond or unreadable)."""
    try:
        if path.stat().st_size > MAX_CREDENTIAL_BYTES:
            raise MediaError(
                f"{path} is over {MAX_CREDENTIAL_BYTES >> 20} MiB: its C2PA manifest is not read"
            )
        return path.read_bytes()
    except OSError as exc:
        raise MediaError(f"cannot read {path}: {exc.strerror}") from exc


def _frames(path: Path, hashes: MediaHashes) -> tuple[AttestedFrame, ...]:
    """A video's good frames with their times (the vpdq signal keeps no times)."""
    if hashes.vpdq is None:
        return ()
    frames = [f for f in hash_video(path) if f.quality >= PDQ_MIN_QUALITY][:MAX_FRAMES]
    return tuple(AttestedFrame(timestamp=f.timestamp, pdq=f.pdq) for f in frames)
